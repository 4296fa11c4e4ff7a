//! A deterministic synthetic feed of parcel reports (parcel record v1, SPEC §3), as couriers
//! and marketplaces would post them: the input of `parcel-screener generate`, the demo and
//! load tests.
//!
//! [`FeedGenerator`] makes `parcels` distinct parcels (the originals) and, on top of them,
//! the reports real overlapping feeds add (SPEC §4): exact replays, the other filer's report
//! of the same parcel (agreeing, or disagreeing on the consignee or the value), amendments,
//! cancellations, and malformed records. Each extra report follows its original within a
//! few hundred reports, so memory stays bounded whatever the number of parcels. Among the
//! originals it plants, at configured shares, watch-list names (as listed, or misspelt,
//! reordered, recased), enrolled known shippers, values above the de minimis threshold and
//! restricted goods; every other party is clean, and never named as a listed party.
//!
//! The same configuration, lists and seed give the same bytes, on every platform.
//!
//! Layout: `pools` (word pools and tables), `build` (parties, addresses, goods), `record`
//! (the serialised form), `watch` (planted watch-list names), `malformed`, `rng`.

mod build;
mod malformed;
pub(crate) mod pools;
mod record;
pub(crate) mod rng;
mod watch;

#[cfg(test)]
mod tests;

pub use malformed::Malformation;
pub use watch::{Perturbation, PlantedParty, WatchlistHit};

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use std::borrow::Cow;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use screener_engine::known_shippers::{KnownShipper, KnownShipperStatus};
use screener_engine::record::parcel_key;

use build::Tables;
use pools::{Category, CARRIERS, DESTINATIONS, ORIGINS};
use record::{Body, Envelope, Marketplace, Money, Source, Weight};
use rng::Rng;
use watch::WatchNames;

/// What the feed contains. Shares are probabilities per original parcel (so
/// `duplicate_share = 0.1` gives about one replay per ten parcels), clamped to `[0, 1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedConfig {
    /// Same seed, same bytes.
    pub seed: u64,
    /// Distinct parcels (original reports). Every other kind of report comes on top.
    pub parcels: usize,
    /// An exact replay of an earlier report (the same bytes again).
    pub duplicate_share: f64,
    /// The other filer (marketplace or courier) reports the same parcel.
    pub cross_feed_share: f64,
    /// Of those cross-feed reports, the share that disagree materially: another consignee
    /// name or another declared value.
    pub disagree_share: f64,
    /// An `AMEND` by the same filer with a changed declared value or item.
    pub amend_share: f64,
    /// A `CANCEL` by the same filer.
    pub cancel_share: f64,
    /// A malformed report (a parcel of its own): broken JSON, wrong types, missing
    /// mandatory fields, bad country codes, invalid UTF-8.
    pub malformed_share: f64,
    /// A shipper or consignee named as a watch-list name or alias, possibly perturbed.
    pub watchlist_hit_share: f64,
    /// The shipper is an active enrolled known shipper, with its enrolled name, address and
    /// `known_shipper_id`.
    pub known_shipper_share: f64,
    /// The consignee's given name and surname come from two cultures drawn at random (of
    /// 321 given names and 281 surnames), so that most of its names are new to the
    /// screener, as most consignees of a real feed are: over 500,000 parcels, about 138,000
    /// distinct consignee names with a share of 1, against about 43,000 from one culture's
    /// pools, which repeat. Each is still made of words the screener has seen, so this
    /// measures searches that miss the search cache, not new words. 0 by default, so that a
    /// seed's feed stays the same bytes.
    pub new_name_share: f64,
    /// The declared value is above the destination's de minimis threshold.
    pub value_over_share: f64,
    /// An item is restricted goods (arms, fireworks, a pill press).
    pub restricted_goods_share: f64,
    /// `sent_at` of the first report; each report is a few milliseconds after the previous.
    pub start: DateTime<Utc>,
}

impl Default for FeedConfig {
    fn default() -> Self {
        FeedConfig {
            seed: 1,
            parcels: 10_000,
            duplicate_share: 0.10,
            cross_feed_share: 0.30,
            disagree_share: 0.05,
            amend_share: 0.02,
            cancel_share: 0.005,
            malformed_share: 0.01,
            watchlist_hit_share: 0.002,
            known_shipper_share: 0.05,
            new_name_share: 0.0,
            value_over_share: 0.01,
            restricted_goods_share: 0.002,
            start: default_start(),
        }
    }
}

/// 2026-11-01T00:00:00Z.
fn default_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

impl FeedConfig {
    /// Only original parcels, all releasable: no replays, other-feed reports, amendments,
    /// cancellations or malformed records, and no planted watch-list names, values over the
    /// threshold or restricted goods. Known shippers stay (they are released, trusted).
    pub fn clean(self) -> Self {
        FeedConfig {
            duplicate_share: 0.0,
            cross_feed_share: 0.0,
            disagree_share: 0.0,
            amend_share: 0.0,
            cancel_share: 0.0,
            malformed_share: 0.0,
            watchlist_hit_share: 0.0,
            value_over_share: 0.0,
            restricted_goods_share: 0.0,
            ..self
        }
    }

