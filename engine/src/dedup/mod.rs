//! Deduplication of parcel reports (SPEC §4): the same parcel is reported by the courier's
//! manifest and by the marketplace's order feed, and feeds are replayed.
//!
//! [`Deduplicator`] remembers, per parcel key and per filer, a fingerprint of the
//! screening-relevant content of the filer's last report and fingerprints of its material
//! fields (to tell a cross-feed disagreement), plus the decision version and whether the
//! parcel was cancelled. A report is a duplicate when any filer's last report said the same. It is single-threaded on
//! purpose: the service keeps one per Kafka partition, so the state of a partition follows the
//! partition on a rebalance and no lock is needed.
//!
//! Memory is bounded: keys expire once older than the window (from their first report) and,
//! beyond `max_keys`, the oldest keys are evicted first. Both are counted.
//!
//! Fingerprints are computed on normalised content, so a feed writing `JANE DOE` where the
//! other writes `Jane Doe` is a duplicate, not an amendment: names as match tokens (an
//! honorific or `S.A.` for `SA` changes nothing), addresses and goods descriptions as their
//! letters and digits only (`P.O. Box 7` and `PO BOX 7` agree), amounts in cents.

mod store;

use serde::{Deserialize, Serialize};
use std::time::Duration;
use xxhash_rust::xxh3::xxh3_64;

use crate::matching::normalize::push_letters_and_digits;
use crate::matching::{for_each_token, Token};
use crate::record::{Action, Money, ParcelRecord, Party, PartyNameTokens};
use store::KeyStore;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupConfig {
    /// How long a parcel key is remembered after its first report.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Most parcel keys remembered (per deduplicator); the oldest are evicted beyond it.
    pub max_keys: usize,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            window: Duration::from_secs(72 * 3600),
            max_keys: 1_000_000,
        }
    }
}

/// What to do with a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DedupOutcome {
    /// A parcel key not seen within the window: screen it, decision version 1.
    New,
    /// Nothing new: publish no decision.
    Duplicate(DuplicateKind),
    /// The content changed: re-screen and publish `version`. `inconsistent_fields` names the
    /// material fields on which two different filers disagree (`DATA_INCONSISTENT`); empty
    /// for an amendment by the same filer.
    Changed {
        version: u32,
        inconsistent_fields: Vec<&'static str>,
    },
    /// A `CANCEL`: publish a `CANCELLED` decision with `version`.
    Cancel { version: u32 },
}

/// Why a report was suppressed; the label of `screener_duplicates_total{kind}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DuplicateKind {
    /// The same content again (a replay, or the other feed agreeing).
    Exact,
    /// A report for a parcel already cancelled.
    AfterCancel,
}

impl DuplicateKind {
    pub const ALL: [DuplicateKind; 2] = [DuplicateKind::Exact, DuplicateKind::AfterCancel];

    pub fn as_str(self) -> &'static str {
        match self {
            DuplicateKind::Exact => "exact",
            DuplicateKind::AfterCancel => "after_cancel",
        }
    }
}

/// Filers remembered per parcel (a parcel is reported by its courier and its marketplace,
/// rarely more); bounds memory per key.
const MAX_FILERS_PER_PARCEL: usize = 4;

/// The material fields compared across feeds, in the order they are reported.
pub const MATERIAL_FIELDS: [&str; 4] = ["shipper", "consignee", "declared_value", "items"];

/// Fingerprints of one report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentFingerprint {
    /// All screening-relevant content.
    pub content: u64,
    /// One per [`MATERIAL_FIELDS`] entry.
    pub material: [u64; 4],
    /// Who filed it (filer type and id).
    pub filer: u64,
}

impl ContentFingerprint {
    /// The fingerprints of `record`, its party names tokenised here.
    pub fn of(record: &ParcelRecord) -> Self {
        Self::of_parts(record, None)
    }

    /// The fingerprints of `record`, given its party names' tokens (the same fingerprints
    /// as [`ContentFingerprint::of`], without tokenising the names again).
    pub fn of_tokenized(record: &ParcelRecord, names: &PartyNameTokens) -> Self {
        Self::of_parts(record, Some(names))
    }

