//! One report through the engine: deduplicate, then screen. The offline `screen` command and
//! the streaming service both call [`process_report`], so they decide alike.

use crate::decision::{Decision, Reason, ReasonCode};
use crate::dedup::{DedupOutcome, Deduplicator, DuplicateKind};
use crate::record::{ParcelRecord, PartyNameTokens};
use crate::rules::Screener;

/// What became of a report.
#[derive(Debug, Clone)]
pub enum ReportOutcome {
    /// A decision to publish.
    Decided(Decision),
    /// Suppressed: no decision to publish.
    Duplicate(DuplicateKind),
}

/// Deduplicates `record` under `parcel_key` (its `record.parcel_key()`) at time `now_ms`
/// (the report's own time), then screens it if it is new or changed, or produces the
/// `CANCELLED` decision. The party names are tokenised once, for both.
pub fn process_report(
    screener: &Screener,
    deduplicator: &mut Deduplicator,
    parcel_key: &str,
    record: &ParcelRecord,
    now_ms: i64,
) -> ReportOutcome {
    debug_assert_eq!(parcel_key, record.parcel_key());
    let names = PartyNameTokens::of(record);
    let screen = |version: u32, extra_reasons: &[Reason]| {
        screener.screen_tokenized(record, &names, parcel_key, version, extra_reasons)
    };
    match deduplicator.observe_tokenized(parcel_key, record, &names, now_ms) {
        DedupOutcome::New => ReportOutcome::Decided(screen(1, &[])),
        DedupOutcome::Duplicate(kind) => ReportOutcome::Duplicate(kind),
        DedupOutcome::Cancel { version } => {
            ReportOutcome::Decided(screener.cancelled(record, version))
        }
        DedupOutcome::Changed {
            version,
            inconsistent_fields,
        } => {
            let extra: Vec<Reason> = if inconsistent_fields.is_empty() {
                Vec::new()
            } else {
                vec![Reason {
                    detail: Some(format!(
                        "reports from different filers disagree on {}",
                        inconsistent_fields.join(", ")
                    )),
                    ..Reason::new(ReasonCode::DataInconsistent)
                }]
            };
            ReportOutcome::Decided(screen(version, &extra))
        }
    }
}

/// The report's own time in milliseconds since the epoch, from `source.sent_at` (validated
/// RFC 3339 by the parser); `fallback_ms` if it cannot be read.
pub fn sent_at_ms(record: &ParcelRecord, fallback_ms: i64) -> i64 {
    chrono::DateTime::parse_from_rfc3339(&record.source.sent_at)
        .map(|t| t.timestamp_millis())
        .unwrap_or(fallback_ms)
}