    /// The same feed without malformed reports.
    pub fn without_malformed(self) -> Self {
        FeedConfig {
            malformed_share: 0.0,
            ..self
        }
    }

    /// Shares clamped to `[0, 1]`, NaN as 0: for configurations built in code. The command
    /// lines refuse such shares first ([`parse_share`]).
    fn sanitized(self) -> Self {
        let share = |value: f64| {
            if value.is_nan() {
                0.0
            } else {
                value.clamp(0.0, 1.0)
            }
        };
        FeedConfig {
            duplicate_share: share(self.duplicate_share),
            cross_feed_share: share(self.cross_feed_share),
            disagree_share: share(self.disagree_share),
            amend_share: share(self.amend_share),
            cancel_share: share(self.cancel_share),
            malformed_share: share(self.malformed_share),
            watchlist_hit_share: share(self.watchlist_hit_share),
            known_shipper_share: share(self.known_shipper_share),
            new_name_share: share(self.new_name_share),
            value_over_share: share(self.value_over_share),
            restricted_goods_share: share(self.restricted_goods_share),
            ..self
        }
    }
}

/// A share given on the command line (`--new-name-share 0.3`): a number from 0 to 1. For
/// clap's `value_parser`, whose error then names the option: a share of 30 or of -1 is
/// refused rather than clamped, since it is most likely a percentage or a typo.
pub fn parse_share(text: &str) -> Result<f64, String> {
    let share: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("a share is a number from 0 to 1, not {text:?}"))?;
    if !(0.0..=1.0).contains(&share) {
        return Err(format!(
            "a share is a number from 0 to 1 (0.3 for 30%), not {text:?}"
        ));
    }
    Ok(share)
}

/// What a report is, for accounting and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReportKind {
    /// The first report of a parcel (`ADD`).
    Original,
    /// An exact replay of the original report: the same bytes, record id included.
    Duplicate,
    /// The other filer's `ADD` of the same parcel, with the same screening content (names
    /// may be written in another case, the house bill with spaces).
    CrossFeed,
    /// The other filer's `ADD` of the same parcel, disagreeing on the consignee name or the
    /// declared value.
    CrossFeedDisagreeing,
    /// An `AMEND` by the original filer: another declared value, or an item's quantity.
    Amend,
    /// A `CANCEL` by the original filer.
    Cancel,
    /// A record that does not parse or validate.
    Malformed,
}

impl ReportKind {
    pub const ALL: [ReportKind; 7] = [
        ReportKind::Original,
        ReportKind::Duplicate,
        ReportKind::CrossFeed,
        ReportKind::CrossFeedDisagreeing,
        ReportKind::Amend,
        ReportKind::Cancel,
        ReportKind::Malformed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Original => "original",
            ReportKind::Duplicate => "duplicate",
            ReportKind::CrossFeed => "cross_feed",
            ReportKind::CrossFeedDisagreeing => "cross_feed_disagreeing",
            ReportKind::Amend => "amend",
            ReportKind::Cancel => "cancel",
            ReportKind::Malformed => "malformed",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Which filer sent a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedName {
    /// The carrier's manifest (`express_carrier`, or `postal` for EMS).
    Courier,
    /// The marketplace's order feed (`marketplace`).
    Marketplace,
}

impl FeedName {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedName::Courier => "courier",
            FeedName::Marketplace => "marketplace",
        }
    }

    pub fn other(self) -> FeedName {
        match self {
            FeedName::Courier => FeedName::Marketplace,
            FeedName::Marketplace => FeedName::Courier,
        }
    }
}

/// What was planted in a parcel, so that tests can check the screener's answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Planted {
    /// A watch-list name as shipper or consignee.
    pub watchlist_hit: Option<Box<WatchlistHit>>,
    /// The enrolled id of the known shipper that ships it (active, valid, enrolled name and
    /// address).
    pub known_shipper_id: Option<String>,
    /// Declared above the destination's de minimis threshold.
    pub value_over: bool,
    /// Carries restricted goods.
    pub restricted_goods: bool,
    /// How a malformed report was broken.
    pub malformation: Option<Malformation>,
}

/// One report of the feed.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedReport {
    /// The parcel key (`"{CARRIER}:{HOUSE_BILL}"`, [`parcel_key`]); the Kafka message key.
    /// For a malformed report, the key of the parcel it was meant to be.
    pub key: String,
    /// The JSON record, one line (no line break inside).
    pub bytes: Vec<u8>,
    pub kind: ReportKind,
    /// Which filer sent it.
    pub feed: FeedName,
    pub planted: Planted,
}

/// Counts of what the generator produced so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedStats {
    by_kind: [u64; 7],
    pub watchlist_hits: u64,
    pub known_shipper: u64,
    pub value_over: u64,
    pub restricted_goods: u64,
}

