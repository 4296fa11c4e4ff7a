//! The parser's fast path: a well-formed record read straight into wire types (no
//! [`super::json`] tree, no walk over it), then checked with the walk's own checks.
//!
//! - `reader`: the JSON primitives (strings, numbers, objects, arrays) over the text;
//! - `wire`: the wire types (the SPEC §3 fields, as JSON types) and how each is read.
//!
//! Reading the tree and walking it cost ~50k instructions per record, more than a third of
//! screening one (BENCHMARKS.md, "Fourth round"). serde_json's derived readers into the
//! wire types took ~26k; the reader here takes ~20k, the strings' allocations and copies
//! included (BENCHMARKS.md, "Parsing, fingerprints and keywords").
//!
//! The fast path answers only for records it can vouch for. Any surprise gives `None`, and
//! [`super::parse_record`] takes the full path (tree and walk), which reports every problem
//! with its JSON path. Surprises are:
//! - JSON the reader does not read (a number with an exponent or more than 15 digits, a
//!   negative integer, a key with an escape) or that is not JSON;
//! - a key twice: a known key is read once, and unknown keys are compared;
//! - an unknown field whose value is an object or an array (keys twice inside it would go
//!   unseen), or more than [`wire::MAX_UNKNOWN_FIELDS`] in one object;
//! - a missing field, or a value of another JSON type (`null` included, except for an
//!   optional field, where it means absent as on the full path);
//! - a value that fails a check (length, country code, date-time, count …).
//!
//! So for every input the fast path gives the record the full path gives, or nothing. The
//! parser's tests run both paths on every input they parse and require that; so does the
//! fuzz target, and a test over generated feeds in the service crate.

mod reader;
mod wire;

use serde_json::Number;

use super::parse::{
    chars_over, choice, count_of, finite, hs_code_digits, is_blank, is_currency, is_positive,
    is_timestamp, non_negative, trimmed_name, ParseLimits, ACTIONS, FILER_TYPES, MODES,
    WEIGHT_UNITS,
};
use super::{
    Address, CompactString, Identifier, Item, Marketplace, Money, ParcelRecord, Party, Source,
    Weight,
};
use crate::lists::country;
use reader::Reader;
use wire::{
    WireAddress, WireIdentifier, WireItem, WireMarketplace, WireMoney, WireParty, WireRecord,
    WireSource, WireWeight,
};

/// The record when `text` is a well-formed record with no surprise (see the module
/// documentation); `None` otherwise, and the full path decides.
pub(super) fn parse_well_formed(text: &str, limits: &ParseLimits) -> Option<ParcelRecord> {
    let wire = wire::record(&mut Reader::new(text))?;
    Checks { limits }.record(wire)
}

// ---- checks: the full path's, in the same order; the first that fails ends the path ----

struct Checks<'l> {
    limits: &'l ParseLimits,
}

