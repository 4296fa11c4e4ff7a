//! The consume → screen → produce pipeline. See the module docs of `streaming` for the shape.

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use hdrhistogram::Histogram;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::ClientContext;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use screener_engine::decision::{Decision, Verdict};
use screener_engine::dedup::{DedupConfig, Deduplicator};
use screener_engine::pipeline::{process_report, ReportOutcome};
use screener_engine::record::{parse_record, ParseLimits};

use crate::metrics::kafka::{ClientKind, DEFAULT_STATISTICS_INTERVAL_MS};
use crate::metrics::{Metrics, Readiness};

use super::config::KafkaConfig;
use super::offsets::OffsetTracker;
use super::rebuild::{rebuild_partition, ReplayWindow};
use super::rejected::{RejectedRecord, SourcePosition};
use super::rescreen::{delta_screener, find_candidates, RescreenCandidate};
use crate::live::LiveScreener;
use screener_engine::rules::Screener;

/// How long shutdown waits for outstanding deliveries before giving up (their offsets stay
/// uncommitted, so they are redelivered: nothing is lost).
const SHUTDOWN_DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// Most records the consumer loop takes in one round before handing them to the workers.
/// A round takes only what the consumer already holds, so a slow feed goes record by record
/// (no added latency) and a fast one in batches: one hand-over and at most one wake-up per
/// worker per round. Each hand-over woke a worker, and each acknowledgement freeing room woke
/// the loop: at full speed the workers were preempted some 8,000 times a second.
const DISPATCH_BATCH: usize = 64;

/// Longest a transaction call (init, send offsets, commit, abort) may take.
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a revocation waits for its partitions' in-flight records.
const REVOKE_DRAIN_LIMIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("cannot create Kafka client: {0}")]
    Client(#[source] KafkaError),
    #[error("cannot subscribe to {topic}: {source}")]
    Subscribe {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("exactly-once: the consumer has no group metadata to commit offsets with")]
    NoGroupMetadata,
    #[error("exactly-once: {what} failed: {source}")]
    Transaction {
        what: &'static str,
        #[source]
        source: KafkaError,
    },
    #[error(
        "a decision could not be delivered (partition {partition}, offset {offset}): {source}"
    )]
    Delivery {
        partition: i32,
        offset: i64,
        #[source]
        source: KafkaError,
    },
}

/// What the pipeline did; shared with whoever reports progress and with the admin server.
/// The counts live in the Prometheus [`Metrics`] (counted once, by the worker that decides,
/// rejects or suppresses a record); [`PipelineStats::snapshot`] reads them back.
#[derive(Debug)]
pub struct PipelineStats {
    pub metrics: Arc<Metrics>,
    /// Set by the rebalance and client callbacks, read by `/health/ready`.
    pub readiness: Arc<Readiness>,
    /// Outcomes acknowledged by the broker (or duplicates, done at once).
    pub acknowledged: AtomicU64,
    /// End-to-end latency in microseconds, from a record's Kafka timestamp to the
    /// acknowledgement of its outcome, at full precision for the demo's progress and summary
    /// (Prometheus gets bucketed `screener_end_to_end_latency_seconds`). Recorded by the
    /// acker alone.
    pub end_to_end_micros: Mutex<Histogram<u64>>,
}

impl Default for PipelineStats {
    fn default() -> Self {
        PipelineStats::new(Arc::new(Metrics::new()), Arc::new(Readiness::new()))
    }
}

/// A plain copy of the pipeline's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub received: u64,
    pub released: u64,
    pub held: u64,
    pub cancelled: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub acknowledged: u64,
    /// HOLD decisions published by re-screening after a list update (counted in `held` too):
    /// decisions for parcels already decided, not for a record received.
    pub rescreen_holds: u64,
}

impl StatsSnapshot {
    /// Records received that got a decision (the first, or a new version).
    pub fn decided(&self) -> u64 {
        self.published_decisions() - self.rescreen_holds
    }

