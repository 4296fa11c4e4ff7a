//! The decision rules of SPEC §5 and the [`Screener`], the engine's front door: a validated
//! parcel record in, a [`Decision`] out.
//!
//! Rules run in a fixed order and report reasons in that order, so that the same record
//! against the same lists always gives the same decision:
//! 1. watch lists, per party (shipper, consignee, seller): `WL_MATCH` / `WL_POSSIBLE`;
//! 2. the claimed known shipper: `KS_VERIFIED` (TRUSTED lane) / `KS_MISMATCH` / `KS_SUSPENDED`;
//! 3. completeness: `DATA_INCOMPLETE`;
//! 4. reasons given by the caller (the deduplicator's `DATA_INCONSISTENT`);
//! 5. value: `VALUE_OVER_THRESHOLD`;
//! 6. goods: `COMMODITY_RESTRICTED`.
//!
//! A verified known shipper is still screened against the watch lists and every other rule.

mod config;

pub use config::{
    KnownShipperRules, MoneyThreshold, RestrictedGoodsRules, RulesConfig, ValueRules,
    WatchlistRules,
};

use chrono::{DateTime, Utc};
use std::cell::RefCell;
use std::sync::Arc;
use std::time::Instant;

use crate::decision::{
    decided_at, round_score, Decision, Lane, ListVersions, PartyRole, Reason, ReasonCode, Verdict,
    DECISION_SCHEMA,
};
use crate::known_shippers::{KnownShipper, KnownShipperRegistry, KnownShipperStatus};
use crate::matching::{
    score::score_uniform, tokenize, Matcher, RememberedScores, SearchOptions, Token,
};
use crate::record::{Address, CompactString, Item, ParcelRecord, Party, PartyNameTokens};

/// The screening engine: lists, registry and rules, immutable once built. The service keeps
/// it behind an `Arc` and swaps in a new one when a list changes.
#[derive(Debug, Clone)]
pub struct Screener {
    /// The watch lists, indexed.
    pub matcher: Arc<Matcher>,
    /// The known-shipper registry snapshot.
    pub known_shippers: Arc<KnownShipperRegistry>,
    pub rules: RulesConfig,
    /// Named in every decision.
    pub list_versions: ListVersions,
}

impl Screener {
    /// Screens one record. `version` is the decision version the caller assigns (1 for a
    /// first decision); `extra_reasons` are reasons found outside the record itself
    /// (`DATA_INCONSISTENT` from cross-feed comparison).
    pub fn screen(
        &self,
        record: &ParcelRecord,
        version: u32,
        extra_reasons: &[Reason],
    ) -> Decision {
        let names = PartyNameTokens::of(record);
        self.screen_tokenized(record, &names, &record.parcel_key(), version, extra_reasons)
    }

    /// [`Screener::screen`], given the record's party names' tokens and its parcel key
    /// (`record.parcel_key()`), which the caller already made for deduplication.
    /// Either way in, `latency_ms` counts from this call, after the names were tokenised.
    pub fn screen_tokenized(
        &self,
        record: &ParcelRecord,
        names: &PartyNameTokens,
        parcel_key: &str,
        version: u32,
        extra_reasons: &[Reason],
    ) -> Decision {
        let started = Instant::now();
        debug_assert_eq!(parcel_key, record.parcel_key());
        debug_assert_eq!(names, &PartyNameTokens::of(record));
        let mut reasons = Vec::new();
        let parties = tokenized_parties(record, names);
        self.screen_watchlists(&parties, &mut reasons);
        let lane = self.screen_known_shipper(record, &mut reasons);
        check_completeness(&parties, &mut reasons);
        reasons.extend(extra_reasons.iter().cloned());
        self.check_value(record, &mut reasons);
        self.check_goods(&record.items, &mut reasons);
        let verdict = if reasons.iter().any(|r| r.code.holds()) {
            Verdict::Hold
        } else {
            Verdict::Release
        };
        self.decision(record, parcel_key, version, verdict, lane, reasons, started)
    }

