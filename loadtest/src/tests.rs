//! Unit tests of the accounting: expected outcomes from a feed, matching outputs to the
//! reports sent, lost and unexpected detection, pacing and CPU parsing. No broker.

use std::collections::HashMap;
use std::time::Duration;

use parcel_screener::feed::{FeedConfig, FeedGenerator, FeedReport, ReportKind};
use screener_engine::dedup::DedupConfig;
use screener_engine::record::ParseLimits;

use crate::account::{account, Entry};
use crate::collect::{copy_key, Collector, Mode};
use crate::cpu::{
    comm_from_stat, cpu_seconds_from_stat, machine_jiffies_from_stat, parse_watched, thread_group,
};
use crate::expect::{expect_by_partition, expect_in_order, Expected, ExpectedCounts, Placement};
use crate::run::{due, wanted_collector};

const PARTITIONS: u64 = 4;
const T0_US: u64 = 1_790_000_000_000_000;

fn feed(parcels: usize, seed: u64) -> Vec<FeedReport> {
    let config = FeedConfig {
        seed,
        parcels,
        // More of every follow-up than the defaults, so a small feed has each kind.
        duplicate_share: 0.2,
        cross_feed_share: 0.4,
        disagree_share: 0.2,
        amend_share: 0.1,
        cancel_share: 0.05,
        malformed_share: 0.05,
        ..FeedConfig::default()
    };
    FeedGenerator::new(config, Vec::new(), Vec::new()).collect()
}

/// A stand-in for the default partitioner: every report of a parcel on one partition.
fn partition_of(key: &str) -> i32 {
    let hash = key
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    (hash % PARTITIONS) as i32
}

/// Report `i` produced at T0 + i ms, stored at the next offset of its key's partition.
fn placements(reports: &[FeedReport]) -> Vec<Option<Placement>> {
    let mut next_offset: HashMap<i32, i64> = HashMap::new();
    reports
        .iter()
        .enumerate()
        .map(|(index, report)| {
            let partition = partition_of(&report.key);
            let offset = next_offset.entry(partition).or_default();
            let placement = Placement {
                partition,
                offset: *offset,
                timestamp_ms: (T0_US / 1000) as i64 + index as i64,
            };
            *offset += 1;
            Some(placement)
        })
        .collect()
}

/// Expectations and ledger entries for a feed, as `run` builds them.
struct Fixture {
    reports: Vec<FeedReport>,
    planned: Vec<(Expected, Option<String>)>,
    entries: Vec<Entry>,
}

fn fixture(parcels: usize, seed: u64) -> Fixture {
    let reports = feed(parcels, seed);
    let limits = ParseLimits::default();
    let dedup = DedupConfig::default();
    let planned = expect_in_order(
        reports.iter().map(|r| r.bytes.as_slice()),
        &limits,
        &dedup,
        |index| (T0_US / 1000) as i64 + index as i64,
    );
    let placements = placements(&reports);
    let expected = expect_by_partition(
        |index| reports[index].bytes.as_slice(),
        &placements,
        &limits,
        &dedup,
    );
    let entries = reports
        .iter()
        .enumerate()
        .map(|(index, report)| Entry {
            record_id: planned[index].1.clone(),
            copy_key: copy_key(&report.bytes),
            produce_us: T0_US + index as u64 * 1000,
            placement: placements[index],
            expected: expected[index],
        })
        .collect();
    Fixture {
        reports,
        planned,
        entries,
    }
}

fn decision_json(record_id: &str, version: u32, verdict: &str) -> Vec<u8> {
    serde_json::json!({
        "schema": "decision/v1",
        "parcel_key": "DHL:1",
        "record_id": record_id,
        "version": version,
        "decision": verdict,
        "lane": "STANDARD",
        "reasons": [],
        "decided_at": "2026-11-22T08:00:00.000Z",
        "latency_ms": 0.2,
    })
    .to_string()
    .into_bytes()
}

fn rejection_json(partition: i32, offset: i64) -> Vec<u8> {
    serde_json::json!({
        "schema": "rejected/v1",
        "error": "invalid_json",
        "message": "bad",
        "source": {"topic": "parcels.advance", "partition": partition, "offset": offset},
        "original_base64": "",
    })
    .to_string()
    .into_bytes()
}