    /// Decisions published: one per decided record, plus the re-screen holds.
    pub fn published_decisions(&self) -> u64 {
        self.released + self.held + self.cancelled
    }
}

impl PipelineStats {
    pub fn new(metrics: Arc<Metrics>, readiness: Arc<Readiness>) -> Self {
        PipelineStats {
            metrics,
            readiness,
            acknowledged: AtomicU64::new(0),
            // 1 µs to 1 hour, 3 significant digits: a fixed ~200 KiB.
            end_to_end_micros: Mutex::new(
                Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"),
            ),
        }
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let metrics = &self.metrics;
        StatsSnapshot {
            received: metrics.received_total(),
            released: metrics.decision_records_total(Verdict::Release),
            held: metrics.decision_records_total(Verdict::Hold),
            cancelled: metrics.decision_records_total(Verdict::Cancelled),
            duplicates: metrics.duplicates_total(),
            rejected: metrics.rejected_total(),
            acknowledged: self.acknowledged.load(Ordering::Relaxed),
            rescreen_holds: metrics.rescreen_holds.get(),
        }
    }
}

/// State shared by the consumer loop, the acker and the rebalance callback.
struct Shared {
    /// Locked briefly by the consumer loop (start), the acker (finish) and the rebalance
    /// callback (drain check). A `std` mutex: never held across an await, and contention is
    /// two short critical sections per record.
    tracker: Mutex<OffsetTracker>,
    /// Partitions assigned since their records were last dispatched: their worker must
    /// rebuild their dedup state before screening them.
    newly_assigned: Mutex<HashSet<i32>>,
    input_topic: String,
    /// Metrics and readiness, for the client callbacks.
    stats: Arc<PipelineStats>,
    /// `kafka.delivery = exactly-once`: offsets are committed in transactions, not by the
    /// consumer.
    exactly_once: bool,
}

/// Consumer callbacks: drain and commit on revocation, note new assignments, statistics
/// (lag, broker round-trip) into metrics.
struct PipelineContext {
    shared: Arc<Shared>,
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
struct ProducerStatsContext {
    stats: Arc<PipelineStats>,
    input_topic: String,
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
        // With exactly-once the drained records' offsets were committed in their
        // transaction; the consumer has nothing of its own to commit.
        let commit = if self.shared.exactly_once {
            Ok(())
        } else {
            consumer.commit_consumer_state(CommitMode::Sync)
        };
        if let Err(error) = commit {
            // Nothing stored yet is a normal outcome of an idle partition.
            if !matches!(
                error,
                KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)
            ) {
                tracing::warn!(%error, "commit on revocation failed");
            }
        }
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

fn read(gate: &RwLock<()>) -> std::sync::RwLockReadGuard<'_, ()> {
    gate.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock means a panic elsewhere already; the data (offsets) is still
    // consistent because every critical section is a single map operation.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One record handed to a worker.
struct Job {
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    /// The record's Kafka timestamp (ms), the time dedup windows follow.
    timestamp_ms: i64,
    permit: InFlightPermit,
}

/// A record's share of the in-flight bounds: one record and its bytes (key and payload),
/// returned when its outcome is acknowledged.
struct InFlightPermit {
    _record: OwnedSemaphorePermit,
    _bytes: OwnedSemaphorePermit,
}

/// The in-flight bounds, `kafka.max_in_flight` records and `kafka.max_in_flight_bytes`
/// bytes: a record is taken only when both have room.
struct InFlightBounds {
    records: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
    /// All the byte permits: a record larger than the bound takes all of them (it waits
    /// until nothing else is in flight) rather than waiting forever.
    total_bytes: u32,
}

impl InFlightBounds {
    fn new(records: usize, bytes: u64) -> Self {
        // Tokio takes at most u32::MAX permits at once; 4 GiB in flight is no bound anyway.
        let total_bytes = u32::try_from(bytes).unwrap_or(u32::MAX).max(1);
        InFlightBounds {
            records: Arc::new(Semaphore::new(records)),
            bytes: Arc::new(Semaphore::new(total_bytes as usize)),
            total_bytes,
        }
    }

