//! `parcel-screener demo`, the README's main command, as a new user runs it: it must end with
//! a balanced summary (every record sent decided, suppressed as a duplicate, or rejected, and
//! the decisions and rejections really on their topics) and exit 0.

use std::process::Command;

#[test]
fn demo_accounts_for_every_record_sent() {
    let output = Command::new(env!("CARGO_BIN_EXE_parcel-screener"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["demo", "--parcels", "1500", "--rate", "0", "--seed", "3"])
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "demo failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains("embedded Kafka-protocol broker at 127.0.0.1:"),
        "{stderr}"
    );
    assert!(
        stdout.contains("balanced: every record sent is accounted for"),
        "{stdout}"
    );

    let number_after = |label: &str| -> u64 {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no {label} line in {stdout}"));
        line.trim_start()[label.len()..]
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no number in {line:?}"))
    };
    let sent = number_after("sent");
    let decided = number_after("decided");
    let duplicates = number_after("duplicates");
    let rejected = number_after("rejected");
    // 1500 parcels plus replays, other-feed copies, amendments, cancels and malformed lines.
    assert!(sent > 1500, "{stdout}");
    assert_eq!(decided + duplicates + rejected, sent, "{stdout}");
    assert!(
        duplicates > 0 && rejected > 0,
        "the feed has duplicates and malformed records: {stdout}"
    );
}