    /// The decision for a `CANCEL` record.
    pub fn cancelled(&self, record: &ParcelRecord, version: u32) -> Decision {
        self.decision(
            record,
            &record.parcel_key(),
            version,
            Verdict::Cancelled,
            Lane::Standard,
            Vec::new(),
            Instant::now(),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn decision(
        &self,
        record: &ParcelRecord,
        parcel_key: &str,
        version: u32,
        verdict: Verdict,
        lane: Lane,
        reasons: Vec<Reason>,
        started: Instant,
    ) -> Decision {
        debug_assert!(verdict != Verdict::Hold || reasons.iter().any(|r| r.code.holds()));
        Decision {
            schema: CompactString::const_new(DECISION_SCHEMA),
            parcel_key: parcel_key.into(),
            record_id: record.record_id.clone(),
            version,
            decision: verdict,
            lane,
            reasons,
            list_versions: self.list_versions.clone(),
            decided_at: decided_at(Utc::now()),
            latency_ms: round_score(started.elapsed().as_secs_f64() * 1000.0),
        }
    }

    /// Whether any screened party of `record` scores at least the review threshold against
    /// these watch lists (what a re-screen after a list update checks against the new
    /// entries alone, before screening the record in full).
    pub fn matches_watchlist(&self, record: &ParcelRecord) -> bool {
        let mut reasons = Vec::new();
        let names = PartyNameTokens::of(record);
        self.screen_watchlists(&tokenized_parties(record, &names), &mut reasons);
        !reasons.is_empty()
    }

    /// Searches the watch lists for the shipper, the consignee and (if `screen_seller`) the
    /// seller.
    fn screen_watchlists(&self, parties: &[TokenizedParty<'_>], reasons: &mut Vec<Reason>) {
        let rules = &self.rules.watchlist;
        let options = SearchOptions {
            min_score: rules.review_threshold,
            limit: 1,
        };
        for party in parties {
            if party.role == PartyRole::Seller && !rules.screen_seller {
                continue;
            }
            let country = Some(party.party.address.country.as_str());
            let found = self
                .matcher
                .search_tokens(party.name_tokens, country, options);
            let Some(best) = found.into_iter().next() else {
                continue;
            };
            let entry = self.matcher.entry(&best);
            let code = if best.score >= rules.hold_threshold {
                ReasonCode::WlMatch
            } else {
                ReasonCode::WlPossible
            };
            reasons.push(Reason {
                party: Some(party.role),
                list: Some(entry.list.clone()),
                entry_id: Some(entry.id.clone()),
                matched_name: Some(self.matcher.matched_name(&best).to_string()),
                score: Some(round_score(best.score)),
                ..Reason::new(code)
            });
        }
    }

    /// Checks the claimed known shipper; returns the lane.
    fn screen_known_shipper(&self, record: &ParcelRecord, reasons: &mut Vec<Reason>) -> Lane {
        let Some(claimed_id) = &record.known_shipper_id else {
            return Lane::Standard;
        };
        let reason = |code: ReasonCode, score: Option<f64>, detail: String| Reason {
            party: Some(PartyRole::Shipper),
            entry_id: Some(claimed_id.to_string()),
            score: score.map(round_score),
            detail: Some(detail),
            ..Reason::new(code)
        };
        let Some(enrolled) = self.known_shippers.get(claimed_id) else {
            reasons.push(reason(
                ReasonCode::KsMismatch,
                None,
                "known_shipper_id is not enrolled".to_string(),
            ));
            return Lane::Standard;
        };
        if enrolled.status != KnownShipperStatus::Active {
            reasons.push(reason(
                ReasonCode::KsSuspended,
                None,
                format!("enrollment is {}", enrolled.status.as_str()),
            ));
            return Lane::Standard;
        }
        // Validity is judged on the day the record was sent, not on the day it is screened,
        // so that a replayed record gets the same decision.
        let sent_at = DateTime::parse_from_rfc3339(&record.source.sent_at)
            .map(|t| t.with_timezone(&Utc))
            .ok();
        if let Some(sent_at) = sent_at {
            if !enrolled.is_valid_on(sent_at) {
                reasons.push(reason(
                    ReasonCode::KsSuspended,
                    None,
                    format!("enrollment is not valid on {}", sent_at.date_naive()),
                ));
                return Lane::Standard;
            }
        }
        match self.known_shipper_agreement(&record.shipper, enrolled) {
            Err((score, detail)) => {
                reasons.push(reason(ReasonCode::KsMismatch, Some(score), detail));
                Lane::Standard
            }
            Ok(name_score) => {
                reasons.push(reason(
                    ReasonCode::KsVerified,
                    Some(name_score),
                    "name, address and country match the enrollment".to_string(),
                ));
                Lane::Trusted
            }
        }
    }

    /// The name score when the shipper matches its enrollment (name, country, address);
    /// otherwise why not, as (name score, detail). Details name fields and thresholds, never
    /// the names themselves.
    fn known_shipper_agreement(
        &self,
        shipper: &Party,
        enrolled: &KnownShipper,
    ) -> Result<f64, (f64, String)> {
        let rules = &self.rules.known_shippers;
        let name_score = self.matcher.name_agreement(&shipper.name, &enrolled.name);
        if name_score < rules.name_threshold {
            return Err((
                name_score,
                format!(
                    "shipper.name does not match the enrolled name (score {:.4} < {})",
                    name_score, rules.name_threshold
                ),
            ));
        }
        if shipper.address.country != enrolled.country {
            return Err((
                name_score,
                format!(
                    "shipper.address.country {} differs from the enrolled country {}",
                    shipper.address.country, enrolled.country
                ),
            ));
        }
        let address_score = address_similarity(&shipper.address, &enrolled.address);
        if address_score < rules.address_threshold {
            return Err((
                name_score,
                format!(
                    "shipper.address does not match the enrolled address (score {:.4} < {})",
                    address_score, rules.address_threshold
                ),
            ));
        }
        Ok(name_score)
    }

    fn check_value(&self, record: &ParcelRecord, reasons: &mut Vec<Reason>) {
        let rules = &self.rules.value;
        let Some(threshold) = rules.threshold_for(&record.destination_country) else {
            return;
        };
        let declared = &record.declared_value;
        let Some(declared_in_threshold_currency) =
            rules.convert(declared.amount, &declared.currency, &threshold.currency)
        else {
            reasons.push(Reason {
                detail: Some(format!(
                    "declared_value.currency {} has no exchange rate to {} configured, so the de minimis threshold for {} cannot be checked",
                    declared.currency, threshold.currency, record.destination_country
                )),
                ..Reason::new(ReasonCode::DataIncomplete)
            });
            return;
        };
        if declared_in_threshold_currency > threshold.amount {
            reasons.push(Reason {
                detail: Some(format!(
                    "declared_value {:.2} {} is over the {} threshold of {:.2} {}",
                    declared.amount,
                    declared.currency,
                    record.destination_country,
                    threshold.amount,
                    threshold.currency
                )),
                ..Reason::new(ReasonCode::ValueOverThreshold)
            });
        }
    }

    fn check_goods(&self, items: &[Item], reasons: &mut Vec<Reason>) {
        let rules = &self.rules.restricted_goods;
        for (position, item) in items.iter().enumerate() {
            if let Some(prefix) = item.hs_code.as_deref().and_then(|code| {
                rules
                    .hs_prefixes
                    .iter()
                    .find(|p| code.starts_with(p.as_str()))
            }) {
                reasons.push(Reason {
                    detail: Some(format!(
                        "items[{position}].hs_code matches restricted HS prefix {prefix}"
                    )),
                    ..Reason::new(ReasonCode::CommodityRestricted)
                });
                continue;
            }
            if let Some(keyword) = rules.matching_keyword(&item.description) {
                reasons.push(Reason {
                    detail: Some(format!(
                        "items[{position}].description matches restricted keyword {keyword:?}"
                    )),
                    ..Reason::new(ReasonCode::CommodityRestricted)
                });
            }
        }
    }
}

/// A party of a record and its name's match tokens (the watch-list search and the
/// completeness check both need them).
struct TokenizedParty<'a> {
    role: PartyRole,
    party: &'a Party,
    name_tokens: &'a [Token],
}

/// The shipper, the consignee and the seller (if the record has one), in that order, with
/// their names' tokens from `names` (the record's).
fn tokenized_parties<'a>(
    record: &'a ParcelRecord,
    names: &'a PartyNameTokens,
) -> Vec<TokenizedParty<'a>> {
    let seller = record
        .seller
        .as_ref()
        .zip(names.seller.as_deref())
        .map(|(seller, tokens)| (PartyRole::Seller, seller, tokens));
    [
        (PartyRole::Shipper, &record.shipper, &names.shipper[..]),
        (
            PartyRole::Consignee,
            &record.consignee,
            &names.consignee[..],
        ),
    ]
    .into_iter()
    .chain(seller)
    .map(|(role, party, name_tokens)| TokenizedParty {
        role,
        party,
        name_tokens,
    })
    .collect()
}

