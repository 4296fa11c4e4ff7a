//! Parser and validator for parcel record v1 (SPEC §3).
//!
//! Bytes go through four gates, in this order, each cheaper than the next (a well-formed
//! record passes gates 3 and 4 on the fast path of [`super::fast`], with the same result):
//! 1. the size limit on the raw bytes ([`RecordError::TooLarge`]), before any parsing;
//! 2. UTF-8 ([`RecordError::InvalidUtf8`]);
//! 3. JSON syntax into a [`Json`] tree ([`RecordError::InvalidJson`]); serde_json's
//!    recursion limit turns absurd nesting into an error rather than a stack overflow. The
//!    same single pass refuses an object that has a key twice, at any depth: every
//!    duplicate is a [`FieldError`] `duplicate key` at the key's path
//!    ([`RecordError::InvalidFields`], nothing else checked), since serde_json would keep the
//!    last value silently and another reader the first (see [`super::duplicate_keys`]);
//! 4. a single walk over the value that builds the typed [`ParcelRecord`] and collects every
//!    problem as a [`FieldError`] with its JSON path ([`RecordError::InvalidFields`]).
//!
//! The walk moves strings out of the parsed value instead of copying them. Unknown fields
//! are ignored everywhere; `null` for an optional field means absent. Found values quoted in
//! problems are truncated and `{:?}`-escaped, so hostile input cannot forge log lines.
//! Nothing here panics, whatever the input.

use std::fmt::{Display, Write as _};
use std::marker::PhantomData;

use serde_json::Number;

use super::duplicate_keys::{self, Failure};
use super::fast;
use super::json::{Json, Object};
use super::{
    Action, Address, CompactString, FieldError, FilerType, Identifier, Item, Marketplace, Mode,
    Money, ParcelRecord, Party, RecordError, Source, Weight, WeightUnit,
};
use crate::lists::country;

/// Size limits applied before and during parsing, so hostile input costs bounded work.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParseLimits {
    /// A record larger than this is rejected before it is parsed.
    pub max_record_bytes: usize,
    /// Most items a record may carry.
    pub max_items: usize,
    /// Longest string field, in characters (names, address lines, descriptions).
    pub max_string_chars: usize,
    /// Most identifiers one party may carry.
    pub max_identifiers: usize,
    /// Most lines one address may carry.
    pub max_address_lines: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_record_bytes: 256 * 1024,
            max_items: 1000,
            max_string_chars: 1000,
            max_identifiers: 32,
            max_address_lines: 16,
        }
    }
}

/// Parses and validates one parcel record v1.
///
/// Returns the typed record, or the first gate that failed; field problems are all
/// reported at once, in the order of the SPEC §3 field table. Valid JSON that is not an
/// object is one field problem at path `$`. JSON with an object that has a key twice is
/// rejected with only its duplicate keys (`consignee.name: duplicate key`), in document
/// order.
///
/// A well-formed record takes the fast path ([`super::fast`]), unless something in it needs
/// the tree to be judged (a key twice, an unknown field holding an object …); any other
/// input takes the full path (gates 3 and 4 below), with the same result.
pub fn parse_record(bytes: &[u8], limits: &ParseLimits) -> Result<ParcelRecord, RecordError> {
    let text = checked_text(bytes, limits)?;
    if let Some(record) = fast::parse_well_formed(text, limits) {
        return Ok(record);
    }
    walk_text(text, limits)
}

/// [`parse_record`] by the full path alone, never the fast path: the reference the fast path
/// is tested against (by the parser's tests, the fuzz target and the service's feed tests).
/// Same result, slower.
pub fn parse_record_by_walk(
    bytes: &[u8],
    limits: &ParseLimits,
) -> Result<ParcelRecord, RecordError> {
    walk_text(checked_text(bytes, limits)?, limits)
}

/// Gates 1 and 2: the size limit, then UTF-8.
fn checked_text<'b>(bytes: &'b [u8], limits: &ParseLimits) -> Result<&'b str, RecordError> {
    if bytes.len() > limits.max_record_bytes {
        return Err(RecordError::TooLarge {
            size_bytes: bytes.len(),
            limit_bytes: limits.max_record_bytes,
        });
    }
    simdutf8::compat::from_utf8(bytes).map_err(|error| RecordError::InvalidUtf8 {
        offset: error.valid_up_to(),
    })
}

/// Gates 3 and 4: the JSON tree (refusing duplicate keys), then the walk.
fn walk_text(text: &str, limits: &ParseLimits) -> Result<ParcelRecord, RecordError> {
    let value = match duplicate_keys::from_str(text) {
        Ok(value) => value,
        Err(Failure::Json(error)) => {
            return Err(RecordError::InvalidJson {
                message: error.to_string(),
            })
        }
        // The record means different things to different readers: nothing else is checked.
        Err(Failure::DuplicateKeys(errors)) => return Err(RecordError::InvalidFields(errors)),
    };

    let mut walker = Walker::new(limits);
    let record = match value {
        Json::Object(fields) => walker.record(fields),
        other => {
            walker.path.push('$');
            walker.expected("an object", &other);
            None
        }
    };
    if !walker.errors.is_empty() {
        return Err(RecordError::InvalidFields(walker.errors));
    }
    // Every `None` of the walk comes with a reported problem; this only guards that
    // invariant without panicking.
    record.ok_or_else(|| {
        RecordError::InvalidFields(vec![FieldError {
            path: "$".to_owned(),
            problem: "record rejected without a reported problem (parser bug)".to_owned(),
        }])
    })
}

pub(super) const FILER_TYPES: &[(&str, FilerType)] = &[
    ("express_carrier", FilerType::ExpressCarrier),
    ("marketplace", FilerType::Marketplace),
    ("postal", FilerType::Postal),
];
pub(super) const ACTIONS: &[(&str, Action)] = &[
    ("ADD", Action::Add),
    ("AMEND", Action::Amend),
    ("CANCEL", Action::Cancel),
];
pub(super) const MODES: &[(&str, Mode)] = &[
    ("AIR", Mode::Air),
    ("ROAD", Mode::Road),
    ("SEA", Mode::Sea),
    ("POSTAL", Mode::Postal),
];
pub(super) const WEIGHT_UNITS: &[(&str, WeightUnit)] =
    &[("KG", WeightUnit::Kg), ("LB", WeightUnit::Lb)];

/// Longest prefix of a found value quoted in a problem, in characters.
const QUOTE_CHARS: usize = 40;

/// Walks a parsed record once. Holds the JSON path of the field being read (grown and
/// truncated as the walk descends, so reading a field allocates nothing) and every problem
/// found so far.
///
/// Readers take a [`Json`] value (borrowing from the text, lifetime `'j`) by value and
/// return `Some` when it is well formed; a `None` always comes with at least one reported
/// problem.
struct Walker<'l, 'j> {
    limits: &'l ParseLimits,
    path: String,
    errors: Vec<FieldError>,
    /// The walk reads values of one parsed text.
    text: PhantomData<Json<'j>>,
}

impl<'l, 'j> Walker<'l, 'j> {
    fn new(limits: &'l ParseLimits) -> Self {
        Walker {
            limits,
            path: String::with_capacity(64),
            errors: Vec::new(),
            text: PhantomData,
        }
    }

    // ---- the record, in the order of the SPEC §3 field table ----

