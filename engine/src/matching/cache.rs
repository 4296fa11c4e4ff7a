//! Per-thread cache of search results: the names a normalised query reached, with their name
//! scores, for one matcher at a time.
//!
//! Parcel feeds name the same parties over and over: a marketplace seller ships thousands of
//! parcels a day, a courier's manifest repeats its shippers, and amendments and other filers'
//! copies of a parcel repeat both parties. The index search (credits, bounds, alignment) is
//! most of a screening's cost, and its result depends on nothing but the query's tokens, the
//! floor and the matcher, so a repeated party costs a tokenisation and a hash lookup.
//!
//! What is cached is the name-level result, before the party's country is weighed and before
//! candidates are merged per entry (`Matcher::search` does both on every call), so a hit gives
//! exactly what a search would. A matcher is immutable; a new one (a list update) has a new
//! id, and a thread's cache is emptied the first time it serves another matcher. Each thread
//! has its own cache (no lock on the hot path), bounded by [`SEARCH_CACHE_CAPACITY`]: when
//! full it starts over, which costs one search per distinct party afterwards.

use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::normalize::Token;

/// Distinct queries a thread remembers before it starts over. An entry is the normalised
/// query (≈ 20 bytes) and its reached names (usually none): ≈ 100 bytes with the table, so
/// ≈ 6 MiB per screening thread when full.
pub const SEARCH_CACHE_CAPACITY: usize = 65_536;

/// Source of matcher ids; 0 is never handed out (a `Matcher::default()` is not cached).
static NEXT_MATCHER_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh id for a newly built matcher.
pub(crate) fn next_matcher_id() -> u64 {
    NEXT_MATCHER_ID.fetch_add(1, Ordering::Relaxed)
}

/// The names a search reached above its floor, in the order the search visited them: index
/// name id and name score.
pub(crate) type NameMatches = Rc<[(u32, f64)]>;

#[derive(Default)]
struct SearchCache {
    /// The matcher whose results `results` holds.
    matcher_id: u64,
    /// Key (see [`write_key`]) → the search's name matches.
    results: FxHashMap<Box<str>, NameMatches>,
    /// Reused buffer the key of a lookup is written into, so that a hit allocates nothing.
    key: String,
}

thread_local! {
    static SEARCH_CACHE: RefCell<SearchCache> = RefCell::new(SearchCache::default());
}

/// The name matches of the search for `tokens` at `floor` in matcher `matcher_id`: from this
/// thread's cache, or from `search` (then remembered). `search` must be a pure function of
/// the three.
pub(crate) fn name_matches(
    matcher_id: u64,
    tokens: &[Token],
    floor: f64,
    search: impl FnOnce() -> Vec<(u32, f64)>,
) -> NameMatches {
    if matcher_id == 0 {
        return search().into();
    }
    // The cache is taken out of its slot while `search` runs (which may use other
    // thread-locals, never this one), so no borrow is held across foreign code.
    let mut cache = SEARCH_CACHE.with(|slot| std::mem::take(&mut *slot.borrow_mut()));
    if cache.matcher_id != matcher_id || cache.results.len() >= SEARCH_CACHE_CAPACITY {
        cache.results.clear();
        cache.matcher_id = matcher_id;
    }
    write_key(&mut cache.key, tokens, floor);
    let matches = match cache.results.get(cache.key.as_str()) {
        Some(hit) => hit.clone(),
        None => {
            let computed: NameMatches = search().into();
            cache
                .results
                .insert(cache.key.as_str().into(), computed.clone());
            computed
        }
    };
    SEARCH_CACHE.with(|slot| *slot.borrow_mut() = cache);
    matches
}

/// The cache key: the floor's bits, then each token's text after a space. Tokens are upper-case
/// letters and digits only, so the key cannot be read two ways. Token kinds are left out: a
/// token's kind is a function of its text.
fn write_key(key: &mut String, tokens: &[Token], floor: f64) {
    key.clear();
    // Writing to a String cannot fail.
    let _ = write!(key, "{:x}", floor.to_bits());
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
    use std::cell::Cell;

    #[test]
    fn a_repeated_query_is_served_from_the_cache_and_a_new_matcher_starts_over() {
        let searches = Cell::new(0);
        let search = || {
            searches.set(searches.get() + 1);
            vec![(7, 0.9), (3, 0.88)]
        };
        let matcher = next_matcher_id();
        let first = name_matches(matcher, &tokenize("Acme Trading Ltd"), 0.83, search);
        // Same tokens after normalisation: a hit.
        let second = name_matches(matcher, &tokenize("ACME  trading, LTD."), 0.83, search);
        assert_eq!(searches.get(), 1);
        assert_eq!(&*first, &[(7, 0.9), (3, 0.88)]);
        assert_eq!(first, second);
        // Another floor, or other tokens: searched.
        name_matches(matcher, &tokenize("Acme Trading Ltd"), 0.5, search);
        name_matches(matcher, &tokenize("Acme Trading"), 0.83, search);
        assert_eq!(searches.get(), 3);
        // Another matcher (a list update): searched again.
        name_matches(
            next_matcher_id(),
            &tokenize("Acme Trading Ltd"),
            0.83,
            search,
        );
        assert_eq!(searches.get(), 4);
        // Matcher id 0 (a default matcher) is never cached.
        name_matches(0, &tokenize("Acme Trading Ltd"), 0.83, search);
        name_matches(0, &tokenize("Acme Trading Ltd"), 0.83, search);
        assert_eq!(searches.get(), 6);
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
