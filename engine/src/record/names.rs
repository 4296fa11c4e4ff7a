//! The match tokens of a record's party names, made once per report.
//!
//! Deduplication fingerprints each party's name by its match tokens, and screening searches
//! the watch lists with the same tokens. Tokenising each name once for both saves one of the
//! two tokenisations of every screened record (about 1,300 instructions a name, callgrind;
//! BENCHMARKS.md, "Decisions written by hand, names tokenised once"), and names tokenised
//! before are remembered (`matching::tokenize_remembered`).

use std::sync::Arc;

use super::ParcelRecord;
use crate::matching::{tokenize_remembered, Token};

/// The match tokens of a record's shipper, consignee and seller names, shared with the
/// process's cache of names' tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct PartyNameTokens {
    pub shipper: Arc<[Token]>,
    pub consignee: Arc<[Token]>,
    /// `None` when the record names no seller.
    pub seller: Option<Arc<[Token]>>,
}

impl PartyNameTokens {
    pub fn of(record: &ParcelRecord) -> Self {
        PartyNameTokens {
            shipper: tokenize_remembered(&record.shipper.name),
            consignee: tokenize_remembered(&record.consignee.name),
            seller: record
                .seller
                .as_ref()
                .map(|seller| tokenize_remembered(&seller.name)),
        }
    }
}