    fn record(&mut self, mut fields: Object<'j>) -> Option<ParcelRecord> {
        let o = &mut fields;
        let record_id = self.required(o, "record_id", Self::non_empty);
        let source = self.required(o, "source", Self::source);
        let action = self.required(o, "action", |w, v| w.one_of(v, ACTIONS));
        let carrier = self.required(o, "carrier", Self::non_empty);
        let house_bill = self.required(o, "house_bill", Self::non_empty);
        let master_bill = self.optional(o, "master_bill", Self::string);
        let mode = self.required(o, "mode", |w, v| w.one_of(v, MODES));
        let origin_country = self.optional(o, "origin_country", Self::country);
        let destination_country = self.required(o, "destination_country", Self::country);
        let shipper = self.required(o, "shipper", Self::party);
        let consignee = self.required(o, "consignee", Self::party);
        let known_shipper_id = self.optional(o, "known_shipper_id", Self::non_empty);
        let seller = self.optional(o, "seller", Self::party);
        let marketplace = self.optional(o, "marketplace", Self::marketplace);
        let piece_count = self.required(o, "piece_count", Self::count);
        let gross_weight = self.required(o, "gross_weight", Self::weight);
        let max_items = self.limits.max_items;
        let items = self.required(o, "items", |w, v| {
            w.list(v, ("item", "items"), 1, max_items, Self::item)
        });
        let declared_value = self.required(o, "declared_value", Self::money);
        Some(ParcelRecord {
            record_id: record_id?,
            source: source?,
            action: action?,
            carrier: carrier?,
            house_bill: house_bill?,
            master_bill,
            mode: mode?,
            origin_country,
            destination_country: destination_country?,
            shipper: shipper?,
            consignee: consignee?,
            known_shipper_id,
            seller,
            marketplace,
            piece_count: piece_count?,
            gross_weight: gross_weight?,
            items: items?,
            declared_value: declared_value?,
        })
    }

    fn source(&mut self, value: Json<'j>) -> Option<Source> {
        let mut fields = self.object(value)?;
        let o = &mut fields;
        let filer_type = self.required(o, "filer_type", |w, v| w.one_of(v, FILER_TYPES));
        let filer_id = self.required(o, "filer_id", Self::non_empty);
        let sent_at = self.required(o, "sent_at", Self::timestamp);
        Some(Source {
            filer_type: filer_type?,
            filer_id: filer_id?,
            sent_at: sent_at?,
        })
    }

    fn party(&mut self, value: Json<'j>) -> Option<Party> {
        let mut fields = self.object(value)?;
        let o = &mut fields;
        let name = self.required(o, "name", Self::name);
        let address = self.required(o, "address", Self::address);
        let phone = self.optional(o, "phone", Self::string);
        let email = self.optional(o, "email", Self::string);
        let max_identifiers = self.limits.max_identifiers;
        let identifiers = self.optional(o, "identifiers", |w, v| {
            w.list(
                v,
                ("identifier", "identifiers"),
                0,
                max_identifiers,
                Self::identifier,
            )
        });
        Some(Party {
            name: name?,
            address: address?,
            phone,
            email,
            identifiers: identifiers.unwrap_or_default(),
        })
    }

    /// An address; empty `lines` and an empty `city` are allowed here (the rules layer
    /// screens such a record as DATA_INCOMPLETE), but both keys must be present.
    fn address(&mut self, value: Json<'j>) -> Option<Address> {
        let mut fields = self.object(value)?;
        let o = &mut fields;
        let max_lines = self.limits.max_address_lines;
        let lines = self.required(o, "lines", |w, v| {
            w.list(v, ("line", "lines"), 0, max_lines, Self::string)
        });
        let city = self.required(o, "city", Self::string);
        let region = self.optional(o, "region", Self::string);
        let postal_code = self.optional(o, "postal_code", Self::string);
        let country = self.required(o, "country", Self::country);
        Some(Address {
            lines: lines?,
            city: city?,
            region,
            postal_code,
            country: country?,
        })
    }

    fn identifier(&mut self, value: Json<'j>) -> Option<Identifier> {
        let mut fields = self.object(value)?;
        let o = &mut fields;
        let scheme = self.required(o, "scheme", Self::string);
        let value = self.required(o, "value", Self::string);
        Some(Identifier {
            scheme: scheme?,
            value: value?,
        })
    }

    fn marketplace(&mut self, value: Json<'j>) -> Option<Marketplace> {
        let mut fields = self.object(value)?;
        let o = &mut fields;
        let name = self.required(o, "name", Self::non_empty);
        let order_id = self.optional(o, "order_id", Self::string);
        let listing_url = self.optional(o, "listing_url", Self::string);
        Some(Marketplace {
            name: name?,
            order_id,
            listing_url,
        })
    }

    fn weight(&mut self, value: Json<'j>) -> Option<Weight> {
        let mut fields = self.object(value)?;
        let o = &mut fields;
        let amount = self.required(o, "value", Self::positive);
        let unit = self.required(o, "unit", |w, v| w.one_of(v, WEIGHT_UNITS));
        Some(Weight {
            value: amount?,
            unit: unit?,
        })
    }

    fn item(&mut self, value: Json<'j>) -> Option<Item> {
        let mut fields = self.object(value)?;
        let o = &mut fields;
        let description = self.required(o, "description", Self::non_empty);
        let hs_code = self.optional(o, "hs_code", Self::hs_code);
        let quantity = self.required(o, "quantity", Self::count);
        let value = self.required(o, "value", Self::money);
        let country_of_origin = self.optional(o, "country_of_origin", Self::country);
        Some(Item {
            description: description?,
            hs_code,
            quantity: quantity?,
            value: value?,
            country_of_origin,
        })
    }

    fn money(&mut self, value: Json<'j>) -> Option<Money> {
        let mut fields = self.object(value)?;
        let o = &mut fields;
        let amount = self.required(o, "amount", Self::non_negative);
        let currency = self.required(o, "currency", Self::currency);
        Some(Money {
            amount: amount?,
            currency: currency?,
        })
    }

    // ---- fields and paths ----

