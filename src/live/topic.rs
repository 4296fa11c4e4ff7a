//! Reading a compacted list topic (`lists.watchlist`, `lists.known-shippers`): every
//! partition from the beginning, first up to the end ("catch up"), then following.
//!
//! A record's key is the entry's id and its value the entry as JSON; a null value (a
//! tombstone) deletes the entry. The reader only hands out [`TopicChange`]s in offset order
//! per partition; what they mean is the caller's business.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::streaming::config::KafkaConfig;

/// One record of a list topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicChange {
    pub partition: i32,
    pub offset: i64,
    /// The entry id (lossy UTF-8 of the record key; an empty key is kept and reported by the
    /// caller as a problem).
    pub key: String,
    /// The entry as JSON; `None` deletes it.
    pub value: Option<Vec<u8>>,
}

#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("cannot create a Kafka client for {topic}: {source}")]
    Client {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("cannot read the metadata of topic {topic}: {source}")]
    Metadata {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error(
        "topic {topic} does not exist: create it (compacted) or set lists.follow_topics = false"
    )]
    Missing { topic: String },
    #[error("cannot assign topic {topic}: {source}")]
    Assign {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("timed out after {waited:?} catching up with topic {topic} ({read} records read)")]
    CatchUpTimeout {
        topic: String,
        waited: Duration,
        read: u64,
    },
}

/// A reader of one list topic, assigned (not subscribed: every instance reads every
/// partition, no consumer group is joined and nothing is committed).
pub struct ListTopicReader {
    consumer: BaseConsumer,
    topic: String,
    partitions: Vec<i32>,
    /// The next offset to read per partition (the last record handed out + 1).
    positions: HashMap<i32, i64>,
}

/// Longest a list-topic fetch waits at the broker for data.
const LIST_FETCH_WAIT_MS: u32 = 200;

/// How long one metadata or watermark request may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