    fn of_parts(record: &ParcelRecord, names: Option<&PartyNameTokens>) -> Self {
        // Each part's normalised bytes are written into one buffer and hashed in one call:
        // xxh3's one-shot hash of a short input costs a fraction of feeding a streaming
        // state token by token (five states of ~600 bytes per record, two updates a token).
        let mut bytes = Vec::with_capacity(512);
        let shipper_tokens = names.map(|names| &names.shipper[..]);
        let shipper = hash_of(&mut bytes, |out| {
            push_party(out, &record.shipper, shipper_tokens)
        });
        let consignee_tokens = names.map(|names| &names.consignee[..]);
        let consignee = hash_of(&mut bytes, |out| {
            push_party(out, &record.consignee, consignee_tokens)
        });
        let value = hash_of(&mut bytes, |out| push_money(out, &record.declared_value));
        let items = hash_of(&mut bytes, |out| {
            for item in &record.items {
                push_squeezed(out, &item.description);
                push_text(out, item.hs_code.as_deref().unwrap_or(""));
                out.extend_from_slice(&item.quantity.to_le_bytes());
                push_money(out, &item.value);
                push_text(out, item.country_of_origin.as_deref().unwrap_or(""));
            }
        });
        let material = [shipper, consignee, value, items];
        let seller = match &record.seller {
            Some(seller) => {
                let seller_tokens = names.and_then(|names| names.seller.as_deref());
                hash_of(&mut bytes, |out| push_party(out, seller, seller_tokens))
            }
            None => 0,
        };

        let content = hash_of(&mut bytes, |out| {
            for part in material {
                out.extend_from_slice(&part.to_le_bytes());
            }
            out.extend_from_slice(&seller.to_le_bytes());
            push_text(out, record.known_shipper_id.as_deref().unwrap_or(""));
            out.extend_from_slice(record.origin_country.as_deref().unwrap_or("").as_bytes());
            out.extend_from_slice(record.destination_country.as_bytes());
            out.extend_from_slice(&record.piece_count.to_le_bytes());
            out.extend_from_slice(&cents(record.gross_weight.value).to_le_bytes());
            out.extend_from_slice(&[record.gross_weight.unit as u8, record.mode as u8]);
        });
        let filer = hash_of(&mut bytes, |out| {
            push_text(out, record.source.filer_type.as_str());
            out.extend_from_slice(record.source.filer_id.as_bytes());
        });
        ContentFingerprint {
            content,
            material,
            filer,
        }
    }
}

/// The xxh3 hash of what `write` puts in `bytes` (cleared first).
fn hash_of(bytes: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) -> u64 {
    bytes.clear();
    write(bytes);
    xxh3_64(bytes)
}

/// Hundredths, rounded: amounts that print the same compare the same.
fn cents(amount: f64) -> i64 {
    (amount * 100.0).round() as i64
}

/// A text as filed, then a separator, so that the next field cannot shift into it.
fn push_text(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(text.as_bytes());
    out.push(b'|');
}

/// A text as its letters and digits (see [`push_letters_and_digits`]), then a separator:
/// spacing and punctuation are each filer's own (`P.O. Box 7`, `PO BOX 7`). For addresses
/// and goods descriptions, where the match tokens' rules for names (honorifics dropped,
/// initials joined) have nothing to do, and this costs a fraction of tokenising:
/// fingerprints tokenised every address line of every report, 11% of a screening worker's
/// time (BENCHMARKS.md).
fn push_squeezed(out: &mut Vec<u8>, text: &str) {
    push_letters_and_digits(out, text);
    out.push(b'|');
}

/// A name as its match tokens, each followed by a space, then a separator: from `tokens`
/// when the caller has them (they are the name's), else tokenised here.
fn push_name(out: &mut Vec<u8>, name: &str, tokens: Option<&[Token]>) {
    let mut push_token = |token: &str| {
        out.extend_from_slice(token.as_bytes());
        out.push(b' ');
    };
    match tokens {
        Some(tokens) => tokens.iter().for_each(|token| push_token(&token.text)),
        None => for_each_token(name, |token, _| push_token(token)),
    }
    out.push(b'|');
}

fn push_money(out: &mut Vec<u8>, money: &Money) {
    out.extend_from_slice(&cents(money.amount).to_le_bytes());
    push_text(out, &money.currency);
}

