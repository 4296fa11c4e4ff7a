//! librdkafka callbacks: drain and commit on revocation, note new assignments, statistics
//! into metrics, client errors into readiness.

use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::statistics::Statistics;
use rdkafka::ClientContext;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::metrics::kafka::ClientKind;
use crate::metrics::Readiness;

use super::{commit_stored_offsets, lock, PipelineStats, Shared};

/// How long a revocation waits for its partitions' in-flight records.
const REVOKE_DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Consumer callbacks: drain and commit on revocation, note new assignments, statistics
/// (lag, broker round-trip) into metrics.
pub(super) struct PipelineContext {
    pub(super) shared: Arc<Shared>,
}

impl ClientContext for PipelineContext {
    fn stats(&self, statistics: Statistics) {
        let stats = &self.shared.stats;
        stats.metrics.record_statistics(
            ClientKind::Consumer,
            &statistics,
            &self.shared.input_topic,
            &stats.readiness,
        );
    }

    fn error(&self, error: KafkaError, reason: &str) {
        client_error(&self.shared.stats.readiness, "consumer", error, reason);
    }
}

/// Producer callbacks: statistics (queue depth, broker round-trip) into metrics.
pub(super) struct ProducerStatsContext {
    /// Metrics and readiness the statistics and errors go to.
    pub(super) stats: Arc<PipelineStats>,
    /// The input topic, which `record_statistics` takes for the consumer's lag (a producer's
    /// statistics have none).
    pub(super) input_topic: String,
}

impl ClientContext for ProducerStatsContext {
    fn stats(&self, statistics: Statistics) {
        self.stats.metrics.record_statistics(
            ClientKind::Producer,
            &statistics,
            &self.input_topic,
            &self.stats.readiness,
        );
    }

    fn error(&self, error: KafkaError, reason: &str) {
        client_error(&self.stats.readiness, "producer", error, reason);
    }
}

/// Logs a client-level error (as librdkafka's default does) and notes what readiness needs.
fn client_error(readiness: &Readiness, client: &str, error: KafkaError, reason: &str) {
    match error.rdkafka_error_code() {
        Some(RDKafkaErrorCode::AllBrokersDown) => readiness.all_brokers_down(),
        Some(RDKafkaErrorCode::Fatal) => readiness.client_failed(format!("{client}: {reason}")),
        _ => {}
    }
    tracing::error!(client, %error, reason, "librdkafka error");
}

impl ConsumerContext for PipelineContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(partitions) = rebalance else {
            return;
        };
        let revoked: Vec<i32> = partitions
            .elements_for_topic(&self.shared.input_topic)
            .iter()
            .map(|element| element.partition())
            .collect();
        self.shared
            .stats
            .readiness
            .partitions_revoked(revoked.len());
        let started = Instant::now();
        loop {
            let in_flight: usize = {
                let tracker = lock(&self.shared.tracker);
                revoked.iter().map(|p| tracker.in_flight_for(*p)).sum()
            };
            if in_flight == 0 || started.elapsed() > REVOKE_DRAIN_LIMIT {
                if in_flight > 0 {
                    tracing::warn!(in_flight, "revoked partitions did not drain in time; their records will be redelivered");
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        commit_stored_offsets(consumer, self.shared.exactly_once, "commit on revocation");
        let mut tracker = lock(&self.shared.tracker);
        for partition in &revoked {
            tracker.forget(*partition);
        }
        tracing::info!(partitions = ?revoked, "partitions revoked");
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(partitions) = rebalance {
            let assigned: Vec<i32> = partitions
                .elements_for_topic(&self.shared.input_topic)
                .iter()
                .map(|element| element.partition())
                .collect();
            lock(&self.shared.newly_assigned).extend(assigned.iter().copied());
            self.shared
                .stats
                .readiness
                .partitions_assigned(assigned.len());
            tracing::info!(partitions = ?assigned, "partitions assigned");
        }
    }
}
