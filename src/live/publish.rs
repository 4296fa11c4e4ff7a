//! Publishing lists to their topics: what `lists publish` and the enrollment API write.
//!
//! `lists publish` reads what the topic holds, diffs the new list against it and produces
//! only the changes: a new or changed entry as its JSON, a removed one as a tombstone. The
//! scope of deletions is what was published: publishing the OFAC SDN deletes SDN entries that
//! are gone, never entries of another list; publishing a known-shipper file makes the topic
//! hold exactly that file.

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use screener_engine::known_shippers::KnownShipper;
use screener_engine::lists::WatchEntry;

use super::topic::{ListTopicReader, TopicError};
use crate::streaming::config::KafkaConfig;

/// The changes that make a topic hold a new list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListDiff {
    /// Keys not in the topic, with their values.
    pub added: Vec<(String, Vec<u8>)>,
    /// Keys whose value changed, with the new values.
    pub updated: Vec<(String, Vec<u8>)>,
    /// Keys to delete (tombstones).
    pub deleted: Vec<String>,
    /// Keys already holding the same entry.
    pub unchanged: usize,
}

impl ListDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.updated.is_empty() && self.deleted.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Topic(#[from] TopicError),
    #[error("cannot create a Kafka producer: {0}")]
    Producer(#[source] KafkaError),
    #[error(
        "{failed} of {total} records were not acknowledged by the broker; first error: {first}"
    )]
    Delivery {
        failed: usize,
        total: usize,
        first: KafkaError,
    },
}

/// Reads a list topic to its end: the latest value of each key (tombstoned keys absent).
pub fn read_topic(
    settings: &KafkaConfig,
    topic: &str,
) -> Result<BTreeMap<String, Vec<u8>>, TopicError> {
    let mut reader = ListTopicReader::open(settings, topic)?;
    let changes = reader.catch_up(Duration::from_secs(120), Duration::from_millis(500))?;
    let mut latest = BTreeMap::new();
    for change in changes {
        match change.value {
            Some(value) => latest.insert(change.key, value),
            None => latest.remove(&change.key),
        };
    }
    Ok(latest)
}

/// The changes that make `lists.watchlist` hold `entries` for the lists they belong to.
/// A topic value that does not parse counts as changed (it is overwritten).
pub fn diff_watchlist(topic: &BTreeMap<String, Vec<u8>>, entries: &[WatchEntry]) -> ListDiff {
    let published_lists: BTreeSet<&str> = entries.iter().map(|entry| entry.list.as_str()).collect();
    let new: BTreeMap<String, &WatchEntry> =
        entries.iter().map(|entry| (entry.key(), entry)).collect();
    let mut diff = ListDiff::default();
    for (key, entry) in &new {
        // Serialising a plain struct of strings cannot fail.
        let value = serde_json::to_vec(entry).unwrap_or_default();
        match topic.get(key) {
            None => diff.added.push((key.clone(), value)),
            Some(held) => {
                let same = serde_json::from_slice::<WatchEntry>(held)
                    .is_ok_and(|held_entry| &held_entry == *entry);
                if same {
                    diff.unchanged += 1;
                } else {
                    diff.updated.push((key.clone(), value));
                }
            }
        }
    }
    for (key, held) in topic {
        if new.contains_key(key) {
            continue;
        }
        // The list a held key belongs to: from its value, or else from the key's prefix.
        let list = serde_json::from_slice::<WatchEntry>(held)
            .map(|entry| entry.list)
            .unwrap_or_else(|_| key.split(':').next().unwrap_or_default().to_string());
        if published_lists.contains(list.as_str()) {
            diff.deleted.push(key.clone());
        }
    }
    diff
}

/// The changes that make `lists.known-shippers` hold exactly `shippers`.
pub fn diff_known_shippers(
    topic: &BTreeMap<String, Vec<u8>>,
    shippers: &[KnownShipper],
) -> ListDiff {
    let new: BTreeMap<&str, &KnownShipper> = shippers
        .iter()
        .map(|shipper| (shipper.id.as_str(), shipper))
        .collect();
    let mut diff = ListDiff::default();
    for (id, shipper) in &new {
        let value = serde_json::to_vec(shipper).unwrap_or_default();
        match topic.get(*id) {
            None => diff.added.push((id.to_string(), value)),
            Some(held) => {
                let same = serde_json::from_slice::<KnownShipper>(held)
                    .is_ok_and(|held_shipper| &held_shipper == *shipper);
                if same {
                    diff.unchanged += 1;
                } else {
                    diff.updated.push((id.to_string(), value));
                }
            }
        }
    }
    diff.deleted = topic
        .keys()
        .filter(|id| !new.contains_key(id.as_str()))
        .cloned()
        .collect();
    diff
}

/// A producer for list topics: every write acknowledged by all in-sync replicas, idempotent.
pub fn list_producer(settings: &KafkaConfig) -> Result<FutureProducer, PublishError> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.brokers)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "30000");
    for (key, value) in &settings.client_properties {
        config.set(key, value);
    }
    config.create().map_err(PublishError::Producer)
}

/// Produces `diff` to `topic` and waits for every acknowledgement. Records of one key keep
/// their order (one key, one partition, idempotent producer).
pub async fn publish_diff(
    producer: &FutureProducer,
    topic: &str,
    diff: &ListDiff,
) -> Result<(), PublishError> {
    let mut deliveries = Vec::new();
    for (key, value) in diff.added.iter().chain(diff.updated.iter()) {
        let record = FutureRecord::to(topic)
            .key(key.as_str())
            .payload(value.as_slice());
        deliveries.push(producer.send(record, Duration::from_secs(30)));
    }
    for key in &diff.deleted {
        let record: FutureRecord<'_, str, [u8]> = FutureRecord::to(topic).key(key.as_str());
        deliveries.push(producer.send(record, Duration::from_secs(30)));
    }
    let total = deliveries.len();
    let mut failures: Vec<KafkaError> = Vec::new();
    for result in futures_util::future::join_all(deliveries).await {
        if let Err((error, _)) = result {
            failures.push(error);
        }
    }
    let _ = producer.flush(Duration::from_secs(30));
    let failed = failures.len();
    match failures.into_iter().next() {
        None => Ok(()),
        Some(first) => Err(PublishError::Delivery {
            failed,
            total,
            first,
        }),
    }
}

/// Produces one known shipper's new state, keyed by its id; returns where it landed.
pub async fn publish_known_shipper(
    producer: &FutureProducer,
    topic: &str,
    shipper: &KnownShipper,
) -> Result<(i32, i64), KafkaError> {
    let value = serde_json::to_vec(shipper).unwrap_or_default();
    let record = FutureRecord::to(topic)
        .key(shipper.id.as_str())
        .payload(value.as_slice());
    producer
        .send(record, Duration::from_secs(30))
        .await
        .map(|delivery| (delivery.partition, delivery.offset))
        .map_err(|(error, _)| error)
}