fn push_party(out: &mut Vec<u8>, party: &Party, name_tokens: Option<&[Token]>) {
    push_name(out, &party.name, name_tokens);
    let address = &party.address;
    for line in &address.lines {
        push_squeezed(out, line);
    }
    push_squeezed(out, &address.city);
    push_squeezed(out, address.region.as_deref().unwrap_or(""));
    push_squeezed(out, address.postal_code.as_deref().unwrap_or(""));
    out.extend_from_slice(address.country.as_bytes());
}

/// The last report of each filer (courier, marketplace …), first filer first: the first
/// inline, since every key has one, and the others (a second feed, rarely more) behind a
/// pointer that is null for most keys (8 bytes where a `Vec` takes 24 on each of millions).
#[derive(Debug, Clone)]
struct Reports {
    first: ContentFingerprint,
    // Boxed on purpose: a thin pointer, 8 bytes on every key, where a `Vec` takes 24.
    #[allow(clippy::box_collection)]
    others: Option<Box<Vec<ContentFingerprint>>>,
}

impl Reports {
    fn new(first: ContentFingerprint) -> Self {
        Reports {
            first,
            others: None,
        }
    }

    fn iter(&self) -> impl Iterator<Item = &ContentFingerprint> {
        std::iter::once(&self.first).chain(self.others.iter().flat_map(|others| others.iter()))
    }

    /// Records `fingerprint` as its filer's last report. A parcel reported by more than
    /// [`MAX_FILERS_PER_PARCEL`] filers keeps the first ones; later newcomers are still
    /// compared with them.
    fn remember(&mut self, fingerprint: ContentFingerprint) {
        if self.first.filer == fingerprint.filer {
            self.first = fingerprint;
            return;
        }
        let others = self.others.get_or_insert_with(Default::default);
        match others
            .iter()
            .position(|report| report.filer == fingerprint.filer)
        {
            Some(position) => others[position] = fingerprint,
            None if 1 + others.len() < MAX_FILERS_PER_PARCEL => others.push(fingerprint),
            None => {}
        }
    }
}

/// What is remembered per parcel key.
#[derive(Debug, Clone)]
struct ParcelState {
    reports: Reports,
    /// The version of the last decision published for the key.
    version: u32,
    cancelled: bool,
    /// Whether the last decision released the parcel (`true` until told otherwise: after a
    /// rebuild the verdicts are unknown, and a re-screen then errs towards checking).
    released: bool,
    /// Content fingerprint of the report the last decision was made on: a re-screen after a
    /// list update screens that report and no other.
    decided_content: u64,
    // When the key was first reported is kept beside the state, in the key store.
}

/// How the deduplicator names a parcel key: its 128-bit xxh3 hash, as two words (8-byte
/// alignment keeps the stored states free of padding). Two different keys share an id with a
/// probability of about n²/2¹²⁹ (10⁻²³ for 10 million keys), far below any other failure;
/// the key's text is not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KeyId(u64, u64);

fn key_id(parcel_key: &str) -> KeyId {
    let id = xxhash_rust::xxh3::xxh3_128(parcel_key.as_bytes());
    KeyId(id as u64, (id >> 64) as u64)
}

/// Counters of what the deduplicator did, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DedupStats {
    pub expired: u64,
    pub evicted: u64,
}

/// The per-partition deduplicator.
#[derive(Debug)]
pub struct Deduplicator {
    config: DedupConfig,
    /// By parcel key id ([`key_id`]), in the order the keys were first reported (with that
    /// time): expiry and eviction take the oldest first.
    states: KeyStore<ParcelState>,
    stats: DedupStats,
}

impl Deduplicator {
    pub fn new(config: DedupConfig) -> Self {
        Deduplicator {
            config,
            states: KeyStore::default(),
            stats: DedupStats::default(),
        }
    }

