//! From the workers' outcomes to stored offsets: the acker (at-least-once) waits for each
//! delivery and stores a partition's offset once it and every earlier record are done; the
//! transaction committer (exactly-once) commits them with the decisions instead.

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::producer::{DeliveryFuture, FutureProducer, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;

use super::context::{PipelineContext, ProducerStatsContext};
use super::dispatch::InFlightPermit;
use super::{lock, PipelineError, PipelineStats, Shared, TRANSACTION_TIMEOUT};

/// What a worker hands the acker for one record.
pub(super) struct Outcome {
    pub(super) partition: i32,
    pub(super) offset: i64,
    /// `None` for a duplicate: nothing to deliver, done at once.
    pub(super) delivery: Delivery,
    /// The record's Kafka timestamp (ms), for end-to-end latency.
    pub(super) timestamp_ms: i64,
    /// Released when the outcome is acknowledged.
    pub(super) _permit: InFlightPermit,
}

/// What becomes of a record's outcome on its way to the broker.
pub(super) enum Delivery {
    /// Nothing to deliver (a duplicate): done at once.
    Nothing,
    /// The decision or rejection was enqueued; done when the broker acknowledges it.
    Pending(DeliveryFuture),
    /// It could not be enqueued and retrying cannot fix that: the pipeline stops without
    /// committing the record, which is read again after a restart.
    Failed(KafkaError),
}

/// Awaits deliveries in any order and stores the committable offset of each partition.
/// Returns early with an error if a delivery fails for good.
pub(super) async fn acknowledge(
    mut outcomes: mpsc::UnboundedReceiver<Outcome>,
    shared: Arc<Shared>,
    consumer: Arc<StreamConsumer<PipelineContext>>,
    topic: String,
    stats: Arc<PipelineStats>,
) -> Result<(), PipelineError> {
    let mut pending = FuturesUnordered::new();
    let mut open = true;
    while open || !pending.is_empty() {
        if pending.is_empty() {
            // Nothing in flight: sleep until the next outcome.
            match outcomes.recv().await {
                Some(outcome) => pending.push(delivered(outcome)),
                None => {
                    open = false;
                    continue;
                }
            }
        } else {
            // Records in flight: let their deliveries and further outcomes gather for a tick
            // instead of waking for each (see ACK_TICK).
            tokio::time::sleep(ACK_TICK).await;
        }
        // Every outcome already queued.
        loop {
            match outcomes.try_recv() {
                Ok(outcome) => pending.push(delivered(outcome)),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        // Every delivery settled meanwhile, handled in rounds: one lock of the tracker and
        // of the latency histogram, one stored offset per partition, instead of one of each
        // per record. `now_or_never` polls with a waker that does nothing, so a delivery
        // settling later does not wake the acker: the next tick finds it.
        let mut settled = Vec::new();
        while let Some(Some(done)) = pending.next().now_or_never() {
            settled.push(done);
            if settled.len() == MAX_SETTLED_PER_ROUND {
                acknowledge_settled(
                    std::mem::take(&mut settled),
                    &shared,
                    &consumer,
                    &topic,
                    &stats,
                )?;
            }
        }
        if !settled.is_empty() {
            acknowledge_settled(settled, &shared, &consumer, &topic, &stats)?;
        }
    }
    Ok(())
}

/// How long the acker waits between rounds while records are in flight. Woken by every
/// outcome and every settled delivery, it cost about one context switch per record (52,263
/// voluntary switches of the tokio threads for 143,526 reports, `/proc/<pid>/task/*/status`);
/// a tick bounds its rounds to about a thousand a second. Decisions are not delayed (the
/// workers publish them); offsets are stored and in-flight permits returned up to a tick
/// later.
const ACK_TICK: Duration = Duration::from_millis(1);

/// Most settled deliveries the acker handles in one round (bounds how long it holds the
/// offset tracker's lock).
const MAX_SETTLED_PER_ROUND: usize = 1024;

/// A record's outcome once its delivery settled.
struct Settled {
    partition: i32,
    offset: i64,
    timestamp_ms: i64,
    /// Whether something was published (a duplicate publishes nothing).
    delivered: bool,
    result: Result<(), KafkaError>,
    _permit: InFlightPermit,
}

/// Waits for the delivery of `outcome`, if it has one.
async fn delivered(outcome: Outcome) -> Settled {
    let delivered = matches!(outcome.delivery, Delivery::Pending(_));
    let result = match outcome.delivery {
        Delivery::Pending(delivery) => match delivery.await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err((error, _))) => Err(error),
            Err(_cancelled) => Err(KafkaError::Canceled),
        },
        Delivery::Nothing => Ok(()),
        Delivery::Failed(error) => Err(error),
    };
    Settled {
        partition: outcome.partition,
        offset: outcome.offset,
        timestamp_ms: outcome.timestamp_ms,
        delivered,
        result,
        _permit: outcome._permit,
    }
}

/// Marks settled records done (in the order they settled): counts them, records their
/// end-to-end latency, and stores each partition's new committable offset. A failed delivery
/// stops the pipeline; the records done before it in `settled` are still stored.
fn acknowledge_settled(
    settled: Vec<Settled>,
    shared: &Shared,
    consumer: &StreamConsumer<PipelineContext>,
    topic: &str,
    stats: &PipelineStats,
) -> Result<(), PipelineError> {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut latencies_micros: Vec<u64> = Vec::with_capacity(settled.len());
    // Partition → the offset after its last done record, for those that advanced.
    let mut advanced: Vec<(i32, i64)> = Vec::new();
    // The record whose delivery failed, and why.
    let mut failure: Option<(i32, i64, KafkaError)> = None;
    {
        let mut tracker = lock(&shared.tracker);
        for record in settled {
            if let Err(source) = record.result {
                failure = Some((record.partition, record.offset, source));
                break;
            }
            stats.acknowledged.fetch_add(1, Ordering::Relaxed);
            if record.timestamp_ms > 0 {
                let millis = now_ms.saturating_sub(record.timestamp_ms).max(0) as u64;
                latencies_micros.push(millis.saturating_mul(1000).clamp(1, 3_600_000_000));
                // SPEC §9: to the decision's (or rejection's) delivery; a duplicate has none.
                if record.delivered {
                    stats
                        .metrics
                        .end_to_end_latency
                        .observe(millis as f64 / 1000.0);
                }
            }
            if let Some(next) = tracker.finish(record.partition, record.offset) {
                match advanced
                    .iter_mut()
                    .find(|(partition, _)| *partition == record.partition)
                {
                    Some(entry) => entry.1 = next,
                    None => advanced.push((record.partition, next)),
                }
            }
        }
    }
    if !latencies_micros.is_empty() {
        let mut histogram = lock(&stats.end_to_end_micros);
        for micros in latencies_micros {
            let _ = histogram.record(micros);
        }
    }
    for (partition, next) in advanced {
        // store_offset stores offset + 1: pass the last done offset.
        if let Err(error) = consumer.store_offset(topic, partition, next - 1) {
            tracing::debug!(%error, partition, "offset not stored (partition revoked?)");
        }
    }
    match failure {
        Some((partition, offset, source)) => {
            tracing::error!(partition, offset, error = %source, "delivery failed; stopping without committing it");
            Err(PipelineError::Delivery {
                partition,
                offset,
                source,
            })
        }
        None => Ok(()),
    }
}

/// Exactly-once: commits the open transaction every `interval` with the input offsets of
/// every record whose outcome was sent in it, then opens the next. Replaces the acker.
///
/// A failed transaction is aborted and ends the pipeline with an error: its decisions are
/// discarded by the brokers and its records are read again from the last committed offsets
/// when the instance restarts (or by another instance), so nothing is lost or published
/// twice.
pub(super) struct TransactionCommitter {
    /// The workers' outcomes: their records' offsets go into the open transaction.
    pub(super) outcomes: mpsc::UnboundedReceiver<Outcome>,
    /// The offset tracker (records done) and the stats.
    pub(super) shared: Arc<Shared>,
    /// For the group metadata that `send_offsets_to_transaction` needs.
    pub(super) consumer: Arc<StreamConsumer<PipelineContext>>,
    /// The transactional producer the workers send with.
    pub(super) producer: FutureProducer<ProducerStatsContext>,
    /// The workers' send gate, held for writing while a transaction closes, so that no send
    /// falls between the offsets it commits and the next transaction.
    pub(super) gate: Arc<RwLock<()>>,
    /// `kafka.transaction_interval_ms`.
    pub(super) interval: Duration,
}

impl TransactionCommitter {
    pub(super) fn run(mut self) -> Result<(), PipelineError> {
        loop {
            std::thread::sleep(self.interval);
            let gate = self.gate.clone();
            let writing = gate
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut batch = Vec::new();
            let mut closed = false;
            loop {
                match self.outcomes.try_recv() {
                    Ok(outcome) => batch.push(outcome),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
            let committed = self.commit(&batch);
            drop(writing);
            if let Err(error) = committed {
                tracing::error!(%error, records = batch.len(), "transaction failed; aborting it and stopping (its records are read again from the last commit)");
                if let Err(abort_error) = self.producer.abort_transaction(TRANSACTION_TIMEOUT) {
                    tracing::error!(error = %abort_error, "abort_transaction failed");
                }
                return Err(error);
            }
            let stats = &self.shared.stats;
            let now_ms = chrono::Utc::now().timestamp_millis();
            for outcome in batch {
                stats.acknowledged.fetch_add(1, Ordering::Relaxed);
                if outcome.timestamp_ms > 0 {
                    let millis = now_ms.saturating_sub(outcome.timestamp_ms).max(0) as u64;
                    let micros = millis.saturating_mul(1000).max(1);
                    let _ = lock(&stats.end_to_end_micros).record(micros.min(3_600_000_000));
                    if matches!(outcome.delivery, Delivery::Pending(_)) {
                        stats
                            .metrics
                            .end_to_end_latency
                            .observe(millis as f64 / 1000.0);
                    }
                }
            }
            if closed {
                return Ok(());
            }
        }
    }

    /// Commits the open transaction with the offsets after `batch` and opens the next. An
    /// empty batch commits nothing (a re-screen's sends wait for the next batch).
    fn commit(&self, batch: &[Outcome]) -> Result<(), PipelineError> {
        if batch.is_empty() {
            return Ok(());
        }
        // A record whose outcome could not be enqueued must not have its offset committed.
        for outcome in batch {
            if let Delivery::Failed(error) = &outcome.delivery {
                return Err(PipelineError::Delivery {
                    partition: outcome.partition,
                    offset: outcome.offset,
                    source: error.clone(),
                });
            }
        }
        let topic = &self.shared.input_topic;
        let mut offsets = TopicPartitionList::new();
        {
            let mut tracker = lock(&self.shared.tracker);
            let mut touched: Vec<i32> = Vec::new();
            for outcome in batch {
                tracker.finish(outcome.partition, outcome.offset);
                if !touched.contains(&outcome.partition) {
                    touched.push(outcome.partition);
                }
            }
            for partition in touched {
                if let Some(next) = tracker.committable(partition) {
                    offsets
                        .add_partition_offset(topic, partition, Offset::Offset(next))
                        .map_err(|source| PipelineError::Transaction {
                            what: "building the offsets",
                            source,
                        })?;
                }
            }
        }
        let metadata = self
            .consumer
            .group_metadata()
            .ok_or(PipelineError::NoGroupMetadata)?;
        let step = |what: &'static str, result: KafkaResult<()>| {
            result.map_err(|source| PipelineError::Transaction { what, source })
        };
        step(
            "send_offsets_to_transaction",
            self.producer
                .send_offsets_to_transaction(&offsets, &metadata, TRANSACTION_TIMEOUT),
        )?;
        step(
            "commit_transaction",
            self.producer.commit_transaction(TRANSACTION_TIMEOUT),
        )?;
        step("begin_transaction", self.producer.begin_transaction())
    }
}
