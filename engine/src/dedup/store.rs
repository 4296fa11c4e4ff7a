//! Where a [`Deduplicator`](super::Deduplicator) keeps its parcel states: in the order the
//! keys were first reported, which is also the order they leave in (expiry and eviction both
//! take the oldest key first), so the states form a queue.
//!
//! Layout, for memory (10 million keys must fit in 2 GB with the lists, SPEC §10):
//! - the states sit in fixed-size chunks, appended at the back and released from the front a
//!   chunk at a time, so the queue never holds more than one chunk of slack, where a
//!   `VecDeque` or a map doubles its capacity (up to 67% unused at 10 million);
//! - a key is found through a table that holds only the state's sequence number (8 bytes a
//!   slot, where a map of key → state would carry the 16-byte key and the state in every
//!   slot, used or not). The key is read from the state itself, which is also what the
//!   table's hash is recomputed from when it grows.

use hashbrown::HashTable;
use std::collections::VecDeque;

use super::KeyId;

/// States per chunk: large enough that the chunk list is short (2,442 chunks for 10 million
/// keys), small enough that the slack at either end is noise (≈ 400 KB a chunk).
const CHUNK_STATES: usize = 4096;

/// One remembered key.
#[derive(Debug)]
struct Slot<S> {
    /// The key, to remove it from the table when it leaves and to rehash the table.
    key: KeyId,
    /// When the key was first reported (the report's time, ms): expiry reads it.
    first_seen_ms: i64,
    state: S,
}

/// Parcel states by key, oldest first.
#[derive(Debug)]
pub(super) struct KeyStore<S> {
    /// The slots in arrival order. Every chunk but the last is full (`CHUNK_STATES`); the
    /// slots of the first chunk before `head` have left already and are dropped with their
    /// chunk.
    chunks: VecDeque<Vec<Slot<S>>>,
    /// Index, in the first chunk, of the oldest slot still held.
    head: usize,
    /// Sequence number of the oldest slot still held. Slots are numbered from 0 in arrival
    /// order; the slot numbered `n` is `n - oldest_sequence` places after the head.
    oldest_sequence: u64,
    /// Sequence number of every slot held, hashed by its key.
    sequences: HashTable<u64>,
}

impl<S> Default for KeyStore<S> {
    fn default() -> Self {
        KeyStore {
            chunks: VecDeque::new(),
            head: 0,
            oldest_sequence: 0,
            sequences: HashTable::new(),
        }
    }
}

/// The table's hash of a key: a word of it (keys are hashes already).
fn table_hash(key: KeyId) -> u64 {
    key.0
}

/// Where the slot numbered `sequence`, which must be held, lies: (chunk, index in it).
fn position(head: usize, oldest_sequence: u64, sequence: u64) -> (usize, usize) {
    debug_assert!(sequence >= oldest_sequence, "slot {sequence} has left");
    let offset = head + (sequence - oldest_sequence) as usize;
    (offset / CHUNK_STATES, offset % CHUNK_STATES)
}

/// The slot numbered `sequence`, which must be held (a free function so that it can be
/// called while the table is borrowed mutably).
fn slot_at<S>(
    chunks: &VecDeque<Vec<Slot<S>>>,
    head: usize,
    oldest_sequence: u64,
    sequence: u64,
) -> &Slot<S> {
    let (chunk, index) = position(head, oldest_sequence, sequence);
    &chunks[chunk][index]
}

impl<S> KeyStore<S> {
    /// Number of keys held.
    pub(super) fn len(&self) -> usize {
        self.sequences.len()
    }

    fn sequence_of(&self, key: KeyId) -> Option<u64> {
        let (chunks, head, oldest) = (&self.chunks, self.head, self.oldest_sequence);
        self.sequences
            .find(table_hash(key), |&sequence| {
                slot_at(chunks, head, oldest, sequence).key == key
            })
            .copied()
    }

    pub(super) fn get(&self, key: KeyId) -> Option<&S> {
        let sequence = self.sequence_of(key)?;
        Some(&slot_at(&self.chunks, self.head, self.oldest_sequence, sequence).state)
    }

    pub(super) fn get_mut(&mut self, key: KeyId) -> Option<&mut S> {
        let sequence = self.sequence_of(key)?;
        let (chunk, index) = position(self.head, self.oldest_sequence, sequence);
        Some(&mut self.chunks[chunk][index].state)
    }