impl ListTopicReader {
    /// Opens `topic` and positions every partition at its beginning.
    pub fn open(settings: &KafkaConfig, topic: &str) -> Result<Self, TopicError> {
        let consumer: BaseConsumer =
            reader_config(settings)
                .create()
                .map_err(|source| TopicError::Client {
                    topic: topic.to_string(),
                    source,
                })?;
        let metadata = consumer
            .fetch_metadata(Some(topic), METADATA_TIMEOUT)
            .map_err(|source| TopicError::Metadata {
                topic: topic.to_string(),
                source,
            })?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|described| described.name() == topic && described.error().is_none())
            .flat_map(|described| described.partitions().iter().map(|p| p.id()))
            .collect();
        if partitions.is_empty() {
            return Err(TopicError::Missing {
                topic: topic.to_string(),
            });
        }
        let mut assignment = TopicPartitionList::new();
        for partition in &partitions {
            assignment
                .add_partition_offset(topic, *partition, Offset::Beginning)
                .map_err(|source| TopicError::Assign {
                    topic: topic.to_string(),
                    source,
                })?;
        }
        consumer
            .assign(&assignment)
            .map_err(|source| TopicError::Assign {
                topic: topic.to_string(),
                source,
            })?;
        Ok(ListTopicReader {
            consumer,
            topic: topic.to_string(),
            positions: partitions.iter().map(|p| (*p, 0)).collect(),
            partitions,
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The next offset to be read per partition.
    pub fn positions(&self) -> &HashMap<i32, i64> {
        &self.positions
    }

    /// Reads everything the topic held when called. The end is each partition's high
    /// watermark at the start; then reading goes on until the topic has been quiet for
    /// `quiet` (some brokers report a watermark behind what a fetch returns).
    pub fn catch_up(
        &mut self,
        time_limit: Duration,
        quiet: Duration,
    ) -> Result<Vec<TopicChange>, TopicError> {
        let started = Instant::now();
        let mut ends: HashMap<i32, i64> = HashMap::new();
        for partition in &self.partitions {
            let (_, high) = self
                .consumer
                .fetch_watermarks(&self.topic, *partition, METADATA_TIMEOUT)
                .map_err(|source| TopicError::Metadata {
                    topic: self.topic.clone(),
                    source,
                })?;
            ends.insert(*partition, high);
        }
        let mut changes = Vec::new();
        let mut quiet_since = Instant::now();
        loop {
            let reached_ends = ends.iter().all(|(partition, end)| {
                self.positions.get(partition).copied().unwrap_or(0) >= *end
            });
            if reached_ends && quiet_since.elapsed() >= quiet {
                return Ok(changes);
            }
            if started.elapsed() > time_limit {
                return Err(TopicError::CatchUpTimeout {
                    topic: self.topic.clone(),
                    waited: started.elapsed(),
                    read: changes.len() as u64,
                });
            }
            let batch = self.poll(Duration::from_millis(50), Duration::from_millis(50));
            if !batch.is_empty() {
                quiet_since = Instant::now();
                changes.extend(batch);
            }
        }
    }

    /// Waits up to `first_wait` for a record, then takes whatever else arrives within
    /// `gather` of the first (so a burst of updates is applied as one).
    pub fn poll(&mut self, first_wait: Duration, gather: Duration) -> Vec<TopicChange> {
        let mut changes = Vec::new();
        let Some(first) = self.poll_one(first_wait) else {
            return changes;
        };
        changes.push(first);
        let gathering_until = Instant::now() + gather;
        while let Some(remaining) = gathering_until.checked_duration_since(Instant::now()) {
            match self.poll_one(remaining) {
                Some(change) => changes.push(change),
                None => break,
            }
        }
        changes
    }

    /// Waits up to `wait` for the next record.
    ///
    /// Polls without blocking and sleeps [`POLL_PAUSE`] whenever nothing is queued, instead
    /// of a blocking `poll(wait)`: rdkafka truncates the wait it hands librdkafka to whole
    /// milliseconds, and librdkafka's wait ends up to a millisecond before rdkafka's own
    /// deadline, so every blocking poll that times out ended in a busy loop of zero-wait
    /// polls (about 0.8 ms of CPU per 50 ms wait: 2% of a core for an idle follower,
    /// measured with `strace` and `perf`).
    fn poll_one(&mut self, wait: Duration) -> Option<TopicChange> {
        let deadline = Instant::now() + wait;
        loop {
            match self.consumer.poll(Duration::ZERO) {
                Some(Ok(message)) => {
                    let change = TopicChange {
                        partition: message.partition(),
                        offset: message.offset(),
                        key: String::from_utf8_lossy(message.key().unwrap_or_default())
                            .into_owned(),
                        value: message.payload().map(<[u8]>::to_vec),
                    };
                    self.positions.insert(change.partition, change.offset + 1);
                    return Some(change);
                }
                Some(Err(error)) => {
                    tracing::debug!(%error, topic = %self.topic, "list topic read error");
                }
                None => {}
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return None;
            }
            std::thread::sleep(remaining.min(POLL_PAUSE));
        }
    }
}

/// How long [`ListTopicReader::poll_one`] sleeps when nothing is queued: list updates have a
/// second to take effect (SPEC §7), and the consumer keeps fetching in the background
/// meanwhile.
const POLL_PAUSE: Duration = Duration::from_millis(10);

fn reader_config(settings: &KafkaConfig) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.brokers)
        // Manual assignment; the group id is never joined or committed to.
        .set("group.id", format!("{}-lists", settings.group_id))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        // Only committed list updates (a transactional publisher's aborted writes are
        // never applied).
        .set("isolation.level", "read_committed")
        // List updates are rare and have a second to take effect: a longer wait than the
        // pipeline's spares the broker a fetch every few milliseconds per instance.
        .set(
            "fetch.wait.max.ms",
            settings
                .fetch_wait_max_ms
                .max(LIST_FETCH_WAIT_MS)
                .to_string(),
        );
    for (key, value) in &settings.client_properties {
        config.set(key, value);
    }
    config
}
