//! Fuzz target: the list parsers, which read files and Kafka messages from outside. Any input
//! must give entries and problems (or, for a CSL file without a usable header, an error),
//! never a panic; what they produce is then indexed and searched, as the service does.
//!
//! The first byte of the input picks the format, the rest is the file:
//! - `O`: an OFAC SDN legacy CSV set: `sdn.csv`, optionally followed by a line `==alt==` and
//!   `alt.csv`, and a line `==add==` and `add.csv`;
//! - `C`: a Consolidated Screening List CSV;
//! - `N`: native JSONL (and each line alone through `native::parse_line`, as a watch-list
//!   topic message, whose entries must survive `to_line` → `parse_line` unchanged);
//! - `K`: known-shipper JSONL;
//! - any other byte: its value modulo 4, in that order.
//!
//! Seeds: `fuzz/corpus/parse_lists/` (lines of the sample lists in data/).

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use screener_engine::known_shippers::{self, KnownShipperRegistry};
use screener_engine::lists::{self, csl, native, ofac, LoadProblem, LoadReport};
use screener_engine::matching::{Matcher, PartyQuery, SearchOptions};

const ALT_MARK: &[u8] = b"\n==alt==\n";
const ADD_MARK: &[u8] = b"\n==add==\n";

/// Splits `data` at the first `mark`: (before, after).
fn split_at_mark<'a>(data: &'a [u8], mark: &[u8]) -> (&'a [u8], Option<&'a [u8]>) {
    match data.windows(mark.len()).position(|window| window == mark) {
        Some(at) => (&data[..at], Some(&data[at + mark.len()..])),
        None => (data, None),
    }
}

fn check_problems(problems: &[LoadProblem]) {
    for problem in problems {
        assert!(
            !problem.problem.is_empty(),
            "a problem without text: {problem:?}"
        );
        if let Some(line) = problem.line {
            assert!(line >= 1, "line numbers are 1-based: {problem:?}");
        }
    }
}

/// Checks the entries, then indexes them and searches each name, as the service does with a
/// loaded list.
fn check_report(report: LoadReport) {
    check_problems(&report.problems);
    for entry in &report.entries {
        assert!(
            !entry.id.trim().is_empty() && !entry.list.trim().is_empty(),
            "an entry without id or list: {entry:?}"
        );
        for country in &entry.countries {
            assert!(
                country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase()),
                "a country that is not an alpha-2 code: {country:?}"
            );
        }
    }
    let _ = lists::content_version(&report.entries);
    let names: Vec<String> = report
        .entries
        .iter()
        .flat_map(|entry| entry.all_names().map(str::to_owned))
        .take(16)
        .collect();
    let matcher = Matcher::new(report.entries);
    let options = SearchOptions {
        min_score: 0.5,
        limit: 5,
    };
    for name in &names {
        for candidate in matcher.search(PartyQuery::name(name), options) {
            assert!(
                (0.0..=1.0).contains(&candidate.score),
                "a score outside [0, 1]: {candidate:?}"
            );
            let _ = matcher.explain(PartyQuery::name(name), &candidate);
        }
    }
}

fn ofac_set(data: &[u8]) {
    let (sdn, rest) = split_at_mark(data, ALT_MARK);
    let (sdn, alt, add) = match rest {
        Some(rest) => {
            let (alt, add) = split_at_mark(rest, ADD_MARK);
            (sdn, Some(alt), add)
        }
        None => {
            let (sdn, add) = split_at_mark(sdn, ADD_MARK);
            (sdn, None, add)
        }
    };
    check_report(ofac::parse_bytes(
        Path::new("fuzz"),
        "OFAC-SDN",
        sdn,
        alt,
        add,
    ));
}

fn csl_file(data: &[u8]) {
    // No header (or an unusable one) is an error for the whole file; anything else loads.
    if let Ok(report) = csl::parse_bytes(data, Path::new("fuzz.csv"), None) {
        check_report(report);
    }
}

fn native_jsonl(data: &[u8]) {
    check_report(native::parse_bytes(data, Path::new("fuzz.jsonl"), None));
    // Each line as a message of the watch-list topic.
    for line in data.split(|&b| b == b'\n') {
        let Ok(text) = std::str::from_utf8(line) else {
            continue;
        };
        if let Ok(entry) = native::parse_line(text) {
            let again = native::parse_line(&native::to_line(&entry))
                .expect("a published entry parses back");
            assert_eq!(entry, again, "to_line → parse_line changed the entry");
        }
    }
}

fn known_shipper_jsonl(data: &[u8]) {
    // The registry file is read as UTF-8 text (a file that is not UTF-8 fails to read).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (shippers, problems) = known_shippers::parse_jsonl(text, Path::new("fuzz.jsonl"));
    check_problems(&problems);
    for shipper in &shippers {
        assert!(
            shipper.problems().is_empty(),
            "a kept shipper with problems"
        );
    }
    let registry = KnownShipperRegistry::new(shippers);
    let _ = known_shippers::content_version(&registry);
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, file)) = data.split_first() else {
        return;
    };
    match selector {
        b'O' => ofac_set(file),
        b'C' => csl_file(file),
        b'N' => native_jsonl(file),
        b'K' => known_shipper_jsonl(file),
        other => match other % 4 {
            0 => ofac_set(file),
            1 => csl_file(file),
            2 => native_jsonl(file),
            _ => known_shipper_jsonl(file),
        },
    }
});
