//! The consumer loop's side of the pipeline: records taken under the in-flight bounds and
//! handed to the workers in batches, a partition always to the same worker.

use rdkafka::message::Message;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::super::rescreen::RescreenCandidate;
use super::{lock, Shared};

/// Most records the consumer loop takes in one round before handing them to the workers.
/// A round takes only what the consumer already holds, so a slow feed goes record by record
/// (no added latency) and a fast one in batches: one hand-over and at most one wake-up per
/// worker per round. Each hand-over woke a worker, and each acknowledgement freeing room woke
/// the loop: at full speed the workers were preempted some 8,000 times a second.
pub(super) const DISPATCH_BATCH: usize = 64;

/// One record handed to a worker.
pub(super) struct Job {
    pub(super) partition: i32,
    pub(super) offset: i64,
    pub(super) key: Option<Vec<u8>>,
    pub(super) payload: Vec<u8>,
    /// The record's Kafka timestamp (ms), the time dedup windows follow.
    pub(super) timestamp_ms: i64,
    pub(super) permit: InFlightPermit,
}

/// A record's share of the in-flight bounds: one record and its bytes (key and payload),
/// returned when its outcome is acknowledged.
pub(super) struct InFlightPermit {
    _record: OwnedSemaphorePermit,
    _bytes: OwnedSemaphorePermit,
}

/// The in-flight bounds, `kafka.max_in_flight` records and `kafka.max_in_flight_bytes`
/// bytes: a record is taken only when both have room.
pub(super) struct InFlightBounds {
    records: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
    /// All the byte permits: a record larger than the bound takes all of them (it waits
    /// until nothing else is in flight) rather than waiting forever.
    total_bytes: u32,
}

impl InFlightBounds {
    pub(super) fn new(records: usize, bytes: u64) -> Self {
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

pub(super) enum WorkerCommand {
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
pub(super) struct Dispatcher {
    /// One queue per worker; partition `p` goes to worker `p % workers.len()`.
    pub(super) workers: Vec<mpsc::Sender<WorkerCommand>>,
    /// Records taken this round and not yet handed over, per worker.
    pub(super) batches: Vec<Vec<Job>>,
    /// The last offset dispatched per partition, to notice when a partition rewinds.
    pub(super) last_dispatched: HashMap<i32, i64>,
    pub(super) shared: Arc<Shared>,
}

/// The workers are gone, or the in-flight permits closed: the pipeline is stopping.
pub(super) struct WorkersGone;

impl Dispatcher {
    /// Takes the in-flight permits for `message` and adds it to its worker's batch. When an
    /// in-flight bound is reached, what is held is handed over before waiting: held records
    /// return their permits only once handed over and acknowledged.
    pub(super) async fn take(
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
    pub(super) async fn flush(&mut self) -> Result<(), WorkersGone> {
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

    pub(super) fn is_flushed(&self) -> bool {
        self.batches.iter().all(Vec::is_empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
