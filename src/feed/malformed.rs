//! Malformed reports: what real feeds send now and then. Every corruption here makes
//! `screener_engine::record::parse_record` fail (the unit tests check it), and none puts a
//! line break into the bytes, so that each report stays one JSONL line.

use serde_json::Value;

use super::rng::Rng;

/// How a report was broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Malformation {
    /// Not JSON: cut short, a trailing comma, `=` for `:`, single quotes.
    BrokenJson,
    /// A field of the wrong JSON type (a number as a string, an object for an array …).
    WrongType,
    /// A mandatory field left out.
    MissingField,
    /// A country code that is not ISO 3166-1 alpha-2 (`USA`, `Deutschland`, `us` …).
    BadCountry,
    /// Bytes that are not UTF-8 (a Latin-1 name in a UTF-8 feed).
    InvalidUtf8,
}

impl Malformation {
    pub const ALL: [Malformation; 5] = [
        Malformation::BrokenJson,
        Malformation::WrongType,
        Malformation::MissingField,
        Malformation::BadCountry,
        Malformation::InvalidUtf8,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Malformation::BrokenJson => "broken_json",
            Malformation::WrongType => "wrong_type",
            Malformation::MissingField => "missing_field",
            Malformation::BadCountry => "bad_country",
            Malformation::InvalidUtf8 => "invalid_utf8",
        }
    }
}

/// Breaks a well-formed serialised record (compact JSON, one object). Returns the broken
/// bytes and how they were broken.
pub(crate) fn corrupt(rng: &mut Rng, bytes: Vec<u8>) -> (Vec<u8>, Malformation) {
    let malformation = Malformation::ALL[rng.index(Malformation::ALL.len())];
    let corrupted = match malformation {
        Malformation::BrokenJson => broken_json(rng, bytes),
        Malformation::InvalidUtf8 => invalid_utf8(rng, bytes),
        Malformation::WrongType | Malformation::MissingField | Malformation::BadCountry => {
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(mut value) => {
                    match malformation {
                        Malformation::WrongType => wrong_type(rng, &mut value),
                        Malformation::MissingField => missing_field(rng, &mut value),
                        _ => bad_country(rng, &mut value),
                    }
                    serde_json::to_vec(&value).unwrap_or_else(|_| b"{".to_vec())
                }
                // Not reachable for generated records; still a malformed report.
                Err(_) => {
                    let mut cut = bytes;
                    cut.truncate(1);
                    cut
                }
            }
        }
    };
    (corrupted, malformation)
}

/// A record cut short (any proper prefix of a JSON object is not JSON), a trailing comma,
/// `=` for the first `:`, or single-quoted keys.
fn broken_json(rng: &mut Rng, mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.len() < 4 {
        return b"{".to_vec();
    }
    match rng.below(4) {
        0 => {
            let keep = rng.range(1, bytes.len() as u64 - 2) as usize;
            bytes.truncate(keep);
        }
        1 => {
            // `…}` → `…,}`
            let last = bytes.len() - 1;
            bytes.insert(last, b',');
        }
        2 => {
            if let Some(colon) = bytes.iter().position(|b| *b == b':') {
                bytes[colon] = b'=';
            } else {
                bytes.truncate(1);
            }
        }
        _ => {
            // `{"record_id":` → `{'record_id':`
            let end = bytes.iter().skip(2).position(|b| *b == b'"').map(|p| p + 2);
            match (bytes.get(1), end) {
                (Some(b'"'), Some(end)) => {
                    bytes[1] = b'\'';
                    bytes[end] = b'\'';
                }
                _ => bytes.truncate(1),
            }
        }
    }
    bytes
}

/// The consignee's name with a Latin-1 byte in it: 0xE9 (`é`), 0xFC (`ü`) or 0xF1 (`ñ`)
/// followed by ASCII is never valid UTF-8.
fn invalid_utf8(rng: &mut Rng, mut bytes: Vec<u8>) -> Vec<u8> {
    const LATIN1: [u8; 3] = [0xE9, 0xFC, 0xF1];
    let byte = LATIN1[rng.index(LATIN1.len())];
    let needle = b"\"consignee\":{\"name\":\"";
    let at = bytes
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|p| p + needle.len() + 1)
        .unwrap_or(bytes.len() / 2);
    let at = at.min(bytes.len());
    bytes.insert(at, byte);
    // Make sure an ASCII byte follows, so the Latin-1 byte cannot start a valid sequence.
    bytes.insert((at + 1).min(bytes.len()), b'x');
    bytes
}

fn wrong_type(rng: &mut Rng, value: &mut Value) {
    match rng.below(5) {
        0 => {
            if let Some(count) = value.get_mut("piece_count") {
                *count = Value::String(count.to_string());
            }
        }
        1 => {
            if let Some(amount) = value.pointer_mut("/declared_value/amount") {
                *amount = Value::String(format!("{amount} USD"));
            }
        }
        2 => {
            // The first item instead of the array.
            if let Some(items) = value.get_mut("items") {
                let first = items.get(0).cloned().unwrap_or(Value::Null);
                *items = first;
            }
        }
        3 => {
            if let Some(lines) = value.pointer_mut("/consignee/address/lines") {
                let joined = lines
                    .as_array()
                    .map(|lines| {
                        lines
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                *lines = Value::String(joined);
            }
        }
        _ => {
            // Epoch milliseconds instead of an RFC 3339 string.
            if let Some(sent_at) = value.pointer_mut("/source/sent_at") {
                *sent_at = Value::from(1_793_491_200_000_i64);
            }
        }
    }
}

fn missing_field(rng: &mut Rng, value: &mut Value) {
    const TOP_LEVEL: [&str; 8] = [
        "consignee",
        "house_bill",
        "items",
        "declared_value",
        "action",
        "carrier",
        "destination_country",
        "gross_weight",
    ];
    let choice = rng.index(TOP_LEVEL.len() + 2);
    let Some(object) = value.as_object_mut() else {
        return;
    };
    match TOP_LEVEL.get(choice) {
        Some(key) => {
            object.remove(*key);
        }
        None if choice == TOP_LEVEL.len() => {
            if let Some(source) = object.get_mut("source").and_then(Value::as_object_mut) {
                source.remove("filer_id");
            }
        }
        None => {
            if let Some(shipper) = object.get_mut("shipper").and_then(Value::as_object_mut) {
                shipper.remove("name");
            }
        }
    }
}

fn bad_country(rng: &mut Rng, value: &mut Value) {
    const BAD_CODES: [&str; 6] = ["USA", "U.S.", "Deutschland", "us", "ZZ", ""];
    const FIELDS: [&str; 3] = [
        "/destination_country",
        "/consignee/address/country",
        "/shipper/address/country",
    ];
    let code = BAD_CODES[rng.index(BAD_CODES.len())];
    let field = FIELDS[rng.index(FIELDS.len())];
    if let Some(country) = value.pointer_mut(field) {
        *country = Value::String(code.to_string());
    }
}
