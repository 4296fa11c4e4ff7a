//! The streaming service: parcel records from Kafka, decisions and rejections back to Kafka,
//! nothing lost (SPEC §2, §10).
//!
//! Data flow, one arrow per channel:
//!
//! ```text
//! consumer loop ──(bounded, per worker)──> screening workers ──> producer
//!      │  start(offset)                         │ delivery futures
//!      ▼                                        ▼
//!  OffsetTracker <──────── finish(offset) ── acker ──> store_offset (auto-committed)
//! ```
//!
//! - Records of one input partition always go to the same worker thread, which screens them
//!   in order and owns that partition's deduplicator, so no lock guards dedup state. The
//!   consumer loop hands them over in batches of what the consumer already holds, and the
//!   acker, while records are in flight, wakes once a millisecond and handles every
//!   outcome and delivery settled since, so that a fast feed costs a wake-up per batch or
//!   tick rather than per record, and an idle one sleeps until the next outcome.
//! - Two semaphores, of `max_in_flight` records and `max_in_flight_bytes` bytes, bound the
//!   records read but not yet acknowledged: a slow broker slows consumption instead of
//!   growing memory.
//! - An offset is stored for commit only when its outcome and every earlier outcome of its
//!   partition are acknowledged by the broker (duplicates count as done at once).
//! - On a revocation, the rebalance callback waits for the revoked partitions to drain and
//!   commits; a (re)assigned partition first rebuilds its dedup state by replaying its input
//!   within the dedup window (`rebuild`), so redelivered records get identical decisions.
//! - Shutdown: stop reading, let workers finish, wait for deliveries (bounded), commit.

pub mod config;
pub mod mock_broker;
pub mod offsets;
pub mod rejected;

mod pipeline;
mod rebuild;
mod rescreen;

pub use pipeline::{run_pipeline, PipelineError, PipelineStats, StatsSnapshot};
