//! `parcel-screener demo`: the embedded default. Starts an in-process Kafka-protocol broker,
//! loads the bundled lists, runs the real screening pipeline and a synthetic courier +
//! marketplace feed, shows live progress, and ends with a summary that accounts for every
//! record sent: decided + duplicates + rejected = sent, checked against what actually landed
//! on the output topics.

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::admin::AdminState;
use crate::config::Config;
use crate::feed::{FeedConfig, FeedGenerator};
use crate::metrics::{Metrics, Readiness};
use crate::streaming::config::KafkaConfig;
use crate::streaming::mock_broker::MockBroker;
use crate::streaming::{run_pipeline, PipelineStats, StatsSnapshot};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Distinct parcels in the synthetic feed (replays, other-feed copies, amendments,
    /// cancellations and malformed records come on top).
    #[arg(long, default_value_t = 20_000)]
    pub parcels: usize,
    /// Reports per second the feed sends; 0 sends as fast as the broker takes them.
    #[arg(long, default_value_t = 5_000)]
    pub rate: u64,
    /// Stop sending after this long even if parcels remain (e.g. `30s`, `2m`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Seed of the synthetic feed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Use this Kafka cluster (HOST:PORT[,…]) instead of the embedded broker. Its topics
    /// must exist or be auto-created.
    #[arg(long)]
    pub brokers: Option<String>,
    /// Admin server HOST:PORT for /metrics and /health/* (port 0: any free port). Default:
    /// admin.addr, or a free port on its host when that one is taken.
    #[arg(long, value_name = "HOST:PORT")]
    pub admin_addr: Option<String>,
}

/// Partitions of each parcel topic on the embedded broker (the mock broker drops data beyond
/// ~5 MiB a partition: spreading over 8 keeps a long demo well inside that).
const DEMO_PARTITIONS: i32 = 8;

/// Most sends awaiting the broker's acknowledgement at once.
const MAX_PENDING_SENDS: usize = 20_000;

pub fn run(config: &Config, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let metrics = Arc::new(Metrics::new());
    let readiness = Arc::new(Readiness::new());
    let (screener, summary) = crate::engine::build_screener(config)?;
    metrics.record_lists(&screener);
    readiness.set_lists_loaded(true);
    eprintln!(
        "lists: {} watch-list entries ({} names indexed), {} known shippers; loaded in {} ms, indexed in {} ms",
        screener.matcher.entries().len(),
        screener.matcher.name_count(),
        screener.known_shippers.len(),
        summary.load_time.as_millis(),
        summary.index_time.as_millis()
    );
    let watchlist_names: Vec<String> = screener
        .matcher
        .entries()
        .iter()
        .flat_map(|entry| entry.all_names().map(str::to_string).collect::<Vec<_>>())
        .collect();
    let known_shippers = screener.known_shippers.iter().cloned().collect();
    let generator = FeedGenerator::new(
        FeedConfig {
            seed: args.seed,
            parcels: args.parcels,
            ..FeedConfig::default()
        },
        watchlist_names,
        known_shippers,
    );

    let mut kafka = KafkaConfig {
        group_id: "parcel-screener-demo".to_string(),
        session_timeout_ms: 6_000,
        commit_interval_ms: 500,
        ..config.kafka.clone()
    };
    let embedded = match &args.brokers {
        Some(brokers) => {
            kafka.brokers = brokers.clone();
            None
        }
        None => {
            let broker = MockBroker::start_with_service_topics(&kafka.topics, DEMO_PARTITIONS)
                .map_err(anyhow::Error::msg)?;
            kafka.brokers = broker.bootstrap_servers().to_string();
            eprintln!(
                "embedded Kafka-protocol broker at {} — any Kafka client can join: produce parcel records to {}, consume {} and {}",
                kafka.brokers, kafka.topics.advance, kafka.topics.decisions, kafka.topics.rejected
            );
            Some(broker)
        }
    };

    let live = Arc::new(crate::live::LiveScreener::new(screener));
    // List updates published to the list topics (`lists publish`, the enrollment API) take
    // effect in the demo as in `run`.
    let follower = if config.lists.follow_topics {
        Some(crate::live::start_following(
            &kafka,
            live.clone(),
            metrics.clone(),
        )?)
    } else {
        None
    };
    let admin = crate::admin::service_state(
        config,
        &kafka,
        metrics.clone(),
        readiness.clone(),
        live.clone(),
        follower.as_ref(),
    )?;
    let serves_api = admin.api.is_some();
    let admin_addr = runtime.block_on(start_admin(
        args.admin_addr.as_deref(),
        &config.admin.addr,
        admin,
    ))?;
    eprintln!("metrics at http://{admin_addr}/metrics (health: /health/live, /health/ready)");
    if serves_api {
        eprintln!("enrollment API at http://{admin_addr}/v1/known-shippers (bearer tokens from admin.tokens)");
    }
    let stats = Arc::new(PipelineStats::new(metrics, readiness));
    let outcome = runtime.block_on(demo(config, kafka, generator, &args, live, stats));
    drop(follower);
    drop(runtime);
    drop(embedded);
    outcome
}

