//! The JSON primitives of the fast path: a cursor over the record's text that reads the
//! common shapes of JSON and gives `None` for anything else, leaving it to the full path.
//!
//! It reads what serde_json reads, to the same values, or nothing:
//! - strings: any UTF-8 text (the record was validated before) and every JSON escape; a
//!   raw control character or a lone surrogate is `None` (serde_json refuses both);
//! - object keys: without escapes (a key with one is `None`: two spellings of one key
//!   could hide a key twice);
//! - numbers: no exponent and at most [`MAX_NUMBER_DIGITS`] digits; a fraction is read as
//!   its digits divided by a power of ten, both exact in an `f64`, so the quotient is the
//!   correctly rounded value, which is serde_json's (its own formula is that quotient) and
//!   the standard library's. A negative integer is `None` (serde_json reads `-0` as a float).
//!
//! serde_json took ~15k instructions per record for the structure alone (`IgnoredAny`) and
//! ~26k into typed fields; see the module documentation of `fast` for this reader's figures.
//! Strings are read inline (about 84 a record): a call each cost its register saves, a
//! few percent of parsing.

use compact_str::CompactString;
use serde_json::Number;
use std::borrow::Cow;

use crate::json_text::first_special_byte;

/// Most digits of a number the fast path reads: 15 digits stay below 2⁵³, so the digits are
/// an exact `f64`.
pub(super) const MAX_NUMBER_DIGITS: u32 = 15;

/// Powers of ten exact in an `f64` (10¹⁵ and below, enough for [`MAX_NUMBER_DIGITS`]).
const POWERS_OF_TEN: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// A position in the record's text.
pub(super) struct Reader<'a> {
    text: &'a str,
    /// Index of the next byte to read; always on a character boundary between values.
    position: usize,
}

/// How a string starts (see `Reader::opening`).
enum Opening<'a> {
    /// The whole string, without an escape.
    Plain(&'a str),
    /// Plain up to `end`, where a backslash starts an escape.
    Escaped { start: usize, end: usize },
}