/// `DATA_INCOMPLETE` for parties whose name or address cannot be screened.
fn check_completeness(parties: &[TokenizedParty<'_>], reasons: &mut Vec<Reason>) {
    for TokenizedParty {
        role,
        party,
        name_tokens,
    } in parties
    {
        let mut missing = Vec::new();
        // No match token (what `has_tokens` looks for): no letter or digit outside an
        // honorific.
        if name_tokens.is_empty() {
            missing.push("name has no letters or digits");
        }
        if party
            .address
            .lines
            .iter()
            .all(|line| line.trim().is_empty())
        {
            missing.push("address.lines is empty");
        }
        if party.address.city.trim().is_empty() {
            missing.push("address.city is empty");
        }
        if missing.is_empty() {
            continue;
        }
        reasons.push(Reason {
            party: Some(*role),
            detail: Some(format!("{}: {}", role.as_str(), missing.join(", "))),
            ..Reason::new(ReasonCode::DataIncomplete)
        });
    }
}

/// How well a filed address agrees with an enrolled one-line address, in [0, 1]: token
/// alignment with every token weighing the same (street numbers and postal codes count as
/// much as words), legal-form-like words weighing little.
///
/// A pure function of its inputs, remembered per thread: a marketplace's seller files the
/// same address on every parcel, and aligning the two addresses costs ~26k instructions
/// where a lookup costs a few hundred.
pub fn address_similarity(filed: &Address, enrolled: &str) -> f64 {
    ADDRESS_SIMILARITIES.with(|remembered| {
        remembered.borrow_mut().score(
            // Depends on nothing but the two addresses.
            0,
            |key| write_address_key(key, filed, enrolled),
            || align_addresses(filed, enrolled),
        )
    })
}

/// The uncached [`address_similarity`].
fn align_addresses(filed: &Address, enrolled: &str) -> f64 {
    let mut filed_text = filed.lines.join(" ");
    filed_text.push(' ');
    filed_text.push_str(&filed.city);
    if let Some(postal_code) = &filed.postal_code {
        filed_text.push(' ');
        filed_text.push_str(postal_code);
    }
    score_uniform(&tokenize(&filed_text), &tokenize(enrolled)).score
}

thread_local! {
    /// Per-thread memory of [`address_similarity`].
    static ADDRESS_SIMILARITIES: RefCell<RememberedScores> =
        RefCell::new(RememberedScores::default());
}

/// Every input of [`align_addresses`], each text followed by 0xFF (a byte UTF-8 text never
/// holds), so that the key cannot be read two ways: the enrolled address, the city, whether
/// there is a postal code (0 or 1) and the code, then the lines.
fn write_address_key(key: &mut Vec<u8>, filed: &Address, enrolled: &str) {
    const END: u8 = 0xFF;
    let mut push = |text: &str| {
        key.extend_from_slice(text.as_bytes());
        key.push(END);
    };
    push(enrolled);
    push(&filed.city);
    push(if filed.postal_code.is_some() {
        "1"
    } else {
        "0"
    });
    push(filed.postal_code.as_deref().unwrap_or_default());
    for line in &filed.lines {
        push(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(lines: &[&str], city: &str, postal_code: Option<&str>) -> Address {
        Address {
            lines: lines.iter().map(|line| (*line).into()).collect(),
            city: city.into(),
            region: None,
            postal_code: postal_code.map(Into::into),
            country: "CN".into(),
        }
    }

    /// Each pair differs from the one before in one input only; a key that left that input
    /// out would give the earlier pair's remembered score.
    #[test]
    fn remembered_address_similarities_are_those_of_their_own_inputs() {
        let enrolled = "88 Harbour Road Wan Chai Hong Kong 999077";
        let other_enrolled = "12 Nathan Road Kowloon";
        let pairs = [
            (
                address(&["88 Harbour Road"], "Wan Chai", Some("999077")),
                enrolled,
            ),
            (address(&["88 Harbour Road"], "Wan Chai", None), enrolled),
            (
                address(&["88 Harbour Road"], "Wan Chai", Some("")),
                enrolled,
            ),
            (address(&["88 Harbour Road"], "Kowloon", None), enrolled),
            (address(&["12 Nathan Road"], "Kowloon", None), enrolled),
            (
                address(&["12 Nathan Road"], "Kowloon", None),
                other_enrolled,
            ),
            (
                address(&["12 Nathan", "Road"], "Kowloon", None),
                other_enrolled,
            ),
            (
                address(&[], "Kowloon", Some("12 Nathan Road")),
                other_enrolled,
            ),
        ];
        let mut distinct_scores = Vec::new();
        for round in 0..2 {
            for (filed, enrolled) in &pairs {
                let expected = align_addresses(filed, enrolled);
                assert_eq!(
                    address_similarity(filed, enrolled),
                    expected,
                    "round {round}: {filed:?} against {enrolled:?}"
                );
                if !distinct_scores.contains(&expected.to_bits()) {
                    distinct_scores.push(expected.to_bits());
                }
            }
        }
        // The pairs are not all alike: a cache that mixed them up would be caught.
        assert!(distinct_scores.len() >= 4, "{distinct_scores:?}");
    }
}
