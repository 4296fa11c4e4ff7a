//! librdkafka statistics (`statistics.interval.ms`) as metrics: consumer lag per partition
//! (librdkafka's own `consumer_lag`, not recomputed from watermarks), producer queue depth,
//! average broker round-trip time; and brokers seen up, for readiness.

use rdkafka::statistics::Statistics;
use std::collections::HashSet;

use super::{Metrics, Readiness};

/// librdkafka's statistics interval unless `kafka.client_properties` sets
/// `statistics.interval.ms`.
pub const DEFAULT_STATISTICS_INTERVAL_MS: u64 = 2_000;

/// Which client the statistics come from (the `client` label of broker metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    Consumer,
    Producer,
}

impl ClientKind {
    fn as_str(self) -> &'static str {
        match self {
            ClientKind::Consumer => "consumer",
            ClientKind::Producer => "producer",
        }
    }
}

impl Metrics {
    /// Applies one statistics report of the pipeline's consumer (lag of `input_topic`'s
    /// partitions) or producer (queue depth), and the broker round-trip times of either.
    pub fn record_statistics(
        &self,
        client: ClientKind,
        statistics: &Statistics,
        input_topic: &str,
        readiness: &Readiness,
    ) {
        let mut any_up = false;
        for broker in statistics.brokers.values() {
            // Bootstrap and internal handles have no node id.
            if broker.nodeid < 0 {
                continue;
            }
            any_up |= broker.state == "UP";
            if let Some(rtt) = broker.rtt.as_ref().filter(|window| window.cnt > 0) {
                self.broker_rtt
                    .with_label_values(&[client.as_str(), broker.name.as_str()])
                    .set(rtt.avg as f64 / 1e6);
            }
        }
        if any_up {
            readiness.broker_seen_up();
        }
        match client {
            ClientKind::Producer => self.producer_queue_messages.set(statistics.msg_cnt as i64),
            ClientKind::Consumer => self.record_lag(statistics, input_topic),
        }
    }

    fn record_lag(&self, statistics: &Statistics, input_topic: &str) {
        let mut present = HashSet::new();
        if let Some(topic) = statistics.topics.get(input_topic) {
            for partition in topic.partitions.values() {
                // Partition -1 is librdkafka's internal "unassigned" queue; a negative lag
                // means unknown (not assigned, or no committed offset yet).
                if partition.partition < 0 || partition.consumer_lag < 0 {
                    continue;
                }
                let labels = (input_topic.to_string(), partition.partition.to_string());
                self.consumer_lag
                    .with_label_values(&[labels.0.as_str(), labels.1.as_str()])
                    .set(partition.consumer_lag);
                present.insert(labels);
            }
        }
        let mut previous = self.lag_series.lock().unwrap_or_else(|p| p.into_inner());
        for (topic, partition) in previous.difference(&present) {
            // Revoked partitions: their lag is another instance's now.
            let _ = self
                .consumer_lag
                .remove_label_values(&[topic.as_str(), partition.as_str()]);
        }
        *previous = present;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::statistics::{Broker, Partition, Topic, Window};

    fn statistics(lags: &[(i32, i64)], broker_state: &str) -> Statistics {
        let mut statistics = Statistics {
            msg_cnt: 42,
            ..Statistics::default()
        };
        statistics.brokers.insert(
            "127.0.0.1:9092/1".to_string(),
            Broker {
                name: "127.0.0.1:9092/1".to_string(),
                nodeid: 1,
                state: broker_state.to_string(),
                rtt: Some(Window {
                    avg: 1500,
                    cnt: 3,
                    ..Window::default()
                }),
                ..Broker::default()
            },
        );
        let mut topic = Topic::default();
        for (partition, lag) in lags {
            topic.partitions.insert(
                *partition,
                Partition {
                    partition: *partition,
                    consumer_lag: *lag,
                    ..Partition::default()
                },
            );
        }
        statistics.topics.insert("in".to_string(), topic);
        statistics
    }

    #[test]
    fn consumer_lag_follows_assigned_partitions() {
        let metrics = Metrics::new();
        let readiness = Readiness::new();
        metrics.record_statistics(
            ClientKind::Consumer,
            &statistics(&[(-1, 0), (0, 5), (1, 7), (2, -1)], "UP"),
            "in",
            &readiness,
        );
        let text = metrics.render();
        assert!(
            text.contains(r#"screener_consumer_lag_messages{partition="0",topic="in"} 5"#),
            "{text}"
        );
        assert!(
            text.contains(r#"screener_consumer_lag_messages{partition="1",topic="in"} 7"#),
            "{text}"
        );
        assert!(
            !text.contains(r#"partition="2""#) && !text.contains(r#"partition="-1""#),
            "{text}"
        );
        assert!(
            text.contains(r#"screener_kafka_broker_rtt_seconds{broker="127.0.0.1:9092/1",client="consumer"} 0.0015"#),
            "{text}"
        );
        // Partition 1 revoked.
        metrics.record_statistics(
            ClientKind::Consumer,
            &statistics(&[(0, 2)], "UP"),
            "in",
            &readiness,
        );
        let text = metrics.render();
        assert!(
            text.contains(r#"screener_consumer_lag_messages{partition="0",topic="in"} 2"#),
            "{text}"
        );
        assert!(!text.contains(r#"partition="1""#), "{text}");
    }

    #[test]
    fn producer_queue_depth_and_broker_up() {
        let metrics = Metrics::new();
        let readiness = Readiness::new();
        readiness.pipeline_started(std::time::Duration::from_secs(1));
        metrics.record_statistics(
            ClientKind::Producer,
            &statistics(&[], "DOWN"),
            "in",
            &readiness,
        );
        assert_eq!(metrics.producer_queue_messages.get(), 42);
        assert!(!readiness.report().broker.ok);
        metrics.record_statistics(
            ClientKind::Producer,
            &statistics(&[], "UP"),
            "in",
            &readiness,
        );
        assert!(readiness.report().broker.ok);
    }
}