impl<'a> Reader<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Reader { text, position: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// The next byte that is not JSON whitespace, not consumed.
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        let byte = *self.bytes().get(self.position)?;
        // Every JSON whitespace byte is below `!`: any byte above it is the answer, with one
        // comparison. Compact JSON, as feeds are sent, never goes further; the four-way test
        // at every structural character cost ~6% of screening a report (BENCHMARKS.md).
        if byte > b' ' {
            return Some(byte);
        }
        self.peek_past_whitespace()
    }

    /// [`Reader::peek`] from a byte that may be whitespace on.
    #[inline(never)]
    fn peek_past_whitespace(&mut self) -> Option<u8> {
        let bytes = self.bytes();
        while let Some(&byte) = bytes.get(self.position) {
            if !matches!(byte, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(byte);
            }
            self.position += 1;
        }
        None
    }

    /// Consumes `wanted` (after whitespace), or gives `None`.
    fn expect(&mut self, wanted: u8) -> Option<()> {
        if self.peek()? != wanted {
            return None;
        }
        self.position += 1;
        Some(())
    }

    /// Whether only whitespace is left.
    pub(super) fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// `null` as `Some(None)`, else what `read` gives, as `Some(Some(value))`.
    pub(super) fn nullable<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<Option<T>> {
        if self.peek()? == b'n' {
            self.literal("null")?;
            return Some(None);
        }
        read(self).map(Some)
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        let end = self.position + word.len();
        if self.bytes().get(self.position..end)? != word.as_bytes() {
            return None;
        }
        self.position = end;
        Some(())
    }

    /// An object: `field` is called with each key (in document order) and must read the
    /// value.
    pub(super) fn object(
        &mut self,
        mut field: impl FnMut(&mut Self, &'a str) -> Option<()>,
    ) -> Option<()> {
        self.expect(b'{')?;
        if self.peek()? == b'}' {
            self.position += 1;
            return Some(());
        }
        loop {
            let key = self.key()?;
            self.expect(b':')?;
            field(self, key)?;
            match self.peek()? {
                b',' => self.position += 1,
                b'}' => {
                    self.position += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// An array: `element` reads each element.
    pub(super) fn array<T>(
        &mut self,
        mut element: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<Vec<T>> {
        self.expect(b'[')?;
        if self.peek()? == b']' {
            self.position += 1;
            return Some(Vec::new());
        }
        // Room for the usual few (items, address lines) at once: `Vec` starts a large
        // element type (an item) at one and grows twice on the way to three.
        let mut elements = Vec::with_capacity(4);
        loop {
            elements.push(element(self)?);
            match self.peek()? {
                b',' => self.position += 1,
                b']' => {
                    self.position += 1;
                    return Some(elements);
                }
                _ => return None,
            }
        }
    }

    /// A string, borrowed from the text when it has no escape.
    #[inline]
    pub(super) fn string(&mut self) -> Option<Cow<'a, str>> {
        Some(match self.opening()? {
            Opening::Plain(text) => Cow::Borrowed(text),
            Opening::Escaped { start, end } => Cow::Owned(self.escaped_string(start, end)?),
        })
    }

    /// An owned string: inline up to 24 bytes, else on the heap (an unescaped string's
    /// buffer is kept).
    #[inline]
    pub(super) fn owned_string(&mut self) -> Option<CompactString> {
        Some(match self.opening()? {
            Opening::Plain(text) => CompactString::new(text),
            Opening::Escaped { start, end } => self.escaped_string(start, end)?.into(),
        })
    }

    /// A key: a string without escapes (one with an escape is `None`: two spellings of one
    /// key could hide a key twice).
    #[inline]
    fn key(&mut self) -> Option<&'a str> {
        match self.opening()? {
            Opening::Plain(key) => Some(key),
            Opening::Escaped { .. } => None,
        }
    }

    /// A string's opening quote and its run of plain characters: the whole string when the
    /// run ends at the closing quote (consumed), else where the run ends at a backslash
    /// (the position left at the run's start).
    ///
    /// Always inlined: every key and string value starts here, and left to the inliner it
    /// was once put out of line, where parsing took 14% more instructions (callgrind).
    #[inline(always)]
    fn opening(&mut self) -> Option<Opening<'a>> {
        self.expect(b'"')?;
        let start = self.position;
        let end = self.plain_run()?;
        if self.bytes()[end] != b'"' {
            return Some(Opening::Escaped { start, end });
        }
        self.position = end + 1;
        Some(Opening::Plain(self.text.get(start..end)?))
    }

    /// A string with an escape: its plain start `start..end`, then the rest unescaped.
    /// Out of line: keys never have one, and few values do.
    #[cold]
    #[inline(never)]
    fn escaped_string(&mut self, start: usize, end: usize) -> Option<String> {
        let mut unescaped = String::from(self.text.get(start..end)?);
        self.position = end;
        self.escaped_rest(&mut unescaped)?;
        Some(unescaped)
    }

    /// Where the run of plain string characters from the position ends: at the index of the
    /// next quote or backslash. `None` for a raw control character in the run (serde_json
    /// refuses them) or no quote at all.
    #[inline]
    fn plain_run(&self) -> Option<usize> {
        let bytes = self.bytes();
        let end = self.position + first_special_byte(bytes.get(self.position..)?)?;
        matches!(bytes[end], b'"' | b'\\').then_some(end)
    }

    /// The rest of a string from a backslash on, unescaped into `out`.
    fn escaped_rest(&mut self, out: &mut String) -> Option<()> {
        loop {
            let end = self.plain_run()?;
            out.push_str(self.text.get(self.position..end)?);
            self.position = end;
            if self.bytes()[end] == b'"' {
                self.position += 1;
                return Some(());
            }
            let escape = *self.bytes().get(self.position + 1)?;
            self.position += 2;
            let character = match escape {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => self.unicode_escape()?,
                _ => return None,
            };
            out.push(character);
        }
    }

    /// The character of a `\u` escape (its `\u` already read), with the low half of a
    /// surrogate pair.
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        match first {
            0xD800..=0xDBFF => {
                self.literal("\\u")?;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return None;
                }
                char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
            }
            _ => char::from_u32(first),
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.bytes().get(self.position..self.position + 4)?;
        let mut value = 0;
        for &digit in digits {
            value = value * 16 + char::from(digit).to_digit(16)?;
        }
        self.position += 4;
        Some(value)
    }

    /// A number (see the module documentation for which).
    pub(super) fn number(&mut self) -> Option<Number> {
        self.peek()?;
        let bytes = self.bytes();
        let negative = bytes.get(self.position) == Some(&b'-');
        if negative {
            self.position += 1;
        }
        let mut significand: u64 = 0;
        let mut digits = 0;
        let mut read_digits = |position: &mut usize| {
            let start = *position;
            while let Some(digit) = bytes.get(*position).filter(|byte| byte.is_ascii_digit()) {
                significand = significand * 10 + u64::from(digit - b'0');
                digits += 1;
                *position += 1;
                if digits > MAX_NUMBER_DIGITS {
                    return None;
                }
            }
            Some(*position - start)
        };
        let integer_digits = read_digits(&mut self.position)?;
        let leading_zero = bytes.get(self.position - integer_digits) == Some(&b'0');
        if integer_digits == 0 || (leading_zero && integer_digits > 1) {
            return None;
        }
        let fraction_digits = if bytes.get(self.position) == Some(&b'.') {
            self.position += 1;
            match read_digits(&mut self.position)? {
                0 => return None,
                count => count,
            }
        } else {
            0
        };
        if matches!(bytes.get(self.position), Some(b'e' | b'E')) {
            return None;
        }
        if fraction_digits == 0 {
            return (!negative).then(|| Number::from(significand));
        }
        // Both exact (fewer than 2⁵³, and a power of ten up to 10¹⁵): one rounding.
        let magnitude = significand as f64 / POWERS_OF_TEN[fraction_digits];
        Number::from_f64(if negative { -magnitude } else { magnitude })
    }

    /// A string, number, `true`, `false` or `null`, read and dropped; an object or an array
    /// is `None`.
    pub(super) fn scalar(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            b'-' | b'0'..=b'9' => self.number().map(drop),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(text: &str) -> Option<Number> {
        let mut reader = Reader::new(text);
        let number = reader.number()?;
        reader.at_end().then_some(number)
    }

    fn string(text: &str) -> Option<String> {
        let mut reader = Reader::new(text);
        let string = reader.owned_string()?;
        reader.at_end().then_some(string.into_string())
    }

    #[test]
    fn numbers_read_as_serde_json_reads_them_or_not_at_all() {
        for text in [
            "0",
            "7",
            "18.12",
            "27.82",
            "0.1",
            "0.3",
            "-0.0",
            "-2.5",
            "123456789012345",
            "1.00000000000001",
            "99999.9999",
            "0.00000000000001",
        ] {
            let expected: Number = serde_json::from_str(text).expect("JSON");
            assert_eq!(number(text), Some(expected), "{text}");
        }
        for text in [
            "",
            "-",
            "01",
            "1.",
            ".5",
            "1e3",
            "1E3",
            "2.5e-1",
            "-1",
            "-0",
            "1234567890123456",
            "0.1234567890123456",
            "0.000000000000001",
            "+1",
            "1.2.3",
            "NaN",
        ] {
            assert_eq!(number(text), None, "{text} is left to the full path");
        }
    }

    #[test]
    fn strings_unescape_as_serde_json_does_or_are_refused() {
        for text in [
            r#""plain""#,
            r#""""#,
            r#""Müller & Söhne 株式会社""#,
            r#""a long string of more than eight bytes with a \" late""#,
            r#""a \"quoted\" \\ back\/slash""#,
            r#""tab\tnew\nline\r\b\f""#,
            r#""caf\u00e9 \u00C9""#,
            r#""emoji \ud83d\ude00 end""#,
            r#""\u0000""#,
        ] {
            let expected: String = serde_json::from_str(text).expect("JSON");
            assert_eq!(string(text), Some(expected), "{text}");
        }
        for text in [
            "\"unterminated",
            "\"raw\ttab\"",
            "\"raw\nnewline\"",
            r#""bad \x escape""#,
            r#""lone \ud83d high""#,
            r#""lone \ude00 low""#,
            r#""short \u12""#,
            r#""\ud83d\u0041""#,
        ] {
            assert_eq!(string(text), None, "{text} is left to the full path");
        }
    }

    #[test]
    fn objects_arrays_and_scalars() {
        let mut reader = Reader::new(r#" { "a" : [1, 2.5 ,"x"], "b": {}, "c": [], "d": null } "#);
        let mut keys = Vec::new();
        reader
            .object(|reader, key| {
                keys.push(key);
                match key {
                    "a" => reader.array(Reader::scalar).map(drop),
                    "b" => reader.object(|_, _| None),
                    "c" => reader.array(Reader::scalar).map(drop),
                    _ => reader.nullable(Reader::owned_string).map(drop),
                }
            })
            .expect("well formed");
        assert!(reader.at_end());
        assert_eq!(keys, ["a", "b", "c", "d"]);

        for text in [
            r#"{"a": 1,}"#,
            r#"{"a" 1}"#,
            r#"{"a": 1 "b": 2}"#,
            r#"{"\u0061": 1}"#,
            r#"{"a": tru}"#,
            r#"{"a": {"b": 1}}"#,
            r#"{"a": [1]}"#,
        ] {
            let mut reader = Reader::new(text);
            let read = reader.object(|reader, _| reader.scalar());
            assert!(read.is_none(), "{text}");
        }
    }

    #[test]
    fn only_json_whitespace_is_skipped_between_tokens() {
        // Every byte up to the space, in every gap between tokens: the four JSON whitespace
        // bytes are skipped (the one-comparison shortcut must not skip more or fewer), any
        // other control byte makes the text unreadable.
        for byte in 0..=b' ' {
            let gap = char::from(byte).to_string();
            let text = ["", "{", "\"a\"", ":", "[", "1", ",", "\"x\"", "]", "}", ""].join(&gap);
            let mut reader = Reader::new(&text);
            let read = reader.object(|reader, key| {
                assert_eq!(key, "a");
                reader.array(Reader::scalar).map(drop)
            });
            let whitespace = matches!(byte, b' ' | b'\n' | b'\r' | b'\t');
            assert_eq!(
                read.is_some() && reader.at_end(),
                whitespace,
                "gap byte {byte:#04x}"
            );
        }
    }
}
