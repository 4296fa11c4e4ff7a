//! The final accounting: every report sent is decided, suppressed as a duplicate, rejected,
//! or lost; every output read is one of those (or a redelivery of one); and the end-to-end
//! latency of each output, from the time its input was produced to the time it was read.

use hdrhistogram::Histogram;
use std::collections::{BTreeMap, HashMap, HashSet};

use crate::collect::{CopyKey, DecisionKey, Mode, Receipts, Verdict, MAX_EXAMPLES};
use crate::expect::{Expected, Placement};

/// One report as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its `record_id`, if it parses.
    pub record_id: Option<String>,
    /// Its bytes' identity, for pass-through matching.
    pub copy_key: CopyKey,
    /// When it was handed to the producer (µs since the epoch); its Kafka timestamp is this
    /// in milliseconds.
    pub produce_us: u64,
    /// Where the broker stored it; `None` if it was not delivered.
    pub placement: Option<Placement>,
    /// What the service must do with it (screening mode); `None` if not delivered.
    pub expected: Option<Expected>,
}

/// Latency histogram: 1 µs to 1 hour, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct Accounting {
    pub mode: Mode,
    /// Reports the generator made.
    pub reports: u64,
    /// Reports the broker acknowledged.
    pub sent: u64,
    /// Reports the broker did not acknowledge.
    pub not_delivered: u64,
    pub decided: u64,
    pub suppressed: u64,
    pub rejected: u64,
    /// Pass-through: copies read back.
    pub copied: u64,
    /// Expected outputs that never came.
    pub lost: u64,
    /// Outputs that match nothing sent (or unreadable ones).
    pub unexpected: u64,
    /// Extra copies of an output already read (at-least-once redelivery).
    pub redelivered: u64,
    /// Decisions whose verdict contradicts the expectation (CANCELLED for a cancellation,
    /// RELEASE or HOLD otherwise).
    pub wrong_verdict: u64,
    pub verdicts: BTreeMap<&'static str, u64>,
    /// Produce → read, in microseconds, one value per expected output read.
    pub latency_us: Histogram<u64>,
    pub first_send_us: u64,
    pub last_send_us: u64,
    /// When the last expected output was first read.
    pub last_output_us: u64,
    /// Backlog mode: when the service started on the preloaded feed; end to end counts from
    /// here rather than from the first send.
    pub backlog_start_us: Option<u64>,
    pub lost_examples: Vec<String>,
    pub unexpected_examples: Vec<String>,
}

impl Accounting {
    fn new(mode: Mode) -> Self {
        Accounting {
            mode,
            reports: 0,
            sent: 0,
            not_delivered: 0,
            decided: 0,
            suppressed: 0,
            rejected: 0,
            copied: 0,
            lost: 0,
            unexpected: 0,
            redelivered: 0,
            wrong_verdict: 0,
            verdicts: BTreeMap::new(),
            latency_us: new_histogram(),
            first_send_us: 0,
            last_send_us: 0,
            last_output_us: 0,
            backlog_start_us: None,
            lost_examples: Vec::new(),
            unexpected_examples: Vec::new(),
        }
    }

    /// Every report sent is accounted for.
    pub fn balanced(&self) -> bool {
        self.decided + self.suppressed + self.rejected + self.copied + self.lost == self.sent
    }

    /// The run passes: nothing lost, nothing undelivered, nothing unexpected, verdicts right.
    pub fn passed(&self) -> bool {
        self.balanced()
            && self.lost == 0
            && self.not_delivered == 0
            && self.unexpected == 0
            && self.wrong_verdict == 0
    }

    /// Seconds from the first send (backlog mode: from the service's start) to the last
    /// expected output read (or the last send if nothing was expected).
    pub fn end_to_end_seconds(&self) -> f64 {
        match self.backlog_start_us {
            Some(start) => self.last_output_us.saturating_sub(start) as f64 / 1e6,
            None => {
                let end = self.last_output_us.max(self.last_send_us);
                end.saturating_sub(self.first_send_us) as f64 / 1e6
            }
        }
    }

    pub fn send_seconds(&self) -> f64 {
        self.last_send_us.saturating_sub(self.first_send_us) as f64 / 1e6
    }

    fn read(&mut self, entry: &Entry, read_us: u64) {
        let latency = read_us.saturating_sub(entry.produce_us).max(1);
        let _ = self.latency_us.record(latency.min(3_600_000_000));
        self.last_output_us = self.last_output_us.max(read_us);
    }

    fn lose(&mut self, index: usize, entry: &Entry, what: &str) {
        self.lost += 1;
        if self.lost_examples.len() < MAX_EXAMPLES {
            let place = entry
                .placement
                .map(|p| format!("partition {} offset {}", p.partition, p.offset))
                .unwrap_or_default();
            let id = entry.record_id.as_deref().unwrap_or("(unparsable)");
            self.lost_examples
                .push(format!("report #{index} {id} at {place}: no {what}"));
        }
    }

    fn surprise(&mut self, count: u64, what: String) {
        self.unexpected += count;
        if self.unexpected_examples.len() < MAX_EXAMPLES {
            self.unexpected_examples.push(what);
        }
    }
}

