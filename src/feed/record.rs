//! The generated record, as it is serialised: parcel record v1 (SPEC §3).
//!
//! A record is an [`Envelope`] (who filed it, when, with which action and record id) around
//! a [`Body`] (the parcel itself). Follow-up reports of one parcel (replays, the other
//! feed's report, a cancellation) share the original's body behind an `Arc` and only get a
//! new envelope; amendments and disagreeing reports copy the body and change it. Static
//! pool words are borrowed (`Cow::Borrowed`), so building a record allocates only the
//! strings that are composed.

use serde::Serialize;
use std::borrow::Cow;

pub(crate) type Text = Cow<'static, str>;

/// What one filer says about one report.
#[derive(Debug, Serialize)]
pub(crate) struct Envelope<'a> {
    pub record_id: &'a str,
    pub source: Source<'a>,
    pub action: &'static str,
    #[serde(flatten)]
    pub body: &'a Body,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Source<'a> {
    pub filer_type: &'static str,
    pub filer_id: &'a str,
    pub sent_at: &'a str,
}

/// The parcel: everything that identifies and describes it, in the order of SPEC §3.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Body {
    pub carrier: &'static str,
    pub house_bill: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_bill: Option<String>,
    pub mode: &'static str,
    pub origin_country: Text,
    pub destination_country: &'static str,
    pub shipper: Party,
    pub consignee: Party,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_shipper_id: Option<String>,
    pub marketplace: Marketplace,
    pub piece_count: u32,
    pub gross_weight: Weight,
    pub items: Vec<Item>,
    pub declared_value: Money,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Party {
    pub name: String,
    pub address: Address,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Address {
    pub lines: Vec<String>,
    pub city: Text,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    pub country: Text,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Marketplace {
    pub name: Text,
    pub order_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Weight {
    pub value: f64,
    pub unit: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Item {
    pub description: &'static str,
    pub hs_code: &'static str,
    pub quantity: u32,
    pub value: Money,
    pub country_of_origin: Text,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Money {
    pub amount: f64,
    pub currency: &'static str,
}

impl Body {
    /// Recomputes the declared value as the sum of the item values.
    pub(crate) fn total_items(&mut self) {
        let total: f64 = self.items.iter().map(|item| item.value.amount).sum();
        self.declared_value.amount = cents(total);
    }
}

/// Rounds to hundredths, so amounts print as a filer would write them.
pub(crate) fn cents(amount: f64) -> f64 {
    (amount * 100.0).round() / 100.0
}
