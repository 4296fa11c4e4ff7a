//! Match tokens of names the process has tokenised before.
//!
//! Tokenising a party name (transliteration, legal forms joined, honorifics dropped) costs
//! about 1,300 instructions, and every report has two or three names: 9% of a report's work
//! over the load test's feed (BENCHMARKS.md). Feeds name the same parties over and over (a
//! marketplace seller on every parcel it ships, a courier's regular shippers), and the
//! tokens are a pure function of the name's text, so they are remembered: one cache for the
//! whole process, whatever the lists, split like the search cache (`cache`) into
//! independently locked shards chosen by the key's hash.
//!
//! A name is filed under the 128-bit xxh3 hash of its text, not the text: two names share a
//! hash with a probability of about 2⁻¹²⁸ a pair. Bounded by
//! [`NAME_TOKENS_CACHE_CAPACITY`]: a full shard starts over.

use std::sync::{Arc, LazyLock, Mutex};

use rustc_hash::FxHashMap;
use xxhash_rust::xxh3::xxh3_128;

use super::cache::{lock, new_shards};
use super::normalize::{tokenize, Token};

/// Distinct names remembered before a shard starts over. A name of three tokens takes about
/// 120 bytes (its hash, a pointer, the tokens, the table's share): a full cache holds about
/// 15 MiB, counted by the test `a_full_cache_holds_about_fifteen_mib`.
pub const NAME_TOKENS_CACHE_CAPACITY: usize = 131_072;

/// Independently locked parts of the cache.
const SHARDS: usize = 16;

/// Hash of a name's text → its tokens.
type Shard = FxHashMap<u128, Arc<[Token]>>;

/// The process's cache: its shards.
static REMEMBERED: LazyLock<Box<[Mutex<Shard>]>> = LazyLock::new(|| new_shards(SHARDS));

/// [`tokenize`], remembered: the same tokens, from the cache when the name was tokenised
/// before.
pub fn tokenize_remembered(name: &str) -> Vec<Token> {
    remembered_in(&REMEMBERED, name)
}

fn remembered_in(shards: &[Mutex<Shard>], name: &str) -> Vec<Token> {
    let key = xxh3_128(name.as_bytes());
    let shard = &shards[(key as usize) % shards.len()];
    if let Some(tokens) = lock(shard).get(&key) {
        return tokens.to_vec();
    }
    // Tokenised outside the lock: two threads may tokenise the same name meanwhile, and
    // both insert the same tokens.
    let tokens = tokenize(name);
    let mut shard = lock(shard);
    if shard.len() >= NAME_TOKENS_CACHE_CAPACITY / SHARDS {
        shard.clear();
    }
    shard.insert(key, tokens.as_slice().into());
    tokens
}

#[cfg(test)]
mod tests {
    use super::super::cache::arc_slice_bytes;
    use super::*;

    #[test]
    fn remembered_tokens_are_those_of_their_own_name() {
        let cache: Box<[Mutex<Shard>]> = new_shards(SHARDS);
        let names = [
            "Haoyang Shoes Co., Ltd.",
            "Lucas Oliveira",
            "Lucas Oliveira ",
            "LUCAS OLIVEIRA",
            "Dr. J. P. Smith",
            "Grupo Ejemplo S A de C V",
            "Müller & Söhne GmbH",
            "株式会社 東京",
            "ООО Ромашка",
            "",
            "...",
        ];
        // Twice over: the second round is served from the cache.
        for round in 0..2 {
            for name in names {
                assert_eq!(
                    remembered_in(&cache, name),
                    tokenize(name),
                    "{name:?}, round {round}"
                );
            }
        }
        let entries: usize = cache.iter().map(|shard| lock(shard).len()).sum();
        assert_eq!(entries, names.len(), "one entry per distinct text");
    }

    #[test]
    fn a_full_cache_holds_about_fifteen_mib() {
        let cache: Box<[Mutex<Shard>]> = new_shards(SHARDS);
        for number in 0..NAME_TOKENS_CACHE_CAPACITY {
            remembered_in(
                &cache,
                &format!("Name{number} Surname{} Trading", number % 977),
            );
        }
        let bytes: usize = cache
            .iter()
            .map(|shard| {
                let shard = lock(shard);
                let tokens: usize = shard.values().map(|tokens| arc_slice_bytes(tokens)).sum();
                super::super::index::map_bytes(&shard) + tokens
            })
            .sum();
        let mib = bytes as f64 / (1024.0 * 1024.0);
        assert!(
            (10.0..=22.0).contains(&mib),
            "a full cache holds {mib:.1} MiB"
        );
    }
}
