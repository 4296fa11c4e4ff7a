//! The command line (SPEC §8). One file per command; this one holds the argument definitions
//! and the dispatch.

mod demo;
mod evaluate;
mod generate;
mod lists;
mod run;
mod score;
mod screen;
mod search;
mod tokens;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

use crate::config::{Config, LogFormat, DEFAULT_CONFIG_PATH};

#[derive(Debug, Parser)]
#[command(
    name = "parcel-screener",
    version,
    about = "Screens advance e-commerce parcel data against watch lists and a known-shipper registry",
    propagate_version = true
)]
pub struct Cli {
    /// Configuration file (TOML). Keys can be overridden by SCREENER_<SECTION>__<KEY> variables.
    #[arg(long, global = true, env = "PARCEL_SCREENER_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,

    /// Log format on stderr (overrides the config's log.format).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Screen parcel records offline: JSONL records in, decision records out (JSONL on stdout).
    Screen(screen::ScreenArgs),
    /// The embedded default: an in-process broker, the bundled lists, the screener and a
    /// synthetic feed, with live progress and a summary that accounts for every record.
    Demo(demo::DemoArgs),
    /// Run the service against a Kafka cluster: parcel records in, decisions out.
    Run(run::RunArgs),
    /// The match score of two names, or of every row of a CSV file of pairs.
    Score(score::ScoreArgs),
    /// The best watch-list candidates for one name, with scores and why.
    Search(search::SearchArgs),
    /// Generate a deterministic synthetic feed of parcel reports (JSONL on stdout or a file).
    Generate(generate::GenerateArgs),
    /// Measure the matcher: precision/recall on a labelled set built from the lists, index
    /// recall, and the false-hold rate on clean synthetic traffic.
    Evaluate(evaluate::EvaluateArgs),
    /// Watch-list and known-shipper list commands.
    #[command(subcommand)]
    Lists(lists::ListsCommand),
    /// Bearer tokens of the enrollment API: `tokens hash` gives the SHA-256 to configure.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
}

/// An error and its causes on one line, `: `-separated, for the binaries' last words: each
/// cause is left out when the message before it already quotes it. Most of the project's
/// errors say their source themselves (`cannot read {path}: {source}`), and anyhow's `{:#}`
/// printed every such cause twice.
pub fn describe_error(error: &anyhow::Error) -> String {
    let mut message = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            message.push_str(": ");
            message.push_str(&cause);
        }
    }
    message
}

/// Runs the parsed command line. Returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    // Needs no configuration (an operator may hash a token anywhere).
    if let Command::Tokens(command) = &cli.command {
        return tokens::run(command);
    }
    let config = Config::load(&cli.config)?;
    crate::logging::init(
        cli.log_format.unwrap_or(config.log.format),
        config.log.level.as_deref(),
    );
    match cli.command {
        Command::Screen(args) => screen::run(&config, args),
        Command::Run(args) => run::run(&config, args),
        Command::Demo(args) => demo::run(&config, args),
        Command::Score(args) => score::run(&config, args),
        Command::Search(args) => search::run(&config, args),
        Command::Generate(args) => generate::run(&config, args),
        Command::Lists(command) => lists::run(&config, command),
        Command::Evaluate(args) => evaluate::run(&config, args),
        Command::Tokens(command) => tokens::run(&command),
    }
}
