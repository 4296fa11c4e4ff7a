//! The SPEC §3 fields, read from the text straight into the record's types and checked as
//! they are read, with the full path's checks: a known key twice, a missing field, a value
//! of another JSON type, a value that fails a check, or unknown fields the fast path cannot
//! vouch for ([`UnknownKeys`]) give `None`.
//!
//! Which check fails first does not matter here: any failure leaves the record to the full
//! path, which reports the problems in its own order.

use compact_str::CompactString;

use super::super::parse::{
    chars_over, choice, count_of, finite, hs_code_digits, is_blank, is_currency, is_positive,
    is_timestamp, non_negative, trimmed_name, ParseLimits, ACTIONS, FILER_TYPES, MODES,
    WEIGHT_UNITS,
};
use super::super::{
    Address, Identifier, Item, Marketplace, Money, ParcelRecord, Party, Source, Weight,
};
use super::reader::Reader;
use crate::lists::country;

/// Most unknown fields an object may have on the fast path (they are compared pairwise).
pub(super) const MAX_UNKNOWN_FIELDS: usize = 16;

/// A field's value, read once: a second read of the same key is `None`.
fn once<T>(slot: &mut Option<T>, value: Option<T>) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value?);
    Some(())
}

/// An optional field (absent or `null` is `None`), read once.
fn once_nullable<'a, T>(
    slot: &mut Option<Option<T>>,
    reader: &mut Reader<'a>,
    read: impl FnOnce(&mut Reader<'a>) -> Option<T>,
) -> Option<()> {
    let value = reader.nullable(read);
    once(slot, value)
}

/// The fields of an object that the record does not know. They are tolerated, like
/// anywhere else, as long as the fast path can tell they are not repeated: each a scalar
/// (a string, number, boolean or `null`), with distinct keys, at most
/// [`MAX_UNKNOWN_FIELDS`] of them. An object or array among them, or more fields, is a
/// surprise (the full path checks those for keys twice).
#[derive(Default)]
struct UnknownKeys<'a> {
    keys: Vec<&'a str>,
}

impl<'a> UnknownKeys<'a> {
    fn read(&mut self, reader: &mut Reader<'a>, key: &'a str) -> Option<()> {
        if self.keys.len() == MAX_UNKNOWN_FIELDS || self.keys.contains(&key) {
            return None;
        }
        reader.scalar()?;
        self.keys.push(key);
        Some(())
    }
}

/// Reads the record's objects, each into its record type, with the limits a record must
/// meet.
pub(super) struct Fields<'l> {
    pub(super) limits: &'l ParseLimits,
}

