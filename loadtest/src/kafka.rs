//! The Kafka side: creating topics, producing the feed with delivery positions, and reading
//! the output topics by manual assignment (no consumer group, so no join delay).

use anyhow::{bail, Context};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Message, Timestamp};
use rdkafka::producer::{DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::ClientContext;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::collect::Collector;
use crate::now_us;

/// Creates `topics` (name, partitions) with replication 1, and the screener's list topics
/// `compacted` (one partition each, `cleanup.policy=compact`). An existing topic is
/// reported, not an error.
pub fn create_topics(
    brokers: &str,
    topics: &[(String, i32)],
    compacted: &[String],
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .context("cannot create the admin client")?;
    let mut new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(1)))
        .collect();
    new_topics.extend(compacted.iter().map(|name| {
        NewTopic::new(name, 1, TopicReplication::Fixed(1)).set("cleanup.policy", "compact")
    }));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = runtime
        .block_on(admin.create_topics(&new_topics, &options))
        .context("CreateTopics failed")?;
    for result in results {
        match result {
            Ok(name) => {
                let partitions = topics
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or(1, |(_, p)| *p);
                eprintln!("created topic {name} ({partitions} partitions)");
            }
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                eprintln!("topic {name} already exists (left as it is)");
            }
            Err((name, code)) => bail!("cannot create topic {name}: {code}"),
        }
    }
    Ok(())
}

/// Partitions of each topic, from the broker's metadata; fails if a topic does not exist.
pub fn partition_counts(brokers: &str, topics: &[&str]) -> anyhow::Result<Vec<i32>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("allow.auto.create.topics", "false")
        .create()
        .context("cannot create a metadata client")?;
    let mut counts = Vec::with_capacity(topics.len());
    for topic in topics {
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .with_context(|| format!("cannot read the metadata of {topic} at {brokers}"))?;
        let partitions = metadata
            .topics()
            .iter()
            .find(|t| t.name() == *topic && t.error().is_none())
            .map_or(0, |t| t.partitions().len());
        if partitions == 0 {
            bail!("topic {topic} does not exist at {brokers}: create it first (loadtest create-topics)");
        }
        counts.push(partitions as i32);
    }
    Ok(counts)
}

/// Delivery status of one report.
const PENDING: u8 = 0;
const DELIVERED: u8 = 1;
const FAILED: u8 = 2;

/// Where each report landed, filled in by delivery callbacks (any thread).
#[derive(Debug)]
pub struct Deliveries {
    status: Vec<AtomicU8>,
    partition: Vec<AtomicI32>,
    offset: Vec<AtomicI64>,
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

impl Deliveries {
    pub fn new(reports: usize) -> Self {
        Deliveries {
            status: (0..reports).map(|_| AtomicU8::new(PENDING)).collect(),
            partition: (0..reports).map(|_| AtomicI32::new(-1)).collect(),
            offset: (0..reports).map(|_| AtomicI64::new(-1)).collect(),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            first_error: std::sync::Mutex::new(None),
        }
    }

    /// (partition, offset) of a delivered report.
    pub fn position(&self, index: usize) -> Option<(i32, i64)> {
        (self.status.get(index)?.load(Ordering::Acquire) == DELIVERED).then(|| {
            (
                self.partition[index].load(Ordering::Relaxed),
                self.offset[index].load(Ordering::Relaxed),
            )
        })
    }

    pub fn first_error(&self) -> Option<String> {
        self.first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn record(&self, index: usize, result: &DeliveryResult<'_>) {
        if index >= self.status.len() {
            return;
        }
        match result {
            Ok(message) => {
                self.partition[index].store(message.partition(), Ordering::Relaxed);
                self.offset[index].store(message.offset(), Ordering::Relaxed);
                self.status[index].store(DELIVERED, Ordering::Release);
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => {
                self.status[index].store(FAILED, Ordering::Release);
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
                first.get_or_insert_with(|| error.to_string());
            }
        }
    }
}

/// Producer context: records each report's delivery by its index (the delivery opaque).
pub struct DeliveryContext {
    pub deliveries: Arc<Deliveries>,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, index: usize) {
        self.deliveries.record(index, result);
    }
}

pub type FeedProducer = ThreadedProducer<DeliveryContext>;

/// A producer as a courier's client would configure one (acks=all, idempotent, so a
/// partition's order is the send order), batching for `linger_ms`.
pub fn producer(
    brokers: &str,
    compression: &str,
    linger_ms: u32,
    deliveries: Arc<Deliveries>,
) -> anyhow::Result<FeedProducer> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", linger_ms.to_string())
        .set("compression.type", compression)
        .set("queue.buffering.max.messages", "200000")
        .set("message.timeout.ms", "120000")
        .create_with_context(DeliveryContext { deliveries })
        .context("cannot create the producer")
}

/// Is this a "local queue full" error (wait and retry)?
pub fn is_queue_full(error: &KafkaError) -> bool {
    matches!(
        error,
        KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
    )
}

/// Progress of the output reader, for the driver.
#[derive(Debug, Default)]
pub struct ReaderProgress {
    /// Awaited outputs read (each once).
    pub matched: AtomicU64,
    /// Messages read on the decisions and rejected topics.
    pub decisions_read: AtomicU64,
    pub rejections_read: AtomicU64,
    pub stop: AtomicBool,
}

/// Reads the decisions and rejected topics (every partition, from the beginning) on a thread
/// of its own, into `collector`, until told to stop. Messages timestamped before
/// `since_ms` were left by an earlier run and are ignored.
pub fn spawn_reader(
    brokers: &str,
    topics: &[(String, i32); 2],
    mut collector: Collector,
    since_ms: i64,
    progress: Arc<ReaderProgress>,
    read_committed: bool,
    fetch_wait_ms: u32,
) -> anyhow::Result<JoinHandle<Collector>> {
    let isolation = if read_committed {
        "read_committed"
    } else {
        "read_uncommitted"
    };
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("isolation.level", isolation)
        .set(
            "group.id",
            format!("loadtest-reader-{}", std::process::id()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", fetch_wait_ms.to_string())
        .set("auto.offset.reset", "earliest")
        .create()
        .context("cannot create the output reader")?;
    let mut assignment = TopicPartitionList::new();
    for (topic, partitions) in topics {
        for partition in 0..*partitions {
            assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
        }
    }
    consumer.assign(&assignment)?;
    let decisions_topic = topics[0].0.clone();
    let handle = std::thread::Builder::new()
        .name("loadtest-reader".to_string())
        .spawn(move || {
            while !progress.stop.load(Ordering::Relaxed) {
                let Some(result) = consumer.poll(Duration::from_millis(50)) else {
                    continue;
                };
                let message = match result {
                    Ok(message) => message,
                    Err(error) => {
                        eprintln!("reader: {error}");
                        continue;
                    }
                };
                let read_us = now_us();
                let stale = match message.timestamp() {
                    Timestamp::CreateTime(ms) | Timestamp::LogAppendTime(ms) => {
                        ms > 0 && ms < since_ms
                    }
                    Timestamp::NotAvailable => false,
                };
                let payload = message.payload().unwrap_or_default();
                if stale {
                    collector.stale();
                } else if message.topic() == decisions_topic {
                    collector.decision(payload, read_us);
                    progress.decisions_read.fetch_add(1, Ordering::Relaxed);
                } else {
                    collector.rejection(payload, read_us);
                    progress.rejections_read.fetch_add(1, Ordering::Relaxed);
                }
                progress
                    .matched
                    .store(collector.matched(), Ordering::Relaxed);
            }
            collector
        })
        .context("cannot start the reader thread")?;
    Ok(handle)
}
