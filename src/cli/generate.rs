//! `parcel-screener generate`: a deterministic synthetic feed of parcel reports, JSONL on
//! standard output or in a file, with a one-line count per kind on standard error. Planted
//! watch-list names and known shippers come from the configured lists, so a generated feed
//! screened with the same configuration exercises every decision path.

use anyhow::Context;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use crate::config::Config;
use crate::feed::{parse_share, FeedConfig, FeedGenerator};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Shares per parcel (defaults): 10% exact replays, 30% reported by the other feed \
(5% of those disagreeing on consignee or value), 2% amendments, 0.5% cancellations, \
1% malformed records, 0.2% watch-list names, 5% known shippers, 1% values over the \
de minimis threshold, 0.2% restricted goods, 0% consignees with a name of two cultures \
(--new-name-share).

Example: parcel-screener generate --parcels 2000 --seed 7 | parcel-screener screen --input -")]
pub struct GenerateArgs {
    /// Number of distinct parcels (original reports). Replays, other-feed reports,
    /// amendments, cancellations and malformed records come on top.
    #[arg(long, short = 'n', value_name = "N")]
    pub parcels: usize,
    /// Seed of the generator: the same seed, lists and options give the same bytes.
    #[arg(long, short, default_value_t = 1, value_name = "S")]
    pub seed: u64,
    /// Where the JSONL goes (default: standard output).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Leave out malformed records (broken JSON, wrong types, missing fields, bad country
    /// codes, invalid UTF-8).
    #[arg(long)]
    pub no_malformed: bool,
    /// Only original reports of releasable parcels: no replays, other-feed reports,
    /// amendments, cancellations or malformed records, and no planted watch-list names,
    /// values over the threshold or restricted goods (known shippers stay). Any HOLD of
    /// such a feed is a false positive.
    #[arg(long)]
    pub clean: bool,
    /// Share of parcels whose consignee has a given name and a surname from two cultures
    /// drawn at random: most such names are new to the screener, as most consignees of a
    /// real feed are, while the default feed's names repeat (default 0, which leaves a
    /// seed's feed unchanged).
    #[arg(long, value_name = "SHARE", default_value_t = 0.0, value_parser = parse_share)]
    pub new_name_share: f64,
}

pub fn run(config: &Config, args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let (entries, _) = crate::engine::load_watchlists(config)?;
    let watchlist_names: Vec<String> = entries
        .into_iter()
        .flat_map(|entry| std::iter::once(entry.name).chain(entry.aliases))
        .collect();
    let (registry, _) = crate::engine::load_known_shippers(config)?;
    let known_shippers = registry.iter().cloned().collect();

    let mut feed_config = FeedConfig {
        seed: args.seed,
        parcels: args.parcels,
        new_name_share: args.new_name_share,
        ..FeedConfig::default()
    };
    if args.no_malformed {
        feed_config = feed_config.without_malformed();
    }
    if args.clean {
        feed_config = feed_config.clean();
    }
    let mut generator = FeedGenerator::new(feed_config, watchlist_names, known_shippers);

    let output: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut output = BufWriter::with_capacity(1 << 20, output);
    let started = Instant::now();
    while let Some(report) = generator.next_report() {
        output
            .write_all(&report.bytes)
            .and_then(|()| output.write_all(b"\n"))
            .context("cannot write the feed")?;
    }
    output.flush().context("cannot write the feed")?;
    let seconds = started.elapsed().as_secs_f64();
    let stats = generator.stats();
    eprintln!(
        "generated {stats} in {seconds:.2} s ({:.0} reports/s)",
        stats.total() as f64 / seconds.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}
