//! The parser's fast path: a well-formed record read by serde_json straight into wire types
//! (no [`super::json`] tree, no walk over it), then checked with the walk's own checks.
//!
//! Reading the tree and walking it cost ~50k instructions per record, more than a third of
//! screening one (BENCHMARKS.md, "Fourth round"); serde's derived readers match each key
//! once and fill fields in place.
//!
//! The fast path answers only for records it can vouch for. Any surprise gives `None`, and
//! [`super::parse_record`] takes the full path (tree and walk), which reports every problem
//! with its JSON path. Surprises are:
//! - a key twice: serde's derived readers refuse a known key twice, and [`UnknownFields`]
//!   an unknown one;
//! - an unknown field whose value is an object or an array (keys twice inside it would go
//!   unseen), or more than [`MAX_UNKNOWN_FIELDS`] in one object;
//! - a missing field, or a value of another JSON type (`null` included, except for an
//!   optional field, where it means absent as on the full path);
//! - a value that fails a check (length, country code, date-time, count …).
//!
//! So for every input the fast path gives the record the full path gives, or nothing. The
//! parser's tests run both paths on every input they parse and require that; so does the
//! fuzz target, and a test over generated feeds in the service crate.

use serde::Deserialize;
use serde_json::Number;
use std::borrow::Cow;

use super::parse::{
    chars_over, choice, count_of, finite, hs_code_digits, is_blank, is_currency, is_positive,
    is_timestamp, non_negative, trimmed_name, ParseLimits, ACTIONS, FILER_TYPES, MODES,
    WEIGHT_UNITS,
};
use super::{Address, Identifier, Item, Marketplace, Money, ParcelRecord, Party, Source, Weight};
use crate::lists::country;

/// The record when `text` is a well-formed record with no surprise (see the module
/// documentation); `None` otherwise, and the full path decides.
pub(super) fn parse_well_formed(text: &str, limits: &ParseLimits) -> Option<ParcelRecord> {
    let wire: WireRecord<'_> = serde_json::from_str(text).ok()?;
    Checks { limits }.record(wire)
}

// ---- wire types: the SPEC §3 fields, as JSON types; choices borrow from the text ----

#[derive(Deserialize)]
struct WireRecord<'a> {
    record_id: String,
    #[serde(borrow)]
    source: WireSource<'a>,
    #[serde(borrow)]
    action: Cow<'a, str>,
    carrier: String,
    house_bill: String,
    #[serde(default)]
    master_bill: Option<String>,
    #[serde(borrow)]
    mode: Cow<'a, str>,
    #[serde(default)]
    origin_country: Option<String>,
    destination_country: String,
    shipper: WireParty,
    consignee: WireParty,
    #[serde(default)]
    known_shipper_id: Option<String>,
    #[serde(default)]
    seller: Option<WireParty>,
    #[serde(default)]
    marketplace: Option<WireMarketplace>,
    piece_count: Number,
    #[serde(borrow)]
    gross_weight: WireWeight<'a>,
    items: Vec<WireItem>,
    declared_value: WireMoney,
    #[serde(flatten)]
    _unknown: UnknownFields,
}

#[derive(Deserialize)]
struct WireSource<'a> {
    #[serde(borrow)]
    filer_type: Cow<'a, str>,
    filer_id: String,
    sent_at: String,
    #[serde(flatten)]
    _unknown: UnknownFields,
}

#[derive(Deserialize)]
struct WireParty {
    name: String,
    address: WireAddress,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    identifiers: Option<Vec<WireIdentifier>>,
    #[serde(flatten)]
    _unknown: UnknownFields,
}

#[derive(Deserialize)]
struct WireAddress {
    lines: Vec<String>,
    city: String,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    postal_code: Option<String>,
    country: String,
    #[serde(flatten)]
    _unknown: UnknownFields,
}

#[derive(Deserialize)]
struct WireIdentifier {
    scheme: String,
    value: String,
    #[serde(flatten)]
    _unknown: UnknownFields,
}

