//! `parcel-screener lists …`: list maintenance commands.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use screener_engine::known_shippers::{self, KnownShipperStatus};
use screener_engine::lists::ListFormat;

use crate::config::Config;
use crate::live::publish;

#[derive(Debug, clap::Subcommand)]
pub enum ListsCommand {
    /// Load the configured lists and report counts and problems. Exits 1 if a list has
    /// problems (with --strict) or cannot be loaded at all.
    Check {
        /// Treat row-level problems as failures.
        #[arg(long)]
        strict: bool,
        /// Show at most this many problems per list.
        #[arg(long, default_value_t = 20)]
        max_problems: usize,
    },
    /// Publish a watch list or the known-shipper registry to its compacted topic, sending only
    /// the changes against what the topic holds (adds, updates, and deletes as tombstones).
    /// Running screeners apply them within a second, without a restart.
    #[command(group(clap::ArgGroup::new("what").required(true).args(["watchlist", "known_shippers"])))]
    Publish {
        /// A watch list: an OFAC SDN directory (sdn.csv [+ alt.csv, add.csv]), a CSL CSV file,
        /// or a native JSONL file. Deletions are limited to the lists this one contains.
        #[arg(long, value_name = "DIR|FILE")]
        watchlist: Option<PathBuf>,
        /// The watch list's format; by default guessed: a directory is ofac-sdn, *.csv is
        /// csl, anything else jsonl.
        #[arg(long, value_enum, requires = "watchlist")]
        format: Option<FormatArg>,
        /// The list name for entries (ofac-sdn: default OFAC-SDN; csl: default per source).
        #[arg(long, requires = "watchlist")]
        name: Option<String>,
        /// A known-shipper JSONL file: the topic will hold exactly these shippers.
        #[arg(long, value_name = "FILE")]
        known_shippers: Option<PathBuf>,
        /// Bootstrap servers HOST:PORT[,…] (overrides kafka.brokers).
        #[arg(long)]
        brokers: Option<String>,
        /// Show what would change without publishing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `--format` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FormatArg {
    OfacSdn,
    Csl,
    Jsonl,
}

impl From<FormatArg> for ListFormat {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::OfacSdn => ListFormat::OfacSdn,
            FormatArg::Csl => ListFormat::Csl,
            FormatArg::Jsonl => ListFormat::Jsonl,
        }
    }
}

pub fn run(config: &Config, command: ListsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ListsCommand::Check {
            strict,
            max_problems,
        } => check(config, strict, max_problems),
        ListsCommand::Publish {
            watchlist,
            format,
            name,
            known_shippers,
            brokers,
            dry_run,
        } => {
            let mut kafka = config.kafka.clone();
            if let Some(brokers) = brokers {
                kafka.brokers = brokers;
            }
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            if let Some(path) = watchlist {
                let format = format.map_or_else(|| guess_format(&path), ListFormat::from);
                let report = screener_engine::lists::load(format, &path, name.as_deref())?;
                if !report.problems.is_empty() {
                    eprintln!(
                        "{}: {} rows could not be loaded and are not published (see `lists check`)",
                        path.display(),
                        report.problems.len()
                    );
                }
                let topic = kafka.topics.watchlist.clone();
                let held = publish::read_topic(&kafka, &topic)?;
                let diff = publish::diff_watchlist(&held, &report.entries);
                return runtime.block_on(publish_and_report(&kafka, &topic, diff, dry_run));
            }
            if let Some(path) = known_shippers {
                let (shippers, problems) = known_shippers::load_file(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                if !problems.is_empty() {
                    for problem in &problems {
                        eprintln!("problem: {problem}");
                    }
                    anyhow::bail!(
                        "{}: {} lines have problems; nothing published (the topic would lose those shippers)",
                        path.display(),
                        problems.len()
                    );
                }
                let topic = kafka.topics.known_shippers.clone();
                let held = publish::read_topic(&kafka, &topic)?;
                let diff = publish::diff_known_shippers(&held, &shippers);
                return runtime.block_on(publish_and_report(&kafka, &topic, diff, dry_run));
            }
            unreachable!("clap requires --watchlist or --known-shippers")
        }
    }
}

/// The format of a watch list at `path` when `--format` is not given.
fn guess_format(path: &Path) -> ListFormat {
    if path.is_dir() {
        ListFormat::OfacSdn
    } else if path
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("csv"))
    {
        ListFormat::Csl
    } else {
        ListFormat::Jsonl
    }
}

async fn publish_and_report(
    kafka: &crate::streaming::config::KafkaConfig,
    topic: &str,
    diff: publish::ListDiff,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let verb = if dry_run {
        "would publish"
    } else {
        "publishing"
    };
    println!(
        "{topic}: {verb} {} added, {} updated, {} deleted ({} unchanged)",
        diff.added.len(),
        diff.updated.len(),
        diff.deleted.len(),
        diff.unchanged
    );
    // Keys are list entry ids or enrollment ids, not personal data.
    for key in &diff.deleted {
        println!("  delete {key}");
    }
    for (key, _) in &diff.updated {
        println!("  update {key}");
    }
    if dry_run || diff.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let producer = publish::list_producer(kafka)?;
    publish::publish_diff(&producer, topic, &diff).await?;
    println!("{topic}: published");
    Ok(ExitCode::SUCCESS)
}

fn check(config: &Config, strict: bool, max_problems: usize) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let (screener, summary) = crate::engine::build_screener(config)?;
    println!("watch lists:");
    for list in &summary.lists {
        println!(
            "  {:<9} {}: {} entries, {} aliases, {} addresses, {} problems",
            serde_json::to_value(list.source.format)?
                .as_str()
                .unwrap_or("?"),
            list.source.path.display(),
            list.entries,
            list.aliases,
            list.addresses,
            list.problems.len()
        );
        for problem in list.problems.iter().take(max_problems) {
            println!("    problem: {problem}");
        }
        if list.problems.len() > max_problems {
            println!("    … and {} more", list.problems.len() - max_problems);
        }
    }
    let matcher = &screener.matcher;
    let mut by_list: std::collections::BTreeMap<&str, usize> = Default::default();
    for entry in matcher.entries() {
        *by_list.entry(entry.list.as_str()).or_default() += 1;
    }
    println!("  by list label: {by_list:?}");
    println!(
        "  index: {} names, {} distinct tokens, ~{:.1} MiB; loaded in {} ms, indexed in {} ms",
        matcher.name_count(),
        matcher.vocabulary_len(),
        matcher.index_heap_bytes() as f64 / (1024.0 * 1024.0),
        summary.load_time.as_millis(),
        summary.index_time.as_millis()
    );
    println!("  version: {}", screener.list_versions.watchlist);
    match &summary.known_shippers_file {
        Some(path) => {
            let registry = &screener.known_shippers;
            let counts: Vec<String> = KnownShipperStatus::ALL
                .iter()
                .map(|status| {
                    format!(
                        "{} {}",
                        registry.count_with_status(*status),
                        status.as_str()
                    )
                })
                .collect();
            println!(
                "known shippers: {}: {} ({})",
                path.display(),
                registry.len(),
                counts.join(", ")
            );
            for problem in summary.known_shipper_problems.iter().take(max_problems) {
                println!("    problem: {problem}");
            }
            println!("  version: {}", screener.list_versions.known_shippers);
        }
        None => println!("known shippers: none configured"),
    }
    let problems = summary.problem_count();
    println!(
        "{problems} problems; checked in {} ms",
        started.elapsed().as_millis()
    );
    if strict && problems > 0 {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