impl FeedStats {
    pub fn count(&self, kind: ReportKind) -> u64 {
        self.by_kind[kind.index()]
    }

    pub fn total(&self) -> u64 {
        self.by_kind.iter().sum()
    }
}

impl fmt::Display for FeedStats {
    /// `12345 reports: 10000 original, 1000 duplicate, … ; planted in originals: 20 watch-list hits, …`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} reports:", self.total())?;
        for (position, kind) in ReportKind::ALL.iter().enumerate() {
            let separator = if position == 0 { "" } else { "," };
            write!(f, "{separator} {} {}", self.count(*kind), kind.as_str())?;
        }
        write!(
            f,
            "; planted in originals: {} watch-list hits, {} known shipper, {} value over threshold, {} restricted goods",
            self.watchlist_hits, self.known_shipper, self.value_over, self.restricted_goods
        )
    }
}

/// Who files for a feed.
#[derive(Debug, Clone)]
struct Filer {
    filer_type: &'static str,
    filer_id: Cow<'static, str>,
}

/// A parcel whose follow-up reports are still to come.
#[derive(Debug)]
struct Parcel {
    body: Body,
    key: String,
    courier: Filer,
    marketplace: Filer,
    /// Who filed the original.
    first_feed: FeedName,
    planted: Planted,
    /// The destination's threshold, to keep amendments on the same side of it.
    threshold: f64,
}

impl Parcel {
    fn filer(&self, feed: FeedName) -> &Filer {
        match feed {
            FeedName::Courier => &self.courier,
            FeedName::Marketplace => &self.marketplace,
        }
    }
}

#[derive(Debug)]
enum FollowUp {
    Replay(Vec<u8>),
    CrossFeed { disagree: bool },
    Amend,
    Cancel,
    Malformed,
}

/// A report scheduled for report number `due`; ties keep scheduling order.
#[derive(Debug)]
struct Pending {
    due: u64,
    sequence: u64,
    parcel: Arc<Parcel>,
    follow_up: FollowUp,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.sequence) == (other.due, other.sequence)
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.due, self.sequence).cmp(&(other.due, other.sequence))
    }
}

/// Most reports between an original and its other-feed report.
const MAX_CROSS_FEED_DELAY: u64 = 200;
/// Most reports between an original and its replay.
const MAX_REPLAY_DELAY: u64 = 300;
/// Most reports between the last of those and an amendment, and between an amendment and
/// a cancellation.
const MAX_AMEND_DELAY: u64 = 100;
const MAX_CANCEL_DELAY: u64 = 50;
const MAX_MALFORMED_DELAY: u64 = 50;
/// Most milliseconds of feed time between two reports.
const MAX_STEP_MS: u64 = 4;
/// A clean parcel's value stays under this share of the threshold.
const CLEAN_VALUE_SHARE: f64 = 0.8;

/// The generator. Single-threaded and deterministic; see the module documentation.
pub struct FeedGenerator {
    config: FeedConfig,
    rng: Rng,
    /// Draws the mixed consignee names of `FeedConfig::new_name_share` and nothing else, so
    /// that they leave the feed's other draws as they were (see `new_parcel`).
    names_rng: Rng,
    tables: Tables,
    watch: WatchNames,
    /// Active known shippers valid over the whole feed, by id.
    known_shippers: Vec<KnownShipper>,
    marketplaces: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    originals: usize,
    /// Reports emitted so far.
    emitted: u64,
    clock_ms: i64,
    pending: BinaryHeap<Reverse<Pending>>,
    sequence: u64,
    /// Parcels made so far (originals and malformed), for unique house bills.
    parcels_made: u64,
    bill_offset: u64,
    stats: FeedStats,
    /// Size of the last record, to size the next buffer.
    last_len: usize,
}

/// House bills are `(n * BILL_MULTIPLIER + offset) mod 10^10`: a bijection on
/// `0..10^10` (the multiplier is coprime to 10), so the first 10^10 parcels get distinct
/// bills that do not look sequential.
const BILL_MODULUS: u64 = 10_000_000_000;
const BILL_MULTIPLIER: u64 = 6_364_136_223;