    /// Number of parcel keys remembered.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    pub fn stats(&self) -> DedupStats {
        self.stats
    }

    /// Decides what a report means, and remembers it. `now_ms` is the report's time
    /// (its Kafka timestamp, or `sent_at` offline): expiry follows it, not the wall clock,
    /// so that a replay is judged as the original was.
    pub fn observe(
        &mut self,
        parcel_key: &str,
        record: &ParcelRecord,
        now_ms: i64,
    ) -> DedupOutcome {
        self.observe_fingerprint(parcel_key, record, ContentFingerprint::of(record), now_ms)
    }

    /// [`Deduplicator::observe`], given the record's party names' tokens (which screening
    /// then uses too).
    pub fn observe_tokenized(
        &mut self,
        parcel_key: &str,
        record: &ParcelRecord,
        names: &PartyNameTokens,
        now_ms: i64,
    ) -> DedupOutcome {
        let fingerprint = ContentFingerprint::of_tokenized(record, names);
        self.observe_fingerprint(parcel_key, record, fingerprint, now_ms)
    }

    fn observe_fingerprint(
        &mut self,
        parcel_key: &str,
        record: &ParcelRecord,
        fingerprint: ContentFingerprint,
        now_ms: i64,
    ) -> DedupOutcome {
        self.expire(now_ms);
        let key = key_id(parcel_key);
        let Some(state) = self.states.get_mut(key) else {
            let outcome = if record.action == Action::Cancel {
                DedupOutcome::Cancel { version: 1 }
            } else {
                DedupOutcome::New
            };
            self.insert(key, fingerprint, record.action == Action::Cancel, 1, now_ms);
            return outcome;
        };
        if state.cancelled {
            return DedupOutcome::Duplicate(DuplicateKind::AfterCancel);
        }
        if record.action == Action::Cancel {
            state.cancelled = true;
            state.version += 1;
            return DedupOutcome::Cancel {
                version: state.version,
            };
        }
        // Nothing new if this filer sent this content last time, or another filer's last
        // report already said the same.
        if state
            .reports
            .iter()
            .any(|report| report.content == fingerprint.content)
        {
            return DedupOutcome::Duplicate(DuplicateKind::Exact);
        }
        let mut inconsistent_fields: Vec<&'static str> = Vec::new();
        for other in state
            .reports
            .iter()
            .filter(|report| report.filer != fingerprint.filer)
        {
            for (field, (theirs, ours)) in MATERIAL_FIELDS
                .iter()
                .zip(other.material.iter().zip(fingerprint.material.iter()))
            {
                if theirs != ours && !inconsistent_fields.contains(field) {
                    inconsistent_fields.push(field);
                }
            }
        }
        inconsistent_fields.sort_by_key(|field| MATERIAL_FIELDS.iter().position(|f| f == field));
        state.decided_content = fingerprint.content;
        state.reports.remember(fingerprint);
        state.version += 1;
        DedupOutcome::Changed {
            version: state.version,
            inconsistent_fields,
        }
    }

    /// Remembers a key as already decided with `version` (when rebuilding the window after a
    /// restart). An existing state is replaced only by a higher version.
    pub fn restore(
        &mut self,
        parcel_key: &str,
        record: &ParcelRecord,
        version: u32,
        cancelled: bool,
        first_seen_ms: i64,
    ) {
        let key = key_id(parcel_key);
        if let Some(state) = self.states.get_mut(key) {
            if version > state.version {
                let fingerprint = ContentFingerprint::of(record);
                state.version = version;
                state.cancelled = cancelled;
                state.decided_content = fingerprint.content;
                state.reports.remember(fingerprint);
            }
            return;
        }
        self.insert(
            key,
            ContentFingerprint::of(record),
            cancelled,
            version,
            first_seen_ms,
        );
    }

    /// Adds `key`, not remembered yet, as first reported at `now_ms` and decided with
    /// `version`; evicts the oldest keys beyond `max_keys`.
    fn insert(
        &mut self,
        key: KeyId,
        fingerprint: ContentFingerprint,
        cancelled: bool,
        version: u32,
        now_ms: i64,
    ) {
        self.states.push(
            key,
            now_ms,
            ParcelState {
                released: !cancelled,
                decided_content: fingerprint.content,
                reports: Reports::new(fingerprint),
                version,
                cancelled,
            },
        );
        while self.states.len() > self.config.max_keys && self.states.pop_oldest() {
            self.stats.evicted += 1;
        }
    }

    /// Forgets keys first reported more than the window before `now_ms`.
    fn expire(&mut self, now_ms: i64) {
        let window_ms = i64::try_from(self.config.window.as_millis()).unwrap_or(i64::MAX);
        while let Some(first_seen_ms) = self.states.oldest_first_seen_ms() {
            if now_ms.saturating_sub(first_seen_ms) <= window_ms {
                break;
            }
            self.states.pop_oldest();
            self.stats.expired += 1;
        }
    }

    /// Remembers whether the decision just published for `parcel_key` released it.
    pub fn record_verdict(&mut self, parcel_key: &str, released: bool) {
        if let Some(state) = self.states.get_mut(key_id(parcel_key)) {
            state.released = released;
        }
    }

    /// The version a re-screen of `record` would publish: `Some(version + 1)` when `record`
    /// is the report the parcel's last decision was made on, that decision released it, and
    /// the parcel is not cancelled; `None` otherwise (superseded, held, cancelled, forgotten).
    pub fn rescreen_version(&self, parcel_key: &str, record: &ParcelRecord) -> Option<u32> {
        let state = self.states.get(key_id(parcel_key))?;
        let current = !state.cancelled
            && state.released
            && state.decided_content == ContentFingerprint::of(record).content;
        current.then_some(state.version + 1)
    }

    /// Remembers that a re-screen published `version` for `parcel_key`.
    pub fn commit_rescreen(&mut self, parcel_key: &str, version: u32, released: bool) {
        if let Some(state) = self.states.get_mut(key_id(parcel_key)) {
            debug_assert!(version > state.version, "a re-screen raises the version");
            state.version = state.version.max(version);
            state.released = released;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{parse_record, FilerType, ParseLimits};

    fn example() -> ParcelRecord {
        let bytes = include_bytes!("../../../data/parcel.example.json");
        parse_record(bytes, &ParseLimits::default()).expect("example parses")
    }

    fn dedup(max_keys: usize) -> Deduplicator {
        Deduplicator::new(DedupConfig {
            window: Duration::from_secs(3600),
            max_keys,
        })
    }

    #[test]
    fn replay_is_an_exact_duplicate_even_with_other_case_and_record_id() {
        let mut dedup = dedup(10);
        let first = example();
        let mut replay = example();
        replay.record_id = "OTHER".into();
        replay.consignee.name = replay.consignee.name.to_uppercase();
        assert_eq!(dedup.observe("K", &first, 0), DedupOutcome::New);
        assert_eq!(
            dedup.observe("K", &replay, 1),
            DedupOutcome::Duplicate(DuplicateKind::Exact)
        );
    }

    #[test]
    fn fingerprints_from_the_names_tokens_are_those_from_the_record() {
        let samples = include_str!("../../../data/samples/parcels.jsonl");
        let mut records: Vec<ParcelRecord> = samples
            .lines()
            .filter_map(|line| parse_record(line.as_bytes(), &ParseLimits::default()).ok())
            .collect();
        assert!(records.len() >= 10, "the samples parse");
        // Names that tokenise in every way: honorifics, initials, legal forms, punctuation,
        // apostrophes, non-Latin scripts, nothing to tokenise; with and without a seller.
        let names = [
            "Dr. J.R.R. Tolkien",
            "O'Brien & Sons Co., Ltd.",
            "Müller GmbH",
            "株式会社 東京物産",
            "ООО Ромашка",
            "- . -",
        ];
        for (index, name) in names.into_iter().enumerate() {
            let mut record = example();
            record.shipper.name = name.into();
            record.consignee.name = names[(index + 1) % names.len()].into();
            if index % 2 == 0 {
                let mut seller = record.shipper.clone();
                seller.name = names[(index + 2) % names.len()].into();
                record.seller = Some(seller);
            }
            records.push(record);
        }
        for record in &records {
            let names = PartyNameTokens::of(record);
            assert_eq!(
                ContentFingerprint::of_tokenized(record, &names),
                ContentFingerprint::of(record)
            );
        }
        // The given tokens are what is fingerprinted.
        let record = records.last().expect("records");
        let mut names = PartyNameTokens::of(record);
        let consignee = &names.consignee;
        names.consignee = consignee[..consignee.len() - 1].into();
        let given = ContentFingerprint::of_tokenized(record, &names);
        let own = ContentFingerprint::of(record);
        assert_ne!(given.material[1], own.material[1]);
        assert_eq!(given.material[0], own.material[0]);
    }

    #[test]
    fn every_screening_relevant_field_changes_the_fingerprint_and_formatting_does_not() {
        let base = ContentFingerprint::of(&example());
        type Edit = dyn Fn(&mut ParcelRecord);
        let fingerprint_after = |edit: &Edit| {
            let mut record = example();
            edit(&mut record);
            ContentFingerprint::of(&record)
        };
        let changes: [(&str, &Edit); 16] = [
            ("shipper name", &|r| r.shipper.name.push_str(" Two")),
            ("shipper city", &|r| r.shipper.address.city = "Hanoi".into()),
            // A word moved from one address field to the next is another address.
            ("consignee line to city", &|r| {
                r.consignee.address.lines = vec!["1 Main St Apt".into()];
                r.consignee.address.city = "2 Springfield".into();
            }),
            ("consignee postal code", &|r| {
                r.consignee.address.postal_code = Some("62702".into())
            }),
            ("consignee country", &|r| {
                r.consignee.address.country = "CA".into()
            }),
            ("declared amount", &|r| r.declared_value.amount += 0.01),
            ("declared currency", &|r| {
                r.declared_value.currency = "EUR".into()
            }),
            ("item description", &|r| {
                r.items[0].description.push_str(" red")
            }),
            ("item hs code", &|r| {
                r.items[0].hs_code = Some("610911".into())
            }),
            ("item quantity", &|r| r.items[0].quantity += 1),
            ("item origin", &|r| {
                r.items[0].country_of_origin = Some("CN".into())
            }),
            ("seller", &|r| r.seller = Some(r.shipper.clone())),
            ("known shipper id", &|r| {
                r.known_shipper_id = Some("KS-1".into())
            }),
            ("destination", &|r| r.destination_country = "CA".into()),
            ("piece count", &|r| r.piece_count += 1),
            ("weight", &|r| r.gross_weight.value += 0.1),
        ];
        for (what, edit) in changes {
            let after = fingerprint_after(edit);
            assert_ne!(
                after.content, base.content,
                "{what} must change the content"
            );
            assert_eq!(after.filer, base.filer, "{what} is not the filer");
        }
        let material_changes: [(&str, usize, &Edit); 4] = [
            ("shipper", 0, &|r| r.shipper.name.push_str(" Two")),
            ("consignee", 1, &|r| {
                r.consignee.address.city = "Dover".into()
            }),
            ("declared_value", 2, &|r| r.declared_value.amount += 1.0),
            ("items", 3, &|r| r.items[0].quantity += 1),
        ];
        for (what, index, edit) in material_changes {
            let after = fingerprint_after(edit);
            for (field, name) in MATERIAL_FIELDS.iter().enumerate() {
                assert_eq!(
                    after.material[field] != base.material[field],
                    field == index,
                    "a change of {what} changes material field {name} only",
                );
            }
        }
        assert_ne!(
            fingerprint_after(&|r| r.source.filer_id = "OTHER".into()).filer,
            base.filer
        );
        // Case, punctuation, spacing and dotted letters are formatting.
        let formatting = fingerprint_after(&|r| {
            r.shipper.name = "EXAMPLE  garment co., ltd.".into();
            r.consignee.address.lines = vec!["1 Main St. - Apt 2".into()];
            r.consignee.address.city = "SPRINGFIELD".into();
            r.items[0].description = "women's knitted COTTON t-shirt".into();
        });
        assert_eq!(formatting, base);
        // In addresses and descriptions, so is where the spaces fall; accents are
        // transliterated as in names.
        let spacing = fingerprint_after(&|r| {
            r.shipper.address.lines = vec!["12 Example-street".into()];
            r.shipper.address.city = "Hồ Chí Minh city".into();
            r.consignee.address.lines = vec!["1 MainSt, Apt.2".into()];
            r.items[0].description = "Women's knitted cotton T shirt".into();
        });
        assert_eq!(spacing, base);
    }

    #[test]
    fn amendment_by_same_filer_is_changed_without_inconsistency() {
        let mut dedup = dedup(10);
        let first = example();
        let mut amended = example();
        amended.action = Action::Amend;
        amended.declared_value.amount += 5.0;
        dedup.observe("K", &first, 0);
        assert_eq!(
            dedup.observe("K", &amended, 1),
            DedupOutcome::Changed {
                version: 2,
                inconsistent_fields: vec![]
            }
        );
    }

    #[test]
    fn other_feed_disagreeing_names_the_material_fields() {
        let mut dedup = dedup(10);
        let courier = example();
        let mut marketplace = example();
        marketplace.source.filer_type = FilerType::Marketplace;
        marketplace.source.filer_id = "MKT-1".into();
        marketplace.consignee.name = "Someone Else".into();
        marketplace.declared_value.amount = 500.0;
        dedup.observe("K", &courier, 0);
        assert_eq!(
            dedup.observe("K", &marketplace, 1),
            DedupOutcome::Changed {
                version: 2,
                inconsistent_fields: vec!["consignee", "declared_value"]
            }
        );
    }

    #[test]
    fn a_feed_replaying_itself_after_the_other_feed_disagreed_is_a_duplicate() {
        let mut dedup = dedup(10);
        let courier = example();
        let mut marketplace = example();
        marketplace.source.filer_type = FilerType::Marketplace;
        marketplace.consignee.name = "Someone Else".into();
        dedup.observe("K", &courier, 0);
        assert!(matches!(
            dedup.observe("K", &marketplace, 1),
            DedupOutcome::Changed { version: 2, .. }
        ));
        assert_eq!(
            dedup.observe("K", &courier, 2),
            DedupOutcome::Duplicate(DuplicateKind::Exact)
        );
        assert_eq!(
            dedup.observe("K", &marketplace, 3),
            DedupOutcome::Duplicate(DuplicateKind::Exact)
        );
    }

    #[test]
    fn cancel_then_later_reports_are_suppressed() {
        let mut dedup = dedup(10);
        let mut cancel = example();
        cancel.action = Action::Cancel;
        dedup.observe("K", &example(), 0);
        assert_eq!(
            dedup.observe("K", &cancel, 1),
            DedupOutcome::Cancel { version: 2 }
        );
        assert_eq!(
            dedup.observe("K", &example(), 2),
            DedupOutcome::Duplicate(DuplicateKind::AfterCancel)
        );
    }

    #[test]
    fn memory_is_bounded_oldest_evicted_and_window_expires() {
        let mut dedup = dedup(3);
        for (n, key) in ["A", "B", "C", "D"].iter().enumerate() {
            dedup.observe(key, &example(), n as i64);
        }
        assert_eq!(dedup.len(), 3);
        assert_eq!(dedup.stats().evicted, 1);
        assert_eq!(
            dedup.observe("A", &example(), 10),
            DedupOutcome::New,
            "A was evicted"
        );
        assert_eq!(dedup.stats().evicted, 2, "re-adding A evicted B");
        // C, D and A were first seen at 2, 3 and 10 ms; past the hour's window they expire.
        assert_eq!(dedup.observe("E", &example(), 3_700_000), DedupOutcome::New);
        assert_eq!(dedup.len(), 1);
        assert_eq!(dedup.stats().expired, 3);
    }

    #[test]
    fn rescreen_targets_only_the_decided_released_report() {
        let mut dedup = dedup(10);
        let first = example();
        assert_eq!(dedup.observe("K", &first, 0), DedupOutcome::New);
        assert_eq!(dedup.rescreen_version("K", &first), Some(2));
        assert_eq!(dedup.rescreen_version("other", &first), None);

        let mut amended = example();
        amended.declared_value.amount += 1.0;
        assert!(matches!(
            dedup.observe("K", &amended, 1),
            DedupOutcome::Changed { version: 2, .. }
        ));
        assert_eq!(dedup.rescreen_version("K", &first), None, "superseded");
        assert_eq!(dedup.rescreen_version("K", &amended), Some(3));

        dedup.record_verdict("K", false);
        assert_eq!(dedup.rescreen_version("K", &amended), None, "already held");
        dedup.record_verdict("K", true);
        dedup.commit_rescreen("K", 3, false);
        assert_eq!(
            dedup.rescreen_version("K", &amended),
            None,
            "held by the re-screen"
        );

        let mut cancel = example();
        cancel.action = Action::Cancel;
        assert_eq!(dedup.observe("C", &first, 0), DedupOutcome::New);
        assert_eq!(
            dedup.observe("C", &cancel, 1),
            DedupOutcome::Cancel { version: 2 }
        );
        assert_eq!(dedup.rescreen_version("C", &first), None, "cancelled");
    }
}
