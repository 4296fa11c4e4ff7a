//! `parcel-screener lists …`: list maintenance commands.

use std::process::ExitCode;
use std::time::Instant;

use screener_engine::known_shippers::KnownShipperStatus;

use crate::config::Config;

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
}

pub fn run(config: &Config, command: ListsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ListsCommand::Check {
            strict,
            max_problems,
        } => check(config, strict, max_problems),
    }
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
