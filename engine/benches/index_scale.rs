//! Index memory and build time at scale: 1 million synthetic entries whose names are drawn
//! like real ones (a long tail of rare tokens, a head of common ones, aliases), with
//! search latency at that size.
//!
//! `cargo bench -p screener-engine --bench index_scale [-- ENTRIES]` (default 1,000,000).
//! Prints the index's own estimate of its heap and the process's resident-set growth.

#[path = "common.rs"]
#[allow(dead_code)]
mod common;

use std::hint::black_box;
use std::time::Instant;

use screener_engine::lists::{EntityType, WatchEntry};
use screener_engine::matching::{Matcher, PartyQuery, SearchOptions};

extern "C" {
    /// glibc: returns free memory at the top of the heap and in free chunks to the system.
    fn malloc_trim(pad: usize) -> i32;
}

fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A pronounceable pseudo-word from a number: syllables, 2 to 4 of them.
fn word(mut n: u64) -> String {
    const SYLLABLES: &[&str] = &[
        "ka", "lo", "mi", "ra", "to", "an", "sh", "el", "vi", "do", "ne", "zu", "ba", "qi", "or",
        "fe", "ha", "ju", "ye", "wa", "ri", "mo", "se", "ul", "ti", "pa", "go", "ch", "ni", "ek",
        "ar", "us",
    ];
    let count = 2 + (n % 3) as usize;
    n /= 3;
    let mut out = String::new();
    for _ in 0..count {
        out.push_str(SYLLABLES[(n % SYLLABLES.len() as u64) as usize]);
        n /= SYLLABLES.len() as u64;
    }
    out.to_uppercase()
}

fn synthetic_entries(count: usize) -> Vec<WatchEntry> {
    let mut state: u64 = 42;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    // Zipf-like token draw: a few thousand common tokens, a long tail of rare ones.
    let token = move |rng: &mut dyn FnMut() -> u64| {
        let r = rng();
        let tail = 400_000u64;
        let rank = if r.is_multiple_of(4) {
            r % 2_000
        } else {
            (r >> 8) % tail
        };
        word(rank)
    };
    (0..count)
        .map(|i| {
            let tokens = 2 + (next() % 3) as usize;
            let name: Vec<String> = (0..tokens).map(|_| token(&mut next)).collect();
            let aliases = (0..(next() % 3)).map(|_| {
                let mut alias = name.clone();
                alias.rotate_left(1);
                alias.push(token(&mut next));
                alias.join(" ")
            });
            WatchEntry {
                id: i.to_string(),
                list: "SYNTHETIC".into(),
                name: name.join(" "),
                aliases: aliases.collect(),
                addresses: vec![],
                countries: vec![],
                entity_type: if next() % 2 == 0 {
                    EntityType::Individual
                } else {
                    EntityType::Entity
                },
            }
        })
        .collect()
}

fn main() {
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let entries = synthetic_entries(count);
    let names: usize = entries.iter().map(|e| 1 + e.aliases.len()).sum();
    let queries: Vec<String> = entries
        .iter()
        .step_by((count / 5_000).max(1))
        .map(|e| e.name.clone())
        .collect();
    let before = resident_bytes();
    let started = Instant::now();
    let matcher = Matcher::new(entries);
    let build = started.elapsed();
    let after_build = resident_bytes();
    // Hand the build's freed temporaries back to the system, so that what stays resident is
    // what the matcher holds (glibc keeps freed memory otherwise).
    // SAFETY: malloc_trim only releases free heap pages; it has no other effect.
    unsafe {
        malloc_trim(0);
    }
    let after = resident_bytes();
    println!(
        "{count} entries ({names} names): {} distinct tokens; index ~{:.0} MiB by its own count; resident set grew {:.0} MiB across the build, {:.0} MiB once freed build memory is returned (malloc_trim); built in {:.2} s",
        matcher.vocabulary_len(),
        matcher.index_heap_bytes() as f64 / 1048576.0,
        after_build.saturating_sub(before) as f64 / 1048576.0,
        after.saturating_sub(before) as f64 / 1048576.0,
        build.as_secs_f64()
    );
    let options = SearchOptions {
        min_score: 0.85,
        limit: 1,
    };
    for pass in ["cold", "warm"] {
        let mut nanos: Vec<u64> = queries
            .iter()
            .map(|q| {
                let started = Instant::now();
                black_box(matcher.search_uncached(PartyQuery::name(q), options));
                started.elapsed().as_nanos() as u64
            })
            .collect();
        nanos.sort_unstable();
        let at = |q: f64| nanos[((nanos.len() as f64 - 1.0) * q) as usize] as f64 / 1000.0;
        println!(
            "search ({pass}): p50 {:.1} µs, p99 {:.1} µs over {} queries",
            at(0.5),
            at(0.99),
            nanos.len()
        );
    }
}