impl FeedGenerator {
    /// A generator for `config`. `watchlist_names` are every watch-list name and alias
    /// (planted hits come from them, clean names avoid them); `known_shippers` is the
    /// registry (shippers that are active and valid over the whole feed are used).
    pub fn new(
        config: FeedConfig,
        watchlist_names: Vec<String>,
        known_shippers: Vec<KnownShipper>,
    ) -> Self {
        let config = config.sanitized();
        let mut rng = Rng::new(config.seed);
        let bill_offset = rng.below(BILL_MODULUS);

        // Feed time is bounded: at most MAX_STEP_MS per report, at most 6 reports a parcel.
        let shares = config.duplicate_share
            + config.cross_feed_share
            + config.amend_share
            + config.cancel_share
            + config.malformed_share;
        let end_ms = (config.parcels as f64 * (1.0 + shares) * MAX_STEP_MS as f64) as i64;
        let end = config.start + chrono::Duration::milliseconds(end_ms);
        let mut known_shippers: Vec<KnownShipper> = known_shippers
            .into_iter()
            .filter(|shipper| {
                shipper.status == KnownShipperStatus::Active
                    && shipper.is_valid_on(config.start)
                    && shipper.is_valid_on(end)
            })
            .collect();
        // The registry may come from a hash map: order by id for determinism.
        known_shippers.sort_by(|a, b| a.id.cmp(&b.id));

        let mut marketplaces: Vec<(Cow<'static, str>, Cow<'static, str>)> = pools::MARKETPLACES
            .iter()
            .map(|(id, name)| (Cow::Borrowed(*id), Cow::Borrowed(*name)))
            .collect();
        for shipper in &known_shippers {
            if !marketplaces
                .iter()
                .any(|(id, _)| id.as_ref() == shipper.enrolled_by)
            {
                marketplaces.push((
                    Cow::Owned(shipper.enrolled_by.clone()),
                    Cow::Owned(shipper.enrolled_by.clone()),
                ));
            }
        }

        FeedGenerator {
            clock_ms: config.start.timestamp_millis(),
            names_rng: Rng::new(config.seed ^ 0x6E61_6D65_735F_726E),
            config,
            rng,
            tables: Tables::new(DESTINATIONS),
            watch: WatchNames::new(watchlist_names),
            known_shippers,
            marketplaces,
            originals: 0,
            emitted: 0,
            pending: BinaryHeap::new(),
            sequence: 0,
            parcels_made: 0,
            bill_offset,
            stats: FeedStats::default(),
            last_len: 1024,
        }
    }

    /// The configuration in force (shares clamped).
    pub fn config(&self) -> &FeedConfig {
        &self.config
    }

    /// What has been generated so far.
    pub fn stats(&self) -> &FeedStats {
        &self.stats
    }

    /// The next report, or `None` when every parcel and its follow-ups are out.
    pub fn next_report(&mut self) -> Option<FeedReport> {
        let originals_done = self.originals >= self.config.parcels;
        let follow_up_due = self
            .pending
            .peek()
            .is_some_and(|Reverse(next)| next.due <= self.emitted || originals_done);
        let report = if follow_up_due {
            let Reverse(pending) = self.pending.pop()?;
            self.follow_up(pending)
        } else if !originals_done {
            self.original()
        } else {
            return None;
        };
        self.emitted += 1;
        self.stats.by_kind[report.kind.index()] += 1;
        Some(report)
    }

    // ---- originals ----

    fn original(&mut self) -> FeedReport {
        self.originals += 1;
        let parcel = self.new_parcel(true);
        let feed = parcel.first_feed;
        let bytes = self.render(&parcel.body, parcel.filer(feed), "ADD");
        let planted = &parcel.planted;
        self.stats.watchlist_hits += u64::from(planted.watchlist_hit.is_some());
        self.stats.known_shipper += u64::from(planted.known_shipper_id.is_some());
        self.stats.value_over += u64::from(planted.value_over);
        self.stats.restricted_goods += u64::from(planted.restricted_goods);
        let report = FeedReport {
            key: parcel.key.clone(),
            bytes,
            kind: ReportKind::Original,
            feed,
            planted: planted.clone(),
        };
        self.schedule_follow_ups(parcel, &report.bytes);
        report
    }

    /// Draws the follow-up reports of a new original, in an order that keeps their meaning:
    /// the other feed's report and the replay first (in either order), then an amendment,
    /// then a cancellation.
    fn schedule_follow_ups(&mut self, parcel: Parcel, original_bytes: &[u8]) {
        let config = &self.config;
        let (cross_feed, disagree) = if self.rng.chance(config.cross_feed_share) {
            (true, self.rng.chance(config.disagree_share))
        } else {
            (false, false)
        };
        let replay = self.rng.chance(config.duplicate_share);
        let amend = self.rng.chance(config.amend_share);
        let cancel = self.rng.chance(config.cancel_share);
        let malformed = self.rng.chance(config.malformed_share);
        if !(cross_feed || replay || amend || cancel || malformed) {
            return;
        }
        let parcel = Arc::new(parcel);
        let now = self.emitted;
        let mut last = now;
        if cross_feed {
            let due = now + self.rng.range(1, MAX_CROSS_FEED_DELAY);
            last = last.max(due);
            self.push(due, &parcel, FollowUp::CrossFeed { disagree });
        }
        if replay {
            let due = now + self.rng.range(1, MAX_REPLAY_DELAY);
            last = last.max(due);
            self.push(due, &parcel, FollowUp::Replay(original_bytes.to_vec()));
        }
        if amend {
            last += self.rng.range(1, MAX_AMEND_DELAY);
            self.push(last, &parcel, FollowUp::Amend);
        }
        if cancel {
            last += self.rng.range(1, MAX_CANCEL_DELAY);
            self.push(last, &parcel, FollowUp::Cancel);
        }
        if malformed {
            // A parcel of its own, reported broken.
            let broken = Arc::new(self.new_parcel(false));
            let due = now + self.rng.range(1, MAX_MALFORMED_DELAY);
            self.push(due, &broken, FollowUp::Malformed);
        }
    }

