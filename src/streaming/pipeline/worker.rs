//! The screening workers: each owns the deduplicators of its partitions, parses, screens and
//! publishes their records in order, and hands each record's outcome to the acker.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

use screener_engine::decision::Verdict;
use screener_engine::dedup::{DedupConfig, Deduplicator};
use screener_engine::pipeline::{process_report, ReportOutcome};
use screener_engine::record::{parse_record, ParseLimits};

use crate::live::LiveScreener;

use super::super::config::KafkaConfig;
use super::super::rebuild::rebuild_partition;
use super::super::rejected::{RejectedRecord, SourcePosition};
use super::super::rescreen::RescreenCandidate;
use super::acker::{Delivery, Outcome};
use super::context::ProducerStatsContext;
use super::dispatch::{Job, WorkerCommand};
use super::{read, PipelineStats};

/// A screening worker: owns the deduplicators of its partitions.
pub(super) struct Worker {
    /// Where this worker publishes how many parcel keys its deduplicators hold.
    pub(super) dedup_keys: Arc<AtomicU64>,
    /// The engine with the lists of the moment: read once per record, so a list update
    /// applies from the next record on.
    pub(super) screener: Arc<LiveScreener>,
    /// Size and shape limits a record must meet before it is screened.
    pub(super) limits: ParseLimits,
    /// Window and key bound of each partition's deduplicator, new or rebuilt.
    pub(super) dedup: DedupConfig,
    /// Publishes decisions and rejections; shared by all workers (librdkafka batches them).
    pub(super) producer: FutureProducer<ProducerStatsContext>,
    /// Topic names, pass-through mode, and what a dedup rebuild needs to read the input.
    pub(super) settings: KafkaConfig,
    /// Counters and metrics of what the worker did with each record.
    pub(super) stats: Arc<PipelineStats>,
    /// To the acker (or the transaction committer): one outcome per record, in the order the
    /// worker handled them.
    pub(super) outcomes: mpsc::UnboundedSender<Outcome>,
    /// Exactly-once only: held for reading from a record's send to its outcome's hand-over,
    /// so that the committer sees every send of a transaction with its offset.
    pub(super) send_gate: Option<Arc<RwLock<()>>>,
}

impl Worker {
    pub(super) fn run(self, mut commands: mpsc::Receiver<WorkerCommand>) {
        let mut deduplicators: HashMap<i32, Deduplicator> = HashMap::new();
        while let Some(command) = commands.blocking_recv() {
            let jobs = match command {
                WorkerCommand::Rebuild {
                    partition,
                    until_offset,
                    until_timestamp_ms,
                } => {
                    let started = Instant::now();
                    let (deduplicator, report) = rebuild_partition(
                        &self.settings,
                        &self.limits,
                        &self.dedup,
                        partition,
                        until_offset,
                        until_timestamp_ms,
                    );
                    tracing::info!(
                        partition,
                        until_offset,
                        replayed = report.replayed,
                        keys = report.keys,
                        complete = report.complete,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "dedup state rebuilt"
                    );
                    deduplicators.insert(partition, deduplicator);
                    self.publish_dedup_keys(&deduplicators);
                    continue;
                }
                WorkerCommand::Screen(jobs) => jobs,
                WorkerCommand::Rescreen {
                    partition,
                    candidates,
                } => {
                    // A partition no longer (or not yet) here has no state to judge by; its
                    // new owner re-screens it.
                    if let Some(deduplicator) = deduplicators.get_mut(&partition) {
                        self.rescreen(candidates, deduplicator);
                    }
                    continue;
                }
            };
            for job in jobs {
                let deduplicator = deduplicators
                    .entry(job.partition)
                    .or_insert_with(|| Deduplicator::new(self.dedup.clone()));
                let _in_transaction = self.send_gate.as_ref().map(|gate| read(gate));
                let delivery = self.screen(&job, deduplicator);
                let outcome = Outcome {
                    partition: job.partition,
                    offset: job.offset,
                    delivery,
                    timestamp_ms: job.timestamp_ms,
                    _permit: job.permit,
                };
                if self.outcomes.send(outcome).is_err() {
                    return;
                }
            }
            self.publish_dedup_keys(&deduplicators);
        }
    }

