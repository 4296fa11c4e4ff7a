//! The rejected-record envelope published to `parcels.rejected`: the error with every field
//! problem, where the record came from, and its original bytes, so that nothing that arrives
//! is dropped silently and a filer can fix and resend.

use base64::Engine;
use serde::{Deserialize, Serialize};

use screener_engine::record::{FieldError, RecordError};

/// Schema tag of the envelope.
pub const REJECTED_SCHEMA: &str = "rejected/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectedRecord {
    pub schema: String,
    /// Short stable label: `too_large`, `invalid_utf8`, `invalid_json`, `invalid_fields`.
    pub error: String,
    /// The whole error, human-readable.
    pub message: String,
    /// Every field problem with its JSON path (for `invalid_fields`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
    pub source: SourcePosition,
    /// The original message value, base64 (it may not be UTF-8).
    pub original_base64: String,
}

/// Where a rejected record was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcePosition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The message key, lossily decoded as UTF-8, if there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl RejectedRecord {
    pub fn new(error: &RecordError, source: SourcePosition, original: &[u8]) -> Self {
        RejectedRecord {
            schema: REJECTED_SCHEMA.to_string(),
            error: error.kind().to_string(),
            message: error.to_string(),
            fields: error.field_errors().to_vec(),
            source,
            original_base64: base64::engine::general_purpose::STANDARD.encode(original),
        }
    }

    /// The original bytes, decoded.
    pub fn original(&self) -> Result<Vec<u8>, base64::DecodeError> {
        base64::engine::general_purpose::STANDARD.decode(&self.original_base64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use screener_engine::record::{parse_record, ParseLimits};

    #[test]
    fn envelope_keeps_original_bytes_error_and_position() {
        let original = b"{\"record_id\": \"R1\", \xff}";
        let error = parse_record(original, &ParseLimits::default()).expect_err("invalid utf-8");
        let source = SourcePosition {
            topic: "parcels.advance".into(),
            partition: 3,
            offset: 42,
            key: Some("DHL:1".into()),
        };
        let envelope = RejectedRecord::new(&error, source.clone(), original);
        let json = serde_json::to_string(&envelope).expect("serialises");
        let back: RejectedRecord = serde_json::from_str(&json).expect("parses");
        assert_eq!(back.error, "invalid_utf8");
        assert_eq!(back.source, source);
        assert_eq!(back.original().expect("base64"), original);
    }
}