/// What a correct service publishes for `entries`, each read `delay_us` after its send.
fn service_outputs(entries: &[Entry], delay_us: u64) -> Vec<(bool, Vec<u8>, u64)> {
    let mut outputs = Vec::new();
    for entry in entries {
        let read_us = entry.produce_us + delay_us;
        match entry.expected {
            Some(Expected::Decision { version, cancelled }) => {
                let verdict = if cancelled { "CANCELLED" } else { "RELEASE" };
                let id = entry.record_id.as_deref().expect("a decided record parses");
                outputs.push((true, decision_json(id, version, verdict), read_us));
            }
            Some(Expected::Rejected) => {
                let p = entry.placement.expect("delivered");
                outputs.push((false, rejection_json(p.partition, p.offset), read_us));
            }
            _ => {}
        }
    }
    outputs
}

fn collect(collector: &mut Collector, outputs: &[(bool, Vec<u8>, u64)]) {
    for (is_decision, payload, read_us) in outputs {
        if *is_decision {
            collector.decision(payload, *read_us);
        } else {
            collector.rejection(payload, *read_us);
        }
    }
}

#[test]
fn expected_outcomes_follow_the_kind_of_each_report() {
    let f = fixture(3_000, 5);
    let counts = ExpectedCounts::of(f.planned.iter().map(|(e, _)| e));
    assert_eq!(
        counts.decisions + counts.suppressed + counts.rejected,
        f.reports.len() as u64
    );
    let mut kinds_seen: HashMap<ReportKind, u64> = HashMap::new();
    for (report, (expected, record_id)) in f.reports.iter().zip(&f.planned) {
        *kinds_seen.entry(report.kind).or_default() += 1;
        match report.kind {
            ReportKind::Malformed => assert_eq!(*expected, Expected::Rejected),
            ReportKind::Duplicate => assert_eq!(*expected, Expected::Suppressed),
            ReportKind::Original => assert_eq!(
                *expected,
                Expected::Decision {
                    version: 1,
                    cancelled: false
                }
            ),
            ReportKind::Amend => assert!(
                matches!(expected, Expected::Decision { version, cancelled: false } if *version >= 2)
                    || *expected == Expected::Suppressed,
                "an amendment is re-decided (or suppressed after a cancellation): {expected:?}"
            ),
            ReportKind::Cancel => assert!(
                matches!(
                    expected,
                    Expected::Decision {
                        cancelled: true,
                        ..
                    }
                ),
                "a cancellation is decided CANCELLED: {expected:?}"
            ),
            ReportKind::CrossFeedDisagreeing => assert!(
                matches!(expected, Expected::Decision { version, .. } if *version >= 2)
                    || *expected == Expected::Suppressed,
                "{expected:?}"
            ),
            ReportKind::CrossFeed => {}
        }
        assert_eq!(
            record_id.is_none(),
            *expected == Expected::Rejected,
            "a record id exactly when the record parses"
        );
    }
    for kind in ReportKind::ALL {
        assert!(kinds_seen.get(&kind).copied().unwrap_or(0) > 0, "{kind:?}");
    }
    let malformed = kinds_seen[&ReportKind::Malformed];
    assert_eq!(
        counts.rejected, malformed,
        "one rejection per malformed report"
    );
    assert!(counts.suppressed >= kinds_seen[&ReportKind::Duplicate]);
    assert!(counts.cancelled > 0);
}

#[test]
fn per_partition_expectation_matches_send_order_when_keyed_by_parcel() {
    let f = fixture(2_000, 9);
    for (entry, (planned, _)) in f.entries.iter().zip(&f.planned) {
        assert_eq!(entry.expected, Some(*planned));
    }
}

#[test]
fn a_correct_service_balances_with_nothing_lost() {
    let f = fixture(2_000, 1);
    let mut collector = wanted_collector(Mode::Screening, &f.reports, &f.planned);
    let outputs = service_outputs(&f.entries, 2_500);
    collect(&mut collector, &outputs);
    assert!((collector.matched() >= collector.wanted()));
    assert_eq!(collector.matched(), collector.wanted());
    let receipts = collector.into_receipts();
    let accounting = account(Mode::Screening, &f.entries, &receipts);
    let expected = ExpectedCounts::of(f.entries.iter().filter_map(|e| e.expected.as_ref()));
    assert!(accounting.passed(), "{accounting:?}");
    assert!(accounting.balanced());
    assert_eq!(accounting.sent, f.reports.len() as u64);
    assert_eq!(accounting.lost, 0);
    assert_eq!(accounting.decided, expected.decisions);
    assert_eq!(accounting.suppressed, expected.suppressed);
    assert_eq!(accounting.rejected, expected.rejected);
    assert_eq!(
        accounting.verdicts.get("CANCELLED").copied(),
        Some(expected.cancelled)
    );
    assert_eq!(accounting.unexpected + accounting.redelivered, 0);
    // Every output's latency is the 2.5 ms delay.
    assert_eq!(
        accounting.latency_us.len(),
        expected.decisions + expected.rejected
    );
    assert_eq!(accounting.latency_us.value_at_quantile(0.5) / 10, 250);
    assert_eq!(accounting.latency_us.max() / 10, 250);
    // The run ends when the last output is read.
    let last = f.entries.iter().map(|e| e.produce_us).max().unwrap_or(0);
    assert!(accounting.last_output_us <= last + 2_500);
    assert!(accounting.end_to_end_seconds() > 0.0);

    // Backlog mode counts from the service's start, not from the first send.
    let mut backlog = accounting.clone();
    backlog.backlog_start_us = Some(backlog.last_output_us - 1_000_000);
    assert!((backlog.end_to_end_seconds() - 1.0).abs() < 1e-9);
}

