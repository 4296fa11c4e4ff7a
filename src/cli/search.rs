//! `parcel-screener search`: the best watch-list candidates for one name.

use std::process::ExitCode;

use screener_engine::matching::{Matcher, PartyQuery, SearchOptions};

use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// The name to look for.
    pub name: String,
    /// The party's country (ISO alpha-2), used as supporting evidence.
    #[arg(long)]
    pub country: Option<String>,
    /// At most this many candidates.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    /// Candidates scoring below this are not shown.
    #[arg(long, default_value_t = 0.6)]
    pub min_score: f64,
    /// Show, for each candidate, which tokens aligned and what each contributed.
    #[arg(long)]
    pub explain: bool,
    /// Print JSON (one object per candidate, with its explanation) instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(config: &Config, args: SearchArgs) -> anyhow::Result<ExitCode> {
    let (entries, _) = crate::engine::load_watchlists(config)?;
    let matcher = Matcher::new(entries);
    let country = args.country.as_deref().map(str::to_ascii_uppercase);
    let query = PartyQuery {
        name: &args.name,
        country: country.as_deref(),
    };
    let options = SearchOptions {
        min_score: args.min_score,
        limit: args.limit,
    };
    let candidates = matcher.search(query, options);
    if args.json {
        for candidate in &candidates {
            println!(
                "{}",
                serde_json::to_string(&matcher.explain(query, candidate))?
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    print_table(&matcher, query, &candidates, args.explain);
    Ok(ExitCode::SUCCESS)
}

fn print_table(
    matcher: &Matcher,
    query: PartyQuery,
    candidates: &[screener_engine::matching::Candidate],
    explain: bool,
) {
    if candidates.is_empty() {
        println!("no candidate scores at or above the minimum");
        return;
    }
    println!(
        "{:>3}  {:>6}  {:<16} {:<10} {:<8} matched name",
        "#", "score", "list", "id", "country"
    );
    for (rank, candidate) in candidates.iter().enumerate() {
        let entry = matcher.entry(candidate);
        let matched = matcher.matched_name(candidate);
        let alias_note = if candidate.name_number > 0 {
            format!("  (alias of {})", entry.name)
        } else {
            String::new()
        };
        println!(
            "{:>3}  {:>6.4}  {:<16} {:<10} {:<8} {}{}",
            rank + 1,
            candidate.score,
            entry.list,
            entry.id,
            format!("{:?}", candidate.country).to_lowercase(),
            matched,
            alias_note
        );
        if explain {
            let explanation = matcher.explain(query, candidate);
            println!(
                "       tokens {:?} vs {:?}",
                explanation.query_tokens, explanation.candidate_tokens
            );
            super::score::print_explanation(&explanation.name);
        }
    }
}
