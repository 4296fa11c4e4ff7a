//! `loadtest mock-broker`, the broker of `scripts/loadtest.sh --broker mock`: it prints an
//! address a Kafka client can use, serves the parcel topics with the partitions asked for,
//! and refuses a partition count it cannot serve.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BINARY: &str = env!("CARGO_BIN_EXE_loadtest");

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("loadtest/ lies in the workspace")
}

/// Kills the broker however the test ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_mock_broker_serves_the_parcel_topics_at_the_address_it_prints() {
    let child = Command::new(BINARY)
        .args(["mock-broker", "--partitions", "3"])
        .current_dir(workspace_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("loadtest starts");
    let mut broker = Killed(child);
    let mut address = String::new();
    BufReader::new(broker.0.stdout.take().expect("stdout"))
        .read_line(&mut address)
        .expect("reads the address");
    let address = address.trim();
    assert!(
        address.contains(':'),
        "a HOST:PORT bootstrap address: {address:?}"
    );

    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", address)
        .create()
        .expect("client");
    let metadata = client
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata from the mock broker");
    let partitions = |name: &str| {
        metadata
            .topics()
            .iter()
            .find(|topic| topic.name() == name)
            .map(|topic| topic.partitions().len())
    };
    for topic in ["parcels.advance", "parcels.decisions", "parcels.rejected"] {
        assert_eq!(partitions(topic), Some(3), "{topic}");
    }
    for topic in ["lists.watchlist", "lists.known-shippers"] {
        assert_eq!(partitions(topic), Some(1), "{topic}");
    }
    // It serves until killed.
    assert!(broker.0.try_wait().expect("status").is_none());
}

#[test]
fn a_partition_count_below_one_is_refused_naming_the_flag() {
    let output = Command::new(BINARY)
        .args(["mock-broker", "--partitions", "0"])
        .current_dir(workspace_root())
        .output()
        .expect("loadtest runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--partitions"), "{stderr}");
    assert!(output.stdout.is_empty(), "no address printed");
}
