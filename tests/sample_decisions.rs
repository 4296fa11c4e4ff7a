//! The bundled sample parcels (`data/samples/parcels.jsonl`, written by
//! `scripts/make_sample_parcels.py`) through the real `parcel-screener screen` binary with the
//! bundled default config and lists: every scenario's decision is asserted.

use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

fn repository_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

struct Run {
    decisions: HashMap<String, Value>,
    rejects: Vec<Value>,
    summary: String,
}

fn screen_samples() -> Run {
    let rejects_file = tempfile::NamedTempFile::new().expect("temp file");
    let output = Command::new(env!("CARGO_BIN_EXE_parcel-screener"))
        .current_dir(repository_root())
        .args([
            "screen",
            "--input",
            "data/samples/parcels.jsonl",
            "--rejects",
        ])
        .arg(rejects_file.path())
        .output()
        .expect("run parcel-screener");
    assert!(
        output.status.success(),
        "screen failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("utf-8 decisions");
    let mut decisions = HashMap::new();
    for line in stdout.lines() {
        let decision: Value = serde_json::from_str(line).expect("each output line is JSON");
        let id = decision["record_id"]
            .as_str()
            .expect("record_id")
            .to_string();
        assert!(
            decisions.insert(id.clone(), decision).is_none(),
            "one decision per record: {id}"
        );
    }
    let rejects = std::fs::read_to_string(rejects_file.path())
        .expect("read rejects")
        .lines()
        .map(|line| serde_json::from_str(line).expect("reject line is JSON"))
        .collect();
    Run {
        decisions,
        rejects,
        summary: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn codes(decision: &Value) -> Vec<&str> {
    decision["reasons"]
        .as_array()
        .expect("reasons array")
        .iter()
        .map(|r| r["code"].as_str().expect("code"))
        .collect()
}

#[test]
fn every_sample_scenario_gets_its_decision() {
    let run = screen_samples();
    let d = &run.decisions;
    let get = |id: &str| {
        d.get(id)
            .unwrap_or_else(|| panic!("no decision for {id}; got {:?}", d.keys()))
    };

    let clean = get("S01-CLEAN");
    assert_eq!(clean["decision"], "RELEASE");
    assert_eq!(clean["lane"], "STANDARD");
    assert!(codes(clean).is_empty());

    let alias = get("S02-WL-ALIAS");
    assert_eq!(alias["decision"], "HOLD");
    let reason = &alias["reasons"][0];
    assert_eq!(reason["code"], "WL_MATCH");
    assert_eq!(reason["party"], "consignee");
    assert_eq!(reason["list"], "OFAC-SDN");
    assert_eq!(reason["entry_id"], "12823");
    assert_eq!(reason["matched_name"], "HAMMAMI, Omar Shafik");
    assert_eq!(reason["score"], 1.0);

    let possible = get("S03-WL-POSSIBLE");
    assert_eq!(possible["decision"], "HOLD");
    assert_eq!(codes(possible), ["WL_POSSIBLE"]);
    assert_eq!(possible["reasons"][0]["entry_id"], "28980");
    let score = possible["reasons"][0]["score"].as_f64().expect("score");
    assert!(
        (0.85..0.92).contains(&score),
        "between the review and hold thresholds: {score}"
    );

    let verified = get("S04-KS-VERIFIED");
    assert_eq!(verified["decision"], "RELEASE");
    assert_eq!(verified["lane"], "TRUSTED");
    assert_eq!(codes(verified), ["KS_VERIFIED"]);

    let mismatch = get("S05-KS-MISMATCH");
    assert_eq!(mismatch["decision"], "HOLD");
    assert_eq!(mismatch["lane"], "STANDARD");
    assert_eq!(codes(mismatch), ["KS_MISMATCH"]);
    assert_eq!(mismatch["reasons"][0]["entry_id"], "KS-ACME-0001");

    assert_eq!(codes(get("S06-KS-SUSPENDED")), ["KS_SUSPENDED"]);
    assert_eq!(get("S06-KS-SUSPENDED")["decision"], "HOLD");
    assert_eq!(codes(get("S07-DATA-INCOMPLETE")), ["DATA_INCOMPLETE"]);
    assert_eq!(codes(get("S08-VALUE-OVER")), ["VALUE_OVER_THRESHOLD"]);
    assert_eq!(codes(get("S09-COMMODITY-HS")), ["COMMODITY_RESTRICTED"]);
    assert_eq!(
        codes(get("S10-COMMODITY-KEYWORD")),
        ["COMMODITY_RESTRICTED"]
    );

    let courier = get("S11-COURIER");
    assert_eq!(
        (courier["decision"].as_str(), courier["version"].as_u64()),
        (Some("RELEASE"), Some(1))
    );
    let marketplace = get("S12-MARKETPLACE");
    assert_eq!(marketplace["parcel_key"], courier["parcel_key"]);
    assert_eq!(marketplace["version"], 2);
    assert_eq!(marketplace["decision"], "HOLD");
    assert_eq!(codes(marketplace), ["DATA_INCONSISTENT"]);
    assert!(marketplace["reasons"][0]["detail"]
        .as_str()
        .is_some_and(|d| d.contains("consignee")));
    assert!(
        !d.contains_key("S13-REPLAY"),
        "an exact replay publishes no decision"
    );

    let cancel = get("S14-CANCEL");
    assert_eq!(cancel["decision"], "CANCELLED");
    assert_eq!(cancel["parcel_key"], "DHL:1000000001");
    assert_eq!(cancel["version"], 2);

    assert!(!d.contains_key("S15-INVALID"));
    assert_eq!(run.rejects.len(), 1);
    assert_eq!(run.rejects[0]["line"], 15);
    assert_eq!(
        run.rejects[0]["fields"][0]["path"],
        "consignee.address.country"
    );

    assert_eq!(get("S16-UNKNOWN-FIELDS")["decision"], "RELEASE");

    // Every line accounted for: 14 decisions + 1 duplicate + 1 rejected = 16 lines.
    assert_eq!(d.len(), 14);
    assert!(run.summary.contains("screened 16 lines"), "{}", run.summary);
    assert!(
        run.summary.contains("1 duplicates, 1 rejected"),
        "{}",
        run.summary
    );
}

#[test]
fn every_reason_code_is_produced_by_a_sample_record() {
    let run = screen_samples();
    let produced: std::collections::HashSet<&str> =
        run.decisions.values().flat_map(codes).collect();
    for code in screener_engine::decision::ReasonCode::ALL {
        assert!(
            produced.contains(code.as_str()),
            "no sample produces {}",
            code.as_str()
        );
    }
}

#[test]
fn decisions_are_deterministic_apart_from_timing_fields() {
    let first = screen_samples();
    let second = screen_samples();
    for (id, decision) in &first.decisions {
        let again = &second.decisions[id];
        let strip = |v: &Value| {
            let mut v = v.clone();
            let object = v.as_object_mut().expect("object");
            object.remove("decided_at");
            object.remove("latency_ms");
            v
        };
        assert_eq!(strip(decision), strip(again), "{id}");
    }
}
