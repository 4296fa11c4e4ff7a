//! Floods (issue #8): a burst of unique parcel keys keeps the deduplicator within its
//! configured `dedup.max_keys` (oldest keys evicted first, each eviction counted in
//! `screener_dedup_keys_removed_total{reason="evicted"}`), duplicates of keys still inside the
//! bound are still suppressed after the flood while evicted keys are screened as new; and a
//! single huge message is rejected by its size before any parsing.
//!
//! Heap use is measured with a counting global allocator that keeps a per-thread net byte
//! count: the deduplicator lives on the test's thread, so that count is what it holds,
//! whatever other tests of this binary do meanwhile.
//!
//! The memory of 10 million keys (issue #7) is measured by an ignored test, in a release
//! build: `cargo test --release --test floods -- --ignored --nocapture`.

mod common;

use parcel_screener::allocator::Allocator;
use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;

use common::{bundled_config, read_topic, root};

use parcel_screener::live::LiveScreener;
use parcel_screener::metrics::Metrics;
use parcel_screener::streaming::config::KafkaConfig;
use parcel_screener::streaming::mock_broker::MockBroker;
use parcel_screener::streaming::{run_pipeline, PipelineStats, StatsSnapshot};
use screener_engine::dedup::{DedupConfig, DedupOutcome, Deduplicator, DuplicateKind};
use screener_engine::record::{parse_record, FilerType, ParcelRecord, RecordError};

/// The binary's allocator (mimalloc, see `src/main.rs`), so that resident-set figures are
/// those of the service, counting each thread's net heap bytes (allocated minus freed).
struct CountingAllocator;

thread_local! {
    static NET_HEAP_BYTES: Cell<i64> = const { Cell::new(0) };
}

fn count(delta: i64) {
    // `try_with`: nothing to count while the thread's locals are being torn down.
    let _ = NET_HEAP_BYTES.try_with(|bytes| bytes.set(bytes.get() + delta));
}