    fn push(&mut self, due: u64, parcel: &Arc<Parcel>, follow_up: FollowUp) {
        self.sequence += 1;
        self.pending.push(Reverse(Pending {
            due,
            sequence: self.sequence,
            parcel: Arc::clone(parcel),
            follow_up,
        }));
    }

    /// A new parcel; with `plant`, watch-list names, known shippers, high values and
    /// restricted goods at their shares.
    fn new_parcel(&mut self, plant: bool) -> Parcel {
        let carrier = self
            .rng
            .weighted(&CARRIER_WEIGHTS)
            .and_then(|index| CARRIERS.get(*index))
            .unwrap_or(&CARRIERS[0]);
        let house_bill = self.house_bill(carrier.bill_digits);
        let key = parcel_key(carrier.code, &house_bill);

        let config = &self.config;
        let watchlist_hit =
            if plant && self.watch.can_plant() && self.rng.chance(config.watchlist_hit_share) {
                self.watch.plant(&mut self.rng).map(Box::new)
            } else {
                None
            };
        let known_shipper = if plant
            && !self.known_shippers.is_empty()
            && self.rng.chance(config.known_shipper_share)
            && !watchlist_hit
                .as_ref()
                .is_some_and(|hit| hit.party == PlantedParty::Shipper)
        {
            self.known_shippers
                .get(self.rng.index(self.known_shippers.len()))
                .cloned()
        } else {
            None
        };
        let value_over = plant && self.rng.chance(config.value_over_share);
        let restricted_goods = plant && self.rng.chance(config.restricted_goods_share);

        // Where from and where to.
        let (destination_index, destination) = self.destination();
        let origin = self
            .rng
            .weighted(&ORIGIN_WEIGHTS)
            .and_then(|index| ORIGINS.get(*index))
            .unwrap_or(&ORIGINS[0]);

        // Shipper: an enrolled known shipper, or a clean exporter.
        let (mut shipper, category, origin_country) = match &known_shipper {
            Some(enrolled) => (
                record::Party {
                    name: enrolled.name.clone(),
                    address: build::split_enrolled_address(&enrolled.address, &enrolled.country),
                    phone: None,
                },
                category_of(&enrolled.name),
                Cow::Owned(enrolled.country.clone()),
            ),
            None => {
                let mut drawn = build::exporter(&mut self.rng, origin, self.config.seed);
                for _ in 0..8 {
                    if !self.watch.is_listed(&drawn.0.name) {
                        break;
                    }
                    drawn = build::exporter(&mut self.rng, origin, self.config.seed);
                }
                (drawn.0, drawn.1, Cow::Borrowed(origin.country))
            }
        };
        // Consignee: a clean person at home.
        let mut consignee =
            build::consignee(&mut self.rng, &self.tables, destination_index, destination);
        for _ in 0..8 {
            if !self.watch.is_listed(&consignee.name) {
                break;
            }
            consignee =
                build::consignee(&mut self.rng, &self.tables, destination_index, destination);
        }
        // A mixed name replaces the drawn one. Its draws come from a stream of their own: the
        // feed's other draws stay as without it until a disagreeing report of the other feed
        // renames such a consignee (how many nicknames that tries depends on the name).
        if self.config.new_name_share > 0.0 && self.names_rng.chance(self.config.new_name_share) {
            for _ in 0..8 {
                let mixed = build::mixed_person_name(&mut self.names_rng);
                if !self.watch.is_listed(&mixed) {
                    consignee.name = mixed;
                    break;
                }
            }
        }
        if let Some(hit) = &watchlist_hit {
            match hit.party {
                PlantedParty::Shipper => shipper.name = hit.filed_name.clone(),
                PlantedParty::Consignee => consignee.name = hit.filed_name.clone(),
            }
        }

        // Goods and value.
        let (mut items, mut weight) = build::items(
            &mut self.rng,
            &self.tables,
            category,
            destination,
            &origin_country,
        );
        // Clean parcels stay well under the threshold; a value-over parcel gets one
        // valuable item that takes it well above.
        let clean_limit = destination.threshold * CLEAN_VALUE_SHARE;
        build::cap_items(&mut items, clean_limit);
        if value_over {
            if let Some(goods) = self.rng.pick(pools::VALUABLE_GOODS) {
                let others: f64 = items.iter().skip(1).map(|item| item.value.amount).sum();
                let target = destination.threshold * self.rng.uniform(1.2, 3.0);
                let mut valuable =
                    build::item(&mut self.rng, goods, 1, destination, &origin_country);
                valuable.value.amount = record::cents(target - others);
                weight += goods.weight_kg;
                match items.first_mut() {
                    Some(first) => *first = valuable,
                    None => items.push(valuable),
                }
            }
        }
        if restricted_goods {
            if let Some(goods) = self.rng.pick(pools::RESTRICTED_GOODS) {
                let restricted = build::item(&mut self.rng, goods, 1, destination, &origin_country);
                weight += goods.weight_kg;
                let position = self.rng.index(items.len() + 1).min(items.len());
                items.insert(position, restricted);
                if !value_over {
                    build::cap_items(&mut items, clean_limit);
                }
            }
        }

        // Mode and master bill.
        let road = match (origin.country, destination.country) {
            ("MX", "US" | "CA") => self.rng.chance(0.7),
            ("GB" | "DE", "DE" | "FR" | "NL" | "GB") => self.rng.chance(0.5),
            _ => false,
        } && known_shipper.is_none();
        let mode = if carrier.code == "EMS" {
            "POSTAL"
        } else if road {
            "ROAD"
        } else {
            "AIR"
        };
        let master_bill = (mode == "AIR").then(|| self.master_bill(carrier.code));

        // Marketplace: the known shipper's, or any.
        let (marketplace_id, marketplace_name) = match &known_shipper {
            Some(enrolled) => self
                .marketplaces
                .iter()
                .find(|(id, _)| id.as_ref() == enrolled.enrolled_by)
                .cloned(),
            None => self.rng.pick(&self.marketplaces).cloned(),
        }
        .unwrap_or((Cow::Borrowed("MKT-ACME"), Cow::Borrowed("Acme Marketplace")));
        let order_id = format!(
            "{:03}-{:07}-{:07}",
            self.rng.below(1000),
            self.rng.below(10_000_000),
            self.rng.below(10_000_000)
        );
        let first_feed = if self.rng.chance(0.7) {
            FeedName::Courier
        } else {
            FeedName::Marketplace
        };
        let piece_count = if items.len() >= 2 && self.rng.chance(0.15) {
            2
        } else {
            1
        };

        let mut body = Body {
            carrier: carrier.code,
            house_bill,
            master_bill,
            mode,
            origin_country,
            destination_country: destination.country,
            shipper,
            consignee,
            known_shipper_id: known_shipper.as_ref().map(|s| s.id.clone()),
            marketplace: Marketplace {
                name: marketplace_name,
                order_id,
            },
            piece_count,
            gross_weight: Weight {
                value: record::cents(weight),
                unit: "KG",
            },
            items,
            declared_value: Money {
                amount: 0.0,
                currency: destination.currency,
            },
        };
        body.total_items();
        Parcel {
            body,
            key: key.into_string(),
            courier: Filer {
                filer_type: carrier.filer_type,
                filer_id: Cow::Borrowed(carrier.filer_id),
            },
            marketplace: Filer {
                filer_type: "marketplace",
                filer_id: marketplace_id,
            },
            first_feed,
            planted: Planted {
                watchlist_hit,
                known_shipper_id: known_shipper.map(|s| s.id),
                value_over,
                restricted_goods,
                malformation: None,
            },
            threshold: destination.threshold,
        }
    }

