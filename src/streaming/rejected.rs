//! The rejected-record envelope published to `parcels.rejected`: the error with every field
//! problem, where the record came from, and its original bytes, so that nothing that arrives
//! is dropped silently and a filer can fix and resend.
//!
//! The original bytes are kept whole up to [`MAX_ORIGINAL_BYTES`] (256 KiB, the default
//! `limits.max_record_bytes`, so any record rejected for something other than its size is
//! kept whole under the default limits); of a larger message only the first
//! [`MAX_ORIGINAL_BYTES`] are kept, flagged `original_truncated`. Base64 makes them 4/3 as
//! large, so an envelope of a message of 0.75–1 MB, kept whole, would be over the producer's
//! `message.max.bytes` (1,000,000 by default) and could never be published. Every envelope
//! also carries the size of the whole original (`original_size_bytes`) and its SHA-256
//! (`original_sha256`, lower-case hex, as `sha256sum` prints it), so a truncated record can
//! still be identified in the input topic (its position is in `source` too).
//!
//! The error is bounded too, so that the envelope of any message fits in one Kafka message
//! whatever the input (a record of 1000 items can carry thousands of field problems, each
//! quoting an escaped value): `message` keeps at most [`MAX_MESSAGE_BYTES`], `fields` the
//! first problems up to [`MAX_FIELDS_BYTES`] (then `fields_truncated` is true; the message
//! still gives their number), and `source.key` at most [`MAX_KEY_BYTES`] (then ends in
//! `…`). An envelope is therefore at most about 500 KB of JSON. [`RejectedRecord::minimal`]
//! is the same without the original bytes and most of the error, for a producer that refuses
//! even that (a `message.max.bytes` set lower, or a huge message key).
//!
//! JSON shape (schema `rejected/v1`; the `original_size_bytes`, `original_truncated`,
//! `original_sha256` and `fields_truncated` fields were added later, so a reader must not
//! require them; an envelope written before them reads with `0`, `false`, `""` and `false`;
//! `fields_truncated` is written only when true):
//!
//! ```json
//! {"schema": "rejected/v1", "error": "too_large",
//!  "message": "record is 819300 bytes, over the limit of 262144 bytes",
//!  "source": {"topic": "parcels.advance", "partition": 0, "offset": 17, "key": "DHL:1"},
//!  "original_base64": "eyJyZWNvcmRfaWQiOi…", "original_size_bytes": 819300,
//!  "original_truncated": true, "original_sha256": "9f86d081…"}
//! ```

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use screener_engine::record::{FieldError, RecordError};

/// Schema tag of the envelope.
pub const REJECTED_SCHEMA: &str = "rejected/v1";

/// Most bytes of the original message kept in an envelope: the first ones. 256 KiB, about
/// 342 KiB in base64, which leaves room for the error under a 1,000,000-byte message.
pub const MAX_ORIGINAL_BYTES: usize = 256 * 1024;

/// Longest `message` kept, in bytes (then cut at a character boundary, ending in `…`).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// Most bytes of paths and problems kept in `fields` (whole problems, the first ones).
pub const MAX_FIELDS_BYTES: usize = 32 * 1024;

/// Longest `source.key` kept, in bytes (then cut at a character boundary, ending in `…`).
pub const MAX_KEY_BYTES: usize = 1024;

/// What [`RejectedRecord::minimal`] keeps of the message and of the key, in bytes.
const MINIMAL_TEXT_BYTES: usize = 256;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectedRecord {
    pub schema: String,
    /// Short stable label: `too_large`, `invalid_utf8`, `invalid_json`, `invalid_fields`.
    pub error: String,
    /// The whole error, human-readable.
    pub message: String,
    /// Every field problem with its JSON path (for `invalid_fields`), or the first ones when
    /// `fields_truncated`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
    /// `fields` lists only the first problems (the message says how many there are).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fields_truncated: bool,
    pub source: SourcePosition,
    /// The original message value, base64 (it may not be UTF-8): all of it, or only its
    /// first [`MAX_ORIGINAL_BYTES`] when `original_truncated`.
    pub original_base64: String,
    /// Size of the whole original message value, in bytes.
    #[serde(default)]
    pub original_size_bytes: u64,
    /// `original_base64` holds only the first bytes of the original.
    #[serde(default)]
    pub original_truncated: bool,
    /// SHA-256 of the whole original message value, lower-case hex.
    #[serde(default)]
    pub original_sha256: String,
}