impl Fields<'_> {
    /// The record, when the whole text is one object of the expected shape whose values
    /// pass their checks.
    pub(super) fn record(&self, reader: &mut Reader<'_>) -> Option<ParcelRecord> {
        let mut record_id = None;
        let mut source = None;
        let mut action = None;
        let mut carrier = None;
        let mut house_bill = None;
        let mut master_bill = None;
        let mut mode = None;
        let mut origin_country = None;
        let mut destination_country = None;
        let mut shipper = None;
        let mut consignee = None;
        let mut known_shipper_id = None;
        let mut seller = None;
        let mut marketplace = None;
        let mut piece_count = None;
        let mut gross_weight = None;
        let mut items = None;
        let mut declared_value = None;
        let mut unknown = UnknownKeys::default();
        reader.object(|reader, key| match key {
            "record_id" => once(&mut record_id, self.non_empty(reader)),
            "source" => once(&mut source, self.source(reader)),
            "action" => once(&mut action, choice_of(reader, ACTIONS)),
            "carrier" => once(&mut carrier, self.non_empty(reader)),
            "house_bill" => once(&mut house_bill, self.non_empty(reader)),
            "master_bill" => once_nullable(&mut master_bill, reader, |r| self.string(r)),
            "mode" => once(&mut mode, choice_of(reader, MODES)),
            "origin_country" => once_nullable(&mut origin_country, reader, |r| self.country(r)),
            "destination_country" => once(&mut destination_country, self.country(reader)),
            "shipper" => once(&mut shipper, self.party(reader)),
            "consignee" => once(&mut consignee, self.party(reader)),
            "known_shipper_id" => {
                once_nullable(&mut known_shipper_id, reader, |r| self.non_empty(r))
            }
            "seller" => once_nullable(&mut seller, reader, |r| self.party(r)),
            "marketplace" => once_nullable(&mut marketplace, reader, |r| self.marketplace(r)),
            "piece_count" => once(&mut piece_count, count(reader)),
            "gross_weight" => once(&mut gross_weight, self.weight(reader)),
            "items" => once(
                &mut items,
                self.list(reader, 1, self.limits.max_items, |r| self.item(r)),
            ),
            "declared_value" => once(&mut declared_value, self.money(reader)),
            _ => unknown.read(reader, key),
        })?;
        if !reader.at_end() {
            return None;
        }
        Some(ParcelRecord {
            record_id: record_id?,
            source: source?,
            action: action?,
            carrier: carrier?,
            house_bill: house_bill?,
            master_bill: master_bill.flatten(),
            mode: mode?,
            origin_country: origin_country.flatten(),
            destination_country: destination_country?,
            shipper: shipper?,
            consignee: consignee?,
            known_shipper_id: known_shipper_id.flatten(),
            seller: seller.flatten(),
            marketplace: marketplace.flatten(),
            piece_count: piece_count?,
            gross_weight: gross_weight?,
            items: items?,
            declared_value: declared_value?,
        })
    }

    fn source(&self, reader: &mut Reader<'_>) -> Option<Source> {
        let (mut filer_type, mut filer_id, mut sent_at) = (None, None, None);
        let mut unknown = UnknownKeys::default();
        reader.object(|reader, key| match key {
            "filer_type" => once(&mut filer_type, choice_of(reader, FILER_TYPES)),
            "filer_id" => once(&mut filer_id, self.non_empty(reader)),
            "sent_at" => once(&mut sent_at, self.timestamp(reader)),
            _ => unknown.read(reader, key),
        })?;
        Some(Source {
            filer_type: filer_type?,
            filer_id: filer_id?,
            sent_at: sent_at?,
        })
    }

    fn party(&self, reader: &mut Reader<'_>) -> Option<Party> {
        let (mut name, mut address, mut phone, mut email, mut identifiers) =
            (None, None, None, None, None);
        let mut unknown = UnknownKeys::default();
        reader.object(|reader, key| match key {
            "name" => once(&mut name, self.non_empty(reader).map(trimmed_name)),
            "address" => once(&mut address, self.address(reader)),
            "phone" => once_nullable(&mut phone, reader, |r| self.string(r)),
            "email" => once_nullable(&mut email, reader, |r| self.string(r)),
            "identifiers" => once_nullable(&mut identifiers, reader, |r| {
                self.list(r, 0, self.limits.max_identifiers, |r| self.identifier(r))
            }),
            _ => unknown.read(reader, key),
        })?;
        Some(Party {
            name: name?,
            address: address?,
            phone: phone.flatten(),
            email: email.flatten(),
            identifiers: identifiers.flatten().unwrap_or_default(),
        })
    }

    fn address(&self, reader: &mut Reader<'_>) -> Option<Address> {
        let (mut lines, mut city, mut region, mut postal_code, mut country) =
            (None, None, None, None, None);
        let mut unknown = UnknownKeys::default();
        reader.object(|reader, key| match key {
            "lines" => once(
                &mut lines,
                self.list(reader, 0, self.limits.max_address_lines, |r| self.string(r)),
            ),
            "city" => once(&mut city, self.string(reader)),
            "region" => once_nullable(&mut region, reader, |r| self.string(r)),
            "postal_code" => once_nullable(&mut postal_code, reader, |r| self.string(r)),
            "country" => once(&mut country, self.country(reader)),
            _ => unknown.read(reader, key),
        })?;
        Some(Address {
            lines: lines?,
            city: city?,
            region: region.flatten(),
            postal_code: postal_code.flatten(),
            country: country?,
        })
    }

    fn identifier(&self, reader: &mut Reader<'_>) -> Option<Identifier> {
        let (mut scheme, mut value) = (None, None);
        let mut unknown = UnknownKeys::default();
        reader.object(|reader, key| match key {
            "scheme" => once(&mut scheme, self.string(reader)),
            "value" => once(&mut value, self.string(reader)),
            _ => unknown.read(reader, key),
        })?;
        Some(Identifier {
            scheme: scheme?,
            value: value?,
        })
    }

    fn marketplace(&self, reader: &mut Reader<'_>) -> Option<Marketplace> {
        let (mut name, mut order_id, mut listing_url) = (None, None, None);
        let mut unknown = UnknownKeys::default();
        reader.object(|reader, key| match key {
            "name" => once(&mut name, self.non_empty(reader)),
            "order_id" => once_nullable(&mut order_id, reader, |r| self.string(r)),
            "listing_url" => once_nullable(&mut listing_url, reader, |r| self.string(r)),
            _ => unknown.read(reader, key),
        })?;
        Some(Marketplace {
            name: name?,
            order_id: order_id.flatten(),
            listing_url: listing_url.flatten(),
        })
    }

    fn weight(&self, reader: &mut Reader<'_>) -> Option<Weight> {
        let (mut value, mut unit) = (None, None);
        let mut unknown = UnknownKeys::default();
        reader.object(|reader, key| match key {
            "value" => once(
                &mut value,
                float(reader).filter(|float| is_positive(*float)),
            ),
            "unit" => once(&mut unit, choice_of(reader, WEIGHT_UNITS)),
            _ => unknown.read(reader, key),
        })?;
        Some(Weight {
            value: value?,
            unit: unit?,
        })
    }

    fn item(&self, reader: &mut Reader<'_>) -> Option<Item> {
        let (mut description, mut hs_code, mut quantity, mut value, mut country_of_origin) =
            (None, None, None, None, None);
        let mut unknown = UnknownKeys::default();
        reader.object(|reader, key| match key {
            "description" => once(&mut description, self.non_empty(reader)),
            "hs_code" => once_nullable(&mut hs_code, reader, |r| hs_code_digits(&self.string(r)?)),
            "quantity" => once(&mut quantity, count(reader)),
            "value" => once(&mut value, self.money(reader)),
            "country_of_origin" => {
                once_nullable(&mut country_of_origin, reader, |r| self.country(r))
            }
            _ => unknown.read(reader, key),
        })?;
        Some(Item {
            description: description?,
            hs_code: hs_code.flatten(),
            quantity: quantity?,
            value: value?,
            country_of_origin: country_of_origin.flatten(),
        })
    }

    fn money(&self, reader: &mut Reader<'_>) -> Option<Money> {
        let (mut amount, mut currency) = (None, None);
        let mut unknown = UnknownKeys::default();
        reader.object(|reader, key| match key {
            "amount" => once(&mut amount, float(reader).and_then(non_negative)),
            "currency" => once(
                &mut currency,
                self.string(reader).filter(|code| is_currency(code)),
            ),
            _ => unknown.read(reader, key),
        })?;
        Some(Money {
            amount: amount?,
            currency: currency?,
        })
    }

    /// An array of `min..=max` elements, each read by `element`.
    fn list<'a, T>(
        &self,
        reader: &mut Reader<'a>,
        min: usize,
        max: usize,
        element: impl FnMut(&mut Reader<'a>) -> Option<T>,
    ) -> Option<Vec<T>> {
        reader
            .array(element)
            .filter(|elements| (min..=max).contains(&elements.len()))
    }

    /// A string of at most `max_string_chars` characters.
    fn string(&self, reader: &mut Reader<'_>) -> Option<CompactString> {
        reader
            .owned_string()
            .filter(|text| chars_over(text, self.limits.max_string_chars).is_none())
    }

    /// A string (as [`Fields::string`]) with something besides whitespace.
    fn non_empty(&self, reader: &mut Reader<'_>) -> Option<CompactString> {
        self.string(reader).filter(|text| !is_blank(text))
    }

    /// A string (as [`Fields::string`]) that is an ISO 3166 alpha-2 code.
    fn country(&self, reader: &mut Reader<'_>) -> Option<CompactString> {
        self.string(reader).filter(|code| country::is_alpha2(code))
    }

    /// A string (as [`Fields::string`]) that is an RFC 3339 date-time.
    fn timestamp(&self, reader: &mut Reader<'_>) -> Option<CompactString> {
        self.string(reader).filter(|text| is_timestamp(text))
    }
}

/// A count (piece count, item quantity).
fn count(reader: &mut Reader<'_>) -> Option<u32> {
    let number = reader.number()?;
    count_of(&number, finite(&number)?)
}

/// A number as a finite `f64` (a weight, an amount).
fn float(reader: &mut Reader<'_>) -> Option<f64> {
    finite(&reader.number()?)
}

/// A string that names one of `choices`.
fn choice_of<T: Copy>(reader: &mut Reader<'_>, choices: &[(&str, T)]) -> Option<T> {
    choice(&reader.string()?, choices)
}
