//! `parcel-screener evaluate`: the matcher's quality on a labelled set built from the
//! configured lists, and its false-hold rate on clean synthetic traffic.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Instant;

use screener_engine::decision::ReasonCode;
use screener_engine::record::{parse_record, Action};

use crate::config::Config;
use crate::evaluation::{build_labelled_set, evaluate, EvaluationConfig};
use crate::feed::{FeedConfig, FeedGenerator};

#[derive(Debug, clap::Args)]
pub struct EvaluateArgs {
    /// Seed of the labelled set and of the clean feed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Perturbed list names (true matches).
    #[arg(long, default_value_t = 3_000)]
    pub positives: usize,
    /// Hard negatives (different entities sharing tokens, common names).
    #[arg(long, default_value_t = 3_000)]
    pub negatives: usize,
    /// Queries also checked against an exhaustive scan (index recall).
    #[arg(long, default_value_t = 300)]
    pub index_recall: usize,
    /// Clean synthetic parcels screened to measure the false-hold rate.
    #[arg(long, default_value_t = 20_000)]
    pub clean_parcels: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(config: &Config, args: EvaluateArgs) -> anyhow::Result<ExitCode> {
    let (screener, _) = crate::engine::build_screener(config)?;
    let matcher = &screener.matcher;
    let started = Instant::now();
    let evaluation_config = EvaluationConfig {
        seed: args.seed,
        positives: args.positives,
        negatives: args.negatives,
        index_recall_queries: args.index_recall,
    };
    let queries = build_labelled_set(matcher, &evaluation_config);
    let rules = &config.rules.watchlist;
    let report = evaluate(
        matcher,
        &queries,
        rules.review_threshold,
        rules.hold_threshold,
        args.index_recall,
    );

    // Clean traffic: every WL_* hold is a false hold.
    let watchlist_names: Vec<String> = matcher
        .entries()
        .iter()
        .flat_map(|e| e.all_names().map(str::to_string).collect::<Vec<_>>())
        .collect();
    let feed_config = FeedConfig {
        seed: args.seed,
        parcels: args.clean_parcels,
        ..FeedConfig::default()
    }
    .clean();
    let generator = FeedGenerator::new(
        feed_config,
        watchlist_names,
        screener.known_shippers.iter().cloned().collect(),
    );
    let (mut parcels, mut held) = (0u64, 0u64);
    let mut held_names: HashMap<String, u64> = HashMap::new();
    for report in generator {
        let Ok(record) = parse_record(&report.bytes, &config.limits) else {
            continue;
        };
        if record.action == Action::Cancel {
            continue;
        }
        parcels += 1;
        let decision = screener.screen(&record, 1, &[]);
        let watchlist_reasons: Vec<_> = decision
            .reasons
            .iter()
            .filter(|r| matches!(r.code, ReasonCode::WlMatch | ReasonCode::WlPossible))
            .collect();
        if !watchlist_reasons.is_empty() {
            held += 1;
            for reason in watchlist_reasons {
                // Synthetic names, not personal data: shown to whoever tunes the matcher.
                let party = match reason.party {
                    Some(screener_engine::decision::PartyRole::Shipper) => &record.shipper.name,
                    Some(screener_engine::decision::PartyRole::Seller) => record
                        .seller
                        .as_ref()
                        .map_or(&record.shipper.name, |s| &s.name),
                    _ => &record.consignee.name,
                };
                let key = format!(
                    "{} ~ {} ({:.3})",
                    party,
                    reason.matched_name.as_deref().unwrap_or("?"),
                    reason.score.unwrap_or(0.0)
                );
                *held_names.entry(key).or_default() += 1;
            }
        }
    }
    let clean_hold_rate = held as f64 / parcels.max(1) as f64;
    let mut top_false_holds: Vec<(String, u64)> = held_names.into_iter().collect();
    top_false_holds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    top_false_holds.truncate(15);

    if args.json {
        let json = serde_json::json!({
            "labelled": report,
            "clean_traffic": {"parcels": parcels, "held_for_watchlist": held, "rate": clean_hold_rate, "top": top_false_holds},
            "seconds": started.elapsed().as_secs_f64(),
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "labelled set: {} positives, {} negatives (seed {})",
        report.positives, report.negatives, args.seed
    );
    for (label, m) in [
        ("review threshold", report.at_review_threshold),
        ("hold threshold", report.at_hold_threshold),
        ("best F1", report.best),
    ] {
        println!(
            "  {label:<16} {:.3}: precision {:.4}  recall {:.4}  F1 {:.4}  negatives held {}",
            m.threshold, m.precision, m.recall, m.f1, m.false_positives
        );
    }
    println!("  recall at the review threshold, by perturbation:");
    for (kind, rate) in &report.recall_by_kind {
        println!("    {kind:<36} {rate:.4}");
    }
    println!("  negatives held at the review threshold, by kind:");
    for (kind, rate) in &report.false_positive_rate_by_kind {
        println!("    {kind:<36} {rate:.4}");
    }
    println!(
        "  index vs exhaustive scan: {} of {} queries differ",
        report.index_misses, report.index_recall_queries
    );
    println!(
        "clean traffic: {parcels} parcels, {held} held for WL_MATCH/WL_POSSIBLE ({:.3}%)",
        clean_hold_rate * 100.0
    );
    for (names, count) in &top_false_holds {
        println!("    {count:>4}  {names}");
    }
    println!("examples of misses and false positives:");
    for example in report.examples.iter().take(25) {
        println!("    {example}");
    }
    println!("in {:.1} s", started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}
