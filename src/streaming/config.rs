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
    /// slows consumption instead of growing queues.
    pub max_in_flight: usize,
    /// Screening worker threads; 0 means one per core.
    pub workers: usize,
    /// Consumer session timeout: how long a dead instance keeps its partitions.
    pub session_timeout_ms: u32,
    /// How often stored offsets are committed (librdkafka's auto-commit of stored offsets).
    pub commit_interval_ms: u32,
    /// Longest a fetch waits for data at the broker: bounds the latency added when the feed
    /// is quiet (librdkafka's default of 500 ms would add up to half a second).
    pub fetch_wait_max_ms: u32,
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
            max_in_flight: 10_000,
            workers: 0,
            session_timeout_ms: 10_000,
            commit_interval_ms: 1_000,
            fetch_wait_max_ms: 10,
            client_properties: BTreeMap::new(),
            pass_through: false,
        }
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