    /// Reads the mandatory field `key` of `object` with `read`, or reports it missing.
    fn required<T>(
        &mut self,
        object: &mut Object<'j>,
        key: &str,
        read: impl FnOnce(&mut Self, Json<'j>) -> Option<T>,
    ) -> Option<T> {
        let mark = self.enter(key);
        let result = match object.remove(key) {
            Some(value) => read(self, value),
            None => {
                self.report("missing");
                None
            }
        };
        self.path.truncate(mark);
        result
    }

    /// Reads the optional field `key` of `object` with `read`; absent and `null` give
    /// `None` without a problem.
    fn optional<T>(
        &mut self,
        object: &mut Object<'j>,
        key: &str,
        read: impl FnOnce(&mut Self, Json<'j>) -> Option<T>,
    ) -> Option<T> {
        match object.remove(key) {
            None | Some(Json::Null) => None,
            Some(value) => {
                let mark = self.enter(key);
                let result = read(self, value);
                self.path.truncate(mark);
                result
            }
        }
    }

    /// Appends `.key` to the path; returns the length to truncate back to.
    fn enter(&mut self, key: &str) -> usize {
        let mark = self.path.len();
        if mark > 0 {
            self.path.push('.');
        }
        self.path.push_str(key);
        mark
    }

    fn report(&mut self, problem: impl Display) {
        self.errors.push(FieldError {
            path: self.path.clone(),
            problem: problem.to_string(),
        });
    }

    /// Reports a value of the wrong JSON type.
    fn expected(&mut self, what: &str, found: &Json) {
        self.report(format_args!("expected {what}, got {}", found.kind()));
    }

    // ---- readers: containers ----

    fn object(&mut self, value: Json<'j>) -> Option<Object<'j>> {
        match value {
            Json::Object(fields) => Some(fields),
            other => {
                self.expected("an object", &other);
                None
            }
        }
    }

    /// An array of `min..=max` elements, each read with `read` (path `[i]`). Past `max`
    /// the elements are not walked: one problem for the count is enough.
    fn list<T>(
        &mut self,
        value: Json<'j>,
        (singular, plural): (&str, &str),
        min: usize,
        max: usize,
        mut read: impl FnMut(&mut Self, Json<'j>) -> Option<T>,
    ) -> Option<Vec<T>> {
        let elements = match value {
            Json::Array(elements) => elements,
            other => {
                self.expected("an array", &other);
                return None;
            }
        };
        let noun = |n: usize| if n == 1 { singular } else { plural };
        let count = elements.len();
        if count < min {
            self.report(format_args!(
                "expected at least {min} {}, got {count}",
                noun(min)
            ));
            return None;
        }
        if count > max {
            self.report(format_args!(
                "expected at most {max} {}, got {count}",
                noun(max)
            ));
            return None;
        }
        let mut result = Vec::with_capacity(count);
        let mut complete = true;
        for (index, element) in elements.into_iter().enumerate() {
            let mark = self.path.len();
            // Writing to a String cannot fail.
            let _ = write!(self.path, "[{index}]");
            match read(self, element) {
                Some(item) if complete => result.push(item),
                Some(_) => {}
                None => complete = false,
            }
            self.path.truncate(mark);
        }
        complete.then_some(result)
    }

    // ---- readers: strings ----

    /// Any string of at most `max_string_chars` characters.
    fn string(&mut self, value: Json<'j>) -> Option<CompactString> {
        let text = match value {
            Json::String(text) => text,
            other => {
                self.expected("a string", &other);
                return None;
            }
        };
        let max = self.limits.max_string_chars;
        if let Some(chars) = chars_over(&text, max) {
            self.report(format_args!(
                "expected at most {max} characters, got {chars}"
            ));
            return None;
        }
        Some(CompactString::from(text))
    }

    /// A string with something other than whitespace in it, kept as filed.
    fn non_empty(&mut self, value: Json<'j>) -> Option<CompactString> {
        let text = self.string(value)?;
        if is_blank(&text) {
            self.report(format_args!(
                "expected a non-empty string, got {}",
                quote(&text)
            ));
            return None;
        }
        Some(text)
    }

    /// A party name: non-empty, stored without leading and trailing whitespace.
    fn name(&mut self, value: Json<'j>) -> Option<CompactString> {
        self.non_empty(value).map(trimmed_name)
    }

    /// An assigned ISO 3166-1 alpha-2 code, upper case as filed (not upper-cased for the
    /// filer).
    fn country(&mut self, value: Json<'j>) -> Option<CompactString> {
        let code = self.string(value)?;
        if country::is_alpha2(&code) {
            return Some(code);
        }
        let lower_case_code = code.len() == 2 && country::is_alpha2(&code.to_ascii_uppercase());
        let hint = if lower_case_code { " (upper case)" } else { "" };
        self.report(format_args!(
            "expected ISO 3166-1 alpha-2{hint}, got {}",
            quote(&code)
        ));
        None
    }

    /// An ISO 4217-shaped currency code: three upper-case ASCII letters.
    fn currency(&mut self, value: Json<'j>) -> Option<CompactString> {
        let code = self.string(value)?;
        if is_currency(&code) {
            return Some(code);
        }
        self.report(format_args!(
            "expected ISO 4217 currency code (3 upper-case letters), got {}",
            quote(&code)
        ));
        None
    }

    /// An RFC 3339 date-time, validated and kept as filed.
    fn timestamp(&mut self, value: Json<'j>) -> Option<CompactString> {
        let text = self.string(value)?;
        if is_timestamp(&text) {
            return Some(text);
        }
        self.report(format_args!(
            "expected an RFC 3339 date-time, got {}",
            quote(&text)
        ));
        None
    }

    /// An HS / tariff code of 4 to 10 digits; dots and spaces of the filed code are
    /// dropped, so `"6109.10 00"` becomes `"61091000"`.
    fn hs_code(&mut self, value: Json<'j>) -> Option<CompactString> {
        let text = self.string(value)?;
        if let Some(digits) = hs_code_digits(&text) {
            return Some(digits);
        }
        self.report(format_args!(
            "expected an HS code of 4 to 10 digits (dots and spaces allowed), got {}",
            quote(&text)
        ));
        None
    }

    /// One of the `choices`, matched exactly.
    fn one_of<T: Copy>(&mut self, value: Json<'j>, choices: &[(&str, T)]) -> Option<T> {
        let found = match &value {
            Json::String(text) => {
                if let Some(choice) = choice(text, choices) {
                    return Some(choice);
                }
                quote(text)
            }
            other => other.kind().to_owned(),
        };
        let mut names = String::new();
        for (index, (name, _)) in choices.iter().enumerate() {
            if index > 0 {
                names.push_str(", ");
            }
            names.push_str(name);
        }
        self.report(format_args!("expected one of {names}, got {found}"));
        None
    }

    // ---- readers: numbers ----

    /// A JSON number, with its text for problems (serde_json's `1e300`, not Rust's
    /// 301-digit rendering of the `f64`).
    fn number(&mut self, value: Json<'j>, what: &str) -> Option<(f64, Number)> {
        match value {
            Json::Number(number) => match finite(&number) {
                Some(float) => Some((float, number)),
                None => {
                    self.report(format_args!("expected {what}, got {number}"));
                    None
                }
            },
            other => {
                self.expected(what, &other);
                None
            }
        }
    }

    /// A number > 0 (weights).
    fn positive(&mut self, value: Json<'j>) -> Option<f64> {
        const WHAT: &str = "a number > 0";
        let (float, number) = self.number(value, WHAT)?;
        if is_positive(float) {
            return Some(float);
        }
        self.report(format_args!("expected {WHAT}, got {number}"));
        None
    }

    /// A number >= 0 (money amounts). `-0` is read as `0`.
    fn non_negative(&mut self, value: Json<'j>) -> Option<f64> {
        const WHAT: &str = "a number >= 0";
        let (float, number) = self.number(value, WHAT)?;
        if let Some(amount) = non_negative(float) {
            return Some(amount);
        }
        self.report(format_args!("expected {WHAT}, got {number}"));
        None
    }

    /// An integer from 1 to `u32::MAX` (piece count, item quantity). An integral float
    /// such as `2.0` counts as an integer, as in JSON Schema.
    fn count(&mut self, value: Json<'j>) -> Option<u32> {
        const WHAT: &str = "an integer >= 1";
        let (float, number) = self.number(value, WHAT)?;
        match count_of(&number, float) {
            Some(count) => Some(count),
            _ if float > f64::from(u32::MAX) => {
                self.report(format_args!(
                    "expected an integer <= {}, got {number}",
                    u32::MAX
                ));
                None
            }
            _ => {
                self.report(format_args!("expected {WHAT}, got {number}"));
                None
            }
        }
    }
}

// ---- checks, shared with the fast path (`super::fast`) ----

/// The number of characters of `text` when it has more than `max`.
pub(super) fn chars_over(text: &str, max: usize) -> Option<usize> {
    // A string of at most `max` bytes has at most `max` characters: count only longer ones.
    if text.len() <= max {
        return None;
    }
    let chars = text.chars().count();
    (chars > max).then_some(chars)
}

/// Nothing but whitespace (or nothing at all).
pub(super) fn is_blank(text: &str) -> bool {
    // A first character that is printable ASCII settles it without `trim`'s Unicode scan.
    if text.as_bytes().first().is_some_and(is_printable_ascii) {
        return false;
    }
    text.trim().is_empty()
}

/// A party name without leading and trailing whitespace (reallocated only when trimmed).
pub(super) fn trimmed_name(text: CompactString) -> CompactString {
    let bytes = text.as_bytes();
    // Printable ASCII at both ends: nothing to trim, no Unicode scan.
    if bytes.first().is_some_and(is_printable_ascii) && bytes.last().is_some_and(is_printable_ascii)
    {
        return text;
    }
    let trimmed = text.trim();
    if trimmed.len() == text.len() {
        text
    } else {
        CompactString::new(trimmed)
    }
}

/// An ASCII character that is neither whitespace nor a control character: never trimmed.
fn is_printable_ascii(byte: &u8) -> bool {
    byte.is_ascii_graphic()
}

/// Three upper-case ASCII letters (ISO 4217-shaped).
pub(super) fn is_currency(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// An RFC 3339 date-time.
pub(super) fn is_timestamp(text: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(text).is_ok()
}

/// The digits of an HS code written with digits, dots and spaces only, when there are 4 to 10.
pub(super) fn hs_code_digits(text: &str) -> Option<CompactString> {
    const MAX_DIGITS: usize = 10;
    let mut digits = [0u8; MAX_DIGITS];
    let mut count = 0;
    for byte in text.bytes() {
        match byte {
            b'0'..=b'9' => {
                *digits.get_mut(count)? = byte;
                count += 1;
            }
            b'.' | b' ' => {}
            _ => return None,
        }
    }
    if count < 4 {
        return None;
    }
    // ASCII digits: always UTF-8.
    std::str::from_utf8(&digits[..count])
        .ok()
        .map(CompactString::new)
}

/// The choice named exactly `text`.
pub(super) fn choice<T: Copy>(text: &str, choices: &[(&str, T)]) -> Option<T> {
    choices
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, choice)| *choice)
}

/// The number as a finite `f64`.
pub(super) fn finite(number: &Number) -> Option<f64> {
    number.as_f64().filter(|float| float.is_finite())
}

/// A weight: > 0.
pub(super) fn is_positive(float: f64) -> bool {
    float > 0.0
}

/// An amount: >= 0, with `-0` read as `0`.
pub(super) fn non_negative(float: f64) -> Option<f64> {
    (float >= 0.0).then_some(float + 0.0)
}

/// A count: an integer from 1 to `u32::MAX`; an integral float such as `2.0` counts, as in
/// JSON Schema. `float` is the number as an `f64`.
pub(super) fn count_of(number: &Number, float: f64) -> Option<u32> {
    let exact = match number.as_u64() {
        Some(integer) => u32::try_from(integer).ok(),
        None if number.is_f64()
            && float.fract() == 0.0
            && (0.0..=f64::from(u32::MAX)).contains(&float) =>
        {
            // In range and integral, so the cast is exact.
            Some(float as u32)
        }
        None => None,
    };
    exact.filter(|count| *count >= 1)
}

/// A found string for a problem: at most [`QUOTE_CHARS`] characters, then an ellipsis;
/// `{:?}`-escaped, so control, bidi and line-separator characters show as `\u{..}`.
pub(super) fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => format!("{:?}…", text.get(..cut).unwrap_or_default()),
        None => format!("{text:?}"),
    }
}

#[cfg(test)]
mod tests {
    //! The example record, every validation error kind with its path, and hostile input
    //! (size, encoding, syntax, nesting, huge strings and arrays).
    //! Fixtures live in `engine/tests/fixtures/records/`.

