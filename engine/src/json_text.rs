//! The bytes that end a plain run of a JSON string, found sixteen bytes at a time: a quote, a
//! backslash or a control character (below 0x20). The fast record parser stops at them (the
//! end of a string, an escape, or a raw control character it refuses), and the decision
//! writer escapes them. A byte loop cost ~7 instructions a byte, and strings are most of a
//! record's and a decision's bytes.

/// The index of the first quote, backslash or control character in `bytes`, if any.
///
/// Sixteen bytes at a time. What is left at the end, fewer than sixteen, is read by
/// [`first_special_byte_in_tail`], out of line: the record reader scans the rest of the
/// line, so it seldom gets there, and keeps its inlined part small.
#[inline]
pub(crate) fn first_special_byte(bytes: &[u8]) -> Option<usize> {
    let mut index = 0;
    while let Some(block) = bytes.get(index..index + BLOCK) {
        let special = special_bytes_of_block(block.try_into().ok()?);
        if special != 0 {
            return Some(index + special.trailing_zeros() as usize);
        }
        index += BLOCK;
    }
    first_special_byte_in_tail(bytes, index)
}

/// [`first_special_byte`] for the last `bytes.len() - index` bytes (fewer than sixteen),
/// those before `index` holding none. Without a byte loop when there are eight or more:
/// the block read is made of words that overlap bytes already read, which hold none, so
/// its first flag is still the first special byte.
#[inline(never)]
fn first_special_byte_in_tail(bytes: &[u8], index: usize) -> Option<usize> {
    debug_assert!(bytes.len() - index < BLOCK);
    if bytes.len() >= BLOCK {
        // The last sixteen bytes.
        let start = bytes.len() - BLOCK;
        let special = special_bytes_of_block(bytes[start..].try_into().ok()?);
        return (special != 0).then(|| start + special.trailing_zeros() as usize);
    }
    if bytes.len() >= 8 {
        // The first eight bytes, then the last eight.
        let mut block = [0; BLOCK];
        block[..8].copy_from_slice(&bytes[..8]);
        block[8..].copy_from_slice(&bytes[bytes.len() - 8..]);
        let special = special_bytes_of_block(&block);
        if special == 0 {
            return None;
        }
        let flag = special.trailing_zeros() as usize;
        return Some(if flag < 8 {
            flag
        } else {
            bytes.len() + flag - 16
        });
    }
    bytes
        .iter()
        .position(|&byte| byte < 0x20 || byte == b'"' || byte == b'\\')
}

/// Bytes examined at once.
const BLOCK: usize = 16;

/// Non-zero when `block` holds a quote, a backslash or a control character, with the bit
/// of the first such byte lowest (here bit `i` is set for each such byte `i`): three
/// byte-wise comparisons of SSE2, which every x86-64 processor has.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline]
fn special_bytes_of_block(block: &[u8; BLOCK]) -> u32 {
    // SAFETY: the function only needs SSE2, and this build enables it (the `cfg` above; it
    // is in every x86-64 target's baseline). It reads `block` by value, no pointer.
    unsafe { sse2_special_bytes(block) }
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
fn sse2_special_bytes(block: &[u8; BLOCK]) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        _mm_set_epi64x,
    };
    let (low, high) = block.split_at(BLOCK / 2);
    let word = |half: &[u8]| {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(half);
        i64::from_le_bytes(bytes)
    };
    // One unaligned 16-byte load once compiled; built from two words so that no pointer is
    // involved.
    let text = _mm_set_epi64x(word(high), word(low));
    let quote = _mm_cmpeq_epi8(text, _mm_set1_epi8(b'"' as i8));
    let backslash = _mm_cmpeq_epi8(text, _mm_set1_epi8(b'\\' as i8));
    // Unsigned `byte <= 0x1F` is `min(byte, 0x1F) == byte`.
    let control = _mm_cmpeq_epi8(_mm_min_epu8(text, _mm_set1_epi8(0x1F)), text);
    _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
}

/// Non-zero when `block` holds a quote, a backslash or a control character, with the bit
/// of the first such byte lowest, on other processors (see `swar_special_bytes`).
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline]
fn special_bytes_of_block(block: &[u8; BLOCK]) -> u32 {
    swar_special_bytes(block)
}

/// As `special_bytes_of_block`, with only the first such byte's bit set: two words of
/// eight bytes, each compared at once (SWAR), without processor-specific instructions.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
#[inline]
fn swar_special_bytes(block: &[u8; BLOCK]) -> u32 {
    for (half, word) in block.chunks_exact(8).enumerate() {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(word);
        let special = special_bytes(u64::from_le_bytes(bytes));
        if special != 0 {
            // Only the lowest flag of a word is exact (see `special_bytes`).
            return 1 << (half * 8 + (special.trailing_zeros() / 8) as usize);
        }
    }
    0
}

/// The high bit of each byte of `word` that is a quote, a backslash or a control character,
/// and maybe of bytes after such a byte (the borrow of the subtraction runs upwards), never
/// of a byte before the first one: the lowest flag is exact.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
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

    #[test]
    fn every_byte_value_is_told_apart_at_every_position_of_a_block() {
        for byte in 0..=u8::MAX {
            let special = byte < 0x20 || byte == b'"' || byte == b'\\';
            for at in 0..BLOCK {
                let mut block = [b'x'; BLOCK];
                block[at] = byte;
                for flags in [special_bytes_of_block(&block), swar_special_bytes(&block)] {
                    let found = (flags != 0).then(|| flags.trailing_zeros() as usize);
                    assert_eq!(found, special.then_some(at), "byte {byte:#04x} at {at}");
                }
            }
        }
    }
}