/// Accounts for every entry against what was read.
pub fn account(mode: Mode, entries: &[Entry], receipts: &Receipts) -> Accounting {
    let mut accounting = Accounting::new(mode);
    accounting.reports = entries.len() as u64;
    let mut first_send = u64::MAX;
    for entry in entries {
        if entry.placement.is_some() {
            accounting.sent += 1;
            first_send = first_send.min(entry.produce_us);
            accounting.last_send_us = accounting.last_send_us.max(entry.produce_us);
        } else {
            accounting.not_delivered += 1;
        }
    }
    accounting.first_send_us = if first_send == u64::MAX {
        0
    } else {
        first_send
    };
    match mode {
        Mode::Screening => account_screening(&mut accounting, entries, receipts),
        Mode::PassThrough => account_pass_through(&mut accounting, entries, receipts),
    }
    if receipts.unreadable > 0 {
        accounting.unexpected += receipts.unreadable;
        for example in &receipts.unreadable_examples {
            if accounting.unexpected_examples.len() < MAX_EXAMPLES {
                accounting
                    .unexpected_examples
                    .push(format!("unreadable on {example}"));
            }
        }
    }
    accounting
}

fn account_screening(accounting: &mut Accounting, entries: &[Entry], receipts: &Receipts) {
    let mut matched_decisions: HashSet<DecisionKey> = HashSet::new();
    let mut matched_rejections: HashSet<(i32, i64)> = HashSet::new();
    for (index, entry) in entries.iter().enumerate() {
        let Some(placement) = entry.placement else {
            continue;
        };
        match entry.expected {
            // Delivered but without an expectation: cannot happen when the expectation is
            // computed from the placements; count it as lost rather than hide it.
            None => accounting.lose(index, entry, "expectation"),
            Some(Expected::Suppressed) => accounting.suppressed += 1,
            Some(Expected::Decision { version, cancelled }) => {
                let key = entry.record_id.clone().map(|id| (id, version));
                let receipt = key.as_ref().and_then(|key| receipts.decisions.get(key));
                match (key, receipt) {
                    (Some(key), Some(receipt)) => {
                        accounting.decided += 1;
                        *accounting
                            .verdicts
                            .entry(receipt.verdict.as_str())
                            .or_default() += 1;
                        let is_cancelled = receipt.verdict == Verdict::Cancelled;
                        if is_cancelled != cancelled || receipt.verdict == Verdict::Other {
                            accounting.wrong_verdict += 1;
                        }
                        accounting.read(entry, receipt.first_us);
                        matched_decisions.insert(key);
                    }
                    _ => accounting.lose(index, entry, &format!("decision version {version}")),
                }
            }
            Some(Expected::Rejected) => {
                let position = (placement.partition, placement.offset);
                match receipts.rejections.get(&position) {
                    Some(receipt) => {
                        accounting.rejected += 1;
                        accounting.read(entry, receipt.first_us);
                        matched_rejections.insert(position);
                    }
                    None => accounting.lose(index, entry, "rejection"),
                }
            }
        }
    }
    for (key, receipt) in &receipts.decisions {
        if matched_decisions.contains(key) {
            accounting.redelivered += u64::from(receipt.count.saturating_sub(1));
        } else {
            accounting.surprise(
                u64::from(receipt.count),
                format!(
                    "decision for record {} version {} ({}), matching no report sent",
                    key.0,
                    key.1,
                    receipt.verdict.as_str()
                ),
            );
        }
    }
    for (position, receipt) in &receipts.rejections {
        if matched_rejections.contains(position) {
            accounting.redelivered += u64::from(receipt.count.saturating_sub(1));
        } else {
            accounting.surprise(
                u64::from(receipt.count),
                format!(
                    "rejection of partition {} offset {}, which is not a malformed report sent",
                    position.0, position.1
                ),
            );
        }
    }
    for reads in receipts.copies.values() {
        accounting.surprise(reads.len() as u64, "a copy in screening mode".to_string());
    }
}

fn account_pass_through(accounting: &mut Accounting, entries: &[Entry], receipts: &Receipts) {
    // The n-th report with given bytes is matched with the n-th copy of them read.
    let mut occurrences: HashMap<CopyKey, usize> = HashMap::new();
    for (index, entry) in entries.iter().enumerate() {
        if entry.placement.is_none() {
            continue;
        }
        let occurrence = occurrences.entry(entry.copy_key).or_default();
        let read = receipts
            .copies
            .get(&entry.copy_key)
            .and_then(|reads| reads.get(*occurrence))
            .copied();
        *occurrence += 1;
        match read {
            Some(read_us) => {
                accounting.copied += 1;
                accounting.read(entry, read_us);
            }
            None => accounting.lose(index, entry, "copy"),
        }
    }
    for (key, reads) in &receipts.copies {
        let sent = occurrences.get(key).copied().unwrap_or(0);
        if sent == 0 {
            accounting.surprise(
                reads.len() as u64,
                format!("a copy of {} bytes matching no report sent", key.0),
            );
        } else if reads.len() > sent {
            accounting.redelivered += (reads.len() - sent) as u64;
        }
    }
    if !receipts.decisions.is_empty() || !receipts.rejections.is_empty() {
        let count = receipts.decisions.len() + receipts.rejections.len();
        accounting.surprise(
            count as u64,
            "decisions or rejections in pass-through mode".to_string(),
        );
    }
}