/// Where a rejected record was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcePosition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The message key, lossily decoded as UTF-8, if there was one; at most
    /// [`MAX_KEY_BYTES`] of it in a [`RejectedRecord`], then `…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl RejectedRecord {
    /// The envelope of `original`, rejected with `error`, read at `source`; bounded as the
    /// module docs say.
    pub fn new(error: &RecordError, mut source: SourcePosition, original: &[u8]) -> Self {
        let kept = &original[..original.len().min(MAX_ORIGINAL_BYTES)];
        let mut fields = Vec::new();
        let mut fields_bytes = 0;
        for field in error.field_errors() {
            fields_bytes += field.path.len() + field.problem.len();
            if fields_bytes > MAX_FIELDS_BYTES {
                break;
            }
            fields.push(field.clone());
        }
        let fields_truncated = fields.len() < error.field_errors().len();
        if let Some(key) = &mut source.key {
            shorten(key, MAX_KEY_BYTES);
        }
        let mut message = error.to_string();
        shorten(&mut message, MAX_MESSAGE_BYTES);
        RejectedRecord {
            schema: REJECTED_SCHEMA.to_string(),
            error: error.kind().to_string(),
            message,
            fields,
            fields_truncated,
            source,
            original_base64: base64::engine::general_purpose::STANDARD.encode(kept),
            original_size_bytes: original.len() as u64,
            original_truncated: kept.len() < original.len(),
            original_sha256: sha256_hex(original),
        }
    }

    /// This envelope without the original bytes (`original_truncated`, with the size and
    /// hash kept), without the field problems (`fields_truncated`), and with the message and
    /// key cut to a few hundred bytes: a last resort, for a producer that refuses the whole
    /// envelope, so that the record is still accounted for in `parcels.rejected`.
    pub fn minimal(&self) -> Self {
        let mut minimal = self.clone();
        minimal.original_base64.clear();
        minimal.original_truncated = true;
        minimal.fields_truncated |= !minimal.fields.is_empty();
        minimal.fields.clear();
        shorten(&mut minimal.message, MINIMAL_TEXT_BYTES);
        if let Some(key) = &mut minimal.source.key {
            shorten(key, MINIMAL_TEXT_BYTES);
        }
        minimal
    }

    /// The original bytes kept in the envelope, decoded: all of them, or the first
    /// [`MAX_ORIGINAL_BYTES`] when `original_truncated`.
    pub fn original(&self) -> Result<Vec<u8>, base64::DecodeError> {
        base64::engine::general_purpose::STANDARD.decode(&self.original_base64)
    }

    /// Whether `bytes` are the message this envelope was made of: same size and SHA-256, and
    /// the bytes kept are theirs (their start, if truncated). False for an envelope written
    /// before the size and hash were added.
    pub fn is_of(&self, bytes: &[u8]) -> bool {
        self.original_size_bytes == bytes.len() as u64
            && self.original_sha256 == sha256_hex(bytes)
            && self.original().is_ok_and(|kept| {
                bytes.starts_with(&kept) && (self.original_truncated || kept.len() == bytes.len())
            })
    }
}

/// Cuts `text` to at most `max` bytes plus `…`, at a character boundary, if it is longer.
fn shorten(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push('…');
}

