//! Scores a thread remembers, for pure functions that the same inputs reach over and over:
//! a known shipper's name and address against its enrollment, on every parcel it ships.
//! Per thread, so that no lock is taken (each worker computes a score once).

use rustc_hash::FxHashMap;

/// Scores remembered before the memory starts over (a few MiB at most).
const CAPACITY: usize = 16_384;

/// Scores keyed by the bytes of their inputs, for one owner at a time.
#[derive(Default)]
pub(crate) struct RememberedScores {
    /// What the scores depend on beyond their key (the matcher's index for a name score):
    /// another owner starts over.
    owner: u64,
    /// Reused buffer a lookup's key is written into.
    key: Vec<u8>,
    /// Key → score.
    scores: FxHashMap<Box<[u8]>, f64>,
}

impl RememberedScores {
    /// The score whose inputs `write_key` writes (it must write every input, so that the key
    /// cannot be read two ways), for `owner`: remembered, or from `compute` (then
    /// remembered). `compute` must be a pure function of those inputs and the owner.
    pub(crate) fn score(
        &mut self,
        owner: u64,
        write_key: impl FnOnce(&mut Vec<u8>),
        compute: impl FnOnce() -> f64,
    ) -> f64 {
        if self.owner != owner || self.scores.len() >= CAPACITY {
            self.scores.clear();
            self.owner = owner;
        }
        self.key.clear();
        write_key(&mut self.key);
        if let Some(&score) = self.scores.get(self.key.as_slice()) {
            return score;
        }
        let score = compute();
        self.scores.insert(self.key.as_slice().into(), score);
        score
    }
}