    /// Byte permits for a record of `size` bytes (at least one, at most all).
    fn byte_permits(&self, size: usize) -> u32 {
        u32::try_from(size)
            .unwrap_or(u32::MAX)
            .clamp(1, self.total_bytes)
    }

    /// Both permits at once if there is room, without waiting.
    fn try_take(&self, size: usize) -> Option<InFlightPermit> {
        let record = self.records.clone().try_acquire_owned().ok()?;
        let bytes = self
            .bytes
            .clone()
            .try_acquire_many_owned(self.byte_permits(size))
            .ok()?;
        Some(InFlightPermit {
            _record: record,
            _bytes: bytes,
        })
    }

    /// Both permits, waiting for room; `None` once the bounds are closed.
    async fn take(&self, size: usize) -> Option<InFlightPermit> {
        let record = self.records.clone().acquire_owned().await.ok()?;
        let bytes = self
            .bytes
            .clone()
            .acquire_many_owned(self.byte_permits(size))
            .await
            .ok()?;
        Some(InFlightPermit {
            _record: record,
            _bytes: bytes,
        })
    }
}

enum WorkerCommand {
    /// A partition was (re)assigned and its first record is at `until_offset`: rebuild its
    /// dedup state from the input before screening it.
    Rebuild {
        partition: i32,
        until_offset: i64,
        until_timestamp_ms: i64,
    },
    /// Records to screen, in offset order per partition.
    Screen(Vec<Job>),
    /// Records of `partition` released before a watch-list update that match its new
    /// entries: re-screen those still current and publish a HOLD where they now match.
    Rescreen {
        partition: i32,
        candidates: Vec<RescreenCandidate>,
    },
}

/// Hands records to the workers in batches, a partition always to the same worker (which
/// keeps its order and its dedup state), and orders a dedup rebuild before a partition's first
/// record after a (re)assignment or a rewind.
struct Dispatcher {
    /// One queue per worker; partition `p` goes to worker `p % workers.len()`.
    workers: Vec<mpsc::Sender<WorkerCommand>>,
    /// Records taken this round and not yet handed over, per worker.
    batches: Vec<Vec<Job>>,
    /// The last offset dispatched per partition, to notice when a partition rewinds.
    last_dispatched: HashMap<i32, i64>,
    shared: Arc<Shared>,
}

/// The workers are gone, or the in-flight permits closed: the pipeline is stopping.
struct WorkersGone;

impl Dispatcher {
    /// Takes the in-flight permits for `message` and adds it to its worker's batch. When an
    /// in-flight bound is reached, what is held is handed over before waiting: held records
    /// return their permits only once handed over and acknowledged.
    async fn take(
        &mut self,
        message: &impl Message,
        bounds: &InFlightBounds,
    ) -> Result<(), WorkersGone> {
        let size = message.key().map_or(0, <[u8]>::len) + message.payload().map_or(0, <[u8]>::len);
        let permit = match bounds.try_take(size) {
            Some(permit) => permit,
            None => {
                self.flush().await?;
                bounds.take(size).await.ok_or(WorkersGone)?
            }
        };
        self.dispatch(message, permit).await
    }

