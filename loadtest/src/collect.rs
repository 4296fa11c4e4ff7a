//! What came out of the service, as read from the decisions and rejected topics: one
//! receipt per distinct output with the time it was first read and how often it came.
//!
//! - Screening mode: a decision is identified by `(record_id, version)` (unique per decision
//!   the service makes; a redelivered decision repeats both), a rejection by the input
//!   position in its envelope (`source.partition`, `source.offset`).
//! - Pass-through mode: the service copies each input unchanged, so a copy is identified by
//!   its bytes (length and hash): malformed records match too, even when they are not JSON.
//!
//! The collector also counts, while the run goes on, how many of the outputs it waits for
//! have arrived, so the driver knows when the service has drained.

use serde::Deserialize;
use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::Hasher;

/// How the service was run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `parcel-screener run`: decisions and rejections.
    Screening,
    /// `parcel-screener run --pass-through`: every input copied to the decisions topic.
    PassThrough,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Screening => "screening",
            Mode::PassThrough => "pass-through",
        }
    }
}

/// A decision's verdict, as published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    Release,
    Hold,
    Cancelled,
    /// Anything else (a contract violation).
    Other,
}

impl Verdict {
    fn parse(text: &str) -> Verdict {
        match text {
            "RELEASE" => Verdict::Release,
            "HOLD" => Verdict::Hold,
            "CANCELLED" => Verdict::Cancelled,
            _ => Verdict::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Release => "RELEASE",
            Verdict::Hold => "HOLD",
            Verdict::Cancelled => "CANCELLED",
            Verdict::Other => "OTHER",
        }
    }
}

/// A decision is identified by the record it decides and its version.
pub type DecisionKey = (String, u32);

/// A copied record is identified by its length and a hash of its bytes.
pub type CopyKey = (usize, u64);

pub fn copy_key(bytes: &[u8]) -> CopyKey {
    let mut hasher = DefaultHasher::new();
    hasher.write(bytes);
    (bytes.len(), hasher.finish())
}

/// One distinct output: when it was first read (µs since the epoch) and how many times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    pub first_us: u64,
    pub count: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionReceipt {
    pub first_us: u64,
    pub count: u32,
    pub verdict: Verdict,
}

/// Everything read, for the final accounting.
#[derive(Debug, Default)]
pub struct Receipts {
    pub decisions: HashMap<DecisionKey, DecisionReceipt>,
    pub rejections: HashMap<(i32, i64), Receipt>,
    /// Pass-through copies: every time each distinct payload was read, in reading order.
    pub copies: HashMap<CopyKey, Vec<u64>>,
    /// Messages that are not what their topic should carry (not a decision record, not a
    /// rejection envelope, or a rejection in pass-through mode).
    pub unreadable: u64,
    pub unreadable_examples: Vec<String>,
    /// Messages read, per topic, including repeats.
    pub decisions_read: u64,
    pub rejections_read: u64,
    /// Messages older than the run (left on the topics by an earlier run), ignored.
    pub stale: u64,
}

#[derive(Deserialize)]
struct DecisionView<'a> {
    #[serde(borrow)]
    record_id: Cow<'a, str>,
    version: u32,
    #[serde(borrow)]
    decision: Cow<'a, str>,
}

#[derive(Deserialize)]
struct RejectionView {
    source: SourceView,
}

#[derive(Deserialize)]
struct SourceView {
    partition: i32,
    offset: i64,
}

/// Most examples of a kind kept for the report.
pub const MAX_EXAMPLES: usize = 5;

/// Reads outputs as they arrive; see the module documentation.
#[derive(Debug)]
pub struct Collector {
    mode: Mode,
    receipts: Receipts,
    /// Decisions awaited (screening mode).
    wanted_decisions: HashSet<DecisionKey>,
    /// Rejections awaited (screening mode): their number.
    wanted_rejections: u64,
    /// Copies awaited (pass-through mode), with multiplicity.
    wanted_copies: HashMap<CopyKey, u32>,
    matched_decisions: u64,
    matched_copies: u64,
    wanted_total: u64,
}

