//! Rebuilding a partition's dedup state after a (re)assignment, so that a restart or a
//! rebalance neither re-releases duplicates nor changes a redelivered record's decision.
//!
//! The state is a pure function of the partition's records and their Kafka timestamps, so it
//! is rebuilt by replaying the partition's input from the start of the dedup window up to the
//! first offset this instance will process, through the deduplicator only (nothing is
//! screened or published). The result is the state the previous owner had at that offset.
//! No changelog topic is needed, and nothing can disagree with the input.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::time::{Duration, Instant};

use screener_engine::dedup::{DedupConfig, Deduplicator};
use screener_engine::record::{parse_record, ParseLimits};

use super::config::KafkaConfig;

/// Longest a rebuild may take before the partition starts with what was rebuilt so far (the
/// rest of the window is then treated as unseen: at worst a duplicate gets a decision again).
const REBUILD_TIME_LIMIT: Duration = Duration::from_secs(120);

/// What a rebuild did, for the log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RebuildReport {
    pub replayed: u64,
    pub keys: usize,
    pub complete: bool,
}

/// Replays `partition` of the input topic from the start of the dedup window (measured back
/// from `until_timestamp_ms`) up to, not including, `until_offset`, into a new deduplicator.
pub fn rebuild_partition(
    settings: &KafkaConfig,
    limits: &ParseLimits,
    dedup: &DedupConfig,
    partition: i32,
    until_offset: i64,
    until_timestamp_ms: i64,
) -> (Deduplicator, RebuildReport) {
    let mut deduplicator = Deduplicator::new(dedup.clone());
    let window = ReplayWindow {
        partition,
        until_offset,
        until_timestamp_ms,
        window: dedup.window,
    };
    let mut report = replay_window(settings, &window, |_offset, payload, timestamp_ms| {
        if let Ok(record) = parse_record(payload, limits) {
            deduplicator.observe(&record.parcel_key(), &record, timestamp_ms);
        }
    });
    report.keys = deduplicator.len();
    (deduplicator, report)
}

/// A stretch of one input partition: the dedup window before a position.
#[derive(Debug, Clone, Copy)]
pub struct ReplayWindow {
    pub partition: i32,
    /// The first offset not replayed.
    pub until_offset: i64,
    /// The time the window is measured back from (the Kafka timestamp at `until_offset`).
    pub until_timestamp_ms: i64,
    pub window: Duration,
}

/// Reads the records of `window` in offset order and hands each to `visit` (offset, payload,
/// Kafka timestamp in ms). Gives up after [`REBUILD_TIME_LIMIT`] (the report says whether the
/// replay was complete).
pub fn replay_window(
    settings: &KafkaConfig,
    window: &ReplayWindow,
    mut visit: impl FnMut(i64, &[u8], i64),
) -> RebuildReport {
    let mut report = RebuildReport::default();
    let ReplayWindow {
        partition,
        until_offset,
        ..
    } = *window;
    if until_offset <= 0 {
        report.complete = true;
        return report;
    }
    let topic = settings.topics.advance.as_str();
    let consumer: BaseConsumer = match replay_config(settings).create() {
        Ok(consumer) => consumer,
        Err(error) => {
            tracing::warn!(%error, partition, "cannot create a replay consumer");
            return report;
        }
    };
    let window_ms = i64::try_from(window.window.as_millis()).unwrap_or(i64::MAX);
    let start = start_offset(
        &consumer,
        topic,
        partition,
        window.until_timestamp_ms.saturating_sub(window_ms),
    );
    let mut assignment = TopicPartitionList::new();
    if assignment
        .add_partition_offset(topic, partition, start)
        .is_err()
        || consumer.assign(&assignment).is_err()
    {
        tracing::warn!(partition, "cannot assign the partition for a replay");
        return report;
    }
    let started = Instant::now();
    while started.elapsed() < REBUILD_TIME_LIMIT {
        let Some(result) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = match result {
            Ok(message) => message,
            Err(error) => {
                tracing::debug!(%error, partition, "replay read error");
                continue;
            }
        };
        if message.offset() >= until_offset {
            report.complete = true;
            break;
        }
        report.replayed += 1;
        let timestamp_ms = message.timestamp().to_millis().unwrap_or(0);
        visit(
            message.offset(),
            message.payload().unwrap_or_default(),
            timestamp_ms,
        );
        if message.offset() + 1 >= until_offset {
            report.complete = true;
            break;
        }
    }
    report
}

/// The first offset whose timestamp is inside the window, or the beginning.
fn start_offset(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
    window_start_ms: i64,
) -> Offset {
    let mut query = TopicPartitionList::new();
    if query
        .add_partition_offset(topic, partition, Offset::Offset(window_start_ms.max(0)))
        .is_err()
    {
        return Offset::Beginning;
    }
    match consumer.offsets_for_times(query, Duration::from_secs(10)) {
        Ok(found) => match found
            .find_partition(topic, partition)
            .map(|element| element.offset())
        {
            Some(Offset::Offset(offset)) => Offset::Offset(offset),
            _ => Offset::Beginning,
        },
        Err(_) => Offset::Beginning,
    }
}

fn replay_config(settings: &KafkaConfig) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.brokers)
        // Manual assignment; the group id is never joined or committed to.
        .set("group.id", format!("{}-dedup-rebuild", settings.group_id))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", settings.fetch_wait_max_ms.to_string());
    for (key, value) in &settings.client_properties {
        config.set(key, value);
    }
    config
}