    /// Adds `message` to its worker's batch, after ordering a dedup rebuild if its partition
    /// needs one (the batch is handed over first, so the rebuild comes after the records
    /// taken before it).
    async fn dispatch(
        &mut self,
        message: &impl Message,
        permit: InFlightPermit,
    ) -> Result<(), WorkersGone> {
        let partition = message.partition();
        let offset = message.offset();
        // A partition's dedup state must be rebuilt before its next record when it was just
        // (re)assigned, or when its offsets went backwards (after a lost assignment or an
        // offset reset the consumer resumes from the committed offset, behind records this
        // instance already screened): the state must be the one at this offset, not a later
        // one, or redelivered records would be judged against their own future.
        let newly_assigned = lock(&self.shared.newly_assigned).remove(&partition);
        let rewound = self
            .last_dispatched
            .get(&partition)
            .is_some_and(|last: &i64| offset <= *last);
        if rewound {
            tracing::info!(
                partition,
                offset,
                "partition rewound: rebuilding its dedup state"
            );
            // Everything before `offset` was committed, hence done; what was in flight at or
            // after it is processed again from here.
            lock(&self.shared.tracker).forget(partition);
        }
        self.last_dispatched.insert(partition, offset);
        lock(&self.shared.tracker).start(partition, offset);
        let job = Job {
            partition,
            offset,
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().unwrap_or_default().to_vec(),
            timestamp_ms: message.timestamp().to_millis().unwrap_or(0),
            permit,
        };
        let worker = partition as usize % self.workers.len();
        if newly_assigned || rewound {
            self.flush_worker(worker).await?;
            let rebuild = WorkerCommand::Rebuild {
                partition,
                until_offset: offset,
                until_timestamp_ms: job.timestamp_ms,
            };
            self.workers[worker]
                .send(rebuild)
                .await
                .map_err(|_| WorkersGone)?;
        }
        self.batches[worker].push(job);
        Ok(())
    }

    /// Hands every batch to its worker.
    async fn flush(&mut self) -> Result<(), WorkersGone> {
        for worker in 0..self.workers.len() {
            self.flush_worker(worker).await?;
        }
        Ok(())
    }

    async fn flush_worker(&mut self, worker: usize) -> Result<(), WorkersGone> {
        if self.batches[worker].is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(
            &mut self.batches[worker],
            Vec::with_capacity(DISPATCH_BATCH),
        );
        self.workers[worker]
            .send(WorkerCommand::Screen(batch))
            .await
            .map_err(|_| WorkersGone)
    }

