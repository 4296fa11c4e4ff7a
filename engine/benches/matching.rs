//! Search latency and index build time against the full bundled lists, single thread.
//!
//! `cargo bench -p screener-engine --bench matching`. Besides criterion's mean per search,
//! it prints per-query percentiles (p50/p90/p99/max) from timing every query of a fixed set
//! one by one, with the neighbour cache cold (a fresh index) and warm (the same queries
//! again: a stream repeats its name tokens). These time the index search itself
//! (`search_uncached`); a last line times `search` on the queries once more, answered from
//! the matcher's result cache (what a stream repeating its parties gets).

#[path = "common.rs"]
mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::{Duration, Instant};

use screener_engine::matching::{Matcher, PartyQuery, SearchOptions};

const OPTIONS: SearchOptions = SearchOptions {
    min_score: 0.85,
    limit: 1,
};

fn percentiles(mut nanos: Vec<u64>) -> String {
    nanos.sort_unstable();
    let at = |q: f64| nanos[((nanos.len() as f64 - 1.0) * q) as usize] as f64 / 1000.0;
    format!(
        "p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs, max {:.1} µs over {} queries",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0),
        nanos.len()
    )
}

fn time_each(matcher: &Matcher, queries: &[String], cached: bool) -> Vec<u64> {
    queries
        .iter()
        .map(|name| {
            let query = PartyQuery::name(name);
            let started = Instant::now();
            if cached {
                black_box(matcher.search(query, OPTIONS));
            } else {
                black_box(matcher.search_uncached(query, OPTIONS));
            }
            started.elapsed().as_nanos() as u64
        })
        .collect()
}

fn matching(c: &mut Criterion) {
    let entries = common::bundled_entries();
    let queries = common::queries(&entries, 10_000);

    let started = Instant::now();
    let matcher = Matcher::new(entries.clone());
    let build = started.elapsed();
    println!(
        "index: {} entries, {} names, {} tokens, ~{:.1} MiB, built in {:.0} ms",
        matcher.entries().len(),
        matcher.name_count(),
        matcher.vocabulary_len(),
        matcher.index_heap_bytes() as f64 / 1048576.0,
        build.as_secs_f64() * 1000.0
    );
    println!(
        "search, cold neighbour cache: {}",
        percentiles(time_each(&matcher, &queries, false))
    );
    let warm = time_each(&matcher, &queries, false);
    println!(
        "search, warm neighbour cache: {}",
        percentiles(warm.clone())
    );
    let mut slowest: Vec<(u64, &String)> = warm.iter().copied().zip(&queries).collect();
    slowest.sort_unstable_by_key(|(nanos, _)| std::cmp::Reverse(*nanos));
    let names: Vec<String> = slowest
        .iter()
        .take(8)
        .map(|(nanos, query)| format!("{query:?} {:.0} µs", *nanos as f64 / 1000.0))
        .collect();
    println!("slowest (warm): {}", names.join("; "));
    // Fill the result cache, then time the hits.
    time_each(&matcher, &queries, true);
    println!(
        "search, repeated queries (result cache): {}",
        percentiles(time_each(&matcher, &queries, true))
    );

    let mut group = c.benchmark_group("matching");
    group.measurement_time(Duration::from_secs(5));
    let mut position = 0;
    group.bench_function("search (mixed queries, warm)", |b| {
        b.iter(|| {
            position = (position + 1) % queries.len();
            black_box(matcher.search_uncached(PartyQuery::name(&queries[position]), OPTIONS))
        })
    });
    group.sample_size(10);
    group.bench_function("index build (full bundled lists)", |b| {
        b.iter(|| black_box(Matcher::new(entries.clone())))
    });
    group.finish();
}

criterion_group!(benches, matching);
criterion_main!(benches);