    /// Sums the parcel keys of this worker's deduplicators into its metrics slot.
    fn publish_dedup_keys(&self, deduplicators: &HashMap<i32, Deduplicator>) {
        let keys: usize = deduplicators.values().map(Deduplicator::len).sum();
        self.dedup_keys.store(keys as u64, Ordering::Relaxed);
    }

    /// Screens one record, counts what became of it, and starts the delivery of its outcome
    /// (none for a duplicate).
    fn screen(&self, job: &Job, deduplicator: &mut Deduplicator) -> Delivery {
        let topics = &self.settings.topics;
        let metrics = &self.stats.metrics;
        if self.settings.pass_through {
            metrics.count_received(None);
            let key = job.key.as_deref().unwrap_or_default();
            return self.delivery(
                &topics.decisions,
                self.send(&topics.decisions, key, &job.payload),
            );
        }
        let started = Instant::now();
        match parse_record(&job.payload, &self.limits) {
            Ok(record) => {
                metrics.count_received(Some(record.source.filer_type));
                let key = record.parcel_key();
                let dedup_before = deduplicator.stats();
                let screener = self.screener.current();
                let outcome =
                    process_report(&screener, deduplicator, &key, &record, job.timestamp_ms);
                metrics.count_dedup_removed(dedup_before, deduplicator.stats());
                metrics
                    .screening_duration
                    .observe(started.elapsed().as_secs_f64());
                match outcome {
                    ReportOutcome::Duplicate(kind) => {
                        metrics.count_duplicate(kind);
                        Delivery::Nothing
                    }
                    ReportOutcome::Decided(decision) => {
                        metrics.count_decision(&decision);
                        deduplicator.record_verdict(&key, decision.decision == Verdict::Release);
                        let payload = decision.to_json();
                        let sent = self.send(&topics.decisions, key.as_bytes(), &payload);
                        self.delivery(&topics.decisions, sent)
                    }
                }
            }
            Err(error) => {
                metrics.count_received(None);
                metrics.count_rejected(error.kind());
                metrics
                    .screening_duration
                    .observe(started.elapsed().as_secs_f64());
                let source = SourcePosition {
                    topic: topics.advance.clone(),
                    partition: job.partition,
                    offset: job.offset,
                    key: job
                        .key
                        .as_deref()
                        .map(|k| String::from_utf8_lossy(k).into_owned()),
                };
                let envelope = RejectedRecord::new(&error, source, &job.payload);
                let payload = serde_json::to_vec(&envelope).unwrap_or_default();
                let key = job.key.clone().unwrap_or_default();
                match self.send(&topics.rejected, &key, &payload) {
                    Ok(delivery) => Delivery::Pending(delivery),
                    // Too large even bounded (a huge message key, or a `message.max.bytes`
                    // set low): the envelope without the original bytes and most of the
                    // error, under a shortened key, so the record is still accounted for.
                    Err(KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge)) => {
                        tracing::warn!(
                            partition = job.partition,
                            offset = job.offset,
                            envelope_bytes = payload.len(),
                            key_bytes = key.len(),
                            "rejection envelope over the producer's message.max.bytes; \
                             publishing it without the original bytes"
                        );
                        let payload = serde_json::to_vec(&envelope.minimal()).unwrap_or_default();
                        let key = &key[..key.len().min(256)];
                        let sent = self.send(&topics.rejected, key, &payload);
                        self.delivery(&topics.rejected, sent)
                    }
                    Err(error) => self.delivery(&topics.rejected, Err(error)),
                }
            }
        }
    }

    /// Re-screens candidates that are still the parcel's decided, released report; publishes
    /// a HOLD (version + 1) for each that the current lists now hold.
    fn rescreen(&self, candidates: Vec<RescreenCandidate>, deduplicator: &mut Deduplicator) {
        let _in_transaction = self.send_gate.as_ref().map(|gate| read(gate));
        let screener = self.screener.current();
        let metrics = &self.stats.metrics;
        for candidate in candidates {
            let key = candidate.record.parcel_key();
            let Some(version) = deduplicator.rescreen_version(&key, &candidate.record) else {
                continue;
            };
            let decision = screener.screen(&candidate.record, version, &[]);
            if decision.decision != Verdict::Hold {
                continue;
            }
            deduplicator.commit_rescreen(&key, version, false);
            metrics.count_decision(&decision);
            metrics.rescreen_holds.inc();
            tracing::info!(
                offset = candidate.offset,
                version,
                "released parcel held after a watch-list update"
            );
            let payload = decision.to_json();
            // Not tied to an input offset, so the acker does not wait for it; the producer
            // retries without a time limit (`message.timeout.ms = 0`), and dropping the
            // future does not cancel the delivery.
            if let Err(error) = self.send(&self.settings.topics.decisions, key.as_bytes(), &payload)
            {
                tracing::error!(
                    %error,
                    offset = candidate.offset,
                    version,
                    "re-screen HOLD not published: the producer refuses it and retrying cannot fix that"
                );
            }
        }
    }

    /// Enqueues a message, waiting while the producer queue is full (backpressure).
    ///
    /// Other enqueue errors are not retried forever. One that may clear (an unknown topic or
    /// partition: metadata can lag; or an error not known to be permanent) is retried for up
    /// to 10 s, with one warning; one that retrying cannot fix (the message over
    /// `message.max.bytes`, an invalid argument, a fatal or fenced producer, a producer in the
    /// wrong transaction state…) is returned at once, as is the other kind after 10 s. The
    /// caller decides what then becomes of the record ([`Worker::delivery`]).
    fn send(&self, topic: &str, key: &[u8], payload: &[u8]) -> Result<DeliveryFuture, KafkaError> {
        const RETRY_FOR: Duration = Duration::from_secs(10);
        const RETRY_EVERY: Duration = Duration::from_millis(100);
        let mut record = FutureRecord::to(topic).key(key).payload(payload);
        let mut retrying_since: Option<Instant> = None;
        loop {
            let (error, returned) = match self.producer.send_result(record) {
                Ok(delivery) => return Ok(delivery),
                Err(failed) => failed,
            };
            record = returned;
            let permanent = match error.rdkafka_error_code() {
                Some(RDKafkaErrorCode::QueueFull) => {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                Some(code) => matches!(
                    code,
                    RDKafkaErrorCode::MessageSizeTooLarge
                        | RDKafkaErrorCode::InvalidArgument
                        | RDKafkaErrorCode::InvalidMessage
                        | RDKafkaErrorCode::InvalidTopic
                        | RDKafkaErrorCode::Conflict
                        | RDKafkaErrorCode::State
                        | RDKafkaErrorCode::Fatal
                        | RDKafkaErrorCode::Fenced
                        | RDKafkaErrorCode::NotImplemented
                        | RDKafkaErrorCode::UnsupportedFeature
                        | RDKafkaErrorCode::TopicAuthorizationFailed
                        | RDKafkaErrorCode::ClusterAuthorizationFailed
                ),
                None => false,
            };
            if permanent {
                return Err(error);
            }
            let since = *retrying_since.get_or_insert_with(|| {
                tracing::warn!(%error, topic, "enqueue failed; retrying for up to 10 s");
                Instant::now()
            });
            if since.elapsed() >= RETRY_FOR {
                return Err(error);
            }
            std::thread::sleep(RETRY_EVERY);
        }
    }

    /// The outcome of a send: pending, or failed for good (logged here, once, at error
    /// level: the acker or the committer then stops the pipeline without committing the
    /// record, which is read again after a restart).
    fn delivery(&self, topic: &str, sent: Result<DeliveryFuture, KafkaError>) -> Delivery {
        match sent {
            Ok(delivery) => Delivery::Pending(delivery),
            Err(error) => {
                tracing::error!(
                    %error,
                    topic,
                    "cannot enqueue the outcome of a record, and retrying cannot fix it: \
                     stopping the pipeline without committing the record"
                );
                Delivery::Failed(error)
            }
        }
    }
}