    fn is_flushed(&self) -> bool {
        self.batches.iter().all(Vec::is_empty)
    }
}

/// What a worker hands the acker for one record.
struct Outcome {
    partition: i32,
    offset: i64,
    /// `None` for a duplicate: nothing to deliver, done at once.
    delivery: Delivery,
    /// The record's Kafka timestamp (ms), for end-to-end latency.
    timestamp_ms: i64,
    /// Released when the outcome is acknowledged.
    _permit: InFlightPermit,
}

/// What becomes of a record's outcome on its way to the broker.
enum Delivery {
    /// Nothing to deliver (a duplicate): done at once.
    Nothing,
    /// The decision or rejection was enqueued; done when the broker acknowledges it.
    Pending(DeliveryFuture),
    /// It could not be enqueued and retrying cannot fix that: the pipeline stops without
    /// committing the record, which is read again after a restart.
    Failed(KafkaError),
}

/// Runs the pipeline until `shutdown` completes (or a delivery fails for good), then drains
/// and commits. `stats` is updated as records flow.
pub async fn run_pipeline(
    settings: &KafkaConfig,
    limits: ParseLimits,
    dedup: DedupConfig,
    screener: Arc<LiveScreener>,
    stats: Arc<PipelineStats>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), PipelineError> {
    let shared = Arc::new(Shared {
        tracker: Mutex::new(OffsetTracker::new()),
        newly_assigned: Mutex::new(HashSet::new()),
        input_topic: settings.topics.advance.clone(),
        stats: stats.clone(),
        exactly_once: settings.exactly_once(),
    });
    let consumer: Arc<StreamConsumer<PipelineContext>> = Arc::new(
        consumer_config(settings)
            .create_with_context(PipelineContext {
                shared: shared.clone(),
            })
            .map_err(PipelineError::Client)?,
    );
    let producer: FutureProducer<ProducerStatsContext> = producer_config(settings)
        .create_with_context(ProducerStatsContext {
            stats: stats.clone(),
            input_topic: settings.topics.advance.clone(),
        })
        .map_err(PipelineError::Client)?;
    // Exactly-once: workers send only inside an open transaction; the committer closes it
    // while holding this gate for writing, so that no send falls between the offsets it
    // commits and the next transaction.
    let send_gate = settings.exactly_once().then(|| Arc::new(RwLock::new(())));
    if settings.exactly_once() {
        producer
            .init_transactions(TRANSACTION_TIMEOUT)
            .map_err(|source| PipelineError::Transaction {
                what: "init_transactions",
                source,
            })?;
        producer
            .begin_transaction()
            .map_err(|source| PipelineError::Transaction {
                what: "begin_transaction",
                source,
            })?;
        tracing::info!(transactional_id = %settings.effective_transactional_id(), "exactly-once: transactions initialised");
    }
    consumer
        .subscribe(&[&settings.topics.advance])
        .map_err(|source| PipelineError::Subscribe {
            topic: settings.topics.advance.clone(),
            source,
        })?;
    stats
        .readiness
        .pipeline_started(Duration::from_millis(statistics_interval_ms(settings)));

    let in_flight = InFlightBounds::new(settings.max_in_flight, settings.max_in_flight_bytes);
    let (outcome_sender, outcome_receiver) = mpsc::unbounded_channel::<Outcome>();
    let worker_count = settings.worker_count();
    let mut worker_senders = Vec::with_capacity(worker_count);
    let mut worker_threads = Vec::with_capacity(worker_count);
    for worker_number in 0..worker_count {
        // Each worker's queue holds at most its share of the in-flight bound.
        let (sender, receiver) =
            mpsc::channel::<WorkerCommand>((settings.max_in_flight / worker_count).max(16));
        worker_senders.push(sender);
        let worker = Worker {
            dedup_keys: stats.metrics.dedup_slot(),
            screener: screener.clone(),
            limits: limits.clone(),
            dedup: dedup.clone(),
            producer: producer.clone(),
            settings: settings.clone(),
            stats: stats.clone(),
            outcomes: outcome_sender.clone(),
            send_gate: send_gate.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("screener-worker-{worker_number}"))
            .spawn(move || worker.run(receiver))
            .expect("spawning a worker thread");
        worker_threads.push(thread);
    }
    drop(outcome_sender);

    let acker = match &send_gate {
        None => tokio::spawn(acknowledge(
            outcome_receiver,
            shared.clone(),
            consumer.clone(),
            settings.topics.advance.clone(),
            stats.clone(),
        )),
        Some(gate) => {
            let committer = TransactionCommitter {
                outcomes: outcome_receiver,
                shared: shared.clone(),
                consumer: consumer.clone(),
                producer: producer.clone(),
                gate: gate.clone(),
                interval: Duration::from_millis(u64::from(settings.transaction_interval_ms)),
            };
            tokio::task::spawn_blocking(move || committer.run())
        }
    };

    let mut dispatcher = Dispatcher {
        workers: worker_senders,
        batches: (0..worker_count).map(|_| Vec::new()).collect(),
        last_dispatched: HashMap::new(),
        shared: shared.clone(),
    };
    // Watch-list updates, to re-screen released parcels against their new entries.
    let mut watchlist_deltas = screener.subscribe();
    tokio::pin!(shutdown);
    let mut acker = acker;
    let mut delivery_failure: Option<PipelineError> = None;
    loop {
        let message = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            result = &mut acker => {
                // The acker stops early only on a delivery failure.
                delivery_failure = result.ok().and_then(|r| r.err());
                break;
            }
            delta = watchlist_deltas.recv(), if !settings.pass_through => {
                match delta {
                    Ok(delta) => start_rescreen(RescreenRequest {
                        settings: settings.clone(),
                        limits: limits.clone(),
                        window: dedup.window,
                        delta: delta_screener(&delta, &screener.current()),
                        partitions: assigned_positions(&consumer, &settings.topics.advance, &dispatcher.last_dispatched),
                        workers: dispatcher.workers.iter().map(mpsc::Sender::downgrade).collect(),
                    }),
                    Err(error) => tracing::warn!(%error, "watch-list updates missed: released parcels are not re-screened against them"),
                }
                continue;
            }
            message = consumer.recv() => message,
        };
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%error, "consumer error");
                continue;
            }
        };
        debug_assert!(dispatcher.is_flushed());
        if dispatcher.take(&message, &in_flight).await.is_err() {
            break;
        }
        drop(message);
        // Take what else the consumer already holds, without waiting, up to a batch: one
        // hand-over (and at most one wake-up) per worker per round instead of per record.
        let mut taken = 1;
        let mut stopping = false;
        while taken < DISPATCH_BATCH {
            let Some(result) = consumer.recv().now_or_never() else {
                break;
            };
            match result {
                Ok(message) => {
                    if dispatcher.take(&message, &in_flight).await.is_err() {
                        stopping = true;
                        break;
                    }
                    taken += 1;
                }
                Err(error) => tracing::warn!(%error, "consumer error"),
            }
        }
        if stopping || dispatcher.flush().await.is_err() {
            break;
        }
    }

    tracing::info!("stopping: finishing in-flight records");
    drop(dispatcher);
    for thread in worker_threads {
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
    if delivery_failure.is_none() && !acker.is_finished() {
        match tokio::time::timeout(SHUTDOWN_DRAIN_LIMIT, &mut acker).await {
            Ok(result) => delivery_failure = result.ok().and_then(|r| r.err()),
            Err(_) => tracing::warn!(
                "deliveries did not finish in time; their records will be redelivered"
            ),
        }
    }
    let final_commit = if settings.exactly_once() {
        // The committer's last transaction carried the last offsets.
        Ok(())
    } else {
        consumer.commit_consumer_state(CommitMode::Sync)
    };
    if let Err(error) = final_commit {
        if !matches!(
            error,
            KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)
        ) {
            tracing::warn!(%error, "final commit failed");
        }
    }
    consumer.unsubscribe();
    let _ = producer.flush(Duration::from_secs(5));
    stats
        .readiness
        .pipeline_stopped(delivery_failure.as_ref().map(ToString::to_string));
    match delivery_failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// What a re-screen after a watch-list update works on.
