//! The matcher's evaluation harness (`parcel-screener evaluate`): a labelled set built from
//! the real lists, precision / recall / F1 at the configured thresholds and at the best
//! threshold, the index's recall against an exhaustive scan, and the false-hold rate on clean
//! synthetic traffic.
//!
//! - Positives are realistic perturbations of real list names and aliases: one typo, token
//!   reorder, case and punctuation, a dropped or added legal form, an initial, a spelling
//!   (transliteration) variant, and reorder plus typo. A positive is found when the best
//!   candidate at or above the threshold is the source entry, or an entry of another list with
//!   the same name (the CSL repeats the SDN).
//! - Negatives are hard: list names whose most distinctive token is replaced (a different
//!   entity sharing every other token), common personal names of many cultures, and plausible
//!   company names. A negative is a false hold when any candidate reaches the threshold.
//!
//! Everything is seeded: the same lists and seed give the same report.

mod perturb;

use serde::Serialize;
use std::collections::HashMap;

use screener_engine::lists::{EntityType, WatchEntry};
use screener_engine::matching::{token_texts, tokenize, Matcher, PartyQuery, SearchOptions};

use crate::feed::pools::CULTURES;
use crate::feed::rng::Rng;
pub use perturb::Perturbation;

/// What to build and measure.
#[derive(Debug, Clone)]
pub struct EvaluationConfig {
    pub seed: u64,
    pub positives: usize,
    pub negatives: usize,
    /// Queries also run through the exhaustive scan to measure the index's recall.
    pub index_recall_queries: usize,
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        EvaluationConfig {
            seed: 1,
            positives: 3_000,
            negatives: 3_000,
            index_recall_queries: 300,
        }
    }
}

/// One labelled query.
#[derive(Debug, Clone)]
pub struct LabelledQuery {
    pub name: String,
    pub kind: QueryKind,
    /// For a positive: the source entry's index and the sorted tokens of the source name.
    pub source: Option<(usize, Vec<String>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryKind {
    Positive(Perturbation),
    /// A list name with its most distinctive token replaced.
    SwappedToken,
    CommonPerson,
    CommonCompany,
}

impl QueryKind {
    pub fn label(self) -> String {
        match self {
            QueryKind::Positive(p) => format!("positive/{}", p.as_str()),
            QueryKind::SwappedToken => "negative/swapped_token".into(),
            QueryKind::CommonPerson => "negative/common_person".into(),
            QueryKind::CommonCompany => "negative/common_company".into(),
        }
    }
}

/// Precision, recall and F1 at one threshold.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ThresholdMetrics {
    pub threshold: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Negatives held.
    pub false_positives: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvaluationReport {
    pub positives: usize,
    pub negatives: usize,
    pub at_review_threshold: ThresholdMetrics,
    pub at_hold_threshold: ThresholdMetrics,
    pub best: ThresholdMetrics,
    /// Recall at the review threshold (a hold either way) per positive kind.
    pub recall_by_kind: Vec<(String, f64)>,
    /// False-positive rate at the review threshold per negative kind.
    pub false_positive_rate_by_kind: Vec<(String, f64)>,
    /// Queries whose candidates at or above the review threshold differ between the index
    /// and the exhaustive scan, out of `index_recall_queries`.
    pub index_misses: usize,
    pub index_recall_queries: usize,
    /// Examples of misses and false positives, for whoever tunes the matcher.
    pub examples: Vec<String>,
}

/// Builds the labelled set from the entries.
pub fn build_labelled_set(matcher: &Matcher, config: &EvaluationConfig) -> Vec<LabelledQuery> {
    let entries = matcher.entries();
    let mut rng = Rng::new(config.seed);
    let mut queries = Vec::with_capacity(config.positives + config.negatives);
    let listed: std::collections::HashSet<Vec<String>> = entries
        .iter()
        .flat_map(|e| e.all_names().map(sorted_tokens).collect::<Vec<_>>())
        .collect();
    let mut attempts = 0;
    while queries.len() < config.positives && attempts < config.positives * 20 {
        attempts += 1;
        let entry_index = rng.index(entries.len());
        let entry = &entries[entry_index];
        let names: Vec<&str> = entry.all_names().collect();
        let source = names[rng.index(names.len())];
        let perturbation = Perturbation::ALL[rng.index(Perturbation::ALL.len())];
        let Some(name) = perturbation.apply(source, entry.entity_type, &mut rng) else {
            continue;
        };
        if tokenize(&name).is_empty() {
            continue;
        }
        queries.push(LabelledQuery {
            name,
            kind: QueryKind::Positive(perturbation),
            source: Some((entry_index, sorted_tokens(source))),
        });
    }
    let negatives_start = queries.len();
    let mut attempts = 0;
    while queries.len() - negatives_start < config.negatives && attempts < config.negatives * 20 {
        attempts += 1;
        let (name, kind) = match rng.index(3) {
            0 => {
                match swap_distinctive_token(matcher, &entries[rng.index(entries.len())], &mut rng)
                {
                    Some(name) => (name, QueryKind::SwappedToken),
                    None => continue,
                }
            }
            1 => (common_person(&mut rng), QueryKind::CommonPerson),
            _ => (common_company(&mut rng), QueryKind::CommonCompany),
        };
        if listed.contains(&sorted_tokens(&name)) {
            continue;
        }
        queries.push(LabelledQuery {
            name,
            kind,
            source: None,
        });
    }
    queries
}

fn sorted_tokens(name: &str) -> Vec<String> {
    let mut tokens: Vec<String> = token_texts(name);
    tokens.sort();
    tokens
}

/// A list name with its rarest (most distinctive) token replaced by a common word.
fn swap_distinctive_token(matcher: &Matcher, entry: &WatchEntry, rng: &mut Rng) -> Option<String> {
    let tokens = tokenize(&entry.name);
    let normal: Vec<usize> = (0..tokens.len())
        .filter(|&i| !tokens[i].kind.is_weak())
        .collect();
    if normal.len() < 2 {
        return None;
    }
    // The distinctive token: the one whose removal lowers the self-score the most.
    let rarest = *normal.iter().max_by(|&&a, &&b| {
        let weight = |i: usize| {
            matcher
                .score_names(&tokens[i].text, &tokens[i].text, false)
                .score
        };
        weight(a)
            .total_cmp(&weight(b))
            .then(tokens[a].text.len().cmp(&tokens[b].text.len()))
    })?;
    let culture = &CULTURES[rng.index(CULTURES.len())];
    let replacement = culture.surnames[rng.index(culture.surnames.len())].to_uppercase();
    let words: Vec<String> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if i == rarest {
                replacement.clone()
            } else {
                t.text.to_string()
            }
        })
        .collect();
    Some(words.join(" "))
}