#[test]
fn missing_outputs_are_lost_and_fail_the_run() {
    let f = fixture(1_000, 2);
    let mut collector = wanted_collector(Mode::Screening, &f.reports, &f.planned);
    let mut outputs = service_outputs(&f.entries, 1_000);
    let first_decision = outputs.iter().position(|o| o.0).expect("a decision");
    outputs.remove(first_decision);
    let first_rejection = outputs.iter().position(|o| !o.0).expect("a rejection");
    outputs.remove(first_rejection);
    collect(&mut collector, &outputs);
    assert!(collector.matched() < collector.wanted());
    assert_eq!(collector.matched() + 2, collector.wanted());
    let accounting = account(Mode::Screening, &f.entries, &collector.into_receipts());
    assert_eq!(accounting.lost, 2);
    assert!(accounting.balanced(), "lost ones still balance the books");
    assert!(!accounting.passed());
    assert_eq!(accounting.lost_examples.len(), 2);
}

#[test]
fn undelivered_reports_fail_the_run_without_counting_as_lost() {
    let mut f = fixture(500, 3);
    let outputs = service_outputs(&f.entries, 1_000);
    f.entries[0].placement = None;
    f.entries[0].expected = None;
    let mut collector = wanted_collector(Mode::Screening, &f.reports, &f.planned);
    // The service never saw report 0, so its decision is not among the outputs.
    let id = f.entries[0].record_id.clone().expect("an original parses");
    let outputs: Vec<_> = outputs
        .into_iter()
        .filter(|(d, payload, _)| {
            !(*d && serde_json::from_slice::<serde_json::Value>(payload).expect("json")
                ["record_id"]
                == id.as_str())
        })
        .collect();
    collect(&mut collector, &outputs);
    let accounting = account(Mode::Screening, &f.entries, &collector.into_receipts());
    assert_eq!(accounting.not_delivered, 1);
    assert_eq!(accounting.sent, f.reports.len() as u64 - 1);
    assert_eq!(accounting.lost, 0);
    assert!(!accounting.passed());
}

#[test]
fn redeliveries_are_counted_and_strangers_are_unexpected() {
    let f = fixture(1_000, 4);
    let mut collector = wanted_collector(Mode::Screening, &f.reports, &f.planned);
    let mut outputs = service_outputs(&f.entries, 1_000);
    let again = outputs.iter().find(|o| o.0).cloned().expect("a decision");
    outputs.push((again.0, again.1, again.2 + 5_000));
    collect(&mut collector, &outputs);
    assert!((collector.matched() >= collector.wanted()));
    let receipts = collector.into_receipts();
    let accounting = account(Mode::Screening, &f.entries, &receipts);
    assert_eq!(accounting.redelivered, 1);
    assert!(
        accounting.passed(),
        "a redelivery is allowed (at least once)"
    );

    let mut collector = wanted_collector(Mode::Screening, &f.reports, &f.planned);
    collect(&mut collector, &service_outputs(&f.entries, 1_000));
    collector.decision(&decision_json("NOBODY-1", 1, "RELEASE"), T0_US);
    collector.rejection(&rejection_json(0, 999_999), T0_US);
    collector.decision(b"not json", T0_US);
    let accounting = account(Mode::Screening, &f.entries, &collector.into_receipts());
    assert_eq!(accounting.unexpected, 3);
    assert_eq!(accounting.lost, 0);
    assert!(!accounting.passed());
}

#[test]
fn a_decision_for_a_suppressed_duplicate_is_unexpected() {
    let f = fixture(1_000, 6);
    let mut collector = wanted_collector(Mode::Screening, &f.reports, &f.planned);
    collect(&mut collector, &service_outputs(&f.entries, 1_000));
    // A cross-feed copy agreeing with the original must publish nothing.
    let suppressed = f
        .entries
        .iter()
        .zip(&f.reports)
        .find(|(e, r)| e.expected == Some(Expected::Suppressed) && r.kind == ReportKind::CrossFeed)
        .map(|(e, _)| e.record_id.clone().expect("parses"))
        .expect("an agreeing cross-feed report");
    collector.decision(&decision_json(&suppressed, 1, "RELEASE"), T0_US);
    let accounting = account(Mode::Screening, &f.entries, &collector.into_receipts());
    assert_eq!(accounting.unexpected, 1);
    assert!(!accounting.passed());
}