    fn destination(&mut self) -> (usize, &'static pools::Destination) {
        let index = self
            .rng
            .weighted(&DESTINATION_WEIGHTS)
            .copied()
            .unwrap_or(0);
        (index, DESTINATIONS.get(index).unwrap_or(&DESTINATIONS[0]))
    }

    /// A house bill of `digits` digits (10 to 12), unique for the first 10^10 parcels.
    fn house_bill(&mut self, digits: u32) -> String {
        let n = self.parcels_made;
        self.parcels_made += 1;
        // In u128: the product of two numbers below 10^10 overflows u64.
        let core = ((u128::from(n % BILL_MODULUS) * u128::from(BILL_MULTIPLIER)
            + u128::from(self.bill_offset))
            % u128::from(BILL_MODULUS)) as u64;
        let mut bill = String::with_capacity(digits as usize);
        for position in 0..digits.saturating_sub(10) {
            let digit = if position == 0 {
                self.rng.range(1, 9)
            } else {
                self.rng.below(10)
            };
            bill.push(char::from(b'0' + digit as u8));
        }
        let _ = write!(bill, "{core:010}");
        bill
    }

    /// A master air waybill: airline prefix, 7-digit serial and its mod-7 check digit. One
    /// consolidation per carrier for about 250 parcels.
    fn master_bill(&mut self, carrier: &str) -> String {
        let batch = self.parcels_made / 250;
        let mut batch_rng = Rng::new(
            self.config.seed
                ^ batch.wrapping_mul(0xA24B_AED4_963E_E407)
                ^ carrier.bytes().fold(0u64, |hash, b| {
                    hash.wrapping_mul(31).wrapping_add(u64::from(b))
                }),
        );
        let prefix = batch_rng
            .pick(pools::AIRLINE_PREFIXES)
            .copied()
            .unwrap_or("020");
        let serial = batch_rng.below(10_000_000);
        format!("{prefix}-{serial:07}{}", serial % 7)
    }