    /// Adds `key`, which must not be held, as the newest.
    pub(super) fn push(&mut self, key: KeyId, first_seen_ms: i64, state: S) {
        debug_assert!(self.sequence_of(key).is_none(), "key pushed twice");
        let sequence = self.oldest_sequence + self.len() as u64;
        let last_is_full = self
            .chunks
            .back()
            .is_none_or(|chunk| chunk.len() == CHUNK_STATES);
        if last_is_full {
            self.chunks.push_back(Vec::with_capacity(CHUNK_STATES));
        }
        if let Some(chunk) = self.chunks.back_mut() {
            chunk.push(Slot {
                key,
                first_seen_ms,
                state,
            });
        }
        let KeyStore {
            chunks,
            head,
            oldest_sequence,
            sequences,
        } = self;
        sequences.insert_unique(table_hash(key), sequence, |&held| {
            table_hash(slot_at(chunks, *head, *oldest_sequence, held).key)
        });
        debug_assert_eq!(
            self.head + self.len(),
            (self.chunks.len() - 1) * CHUNK_STATES + self.chunks.back().map_or(0, Vec::len),
            "the slots held run from the head to the end of the last chunk"
        );
    }

    /// When the oldest key held was first reported.
    pub(super) fn oldest_first_seen_ms(&self) -> Option<i64> {
        if self.is_empty() {
            return None;
        }
        Some(
            slot_at(
                &self.chunks,
                self.head,
                self.oldest_sequence,
                self.oldest_sequence,
            )
            .first_seen_ms,
        )
    }

    pub(super) fn is_empty(&self) -> bool {
        self.sequences.is_empty()
    }

    /// Forgets the oldest key; `false` when there is none.
    pub(super) fn pop_oldest(&mut self) -> bool {
        if self.is_empty() {
            return false;
        }
        let oldest = self.oldest_sequence;
        let key = slot_at(&self.chunks, self.head, oldest, oldest).key;
        match self
            .sequences
            .find_entry(table_hash(key), |&sequence| sequence == oldest)
        {
            Ok(entry) => {
                entry.remove();
            }
            Err(_) => debug_assert!(false, "the oldest slot is in the table"),
        }
        self.oldest_sequence += 1;
        self.head += 1;
        if self.head == CHUNK_STATES {
            // Every slot of the first chunk has left: release it, with the states' own
            // allocations.
            self.chunks.pop_front();
            self.head = 0;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> KeyId {
        // Spread like real hashes, so that the table's buckets are exercised.
        KeyId(n.wrapping_mul(0x9E37_79B9_7F4A_7C15), n)
    }

    #[test]
    fn finds_every_key_held_across_chunks_and_forgets_oldest_first() {
        let mut store: KeyStore<u64> = KeyStore::default();
        let total = 3 * CHUNK_STATES as u64 + 17;
        for n in 0..total {
            store.push(key(n), n as i64, n * 10);
        }
        assert_eq!(store.len(), total as usize);
        assert_eq!(store.chunks.len(), 4);
        for n in (0..total).step_by(97) {
            assert_eq!(store.get(key(n)), Some(&(n * 10)), "key {n}");
        }
        assert_eq!(store.get(key(total)), None);

        // Leave through the first chunk and into the second: the first is released.
        for n in 0..CHUNK_STATES as u64 + 5 {
            assert_eq!(store.oldest_first_seen_ms(), Some(n as i64));
            assert!(store.pop_oldest());
            assert_eq!(store.get(key(n)), None, "key {n} left");
        }
        assert_eq!(store.chunks.len(), 3);
        assert_eq!(store.head, 5);
        let first_held = CHUNK_STATES as u64 + 5;
        assert_eq!(store.get(key(first_held)), Some(&(first_held * 10)));
        *store.get_mut(key(total - 1)).expect("held") = 7;
        assert_eq!(store.get(key(total - 1)), Some(&7));
        assert_eq!(store.len(), (total - first_held) as usize);
    }

    #[test]
    fn empties_and_refills() {
        let mut store: KeyStore<u8> = KeyStore::default();
        assert_eq!(store.oldest_first_seen_ms(), None);
        assert!(!store.pop_oldest());
        for round in 0..3u64 {
            for n in 0..10 {
                store.push(key(round * 100 + n), n as i64, 1);
            }
            while store.pop_oldest() {}
            assert!(store.is_empty());
            assert_eq!(store.get(key(round * 100)), None);
        }
        // A key that left may come back.
        store.push(key(0), 5, 2);
        assert_eq!(store.get(key(0)), Some(&2));
        assert_eq!(store.oldest_first_seen_ms(), Some(5));
    }
}