impl Checks<'_> {
    fn record(&self, wire: WireRecord<'_>) -> Option<ParcelRecord> {
        Some(ParcelRecord {
            record_id: self.non_empty(wire.record_id)?,
            source: self.source(wire.source)?,
            action: choice(&wire.action, ACTIONS)?,
            carrier: self.non_empty(wire.carrier)?,
            house_bill: self.non_empty(wire.house_bill)?,
            master_bill: self.optional(wire.master_bill, Self::string)?,
            mode: choice(&wire.mode, MODES)?,
            origin_country: self.optional(wire.origin_country, Self::country)?,
            destination_country: self.country(wire.destination_country)?,
            shipper: self.party(wire.shipper)?,
            consignee: self.party(wire.consignee)?,
            known_shipper_id: self.optional(wire.known_shipper_id, Self::non_empty)?,
            seller: self.optional(wire.seller, Self::party)?,
            marketplace: self.optional(wire.marketplace, Self::marketplace)?,
            piece_count: count(&wire.piece_count)?,
            gross_weight: self.weight(wire.gross_weight)?,
            items: self.list(wire.items, 1, self.limits.max_items, Self::item)?,
            declared_value: self.money(wire.declared_value)?,
        })
    }

    fn source(&self, wire: WireSource<'_>) -> Option<Source> {
        Some(Source {
            filer_type: choice(&wire.filer_type, FILER_TYPES)?,
            filer_id: self.non_empty(wire.filer_id)?,
            sent_at: self.timestamp(wire.sent_at)?,
        })
    }

    fn party(&self, wire: WireParty) -> Option<Party> {
        let max_identifiers = self.limits.max_identifiers;
        Some(Party {
            name: self.non_empty(wire.name).map(trimmed_name)?,
            address: self.address(wire.address)?,
            phone: self.optional(wire.phone, Self::string)?,
            email: self.optional(wire.email, Self::string)?,
            identifiers: self
                .optional(wire.identifiers, |checks, identifiers| {
                    checks.list(identifiers, 0, max_identifiers, Self::identifier)
                })?
                .unwrap_or_default(),
        })
    }

    fn address(&self, wire: WireAddress) -> Option<Address> {
        Some(Address {
            lines: self.list(wire.lines, 0, self.limits.max_address_lines, Self::string)?,
            city: self.string(wire.city)?,
            region: self.optional(wire.region, Self::string)?,
            postal_code: self.optional(wire.postal_code, Self::string)?,
            country: self.country(wire.country)?,
        })
    }

    fn identifier(&self, wire: WireIdentifier) -> Option<Identifier> {
        Some(Identifier {
            scheme: self.string(wire.scheme)?,
            value: self.string(wire.value)?,
        })
    }

    fn marketplace(&self, wire: WireMarketplace) -> Option<Marketplace> {
        Some(Marketplace {
            name: self.non_empty(wire.name)?,
            order_id: self.optional(wire.order_id, Self::string)?,
            listing_url: self.optional(wire.listing_url, Self::string)?,
        })
    }

    fn weight(&self, wire: WireWeight<'_>) -> Option<Weight> {
        let value = finite(&wire.value).filter(|float| is_positive(*float))?;
        Some(Weight {
            value,
            unit: choice(&wire.unit, WEIGHT_UNITS)?,
        })
    }

    fn item(&self, wire: WireItem) -> Option<Item> {
        Some(Item {
            description: self.non_empty(wire.description)?,
            hs_code: self.optional(wire.hs_code, Self::hs_code)?,
            quantity: count(&wire.quantity)?,
            value: self.money(wire.value)?,
            country_of_origin: self.optional(wire.country_of_origin, Self::country)?,
        })
    }

    fn money(&self, wire: WireMoney) -> Option<Money> {
        Some(Money {
            amount: finite(&wire.amount).and_then(non_negative)?,
            currency: self
                .string(wire.currency)
                .filter(|code| is_currency(code))?,
        })
    }

    /// An optional field: absent (or `null`) is `Some(None)`; present and failing is `None`.
    fn optional<W, T>(
        &self,
        wire: Option<W>,
        check: impl FnOnce(&Self, W) -> Option<T>,
    ) -> Option<Option<T>> {
        match wire {
            None => Some(None),
            Some(value) => check(self, value).map(Some),
        }
    }

    /// `min..=max` elements, each passing `check`.
    fn list<W, T>(
        &self,
        wire: Vec<W>,
        min: usize,
        max: usize,
        mut check: impl FnMut(&Self, W) -> Option<T>,
    ) -> Option<Vec<T>> {
        if !(min..=max).contains(&wire.len()) {
            return None;
        }
        wire.into_iter()
            .map(|element| check(self, element))
            .collect()
    }

    fn string(&self, text: CompactString) -> Option<CompactString> {
        chars_over(&text, self.limits.max_string_chars)
            .is_none()
            .then_some(text)
    }

    fn non_empty(&self, text: CompactString) -> Option<CompactString> {
        self.string(text).filter(|text| !is_blank(text))
    }

    fn country(&self, code: CompactString) -> Option<CompactString> {
        self.string(code).filter(|code| country::is_alpha2(code))
    }

    fn timestamp(&self, text: CompactString) -> Option<CompactString> {
        self.string(text).filter(|text| is_timestamp(text))
    }

    fn hs_code(&self, text: CompactString) -> Option<CompactString> {
        hs_code_digits(&self.string(text)?)
    }
}

/// A count (piece count, item quantity).
fn count(number: &Number) -> Option<u32> {
    count_of(number, finite(number)?)
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
                for index in 0..=wire::MAX_UNKNOWN_FIELDS {
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
