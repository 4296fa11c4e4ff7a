//! Fuzz target: parcel record v1, the bytes of one Kafka message, through what the pipeline
//! does with them (src/streaming/pipeline/worker.rs): `parse_record` with the default limits,
//! then, for a valid record, deduplication and screening against a real watch list and the
//! sample known-shipper registry, and the decision serialised as JSON.
//!
//! Any input must give a decision or a `RecordError`, never a panic. Also checked, because the
//! pipeline relies on them:
//! - a rejection always says why: a non-empty message, and for invalid fields at least one
//!   problem, each with a path;
//! - the message of a rejection (logged, and published in `parcels.rejected`) contains no
//!   control character and no bidi override, whatever the input: found values are quoted
//!   escaped, so hostile input cannot forge log lines or reorder text;
//! - the same record reported twice is a duplicate the second time (dedup is deterministic);
//! - the parser's fast path and its full path agree: `parse_record` gives what
//!   `parse_record_by_walk` gives, record or error.
//!
//! Seeds: `fuzz/corpus/parse_record/` (the sample parcels of data/samples and edits of them).

#![no_main]

use std::path::Path;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use screener_engine::decision::ListVersions;
use screener_engine::dedup::{DedupConfig, Deduplicator};
use screener_engine::known_shippers::{self, KnownShipperRegistry};
use screener_engine::lists::{self, ListFormat};
use screener_engine::matching::Matcher;
use screener_engine::pipeline::{process_report, ReportOutcome};
use screener_engine::record::{parse_record, parse_record_by_walk, ParseLimits, RecordError};
use screener_engine::rules::{RulesConfig, Screener};

/// The screener, built once: the OFAC SDN sample set (thousands of names, so the index and
/// the scorer see real candidates) and the sample known-shipper registry.
fn screener() -> &'static Screener {
    static SCREENER: OnceLock<Screener> = OnceLock::new();
    SCREENER.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let report = lists::load(
            ListFormat::OfacSdn,
            &root.join("data/lists/ofac-sdn-2021-07"),
            None,
        )
        .expect("the OFAC sample list loads");
        let (shippers, _) =
            known_shippers::load_file(&root.join("data/samples/known_shippers.jsonl"))
                .expect("the sample known-shipper registry loads");
        let registry = KnownShipperRegistry::new(shippers);
        let list_versions = ListVersions {
            watchlist: lists::content_version(&report.entries).into(),
            known_shippers: known_shippers::content_version(&registry).into(),
        };
        Screener {
            matcher: Arc::new(Matcher::new(report.entries)),
            known_shippers: Arc::new(registry),
            rules: RulesConfig::default(),
            list_versions,
        }
    })
}

/// Control characters, and the bidi embeddings, overrides and isolates (U+202A..U+202E,
/// U+2066..U+2069), which a terminal or log viewer would obey.
fn is_forbidden_in_a_message(c: char) -> bool {
    c.is_control()
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

fn check_rejection(error: &RecordError) {
    let message = error.to_string();
    assert!(!message.is_empty(), "a rejection without a message");
    assert!(
        !message.chars().any(is_forbidden_in_a_message),
        "a rejection message carries a control or bidi character: {message:?}"
    );
    if let RecordError::InvalidFields(problems) = error {
        assert!(!problems.is_empty(), "invalid fields without a problem");
        for problem in problems {
            assert!(
                !problem.path.is_empty() && !problem.problem.is_empty(),
                "a field problem without a path or text: {problem:?}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let parsed = parse_record(data, &ParseLimits::default());
    assert_eq!(
        parsed,
        parse_record_by_walk(data, &ParseLimits::default()),
        "the fast path and the full path disagree"
    );
    let record = match parsed {
        Ok(record) => record,
        Err(error) => {
            check_rejection(&error);
            return;
        }
    };
    assert!(
        !record.items.is_empty(),
        "a valid record has at least one item"
    );
    let screener = screener();
    let key = record.parcel_key();
    let mut deduplicator = Deduplicator::new(DedupConfig::default());
    let now_ms = 1_790_000_000_000;
    match process_report(screener, &mut deduplicator, &key, &record, now_ms) {
        ReportOutcome::Decided(decision) => {
            // What the pipeline publishes; a decision is plain data.
            let json = serde_json::to_vec(&decision).expect("a decision serialises");
            assert!(!json.is_empty());
        }
        ReportOutcome::Duplicate(kind) => {
            panic!("the first report of a parcel is a duplicate: {kind:?}")
        }
    }
    // The same report again, within the window: suppressed.
    match process_report(screener, &mut deduplicator, &key, &record, now_ms + 1_000) {
        ReportOutcome::Duplicate(_) => {}
        ReportOutcome::Decided(decision) => {
            panic!(
                "the same report twice was decided twice: {:?}",
                decision.decision
            )
        }
    }
});
