//! `parcel-screener generate` through the real binary, its feed screened by
//! `parcel-screener screen` with the bundled configuration and lists: every generated line is
//! accounted for, malformed records are exactly the rejected ones, and clean traffic is
//! (nearly) never held on a watch-list match.

use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};

fn repository_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_parcel-screener"));
    command.current_dir(repository_root());
    command
}

/// The number just before `label` in a summary line (`"… 12 RELEASE, …"` → 12).
fn count_before(summary: &str, label: &str) -> u64 {
    let at = summary
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in {summary:?}"));
    summary[..at]
        .split_whitespace()
        .last()
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no count before {label:?} in {summary:?}"))
}

/// The stderr line that starts with `prefix`.
fn summary_line(stderr: &[u8], prefix: &str) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in {}", String::from_utf8_lossy(stderr)))
        .to_string()
}

struct Generated {
    file: tempfile::NamedTempFile,
    summary: String,
}

fn generate(args: &[&str]) -> Generated {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let output = binary()
        .arg("generate")
        .args(args)
        .arg("--output")
        .arg(file.path())
        .output()
        .expect("run parcel-screener generate");
    assert!(
        output.status.success(),
        "generate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Generated {
        file,
        summary: summary_line(&output.stderr, "generated "),
    }
}

struct Screened {
    decisions: Vec<Value>,
    summary: String,
}