/// Counts of what the demo's feed sent and what landed on the output topics.
#[derive(Default)]
struct Landed {
    sent: AtomicU64,
    decisions: AtomicU64,
    rejections: AtomicU64,
    sending_done: AtomicBool,
}

async fn demo(
    config: &Config,
    kafka: KafkaConfig,
    generator: FeedGenerator,
    args: &DemoArgs,
    screener: Arc<crate::live::LiveScreener>,
    stats: Arc<PipelineStats>,
) -> anyhow::Result<ExitCode> {
    let landed = Arc::new(Landed::default());
    let (stop_pipeline, pipeline_stopped) = tokio::sync::oneshot::channel::<()>();
    let pipeline = {
        let kafka = kafka.clone();
        let (limits, dedup, stats) = (config.limits.clone(), config.dedup.clone(), stats.clone());
        tokio::spawn(async move {
            run_pipeline(&kafka, limits, dedup, screener, stats, async {
                let _ = pipeline_stopped.await;
            })
            .await
        })
    };
    let verifier = tokio::spawn(count_outputs(kafka.clone(), landed.clone()));
    let interrupted = Arc::new(AtomicBool::new(false));
    let feed = tokio::spawn(send_feed(
        kafka.clone(),
        generator,
        args.rate,
        args.duration,
        landed.clone(),
        interrupted.clone(),
    ));
    {
        let interrupted = interrupted.clone();
        tokio::spawn(async move {
            super::run::shutdown_signal().await;
            interrupted.store(true, Ordering::Relaxed);
        });
    }

    // Live progress until everything sent is accounted for (or the wait runs out).
    let started = Instant::now();
    let mut last = (Instant::now(), 0u64);
    let mut settled_since: Option<Instant> = None;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let snapshot = stats.snapshot();
        let now = Instant::now();
        let rate = (snapshot.received - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
        last = (now, snapshot.received);
        print_progress(started.elapsed(), &landed, &snapshot, rate, &stats);
        let sending_done = landed.sending_done.load(Ordering::Relaxed);
        let sent = landed.sent.load(Ordering::Relaxed);
        let all_done = sending_done
            && snapshot.acknowledged >= sent
            && landed.decisions.load(Ordering::Relaxed) >= snapshot.published_decisions()
            && landed.rejections.load(Ordering::Relaxed) >= snapshot.rejected;
        if all_done {
            break;
        }
        if sending_done {
            let since = *settled_since.get_or_insert(now);
            if now.duration_since(since) > Duration::from_secs(60) {
                eprintln!("gave up waiting for every record to be accounted for");
                break;
            }
        }
    }
    let _ = feed.await;
    let _ = stop_pipeline.send(());
    let pipeline_result = pipeline.await;
    verifier.abort();
    let pipeline_error = match pipeline_result {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(error.to_string()),
        Err(error) => Some(format!("pipeline task failed: {error}")),
    };
    let balanced = print_summary(started.elapsed(), &landed, &stats.snapshot(), &stats);
    if let Some(error) = pipeline_error {
        eprintln!("pipeline error: {error}");
        return Ok(ExitCode::FAILURE);
    }
    Ok(if balanced {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Starts the admin server on `requested`, or else on `configured`, falling back to a free
/// port on the same host when that one is taken (a demo should not fail over a busy port).
async fn start_admin(
    requested: Option<&str>,
    configured: &str,
    state: AdminState,
) -> anyhow::Result<std::net::SocketAddr> {
    if let Some(addr) = requested {
        return crate::admin::start(addr, state).await;
    }
    match crate::admin::start(configured, state.clone()).await {
        Ok(addr) => Ok(addr),
        Err(error) => {
            let host = configured
                .rsplit_once(':')
                .map_or("127.0.0.1", |(host, _)| host);
            tracing::debug!(%error, "admin address taken; using a free port");
            crate::admin::start(&format!("{host}:0"), state).await
        }
    }
}

/// Sends the feed at `rate` reports per second (0: unthrottled), keyed by parcel key.
async fn send_feed(
    kafka: KafkaConfig,
    mut generator: FeedGenerator,
    rate: u64,
    duration: Option<Duration>,
    landed: Arc<Landed>,
    interrupted: Arc<AtomicBool>,
) {
    let producer: FutureProducer = match ClientConfig::new()
        .set("bootstrap.servers", &kafka.brokers)
        .set("linger.ms", "5")
        .set("message.timeout.ms", "0")
        .create()
    {
        Ok(producer) => producer,
        Err(error) => {
            eprintln!("feed: cannot create producer: {error}");
            landed.sending_done.store(true, Ordering::Relaxed);
            return;
        }
    };
    let started = Instant::now();
    let mut pending = FuturesUnordered::new();
    let mut queued: u64 = 0;
    while let Some(report) = generator.next_report() {
        if interrupted.load(Ordering::Relaxed) || duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        if rate > 0 {
            // Pace: report n goes out at n / rate seconds.
            let due = Duration::from_secs_f64(queued as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        while pending.len() >= MAX_PENDING_SENDS {
            if let Some(result) = pending.next().await {
                count_sent(result, &landed);
            }
        }
        let record = FutureRecord::to(&kafka.topics.advance)
            .key(&report.key)
            .payload(&report.bytes);
        match producer.send_result(record) {
            Ok(delivery) => pending.push(delivery),
            Err((error, _)) => {
                eprintln!("feed: cannot enqueue a report: {error}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        }
        queued += 1;
        // Let acknowledgements in between sends.
        while let Some(Some(result)) = pending.next().now_or_never() {
            count_sent(result, &landed);
        }
    }
    while let Some(result) = pending.next().await {
        count_sent(result, &landed);
    }
    landed.sending_done.store(true, Ordering::Relaxed);
}

fn count_sent<Cancelled>(
    result: Result<rdkafka::producer::future_producer::OwnedDeliveryResult, Cancelled>,
    landed: &Landed,
) {
    if matches!(result, Ok(Ok(_))) {
        landed.sent.fetch_add(1, Ordering::Relaxed);
    } else {
        eprintln!("feed: a report was not delivered");
    }
}

/// Counts what lands on the decisions and rejected topics.
async fn count_outputs(kafka: KafkaConfig, landed: Arc<Landed>) {
    let consumer: StreamConsumer = match ClientConfig::new()
        .set("bootstrap.servers", &kafka.brokers)
        .set("group.id", "parcel-screener-demo-verifier")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .create()
    {
        Ok(consumer) => consumer,
        Err(error) => {
            eprintln!("verifier: cannot create consumer: {error}");
            return;
        }
    };
    if let Err(error) = consumer.subscribe(&[&kafka.topics.decisions, &kafka.topics.rejected]) {
        eprintln!("verifier: cannot subscribe: {error}");
        return;
    }
    loop {
        match consumer.recv().await {
            Ok(message) if message.topic() == kafka.topics.decisions => {
                landed.decisions.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {
                landed.rejections.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => eprintln!("verifier: {error}"),
        }
    }
}

fn p99_ms(stats: &PipelineStats) -> f64 {
    let histogram = stats
        .end_to_end_micros
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    histogram.value_at_quantile(0.99) as f64 / 1000.0
}

fn print_progress(
    elapsed: Duration,
    landed: &Landed,
    snapshot: &StatsSnapshot,
    rate: f64,
    stats: &PipelineStats,
) {
    eprintln!(
        "{:>4}s  sent {:>7}  screened {:>7} ({:>6.0}/s)  RELEASE {:>7}  HOLD {:>5}  CANCELLED {:>4}  duplicates {:>6}  rejected {:>4}  p99 {:>6.1} ms",
        elapsed.as_secs(),
        landed.sent.load(Ordering::Relaxed),
        snapshot.received,
        rate,
        snapshot.released,
        snapshot.held,
        snapshot.cancelled,
        snapshot.duplicates,
        snapshot.rejected,
        p99_ms(stats)
    );
}

/// Prints the summary; returns whether every record sent is accounted for.
fn print_summary(
    elapsed: Duration,
    landed: &Landed,
    snapshot: &StatsSnapshot,
    stats: &PipelineStats,
) -> bool {
    let sent = landed.sent.load(Ordering::Relaxed);
    let accounted = snapshot.decided() + snapshot.duplicates + snapshot.rejected;
    let on_decisions = landed.decisions.load(Ordering::Relaxed);
    let on_rejected = landed.rejections.load(Ordering::Relaxed);
    let histogram = stats
        .end_to_end_micros
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    println!();
    println!("summary after {:.1} s", elapsed.as_secs_f64());
    println!("  sent                 {sent:>9}");
    println!(
        "  decided              {:>9}  (RELEASE {}, HOLD {}, CANCELLED {})",
        snapshot.decided(),
        snapshot.released,
        snapshot.held,
        snapshot.cancelled
    );
    println!(
        "  duplicates           {:>9}  (no decision published)",
        snapshot.duplicates
    );
    println!("  rejected             {:>9}", snapshot.rejected);
    println!("  decided + duplicates + rejected = {accounted}");
    if snapshot.rescreen_holds > 0 {
        println!(
            "  re-screen holds      {:>9}  (released parcels held after a list update: a new decision version)",
            snapshot.rescreen_holds
        );
    }
    println!("  on the decisions topic: {on_decisions}; on the rejected topic: {on_rejected}");
    println!(
        "  end-to-end latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(0.5),
        ms(0.99),
        histogram.max() as f64 / 1000.0
    );
    let balanced = accounted == sent
        && on_decisions == snapshot.published_decisions()
        && on_rejected == snapshot.rejected;
    if balanced {
        println!("  balanced: every record sent is accounted for");
    } else {
        println!(
            "  NOT balanced: {} records unaccounted for",
            sent as i64 - accounted as i64
        );
    }
    balanced
}