fn common_person(rng: &mut Rng) -> String {
    let culture = &CULTURES[rng.index(CULTURES.len())];
    let given = if rng.chance(0.5) {
        culture.female
    } else {
        culture.male
    };
    let given = given[rng.index(given.len())];
    let surname = culture.surnames[rng.index(culture.surnames.len())];
    if rng.chance(0.2) {
        let middle = culture.male[rng.index(culture.male.len())];
        format!("{given} {middle} {surname}")
    } else {
        format!("{given} {surname}")
    }
}

const COMPANY_WORDS: &[&str] = &[
    "Global", "Pacific", "Golden", "Star", "Bright", "Green", "Ocean", "Eagle", "Summit", "Royal",
    "United", "Prime", "Silver", "Harbor", "Sunrise", "Dragon", "Lotus", "Phoenix", "Crystal",
    "Alpine",
];
const COMPANY_TRADES: &[&str] = &[
    "Trading",
    "Electronics",
    "Textiles",
    "Garments",
    "Logistics",
    "Imports",
    "Crafts",
    "Home Goods",
    "Cosmetics",
    "Toys",
    "Footwear",
    "Supplies",
];
const COMPANY_FORMS: &[&str] = &[
    "Co., Ltd.",
    "LLC",
    "Ltd",
    "Inc.",
    "GmbH",
    "S.A.",
    "Limited",
    "Corp.",
];

fn common_company(rng: &mut Rng) -> String {
    format!(
        "{} {} {} {}",
        COMPANY_WORDS[rng.index(COMPANY_WORDS.len())],
        COMPANY_WORDS[rng.index(COMPANY_WORDS.len())],
        COMPANY_TRADES[rng.index(COMPANY_TRADES.len())],
        COMPANY_FORMS[rng.index(COMPANY_FORMS.len())]
    )
}

/// The best candidate's score for a query, and whether it is the right entity.
struct Outcome {
    best_score: f64,
    correct: bool,
}

fn run_query(matcher: &Matcher, query: &LabelledQuery, floor: f64) -> Outcome {
    let candidates = matcher.search(
        PartyQuery::name(&query.name),
        SearchOptions {
            min_score: floor,
            limit: 1,
        },
    );
    let Some(best) = candidates.first() else {
        return Outcome {
            best_score: 0.0,
            correct: false,
        };
    };
    let correct = match &query.source {
        Some((entry_index, source_tokens)) => {
            best.entry_index as usize == *entry_index
                || sorted_tokens(matcher.matched_name(best)) == *source_tokens
                || {
                    // The same entity listed twice (OFAC SDN and CSL's copy of it).
                    let (found, source) = (matcher.entry(best), &matcher.entries()[*entry_index]);
                    found.id == source.id && found.name == source.name
                }
        }
        None => false,
    };
    Outcome {
        best_score: best.score,
        correct,
    }
}