    // ---- follow-ups ----

    fn follow_up(&mut self, pending: Pending) -> FeedReport {
        let parcel = pending.parcel;
        let original_feed = parcel.first_feed;
        match pending.follow_up {
            FollowUp::Replay(bytes) => {
                self.tick();
                FeedReport {
                    key: parcel.key.clone(),
                    bytes,
                    kind: ReportKind::Duplicate,
                    feed: original_feed,
                    planted: parcel.planted.clone(),
                }
            }
            FollowUp::CrossFeed { disagree } => {
                let feed = original_feed.other();
                let mut planted = parcel.planted.clone();
                let (bytes, kind) = if disagree {
                    let mut body = parcel.body.clone();
                    if self.disagree(&mut body, &parcel) {
                        // The consignee was renamed: a planted consignee name is gone.
                        if planted
                            .watchlist_hit
                            .as_ref()
                            .is_some_and(|hit| hit.party == PlantedParty::Consignee)
                        {
                            planted.watchlist_hit = None;
                        }
                    }
                    let filer = parcel.filer(feed);
                    (
                        self.render(&body, filer, "ADD"),
                        ReportKind::CrossFeedDisagreeing,
                    )
                } else if self.rng.chance(0.3) {
                    // The same content written differently.
                    let mut body = parcel.body.clone();
                    if self.rng.chance(0.5) {
                        body.consignee.name = body.consignee.name.to_uppercase();
                    } else {
                        body.house_bill = spaced(&body.house_bill);
                    }
                    (
                        self.render(&body, parcel.filer(feed), "ADD"),
                        ReportKind::CrossFeed,
                    )
                } else {
                    (
                        self.render(&parcel.body, parcel.filer(feed), "ADD"),
                        ReportKind::CrossFeed,
                    )
                };
                FeedReport {
                    key: parcel.key.clone(),
                    bytes,
                    kind,
                    feed,
                    planted,
                }
            }
            FollowUp::Amend => {
                let mut body = parcel.body.clone();
                self.amend(&mut body, &parcel);
                let bytes = self.render(&body, parcel.filer(original_feed), "AMEND");
                FeedReport {
                    key: parcel.key.clone(),
                    bytes,
                    kind: ReportKind::Amend,
                    feed: original_feed,
                    planted: parcel.planted.clone(),
                }
            }
            FollowUp::Cancel => {
                let bytes = self.render(&parcel.body, parcel.filer(original_feed), "CANCEL");
                FeedReport {
                    key: parcel.key.clone(),
                    bytes,
                    kind: ReportKind::Cancel,
                    feed: original_feed,
                    planted: parcel.planted.clone(),
                }
            }
            FollowUp::Malformed => {
                let bytes = self.render(&parcel.body, parcel.filer(original_feed), "ADD");
                let (bytes, malformation) = malformed::corrupt(&mut self.rng, bytes);
                FeedReport {
                    key: parcel.key.clone(),
                    bytes,
                    kind: ReportKind::Malformed,
                    feed: original_feed,
                    planted: Planted {
                        malformation: Some(malformation),
                        ..Planted::default()
                    },
                }
            }
        }
    }

    /// Makes the other feed's report disagree: another consignee name (a nickname for the
    /// given name) or another declared value (the order total with shipping). Returns
    /// whether the consignee was renamed.
    fn disagree(&mut self, body: &mut Body, parcel: &Parcel) -> bool {
        if self.rng.chance(0.5) {
            let surname = body
                .consignee
                .name
                .rsplit(' ')
                .next()
                .unwrap_or("Lee")
                .to_string();
            for _ in 0..8 {
                let nickname = self
                    .rng
                    .pick(pools::DISAGREEING_GIVEN_NAMES)
                    .copied()
                    .unwrap_or("Alex");
                let renamed = format!("{nickname} {surname}");
                // Another name, not merely another case of the same one.
                if renamed.to_uppercase() != body.consignee.name.to_uppercase()
                    && !self.watch.is_listed(&renamed)
                {
                    body.consignee.name = renamed;
                    return true;
                }
            }
        }
        // The order total with shipping and handling, kept on the same side of the threshold.
        let shipping = record::cents(self.rng.uniform(2.0, 15.0));
        let declared = body.declared_value.amount;
        let limit = parcel.threshold * 0.9;
        body.declared_value.amount =
            if parcel.planted.value_over || declared + shipping <= limit || declared <= shipping {
                record::cents(declared + shipping)
            } else {
                record::cents(declared - shipping)
            };
        false
    }

