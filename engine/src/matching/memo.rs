//! A bounded, shared memo of a pure function: values filed under a 128-bit hash of their
//! input, in independently locked shards. The search cache (`cache`) and the names' tokens
//! (`remembered_tokens`) are both one.
//!
//! - **Keyed by a hash, not the input.** A lookup reads as little memory as it can, since a
//!   full memo is far larger than the processor's caches; two inputs share a 128-bit xxh3
//!   hash with a probability of about 2⁻¹²⁸ a pair, as the deduplicator's parcel keys do.
//! - **Shards.** Every screening thread uses the same memo (a party's parcels land on any
//!   partition, hence any worker), so it is split into maps chosen by the hash, each behind
//!   its own `Mutex`: two threads rarely want the same lock, and hold it only for a lookup
//!   or an insertion. A `Mutex` rather than an `RwLock`: the critical sections are a few
//!   hundred nanoseconds and, while a memo fills, half of them write.
//! - **Computed outside the lock.** Two threads may compute the same value meanwhile; both
//!   insert the same value, since the function is pure.
//! - **Bounded.** A shard that reaches its share of the capacity starts over, which costs
//!   one computation per distinct input afterwards.

use rustc_hash::FxHashMap;
use std::sync::{Mutex, MutexGuard};

/// Values by the hash of their input, in independently locked shards.
pub(super) struct ShardedMemo<V> {
    /// Chosen by the hash's low bits (`shard_mask`).
    shards: Box<[Mutex<FxHashMap<u128, V>>]>,
    /// `shards.len() - 1`, a power of two less one: a shard is chosen with a mask where a
    /// remainder by a count known only at run time would be a division on every lookup.
    shard_mask: usize,
    /// Entries a shard holds before it starts over.
    shard_capacity: usize,
}

impl<V: Clone> ShardedMemo<V> {
    /// An empty memo of `shard_count` shards (a power of two) that holds up to about
    /// `capacity` values.
    pub(super) fn new(shard_count: usize, capacity: usize) -> Self {
        assert!(
            shard_count.is_power_of_two(),
            "a memo's shard count is a power of two, not {shard_count}"
        );
        debug_assert!(capacity >= shard_count);
        ShardedMemo {
            shards: (0..shard_count)
                .map(|_| Mutex::new(FxHashMap::default()))
                .collect(),
            shard_mask: shard_count - 1,
            shard_capacity: capacity / shard_count,
        }
    }

    /// The value filed under `hash`, or `compute()`'s, then filed. `compute` must be a pure
    /// function of what `hash` was taken of.
    pub(super) fn get_or_compute(&self, hash: u128, compute: impl FnOnce() -> V) -> V {
        let shard = &self.shards[(hash as usize) & self.shard_mask];
        if let Some(value) = lock(shard).get(&hash) {
            return value.clone();
        }
        let value = compute();
        let mut shard = lock(shard);
        if shard.len() >= self.shard_capacity {
            shard.clear();
        }
        shard.insert(hash, value.clone());
        value
    }

    /// Values held.
    pub(super) fn len(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).len()).sum()
    }

    /// Heap bytes held, counted from the contents: each shard's table, and what
    /// `value_bytes` says each value holds on the heap (without the allocator's rounding).
    #[cfg(test)]
    pub(super) fn heap_bytes(&self, value_bytes: impl Fn(&V) -> usize) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let shard = lock(shard);
                let values: usize = shard.values().map(&value_bytes).sum();
                super::index::map_bytes(&shard) + values
            })
            .sum()
    }
}

/// Heap bytes of an `Arc<[T]>` holding `elements`: two reference counts, then the elements
/// (without the allocator's rounding).
#[cfg(test)]
pub(super) fn arc_slice_bytes<T>(elements: &[T]) -> usize {
    2 * std::mem::size_of::<usize>() + std::mem::size_of_val(elements)
}

/// Locks a shard; a panic elsewhere while it was held (there is no code that can panic
/// under the lock) leaves a map that is still whole.
fn lock<T>(shard: &Mutex<T>) -> MutexGuard<'_, T> {
    shard
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_value_is_computed_once_per_hash_on_any_thread() {
        let computed = AtomicUsize::new(0);
        let square = |input: u128| {
            computed.fetch_add(1, Ordering::Relaxed);
            input * input
        };
        let memo = ShardedMemo::new(4, 64);
        assert_eq!(memo.get_or_compute(7, || square(7)), 49);
        assert_eq!(memo.get_or_compute(7, || square(7)), 49);
        std::thread::scope(|scope| {
            scope.spawn(|| assert_eq!(memo.get_or_compute(7, || square(7)), 49));
        });
        assert_eq!(computed.load(Ordering::Relaxed), 1);
        assert_eq!(memo.get_or_compute(8, || square(8)), 64);
        assert_eq!(computed.load(Ordering::Relaxed), 2);
        assert_eq!(memo.len(), 2);
    }

    #[test]
    fn a_full_shard_starts_over() {
        let memo = ShardedMemo::new(4, 64);
        for input in 0..1_000u128 {
            memo.get_or_compute(input, || input);
        }
        let held = memo.len();
        assert!((1..=64).contains(&held), "{held}");
        // What is still held is still right.
        for input in 0..1_000u128 {
            assert_eq!(memo.get_or_compute(input, || input), input);
        }
    }
}
