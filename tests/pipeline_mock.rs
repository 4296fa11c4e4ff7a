//! The streaming pipeline against librdkafka's in-process mock broker: every sample record
//! is accounted for (decided, suppressed as a duplicate, or rejected), decisions and the
//! rejection land on their topics, and a restart with the same group does not re-read
//! committed records.

mod common;

use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::read_topic;

use parcel_screener::config::Config;
use parcel_screener::streaming::config::KafkaConfig;
use parcel_screener::streaming::mock_broker::MockBroker;
use parcel_screener::streaming::rejected::RejectedRecord;
use parcel_screener::streaming::{run_pipeline, PipelineStats, StatsSnapshot};

fn samples() -> Vec<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/samples/parcels.jsonl");
    std::fs::read(path)
        .expect("sample parcels")
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// Runs the pipeline until `expected` outcomes are acknowledged (or 60 s pass).
async fn run_until_acknowledged(settings: &KafkaConfig, expected: u64) -> StatsSnapshot {
    let config = Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/screener.toml"))
        .expect("bundled config");
    let (screener, _) = parcel_screener::engine::build_screener(&config).expect("engine");
    let stats = Arc::new(PipelineStats::default());
    let watched = stats.clone();
    let done = async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while watched.snapshot().acknowledged < expected && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Let the auto-commit of stored offsets happen at least once.
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    run_pipeline(
        settings,
        config.limits.clone(),
        config.dedup.clone(),
        Arc::new(parcel_screener::live::LiveScreener::new(screener)),
        stats.clone(),
        done,
    )
    .await
    .expect("pipeline runs");
    stats.snapshot()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_is_accounted_for_and_committed() {
    let broker = MockBroker::start(&[
        ("parcels.advance", 4),
        ("parcels.decisions", 4),
        ("parcels.rejected", 1),
    ])
    .expect("mock broker");
    let brokers = broker.bootstrap_servers().to_string();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("producer");
    let lines = samples();
    for line in &lines {
        // Key by parcel key, as producers should, so that reports of one parcel share a partition.
        let key = serde_json::from_slice::<serde_json::Value>(line)
            .ok()
            .and_then(|v| {
                Some(format!(
                    "{}:{}",
                    v["carrier"].as_str()?,
                    v["house_bill"].as_str()?
                ))
            })
            .unwrap_or_default();
        producer
            .send(
                FutureRecord::to("parcels.advance").key(&key).payload(line),
                Duration::from_secs(5),
            )
            .await
            .expect("produce");
    }
    let settings = KafkaConfig {
        brokers: brokers.clone(),
        session_timeout_ms: 6_000,
        commit_interval_ms: 100,
        ..KafkaConfig::default()
    };

    let stats = run_until_acknowledged(&settings, lines.len() as u64).await;
    assert_eq!(stats.received, 16);
    assert_eq!(stats.acknowledged, 16);
    assert_eq!(
        (stats.decided(), stats.duplicates, stats.rejected),
        (14, 1, 1),
        "{stats:?}"
    );

    let decisions = read_topic(&brokers, "parcels.decisions", 14, Duration::ZERO).await;
    assert_eq!(decisions.len(), 14);
    for (key, payload) in &decisions {
        let decision: serde_json::Value = serde_json::from_slice(payload).expect("decision JSON");
        assert_eq!(
            key.as_deref(),
            decision["parcel_key"].as_str().map(str::as_bytes),
            "keyed by parcel key"
        );
    }
    let rejected = read_topic(&brokers, "parcels.rejected", 1, Duration::ZERO).await;
    let envelope: RejectedRecord = serde_json::from_slice(&rejected[0].1).expect("envelope");
    assert_eq!(envelope.error, "invalid_fields");
    assert_eq!(envelope.fields[0].path, "consignee.address.country");
    assert_eq!(
        envelope.original().expect("base64"),
        lines[14],
        "the original bytes, intact"
    );

    // Same group again, after one new record: only the new one is read, because everything
    // before it was committed.
    let mut new_record: serde_json::Value = serde_json::from_slice(&lines[0]).expect("sample JSON");
    new_record["house_bill"] = "2000000001".into();
    new_record["record_id"] = "AFTER-RESTART".into();
    let payload = serde_json::to_vec(&new_record).expect("JSON");
    producer
        .send(
            FutureRecord::to("parcels.advance")
                .key("DHL:2000000001")
                .payload(&payload),
            Duration::from_secs(5),
        )
        .await
        .expect("produce");
    let again = run_until_acknowledged(&settings, 1).await;
    assert_eq!(
        (again.received, again.released),
        (1, 1),
        "only the new record is read: {again:?}"
    );
    drop(broker);
}
