//! Parcel record v1 (SPEC §3): the typed model, the parcel key, and the parser that turns
//! untrusted bytes into a validated [`ParcelRecord`] or a [`RecordError`] listing every
//! problem with its JSON path.
//!
//! The parser lives in [`parse`] (JSON text to a [`json`] tree borrowing from the text in
//! [`duplicate_keys`], which refuses an object with a key twice), with a fast path for
//! well-formed records in [`fast`]; it never panics, whatever the input. [`names`] holds the
//! match tokens of a record's party names, made once for deduplication and screening.

mod duplicate_keys;
mod fast;
mod json;
mod names;
mod parse;

pub use names::PartyNameTokens;
pub use parse::{parse_record, parse_record_by_walk, ParseLimits};

pub use compact_str::CompactString;
use serde::Serialize;

/// A validated parcel record. Every mandatory field of SPEC §3 is present and well formed;
/// optional fields are `None` or empty when absent. Unknown fields of the input are ignored.
///
/// Texts are [`CompactString`]s: up to 24 bytes (codes, ids, countries, most names and
/// cities) they sit inside the record, so parsing one costs no allocation and no free. As
/// `String`s they were about half of the 68 allocations a screened record cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParcelRecord {
    /// Unique per message from the filer; copied into the decision.
    pub record_id: CompactString,
    /// Who filed the record; tells the courier feed from the marketplace feed.
    pub source: Source,
    pub action: Action,
    /// Carrier code, as filed (e.g. `DHL`); half of the parcel key.
    pub carrier: CompactString,
    /// House bill / tracking number, as filed; the other half of the parcel key.
    pub house_bill: CompactString,
    pub master_bill: Option<CompactString>,
    pub mode: Mode,
    /// ISO 3166-1 alpha-2, upper case.
    pub origin_country: Option<CompactString>,
    /// ISO 3166-1 alpha-2, upper case; selects the de minimis threshold.
    pub destination_country: CompactString,
    pub shipper: Party,
    pub consignee: Party,
    /// The known-shipper enrollment id the shipper claims, if any.
    pub known_shipper_id: Option<CompactString>,
    /// Section 321 pilot: the seller, when it differs from the shipper.
    pub seller: Option<Party>,
    pub marketplace: Option<Marketplace>,
    pub piece_count: u32,
    pub gross_weight: Weight,
    /// At least one item.
    pub items: Vec<Item>,
    pub declared_value: Money,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Source {
    pub filer_type: FilerType,
    pub filer_id: CompactString,
    /// RFC 3339, kept as filed (validated, not reformatted).
    pub sent_at: CompactString,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FilerType {
    ExpressCarrier,
    Marketplace,
    Postal,
}

impl FilerType {
    pub const ALL: [FilerType; 3] = [
        FilerType::ExpressCarrier,
        FilerType::Marketplace,
        FilerType::Postal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FilerType::ExpressCarrier => "express_carrier",
            FilerType::Marketplace => "marketplace",
            FilerType::Postal => "postal",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Action {
    Add,
    Amend,
    Cancel,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Add => "ADD",
            Action::Amend => "AMEND",
            Action::Cancel => "CANCEL",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Mode {
    Air,
    Road,
    Sea,
    Postal,
}

/// A shipper, consignee or seller.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Party {
    pub name: CompactString,
    pub address: Address,
    pub phone: Option<CompactString>,
    pub email: Option<CompactString>,
    pub identifiers: Vec<Identifier>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Address {
    /// May be empty only in a record that is then screened as DATA_INCOMPLETE.
    pub lines: Vec<CompactString>,
    pub city: CompactString,
    pub region: Option<CompactString>,
    pub postal_code: Option<CompactString>,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: CompactString,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Identifier {
    pub scheme: CompactString,
    pub value: CompactString,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Marketplace {
    pub name: CompactString,
    pub order_id: Option<CompactString>,
    pub listing_url: Option<CompactString>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Weight {
    pub value: f64,
    pub unit: WeightUnit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum WeightUnit {
    Kg,
    Lb,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub description: CompactString,
    /// Digits only (dots and spaces of the filed code removed).
    pub hs_code: Option<CompactString>,
    pub quantity: u32,
    pub value: Money,
    pub country_of_origin: Option<CompactString>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Money {
    pub amount: f64,
    /// ISO 4217, upper case.
    pub currency: CompactString,
}

/// One problem with one field of a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FieldError {
    /// JSON path of the field, dotted with indexes in brackets: `items[2].value.amount`.
    pub path: String,
    /// What is wrong, naming what was expected and what was found.
    pub problem: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)
    }
}

/// Why bytes could not become a [`ParcelRecord`]. The `kind` is a short stable label used
/// as a metric label and in the rejected-record envelope.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    #[error("record is {size_bytes} bytes, over the limit of {limit_bytes} bytes")]
    TooLarge {
        size_bytes: usize,
        limit_bytes: usize,
    },
    #[error("record is not valid UTF-8 (first bad byte at offset {offset})")]
    InvalidUtf8 { offset: usize },
    #[error("record is not valid JSON: {message}")]
    InvalidJson { message: String },
    #[error("record has {} invalid field(s): {}", .0.len(), join_field_errors(.0))]
    InvalidFields(Vec<FieldError>),
}

fn join_field_errors(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl RecordError {
    /// Short, bounded label for metrics (`screener_rejected_total{error}`).
    pub fn kind(&self) -> &'static str {
        match self {
            RecordError::TooLarge { .. } => "too_large",
            RecordError::InvalidUtf8 { .. } => "invalid_utf8",
            RecordError::InvalidJson { .. } => "invalid_json",
            RecordError::InvalidFields(_) => "invalid_fields",
        }
    }

    /// The field errors, if this is a validation error.
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            RecordError::InvalidFields(errors) => errors,
            _ => &[],
        }
    }
}

/// Builds the parcel key of SPEC §3: `"{carrier}:{house_bill}"`, upper-cased, whitespace
/// removed.
///
/// A [`CompactString`]: a key is nearly always short enough (≤ 24 bytes) to need no
/// allocation.
pub fn parcel_key(carrier: &str, house_bill: &str) -> CompactString {
    let mut key = CompactString::with_capacity(carrier.len() + house_bill.len() + 1);
    push_key_part(&mut key, carrier);
    key.push(':');
    push_key_part(&mut key, house_bill);
    key
}

fn push_key_part(key: &mut CompactString, part: &str) {
    // Most parts are filed as the key is written (ASCII, upper case, no whitespace): copied
    // whole: pushing to a `CompactString` a character at a time cost ~20 more instructions a
    // character than to a `String` (371 more a key over the 20k feed).
    let already_key = part
        .bytes()
        .all(|b| b.is_ascii() && !b.is_ascii_lowercase() && !char::from(b).is_whitespace());
    if already_key {
        key.push_str(part);
        return;
    }
    if part.is_ascii() {
        // The usual case, a byte at a time: an ASCII character upper-cases to one ASCII
        // character, and `char::is_whitespace` is the test below (it counts U+000B, which
        // `u8::is_ascii_whitespace` does not).
        key.extend(
            part.bytes()
                .map(char::from)
                .filter(|c| !c.is_whitespace())
                .map(|c| c.to_ascii_uppercase()),
        );
        return;
    }
    for character in part.chars().filter(|c| !c.is_whitespace()) {
        key.extend(character.to_uppercase());
    }
}

impl ParcelRecord {
    /// The parcel key (SPEC §3) of this record.
    pub fn parcel_key(&self) -> CompactString {
        parcel_key(&self.carrier, &self.house_bill)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parcel_key_is_upper_cased_without_whitespace() {
        assert_eq!(parcel_key("dhl", " 1234 567 890\t"), "DHL:1234567890");
        assert_eq!(parcel_key("Fdx", "ab-12"), "FDX:AB-12");
        // Vertical tab and form feed are whitespace too; non-ASCII upper-cases fully.
        assert_eq!(parcel_key("ups", "1z\u{0B}9\u{0C}x"), "UPS:1Z9X");
        assert_eq!(parcel_key("post", "straße\u{2003}1"), "POST:STRASSE1");
        // Already a key: copied as it is; U+001C–U+001F are not whitespace to Rust.
        assert_eq!(parcel_key("DHL", "1234-X"), "DHL:1234-X");
        assert_eq!(parcel_key("DHL", "12\u{1F}34"), "DHL:12\u{1F}34");
        // Long keys go to the heap, with the same text.
        let long = "9".repeat(40);
        assert_eq!(parcel_key("ups", &long), format!("UPS:{long}"));
    }
}
