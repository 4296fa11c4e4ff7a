//! `parcel-screener screen`: the engine offline. Parcel records (JSONL) in, decision records
//! (JSONL) out, deduplicated as the service does; every input line is accounted for as a
//! decision, a suppressed duplicate or a rejection.

use anyhow::Context;
use serde::Serialize;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use screener_engine::decision::Verdict;
use screener_engine::dedup::Deduplicator;
use screener_engine::pipeline::{process_report, sent_at_ms, ReportOutcome};
use screener_engine::record::{parse_record, FieldError};
use screener_engine::rules::Screener;

use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct ScreenArgs {
    /// Parcel records, one JSON object per line ("-" for standard input).
    #[arg(long, short)]
    pub input: PathBuf,
    /// Where decisions go (default: standard output).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Where rejected records go, as JSONL with line numbers and errors (default: standard error).
    #[arg(long)]
    pub rejects: Option<PathBuf>,
}

/// A rejected input line.
#[derive(Debug, Serialize)]
struct Rejection<'a> {
    line: u64,
    error: &'a str,
    message: String,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    fields: &'a [FieldError],
}

/// Counts of what happened to the input lines.
#[derive(Debug, Default)]
struct Tally {
    lines: u64,
    released: u64,
    held: u64,
    cancelled: u64,
    /// Reports suppressed as duplicates (no decision written).
    duplicates: u64,
    rejected: u64,
}

pub fn run(config: &Config, args: ScreenArgs) -> anyhow::Result<ExitCode> {
    let (screener, summary) = crate::engine::build_screener(config)?;
    tracing::info!(
        entries = screener.matcher.entries().len(),
        names = screener.matcher.name_count(),
        known_shippers = screener.known_shippers.len(),
        load_ms = summary.load_time.as_millis() as u64,
        index_ms = summary.index_time.as_millis() as u64,
        "lists loaded"
    );
    let input: Box<dyn Read> = if args.input.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            File::open(&args.input)
                .with_context(|| format!("cannot open {}", args.input.display()))?,
        )
    };
    let output: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let rejects: Box<dyn Write> = match &args.rejects {
        Some(path) => Box::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stderr()),
    };
    let started = Instant::now();
    let tally = screen_stream(&screener, config, input, output, rejects)?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "screened {} lines in {:.2} s ({:.0} lines/s): {} RELEASE, {} HOLD, {} CANCELLED, {} duplicates, {} rejected",
        tally.lines,
        seconds,
        tally.lines as f64 / seconds.max(1e-9),
        tally.released,
        tally.held,
        tally.cancelled,
        tally.duplicates,
        tally.rejected
    );
    debug_assert_eq!(
        tally.lines,
        tally.released + tally.held + tally.cancelled + tally.duplicates + tally.rejected
    );
    Ok(ExitCode::SUCCESS)
}

/// Screens every line of `input`. Blank lines count as rejected (an empty record), so that
/// line numbers and counts always add up.
fn screen_stream(
    screener: &Screener,
    config: &Config,
    input: Box<dyn Read>,
    output: Box<dyn Write>,
    rejects: Box<dyn Write>,
) -> anyhow::Result<Tally> {
    let mut reader = BufReader::with_capacity(1 << 20, input);
    let mut output = BufWriter::with_capacity(1 << 20, output);
    let mut rejects = BufWriter::new(rejects);
    let mut tally = Tally::default();
    let mut deduplicator = Deduplicator::new(config.dedup.clone());
    let mut line = Vec::with_capacity(4096);
    // Each decision's JSON line, written into one reused buffer.
    let mut decision_json = Vec::with_capacity(1024);
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .context("cannot read input")?;
        if read == 0 {
            break;
        }
        tally.lines += 1;
        let bytes = trim_line_end(&line);
        match parse_record(bytes, &config.limits) {
            Ok(record) => {
                let key = record.parcel_key();
                let now_ms = sent_at_ms(&record, 0);
                let decision =
                    match process_report(screener, &mut deduplicator, &key, &record, now_ms) {
                        ReportOutcome::Decided(decision) => decision,
                        ReportOutcome::Duplicate(_) => {
                            tally.duplicates += 1;
                            continue;
                        }
                    };
                match decision.decision {
                    Verdict::Release => tally.released += 1,
                    Verdict::Hold => tally.held += 1,
                    Verdict::Cancelled => tally.cancelled += 1,
                }
                decision_json.clear();
                decision.write_json(&mut decision_json);
                decision_json.push(b'\n');
                output.write_all(&decision_json)?;
            }
            Err(error) => {
                tally.rejected += 1;
                let rejection = Rejection {
                    line: tally.lines,
                    error: error.kind(),
                    message: error.to_string(),
                    fields: error.field_errors(),
                };
                serde_json::to_writer(&mut rejects, &rejection)?;
                rejects.write_all(b"\n")?;
            }
        }
    }
    output.flush()?;
    rejects.flush()?;
    Ok(tally)
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}