#[test]
fn a_wrong_verdict_fails_the_run() {
    let f = fixture(1_000, 7);
    let mut collector = wanted_collector(Mode::Screening, &f.reports, &f.planned);
    let outputs: Vec<_> = service_outputs(&f.entries, 1_000)
        .into_iter()
        .map(|(d, payload, at)| {
            let text = String::from_utf8(payload).expect("utf-8");
            (d, text.replace("CANCELLED", "RELEASE").into_bytes(), at)
        })
        .collect();
    collect(&mut collector, &outputs);
    let accounting = account(Mode::Screening, &f.entries, &collector.into_receipts());
    assert!(accounting.wrong_verdict > 0);
    assert_eq!(accounting.lost, 0);
    assert!(!accounting.passed());
}

#[test]
fn pass_through_matches_copies_by_bytes_including_replays_and_malformed() {
    let f = fixture(1_000, 8);
    assert!(f.reports.iter().any(|r| r.kind == ReportKind::Duplicate));
    assert!(f.reports.iter().any(|r| r.kind == ReportKind::Malformed));
    let mut collector = wanted_collector(Mode::PassThrough, &f.reports, &f.planned);
    assert_eq!(collector.wanted(), f.reports.len() as u64);
    for entry in &f.entries[1..] {
        let index = ((entry.produce_us - T0_US) / 1000) as usize;
        collector.decision(&f.reports[index].bytes, entry.produce_us + 3_000);
    }
    assert_eq!(collector.matched(), collector.wanted() - 1);
    let accounting = account(Mode::PassThrough, &f.entries, &collector.into_receipts());
    assert_eq!(accounting.copied, f.reports.len() as u64 - 1);
    assert_eq!(accounting.lost, 1);
    assert!(!accounting.passed());

    let mut collector = wanted_collector(Mode::PassThrough, &f.reports, &f.planned);
    for (entry, report) in f.entries.iter().zip(&f.reports) {
        collector.decision(&report.bytes, entry.produce_us + 3_000);
    }
    // One redelivery, one stranger.
    collector.decision(&f.reports[0].bytes, T0_US + 9_000_000);
    collector.decision(b"{\"something\":\"else\"}", T0_US);
    assert!((collector.matched() >= collector.wanted()));
    let accounting = account(Mode::PassThrough, &f.entries, &collector.into_receipts());
    assert_eq!(accounting.copied, f.reports.len() as u64);
    assert_eq!(accounting.lost, 0);
    assert_eq!(accounting.redelivered, 1);
    assert_eq!(accounting.unexpected, 1);
    assert_eq!(accounting.latency_us.max() / 10, 300);
}

#[test]
fn pacing_is_steady_or_by_manifest() {
    assert_eq!(due(10, 0.0, 1), None);
    assert_eq!(due(0, 1000.0, 1), Some(Duration::ZERO));
    assert_eq!(due(500, 1000.0, 1), Some(Duration::from_millis(500)));
    // Manifests of 100 at 1000/s: one manifest every 100 ms, all of it at once.
    assert_eq!(due(99, 1000.0, 100), Some(Duration::ZERO));
    assert_eq!(due(100, 1000.0, 100), Some(Duration::from_millis(100)));
    assert_eq!(due(250, 1000.0, 100), Some(Duration::from_millis(200)));
}

#[test]
fn cpu_figures_are_read_from_proc_formats() {
    let stat =
        "1234 (tokio runtime) S 1 1234 1234 0 -1 4194304 500 0 0 0 250 50 0 0 20 0 9 0 100 0 0";
    assert_eq!(cpu_seconds_from_stat(stat), Some(3.0));
    assert_eq!(comm_from_stat(stat), Some("tokio runtime"));
    assert_eq!(thread_group("screener-worke"), "screener-worke");
    assert_eq!(thread_group("rdk:broker111"), "rdk:broker");
    assert_eq!(thread_group("tokio-runtime-w"), "tokio-runtime-w");
    let machine = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n";
    assert_eq!(machine_jiffies_from_stat(machine), Some((150, 1000)));
    let watched = parse_watched("tansu=42").expect("parses");
    assert_eq!((watched.name.as_str(), watched.pid), ("tansu", 42));
    assert!(parse_watched("tansu").is_err());
}
