//! The parser's fast path: a well-formed record read straight into the record's types (no
//! [`super::json`] tree, no walk over it), each value checked with the walk's own checks
//! as it is read.
//!
//! - `reader`: the JSON primitives (strings, numbers, objects, arrays) over the text;
//! - `fields`: the SPEC §3 fields, how each is read and checked.
//!
//! Reading the tree and walking it cost ~50k instructions per record, more than a third of
//! screening one (BENCHMARKS.md, "Fourth round"). serde_json's derived readers into wire
//! types took ~26k; this reader into wire types, then checked and moved into the record,
//! ~20k (BENCHMARKS.md, "Parsing, fingerprints and keywords"); read straight into the
//! record's types, the whole parse (the UTF-8 check included) takes ~20k per line of the
//! mixed 100k feed where it took ~25k (BENCHMARKS.md, "Reading into the record's types").
//!
//! The fast path answers only for records it can vouch for. Any surprise gives `None`, and
//! [`super::parse_record`] takes the full path (tree and walk), which reports every problem
//! with its JSON path. Surprises are:
//! - JSON the reader does not read (a number with an exponent or more than 15 digits, a
//!   negative integer, a key with an escape) or that is not JSON;
//! - a key twice: a known key is read once, and unknown keys are compared;
//! - an unknown field whose value is an object or an array (keys twice inside it would go
//!   unseen), or more than [`fields::MAX_UNKNOWN_FIELDS`] in one object;
//! - a missing field, or a value of another JSON type (`null` included, except for an
//!   optional field, where it means absent as on the full path);
//! - a value that fails a check (length, country code, date-time, count …).
//!
//! So for every input the fast path gives the record the full path gives, or nothing. The
//! parser's tests run both paths on every input they parse and require that; so does the
//! fuzz target, and a test over generated feeds in the service crate.

mod fields;
mod reader;

use super::parse::ParseLimits;
use super::ParcelRecord;
use fields::Fields;
use reader::Reader;

