//! `loadtest run`: generate, expect, send, read, drain, account, report.

use anyhow::Context;
use rdkafka::producer::{BaseRecord, Producer};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parcel_screener::config::Config;
use parcel_screener::feed::{parse_share, FeedConfig, FeedGenerator, FeedReport};

use crate::account::{account, Entry};
use crate::collect::{copy_key, Collector, CopyKey, DecisionKey, Mode};
use crate::cpu::{CpuSnapshot, Watched};
use crate::expect::{expect_by_partition, expect_in_order, Expected, ExpectedCounts, Placement};
use crate::kafka::{self, Deliveries, ReaderProgress};
use crate::now_us;
use crate::report::{self, RunFacts};

#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Shares are per original parcel and default to the generator's (10% replays, 30% other-feed \
reports of which 5% disagree, 2% amendments, 0.5% cancellations, 1% malformed, 0.2% \
watch-list names, 5% known shippers, 1% over the de minimis threshold, 0.2% restricted goods, \
0% consignees new to the screener: the default feed's names repeat, a real feed's mostly do not).

The output topics are read from the beginning; messages timestamped before the run are \
ignored (counted as stale). Exit code: 0 when every report is accounted for, 1 when \
anything is lost, unexpected or undelivered, 2 on a setup error.")]
pub struct RunArgs {
    /// Bootstrap servers HOST:PORT.
    #[arg(long)]
    pub brokers: String,
    /// Distinct parcels; replays, other-feed reports, amendments, cancellations and
    /// malformed records come on top (100,000 parcels ≈ 143,500 reports).
    #[arg(long, default_value_t = 100_000)]
    pub parcels: usize,
    /// Seed of the feed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Target rate in reports per second; 0 sends as fast as the producer takes them.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Burst shape: reports are sent in manifests of this many at once, one manifest every
    /// MANIFEST / RATE seconds (1 = steady).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub manifest: u64,
    /// The service runs with --pass-through: every report comes back unchanged on the
    /// decisions topic (matched by its bytes), nothing is rejected or suppressed.
    #[arg(long)]
    pub pass_through: bool,
    /// Seconds to wait for missing outputs after sending, counted from the last progress;
    /// whatever is still missing then is lost.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub drain_timeout: f64,
    /// Seconds to keep reading after everything arrived, to catch redeliveries and strays.
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    pub grace: f64,
    /// Write the JSON report here.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// A process whose CPU time to report (e.g. tansu=1234); repeatable.
    #[arg(long = "watch-pid", value_name = "NAME=PID", value_parser = crate::cpu::parse_watched)]
    pub watch_pids: Vec<Watched>,
    /// Producer compression (none, gzip, snappy, lz4, zstd).
    #[arg(long, default_value = "lz4")]
    pub compression: String,
    /// The feed producer's `linger.ms`: how long it gathers reports into a batch. 5 is a
    /// courier's throughput-minded client; 0 sends at once (for latency runs).
    #[arg(long, default_value_t = 5, value_name = "MS")]
    pub linger_ms: u32,
    /// The output reader's `fetch.wait.max.ms`. A broker that does not answer a waiting
    /// fetch as data arrives (Tansu, librdkafka's mock) holds every empty fetch this long,
    /// so it is a floor under the measured latency of a trickle.
    #[arg(long, default_value_t = 10, value_name = "MS")]
    pub fetch_wait_ms: u32,
    /// No progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Read the outputs with `isolation.level=read_committed` (the screener runs with
    /// `kafka.delivery = exactly-once`): decisions count when their transaction commits.
    #[arg(long)]
    pub read_committed: bool,
    /// Backlog mode (`scripts/loadtest.sh --backlog`): the whole feed is sent and
    /// acknowledged before the service reads any of it. Then FILE is created, and the run
    /// waits for FILE.started, which says the service now has its partitions (and may name
    /// more NAME=PID processes to watch, one per line); throughput and CPU count from then.
    /// Measures how fast the service works off a backlog with the load generator's
    /// producing out of the window; the latencies then include the wait.
    #[arg(long, value_name = "FILE")]
    pub backlog: Option<PathBuf>,

    /// Share of parcels replayed exactly (same bytes).
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    pub duplicate_share: Option<f64>,
    /// Share of parcels also reported by the other feed.
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    pub cross_feed_share: Option<f64>,
    /// Of the other feed's reports, the share that disagree (consignee or value).
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    pub disagree_share: Option<f64>,
    /// Share of parcels amended.
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    pub amend_share: Option<f64>,
    /// Share of parcels cancelled.
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    pub cancel_share: Option<f64>,
    /// Share of parcels followed by a malformed record.
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    pub malformed_share: Option<f64>,
    /// Share of parcels with a watch-list name as shipper or consignee.
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    pub watchlist_hit_share: Option<f64>,
    /// Share of parcels shipped by an enrolled known shipper.
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    pub known_shipper_share: Option<f64>,
    /// Share of parcels whose consignee has a given name and a surname from two cultures
    /// drawn at random: most such names are new to the screener, as most consignees of a
    /// real feed are, while the default feed's names repeat (default 0).
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    pub new_name_share: Option<f64>,
    /// Share of parcels declared over the de minimis threshold.
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    pub value_over_share: Option<f64>,
    /// Share of parcels carrying restricted goods.
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    pub restricted_goods_share: Option<f64>,
}

