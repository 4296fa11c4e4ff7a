//! `[kafka]` configuration: brokers, topics, group, in-flight bound, and librdkafka
//! properties passed through (TLS/SASL and tuning).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap servers, `HOST:PORT[,HOST:PORT…]`.
    pub brokers: String,
    /// Consumer group shared by every instance.
    pub group_id: String,
    pub topics: TopicsConfig,
    /// Most records read but not yet acknowledged downstream. Bounds memory: a slow broker
    /// slows consumption instead of growing queues. A record is acknowledged once its
    /// decision is (so this also bounds what a crash makes the group read again); at the
    /// broker's acknowledgement latency, it caps throughput at `max_in_flight` / latency:
    /// 10,000 capped the load test at ~72k reports/s on Tansu (BENCHMARKS.md, backlog), and
    /// 60,000 ran it ~6% faster than 30,000 (8 of 9 interleaved pairs, "The in-flight
    /// window").
    pub max_in_flight: usize,
    /// Most bytes (keys and payloads as read) of the records in flight: with
    /// `max_in_flight`, bounds the memory they hold whatever their size (60,000 records of
    /// the 256 KiB `limits.max_record_bytes` would be 15 GiB).
    pub max_in_flight_bytes: u64,
    /// Screening worker threads; 0 means one per core.
    pub workers: usize,
    /// Consumer session timeout: how long a dead instance keeps its partitions.
    pub session_timeout_ms: u32,
    /// How often stored offsets are committed (librdkafka's auto-commit of stored offsets).
    pub commit_interval_ms: u32,
    /// Longest a fetch waits for data at the broker: bounds the latency added when the feed
    /// is quiet (librdkafka's default of 500 ms would add up to half a second).
    pub fetch_wait_max_ms: u32,
    /// How long the producer gathers decisions into a batch before sending (librdkafka's
    /// `linger.ms`, 0–900,000). 5 favours batching; 0 sends at once and takes up to 5 ms
    /// off each decision's latency, for more produce requests (BENCHMARKS.md, "Latency on
    /// librdkafka's mock broker").
    pub linger_ms: u32,
    /// `at-least-once` (default): an input offset is committed once its decision is
    /// acknowledged; a crash may publish a decision twice (identical apart from timing
    /// fields). `exactly-once`: decisions and input offsets are committed together in Kafka
    /// transactions, so consumers reading with `isolation.level=read_committed` see each
    /// decision once.
    pub delivery: DeliveryGuarantee,
    /// With `exactly-once`: the producer's `transactional.id`, unique per instance and
    /// stable across its restarts (so a restarted instance fences its previous self).
    /// Default: `<group_id>-<host name>`.
    pub transactional_id: Option<String>,
    /// With `exactly-once`: how often the open transaction is committed. Decisions become
    /// visible to read-committed consumers at each commit, so this adds up to its length to
    /// their latency; shorter commits more often.
    pub transaction_interval_ms: u32,
    /// Extra librdkafka properties for every client (e.g. `security.protocol`,
    /// `sasl.mechanism`, `ssl.ca.location`); they win over the screener's own settings.
    pub client_properties: BTreeMap<String, String>,
    /// Benchmark baseline: copy each input record to the decisions topic unchanged, with no
    /// parsing, dedup or screening (`run --pass-through`). Not a config key.
    #[serde(skip)]
    pub pass_through: bool,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".to_string(),
            group_id: "parcel-screener".to_string(),
            topics: TopicsConfig::default(),
            max_in_flight: 60_000,
            max_in_flight_bytes: 128 * 1024 * 1024,
            workers: 0,
            session_timeout_ms: 10_000,
            commit_interval_ms: 1_000,
            fetch_wait_max_ms: 10,
            linger_ms: 5,
            delivery: DeliveryGuarantee::AtLeastOnce,
            transactional_id: None,
            transaction_interval_ms: 100,
            client_properties: BTreeMap::new(),
            pass_through: false,
        }
    }
}

/// `kafka.delivery`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryGuarantee {
    AtLeastOnce,
    ExactlyOnce,
}

impl KafkaConfig {
    pub fn exactly_once(&self) -> bool {
        self.delivery == DeliveryGuarantee::ExactlyOnce
    }

    /// The `transactional.id` for `exactly-once`.
    pub fn effective_transactional_id(&self) -> String {
        if let Some(id) = &self.transactional_id {
            return id.clone();
        }
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|name| !name.trim().is_empty())
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|name| name.trim().to_string())
            })
            .unwrap_or_else(|| "localhost".to_string());
        format!("{}-{host}", self.group_id)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicsConfig {
    /// Parcel records in.
    pub advance: String,
    /// Decision records out.
    pub decisions: String,
    /// Rejected records out (original bytes, error, source offset).
    pub rejected: String,
    /// Compacted watch-list topic.
    pub watchlist: String,
    /// Compacted known-shipper topic.
    pub known_shippers: String,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig {
            advance: "parcels.advance".to_string(),
            decisions: "parcels.decisions".to_string(),
            rejected: "parcels.rejected".to_string(),
            watchlist: "lists.watchlist".to_string(),
            known_shippers: "lists.known-shippers".to_string(),
        }
    }
}

/// librdkafka's upper bound for `linger.ms`.
const MAX_LINGER_MS: u32 = 900_000;

impl KafkaConfig {
    /// Every problem with the values, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.brokers.trim().is_empty() {
            problems.push("kafka.brokers: must not be empty".to_string());
        }
        if self.group_id.trim().is_empty() {
            problems.push("kafka.group_id: must not be empty".to_string());
        }
        if self.max_in_flight == 0 {
            problems.push("kafka.max_in_flight: must be > 0".to_string());
        }
        if self.max_in_flight_bytes == 0 {
            problems.push("kafka.max_in_flight_bytes: must be > 0".to_string());
        }
        if self.linger_ms > MAX_LINGER_MS {
            problems.push(format!(
                "kafka.linger_ms: must be at most {MAX_LINGER_MS} (librdkafka's limit), not {}",
                self.linger_ms
            ));
        }
        let topics = [
            ("advance", &self.topics.advance),
            ("decisions", &self.topics.decisions),
            ("rejected", &self.topics.rejected),
            ("watchlist", &self.topics.watchlist),
            ("known_shippers", &self.topics.known_shippers),
        ];
        for (key, topic) in topics {
            if topic.trim().is_empty() {
                problems.push(format!("kafka.topics.{key}: must not be empty"));
            }
        }
        if self
            .transactional_id
            .as_ref()
            .is_some_and(|id| id.trim().is_empty())
        {
            problems.push("kafka.transactional_id: must not be empty when set".to_string());
        }
        if self.exactly_once() && self.transaction_interval_ms == 0 {
            problems.push("kafka.transaction_interval_ms: must be > 0".to_string());
        }
        problems
    }

    /// Worker threads to run: the configured number, or one per core.
    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            return self.workers;
        }
        std::thread::available_parallelism().map_or(2, |n| n.get())
    }
}
