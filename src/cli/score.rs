//! `parcel-screener score`: the match score of two names, with the lists' token weights.

use anyhow::{bail, Context};
use std::path::PathBuf;
use std::process::ExitCode;

use screener_engine::matching::{Matcher, NameScore};

use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    /// First name (omit with --pairs).
    pub name1: Option<String>,
    /// Second name (omit with --pairs).
    pub name2: Option<String>,
    /// A CSV file with header `name1,name2`; writes the same rows plus a `score` column to stdout.
    #[arg(long, conflicts_with_all = ["name1", "name2"])]
    pub pairs: Option<PathBuf>,
    /// Show which tokens aligned and what each contributed.
    #[arg(long)]
    pub explain: bool,
}

pub fn run(config: &Config, args: ScoreArgs) -> anyhow::Result<ExitCode> {
    let (entries, _) = crate::engine::load_watchlists(config)?;
    let matcher = Matcher::new(entries);
    if let Some(path) = &args.pairs {
        return score_pairs(&matcher, path);
    }
    let (Some(name1), Some(name2)) = (&args.name1, &args.name2) else {
        bail!("give two names, or --pairs FILE.csv");
    };
    let score = matcher.score_names(name1, name2, args.explain);
    println!("{:.4}", score.score);
    if args.explain {
        print_explanation(&score);
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the alignment table of a score.
pub fn print_explanation(score: &NameScore) {
    println!(
        "  coverage: query {:.4}, candidate {:.4}; score = mean = {:.4}",
        score.query_coverage, score.candidate_coverage, score.score
    );
    for pair in &score.aligned {
        println!(
            "  {:<24} ~ {:<24} {:>6.4} {:<9} weights {:.2} / {:.2}",
            pair.query,
            pair.candidate,
            pair.similarity,
            format!("{:?}", pair.agreement).to_lowercase(),
            pair.query_weight,
            pair.candidate_weight
        );
    }
}

fn score_pairs(matcher: &Matcher, path: &PathBuf) -> anyhow::Result<ExitCode> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (Some(first), Some(second)) = (column("name1"), column("name2")) else {
        bail!(
            "{}: the header must have columns name1 and name2, got {:?}",
            path.display(),
            headers
        );
    };
    let mut writer = csv::Writer::from_writer(std::io::stdout().lock());
    let mut out_headers = headers.clone();
    out_headers.push_field("score");
    writer.write_record(&out_headers)?;
    for (row_number, row) in reader.records().enumerate() {
        let row = row.with_context(|| format!("{}: row {}", path.display(), row_number + 2))?;
        let (Some(name1), Some(name2)) = (row.get(first), row.get(second)) else {
            bail!(
                "{}: row {} has too few columns",
                path.display(),
                row_number + 2
            );
        };
        let score = matcher.score_names(name1, name2, false).score;
        let mut out = row.clone();
        out.push_field(&format!("{score:.4}"));
        writer.write_record(&out)?;
    }
    writer.flush()?;
    Ok(ExitCode::SUCCESS)
}