impl RunArgs {
    pub fn feed_config(&self) -> FeedConfig {
        let base = FeedConfig::default();
        FeedConfig {
            seed: self.seed,
            parcels: self.parcels,
            duplicate_share: self.duplicate_share.unwrap_or(base.duplicate_share),
            cross_feed_share: self.cross_feed_share.unwrap_or(base.cross_feed_share),
            disagree_share: self.disagree_share.unwrap_or(base.disagree_share),
            amend_share: self.amend_share.unwrap_or(base.amend_share),
            cancel_share: self.cancel_share.unwrap_or(base.cancel_share),
            malformed_share: self.malformed_share.unwrap_or(base.malformed_share),
            watchlist_hit_share: self.watchlist_hit_share.unwrap_or(base.watchlist_hit_share),
            known_shipper_share: self.known_shipper_share.unwrap_or(base.known_shipper_share),
            new_name_share: self.new_name_share.unwrap_or(base.new_name_share),
            value_over_share: self.value_over_share.unwrap_or(base.value_over_share),
            restricted_goods_share: self
                .restricted_goods_share
                .unwrap_or(base.restricted_goods_share),
            ..base
        }
    }

    pub fn mode(&self) -> Mode {
        if self.pass_through {
            Mode::PassThrough
        } else {
            Mode::Screening
        }
    }
}

/// When report `index` is due, from the start of sending: manifests of `manifest` reports
/// at `rate` reports per second; `None` when unthrottled.
pub fn due(index: u64, rate: f64, manifest: u64) -> Option<Duration> {
    if rate <= 0.0 || !rate.is_finite() {
        return None;
    }
    let manifest = manifest.max(1);
    let first_of_manifest = index / manifest * manifest;
    Some(Duration::from_secs_f64(first_of_manifest as f64 / rate))
}

/// What the reader must wait for, from the send-order expectation.
pub fn wanted_collector(
    mode: Mode,
    reports: &[FeedReport],
    planned: &[(Expected, Option<String>)],
) -> Collector {
    match mode {
        Mode::Screening => {
            let mut decisions: HashSet<DecisionKey> = HashSet::new();
            let mut rejections = 0;
            for (expected, record_id) in planned {
                match (expected, record_id) {
                    (Expected::Decision { version, .. }, Some(id)) => {
                        decisions.insert((id.clone(), *version));
                    }
                    (Expected::Rejected, _) => rejections += 1,
                    _ => {}
                }
            }
            Collector::screening(decisions, rejections)
        }
        Mode::PassThrough => {
            let mut copies: HashMap<CopyKey, u32> = HashMap::new();
            for report in reports {
                *copies.entry(copy_key(&report.bytes)).or_default() += 1;
            }
            Collector::pass_through(copies)
        }
    }
}