    use super::*;
    use crate::record::{Identifier, Marketplace};
    use serde_json::{json, Value};

    const EXAMPLE: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../data/parcel.example.json"
    ));

    macro_rules! fixture {
        ($name:literal) => {
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/records/",
                $name
            ))
        };
    }

    fn parse(bytes: &[u8]) -> Result<ParcelRecord, RecordError> {
        parse_record(bytes, &ParseLimits::default())
    }

    /// Every input a test parses goes by both paths: [`parse_record`] (the fast path when it
    /// vouches for the record) and [`parse_record_by_walk`] must agree on it.
    fn parse_record(bytes: &[u8], limits: &ParseLimits) -> Result<ParcelRecord, RecordError> {
        let result = super::parse_record(bytes, limits);
        assert_eq!(
            result,
            parse_record_by_walk(bytes, limits),
            "the fast path and the walk disagree on {:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        );
        result
    }

    fn example_value() -> Value {
        serde_json::from_slice(EXAMPLE).expect("the example is JSON")
    }

    /// Parses the example after `edit`.
    fn parse_edited(edit: impl FnOnce(&mut Value)) -> Result<ParcelRecord, RecordError> {
        let mut value = example_value();
        edit(&mut value);
        parse(&serde_json::to_vec(&value).expect("serialisable"))
    }

    /// The field errors of the example after `edit`; fails the test if it parses.
    fn errors_after(edit: impl FnOnce(&mut Value)) -> Vec<FieldError> {
        match parse_edited(edit) {
            Err(RecordError::InvalidFields(errors)) => errors,
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    /// Asserts that the example after `edit` has exactly one problem, at `path`, containing
    /// `fragment`.
    #[track_caller]
    fn assert_single_error(edit: impl FnOnce(&mut Value), path: &str, fragment: &str) {
        let errors = errors_after(edit);
        assert_eq!(errors.len(), 1, "one error expected: {errors:?}");
        assert_eq!(errors[0].path, path, "{errors:?}");
        assert!(
            errors[0].problem.contains(fragment),
            "problem {:?} should contain {fragment:?}",
            errors[0].problem
        );
    }

    /// The value at a dotted path (`items[0].value`) of `root`.
    fn at<'v>(root: &'v mut Value, path: &str) -> &'v mut Value {
        let pointer: String = path
            .split('.')
            .flat_map(|part| {
                let (key, index) = match part.split_once('[') {
                    Some((key, rest)) => (key, Some(rest.trim_end_matches(']'))),
                    None => (part, None),
                };
                std::iter::once(key).chain(index)
            })
            .map(|part| format!("/{part}"))
            .collect();
        root.pointer_mut(&pointer)
            .unwrap_or_else(|| panic!("no {path} in the example"))
    }

    fn set(path: &'static str, value: Value) -> impl FnOnce(&mut Value) {
        move |root| *at(root, path) = value
    }

    fn remove(path: &'static str) -> impl FnOnce(&mut Value) {
        move |root| {
            let (parent, key) = match path.rsplit_once('.') {
                Some((parent, key)) => (at(root, parent), key),
                None => (root, path),
            };
            parent
                .as_object_mut()
                .expect("parent is an object")
                .remove(key)
                .unwrap_or_else(|| panic!("no {path} in the example"));
        }
    }

    fn expected_example() -> ParcelRecord {
        ParcelRecord {
            record_id: "EXP-2026-000001".into(),
            source: Source {
                filer_type: FilerType::ExpressCarrier,
                filer_id: "XYZ1234".into(),
                sent_at: "2026-03-01T10:00:00Z".into(),
            },
            action: Action::Add,
            carrier: "DHL".into(),
            house_bill: "1234567890".into(),
            master_bill: Some("020-12345675".into()),
            mode: Mode::Air,
            origin_country: Some("VN".into()),
            destination_country: "US".into(),
            shipper: Party {
                name: "Example Garment Co Ltd".into(),
                address: Address {
                    lines: vec!["12 Example Street".into()],
                    city: "Ho Chi Minh City".into(),
                    region: None,
                    postal_code: Some("700000".into()),
                    country: "VN".into(),
                },
                phone: Some("+84 28 0000 0000".into()),
                email: None,
                identifiers: vec![],
            },
            consignee: Party {
                name: "Jane Doe".into(),
                address: Address {
                    lines: vec!["1 Main St Apt 2".into()],
                    city: "Springfield".into(),
                    region: Some("IL".into()),
                    postal_code: Some("62701".into()),
                    country: "US".into(),
                },
                phone: Some("+1 217 555 0100".into()),
                email: None,
                identifiers: vec![],
            },
            known_shipper_id: None,
            seller: None,
            marketplace: None,
            piece_count: 1,
            gross_weight: Weight {
                value: 0.4,
                unit: WeightUnit::Kg,
            },
            items: vec![Item {
                description: "Women's knitted cotton T-shirt".into(),
                hs_code: Some("610910".into()),
                quantity: 2,
                value: Money {
                    amount: 18.0,
                    currency: "USD".into(),
                },
                country_of_origin: Some("VN".into()),
            }],
            declared_value: Money {
                amount: 18.0,
                currency: "USD".into(),
            },
        }
    }

    // ---- well-formed records ----

    #[test]
    fn example_record_parses_with_expected_values() {
        let record = parse(EXAMPLE).expect("the example is valid");
        assert_eq!(record, expected_example());
        assert_eq!(record.parcel_key(), "DHL:1234567890");
    }

    #[test]
    fn unknown_fields_are_tolerated_and_null_optionals_are_absent() {
        let record = parse(fixture!("unknown_fields_and_nulls.json")).expect("valid");
        let mut expected = expected_example();
        expected.master_bill = None;
        expected.origin_country = None;
        expected.consignee.phone = None;
        expected.consignee.address.region = None;
        expected.items[0].hs_code = None;
        expected.items[0].country_of_origin = None;
        expected.shipper.identifiers = vec![Identifier {
            scheme: "VAT".into(),
            value: "VN0312345678".into(),
        }];
        assert_eq!(record, expected);
    }

    #[test]
    fn absent_optional_fields_are_none() {
        let record = parse_edited(|root| {
            let object = root.as_object_mut().unwrap();
            for key in ["master_bill", "origin_country"] {
                object.remove(key);
            }
            for path in [
                "consignee.phone",
                "consignee.address.region",
                "consignee.address.postal_code",
                "items[0].hs_code",
                "items[0].country_of_origin",
            ] {
                remove(path)(root);
            }
        })
        .expect("valid");
        assert_eq!(record.master_bill, None);
        assert_eq!(record.origin_country, None);
        assert_eq!(record.consignee.phone, None);
        assert_eq!(record.consignee.address.region, None);
        assert_eq!(record.consignee.address.postal_code, None);
        assert_eq!(record.items[0].hs_code, None);
        assert_eq!(record.items[0].country_of_origin, None);
    }

    #[test]
    fn optional_blocks_parse() {
        let record = parse_edited(|root| {
            let object = root.as_object_mut().unwrap();
            object.insert("known_shipper_id".into(), json!("KS-000123"));
            object.insert(
                "seller".into(),
                json!({"name": "  Shop Ltd ", "address": {"lines": [], "city": "", "country": "CN"},
                       "email": "s@example.com",
                       "identifiers": [{"scheme": "USCI", "value": "91310000MA1FL0000X"}]}),
            );
            object.insert(
                "marketplace".into(),
                json!({"name": "Example Market", "order_id": "o-1", "listing_url": "https://example.com/l/1"}),
            );
            object.insert("mode".into(), json!("POSTAL"));
            object.insert("action".into(), json!("CANCEL"));
            *at(root, "source.filer_type") = json!("marketplace");
            *at(root, "gross_weight.unit") = json!("LB");
        })
        .expect("valid");
        assert_eq!(record.known_shipper_id.as_deref(), Some("KS-000123"));
        let seller = record.seller.expect("seller");
        assert_eq!(seller.name, "Shop Ltd", "names are trimmed");
        assert!(
            seller.address.lines.is_empty(),
            "an empty address is not a parse error"
        );
        assert_eq!(seller.address.city, "");
        assert_eq!(seller.email.as_deref(), Some("s@example.com"));
        assert_eq!(seller.identifiers.len(), 1);
        assert_eq!(seller.identifiers[0].scheme, "USCI");
        assert_eq!(
            record.marketplace,
            Some(Marketplace {
                name: "Example Market".into(),
                order_id: Some("o-1".into()),
                listing_url: Some("https://example.com/l/1".into()),
            })
        );
        assert_eq!(record.mode, Mode::Postal);
        assert_eq!(record.action, Action::Cancel);
        assert_eq!(record.source.filer_type, FilerType::Marketplace);
        assert_eq!(record.gross_weight.unit, WeightUnit::Lb);
    }

    #[test]
    fn hs_codes_are_normalised_to_digits() {
        for (filed, stored) in [
            ("610910", "610910"),
            ("6109.10", "610910"),
            ("6109.10 00", "61091000"),
            (" 6109 10 0010 ", "6109100010"),
            ("61.09", "6109"),
        ] {
            let record = parse_edited(set("items[0].hs_code", json!(filed))).expect(filed);
            assert_eq!(
                record.items[0].hs_code.as_deref(),
                Some(stored),
                "{filed:?}"
            );
        }
    }

    #[test]
    fn integral_floats_count_as_integers_and_minus_zero_amounts_as_zero() {
        let record = parse_edited(|root| {
            *at(root, "piece_count") = json!(3.0);
            *at(root, "items[0].quantity") = json!(1e1);
            *at(root, "declared_value.amount") = json!(-0.0);
        })
        .expect("valid");
        assert_eq!(record.piece_count, 3);
        assert_eq!(record.items[0].quantity, 10);
        assert_eq!(record.declared_value.amount.to_bits(), 0.0f64.to_bits());
    }

    #[test]
    fn limits_are_inclusive() {
        let limits = ParseLimits {
            max_items: 2,
            max_string_chars: 30,
            ..ParseLimits::default()
        };
        let mut value = example_value();
        let item = value["items"][0].clone();
        value["items"] = json!([item.clone(), item]);
        value["items"][0]["description"] = json!("é".repeat(30)); // 30 chars, 60 bytes
        let record = parse_record(&serde_json::to_vec(&value).unwrap(), &limits).expect("valid");
        assert_eq!(record.items.len(), 2);
        value["items"][1]["description"] = json!("é".repeat(31));
        let error = parse_record(&serde_json::to_vec(&value).unwrap(), &limits).unwrap_err();
        assert_eq!(
            error.field_errors(),
            [FieldError {
                path: "items[1].description".into(),
                problem: "expected at most 30 characters, got 31".into()
            }]
        );
    }

    // ---- one test per validation error kind ----

    #[test]
    fn every_missing_mandatory_field_is_reported_by_path() {
        for path in [
            "record_id",
            "source",
            "source.filer_type",
            "source.filer_id",
            "source.sent_at",
            "action",
            "carrier",
            "house_bill",
            "mode",
            "destination_country",
            "shipper",
            "shipper.name",
            "shipper.address",
            "shipper.address.lines",
            "shipper.address.city",
            "shipper.address.country",
            "consignee",
            "consignee.address.city",
            "piece_count",
            "gross_weight",
            "gross_weight.value",
            "gross_weight.unit",
            "items",
            "items[0].description",
            "items[0].quantity",
            "items[0].value",
            "items[0].value.amount",
            "items[0].value.currency",
            "declared_value",
            "declared_value.amount",
            "declared_value.currency",
        ] {
            let errors = errors_after(remove(path));
            assert_eq!(
                errors,
                vec![FieldError {
                    path: path.into(),
                    problem: "missing".into()
                }],
                "removing {path}"
            );
        }
    }

    #[test]
    fn wrong_json_types_name_expected_and_found() {
        assert_single_error(
            set("carrier", json!(7)),
            "carrier",
            "expected a string, got a number",
        );
        assert_single_error(
            set("record_id", json!(null)),
            "record_id",
            "expected a string, got null",
        );
        assert_single_error(
            set("shipper", json!("ACME")),
            "shipper",
            "expected an object, got a string",
        );
        assert_single_error(
            set("source", json!([])),
            "source",
            "expected an object, got an array",
        );
        assert_single_error(
            set("items", json!({})),
            "items",
            "expected an array, got an object",
        );
        assert_single_error(
            set("piece_count", json!("1")),
            "piece_count",
            "expected an integer >= 1, got a string",
        );
        assert_single_error(
            set("gross_weight.value", json!(true)),
            "gross_weight.value",
            "expected a number > 0, got a boolean",
        );
        assert_single_error(
            set("consignee.address.lines", json!("1 Main St")),
            "consignee.address.lines",
            "expected an array, got a string",
        );
        assert_single_error(
            set("consignee.address.lines", json!(["ok", 5])),
            "consignee.address.lines[1]",
            "expected a string, got a number",
        );
        assert_single_error(
            set("items[0]", json!("shirt")),
            "items[0]",
            "expected an object, got a string",
        );
        assert_single_error(
            set("origin_country", json!(704)),
            "origin_country",
            "expected a string, got a number",
        );
        assert_single_error(
            set("mode", json!(1)),
            "mode",
            "expected one of AIR, ROAD, SEA, POSTAL, got a number",
        );
    }

    #[test]
    fn empty_strings_are_rejected_where_a_value_is_required() {
        assert_single_error(
            set("record_id", json!("")),
            "record_id",
            r#"expected a non-empty string, got """#,
        );
        assert_single_error(
            set("carrier", json!(" ")),
            "carrier",
            "expected a non-empty string",
        );
        assert_single_error(
            set("house_bill", json!(" \t\n ")),
            "house_bill",
            "expected a non-empty string",
        );
        assert_single_error(
            set("source.filer_id", json!("")),
            "source.filer_id",
            "expected a non-empty string",
        );
        assert_single_error(
            set("shipper.name", json!("   ")),
            "shipper.name",
            "expected a non-empty string",
        );
        assert_single_error(
            set("items[0].description", json!("")),
            "items[0].description",
            "expected a non-empty string",
        );
        assert_single_error(
            |root| {
                root["known_shipper_id"] = json!("");
            },
            "known_shipper_id",
            "expected a non-empty string",
        );
        assert_single_error(
            |root| {
                root["marketplace"] = json!({"name": "", "order_id": "1"});
            },
            "marketplace.name",
            "expected a non-empty string",
        );
        assert_single_error(
            |root| {
                root["marketplace"] = json!({"order_id": "1"});
            },
            "marketplace.name",
            "missing",
        );
    }

    #[test]
    fn enumerations_list_the_choices() {
        assert_single_error(
            set("action", json!("DELETE")),
            "action",
            r#"expected one of ADD, AMEND, CANCEL, got "DELETE""#,
        );
        assert_single_error(set("action", json!("add")), "action", r#"got "add""#);
        assert_single_error(
            set("mode", json!("OCEAN")),
            "mode",
            r#"expected one of AIR, ROAD, SEA, POSTAL, got "OCEAN""#,
        );
        assert_single_error(
            set("source.filer_type", json!("forwarder")),
            "source.filer_type",
            r#"expected one of express_carrier, marketplace, postal, got "forwarder""#,
        );
        assert_single_error(
            set("gross_weight.unit", json!("G")),
            "gross_weight.unit",
            r#"expected one of KG, LB, got "G""#,
        );
    }

    #[test]
    fn country_codes_must_be_assigned_upper_case_alpha_2() {
        assert_single_error(
            set("consignee.address.country", json!("USA")),
            "consignee.address.country",
            r#"expected ISO 3166-1 alpha-2, got "USA""#,
        );
        assert_single_error(
            set("destination_country", json!("us")),
            "destination_country",
            r#"expected ISO 3166-1 alpha-2 (upper case), got "us""#,
        );
        assert_single_error(
            set("destination_country", json!("XX")),
            "destination_country",
            r#"got "XX""#,
        );
        assert_single_error(
            set("origin_country", json!("")),
            "origin_country",
            r#"got """#,
        );
        assert_single_error(
            set("items[0].country_of_origin", json!("Vietnam")),
            "items[0].country_of_origin",
            r#"got "Vietnam""#,
        );
        assert_single_error(
            set("shipper.address.country", json!("vn")),
            "shipper.address.country",
            "(upper case)",
        );
    }

    #[test]
    fn sent_at_must_be_rfc_3339() {
        for bad in [
            "2026-03-01",
            "2026-03-01T10:00:00",
            "01/03/2026 10:00",
            "2026-13-01T10:00:00Z",
            "",
        ] {
            assert_single_error(
                set("source.sent_at", json!(bad)),
                "source.sent_at",
                "expected an RFC 3339 date-time",
            );
        }
        for good in ["2026-03-01T10:00:00.123+01:00", "2026-03-01t10:00:00z"] {
            let record = parse_edited(set("source.sent_at", json!(good))).expect(good);
            assert_eq!(record.source.sent_at, good, "kept as filed");
        }
    }

    #[test]
    fn counts_must_be_integers_from_one() {
        assert_single_error(
            set("piece_count", json!(0)),
            "piece_count",
            "expected an integer >= 1, got 0",
        );
        assert_single_error(
            set("piece_count", json!(-3)),
            "piece_count",
            "expected an integer >= 1, got -3",
        );
        assert_single_error(
            set("piece_count", json!(2.5)),
            "piece_count",
            "expected an integer >= 1, got 2.5",
        );
        assert_single_error(
            set("piece_count", json!(5_000_000_000u64)),
            "piece_count",
            "expected an integer <= 4294967295, got 5000000000",
        );
        assert_single_error(
            set("piece_count", json!(u64::MAX)),
            "piece_count",
            "<= 4294967295",
        );
        assert_single_error(
            set("piece_count", json!(1e300)),
            "piece_count",
            "got 1e+300",
        );
        assert_single_error(
            set("items[0].quantity", json!(0)),
            "items[0].quantity",
            "expected an integer >= 1, got 0",
        );
        assert_single_error(
            set("items[0].quantity", json!(0.5)),
            "items[0].quantity",
            "got 0.5",
        );
        let record = parse_edited(set("piece_count", json!(u32::MAX))).expect("u32::MAX fits");
        assert_eq!(record.piece_count, u32::MAX);
    }

    #[test]
    fn weights_must_be_positive_and_amounts_non_negative() {
        assert_single_error(
            set("gross_weight.value", json!(0)),
            "gross_weight.value",
            "expected a number > 0, got 0",
        );
        assert_single_error(
            set("gross_weight.value", json!(-0.4)),
            "gross_weight.value",
            "got -0.4",
        );
        assert_single_error(
            set("gross_weight.value", json!("0.4")),
            "gross_weight.value",
            "got a string",
        );
        assert_single_error(
            set("declared_value.amount", json!(-1)),
            "declared_value.amount",
            "expected a number >= 0, got -1",
        );
        assert_single_error(
            set("items[0].value.amount", json!(-0.01)),
            "items[0].value.amount",
            "got -0.01",
        );
        let record =
            parse_edited(set("declared_value.amount", json!(0))).expect("zero value is allowed");
        assert_eq!(record.declared_value.amount, 0.0);
    }

    #[test]
    fn currencies_are_three_upper_case_letters() {
        assert_single_error(
            set("declared_value.currency", json!("usd")),
            "declared_value.currency",
            r#"expected ISO 4217 currency code (3 upper-case letters), got "usd""#,
        );
        assert_single_error(
            set("items[0].value.currency", json!("US$")),
            "items[0].value.currency",
            r#"got "US$""#,
        );
        assert_single_error(
            set("items[0].value.currency", json!("EURO")),
            "items[0].value.currency",
            r#"got "EURO""#,
        );
    }

    #[test]
    fn hs_codes_must_have_4_to_10_digits() {
        for bad in [
            "",
            "123",
            "61.0",
            "12345678901",
            "61A910",
            "6109-10",
            "６１０９１０",
        ] {
            assert_single_error(
                set("items[0].hs_code", json!(bad)),
                "items[0].hs_code",
                "expected an HS code of 4 to 10 digits",
            );
        }
        assert_single_error(
            set("items[0].hs_code", json!(610910)),
            "items[0].hs_code",
            "expected a string, got a number",
        );
    }

    #[test]
    fn item_count_is_bounded() {
        assert_single_error(
            set("items", json!([])),
            "items",
            "expected at least 1 item, got 0",
        );
        let limits = ParseLimits {
            max_items: 2,
            ..ParseLimits::default()
        };
        let mut value = example_value();
        let item = value["items"][0].clone();
        value["items"] = json!([item.clone(), item.clone(), {"bad": true}]);
        let error = parse_record(&serde_json::to_vec(&value).unwrap(), &limits).unwrap_err();
        assert_eq!(
            error.field_errors(),
            [FieldError {
                path: "items".into(),
                problem: "expected at most 2 items, got 3".into()
            }],
            "the items past the limit are not walked"
        );
    }

    #[test]
    fn party_identifiers_are_checked() {
        let identifiers =
            |list: Value| move |root: &mut Value| root["shipper"]["identifiers"] = list;
        assert_single_error(
            identifiers(json!({})),
            "shipper.identifiers",
            "expected an array, got an object",
        );
        assert_single_error(
            identifiers(json!([{"scheme": "EORI", "value": "DE1"}, {"scheme": "TIN"}])),
            "shipper.identifiers[1].value",
            "missing",
        );
        assert_single_error(
            identifiers(json!([{"scheme": 1, "value": "x"}])),
            "shipper.identifiers[0].scheme",
            "expected a string, got a number",
        );
        let many: Vec<Value> = (0..33)
            .map(|i| json!({"scheme": "OTHER", "value": i.to_string()}))
            .collect();
        assert_single_error(
            identifiers(Value::Array(many)),
            "shipper.identifiers",
            "expected at most 32 identifiers, got 33",
        );
        let lines: Vec<Value> = (0..17).map(|i| json!(format!("line {i}"))).collect();
        assert_single_error(
            set("consignee.address.lines", Value::Array(lines)),
            "consignee.address.lines",
            "expected at most 16 lines, got 17",
        );
    }

    #[test]
    fn empty_address_is_not_a_parse_error_but_needs_its_keys() {
        let record = parse_edited(set(
            "consignee.address",
            json!({"lines": [], "city": "", "country": "US"}),
        ))
        .expect("valid");
        assert!(record.consignee.address.lines.is_empty());
        assert_eq!(record.consignee.address.city, "");
        assert_single_error(
            set("consignee.address", json!({"lines": [], "country": "US"})),
            "consignee.address.city",
            "missing",
        );
        assert_single_error(
            set("consignee.address.city", json!(null)),
            "consignee.address.city",
            "expected a string, got null",
        );
    }

    #[test]
    fn seller_is_checked_as_a_party() {
        assert_single_error(
            |root| {
                root["seller"] =
                    json!({"name": "Shop", "address": {"lines": [], "city": "X", "country": "ZZ"}})
            },
            "seller.address.country",
            r#"got "ZZ""#,
        );
        assert_single_error(
            |root| root["seller"] = json!({"name": "Shop"}),
            "seller.address",
            "missing",
        );
    }

    #[test]
    fn several_problems_are_all_reported_in_field_table_order() {
        let error = parse(fixture!("several_problems.json")).unwrap_err();
        assert_eq!(error.kind(), "invalid_fields");
        let paths: Vec<&str> = error
            .field_errors()
            .iter()
            .map(|e| e.path.as_str())
            .collect();
        assert_eq!(
            paths,
            [
                "source.sent_at",
                "action",
                "carrier",
                "shipper",
                "consignee.address.country",
                "piece_count",
                "items[2].value.amount",
                "declared_value.currency",
            ]
        );
        let message = error.to_string();
        assert!(
            message.starts_with(
                "record has 8 invalid field(s): source.sent_at: expected an RFC 3339 date-time"
            ),
            "{message}"
        );
        assert!(
            message.contains(r#"action: expected one of ADD, AMEND, CANCEL, got "DELETE""#),
            "{message}"
        );
        assert!(
            message.contains("carrier: expected a string, got a number"),
            "{message}"
        );
        assert!(message.contains("shipper: missing"), "{message}");
        assert!(
            message
                .contains(r#"consignee.address.country: expected ISO 3166-1 alpha-2, got "USA""#),
            "{message}"
        );
        assert!(
            message.contains("piece_count: expected an integer >= 1, got 0"),
            "{message}"
        );
        assert!(
            message.contains("items[2].value.amount: expected a number >= 0, got -5"),
            "{message}"
        );
    }

    // ---- strings: length limit and safe quoting ----

    #[test]
    fn long_strings_are_rejected_by_character_count() {
        let limits = ParseLimits::default();
        let ok = "é".repeat(limits.max_string_chars); // 2000 bytes, 1000 chars
        let record = parse_edited(set("items[0].description", json!(ok))).expect("at the limit");
        assert_eq!(record.items[0].description.chars().count(), 1000);
        let too_long = "é".repeat(limits.max_string_chars + 1);
        assert_single_error(
            set("consignee.address.lines[0]", json!(too_long)),
            "consignee.address.lines[0]",
            "expected at most 1000 characters, got 1001",
        );
    }

    #[test]
    fn a_10_mb_name_is_rejected_by_size_then_by_length() {
        let name = "A".repeat(10_000_000);
        let bytes = {
            let mut value = example_value();
            value["shipper"]["name"] = json!(name);
            serde_json::to_vec(&value).unwrap()
        };
        match parse(&bytes) {
            Err(RecordError::TooLarge {
                size_bytes,
                limit_bytes,
            }) => {
                assert_eq!(size_bytes, bytes.len());
                assert_eq!(limit_bytes, 256 * 1024);
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        let raised = ParseLimits {
            max_record_bytes: 16 * 1024 * 1024,
            ..ParseLimits::default()
        };
        let error = parse_record(&bytes, &raised).unwrap_err();
        assert_eq!(
            error.field_errors(),
            [FieldError {
                path: "shipper.name".into(),
                problem: "expected at most 1000 characters, got 10000000".into()
            }]
        );
        assert!(
            error.to_string().len() < 200,
            "the long value is never echoed"
        );
    }

    #[test]
    fn quoted_values_are_truncated_and_escaped() {
        let hostile =
            "\u{202e}DELETE\nlevel=ERROR msg=\"forged\"\r\u{1b}[31m".to_owned() + &"x".repeat(500);
        let errors = errors_after(set("action", json!(hostile)));
        assert_eq!(errors.len(), 1);
        let problem = &errors[0].problem;
        assert!(
            problem.starts_with(
                r#"expected one of ADD, AMEND, CANCEL, got "\u{202e}DELETE\nlevel=ERROR"#
            ),
            "{problem}"
        );
        assert!(problem.ends_with('…'), "{problem}");
        assert!(
            !problem.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{problem:?}"
        );
        assert!(problem.len() < 150, "{problem}");
    }

    #[test]
    fn quote_truncates_at_a_character_boundary_and_escapes() {
        assert_eq!(quote("USA"), r#""USA""#);
        assert_eq!(quote(""), r#""""#);
        let forty = "é".repeat(QUOTE_CHARS);
        assert_eq!(quote(&forty), format!("{forty:?}"));
        assert_eq!(quote(&format!("{forty}ü")), format!("{forty:?}…"));
        assert_eq!(quote("a\nb\u{2028}\u{0}"), r#""a\nb\u{2028}\0""#);
    }

    // ---- gates before the walk ----

    #[test]
    fn too_large_is_checked_before_anything_else() {
        let limits = ParseLimits {
            max_record_bytes: 100,
            ..ParseLimits::default()
        };
        let junk = vec![0xFFu8; 101];
        assert_eq!(
            parse_record(&junk, &limits),
            Err(RecordError::TooLarge {
                size_bytes: 101,
                limit_bytes: 100
            })
        );
        assert!(matches!(
            parse_record(&junk[..100], &limits),
            Err(RecordError::InvalidUtf8 { offset: 0 })
        ));
        let just_under = ParseLimits {
            max_record_bytes: EXAMPLE.len() - 1,
            ..ParseLimits::default()
        };
        assert_eq!(
            parse_record(EXAMPLE, &just_under).unwrap_err().kind(),
            "too_large"
        );
        let exact = ParseLimits {
            max_record_bytes: EXAMPLE.len(),
            ..ParseLimits::default()
        };
        assert!(parse_record(EXAMPLE, &exact).is_ok());
    }

    #[test]
    fn invalid_utf8_reports_the_offset() {
        let bytes = fixture!("invalid_utf8.json");
        assert_eq!(parse(bytes), Err(RecordError::InvalidUtf8 { offset: 49 }));
        assert_eq!(bytes[49], 0xFF);
        // A truncated multi-byte sequence at the end.
        assert_eq!(
            parse(b"{\"a\": \"\xC3"),
            Err(RecordError::InvalidUtf8 { offset: 7 })
        );
        assert_eq!(
            parse(b"\xEF\xBB\xBF{}").unwrap_err().kind(),
            "invalid_json",
            "a BOM is not JSON"
        );
    }

    #[test]
    fn invalid_utf8_offset_agrees_with_std_wherever_the_bad_byte_is() {
        // The example with non-ASCII text, broken at every position in three ways (a stray
        // continuation byte, a lone lead byte, a byte never valid), long enough that the
        // SIMD validator works on whole blocks before and after the fault.
        let mut text = String::from_utf8(EXAMPLE.to_vec()).expect("the example is UTF-8");
        text = text.replace("Jane", "Jäné Ørsted 東京");
        let valid = text.as_bytes();
        for position in 0..valid.len() {
            for bad in [0x80u8, 0xC3, 0xFF] {
                let mut bytes = valid.to_vec();
                bytes[position] = bad;
                let expected = std::str::from_utf8(&bytes).err().map(|e| e.valid_up_to());
                let found = match parse(&bytes) {
                    Err(RecordError::InvalidUtf8 { offset }) => Some(offset),
                    _ => None,
                };
                assert_eq!(found, expected, "byte {bad:#x} at {position}");
            }
        }
    }

    #[test]
    fn truncated_json_reports_line_and_column() {
        match parse(fixture!("truncated.json")) {
            Err(RecordError::InvalidJson { message }) => {
                assert!(
                    message.contains("line") && message.contains("column"),
                    "{message}"
                );
            }
            other => panic!("expected InvalidJson, got {other:?}"),
        }
        for bad in [
            &b""[..],
            b"   ",
            b"{",
            b"{\"record_id\": }",
            b"{} {}",
            b"{\"a\": 1e400}",
            b"nul",
        ] {
            assert_eq!(
                parse(bad).unwrap_err().kind(),
                "invalid_json",
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn duplicate_keys_are_rejected_naming_each_path() {
        let text = std::str::from_utf8(EXAMPLE).unwrap();
        // The listed name first, an innocent one last: a first-wins reader would see the
        // first; the record is rejected, not screened as either.
        let edited = text.replacen(
            r#""name": "Jane Doe""#,
            r#""name": "AEROCARIBBEAN AIRLINES", "name": "Jane Doe""#,
            1,
        );
        assert_ne!(edited, text, "the example has the consignee's name");
        let error = parse(edited.as_bytes()).unwrap_err();
        assert_eq!(error.kind(), "invalid_fields");
        assert_eq!(
            error.field_errors(),
            [FieldError {
                path: "consignee.name".into(),
                problem: "duplicate key".into()
            }]
        );
        assert_eq!(
            error.to_string(),
            "record has 1 invalid field(s): consignee.name: duplicate key"
        );

        // Spelled with an escape, it is the same key.
        let escaped = text.replacen(
            r#""name": "Jane Doe""#,
            r#""name": "Jane Doe", "n\u0061me": "AEROCARIBBEAN AIRLINES""#,
            1,
        );
        assert_eq!(
            parse(escaped.as_bytes()).unwrap_err().field_errors(),
            [FieldError {
                path: "consignee.name".into(),
                problem: "duplicate key".into()
            }]
        );
    }

    #[test]
    fn duplicate_keys_anywhere_are_all_reported_and_nothing_else() {
        let text = std::str::from_utf8(EXAMPLE).unwrap();
        // In an unknown field, at the top level, in an item (reported in document order);
        // and a field problem, not reported: the record means different things to
        // different readers, nothing else is checked.
        let edited = text
            .replacen(
                "{",
                r#"{"record_id": "SMUGGLED", "x-trace": {"a": [{"b": 1, "b": 2}]},"#,
                1,
            )
            .replacen(
                r#""currency": "USD""#,
                r#""currency": "USD", "currency": "EUR""#,
                1,
            )
            .replacen(r#""mode": "AIR""#, r#""mode": "BOAT""#, 1);
        let error = parse(edited.as_bytes()).unwrap_err();
        let found: Vec<String> = error
            .field_errors()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                "x-trace.a[0].b: duplicate key",
                "record_id: duplicate key",
                "items[0].value.currency: duplicate key",
            ]
        );
    }

    #[test]
    fn duplicate_keys_do_not_hide_earlier_gates() {
        let limits = ParseLimits {
            max_record_bytes: 20,
            ..ParseLimits::default()
        };
        let duplicated = br#"{"a": 1, "a": 2}"#;
        assert_eq!(parse(duplicated).unwrap_err().kind(), "invalid_fields");
        assert_eq!(
            parse_record(b"{\"a\": 1, \"a\": 2, \"b\": \"x\"}", &limits)
                .unwrap_err()
                .kind(),
            "too_large"
        );
        assert_eq!(
            parse(b"{\"a\": 1, \"a\": \"\xff\"}").unwrap_err().kind(),
            "invalid_utf8"
        );
        assert_eq!(
            parse(br#"{"a": 1, "a": 2"#).unwrap_err().kind(),
            "invalid_json"
        );
    }

    #[test]
    fn top_level_must_be_an_object() {
        let error = parse(fixture!("top_level_array.json")).unwrap_err();
        assert_eq!(
            error.field_errors(),
            [FieldError {
                path: "$".into(),
                problem: "expected an object, got an array".into()
            }]
        );
        for (bytes, found) in [
            (&b"null"[..], "null"),
            (b"\"x\"", "a string"),
            (b"42", "a number"),
            (b"true", "a boolean"),
        ] {
            let error = parse(bytes).unwrap_err();
            assert_eq!(error.field_errors().len(), 1);
            assert_eq!(
                error.field_errors()[0].problem,
                format!("expected an object, got {found}")
            );
        }
    }

    #[test]
    fn an_empty_object_reports_every_mandatory_field() {
        let error = parse(b"{}").unwrap_err();
        let paths: Vec<&str> = error
            .field_errors()
            .iter()
            .map(|e| e.path.as_str())
            .collect();
        assert_eq!(
            paths,
            [
                "record_id",
                "source",
                "action",
                "carrier",
                "house_bill",
                "mode",
                "destination_country",
                "shipper",
                "consignee",
                "piece_count",
                "gross_weight",
                "items",
                "declared_value",
            ]
        );
        assert!(error.field_errors().iter().all(|e| e.problem == "missing"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let limits = ParseLimits {
            max_record_bytes: 1 << 20,
            ..ParseLimits::default()
        };
        let deep = "[".repeat(100_000);
        match parse_record(deep.as_bytes(), &limits) {
            Err(RecordError::InvalidJson { message }) => {
                assert!(message.contains("recursion limit"), "{message}")
            }
            other => panic!("expected InvalidJson, got {other:?}"),
        }
        let closed = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            parse_record(closed.as_bytes(), &limits).unwrap_err().kind(),
            "invalid_json"
        );
        let in_field = format!("{{\"record_id\": {}", "{\"a\":".repeat(50_000));
        assert_eq!(
            parse_record(in_field.as_bytes(), &limits)
                .unwrap_err()
                .kind(),
            "invalid_json"
        );
    }

    #[test]
    fn one_hundred_thousand_items_are_rejected_by_count() {
        let mut value = example_value();
        value["items"] = Value::Array(vec![json!({}); 100_000]);
        let bytes = serde_json::to_vec(&value).unwrap();
        assert!(matches!(parse(&bytes), Err(RecordError::TooLarge { .. })));
        let raised = ParseLimits {
            max_record_bytes: 4 << 20,
            ..ParseLimits::default()
        };
        let error = parse_record(&bytes, &raised).unwrap_err();
        assert_eq!(
            error.field_errors(),
            [FieldError {
                path: "items".into(),
                problem: "expected at most 1000 items, got 100000".into()
            }]
        );
    }

    // ---- robustness: no input panics ----

    /// Every leaf and node of the example replaced by each JSON type in turn.
    #[test]
    fn type_confusion_at_every_path_never_panics() {
        fn paths(value: &Value, prefix: String, out: &mut Vec<String>) {
            match value {
                Value::Object(fields) => {
                    for (key, child) in fields {
                        let path = format!("{prefix}/{key}");
                        out.push(path.clone());
                        paths(child, path, out);
                    }
                }
                Value::Array(elements) => {
                    for (index, child) in elements.iter().enumerate() {
                        let path = format!("{prefix}/{index}");
                        out.push(path.clone());
                        paths(child, path, out);
                    }
                }
                _ => {}
            }
        }
        let example = example_value();
        let mut pointers = Vec::new();
        paths(&example, String::new(), &mut pointers);
        let replacements = [
            json!(null),
            json!(true),
            json!(0),
            json!(-1),
            json!(1.5),
            json!(u64::MAX),
            json!(""),
            json!("\u{0}\u{202e}"),
            json!([]),
            json!([null]),
            json!({}),
        ];
        let mut rejected = 0;
        for pointer in &pointers {
            for replacement in &replacements {
                let mut value = example.clone();
                *value.pointer_mut(pointer).unwrap() = replacement.clone();
                if let Err(error) = parse(&serde_json::to_vec(&value).unwrap()) {
                    rejected += 1;
                    for field_error in error.field_errors() {
                        assert!(
                            !field_error.path.is_empty() && !field_error.problem.is_empty(),
                            "{pointer}: {error}"
                        );
                    }
                }
            }
        }
        assert!(
            rejected > pointers.len(),
            "most replacements break a mandatory field"
        );
    }

    /// Every prefix of the example, and many random byte mutations of it.
    #[test]
    fn truncated_and_mutated_bytes_never_panic() {
        for end in 0..EXAMPLE.len() {
            assert!(parse(&EXAMPLE[..end]).is_err(), "prefix of {end} bytes");
        }
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"{}[]\":,0123456789-.eE \\ntrufalsAZ\xC3\xA9\xFF\x00";
        for _ in 0..20_000 {
            let mut bytes = EXAMPLE.to_vec();
            for _ in 0..(1 + next() % 4) {
                let at = (next() % bytes.len() as u64) as usize;
                let byte = alphabet[(next() % alphabet.len() as u64) as usize];
                match next() % 3 {
                    0 => bytes[at] = byte,
                    1 => bytes.insert(at, byte),
                    _ => {
                        bytes.remove(at);
                    }
                }
            }
            let _ = parse(&bytes);
        }
    }
}
