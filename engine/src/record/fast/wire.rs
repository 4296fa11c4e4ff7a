//! The wire types of the fast path (the SPEC §3 fields, as JSON types) and how each is read
//! from the text: a known key twice, a missing field, a value of another JSON type, or
//! unknown fields the fast path cannot vouch for ([`UnknownKeys`]) give `None`.

use compact_str::CompactString;
use serde_json::Number;
use std::borrow::Cow;

use super::reader::Reader;

/// Most unknown fields an object may have on the fast path (they are compared pairwise).
pub(super) const MAX_UNKNOWN_FIELDS: usize = 16;

pub(super) struct WireRecord<'a> {
    pub(super) record_id: CompactString,
    pub(super) source: WireSource<'a>,
    pub(super) action: Cow<'a, str>,
    pub(super) carrier: CompactString,
    pub(super) house_bill: CompactString,
    pub(super) master_bill: Option<CompactString>,
    pub(super) mode: Cow<'a, str>,
    pub(super) origin_country: Option<CompactString>,
    pub(super) destination_country: CompactString,
    pub(super) shipper: WireParty,
    pub(super) consignee: WireParty,
    pub(super) known_shipper_id: Option<CompactString>,
    pub(super) seller: Option<WireParty>,
    pub(super) marketplace: Option<WireMarketplace>,
    pub(super) piece_count: Number,
    pub(super) gross_weight: WireWeight<'a>,
    pub(super) items: Vec<WireItem>,
    pub(super) declared_value: WireMoney,
}

pub(super) struct WireSource<'a> {
    pub(super) filer_type: Cow<'a, str>,
    pub(super) filer_id: CompactString,
    pub(super) sent_at: CompactString,
}

pub(super) struct WireParty {
    pub(super) name: CompactString,
    pub(super) address: WireAddress,
    pub(super) phone: Option<CompactString>,
    pub(super) email: Option<CompactString>,
    pub(super) identifiers: Option<Vec<WireIdentifier>>,
}

pub(super) struct WireAddress {
    pub(super) lines: Vec<CompactString>,
    pub(super) city: CompactString,
    pub(super) region: Option<CompactString>,
    pub(super) postal_code: Option<CompactString>,
    pub(super) country: CompactString,
}

pub(super) struct WireIdentifier {
    pub(super) scheme: CompactString,
    pub(super) value: CompactString,
}

pub(super) struct WireMarketplace {
    pub(super) name: CompactString,
    pub(super) order_id: Option<CompactString>,
    pub(super) listing_url: Option<CompactString>,
}

pub(super) struct WireWeight<'a> {
    pub(super) value: Number,
    pub(super) unit: Cow<'a, str>,
}

pub(super) struct WireItem {
    pub(super) description: CompactString,
    pub(super) hs_code: Option<CompactString>,
    pub(super) quantity: Number,
    pub(super) value: WireMoney,
    pub(super) country_of_origin: Option<CompactString>,
}

pub(super) struct WireMoney {
    pub(super) amount: Number,
    pub(super) currency: CompactString,
}

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

/// The fields of an object that its wire type does not know. They are tolerated, like
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

/// The record, when the whole text is one object of the expected shape.
pub(super) fn record<'a>(reader: &mut Reader<'a>) -> Option<WireRecord<'a>> {
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
        "record_id" => once(&mut record_id, reader.owned_string()),
        "source" => once(&mut source, self::source(reader)),
        "action" => once(&mut action, reader.string()),
        "carrier" => once(&mut carrier, reader.owned_string()),
        "house_bill" => once(&mut house_bill, reader.owned_string()),
        "master_bill" => once_nullable(&mut master_bill, reader, Reader::owned_string),
        "mode" => once(&mut mode, reader.string()),
        "origin_country" => once_nullable(&mut origin_country, reader, Reader::owned_string),
        "destination_country" => once(&mut destination_country, reader.owned_string()),
        "shipper" => once(&mut shipper, party(reader)),
        "consignee" => once(&mut consignee, party(reader)),
        "known_shipper_id" => once_nullable(&mut known_shipper_id, reader, Reader::owned_string),
        "seller" => once_nullable(&mut seller, reader, party),
        "marketplace" => once_nullable(&mut marketplace, reader, self::marketplace),
        "piece_count" => once(&mut piece_count, reader.number()),
        "gross_weight" => once(&mut gross_weight, weight(reader)),
        "items" => once(&mut items, reader.array(item)),
        "declared_value" => once(&mut declared_value, money(reader)),
        _ => unknown.read(reader, key),
    })?;
    if !reader.at_end() {
        return None;
    }
    Some(WireRecord {
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

fn source<'a>(reader: &mut Reader<'a>) -> Option<WireSource<'a>> {
    let (mut filer_type, mut filer_id, mut sent_at) = (None, None, None);
    let mut unknown = UnknownKeys::default();
    reader.object(|reader, key| match key {
        "filer_type" => once(&mut filer_type, reader.string()),
        "filer_id" => once(&mut filer_id, reader.owned_string()),
        "sent_at" => once(&mut sent_at, reader.owned_string()),
        _ => unknown.read(reader, key),
    })?;
    Some(WireSource {
        filer_type: filer_type?,
        filer_id: filer_id?,
        sent_at: sent_at?,
    })
}

