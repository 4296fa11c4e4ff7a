//! What the service must publish for each report sent, worked out locally with the service's
//! own logic: `parse_record`, then a `Deduplicator` keyed by `record.parcel_key()` at the
//! report's Kafka timestamp (SPEC §4). A record that does not parse is rejected; an exact
//! duplicate (or any report after a cancellation) publishes nothing; everything else gets a
//! decision whose version the deduplicator tells.
//!
//! The service keeps one deduplicator per input partition and feeds it in offset order;
//! [`expect_by_partition`] does the same with the positions the broker acknowledged, so the
//! expectation holds whatever the partitioner did. [`expect_in_order`] is the same logic with
//! one deduplicator over the whole feed in send order: before anything is sent, to know how
//! many outputs to wait for. The two agree whenever every report of a parcel goes to one
//! partition (the producer keys by parcel key) and the dedup memory bound is not reached.

use screener_engine::dedup::{DedupConfig, DedupOutcome, Deduplicator};
use screener_engine::record::{parse_record, ParseLimits};
use std::collections::HashMap;

/// What one report must produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expected {
    /// A decision record with this version; `CANCELLED` if `cancelled`, else RELEASE or HOLD.
    Decision { version: u32, cancelled: bool },
    /// Suppressed as a duplicate: nothing is published.
    Suppressed,
    /// One envelope on the rejected topic.
    Rejected,
}

/// The outcome of one report through the service's logic, and its `record_id` if it parsed.
pub fn expect_one(
    deduplicator: &mut Deduplicator,
    bytes: &[u8],
    limits: &ParseLimits,
    timestamp_ms: i64,
) -> (Expected, Option<String>) {
    match parse_record(bytes, limits) {
        Err(_) => (Expected::Rejected, None),
        Ok(record) => {
            let key = record.parcel_key();
            let expected = match deduplicator.observe(&key, &record, timestamp_ms) {
                DedupOutcome::New => Expected::Decision {
                    version: 1,
                    cancelled: false,
                },
                DedupOutcome::Changed { version, .. } => Expected::Decision {
                    version,
                    cancelled: false,
                },
                DedupOutcome::Cancel { version } => Expected::Decision {
                    version,
                    cancelled: true,
                },
                DedupOutcome::Duplicate(_) => Expected::Suppressed,
            };
            (expected, Some(record.record_id.into_string()))
        }
    }
}

/// Outcomes of `reports` in order, with one deduplicator for the whole feed; `timestamp_ms(i)`
/// is report `i`'s time. Returns each outcome with the report's `record_id`.
pub fn expect_in_order<'a>(
    reports: impl IntoIterator<Item = &'a [u8]>,
    limits: &ParseLimits,
    dedup: &DedupConfig,
    timestamp_ms: impl Fn(usize) -> i64,
) -> Vec<(Expected, Option<String>)> {
    let mut deduplicator = Deduplicator::new(dedup.clone());
    reports
        .into_iter()
        .enumerate()
        .map(|(index, bytes)| expect_one(&mut deduplicator, bytes, limits, timestamp_ms(index)))
        .collect()
}

/// Where the broker put a report, and its Kafka timestamp; `None` if it was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: i64,
}

/// Outcomes as the service computes them: one deduplicator per partition, reports in offset
/// order, at their Kafka timestamps. `None` for a report that was not delivered.
pub fn expect_by_partition<'a>(
    bytes_of: impl Fn(usize) -> &'a [u8],
    placements: &[Option<Placement>],
    limits: &ParseLimits,
    dedup: &DedupConfig,
) -> Vec<Option<Expected>> {
    let mut order: Vec<(i32, i64, usize)> = placements
        .iter()
        .enumerate()
        .filter_map(|(index, placement)| placement.map(|p| (p.partition, p.offset, index)))
        .collect();
    order.sort_unstable();
    let mut deduplicators: HashMap<i32, Deduplicator> = HashMap::new();
    let mut outcomes = vec![None; placements.len()];
    for (partition, _, index) in order {
        let Some(placement) = placements[index] else {
            continue;
        };
        let deduplicator = deduplicators
            .entry(partition)
            .or_insert_with(|| Deduplicator::new(dedup.clone()));
        let (expected, _) = expect_one(
            deduplicator,
            bytes_of(index),
            limits,
            placement.timestamp_ms,
        );
        outcomes[index] = Some(expected);
    }
    outcomes
}

/// Counts of outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExpectedCounts {
    pub decisions: u64,
    /// Of the decisions, those that must be `CANCELLED`.
    pub cancelled: u64,
    pub suppressed: u64,
    pub rejected: u64,
}

impl ExpectedCounts {
    pub fn of<'a>(outcomes: impl IntoIterator<Item = &'a Expected>) -> Self {
        let mut counts = ExpectedCounts::default();
        for outcome in outcomes {
            match outcome {
                Expected::Decision { cancelled, .. } => {
                    counts.decisions += 1;
                    counts.cancelled += u64::from(*cancelled);
                }
                Expected::Suppressed => counts.suppressed += 1,
                Expected::Rejected => counts.rejected += 1,
            }
        }
        counts
    }
}