/// Runs the labelled set and measures.
pub fn evaluate(
    matcher: &Matcher,
    queries: &[LabelledQuery],
    review_threshold: f64,
    hold_threshold: f64,
    index_recall_queries: usize,
) -> EvaluationReport {
    let floor = 0.5;
    let outcomes: Vec<Outcome> = queries
        .iter()
        .map(|q| run_query(matcher, q, floor))
        .collect();
    let positives = queries.iter().filter(|q| q.source.is_some()).count();
    let negatives = queries.len() - positives;
    let metrics_at = |threshold: f64| -> ThresholdMetrics {
        let (mut true_positives, mut held) = (0usize, 0usize);
        let mut false_positives = 0usize;
        for (query, outcome) in queries.iter().zip(&outcomes) {
            if outcome.best_score < threshold {
                continue;
            }
            held += 1;
            if query.source.is_some() && outcome.correct {
                true_positives += 1;
            }
            if query.source.is_none() {
                false_positives += 1;
            }
        }
        let precision = if held == 0 {
            1.0
        } else {
            true_positives as f64 / held as f64
        };
        let recall = if positives == 0 {
            1.0
        } else {
            true_positives as f64 / positives as f64
        };
        let f1 = if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        };
        ThresholdMetrics {
            threshold,
            precision,
            recall,
            f1,
            false_positives,
        }
    };
    let best = (140..=200)
        .map(|step| metrics_at(step as f64 * 0.005))
        .max_by(|a, b| a.f1.total_cmp(&b.f1))
        .unwrap_or_else(|| metrics_at(review_threshold));

    let mut by_kind: HashMap<String, (usize, usize)> = HashMap::new();
    let mut examples = Vec::new();
    for (query, outcome) in queries.iter().zip(&outcomes) {
        let hit = outcome.best_score >= review_threshold;
        let good = if query.source.is_some() {
            hit && outcome.correct
        } else {
            hit
        };
        let counts = by_kind.entry(query.kind.label()).or_default();
        counts.0 += 1;
        counts.1 += usize::from(good);
        let wrong = if query.source.is_some() { !good } else { good };
        if wrong && examples.len() < 40 {
            examples.push(format!(
                "{}: {:?} (best {:.3})",
                query.kind.label(),
                query.name,
                outcome.best_score
            ));
        }
    }
    let mut recall_by_kind = Vec::new();
    let mut false_positive_rate_by_kind = Vec::new();
    let mut kinds: Vec<_> = by_kind.into_iter().collect();
    kinds.sort();
    for (kind, (total, good)) in kinds {
        let rate = good as f64 / total.max(1) as f64;
        if kind.starts_with("positive/") {
            recall_by_kind.push((kind, rate));
        } else {
            false_positive_rate_by_kind.push((kind, rate));
        }
    }

    let options = SearchOptions {
        min_score: review_threshold,
        limit: 50,
    };
    let step = (queries.len() / index_recall_queries.max(1)).max(1);
    let sample: Vec<&LabelledQuery> = queries
        .iter()
        .step_by(step)
        .take(index_recall_queries)
        .collect();
    let mut index_misses = 0;
    for query in &sample {
        let party = PartyQuery::name(&query.name);
        let indexed: Vec<(u32, u64)> = matcher
            .search(party, options)
            .iter()
            .map(|c| (c.entry_index, (c.score * 1e6) as u64))
            .collect();
        let exhaustive: Vec<(u32, u64)> = matcher
            .search_exhaustive(party, options)
            .iter()
            .map(|c| (c.entry_index, (c.score * 1e6) as u64))
            .collect();
        if indexed != exhaustive {
            index_misses += 1;
            let hidden: Vec<String> = exhaustive
                .iter()
                .filter(|e| !indexed.contains(e))
                .map(|(entry, score)| {
                    format!(
                        "{:?} {:.3}",
                        matcher.entries()[*entry as usize].name,
                        *score as f64 / 1e6
                    )
                })
                .collect();
            examples.insert(
                0,
                format!("index hid: {:?} -> {}", query.name, hidden.join(", ")),
            );
        }
    }

    EvaluationReport {
        positives,
        negatives,
        at_review_threshold: metrics_at(review_threshold),
        at_hold_threshold: metrics_at(hold_threshold),
        best,
        recall_by_kind,
        false_positive_rate_by_kind,
        index_misses,
        index_recall_queries: sample.len(),
        examples,
    }
}

/// Whether an entity type has a "SURNAME, Given" name layout (individuals in OFAC).
pub(crate) fn is_person(entity_type: EntityType) -> bool {
    entity_type == EntityType::Individual
}