/// Screens the file through standard input (`--input -`), as a pipe would.
fn screen(input: &Path) -> Screened {
    let rejects = tempfile::NamedTempFile::new().expect("temp file");
    let output = binary()
        .args(["screen", "--input", "-", "--rejects"])
        .arg(rejects.path())
        .stdin(Stdio::from(std::fs::File::open(input).expect("open feed")))
        .output()
        .expect("run parcel-screener screen");
    assert!(
        output.status.success(),
        "screen failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let decisions = String::from_utf8(output.stdout)
        .expect("UTF-8 decisions")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a decision is JSON"))
        .collect();
    Screened {
        decisions,
        summary: summary_line(&output.stderr, "screened "),
    }
}

#[test]
fn generated_feed_is_fully_accounted_for_by_screen() {
    let generated = generate(&["--parcels", "2000", "--seed", "7"]);
    let bytes = std::fs::read(generated.file.path()).expect("read feed");
    let lines = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count() as u64;
    let g = &generated.summary;
    assert_eq!(count_before(g, "reports:"), lines, "{g}");
    assert_eq!(count_before(g, "original"), 2000, "{g}");
    let malformed = count_before(g, "malformed");
    assert!(malformed > 0, "{g}");

    let screened = screen(generated.file.path());
    let s = &screened.summary;
    let released = count_before(s, "RELEASE");
    let held = count_before(s, "HOLD");
    let cancelled = count_before(s, "CANCELLED");
    let duplicates = count_before(s, "duplicates");
    let rejected = count_before(s, "rejected");
    assert_eq!(count_before(s, "lines"), lines, "{s}");
    assert_eq!(
        released + held + cancelled + duplicates + rejected,
        lines,
        "every line is accounted for: {s}"
    );
    assert_eq!(rejected, malformed, "rejected = malformed: {s} / {g}");
    // Replays and agreeing other-feed reports are the duplicates; cancellations are CANCELLED.
    assert_eq!(
        duplicates,
        count_before(g, "duplicate,") + count_before(g, "cross_feed,"),
        "{s} / {g}"
    );
    assert_eq!(cancelled, count_before(g, "cancel,"), "{s} / {g}");
    assert_eq!(
        screened.decisions.len() as u64,
        released + held + cancelled,
        "{s}"
    );

    // Same seed, same bytes.
    let again = generate(&["--parcels", "2000", "--seed", "7"]);
    assert!(std::fs::read(again.file.path()).expect("read feed") == bytes);
}

#[test]
fn generated_clean_feed_is_rarely_held_on_watch_lists() {
    const PARCELS: usize = 5000;
    let generated = generate(&["--clean", "--parcels", "5000", "--seed", "7"]);
    let g = &generated.summary;
    assert_eq!(count_before(g, "reports:"), PARCELS as u64, "{g}");
    assert_eq!(count_before(g, "malformed"), 0, "{g}");

    // Party names by record id, to say which names were held.
    let feed = std::fs::read_to_string(generated.file.path()).expect("read feed");
    let mut parties: HashMap<String, Value> = HashMap::new();
    for line in feed.lines() {
        let record: Value = serde_json::from_str(line).expect("a clean record is JSON");
        let id = record["record_id"].as_str().expect("record_id").to_string();
        parties.insert(id, record);
    }

    let screened = screen(generated.file.path());
    assert_eq!(screened.decisions.len(), PARCELS, "{}", screened.summary);
    let mut watchlist_holds = 0;
    let mut other_holds = 0;
    for decision in &screened.decisions {
        let reasons = decision["reasons"].as_array().cloned().unwrap_or_default();
        let watchlist: Vec<&Value> = reasons
            .iter()
            .filter(|r| matches!(r["code"].as_str(), Some("WL_MATCH" | "WL_POSSIBLE")))
            .collect();
        if decision["decision"] == "HOLD" && watchlist.is_empty() {
            other_holds += 1;
            eprintln!("held without a watch-list reason: {decision}");
        }
        if watchlist.is_empty() {
            continue;
        }
        watchlist_holds += 1;
        let record_id = decision["record_id"].as_str().unwrap_or_default();
        for reason in watchlist {
            let party = reason["party"].as_str().unwrap_or_default();
            let filed = parties
                .get(record_id)
                .and_then(|record| record[party]["name"].as_str())
                .unwrap_or("?");
            eprintln!(
                "{} {party} {filed:?} ~ {:?} ({} {}) score {}",
                reason["code"].as_str().unwrap_or_default(),
                reason["matched_name"].as_str().unwrap_or_default(),
                reason["list"].as_str().unwrap_or_default(),
                reason["entry_id"].as_str().unwrap_or_default(),
                reason["score"]
            );
        }
    }
    let rate = watchlist_holds as f64 / PARCELS as f64;
    eprintln!(
        "clean feed: {watchlist_holds} of {PARCELS} parcels held on WL_MATCH/WL_POSSIBLE ({:.2}%)",
        rate * 100.0
    );
    assert_eq!(other_holds, 0, "clean parcels held for other reasons");
    assert!(
        rate < 0.01,
        "watch-list hold rate {:.2}% on clean traffic",
        rate * 100.0
    );
}

#[test]
fn a_share_out_of_range_is_refused_naming_the_option() {
    for (share, problem) in [
        ("30", "a share is a number from 0 to 1 (0.3 for 30%)"),
        ("-0.5", "a share is a number from 0 to 1 (0.3 for 30%)"),
        ("NaN", "a share is a number from 0 to 1 (0.3 for 30%)"),
        ("lots", "a share is a number from 0 to 1, not \"lots\""),
    ] {
        let output = binary()
            .args(["generate", "--parcels", "10"])
            // `=`: a separate "-0.5" would be read as a flag.
            .arg(format!("--new-name-share={share}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("run generate");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "share {share}: {stderr}");
        assert!(
            stderr.contains("'--new-name-share <SHARE>'") && stderr.contains(problem),
            "share {share}: {stderr}"
        );
        assert!(
            output.stdout.is_empty(),
            "share {share}: a feed was written"
        );
    }
    for share in ["0", "1", "0.25"] {
        let output = binary()
            .args(["generate", "--parcels", "10", "--new-name-share", share])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("run generate");
        assert!(output.status.success(), "share {share}");
        assert!(!output.stdout.is_empty(), "share {share}: no feed");
    }
}