#[derive(Deserialize)]
struct WireMarketplace {
    name: String,
    #[serde(default)]
    order_id: Option<String>,
    #[serde(default)]
    listing_url: Option<String>,
    #[serde(flatten)]
    _unknown: UnknownFields,
}

#[derive(Deserialize)]
struct WireWeight<'a> {
    value: Number,
    #[serde(borrow)]
    unit: Cow<'a, str>,
    #[serde(flatten)]
    _unknown: UnknownFields,
}

#[derive(Deserialize)]
struct WireItem {
    description: String,
    #[serde(default)]
    hs_code: Option<String>,
    quantity: Number,
    value: WireMoney,
    #[serde(default)]
    country_of_origin: Option<String>,
    #[serde(flatten)]
    _unknown: UnknownFields,
}

#[derive(Deserialize)]
struct WireMoney {
    amount: Number,
    currency: String,
    #[serde(flatten)]
    _unknown: UnknownFields,
}

/// The fields of an object that its wire type does not know. They are tolerated, like
/// anywhere else, as long as the fast path can tell they are not repeated: each a scalar
/// (a string, number, boolean or `null`), with distinct keys, at most
/// [`MAX_UNKNOWN_FIELDS`] of them. An object or array among them, or more fields, is a
/// surprise (the tree checks those for keys twice).
struct UnknownFields;

/// Most unknown fields an object may have on the fast path (they are compared pairwise).
const MAX_UNKNOWN_FIELDS: usize = 16;

impl<'de> Deserialize<'de> for UnknownFields {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(UnknownFields)
    }
}

impl<'de> serde::de::Visitor<'de> for UnknownFields {
    type Value = UnknownFields;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("unknown fields with scalar values")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut fields: A) -> Result<Self, A::Error> {
        let mut keys: Vec<Cow<'de, str>> = Vec::new();
        while let Some(key) = fields.next_key::<Cow<'de, str>>()? {
            if keys.len() == MAX_UNKNOWN_FIELDS || keys.contains(&key) {
                return Err(serde::de::Error::custom(
                    "unknown fields the fast path cannot vouch for",
                ));
            }
            fields.next_value::<Scalar>()?;
            keys.push(key);
        }
        Ok(UnknownFields)
    }
}

/// A JSON scalar, read and dropped; an object or array is an error.
struct Scalar;

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Scalar)
    }
}

impl<'de> serde::de::Visitor<'de> for Scalar {
    type Value = Scalar;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a string, number, boolean or null")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Scalar, E> {
        Ok(Scalar)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Scalar, E> {
        Ok(Scalar)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Scalar, E> {
        Ok(Scalar)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Scalar, E> {
        Ok(Scalar)
    }

    fn visit_str<E>(self, _: &str) -> Result<Scalar, E> {
        Ok(Scalar)
    }

    fn visit_unit<E>(self) -> Result<Scalar, E> {
        Ok(Scalar)
    }
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

    fn string(&self, text: String) -> Option<String> {
        chars_over(&text, self.limits.max_string_chars)
            .is_none()
            .then_some(text)
    }

    fn non_empty(&self, text: String) -> Option<String> {
        self.string(text).filter(|text| !is_blank(text))
    }

    fn country(&self, code: String) -> Option<String> {
        self.string(code).filter(|code| country::is_alpha2(code))
    }

    fn timestamp(&self, text: String) -> Option<String> {
        self.string(text).filter(|text| is_timestamp(text))
    }

    fn hs_code(&self, text: String) -> Option<String> {
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
    use crate::record::parse_record_by_walk;
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
    fn any_surprise_leaves_the_record_to_the_full_path() {
        type Edit = fn(&mut Value);
        let surprises: [(&str, Edit); 13] = [
            ("an unknown object", |v| v["extra"] = json!({"a": 1})),
            ("an unknown array in a party", |v| {
                v["shipper"]["vat"] = json!(["x"])
            }),
            ("too many unknown fields", |v| {
                for index in 0..=MAX_UNKNOWN_FIELDS {
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
