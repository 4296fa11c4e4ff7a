//! The matcher's quality on the bundled lists, on a seeded labelled set (see
//! `parcel_screener::evaluation`): the targets of the name-matching issue hold, and the
//! candidate index never hides a name the exhaustive scan finds. `parcel-screener evaluate`
//! prints the full report with larger sets.

use std::path::Path;

use parcel_screener::config::Config;
use parcel_screener::evaluation::{build_labelled_set, evaluate, EvaluationConfig};
use screener_engine::matching::Matcher;

#[test]
fn recall_precision_and_index_recall_on_the_bundled_lists() {
    let config = Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/screener.toml"))
        .expect("bundled config");
    let (entries, _) = parcel_screener::engine::load_watchlists(&config).expect("lists");
    let matcher = Matcher::new(entries);
    let evaluation = EvaluationConfig {
        seed: 7,
        positives: 1_500,
        negatives: 1_500,
        index_recall_queries: 400,
    };
    let queries = build_labelled_set(&matcher, &evaluation);
    let rules = &config.rules.watchlist;
    let report = evaluate(
        &matcher,
        &queries,
        rules.review_threshold,
        rules.hold_threshold,
        400,
    );

    assert_eq!(report.positives, 1_500);
    assert_eq!(report.negatives, 1_500);
    let review = report.at_review_threshold;
    assert!(
        review.recall >= 0.98,
        "recall at the review threshold: {review:?}"
    );
    assert!(
        review.precision >= 0.98,
        "precision at the review threshold: {review:?}"
    );
    let negatives_held = review.false_positives as f64 / report.negatives as f64;
    assert!(
        negatives_held <= 0.02,
        "hard negatives held: {negatives_held}"
    );
    assert_eq!(
        report.index_misses,
        0,
        "the index hid names the exhaustive scan found: {:?}",
        report
            .examples
            .iter()
            .filter(|e| e.starts_with("index hid"))
            .collect::<Vec<_>>()
    );
}