fn party(reader: &mut Reader<'_>) -> Option<WireParty> {
    let (mut name, mut address, mut phone, mut email, mut identifiers) =
        (None, None, None, None, None);
    let mut unknown = UnknownKeys::default();
    reader.object(|reader, key| match key {
        "name" => once(&mut name, reader.owned_string()),
        "address" => once(&mut address, self::address(reader)),
        "phone" => once_nullable(&mut phone, reader, Reader::owned_string),
        "email" => once_nullable(&mut email, reader, Reader::owned_string),
        "identifiers" => once_nullable(&mut identifiers, reader, |reader| reader.array(identifier)),
        _ => unknown.read(reader, key),
    })?;
    Some(WireParty {
        name: name?,
        address: address?,
        phone: phone.flatten(),
        email: email.flatten(),
        identifiers: identifiers.flatten(),
    })
}

fn address(reader: &mut Reader<'_>) -> Option<WireAddress> {
    let (mut lines, mut city, mut region, mut postal_code, mut country) =
        (None, None, None, None, None);
    let mut unknown = UnknownKeys::default();
    reader.object(|reader, key| match key {
        "lines" => once(&mut lines, reader.array(Reader::owned_string)),
        "city" => once(&mut city, reader.owned_string()),
        "region" => once_nullable(&mut region, reader, Reader::owned_string),
        "postal_code" => once_nullable(&mut postal_code, reader, Reader::owned_string),
        "country" => once(&mut country, reader.owned_string()),
        _ => unknown.read(reader, key),
    })?;
    Some(WireAddress {
        lines: lines?,
        city: city?,
        region: region.flatten(),
        postal_code: postal_code.flatten(),
        country: country?,
    })
}

fn identifier(reader: &mut Reader<'_>) -> Option<WireIdentifier> {
    let (mut scheme, mut value) = (None, None);
    let mut unknown = UnknownKeys::default();
    reader.object(|reader, key| match key {
        "scheme" => once(&mut scheme, reader.owned_string()),
        "value" => once(&mut value, reader.owned_string()),
        _ => unknown.read(reader, key),
    })?;
    Some(WireIdentifier {
        scheme: scheme?,
        value: value?,
    })
}

fn marketplace(reader: &mut Reader<'_>) -> Option<WireMarketplace> {
    let (mut name, mut order_id, mut listing_url) = (None, None, None);
    let mut unknown = UnknownKeys::default();
    reader.object(|reader, key| match key {
        "name" => once(&mut name, reader.owned_string()),
        "order_id" => once_nullable(&mut order_id, reader, Reader::owned_string),
        "listing_url" => once_nullable(&mut listing_url, reader, Reader::owned_string),
        _ => unknown.read(reader, key),
    })?;
    Some(WireMarketplace {
        name: name?,
        order_id: order_id.flatten(),
        listing_url: listing_url.flatten(),
    })
}

fn weight<'a>(reader: &mut Reader<'a>) -> Option<WireWeight<'a>> {
    let (mut value, mut unit) = (None, None);
    let mut unknown = UnknownKeys::default();
    reader.object(|reader, key| match key {
        "value" => once(&mut value, reader.number()),
        "unit" => once(&mut unit, reader.string()),
        _ => unknown.read(reader, key),
    })?;
    Some(WireWeight {
        value: value?,
        unit: unit?,
    })
}

fn item(reader: &mut Reader<'_>) -> Option<WireItem> {
    let (mut description, mut hs_code, mut quantity, mut value, mut country_of_origin) =
        (None, None, None, None, None);
    let mut unknown = UnknownKeys::default();
    reader.object(|reader, key| match key {
        "description" => once(&mut description, reader.owned_string()),
        "hs_code" => once_nullable(&mut hs_code, reader, Reader::owned_string),
        "quantity" => once(&mut quantity, reader.number()),
        "value" => once(&mut value, money(reader)),
        "country_of_origin" => once_nullable(&mut country_of_origin, reader, Reader::owned_string),
        _ => unknown.read(reader, key),
    })?;
    Some(WireItem {
        description: description?,
        hs_code: hs_code.flatten(),
        quantity: quantity?,
        value: value?,
        country_of_origin: country_of_origin.flatten(),
    })
}

fn money(reader: &mut Reader<'_>) -> Option<WireMoney> {
    let (mut amount, mut currency) = (None, None);
    let mut unknown = UnknownKeys::default();
    reader.object(|reader, key| match key {
        "amount" => once(&mut amount, reader.number()),
        "currency" => once(&mut currency, reader.owned_string()),
        _ => unknown.read(reader, key),
    })?;
    Some(WireMoney {
        amount: amount?,
        currency: currency?,
    })
}
