//! SPEC §10: party names and addresses are personal data, and no log line at info level or
//! above contains them. `screen` and `demo` run over the sample parcels and a generated feed
//! with `RUST_LOG=info` (text and JSON logs), and no party name, address line, city, phone
//! or email of their input may appear on stderr.
//!
//! `screen` writes rejected records (a data output, like decisions) to `--rejects FILE`
//! here, so that stderr carries only logs and the closing count.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

const BINARY: &str = env!("CARGO_BIN_EXE_parcel-screener");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Shorter strings (initials, house numbers) could match by accident.
const MIN_LEN: usize = 4;

/// Every party's name, address lines, city, phone and email in a JSONL feed.
fn personal_data(jsonl: &[u8]) -> BTreeSet<String> {
    fn push(found: &mut BTreeSet<String>, value: &Value) {
        if let Some(text) = value.as_str().map(str::trim) {
            if text.chars().count() >= MIN_LEN {
                found.insert(text.to_string());
            }
        }
    }
    let mut found = BTreeSet::new();
    for line in jsonl.split(|b| *b == b'\n') {
        // Malformed lines (broken JSON, bad UTF-8) are rejected before any field is read.
        let Ok(record) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        for role in ["shipper", "consignee", "seller"] {
            let party = &record[role];
            push(&mut found, &party["name"]);
            push(&mut found, &party["phone"]);
            push(&mut found, &party["email"]);
            let address = &party["address"];
            push(&mut found, &address["city"]);
            for line in address["lines"].as_array().into_iter().flatten() {
                push(&mut found, line);
            }
        }
    }
    found
}

fn assert_no_personal_data(output: &Output, personal: &BTreeSet<String>, what: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} failed:\n{stderr}\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(!stderr.trim().is_empty(), "{what} logged nothing");
    let leaked: Vec<&String> = personal
        .iter()
        .filter(|value| stderr.contains(value.as_str()))
        .collect();
    assert!(
        leaked.is_empty(),
        "{what}: personal data on stderr: {leaked:?}\n{stderr}"
    );
}

fn command() -> Command {
    let mut command = Command::new(BINARY);
    command.current_dir(root()).env("RUST_LOG", "info");
    command
}

/// The demo's feed: `generate` with the demo's seed and parcel count.
fn generated_feed(dir: &Path, parcels: usize) -> (std::path::PathBuf, Vec<u8>) {
    let path = dir.join("feed.jsonl");
    let output = Command::new(BINARY)
        .current_dir(root())
        .args(["generate", "--parcels", &parcels.to_string(), "--seed", "1"])
        .arg("--output")
        .arg(&path)
        .output()
        .expect("run generate");
    assert!(output.status.success(), "{output:?}");
    let bytes = std::fs::read(&path).expect("generated feed");
    (path, bytes)
}

#[test]
fn screen_logs_no_party_names_addresses_phones_or_emails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let samples = root().join("data/samples/parcels.jsonl");
    let (generated, generated_bytes) = generated_feed(dir.path(), 300);
    for (input, bytes) in [
        (samples.clone(), std::fs::read(&samples).expect("samples")),
        (generated, generated_bytes),
    ] {
        let personal = personal_data(&bytes);
        assert!(personal.len() > 10, "{personal:?}");
        for format in ["text", "json"] {
            let output = command()
                .args(["--log-format", format, "screen", "--input"])
                .arg(&input)
                .arg("--output")
                .arg(dir.path().join("decisions.jsonl"))
                .arg("--rejects")
                .arg(dir.path().join("rejects.jsonl"))
                .output()
                .expect("run screen");
            assert_no_personal_data(
                &output,
                &personal,
                &format!("screen {} ({format} logs)", input.display()),
            );
        }
    }
    // The sample parcels do carry personal data: the check has something to find.
    let samples = personal_data(&std::fs::read(&samples).expect("samples"));
    assert!(samples.contains("Jane Doe"), "{samples:?}");
    assert!(samples.contains("1 Main St Apt 2"), "{samples:?}");
}

#[test]
fn demo_logs_no_party_names_addresses_phones_or_emails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, feed) = generated_feed(dir.path(), 300);
    let mut personal = personal_data(&feed);
    personal.extend(personal_data(
        &std::fs::read(root().join("data/samples/parcels.jsonl")).expect("samples"),
    ));
    assert!(personal.len() > 100, "{}", personal.len());
    let output = command()
        .args(["demo", "--parcels", "300", "--rate", "0", "--seed", "1"])
        .args(["--admin-addr", "127.0.0.1:0"])
        .output()
        .expect("run demo");
    assert_no_personal_data(&output, &personal, "demo");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("metrics at http://127.0.0.1:"), "{stderr}");
}