pub fn run(config: &Config, args: RunArgs) -> anyhow::Result<ExitCode> {
    let mode = args.mode();
    let topics = config.kafka.topics.clone();

    // 1. The feed, generated up front so that generating costs nothing during the run.
    let started = Instant::now();
    let (entries, _) = parcel_screener::engine::load_watchlists(config)?;
    let watchlist_names: Vec<String> = entries
        .into_iter()
        .flat_map(|entry| std::iter::once(entry.name).chain(entry.aliases))
        .collect();
    let (registry, _) = parcel_screener::engine::load_known_shippers(config)?;
    let known_shippers = registry.iter().cloned().collect();
    let feed_config = args.feed_config();
    let mut generator = FeedGenerator::new(feed_config.clone(), watchlist_names, known_shippers);
    let reports: Vec<FeedReport> = generator.by_ref().collect();
    let feed_stats = generator.stats().clone();
    eprintln!(
        "loadtest: generated {feed_stats} in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    // 2. What must come out (send order, one deduplicator): how many outputs to wait for.
    let planned_start_ms = (now_us() / 1000) as i64;
    let planned = expect_in_order(
        reports.iter().map(|r| r.bytes.as_slice()),
        &config.limits,
        &config.dedup,
        |index| planned_start_ms + index as i64,
    );
    let planned_counts = ExpectedCounts::of(planned.iter().map(|(e, _)| e));
    let collector = wanted_collector(mode, &reports, &planned);
    match mode {
        Mode::Screening => eprintln!(
            "loadtest: screening mode; expecting {} outputs: {} decisions and {} rejections ({} reports suppressed as duplicates)",
            collector.wanted(),
            planned_counts.decisions,
            planned_counts.rejected,
            planned_counts.suppressed
        ),
        Mode::PassThrough => eprintln!(
            "loadtest: pass-through mode; expecting a copy of each of the {} reports",
            collector.wanted()
        ),
    }

    // 3. Topics, reader, producer.
    let counts = kafka::partition_counts(
        &args.brokers,
        &[&topics.advance, &topics.decisions, &topics.rejected],
    )?;
    let (advance_partitions, decisions_partitions, rejected_partitions) =
        (counts[0], counts[1], counts[2]);
    let run_start_ms = (now_us() / 1000) as i64;
    let progress = Arc::new(ReaderProgress::default());
    let wanted = collector.wanted();
    let reader = kafka::spawn_reader(
        &args.brokers,
        &[
            (topics.decisions.clone(), decisions_partitions),
            (topics.rejected.clone(), rejected_partitions),
        ],
        collector,
        run_start_ms - 1_000,
        progress.clone(),
        args.read_committed,
        args.fetch_wait_ms,
    )?;
    let deliveries = Arc::new(Deliveries::new(reports.len()));
    let producer = kafka::producer(
        &args.brokers,
        &args.compression,
        args.linger_ms,
        deliveries.clone(),
    )?;
    // Connect and learn the partitions before the clock starts.
    producer
        .client()
        .fetch_metadata(Some(&topics.advance), Duration::from_secs(10))
        .context("producer metadata")?;
    std::thread::sleep(Duration::from_millis(500));

    // 4. Send, with live progress.
    let sent = Arc::new(AtomicU64::new(0));
    let ticker_stop = Arc::new(AtomicBool::new(false));
    let ticker = (!args.quiet).then(|| {
        spawn_ticker(
            sent.clone(),
            deliveries.clone(),
            progress.clone(),
            wanted,
            ticker_stop.clone(),
        )
    });
    let mut watched = args.watch_pids.clone();
    let mut cpu_before = CpuSnapshot::take(&watched);
    let mut clock = Instant::now();
    let mut produce_us = vec![0u64; reports.len()];
    for (index, report) in reports.iter().enumerate() {
        if let Some(due) = due(index as u64, args.rate, args.manifest) {
            if let Some(wait) = due.checked_sub(clock.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let mut at_us = now_us();
        let mut record = BaseRecord::with_opaque_to(&topics.advance, index)
            .key(report.key.as_bytes())
            .payload(&report.bytes)
            .timestamp((at_us / 1000) as i64);
        let mut attempts = 0u32;
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((error, returned)) => {
                    attempts += 1;
                    if !kafka::is_queue_full(&error) {
                        if attempts > 100 {
                            eprintln!("loadtest: giving up on report #{index}: {error}");
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    } else {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    // The record's time is when the producer accepts it.
                    at_us = now_us();
                    record = returned.timestamp((at_us / 1000) as i64);
                }
            }
        }
        produce_us[index] = at_us;
        sent.fetch_add(1, Ordering::Relaxed);
    }
    let sending_seconds = clock.elapsed().as_secs_f64();
    if let Err(error) = producer.flush(Duration::from_secs(120)) {
        eprintln!("loadtest: not every report was acknowledged: {error}");
    }
    let mut backlog_start_us = None;
    if let Some(marker) = &args.backlog {
        watched.extend(wait_for_service(marker)?);
        backlog_start_us = Some(now_us());
        cpu_before = CpuSnapshot::take(&watched);
        clock = Instant::now();
    }

    // 5. Drain: wait for every expected output, or until nothing new came for a while.
    let drain_timeout = Duration::from_secs_f64(args.drain_timeout.max(0.0));
    let mut last_matched = progress.matched.load(Ordering::Relaxed);
    let mut last_change = Instant::now();
    let mut timed_out = false;
    loop {
        let matched = progress.matched.load(Ordering::Relaxed);
        if matched >= wanted {
            break;
        }
        if matched != last_matched {
            last_matched = matched;
            last_change = Instant::now();
        } else if last_change.elapsed() >= drain_timeout {
            timed_out = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let wall_seconds = clock.elapsed().as_secs_f64();
    let cpu = cpu_before.until(&CpuSnapshot::take(&watched), wall_seconds);
    if timed_out {
        eprintln!(
            "loadtest: drain timeout: nothing new for {:.0} s with {} of {} outputs read",
            drain_timeout.as_secs_f64(),
            progress.matched.load(Ordering::Relaxed),
            wanted
        );
    }
    std::thread::sleep(Duration::from_secs_f64(args.grace.max(0.0)));
    progress.stop.store(true, Ordering::Relaxed);
    ticker_stop.store(true, Ordering::Relaxed);
    if let Some(ticker) = ticker {
        let _ = ticker.join();
    }
    let collector = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the reader thread panicked"))?;
    drop(producer);

    // 6. What must have come out, as the service computes it (per partition, in offset
    // order, at the Kafka timestamps), and the accounting against what was read.
    let placements: Vec<Option<Placement>> = (0..reports.len())
        .map(|index| {
            deliveries
                .position(index)
                .map(|(partition, offset)| Placement {
                    partition,
                    offset,
                    timestamp_ms: (produce_us[index] / 1000) as i64,
                })
        })
        .collect();
    let expected = match mode {
        Mode::Screening => expect_by_partition(
            |index| reports[index].bytes.as_slice(),
            &placements,
            &config.limits,
            &config.dedup,
        ),
        Mode::PassThrough => vec![None; reports.len()],
    };
    let differing = match mode {
        Mode::Screening => expected
            .iter()
            .zip(&planned)
            .filter(|(actual, (planned, _))| actual.is_some_and(|a| a != *planned))
            .count(),
        Mode::PassThrough => 0,
    };
    if differing > 0 {
        eprintln!(
            "loadtest: note: {differing} reports have another expected outcome per partition than in send order"
        );
    }
    let entries: Vec<Entry> = reports
        .iter()
        .enumerate()
        .map(|(index, report)| Entry {
            record_id: planned[index].1.clone(),
            copy_key: match mode {
                Mode::PassThrough => copy_key(&report.bytes),
                Mode::Screening => (0, 0),
            },
            produce_us: produce_us[index],
            placement: placements[index],
            expected: expected[index],
        })
        .collect();
    let receipts = collector.into_receipts();
    let mut accounting = account(mode, &entries, &receipts);
    accounting.backlog_start_us = backlog_start_us;
    let expected_counts = ExpectedCounts::of(expected.iter().flatten());

    let facts = RunFacts {
        args: &args,
        feed_config: &feed_config,
        feed_stats: &feed_stats,
        partitions: [
            advance_partitions,
            decisions_partitions,
            rejected_partitions,
        ],
        expected: expected_counts,
        accounting: &accounting,
        receipts: &receipts,
        sending_seconds,
        wall_seconds,
        timed_out,
        expectation_differences: differing as u64,
        first_delivery_error: deliveries.first_error(),
        cpu: &cpu,
    };
    report::print_summary(&facts);
    if let Some(path) = &args.report {
        report::write_json(&facts, path)?;
        println!("report written to {}", path.display());
    }
    Ok(if accounting.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Backlog mode: says the feed is sent (creates `marker`), then waits until `marker.started`
/// exists, and returns the processes it names to watch.
fn wait_for_service(marker: &std::path::Path) -> anyhow::Result<Vec<Watched>> {
    std::fs::write(marker, b"sent\n")
        .with_context(|| format!("cannot create {}", marker.display()))?;
    eprintln!("loadtest: backlog sent; waiting for the service to start");
    let started = PathBuf::from(format!("{}.started", marker.display()));
    let deadline = Instant::now() + Duration::from_secs(BACKLOG_START_TIMEOUT_SECS);
    while !started.exists() {
        if Instant::now() >= deadline {
            anyhow::bail!(
                "backlog mode: {} did not appear within {BACKLOG_START_TIMEOUT_SECS} s",
                started.display()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let text = std::fs::read_to_string(&started)
        .with_context(|| format!("cannot read {}", started.display()))?;
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| crate::cpu::parse_watched(line).map_err(anyhow::Error::msg))
        .collect()
}

/// How long backlog mode waits for the service to start.
const BACKLOG_START_TIMEOUT_SECS: u64 = 120;

/// Prints one progress line a second on stderr until told to stop.
fn spawn_ticker(
    sent: Arc<AtomicU64>,
    deliveries: Arc<Deliveries>,
    progress: Arc<ReaderProgress>,
    wanted: u64,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let started = Instant::now();
        let mut last = (0u64, 0u64);
        let mut next = Duration::from_secs(1);
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
            if started.elapsed() < next {
                continue;
            }
            next += Duration::from_secs(1);
            let sent_now = sent.load(Ordering::Relaxed);
            let matched = progress.matched.load(Ordering::Relaxed);
            eprintln!(
                "{:>4}s  sent {:>8} ({:>6}/s)  acked {:>8}  outputs {:>8}/{} ({:>6}/s)  read: decisions {} rejected {}",
                started.elapsed().as_secs(),
                sent_now,
                sent_now - last.0,
                deliveries.delivered.load(Ordering::Relaxed),
                matched,
                wanted,
                matched.saturating_sub(last.1),
                progress.decisions_read.load(Ordering::Relaxed),
                progress.rejections_read.load(Ordering::Relaxed),
            );
            last = (sent_now, matched);
        }
    })
}
