//! The librdkafka settings of the pipeline's consumer and producer.

use rdkafka::config::ClientConfig;

use crate::metrics::kafka::DEFAULT_STATISTICS_INTERVAL_MS;

use super::super::config::KafkaConfig;

fn common_config(settings: &KafkaConfig) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.brokers)
        // Consumer lag, producer queue depth and broker round-trip times come from here
        // (`ClientContext::stats`); `kafka.client_properties` may override it.
        .set(
            "statistics.interval.ms",
            DEFAULT_STATISTICS_INTERVAL_MS.to_string(),
        );
    config
}

/// The effective `statistics.interval.ms` (0: disabled).
pub(super) fn statistics_interval_ms(settings: &KafkaConfig) -> u64 {
    settings
        .client_properties
        .get("statistics.interval.ms")
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(DEFAULT_STATISTICS_INTERVAL_MS)
}

fn with_passthrough(mut config: ClientConfig, settings: &KafkaConfig) -> ClientConfig {
    for (key, value) in &settings.client_properties {
        config.set(key, value);
    }
    config
}

pub(super) fn consumer_config(settings: &KafkaConfig) -> ClientConfig {
    let mut config = common_config(settings);
    config
        .set("group.id", &settings.group_id)
        .set("enable.auto.commit", "true")
        .set(
            "auto.commit.interval.ms",
            settings.commit_interval_ms.to_string(),
        )
        // Offsets are stored by the acker only after downstream acknowledgement.
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set(
            "session.timeout.ms",
            settings.session_timeout_ms.to_string(),
        )
        .set("fetch.wait.max.ms", settings.fetch_wait_max_ms.to_string())
        .set("enable.partition.eof", "false");
    if settings.exactly_once() {
        // Offsets go into the producer's transactions; only committed input is read.
        config
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed");
    }
    with_passthrough(config, settings)
}

pub(super) fn producer_config(settings: &KafkaConfig) -> ClientConfig {
    let mut config = common_config(settings);
    config
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", settings.linger_ms.to_string())
        .set("compression.type", "lz4")
        // Retry for as long as it takes: a broker outage stalls and backs up the pipeline
        // rather than losing a decision.
        .set("message.timeout.ms", "0");
    if settings.exactly_once() {
        config
            .set("transactional.id", settings.effective_transactional_id())
            .set("transaction.timeout.ms", "60000")
            // Bounded by the transaction's own timeout; a message that cannot be delivered
            // in time fails its transaction, which is aborted and read again.
            .set("message.timeout.ms", "60000");
    }
    with_passthrough(config, settings)
}
