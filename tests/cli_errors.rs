//! What the binary says when it cannot start: one line naming the file, the key or the path
//! and the problem, each cause said once, and exit code 2.

use std::path::Path;
use std::process::{Command, Output};

fn screen_with_config(config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_parcel-screener"))
        .arg("--config")
        .arg(config)
        .args(["screen", "--input", "-"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run parcel-screener")
}

/// The error line, after checking the exit code and that nothing else was printed.
fn error_line(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(output.stdout.is_empty(), "stdout: {:?}", output.stdout);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0].to_string()
}

fn write_config(directory: &Path, text: &str) -> std::path::PathBuf {
    let path = directory.join("screener.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

#[test]
fn a_key_the_config_does_not_know_is_named_once() {
    let directory = tempfile::tempdir().expect("temp dir");
    let config = write_config(directory.path(), "[kafka]\nlinger_msec = 5\n");
    let line = error_line(&screen_with_config(&config));
    assert!(line.contains(&config.display().to_string()), "{line}");
    assert!(line.contains("`linger_msec`"), "{line}");
    assert_eq!(line.matches("unknown field").count(), 1, "{line}");
}

#[test]
fn a_list_file_that_is_missing_is_named_with_the_reason_once() {
    let directory = tempfile::tempdir().expect("temp dir");
    let missing = directory.path().join("no-such-list.csv");
    let config = write_config(
        directory.path(),
        &format!(
            "[[lists.watchlists]]\nformat = \"csl\"\npath = {:?}\n",
            missing.display().to_string()
        ),
    );
    let line = error_line(&screen_with_config(&config));
    assert!(line.contains(&missing.display().to_string()), "{line}");
    assert_eq!(
        line.matches("No such file or directory").count(),
        1,
        "{line}"
    );
}