impl Collector {
    /// Screening mode: waits for these decisions and this many rejections.
    pub fn screening(wanted_decisions: HashSet<DecisionKey>, wanted_rejections: u64) -> Self {
        let wanted_total = wanted_decisions.len() as u64 + wanted_rejections;
        Collector {
            mode: Mode::Screening,
            receipts: Receipts::default(),
            wanted_decisions,
            wanted_rejections,
            wanted_copies: HashMap::new(),
            matched_decisions: 0,
            matched_copies: 0,
            wanted_total,
        }
    }

    /// Pass-through mode: waits for a copy of every record sent (`wanted` counts each
    /// distinct payload).
    pub fn pass_through(wanted: HashMap<CopyKey, u32>) -> Self {
        let wanted_total = wanted.values().map(|n| u64::from(*n)).sum();
        Collector {
            mode: Mode::PassThrough,
            receipts: Receipts::default(),
            wanted_decisions: HashSet::new(),
            wanted_rejections: 0,
            wanted_copies: wanted,
            matched_decisions: 0,
            matched_copies: 0,
            wanted_total,
        }
    }

    /// Outputs awaited in all.
    pub fn wanted(&self) -> u64 {
        self.wanted_total
    }

    /// Awaited outputs read so far (each counted once).
    pub fn matched(&self) -> u64 {
        let rejections = (self.receipts.rejections.len() as u64).min(self.wanted_rejections);
        self.matched_decisions + rejections + self.matched_copies
    }

    /// A message read from the decisions topic at `read_us`.
    pub fn decision(&mut self, payload: &[u8], read_us: u64) {
        self.receipts.decisions_read += 1;
        match self.mode {
            Mode::Screening => {
                let Ok(view) = serde_json::from_slice::<DecisionView<'_>>(payload) else {
                    self.unreadable("decisions", payload);
                    return;
                };
                let verdict = Verdict::parse(&view.decision);
                let key: DecisionKey = (view.record_id.into_owned(), view.version);
                if let Some(receipt) = self.receipts.decisions.get_mut(&key) {
                    receipt.count += 1;
                    return;
                }
                if self.wanted_decisions.contains(&key) {
                    self.matched_decisions += 1;
                }
                self.receipts.decisions.insert(
                    key,
                    DecisionReceipt {
                        first_us: read_us,
                        count: 1,
                        verdict,
                    },
                );
            }
            Mode::PassThrough => {
                let key = copy_key(payload);
                let reads = self.receipts.copies.entry(key).or_default();
                reads.push(read_us);
                let wanted = self.wanted_copies.get(&key).copied().unwrap_or(0);
                if reads.len() as u64 <= u64::from(wanted) {
                    self.matched_copies += 1;
                }
            }
        }
    }

    /// A message read from the rejected topic at `read_us`.
    pub fn rejection(&mut self, payload: &[u8], read_us: u64) {
        self.receipts.rejections_read += 1;
        if self.mode == Mode::PassThrough {
            self.unreadable("rejected", payload);
            return;
        }
        let Ok(view) = serde_json::from_slice::<RejectionView>(payload) else {
            self.unreadable("rejected", payload);
            return;
        };
        self.receipts
            .rejections
            .entry((view.source.partition, view.source.offset))
            .and_modify(|receipt| receipt.count += 1)
            .or_insert(Receipt {
                first_us: read_us,
                count: 1,
            });
    }

    /// A message older than the run: ignored, counted.
    pub fn stale(&mut self) {
        self.receipts.stale += 1;
    }

    fn unreadable(&mut self, topic: &str, payload: &[u8]) {
        self.receipts.unreadable += 1;
        if self.receipts.unreadable_examples.len() < MAX_EXAMPLES {
            let text = String::from_utf8_lossy(&payload[..payload.len().min(120)]);
            self.receipts
                .unreadable_examples
                .push(format!("{topic}: {text}"));
        }
    }

    pub fn into_receipts(self) -> Receipts {
        self.receipts
    }
}
