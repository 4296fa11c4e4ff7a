//! Cache of search results: the names a normalised query reached, with their name scores.
//!
//! Parcel feeds name the same parties over and over: a marketplace seller ships thousands of
//! parcels a day, a courier's manifest repeats its shippers, and amendments and other filers'
//! copies of a parcel repeat both parties. The index search (credits, bounds, alignment) is
//! most of a screening's cost, and its result depends on nothing but the query's tokens and
//! the floor (and the matcher, which is immutable), so a repeated party costs a tokenisation
//! and a hash lookup.
//!
//! What is cached is the name-level result, before the party's country is weighed and before
//! candidates are merged per entry (`Matcher::search` does both on every call), so a hit gives
//! exactly what a search would. The cache belongs to its matcher: a list update builds a new
//! matcher, with an empty cache, and the old one goes with the old matcher.
//!
//! One cache serves every screening thread, a [`ShardedMemo`] (independently locked shards;
//! the search itself runs outside any lock). Bounded by [`SEARCH_CACHE_CAPACITY`]: a full
//! shard starts over, which costs one search per distinct party afterwards.
//!
//! A lookup reads as little memory as it can: a query is filed under the 128-bit xxh3 hash
//! of its key (see [`write_key`]) rather than the key's text, and a search that reached no
//! name (nearly every one) is stored as `None` rather than behind a pointer.

use std::cell::RefCell;
use std::sync::Arc;
use xxhash_rust::xxh3::xxh3_128;

use super::memo::ShardedMemo;
use super::normalize::Token;

/// Distinct queries remembered before a shard starts over. An entry is the hash of the
/// normalised query and its reached names (usually none): a full cache holds about 8 MiB
/// (15 MiB when the key was the text; counted from its contents by the test
/// `a_full_cache_holds_about_eight_mib`).
pub const SEARCH_CACHE_CAPACITY: usize = 131_072;

/// Independently locked parts of the cache.
const SHARDS: usize = 16;

/// The names a search reached above its floor, in the order the search visited them: index
/// name id and name score; `None` when it reached none.
pub(crate) type NameMatches = Option<Arc<[(u32, f64)]>>;

/// A search's matches as [`NameMatches`].
pub(crate) fn name_matches_of(matches: Vec<(u32, f64)>) -> NameMatches {
    (!matches.is_empty()).then(|| matches.into())
}

pub(crate) struct SearchCache {
    /// Hash of the key (see [`write_key`]) → the search's name matches.
    memo: ShardedMemo<NameMatches>,
}

impl Default for SearchCache {
    fn default() -> Self {
        SearchCache {
            memo: ShardedMemo::new(SHARDS, SEARCH_CACHE_CAPACITY),
        }
    }
}

impl std::fmt::Debug for SearchCache {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SearchCache")
            .field("entries", &self.memo.len())
            .finish()
    }
}

thread_local! {
    /// Reused buffer a lookup's key is written into, so that a lookup allocates nothing.
    static KEY: RefCell<String> = const { RefCell::new(String::new()) };
}

impl SearchCache {
    /// The name matches of the search for `tokens` at `floor`: from the cache, or from
    /// `search` (then remembered). `search` must be a pure function of the two.
    pub(crate) fn name_matches(
        &self,
        tokens: &[Token],
        floor: f64,
        search: impl FnOnce() -> Vec<(u32, f64)>,
    ) -> NameMatches {
        let key_hash = KEY.with(|key| {
            let mut key = key.borrow_mut();
            write_key(&mut key, tokens, floor);
            xxh3_128(key.as_bytes())
        });
        self.memo
            .get_or_compute(key_hash, || name_matches_of(search()))
    }
}

#[cfg(test)]
impl SearchCache {
    /// Heap bytes the cache holds, counted from what it holds (each shard's table, the match
    /// lists with their reference counts), without the allocator's rounding.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.memo
            .heap_bytes(|matches| matches.as_deref().map_or(0, super::memo::arc_slice_bytes))
    }
}

