//! Re-screening released parcels after a watch-list update (SPEC §6).
//!
//! When an update adds or changes watch-list entries, a parcel released earlier inside the
//! dedup window may now match. For each assigned partition, the partition's input is
//! replayed over the dedup window (as for a dedup rebuild) on a thread of its own, so
//! screening goes on meanwhile; each record is checked against the new entries alone (a
//! small index, so the check is cheap), and the few that match are handed to the partition's
//! worker. The worker re-screens a candidate in full only if it is still the report the
//! parcel's last decision was made on and that decision released it; if the full screen
//! holds it, a HOLD with version + 1 is published.
//!
//! Known limits: the re-screen is not replayed after a crash (a parcel released before an
//! update and not re-screened before the crash stays released), and a rebuild after a
//! restart does not know the version a re-screen published, so a later amendment of that
//! parcel may reuse it.

use std::sync::Arc;

use screener_engine::known_shippers::KnownShipperRegistry;
use screener_engine::record::{parse_record, ParcelRecord, ParseLimits};
use screener_engine::rules::Screener;

use super::config::KafkaConfig;
use super::rebuild::{replay_window, RebuildReport, ReplayWindow};
use crate::live::WatchlistDelta;

/// A record released earlier that matches a new entry.
#[derive(Debug)]
pub struct RescreenCandidate {
    pub offset: i64,
    pub record: ParcelRecord,
}

/// A screener that knows only the entries of `delta`, with the rules of `current`.
pub fn delta_screener(delta: &WatchlistDelta, current: &Screener) -> Screener {
    Screener {
        matcher: delta.matcher.clone(),
        known_shippers: Arc::new(KnownShipperRegistry::default()),
        rules: current.rules.clone(),
        list_versions: current.list_versions.clone(),
    }
}

/// Replays `window` and returns the records any of whose parties match `delta_screener`.
pub fn find_candidates(
    settings: &KafkaConfig,
    limits: &ParseLimits,
    window: &ReplayWindow,
    delta_screener: &Screener,
) -> (Vec<RescreenCandidate>, RebuildReport) {
    let mut candidates = Vec::new();
    let report = replay_window(settings, window, |offset, payload, _timestamp_ms| {
        let Ok(record) = parse_record(payload, limits) else {
            return;
        };
        if delta_screener.matches_watchlist(&record) {
            candidates.push(RescreenCandidate { offset, record });
        }
    });
    (candidates, report)
}
