//! The seam between the enrollment API and wherever known-shipper changes go: the API
//! decides *what* a shipper's record should now be; a [`KnownShipperPublisher`] makes it so.
//!
//! - In production the publisher writes the record to the compacted topic
//!   `lists.known-shippers` (key = id, value = the record as JSON), which every instance
//!   follows, and returns once the local instance has applied it.
//! - [`LocalPublisher`] applies the record directly to one [`LiveScreener`]: for tests and
//!   for runs without Kafka.

use futures_util::future::BoxFuture;
use std::sync::{Arc, Mutex};

use crate::live::LiveScreener;
use crate::metrics::Metrics;
use screener_engine::known_shippers::KnownShipper;

/// Why a change could not be made durable and effective. The API answers 503 (retry later),
/// never 500: the request itself was fine.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PublishError {
    /// The list cannot be written now (broker unreachable, topic missing, ...). The message
    /// is logged and returned to the caller, so it must not contain personal data.
    #[error("the known-shipper list is unavailable: {0}")]
    Unavailable(String),
    /// Written, or perhaps written, but not seen applied locally in time. Publishing the
    /// same record again is harmless (the topic is compacted, the record is the whole state).
    #[error("the change was not confirmed in time: {0}")]
    Timeout(String),
}

/// Makes a known shipper's new state durable and effective.
///
/// `publish` receives the *whole* record as it should now be (enrollment, status change and
/// revocation alike: a revoked shipper is kept with status `REVOKED`, so that parcels
/// claiming it get `KS_SUSPENDED`). It resolves once the change is durable (for Kafka:
/// acknowledged by the brokers) **and** effective in this instance's [`LiveScreener`], so
/// that the API's next read, and the next parcel screened here, see it. Other instances
/// apply it when they read it from the topic.
///
/// The API serialises its own writes (one publish at a time per instance), so an
/// implementation need not order concurrent calls from the API; it must still be safe to
/// call from several tasks.
pub trait KnownShipperPublisher: Send + Sync {
    fn publish(&self, shipper: KnownShipper) -> BoxFuture<'static, Result<(), PublishError>>;
}

/// Applies each record directly to a [`LiveScreener`] (no Kafka): the registry with the
/// record upserted is swapped in before `publish` resolves.
#[derive(Debug, Clone)]
pub struct LocalPublisher {
    live: Arc<LiveScreener>,
    metrics: Option<Arc<Metrics>>,
    /// Serialises read-modify-swap of the registry, so that two concurrent writes cannot
    /// both start from the same snapshot and lose one of the updates.
    lock: Arc<Mutex<()>>,
}

impl LocalPublisher {
    pub fn new(live: Arc<LiveScreener>) -> Self {
        LocalPublisher {
            live,
            metrics: None,
            lock: Arc::new(Mutex::new(())),
        }
    }

    /// Also updates `screener_known_shippers{status}` and the list-version metric after
    /// each change.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Upserts `shipper` into the live registry, now.
    pub fn apply(&self, shipper: KnownShipper) {
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let current = self.live.current();
        self.live
            .replace_known_shippers(current.known_shippers.with_upsert(shipper));
        if let Some(metrics) = &self.metrics {
            metrics.record_lists(&self.live.current());
        }
    }
}

impl KnownShipperPublisher for LocalPublisher {
    fn publish(&self, shipper: KnownShipper) -> BoxFuture<'static, Result<(), PublishError>> {
        self.apply(shipper);
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Publishes each record to the compacted `lists.known-shippers` topic (key = id) and
/// resolves once the broker has acknowledged it and this instance's list follower has
/// applied it: every instance, this one included, takes the change from the topic, so they
/// cannot disagree.
#[derive(Clone)]
pub struct KafkaPublisher {
    producer: rdkafka::producer::FutureProducer,
    topic: String,
    /// Where the local follower has got to.
    applied: Arc<crate::live::AppliedPositions>,
    /// Longest wait for the local follower to apply a write.
    apply_timeout: std::time::Duration,
}

impl KafkaPublisher {
    pub fn new(
        settings: &crate::streaming::config::KafkaConfig,
        applied: Arc<crate::live::AppliedPositions>,
    ) -> Result<Self, PublishError> {
        let producer = crate::live::publish::list_producer(settings)
            .map_err(|error| PublishError::Unavailable(error.to_string()))?;
        Ok(KafkaPublisher {
            producer,
            topic: settings.topics.known_shippers.clone(),
            applied,
            apply_timeout: std::time::Duration::from_secs(5),
        })
    }
}

impl KnownShipperPublisher for KafkaPublisher {
    fn publish(&self, shipper: KnownShipper) -> BoxFuture<'static, Result<(), PublishError>> {
        let publisher = self.clone();
        Box::pin(async move {
            let (partition, offset) = crate::live::publish::publish_known_shipper(
                &publisher.producer,
                &publisher.topic,
                &shipper,
            )
            .await
            .map_err(|error| PublishError::Unavailable(error.to_string()))?;
            let applied = publisher
                .applied
                .wait_for(&publisher.topic, partition, offset, publisher.apply_timeout)
                .await;
            if applied {
                Ok(())
            } else {
                Err(PublishError::Timeout(format!(
                    "written to {} partition {partition} offset {offset}, not yet applied here",
                    publisher.topic
                )))
            }
        })
    }
}