    /// An amendment: another value for one item (and so the declared value), or one more
    /// of an item.
    fn amend(&mut self, body: &mut Body, parcel: &Parcel) {
        let index = self.rng.index(body.items.len());
        let limit = parcel.threshold * CLEAN_VALUE_SHARE;
        let total = body.declared_value.amount;
        let near_limit = !parcel.planted.value_over && total > 0.6 * limit;
        let change_value = self.rng.chance(0.5);
        let Some(item) = body.items.get_mut(index) else {
            return;
        };
        if change_value {
            let factor = if near_limit {
                self.rng.uniform(0.6, 0.95)
            } else {
                self.rng.uniform(1.05, 1.4)
            };
            let old = item.value.amount;
            let mut new = record::cents(old * factor);
            if new == old {
                new = record::cents(old + 0.5);
            }
            item.value.amount = new;
        } else {
            let quantity = item.quantity;
            item.quantity = quantity.saturating_add(1);
            let increase = item.value.amount / f64::from(quantity.max(1));
            if !near_limit && total + increase <= limit {
                item.value.amount = record::cents(item.value.amount + increase);
            }
            // Otherwise a corrected quantity at the same line value.
        }
        body.total_items();
    }

    // ---- rendering ----

    /// Advances the feed clock by 1 to `MAX_STEP_MS` milliseconds.
    fn tick(&mut self) -> i64 {
        self.clock_ms += 1 + self.rng.below(MAX_STEP_MS) as i64;
        self.clock_ms
    }

    /// Serialises `body` as a new report of `filer` with `action`: a new record id and the
    /// next `sent_at`.
    fn render(&mut self, body: &Body, filer: &Filer, action: &'static str) -> Vec<u8> {
        let at_ms = self.tick();
        let sent_at = DateTime::<Utc>::from_timestamp_millis(at_ms)
            .unwrap_or(self.config.start)
            .to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut record_id = String::with_capacity(filer.filer_id.len() + 12);
        record_id.push_str(&filer.filer_id);
        let _ = write!(record_id, "-{:010}", self.emitted + 1);
        let envelope = Envelope {
            record_id: &record_id,
            source: Source {
                filer_type: filer.filer_type,
                filer_id: &filer.filer_id,
                sent_at: &sent_at,
            },
            action,
            body,
        };
        let mut bytes = Vec::with_capacity(self.last_len + 256);
        // Serialising plain structs of strings and finite numbers into a Vec cannot fail.
        if serde_json::to_writer(&mut bytes, &envelope).is_err() {
            bytes.clear();
            bytes.extend_from_slice(b"{}");
        }
        self.last_len = bytes.len();
        bytes
    }
}

impl Iterator for FeedGenerator {
    type Item = FeedReport;

    fn next(&mut self) -> Option<FeedReport> {
        self.next_report()
    }
}

impl fmt::Debug for FeedGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeedGenerator")
            .field("config", &self.config)
            .field("emitted", &self.emitted)
            .field("originals", &self.originals)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

/// Weighted indexes of the pools, built at compile time.
const CARRIER_WEIGHTS: [(usize, u32); 7] = weights_of_carriers();
const ORIGIN_WEIGHTS: [(usize, u32); 8] = weights_of_origins();
const DESTINATION_WEIGHTS: [(usize, u32); 6] = weights_of_destinations();

const fn weights_of_carriers() -> [(usize, u32); 7] {
    let mut weights = [(0, 0); 7];
    let mut i = 0;
    while i < 7 && i < CARRIERS.len() {
        weights[i] = (i, CARRIERS[i].weight);
        i += 1;
    }
    weights
}

const fn weights_of_origins() -> [(usize, u32); 8] {
    let mut weights = [(0, 0); 8];
    let mut i = 0;
    while i < 8 && i < ORIGINS.len() {
        weights[i] = (i, ORIGINS[i].weight);
        i += 1;
    }
    weights
}

const fn weights_of_destinations() -> [(usize, u32); 6] {
    let mut weights = [(0, 0); 6];
    let mut i = 0;
    while i < 6 && i < DESTINATIONS.len() {
        weights[i] = (i, DESTINATIONS[i].weight);
        i += 1;
    }
    weights
}

/// What a known shipper sells, guessed from its enrolled name.
fn category_of(name: &str) -> Category {
    let upper = name.to_uppercase();
    let has = |word: &str| upper.contains(word);
    if has("ELECTRON") || has("TECH") || has("DIGITAL") {
        Category::Electronics
    } else if has("APPAREL") || has("GARMENT") || has("KNIT") || has("TEXTILE") {
        Category::Apparel
    } else if has("LEATHER") || has("BAG") {
        Category::Bags
    } else if has("SHOE") || has("FOOTWEAR") {
        Category::Footwear
    } else if has("TOY") {
        Category::Toys
    } else if has("COSMETIC") || has("BEAUTY") {
        Category::Cosmetics
    } else {
        Category::Home
    }
}

/// `"1234567890"` → `"1234 5678 90"`.
fn spaced(bill: &str) -> String {
    let mut spaced = String::with_capacity(bill.len() + bill.len() / 4);
    for (position, c) in bill.chars().enumerate() {
        if position > 0 && position % 4 == 0 {
            spaced.push(' ');
        }
        spaced.push(c);
    }
    spaced
}
