//! The bytes that end a plain run of a JSON string, found eight bytes at a time: a quote, a
//! backslash or a control character (below 0x20). The fast record parser stops at them (the
//! end of a string, an escape, or a raw control character it refuses), and the decision
//! writer escapes them. A byte loop cost ~7 instructions a byte, and strings are most of a
//! record's and a decision's bytes.

/// The index of the first quote, backslash or control character in `bytes`, if any.
pub(crate) fn first_special_byte(bytes: &[u8]) -> Option<usize> {
    let mut index = 0;
    while let Some(chunk) = bytes.get(index..index + 8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let special = special_bytes(u64::from_le_bytes(word));
        if special != 0 {
            // The lowest flag is exact (see `special_bytes`); little-endian, so it is the
            // first such byte in the text.
            return Some(index + (special.trailing_zeros() / 8) as usize);
        }
        index += 8;
    }
    let rest = bytes.get(index..)?;
    rest.iter()
        .position(|&byte| is_special(byte))
        .map(|offset| index + offset)
}

/// A quote, a backslash or a control character.
pub(crate) fn is_special(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// The high bit of each byte of `word` that is a quote, a backslash or a control character,
/// and maybe of bytes after such a byte (the borrow of the subtraction runs upwards), never
/// of a byte before the first one: the lowest flag is exact.
fn special_bytes(word: u64) -> u64 {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH_BITS: u64 = u64::from_le_bytes([0x80; 8]);
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x;
    let quote = zero_byte(word ^ (ONES * u64::from(b'"')));
    let backslash = zero_byte(word ^ (ONES * u64::from(b'\\')));
    let control = word.wrapping_sub(ONES * 0x20) & !word;
    (quote | backslash | control) & HIGH_BITS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_bytes_flag_the_first_quote_backslash_or_control_character() {
        for (text, first) in [
            (*b"abcdefgh", None),
            (*b"abc\"defg", Some(3)),
            (*b"\\bcdefgh", Some(0)),
            (*b"abcdefg\x1f", Some(7)),
            (*b"a\x00\"\\\x01\x7f\xff ", Some(1)),
            (*b"\xe2\x80\x9cxyz\" ", Some(6)),
            (*b"        ", None),
        ] {
            let flags = special_bytes(u64::from_le_bytes(text));
            let found = (flags != 0).then(|| flags.trailing_zeros() / 8);
            assert_eq!(found, first, "{text:?}");
        }
    }

    #[test]
    fn the_first_special_byte_is_found_in_any_word() {
        for length in 0..40 {
            let plain = "x".repeat(length);
            assert_eq!(first_special_byte(plain.as_bytes()), None);
            for at in 0..length {
                for byte in [0x00, 0x1F, b'"', b'\\'] {
                    let mut bytes = plain.clone().into_bytes();
                    bytes[at] = byte;
                    // A second one later must not hide the first.
                    if at + 1 < length {
                        bytes[length - 1] = b'"';
                    }
                    assert_eq!(first_special_byte(&bytes), Some(at), "{bytes:?}");
                }
            }
        }
        // Bytes just outside the ranges are plain.
        assert_eq!(first_special_byte(b" !#$[]^_\x7f\xc3\xa9abcdefgh"), None);
    }
}