/// The cache key: the floor's bits in hex, then each token's text after a space. Tokens are upper-case
/// letters and digits only, so the key cannot be read two ways. Token kinds are left out: a
/// token's kind is a function of its text.
fn write_key(key: &mut String, tokens: &[Token], floor: f64) {
    key.clear();
    // The floor's bits as 16 hex digits: a fixed width, and no formatting machinery.
    let bits = floor.to_bits();
    for shift in (0..16).rev() {
        let digit = ((bits >> (shift * 4)) & 0xF) as usize;
        key.push(char::from(b"0123456789abcdef"[digit]));
    }
    for token in tokens {
        debug_assert!(token.text.bytes().all(|b| b.is_ascii_alphanumeric()));
        key.push(' ');
        key.push_str(&token.text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::tokenize;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_repeated_query_is_served_from_the_cache_on_any_thread() {
        let searches = AtomicUsize::new(0);
        let search = || {
            searches.fetch_add(1, Ordering::Relaxed);
            vec![(7, 0.9), (3, 0.88)]
        };
        let cache = SearchCache::default();
        let first = cache.name_matches(&tokenize("Acme Trading Ltd"), 0.83, search);
        // Same tokens after normalisation: a hit.
        let second = cache.name_matches(&tokenize("ACME  trading, LTD."), 0.83, search);
        assert_eq!(searches.load(Ordering::Relaxed), 1);
        assert_eq!(first.as_deref(), Some(&[(7, 0.9), (3, 0.88)][..]));
        assert_eq!(first, second);
        // Another thread finds it too.
        std::thread::scope(|scope| {
            scope.spawn(|| cache.name_matches(&tokenize("Acme Trading Ltd"), 0.83, search));
        });
        assert_eq!(searches.load(Ordering::Relaxed), 1);
        // Another floor, or other tokens: searched.
        cache.name_matches(&tokenize("Acme Trading Ltd"), 0.5, search);
        cache.name_matches(&tokenize("Acme Trading"), 0.83, search);
        assert_eq!(searches.load(Ordering::Relaxed), 3);
        // Another cache (another matcher): searched again.
        SearchCache::default().name_matches(&tokenize("Acme Trading Ltd"), 0.83, search);
        assert_eq!(searches.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn a_full_shard_starts_over() {
        let cache = SearchCache::default();
        let names: Vec<String> = (0..SEARCH_CACHE_CAPACITY + SHARDS)
            .map(|i| format!("NAME{i}"))
            .collect();
        for name in &names {
            cache.name_matches(&tokenize(name), 0.8, Vec::new);
        }
        let entries = cache.memo.len();
        assert!(entries <= SEARCH_CACHE_CAPACITY, "{entries}");
        assert!(entries > 0);
    }

    /// What a full cache holds, for queries shaped like the parties of a feed (two or three
    /// words, ~20 letters) that reach no listed name, as nearly all do.
    #[test]
    fn a_full_cache_holds_about_eight_mib() {
        let cache = SearchCache::default();
        let given = [
            "MARIA",
            "JOHN",
            "WEI",
            "FATIMA",
            "OLEKSANDR",
            "ANA",
            "RAHUL",
            "SOPHIE",
        ];
        let mut filled = 0;
        let mut largest = 0;
        for n in 0..SEARCH_CACHE_CAPACITY {
            let name = format!("{} K{n:06}SON TRADING", given[n % given.len()]);
            cache.name_matches(&tokenize(&name), 0.83, Vec::new);
            filled += 1;
            if filled % 4096 == 0 {
                largest = largest.max(cache.heap_bytes());
            }
        }
        let mib = largest as f64 / f64::from(1 << 20);
        eprintln!("search cache at its largest: {mib:.1} MiB for up to {filled} queries");
        assert!((4.0..12.0).contains(&mib), "{mib:.1} MiB");
    }

    #[test]
    fn keys_keep_token_boundaries() {
        let mut one = String::new();
        let mut two = String::new();
        write_key(&mut one, &tokenize("AB C"), 0.5);
        write_key(&mut two, &tokenize("A BC"), 0.5);
        assert_ne!(one, two);
    }
}
