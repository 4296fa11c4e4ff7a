//! The consume → screen → produce pipeline. See the module docs of `streaming` for the shape.
//!
//! - `run_pipeline` (here): creates the clients, starts the workers and the acker, runs the
//!   consumer loop, and stops them in order;
//! - [`dispatch`]: the consumer loop's side: in-flight bounds, batches of records handed to
//!   the workers, dedup rebuilds ordered on (re)assignment;
//! - [`worker`]: the screening threads: parse, dedup, screen, publish;
//! - [`acker`]: acknowledged deliveries to stored offsets (at-least-once), or the
//!   transaction committer (exactly-once);
//! - [`context`]: librdkafka callbacks: rebalances, statistics, client errors;
//! - [`clients`]: the consumer's and the producer's librdkafka settings.

mod acker;
mod clients;
mod context;
mod dispatch;
mod worker;

use futures_util::FutureExt;
use hdrhistogram::Histogram;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, Producer};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

use screener_engine::decision::Verdict;
use screener_engine::dedup::DedupConfig;
use screener_engine::record::ParseLimits;
use screener_engine::rules::Screener;

use crate::live::LiveScreener;
use crate::metrics::{Metrics, Readiness};

use super::config::KafkaConfig;
use super::offsets::OffsetTracker;
use super::rebuild::ReplayWindow;
use super::rescreen::{delta_screener, find_candidates};
use acker::{acknowledge, Outcome, TransactionCommitter};
use clients::{consumer_config, producer_config, statistics_interval_ms};
use context::{PipelineContext, ProducerStatsContext};
use dispatch::{Dispatcher, InFlightBounds, WorkerCommand, DISPATCH_BATCH};
use worker::Worker;

/// How long shutdown waits for outstanding deliveries before giving up (their offsets stay
/// uncommitted, so they are redelivered: nothing is lost).
const SHUTDOWN_DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// Longest a transaction call (init, send offsets, commit, abort) may take.
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);

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
    /// `kafka.topics.advance`: picks the input's partitions out of a rebalance's list.
    input_topic: String,
    /// Metrics and readiness, for the client callbacks.
    stats: Arc<PipelineStats>,
    /// `kafka.delivery = exactly-once`: offsets are committed in transactions, not by the
    /// consumer.
    exactly_once: bool,
}

/// Commits the offsets the acker stored, at once, on a revocation or at shutdown. With
/// exactly-once there is nothing to commit: the offsets went into the transactions (the
/// committer's last one carried the last of them). Nothing stored yet, the normal state of
/// an idle partition, is not an error; any other failure is logged as `"{what} failed"`, and
/// the records after the last committed offset are read again (nothing is lost).
fn commit_stored_offsets(
    consumer: &impl Consumer<PipelineContext>,
    exactly_once: bool,
    what: &'static str,
) {
    if exactly_once {
        return;
    }
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(error) => tracing::warn!(%error, "{what} failed"),
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
    commit_stored_offsets(consumer.as_ref(), settings.exactly_once(), "final commit");
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