/// The record when `text` is a well-formed record with no surprise (see the module
/// documentation); `None` otherwise, and the full path decides.
pub(super) fn parse_well_formed(text: &str, limits: &ParseLimits) -> Option<ParcelRecord> {
    Fields { limits }.record(&mut Reader::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{parse_record, parse_record_by_walk};
    use serde_json::{json, Value};

    const EXAMPLE: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../data/parcel.example.json"
    ));

    fn fast(value: &Value) -> Option<ParcelRecord> {
        parse_well_formed(&value.to_string(), &ParseLimits::default())
    }

    fn example() -> Value {
        serde_json::from_slice(EXAMPLE).expect("the example is JSON")
    }

    #[test]
    fn a_well_formed_record_takes_the_fast_path_with_the_walks_result() {
        let limits = ParseLimits::default();
        let text = std::str::from_utf8(EXAMPLE).expect("UTF-8");
        // The example has unknown fields (`message_id`, `entry_type`, `person_type`,
        // `line_no` …), all scalars: tolerated on the fast path too.
        let record = parse_well_formed(text, &limits).expect("the example takes the fast path");
        assert_eq!(Ok(record), parse_record_by_walk(EXAMPLE, &limits));

        // Optional fields: null and absent are both absent; every optional block present.
        let mut full = example();
        full["master_bill"] = Value::Null;
        full["consignee"]["address"]["region"] = Value::Null;
        full["known_shipper_id"] = json!("KS-000123");
        full["seller"] = json!({"name": " Shop Ltd ", "address": {"lines": [], "city": "",
            "country": "CN"}, "identifiers": [{"scheme": "USCI", "value": "9131"}]});
        full["marketplace"] = json!({"name": "Market", "order_id": null});
        full["items"][0]["hs_code"] = json!("6109.10 00");
        full["piece_count"] = json!(2.0);
        full["declared_value"]["amount"] = json!(-0.0);
        let bytes = full.to_string();
        let record = fast(&full).expect("well formed");
        assert_eq!(
            Ok(record.clone()),
            parse_record_by_walk(bytes.as_bytes(), &limits)
        );
        assert_eq!(record.seller.expect("seller").name, "Shop Ltd");
        assert_eq!(record.items[0].hs_code.as_deref(), Some("61091000"));
        assert_eq!(record.piece_count, 2);
    }

    #[test]
    fn the_reader_gives_the_full_paths_record_for_escapes_numbers_and_spacing() {
        let text = std::str::from_utf8(EXAMPLE).expect("UTF-8");
        let limits = ParseLimits::default();
        // (edit of the example's text, whether the fast path reads it)
        let cases: [(String, bool); 12] = [
            (
                text.replacen("\"Jane Doe\"", r#""Jane \"JD\" Do\u00e9""#, 1),
                true,
            ),
            (
                text.replacen("\"Jane Doe\"", r#""Jane\tDoe \ud83d\ude00\/""#, 1),
                true,
            ),
            (
                text.replacen("\"Jane Doe\"", r#""Jan\u0065 D\u00F6e""#, 1),
                true,
            ),
            (
                text.replacen("\"Springfield\"", "\"Spr\u{e9}ngfield \u{5c71}\"", 1),
                true,
            ),
            (text.replace(": ", " :\r\n\t "), true),
            (text.replace(",\n", " ,"), true),
            (
                text.replacen("\"quantity\": 2", "\"quantity\": 2.000", 1),
                true,
            ),
            (
                text.replacen("\"quantity\": 2", "\"quantity\": 2e0", 1),
                false,
            ),
            (
                text.replacen("\"quantity\": 2", "\"quantity\": 0002", 1),
                false,
            ),
            (
                text.replacen("\"piece_count\": 1", "\"piece_count\": 1.0", 1),
                true,
            ),
            (format!("{text} x"), false),
            (text.replacen("\"Jane Doe\"", "\"Jane\u{1}Doe\"", 1), false),
        ];
        for (edited, fast_path) in cases {
            assert_ne!(edited, text, "the edit applies");
            assert_eq!(
                parse_well_formed(&edited, &limits).is_some(),
                fast_path,
                "{edited}"
            );
            assert_eq!(
                parse_record(edited.as_bytes(), &limits),
                parse_record_by_walk(edited.as_bytes(), &limits),
                "{edited}"
            );
        }
    }

    #[test]
    fn any_surprise_leaves_the_record_to_the_full_path() {
        type Edit = fn(&mut Value);
        let surprises: [(&str, Edit); 13] = [
            ("an unknown object", |v| v["extra"] = json!({"a": 1})),
            ("an unknown array in a party", |v| {
                v["shipper"]["vat"] = json!(["x"])
            }),
            ("too many unknown fields", |v| {
                for index in 0..=fields::MAX_UNKNOWN_FIELDS {
                    v["items"][0][format!("x{index}")] = json!(index);
                }
            }),
            ("a missing field", |v| {
                v.as_object_mut().expect("object").remove("carrier");
            }),
            ("null for a required field", |v| {
                v["house_bill"] = Value::Null
            }),
            ("another JSON type", |v| v["piece_count"] = json!("1")),
            ("a blank name", |v| v["consignee"]["name"] = json!("  ")),
            ("a country code in lower case", |v| {
                v["destination_country"] = json!("us")
            }),
            ("an unknown choice", |v| v["mode"] = json!("RAIL")),
            ("a bad date-time", |v| {
                v["source"]["sent_at"] = json!("yesterday")
            }),
            ("no items", |v| v["items"] = json!([])),
            ("a zero weight", |v| v["gross_weight"]["value"] = json!(0)),
            ("a fractional count", |v| {
                v["items"][0]["quantity"] = json!(1.5)
            }),
        ];
        for (what, edit) in surprises {
            let mut value = example();
            edit(&mut value);
            assert!(fast(&value).is_none(), "{what} must not take the fast path");
        }
        // A key twice, at the top or inside a block: serde_json's `Value` cannot hold it, so
        // the text is written by hand.
        let text = std::str::from_utf8(EXAMPLE).expect("UTF-8");
        let limits = ParseLimits::default();
        for twice in [
            text.replacen("\"carrier\"", "\"carrier\": \"X\", \"carrier\"", 1),
            text.replacen("\"carrier\"", "\"extra\": 1, \"extra\": 2, \"carrier\"", 1),
            text.replacen("\"city\"", "\"extra\": 1, \"\\u0065xtra\": 2, \"city\"", 1),
            text.replacen("\"city\"", "\"city\": \"X\", \"city\"", 1),
            text.replacen(
                "\"carrier\"",
                "\"n\\u0061me\": 1, \"name\": 2, \"carrier\"",
                1,
            ),
        ] {
            assert!(
                parse_well_formed(&twice, &limits).is_none(),
                "a key twice must not take the fast path: {twice}"
            );
        }
    }
}
