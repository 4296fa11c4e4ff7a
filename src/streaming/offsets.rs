//! Which input offset may be committed: per partition, the offset after the longest run of
//! records whose outcome (decision, rejection, or suppressed duplicate) is acknowledged.
//!
//! Records of a partition are acknowledged out of order (their decisions go to other output
//! partitions), but an offset is committed only once it and every earlier offset of its
//! partition are done (SPEC §10: no parcel is lost).

use std::collections::{BTreeMap, HashMap};

/// Tracks in-flight offsets of every assigned partition. Owned by one task; no lock.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: HashMap<i32, PartitionOffsets>,
}

#[derive(Debug, Default)]
struct PartitionOffsets {
    /// Offsets started and not yet acknowledged → false; acknowledged but not yet
    /// committable (an earlier offset is still in flight) → true.
    in_flight: BTreeMap<i64, bool>,
    /// The next offset to commit (one past the last committable one), once known.
    committable: Option<i64>,
}

impl OffsetTracker {
    pub fn new() -> Self {
        OffsetTracker::default()
    }

    /// Records that `offset` of `partition` was read and is being processed. Offsets of one
    /// partition must be started in increasing order.
    pub fn start(&mut self, partition: i32, offset: i64) {
        let state = self.partitions.entry(partition).or_default();
        debug_assert!(
            state
                .in_flight
                .keys()
                .next_back()
                .is_none_or(|last| *last < offset),
            "offsets of partition {partition} started out of order: {offset}"
        );
        state.in_flight.insert(offset, false);
    }

    /// Records that `offset` is done. Returns the new offset to commit for the partition
    /// (one past the last offset of the done run), if it advanced.
    pub fn finish(&mut self, partition: i32, offset: i64) -> Option<i64> {
        let state = self.partitions.get_mut(&partition)?;
        let slot = state.in_flight.get_mut(&offset)?;
        *slot = true;
        let mut advanced = None;
        while let Some(entry) = state.in_flight.first_entry() {
            if !*entry.get() {
                break;
            }
            let done = *entry.key();
            entry.remove();
            advanced = Some(done + 1);
        }
        if let Some(next) = advanced {
            state.committable = Some(next);
        }
        advanced
    }

    /// Number of records in flight across partitions.
    pub fn in_flight(&self) -> usize {
        self.partitions.values().map(|p| p.in_flight.len()).sum()
    }

    /// Number of records in flight for one partition.
    pub fn in_flight_for(&self, partition: i32) -> usize {
        self.partitions
            .get(&partition)
            .map_or(0, |p| p.in_flight.len())
    }

    /// The offset to commit for `partition`, if any record of it is done.
    pub fn committable(&self, partition: i32) -> Option<i64> {
        self.partitions.get(&partition).and_then(|p| p.committable)
    }

    /// Forgets a partition (revoked).
    pub fn forget(&mut self, partition: i32) {
        self.partitions.remove(&partition);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_only_the_contiguous_done_prefix() {
        let mut tracker = OffsetTracker::new();
        for offset in 10..15 {
            tracker.start(0, offset);
        }
        assert_eq!(tracker.finish(0, 12), None, "10 and 11 still in flight");
        assert_eq!(tracker.finish(0, 10), Some(11));
        assert_eq!(
            tracker.finish(0, 11),
            Some(13),
            "11 and the already done 12"
        );
        assert_eq!(tracker.committable(0), Some(13));
        assert_eq!(tracker.in_flight(), 2);
        assert_eq!(tracker.finish(0, 14), None);
        assert_eq!(tracker.finish(0, 13), Some(15));
        assert_eq!(tracker.in_flight(), 0);
    }

    #[test]
    fn partitions_are_independent_and_unknown_offsets_ignored() {
        let mut tracker = OffsetTracker::new();
        tracker.start(0, 5);
        tracker.start(1, 7);
        assert_eq!(tracker.finish(1, 7), Some(8));
        assert_eq!(tracker.committable(0), None);
        assert_eq!(tracker.finish(2, 1), None, "unknown partition");
        assert_eq!(tracker.finish(0, 99), None, "unknown offset");
        tracker.forget(0);
        assert_eq!(tracker.in_flight_for(0), 0);
    }
}