/// SHA-256 of `bytes`, lower-case hex.
fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(2 * digest.len());
    for byte in digest {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;
    use screener_engine::record::{parse_record, ParseLimits};

    fn source() -> SourcePosition {
        SourcePosition {
            topic: "parcels.advance".into(),
            partition: 3,
            offset: 42,
            key: Some("DHL:1".into()),
        }
    }

    #[test]
    fn envelope_keeps_original_bytes_error_and_position() {
        let original = b"{\"record_id\": \"R1\", \xff}";
        let error = parse_record(original, &ParseLimits::default()).expect_err("invalid utf-8");
        let envelope = RejectedRecord::new(&error, source(), original);
        let json = serde_json::to_string(&envelope).expect("serialises");
        let back: RejectedRecord = serde_json::from_str(&json).expect("parses");
        assert_eq!(back.error, "invalid_utf8");
        assert_eq!(back.source, source());
        assert_eq!(back.original().expect("base64"), original);
        assert_eq!(back.original_size_bytes, original.len() as u64);
        assert!(!back.original_truncated);
        assert!(back.is_of(original));
        assert!(!back.is_of(b"{\"record_id\": \"R2\", \xff}"));
    }

    #[test]
    fn the_sha256_is_that_of_sha256sum() {
        // `printf abc | sha256sum`
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_large_original_is_truncated_with_its_size_and_hash() {
        // 1 MB: its envelope whole would be over 1,333,000 bytes.
        let mut original = b"{\"padding\": \"".to_vec();
        original.resize(1_000_000 - 2, b'x');
        original.extend_from_slice(b"\"}");
        let error = parse_record(&original, &ParseLimits::default()).expect_err("too large");
        let envelope = RejectedRecord::new(&error, source(), &original);
        let json = serde_json::to_vec(&envelope).expect("serialises");
        assert!(
            json.len() < 360_000,
            "{} bytes: under the producer's 1,000,000 with room to spare",
            json.len()
        );
        let back: RejectedRecord = serde_json::from_slice(&json).expect("parses");
        assert!(back.original_truncated);
        assert_eq!(back.original_size_bytes, 1_000_000);
        assert_eq!(back.original().unwrap(), &original[..MAX_ORIGINAL_BYTES]);
        assert_eq!(back.original_sha256, sha256_hex(&original));
        assert!(back.is_of(&original));
        let mut other = original.clone();
        other[999_000] = b'y';
        assert!(!back.is_of(&other), "same start and size, other bytes");

        // At the limit exactly: whole, not truncated.
        let at_limit = &original[..MAX_ORIGINAL_BYTES];
        let envelope = RejectedRecord::new(&error, source(), at_limit);
        assert!(!envelope.original_truncated);
        assert_eq!(envelope.original().unwrap(), at_limit);
    }

    #[test]
    fn the_envelope_of_the_worst_errors_is_bounded() {
        // Items whose every field problem quotes 40 escaped characters: the error of this
        // 250 KB record is over 1 MB of text.
        let hostile = "\u{202e}".repeat(40);
        let blank = "\u{2028}".repeat(40);
        let item = serde_json::json!({"description": blank, "hs_code": hostile, "quantity": 0,
            "value": {"amount": -1, "currency": hostile}, "country_of_origin": hostile});
        let record = serde_json::json!({"items": vec![item; 400]});
        let original = serde_json::to_vec(&record).unwrap();
        assert!(original.len() <= MAX_ORIGINAL_BYTES, "{}", original.len());
        let error = parse_record(&original, &ParseLimits::default()).expect_err("invalid");
        let problems: usize = error
            .field_errors()
            .iter()
            .map(|f| f.path.len() + f.problem.len())
            .sum();
        assert!(error.to_string().len() + problems > 1_000_000);

        let mut source = source();
        source.key = Some("k".repeat(500_000));
        let envelope = RejectedRecord::new(&error, source, &original);
        let json = serde_json::to_vec(&envelope).unwrap();
        assert!(json.len() < 520_000, "{} bytes", json.len());
        assert!(envelope.fields_truncated);
        assert!(!envelope.fields.is_empty());
        assert_eq!(
            envelope.fields[..],
            error.field_errors()[..envelope.fields.len()]
        );
        assert!(envelope.message.len() <= MAX_MESSAGE_BYTES + '…'.len_utf8());
        assert!(envelope.message.starts_with(&format!(
            "record has {} invalid field(s): ",
            error.field_errors().len()
        )));
        assert!(envelope.message.ends_with('…'));
        assert_eq!(
            envelope.source.key.as_deref(),
            Some(format!("{}…", "k".repeat(MAX_KEY_BYTES)).as_str())
        );
        assert!(
            !envelope.original_truncated,
            "the record itself is kept whole"
        );
        assert!(envelope.is_of(&original));

        // The last resort: a few hundred bytes, still naming the record.
        let minimal = envelope.minimal();
        let json = serde_json::to_vec(&minimal).unwrap();
        assert!(json.len() < 1_500, "{} bytes", json.len());
        assert!(minimal.original_truncated && minimal.fields_truncated);
        assert_eq!(minimal.original().unwrap(), b"");
        assert_eq!(minimal.original_size_bytes, original.len() as u64);
        assert!(minimal.is_of(&original));
        assert_eq!(minimal.source.offset, 42);
    }

    #[test]
    fn shorten_cuts_at_a_character_boundary() {
        let mut text = "aé".to_owned();
        shorten(&mut text, 2);
        assert_eq!(text, "a…");
        let mut text = "aé".to_owned();
        shorten(&mut text, 3);
        assert_eq!(text, "aé");
    }

    #[test]
    fn an_envelope_without_the_new_fields_still_reads() {
        let old = r#"{"schema": "rejected/v1", "error": "invalid_json", "message": "bad",
            "source": {"topic": "parcels.advance", "partition": 0, "offset": 7},
            "original_base64": "e30="}"#;
        let envelope: RejectedRecord = serde_json::from_str(old).expect("an older envelope");
        assert_eq!(envelope.original().unwrap(), b"{}");
        assert_eq!(envelope.original_size_bytes, 0);
        assert!(!envelope.original_truncated);
        assert_eq!(envelope.original_sha256, "");
        assert!(!envelope.is_of(b"{}"), "nothing to check it against");
    }

    #[test]
    fn the_new_fields_are_always_written() {
        let error = parse_record(b"{}", &ParseLimits::default()).expect_err("fields missing");
        let envelope = RejectedRecord::new(&error, source(), b"{}");
        let json: serde_json::Value = serde_json::to_value(&envelope).unwrap();
        assert_eq!(json["original_size_bytes"], 2);
        assert_eq!(json["original_truncated"], false);
        assert_eq!(
            json["original_sha256"],
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(json["schema"], "rejected/v1");
    }
}
