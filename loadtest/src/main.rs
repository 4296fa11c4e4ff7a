//! `loadtest`: a load test of `parcel-screener run` against a Kafka-protocol broker.
//!
//! `loadtest run` produces a synthetic courier + marketplace feed (the project's
//! `FeedGenerator`) to the input topic at a target rate or as fast as possible, reads the
//! decisions and rejected topics, and reports throughput, end-to-end latency (from each
//! input's produce time to the moment its output is read) and an accounting in which every
//! report sent is decided, suppressed as a duplicate, rejected, or lost. What must come out
//! is worked out locally with the service's own parsing and dedup logic. Anything lost after
//! the drain timeout fails the run (exit code 1).
//!
//! `loadtest create-topics` creates the three parcel topics and the two compacted list topics
//! with the AdminClient.
//!
//! `loadtest mock-broker` serves librdkafka's mock cluster (the demo's broker) as a process of
//! its own, with the parcel topics, so that the screener's own latency can be measured on a
//! broker that costs little per request (`scripts/loadtest.sh --broker mock`).
//!
//! `scripts/loadtest.sh` runs the whole benchmark (broker, topics, screener, load) on one
//! machine.

mod account;
mod collect;
mod cpu;
mod expect;
mod kafka;
mod report;
mod run;

#[cfg(test)]
mod tests;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

use parcel_screener::config::{Config, DEFAULT_CONFIG_PATH};

#[derive(Debug, Parser)]
#[command(
    name = "loadtest",
    about = "Load test of parcel-screener: a synthetic feed to Kafka, decisions and rejections read back, throughput, latency and accounting"
)]
struct Cli {
    /// The screener's configuration (lists for planted names, dedup and parse limits, topic
    /// names).
    #[arg(long, global = true, env = "PARCEL_SCREENER_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
    config: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Produce a feed, read the outputs, report throughput, latency and accounting.
    Run(Box<run::RunArgs>),
    /// Create the input, decisions and rejected topics (replication 1).
    CreateTopics(CreateTopicsArgs),
    /// Serve librdkafka's mock cluster with the parcel topics until killed; prints its
    /// bootstrap address on stdout. It keeps only about 5 MiB per partition (SPEC §11):
    /// a measurement, not a store.
    MockBroker(MockBrokerArgs),
}

#[derive(Debug, clap::Args)]
struct MockBrokerArgs {
    /// Partitions of the input, decisions and rejected topics.
    #[arg(long, default_value_t = 8)]
    partitions: i32,
}

#[derive(Debug, clap::Args)]
struct CreateTopicsArgs {
    /// Bootstrap servers HOST:PORT.
    #[arg(long)]
    brokers: String,
    /// Partitions of the input and decisions topics.
    #[arg(long, default_value_t = 8)]
    partitions: i32,
    /// Partitions of the rejected topic (default: as many as the others).
    #[arg(long)]
    rejected_partitions: Option<i32>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = Config::load(&cli.config)
        .map_err(anyhow::Error::from)
        .and_then(|config| match cli.command {
            Command::Run(args) => run::run(&config, *args),
            Command::CreateTopics(args) => {
                let topics = &config.kafka.topics;
                kafka::create_topics(
                    &args.brokers,
                    &[
                        (topics.advance.clone(), args.partitions),
                        (topics.decisions.clone(), args.partitions),
                        (
                            topics.rejected.clone(),
                            args.rejected_partitions.unwrap_or(args.partitions),
                        ),
                    ],
                    &[topics.watchlist.clone(), topics.known_shippers.clone()],
                )
                .map(|()| ExitCode::SUCCESS)
            }
            Command::MockBroker(args) => serve_mock_broker(&config, &args),
        });
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!(
                "loadtest: error: {}",
                parcel_screener::cli::describe_error(&error)
            );
            ExitCode::from(2)
        }
    }
}

/// Starts the mock cluster with the parcel topics, prints its address and serves until the
/// process is killed (the broker holds nothing that must outlive it).
fn serve_mock_broker(config: &Config, args: &MockBrokerArgs) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    anyhow::ensure!(
        args.partitions >= 1,
        "--partitions must be at least 1, not {}",
        args.partitions
    );
    let broker = parcel_screener::streaming::mock_broker::MockBroker::start_with_service_topics(
        &config.kafka.topics,
        args.partitions,
    )
    .map_err(anyhow::Error::msg)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", broker.bootstrap_servers())?;
    stdout.flush()?;
    drop(stdout);
    loop {
        std::thread::park();
    }
}

/// Microseconds since the Unix epoch (wall clock: comparable with Kafka timestamps).
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