struct RescreenRequest {
    settings: KafkaConfig,
    limits: ParseLimits,
    window: Duration,
    /// Screens against the update's new entries only.
    delta: Screener,
    /// Assigned partitions and the next offset to dispatch in each.
    partitions: Vec<(i32, i64)>,
    /// Weak, so that a re-screen in progress does not keep the workers alive at shutdown.
    workers: Vec<mpsc::WeakSender<WorkerCommand>>,
}

/// The partitions assigned now, each with the offset after the last one dispatched.
fn assigned_positions(
    consumer: &StreamConsumer<PipelineContext>,
    topic: &str,
    last_dispatched: &HashMap<i32, i64>,
) -> Vec<(i32, i64)> {
    let Ok(assignment) = consumer.assignment() else {
        return Vec::new();
    };
    assignment
        .elements_for_topic(topic)
        .iter()
        .filter_map(|element| {
            let partition = element.partition();
            last_dispatched
                .get(&partition)
                .map(|last| (partition, last + 1))
        })
        .collect()
}

/// Looks for re-screen candidates on a thread of its own (screening goes on meanwhile) and
/// hands them to the partitions' workers.
fn start_rescreen(request: RescreenRequest) {
    let spawned = std::thread::Builder::new()
        .name("rescreen".to_string())
        .spawn(move || {
            let now_ms = chrono::Utc::now().timestamp_millis();
            for (partition, until_offset) in &request.partitions {
                let window = ReplayWindow {
                    partition: *partition,
                    until_offset: *until_offset,
                    until_timestamp_ms: now_ms,
                    window: request.window,
                };
                let started = Instant::now();
                let (candidates, report) =
                    find_candidates(&request.settings, &request.limits, &window, &request.delta);
                tracing::info!(
                    partition,
                    replayed = report.replayed,
                    complete = report.complete,
                    candidates = candidates.len(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "re-screen scan after a watch-list update"
                );
                if candidates.is_empty() {
                    continue;
                }
                let worker = &request.workers[*partition as usize % request.workers.len()];
                let Some(worker) = worker.upgrade() else {
                    return;
                };
                let command = WorkerCommand::Rescreen {
                    partition: *partition,
                    candidates,
                };
                if worker.blocking_send(command).is_err() {
                    return;
                }
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot start the re-screen thread; released parcels are not re-screened");
    }
}

/// Awaits deliveries in any order and stores the committable offset of each partition.
/// Returns early with an error if a delivery fails for good.
async fn acknowledge(
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

/// A decision as the JSON published on the decisions topic, written into a buffer that
/// holds a typical decision (250–400 bytes) at once; `serde_json::to_vec` starts at 128 bytes
/// and grows twice.
fn decision_payload(decision: &Decision) -> Vec<u8> {
    let mut payload = Vec::with_capacity(DECISION_PAYLOAD_CAPACITY);
    // A decision is plain data and a `Vec` takes any write: serialising cannot fail.
    let written = serde_json::to_writer(&mut payload, decision);
    debug_assert!(
        written.is_ok(),
        "serialising a decision failed: {written:?}"
    );
    payload
}

const DECISION_PAYLOAD_CAPACITY: usize = 512;

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
struct TransactionCommitter {
    outcomes: mpsc::UnboundedReceiver<Outcome>,
    shared: Arc<Shared>,
    consumer: Arc<StreamConsumer<PipelineContext>>,
    producer: FutureProducer<ProducerStatsContext>,
    gate: Arc<RwLock<()>>,
    interval: Duration,
}

impl TransactionCommitter {
    fn run(mut self) -> Result<(), PipelineError> {
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

/// A screening worker: owns the deduplicators of its partitions.
struct Worker {
    /// Where this worker publishes how many parcel keys its deduplicators hold.
    dedup_keys: Arc<AtomicU64>,
    screener: Arc<LiveScreener>,
    limits: ParseLimits,
    dedup: DedupConfig,
    producer: FutureProducer<ProducerStatsContext>,
    settings: KafkaConfig,
    stats: Arc<PipelineStats>,
    outcomes: mpsc::UnboundedSender<Outcome>,
    /// Exactly-once only: held for reading from a record's send to its outcome's hand-over,
    /// so that the committer sees every send of a transaction with its offset.
    send_gate: Option<Arc<RwLock<()>>>,
}

impl Worker {
    fn run(self, mut commands: mpsc::Receiver<WorkerCommand>) {
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
                        let payload = decision_payload(&decision);
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
            let payload = decision_payload(&decision);
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
fn statistics_interval_ms(settings: &KafkaConfig) -> u64 {
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

fn consumer_config(settings: &KafkaConfig) -> ClientConfig {
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

fn producer_config(settings: &KafkaConfig) -> ClientConfig {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_taken_only_when_both_bounds_have_room() {
        let bounds = InFlightBounds::new(3, 100);
        let first = bounds.try_take(60).expect("room for 60 bytes");
        assert!(bounds.try_take(60).is_none(), "120 bytes > 100");
        let small = bounds.try_take(40).expect("100 bytes exactly");
        assert!(
            bounds.try_take(0).is_none(),
            "a record counts at least one byte"
        );
        drop(first);
        let _second = bounds.try_take(50).expect("room again once acknowledged");
        let _third = bounds.try_take(1).expect("third record");
        assert!(
            bounds.try_take(1).is_none(),
            "three records is the record bound, with bytes to spare"
        );
        drop(small);
        assert_eq!(bounds.records.available_permits(), 1);
        assert_eq!(bounds.bytes.available_permits(), 49);
    }

    #[tokio::test]
    async fn a_record_larger_than_the_byte_bound_waits_for_all_of_it_not_forever() {
        let bounds = InFlightBounds::new(10, 100);
        let held = bounds.try_take(10).expect("room");
        assert!(bounds.try_take(1_000).is_none(), "needs every byte permit");
        drop(held);
        let big = tokio::time::timeout(Duration::from_secs(5), bounds.take(1_000))
            .await
            .expect("taken once nothing else is in flight")
            .expect("bounds open");
        assert_eq!(bounds.bytes.available_permits(), 0);
        drop(big);
        assert_eq!(bounds.bytes.available_permits(), 100);
    }
}
