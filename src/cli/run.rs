//! `parcel-screener run`: the service against a real Kafka cluster.

use std::process::ExitCode;
use std::sync::Arc;

use crate::config::Config;
use crate::live::{start_following, LiveScreener};
use crate::metrics::{Metrics, Readiness};
use crate::streaming::{run_pipeline, PipelineStats};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Bootstrap servers HOST:PORT[,HOST:PORT…] (overrides kafka.brokers).
    #[arg(long)]
    pub brokers: Option<String>,
    /// Admin server HOST:PORT for /metrics and /health/* (overrides admin.addr).
    #[arg(long, value_name = "HOST:PORT")]
    pub admin_addr: Option<String>,
    /// Benchmark baseline: copy records to the decisions topic unchanged, without parsing,
    /// dedup or screening, to measure what the consume → produce path alone can do.
    #[arg(long)]
    pub pass_through: bool,
}

pub fn run(config: &Config, args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut kafka = config.kafka.clone();
    if let Some(brokers) = args.brokers {
        kafka.brokers = brokers;
    }
    kafka.pass_through = args.pass_through;
    if kafka.pass_through {
        tracing::warn!("pass-through mode: records are copied, not screened");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let metrics = Arc::new(Metrics::new());
    let readiness = Arc::new(Readiness::new());
    let (screener, summary) = crate::engine::build_screener(config)?;
    let live = Arc::new(LiveScreener::new(screener));
    // The list topics are applied before the first record is screened, so every instance
    // screens with the same lists from the start.
    let _follower = if config.lists.follow_topics && !kafka.pass_through {
        Some(start_following(&kafka, live.clone(), metrics.clone())?)
    } else {
        None
    };
    let screener = live.current();
    metrics.record_lists(&screener);
    readiness.set_lists_loaded(true);
    // The admin server once the lists are in place: the enrollment API under it reads and
    // writes them. Until the consumer has partitions, /health/ready says what is missing.
    let admin_addr = args.admin_addr.as_deref().unwrap_or(&config.admin.addr);
    let admin = crate::admin::service_state(
        config,
        &kafka,
        metrics.clone(),
        readiness.clone(),
        live.clone(),
        _follower.as_ref(),
    )?;
    runtime.block_on(crate::admin::start(admin_addr, admin))?;
    tracing::info!(
        entries = screener.matcher.entries().len(),
        known_shippers = screener.known_shippers.len(),
        watchlist_version = %screener.list_versions.watchlist,
        known_shippers_version = %screener.list_versions.known_shippers,
        index_ms = summary.index_time.as_millis() as u64,
        "lists loaded"
    );
    let stats = Arc::new(PipelineStats::new(metrics, readiness));
    runtime.block_on(async {
        tracing::info!(brokers = %kafka.brokers, group = %kafka.group_id, topic = %kafka.topics.advance, "screening");
        run_pipeline(
            &kafka,
            config.limits.clone(),
            config.dedup.clone(),
            live.clone(),
            stats.clone(),
            shutdown_signal(),
        )
        .await
    })?;
    let totals = stats.snapshot();
    tracing::info!(
        received = totals.received,
        released = totals.released,
        held = totals.held,
        cancelled = totals.cancelled,
        duplicates = totals.duplicates,
        rejected = totals.rejected,
        "stopped"
    );
    Ok(ExitCode::SUCCESS)
}

/// Completes on the first SIGTERM or SIGINT; a second one exits the process at once.
pub async fn shutdown_signal() {
    wait_for_signal().await;
    tracing::info!("shutdown requested: draining (send the signal again to exit at once)");
    tokio::spawn(async {
        wait_for_signal().await;
        tracing::warn!("second signal: exiting without draining");
        std::process::exit(130);
    });
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut terminate) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