// SAFETY: every call is forwarded unchanged to `Allocator`; only a thread-local counter (const
// initialised, no destructor, so it never allocates) is updated besides.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = Allocator.alloc(layout);
        if !pointer.is_null() {
            count(layout.size() as i64);
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let pointer = Allocator.alloc_zeroed(layout);
        if !pointer.is_null() {
            count(layout.size() as i64);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        Allocator.dealloc(pointer, layout);
        count(-(layout.size() as i64));
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = Allocator.realloc(pointer, layout, new_size);
        if !moved.is_null() {
            count(new_size as i64 - layout.size() as i64);
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Heap bytes this thread holds (net of what it freed, including blocks other threads
/// allocated).
fn thread_heap_bytes() -> i64 {
    NET_HEAP_BYTES.with(Cell::get)
}

/// The payloads of messages read with `read_topic`.
fn payloads(messages: Vec<(Option<Vec<u8>>, Vec<u8>)>) -> Vec<Vec<u8>> {
    messages.into_iter().map(|(_, payload)| payload).collect()
}

fn example() -> ParcelRecord {
    let bytes = std::fs::read(root().join("data/parcel.example.json")).expect("example record");
    parse_record(&bytes, &bundled_config().limits).expect("the example parses")
}

/// The example with one-character names, address lines and description: a flood of it costs
/// the least hashing per report in a debug build (about half the example's), and what the
/// deduplicator keeps per key (fixed-size fingerprints) does not depend on the content.
fn short_record() -> ParcelRecord {
    let mut record = example();
    for (party, letter) in [(&mut record.shipper, "A"), (&mut record.consignee, "B")] {
        party.name = letter.into();
        party.address.lines = vec![letter.into()];
        party.address.city = letter.into();
    }
    for item in &mut record.items {
        item.description = "C".into();
    }
    record
}

/// A realistic parcel key (`carrier:house bill`, 14 characters), unique per `n`.
fn flood_key(n: usize) -> String {
    format!("DHL:{n:010}")
}

/// A Kafka-like timestamp: one report per millisecond, all well inside the window.
const T0_MS: i64 = 1_772_359_200_000; // 2026-03-01T10:00:00Z

/// The value of one sample of a metric family in Prometheus text, e.g.
/// `screener_dedup_keys_removed_total{reason="evicted"}`.
fn sample(rendered: &str, series: &str) -> Option<f64> {
    rendered.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

#[test]
fn a_million_unique_keys_stay_within_max_keys_evicting_the_oldest_first_and_counting_it() {
    const FLOOD: usize = 1_000_000;
    const MAX_KEYS: usize = 100_000;
    let record = short_record();
    let metrics = Metrics::new();
    let heap_before = thread_heap_bytes();
    let mut dedup = Deduplicator::new(DedupConfig {
        window: Duration::from_secs(72 * 3600),
        max_keys: MAX_KEYS,
    });
    let started = Instant::now();
    // Heap held when the bound is first reached, and at the middle of the flood.
    let (mut heap_at_bound, mut heap_at_half) = (0, 0);
    for n in 0..FLOOD {
        let before = dedup.stats();
        let outcome = dedup.observe(&flood_key(n), &record, T0_MS + n as i64);
        // As the pipeline's worker counts it, record by record.
        metrics.count_dedup_removed(before, dedup.stats());
        assert_eq!(outcome, DedupOutcome::New, "key {n} is new");
        if n % 50_000 == 49_999 {
            assert_eq!(dedup.len(), (n + 1).min(MAX_KEYS), "after {} keys", n + 1);
            assert_eq!(
                dedup.stats().evicted,
                (n + 1).saturating_sub(MAX_KEYS) as u64,
                "one eviction per key beyond the bound, after {} keys",
                n + 1
            );
        }
        if n + 1 == MAX_KEYS {
            heap_at_bound = thread_heap_bytes() - heap_before;
        }
        if n + 1 == FLOOD / 2 {
            heap_at_half = thread_heap_bytes() - heap_before;
        }
    }
    let flood_time = started.elapsed();
    let heap_after = thread_heap_bytes() - heap_before;
    assert_eq!(dedup.len(), MAX_KEYS);
    assert_eq!(dedup.stats().evicted, (FLOOD - MAX_KEYS) as u64);
    assert_eq!(dedup.stats().expired, 0, "nothing left the 72 h window");

    let rendered = metrics.render();
    assert_eq!(
        sample(
            &rendered,
            r#"screener_dedup_keys_removed_total{reason="evicted"}"#
        ),
        Some((FLOOD - MAX_KEYS) as f64),
        "every eviction counted:\n{rendered}"
    );
    assert_eq!(
        sample(
            &rendered,
            r#"screener_dedup_keys_removed_total{reason="expired"}"#
        ),
        Some(0.0)
    );

    // Memory: the flood does not grow the heap beyond a fixed amount per key of the bound.
    // Evictions leave tombstones in the hash map, which then doubles its table once (when
    // reclaiming them, hashbrown resizes if more than half its capacity is live); after that
    // it reuses its capacity, so the second half of the flood adds nothing.
    let per_key_at_bound = heap_at_bound as f64 / MAX_KEYS as f64;
    let per_key_after = heap_after as f64 / MAX_KEYS as f64;
    assert!(
        (heap_after - heap_at_half).abs() < 1 << 20,
        "heap grew from {heap_at_half} bytes at 500,000 keys to {heap_after} after the flood"
    );
    assert!(
        per_key_after < 400.0,
        "{per_key_after:.0} heap bytes per key of the bound after the flood"
    );

    // After the flood: the newest keys and the oldest key still inside the bound are
    // remembered, so a replay, or the other feed's copy, is suppressed.
    let mut marketplace_copy = record.clone();
    marketplace_copy.source.filer_type = FilerType::Marketplace;
    marketplace_copy.source.filer_id = "MKT-1".into();
    let now = T0_MS + FLOOD as i64;
    for (n, report) in [
        (FLOOD - 1, &record),
        (FLOOD - 1, &marketplace_copy),
        (FLOOD - MAX_KEYS, &record),
        (FLOOD - MAX_KEYS, &marketplace_copy),
    ] {
        assert_eq!(
            dedup.observe(&flood_key(n), report, now),
            DedupOutcome::Duplicate(DuplicateKind::Exact),
            "key {n} is inside the bound: its copy is a duplicate"
        );
    }
    assert_eq!(dedup.stats().evicted, (FLOOD - MAX_KEYS) as u64);
    // The newest evicted key and the very first one were forgotten: screened as new, and
    // each evicts the oldest remembered key in turn (FLOOD - MAX_KEYS, then the next one),
    // while the third-oldest is still remembered.
    for n in [FLOOD - MAX_KEYS - 1, 0] {
        assert_eq!(
            dedup.observe(&flood_key(n), &record, now),
            DedupOutcome::New,
            "key {n} was evicted: screened as new"
        );
    }
    assert_eq!(dedup.len(), MAX_KEYS);
    assert_eq!(dedup.stats().evicted, (FLOOD - MAX_KEYS + 2) as u64);
    assert_eq!(
        dedup.observe(&flood_key(FLOOD - MAX_KEYS + 2), &record, now),
        DedupOutcome::Duplicate(DuplicateKind::Exact),
        "the third-oldest is still remembered"
    );
    assert_eq!(
        dedup.observe(&flood_key(FLOOD - MAX_KEYS), &record, now),
        DedupOutcome::New,
        "the oldest was evicted by the first of the two new keys"
    );
    eprintln!(
        "flood: {FLOOD} unique keys into max_keys {MAX_KEYS} in {:.1} s: {} evicted (counted); \
         deduplicator heap {:.1} MiB at the bound ({per_key_at_bound:.0} B/key), {:.1} MiB at \
         500,000 keys, {:.1} MiB after the flood ({per_key_after:.0} B/key of the bound)",
        flood_time.as_secs_f64(),
        FLOOD - MAX_KEYS,
        heap_at_bound as f64 / (1 << 20) as f64,
        heap_at_half as f64 / (1 << 20) as f64,
        heap_after as f64 / (1 << 20) as f64,
    );
}

/// A record of exactly `size` bytes: the example, padded with trailing spaces (valid JSON).
fn padded_example(size: usize) -> Vec<u8> {
    let mut bytes = std::fs::read(root().join("data/parcel.example.json")).expect("example");
    assert!(bytes.len() <= size);
    bytes.resize(size, b' ');
    bytes
}

#[test]
fn a_huge_message_is_rejected_by_its_size_before_parsing() {
    let limits = bundled_config().limits;
    let limit = limits.max_record_bytes;
    assert_eq!(
        limit,
        256 * 1024,
        "config/screener.toml's limits.max_record_bytes"
    );

    // 64 MiB that are neither UTF-8 nor JSON: only the size check can name the problem, and
    // it must answer at once (reading 64 MiB as JSON would take far longer).
    let huge = vec![0xFFu8; 64 << 20];
    let started = Instant::now();
    let error = parse_record(&huge, &limits).expect_err("rejected");
    let elapsed = started.elapsed();
    assert_eq!(error.kind(), "too_large", "{error}");
    assert!(
        matches!(error, RecordError::TooLarge { size_bytes, limit_bytes }
            if size_bytes == huge.len() && limit_bytes == limit),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "record is {} bytes, over the limit of {limit} bytes",
            64 << 20
        )
    );
    assert!(
        elapsed < Duration::from_millis(50),
        "rejected in {elapsed:?}: the bytes were looked at"
    );

    // A valid record one byte over the limit is rejected by size too; at the limit it parses.
    let over = parse_record(&padded_example(limit + 1), &limits).expect_err("over the limit");
    assert_eq!(over.kind(), "too_large", "{over}");
    parse_record(&padded_example(limit), &limits).expect("a record at the limit is accepted");
    eprintln!("huge message: 64 MiB rejected as too_large in {elapsed:?}");
}

/// A valid record with its own parcel key (`DHL:<house bill>`).
fn numbered_record(template: &Value, n: usize) -> (String, Vec<u8>) {
    let mut record = template.clone();
    let house_bill = format!("{n:010}");
    record["house_bill"] = house_bill.clone().into();
    record["record_id"] = format!("FLOOD-{n}").into();
    (
        format!("DHL:{house_bill}"),
        serde_json::to_vec(&record).expect("JSON"),
    )
}

/// The same through the service: the pipeline on librdkafka's mock broker, one input
/// partition (so one deduplicator), `dedup.max_keys` far below the flood.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_through_the_pipeline_evicts_counts_and_still_suppresses_recent_duplicates() {
    // ~1.1 KB a record: the whole feed stays under the 5 MiB the mock broker keeps per
    // partition (it drops older data beyond that).
    const FLOOD: usize = 3_000;
    const MAX_KEYS: usize = 500;
    let config = bundled_config();
    let (screener, _) = parcel_screener::engine::build_screener(&config).expect("engine");
    let broker = MockBroker::start(&[
        ("parcels.advance", 1),
        ("parcels.decisions", 1),
        ("parcels.rejected", 1),
    ])
    .expect("mock broker");
    let brokers = broker.bootstrap_servers().to_string();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let template: Value = serde_json::from_slice(
        &std::fs::read(root().join("data/parcel.example.json")).expect("example"),
    )
    .expect("example JSON");

    // The flood, then: a huge message (over limits.max_record_bytes, under the broker's
    // message.max.bytes), a replay of the newest key (inside the bound: suppressed), a replay
    // of the first key (evicted: screened again, as version 1) and one new record.
    let mut messages: Vec<(String, Vec<u8>)> =
        (0..FLOOD).map(|n| numbered_record(&template, n)).collect();
    let mut huge = b"{\"record_id\": \"HUGE\", \"padding\": \"".to_vec();
    huge.resize(config.limits.max_record_bytes + 40_000, b'x');
    huge.extend_from_slice(b"\"}");
    messages.push(("DHL:HUGE".to_string(), huge));
    messages.push(numbered_record(&template, FLOOD - 1));
    messages.push(numbered_record(&template, 0));
    messages.push(numbered_record(&template, FLOOD));
    let sent = messages.len() as u64;
    let deliveries: Vec<_> = messages
        .iter()
        .map(|(key, payload)| {
            producer
                .send_result(
                    FutureRecord::to("parcels.advance")
                        .key(key)
                        .payload(payload),
                )
                .expect("enqueued")
        })
        .collect();
    for delivery in deliveries {
        delivery
            .await
            .expect("delivered")
            .map_err(|(error, _)| error)
            .expect("produced");
    }

    let settings = KafkaConfig {
        brokers: brokers.clone(),
        session_timeout_ms: 6_000,
        commit_interval_ms: 100,
        ..KafkaConfig::default()
    };
    let stats = Arc::new(PipelineStats::default());
    // Counts, metrics (rendered while the pipeline runs: its workers' dedup gauges go with
    // them) and the time to screen everything.
    let finished: Arc<Mutex<Option<(StatsSnapshot, String, Duration)>>> = Arc::default();
    let shutdown = {
        let stats = stats.clone();
        let finished = finished.clone();
        async move {
            let started = tokio::time::Instant::now();
            let deadline = started + Duration::from_secs(120);
            while stats.snapshot().acknowledged < sent {
                if tokio::time::Instant::now() > deadline {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            *finished.lock().unwrap() =
                Some((stats.snapshot(), stats.metrics.render(), started.elapsed()));
        }
    };
    run_pipeline(
        &settings,
        config.limits.clone(),
        DedupConfig {
            max_keys: MAX_KEYS,
            ..config.dedup.clone()
        },
        Arc::new(LiveScreener::new(screener)),
        stats.clone(),
        shutdown,
    )
    .await
    .expect("the pipeline runs and stops cleanly");
    let (counts, rendered, elapsed) = finished.lock().unwrap().take().unwrap_or_else(|| {
        panic!(
            "the pipeline stalled: {sent} sent, after 120 s {:?}",
            stats.snapshot()
        )
    });

    // FLOOD + 2 new keys decided (the flood, the evicted first key again, the last record),
    // one duplicate, one rejection.
    assert_eq!(counts.received, sent, "{counts:?}");
    assert_eq!(counts.decided(), FLOOD as u64 + 2, "{counts:?}");
    assert_eq!(counts.duplicates, 1, "the newest key's replay: {counts:?}");
    assert_eq!(counts.rejected, 1, "the huge message: {counts:?}");
    // FLOOD + 2 keys entered a deduplicator bounded at MAX_KEYS.
    let evicted = (FLOOD + 2 - MAX_KEYS) as f64;
    assert_eq!(
        sample(
            &rendered,
            r#"screener_dedup_keys_removed_total{reason="evicted"}"#
        ),
        Some(evicted),
        "{rendered}"
    );
    assert_eq!(
        sample(&rendered, "screener_dedup_keys"),
        Some(MAX_KEYS as f64),
        "{rendered}"
    );
    assert_eq!(
        sample(&rendered, r#"screener_rejected_total{error="too_large"}"#),
        Some(1.0),
        "{rendered}"
    );

    // The evicted first key was decided twice, each time as a new parcel (version 1).
    let decisions = payloads(
        read_topic(
            &brokers,
            "parcels.decisions",
            counts.decided() as usize,
            Duration::ZERO,
        )
        .await,
    );
    assert_eq!(decisions.len() as u64, counts.decided());
    let first_key: Vec<Value> = decisions
        .iter()
        .map(|payload| serde_json::from_slice::<Value>(payload).expect("decision JSON"))
        .filter(|decision| decision["parcel_key"] == "DHL:0000000000")
        .collect();
    assert_eq!(first_key.len(), 2, "{first_key:?}");
    assert!(first_key.iter().all(|d| d["version"] == 1), "{first_key:?}");
    // The rejection names the size (only the error fields are checked: the envelope's copy
    // of the original bytes is being changed for oversized records).
    let rejected = payloads(read_topic(&brokers, "parcels.rejected", 1, Duration::ZERO).await);
    assert_eq!(rejected.len(), 1);
    let envelope: Value = serde_json::from_slice(&rejected[0]).expect("envelope JSON");
    assert_eq!(envelope["error"], "too_large", "{envelope}");
    let message = envelope["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "over the limit of {} bytes",
            config.limits.max_record_bytes
        )),
        "{message}"
    );
    eprintln!(
        "pipeline flood: {sent} sent ({FLOOD} unique keys, max_keys {MAX_KEYS}) in {:.1} s: \
         {} decided, {} duplicate, {} rejected (too_large), {evicted} evicted (counted), \
         {MAX_KEYS} keys remembered",
        elapsed.as_secs_f64(),
        counts.decided(),
        counts.duplicates,
        counts.rejected
    );
}

/// Peak and current resident set size of this process, in bytes (Linux).
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Issue #7's figure: one deduplicator holding 10 million keys (`max_keys` 10M) beside the
/// full bundled lists; then 10 million more keys, each evicting the oldest, for the steady
/// state of a full deduplicator (whether the hash map's table doubles under eviction churn
/// depends on how full it is: at 100,000 keys it does, at 10M it did not).
/// Release build; about 2 minutes and ~2.7 GB of memory.
#[test]
#[ignore = "a measurement: cargo test --release --test floods -- --ignored --nocapture"]
fn memory_of_ten_million_dedup_keys() {
    const KEYS: usize = 10_000_000;
    let mib = |bytes: u64| bytes as f64 / (1 << 20) as f64;
    let (_, rss_start) = rss();
    let config = bundled_config();
    let (screener, summary) = parcel_screener::engine::build_screener(&config).expect("engine");
    let (_, rss_lists) = rss();
    let record = example();
    let heap_before = thread_heap_bytes();
    let mut dedup = Deduplicator::new(DedupConfig {
        window: Duration::from_secs(72 * 3600),
        max_keys: KEYS,
    });
    let started = Instant::now();
    for n in 0..KEYS {
        dedup.observe(&flood_key(n), &record, T0_MS + n as i64);
    }
    let fill_time = started.elapsed();
    let heap_full = (thread_heap_bytes() - heap_before) as u64;
    let (peak_full, rss_full) = rss();
    assert_eq!(dedup.len(), KEYS);
    assert_eq!(dedup.stats().evicted, 0);
    let started = Instant::now();
    for n in KEYS..2 * KEYS {
        dedup.observe(&flood_key(n), &record, T0_MS + n as i64);
    }
    let churn_time = started.elapsed();
    let heap_churned = (thread_heap_bytes() - heap_before) as u64;
    let (peak_churned, rss_churned) = rss();
    assert_eq!(dedup.len(), KEYS);
    assert_eq!(dedup.stats().evicted, KEYS as u64);
    eprintln!(
        "10M dedup keys: RSS {:.0} MiB at start, {:.0} MiB with the full lists ({} entries)",
        mib(rss_start),
        mib(rss_lists),
        summary.lists.iter().map(|list| list.entries).sum::<usize>(),
    );
    for (label, rss_now, peak, heap, time) in [
        (
            "filled with 10M keys",
            rss_full,
            peak_full,
            heap_full,
            fill_time,
        ),
        (
            "after 10M more (all evicting)",
            rss_churned,
            peak_churned,
            heap_churned,
            churn_time,
        ),
    ] {
        eprintln!(
            "  {label}: RSS {:.0} MiB (+{:.0} MiB over the lists, {:.0} B/key), peak RSS {:.0} \
             MiB; deduplicator heap {:.0} MiB ({:.0} B/key); {:.1} s",
            mib(rss_now),
            mib(rss_now - rss_lists),
            (rss_now - rss_lists) as f64 / KEYS as f64,
            mib(peak),
            mib(heap),
            heap as f64 / KEYS as f64,
            time.as_secs_f64(),
        );
    }
    drop(screener);
}
