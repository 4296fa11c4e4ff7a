//! Match tokens of names the process has tokenised before.
//!
//! Tokenising a party name (transliteration, legal forms joined, honorifics dropped) costs
//! about 1,300 instructions, and every report has two or three names: 9% of a report's work
//! over the load test's feed (BENCHMARKS.md). Feeds name the same parties over and over (a
//! marketplace seller on every parcel it ships, a courier's regular shippers), and the
//! tokens are a pure function of the name's text, so they are remembered: one cache for the
//! whole process, whatever the lists, a [`ShardedMemo`] like the search cache (`cache`).
//! A name is filed under the 128-bit xxh3 hash of its text, and its tokens are shared, not
//! copied: a remembered name costs a hash, a lookup and a reference count. Bounded by
//! [`NAME_TOKENS_CACHE_CAPACITY`]: a full shard starts over.

use std::sync::{Arc, LazyLock};

use xxhash_rust::xxh3::xxh3_128;

use super::memo::ShardedMemo;
use super::normalize::{tokenize, Token};

/// Distinct names remembered before a shard starts over. A name of three tokens takes about
/// 120 bytes (its hash, a pointer, the tokens, the table's share): a full cache holds about
/// 15 MiB, counted by the test `a_full_cache_holds_about_fifteen_mib`.
pub const NAME_TOKENS_CACHE_CAPACITY: usize = 131_072;

/// Independently locked parts of the cache.
const SHARDS: usize = 16;

/// Hash of a name's text → its tokens.
type Memo = ShardedMemo<Arc<[Token]>>;

/// The process's cache.
static REMEMBERED: LazyLock<Memo> = LazyLock::new(new_memo);

fn new_memo() -> Memo {
    ShardedMemo::new(SHARDS, NAME_TOKENS_CACHE_CAPACITY)
}

/// [`tokenize`], remembered: the same tokens, from the cache when the name was tokenised
/// before.
pub fn tokenize_remembered(name: &str) -> Arc<[Token]> {
    remembered_in(&REMEMBERED, name)
}

fn remembered_in(memo: &Memo, name: &str) -> Arc<[Token]> {
    memo.get_or_compute(xxh3_128(name.as_bytes()), || tokenize(name).into())
}

#[cfg(test)]
mod tests {
    use super::super::memo::arc_slice_bytes;
    use super::*;

    #[test]
    fn remembered_tokens_are_those_of_their_own_name() {
        let cache = new_memo();
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
                    *remembered_in(&cache, name),
                    *tokenize(name),
                    "{name:?}, round {round}"
                );
            }
        }
        assert_eq!(cache.len(), names.len(), "one entry per distinct text");
    }

    #[test]
    fn a_full_cache_holds_about_fifteen_mib() {
        let cache = new_memo();
        for number in 0..NAME_TOKENS_CACHE_CAPACITY {
            remembered_in(
                &cache,
                &format!("Name{number} Surname{} Trading", number % 977),
            );
        }
        let bytes = cache.heap_bytes(|tokens| arc_slice_bytes(tokens));
        let mib = bytes as f64 / (1024.0 * 1024.0);
        assert!(
            (10.0..=22.0).contains(&mib),
            "a full cache holds {mib:.1} MiB"
        );
    }
}
