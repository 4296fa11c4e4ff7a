//! Scoring one name against another: token similarity, one-to-one token alignment regardless
//! of order, compound tokens, and rarity weights. Every score can be explained.
//!
//! The name score is the mean of two coverages:
//! - query coverage: the share of the query's weight that aligned tokens account for;
//! - candidate coverage: the same share of the candidate's weight.
//!
//! A token's weight is its rarity in the lists (generic tokens such as `TRADING` or `CORP`
//! weigh little), lowered further for legal forms and connectives. An exact match of every
//! token scores 1.0; a name that shares only generic tokens, or all but its one distinctive
//! token, scores low.

use serde::Serialize;
use std::cell::RefCell;

use super::jaro_winkler::jaro_winkler_units;
use super::normalize::{variant_key, Token};

/// Token similarities below this are treated as no similarity: Jaro-Winkler gives unrelated
/// words 0.4–0.7, which must not add up to a match.
pub const TOKEN_SIMILARITY_FLOOR: f64 = 0.84;

/// Similarity credited to an initial that agrees with a full token (`J` ~ `JOHN`).
pub const INITIAL_SIMILARITY: f64 = 0.8;

/// Similarity credited to two tokens whose variant keys agree (`YUSUF` ~ `YOUSEF`,
/// `MOHAMED` ~ `MUHAMMAD`), when the fuzzy credit alone gives less.
pub const VARIANT_SIMILARITY: f64 = 0.9;

/// A token ready for scoring: its text, its weight and its variant key.
#[derive(Debug, Clone, Copy)]
pub struct TokenView<'a> {
    pub text: &'a str,
    pub weight: f32,
    pub variant: &'a str,
}

/// How two tokens were found to agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Agreement {
    Exact,
    /// Jaro-Winkler at or above the floor (typos, transliteration variants).
    Fuzzy,
    /// Same variant key.
    Variant,
    /// An initial against a full token.
    Initial,
    /// One token against two adjacent tokens of the other side, joined.
    Compound,
}

/// Similarity of two tokens and how it was reached; `None` below the floor.
pub fn token_similarity(query: &TokenView, candidate: &TokenView) -> Option<(f64, Agreement)> {
    let (a, b) = (query.text.as_bytes(), candidate.text.as_bytes());
    if a == b {
        return Some((1.0, Agreement::Exact));
    }
    if a.len() == 1 || b.len() == 1 {
        // An initial agrees with a longer token of the same first letter; two different
        // single letters, or a single letter and a digit string, do not.
        let both_letters = a[0].is_ascii_alphabetic() && b[0].is_ascii_alphabetic();
        if a[0] == b[0] && both_letters && a.len() != b.len() {
            return Some((INITIAL_SIMILARITY, Agreement::Initial));
        }
        return None;
    }
    // Fuzzy and variant agreements are exactly the ones the candidate index can reach
    // (`index.rs`): one-character deletion neighbours of at least MIN_FUZZY_TOKEN_LEN
    // letters, or equal spelling-variant keys of at least MIN_VARIANT_TOKEN_LEN letters. So
    // the index never hides a name the scorer would have accepted.
    let fuzzy_reachable = a.len() >= MIN_FUZZY_TOKEN_LEN
        && b.len() >= MIN_FUZZY_TOKEN_LEN
        && are_deletion_neighbours(a, b);
    let variant_reachable = a.len() >= MIN_VARIANT_TOKEN_LEN
        && b.len() >= MIN_VARIANT_TOKEN_LEN
        && query.variant == candidate.variant;
    if !fuzzy_reachable && !variant_reachable {
        return None;
    }
    let jaro_winkler = jaro_winkler_units(a, b);
    let credit = fuzzy_credit(jaro_winkler);
    if variant_reachable
        && jaro_winkler >= VARIANT_JARO_WINKLER_FLOOR
        && credit < VARIANT_SIMILARITY
    {
        return Some((VARIANT_SIMILARITY, Agreement::Variant));
    }
    if fuzzy_reachable && jaro_winkler >= TOKEN_SIMILARITY_FLOOR {
        return Some((credit, Agreement::Fuzzy));
    }
    None
}

/// Tokens shorter than this get no fuzzy agreement (too many short words are one edit apart).
pub const MIN_FUZZY_TOKEN_LEN: usize = 4;

/// A compound pairs one token of at least this many letters with two adjacent tokens of the
/// other side, joined.
pub const MIN_COMPOUND_TOKEN_LEN: usize = 4;

/// Tokens shorter than this get no spelling-variant agreement.
pub const MIN_VARIANT_TOKEN_LEN: usize = 5;

/// Variant agreement also needs this much Jaro-Winkler similarity.
pub const VARIANT_JARO_WINKLER_FLOOR: f64 = 0.75;

/// Whether one deletion from each side (or from one side, or none) makes `a` and `b` equal:
/// one substitution, insertion, deletion or adjacent transposition apart, plus a few
/// two-edit pairs of equal length (`ABXD` ~ `ABDY`). The index files every vocabulary token
/// under itself and its one-character deletions, which reaches exactly these pairs.
pub fn are_deletion_neighbours(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    let (shorter, longer) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    match longer.len() - shorter.len() {
        0 => {
            // Equal lengths: delete one from each side. The first and last mismatches bound
            // where the deletions can be.
            let first = shorter
                .iter()
                .zip(longer)
                .position(|(x, y)| x != y)
                .unwrap_or(0);
            let from_end = shorter
                .iter()
                .rev()
                .zip(longer.iter().rev())
                .position(|(x, y)| x != y)
                .unwrap_or(0);
            let last = shorter.len() - 1 - from_end;
            if first >= last {
                return true; // one substitution
            }
            // Delete at `first` on one side and at `last` on the other.
            shorter[first + 1..=last] == longer[first..last]
                || shorter[first..last] == longer[first + 1..=last]
        }
        1 => {
            // One deletion from the longer side.
            let first = shorter
                .iter()
                .zip(longer)
                .position(|(x, y)| x != y)
                .unwrap_or(shorter.len());
            shorter[first..] == longer[first + 1..]
        }
        _ => false,
    }
}

/// Credit for a fuzzy token agreement: Jaro-Winkler stretched so that near spellings of
/// different words (`GLOBAL` ~ `GLOBE`, 0.91) earn much less than typos (`AEROCARIBEAN` ~
/// `AEROCARIBBEAN`, 0.985): 1 − 2.5·(1 − jw), so the floor of 0.84 earns 0.6.
pub fn fuzzy_credit(jaro_winkler: f64) -> f64 {
    (1.0 - 2.5 * (1.0 - jaro_winkler)).max(0.0)
}

/// One aligned pair in an explanation. For a compound, one side names two tokens joined by `+`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlignedTokens {
    pub query: String,
    pub candidate: String,
    pub similarity: f64,
    pub agreement: Agreement,
    /// The query token's weight and its contribution to query coverage.
    pub query_weight: f64,
    /// The candidate token's weight (sum for a compound).
    pub candidate_weight: f64,
}

/// The outcome of scoring two token lists.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NameScore {
    /// Mean of the two coverages, in [0, 1].
    pub score: f64,
    pub query_coverage: f64,
    pub candidate_coverage: f64,
    /// Aligned pairs (filled only when an explanation was asked for).
    pub aligned: Vec<AlignedTokens>,
}

/// Longest token list the aligner considers; later tokens of absurdly long names are ignored
/// (lists and parcels have names of up to ~20 tokens).
pub const MAX_ALIGNED_TOKENS: usize = 32;

/// Scores `query` against `candidate`. With `explain`, the aligned pairs are recorded.
pub fn score_tokens(query: &[TokenView], candidate: &[TokenView], explain: bool) -> NameScore {
    align_tokens(query, candidate, explain, true, |i, j| {
        token_similarity(&query[i], &candidate[j])
    })
}

/// The alignment behind [`score_tokens`], with the token similarity given by the caller (the
/// index looks it up instead of recomputing it) and compound pairs optional (the index skips
/// them when the query reached no compound).
pub(crate) fn align_tokens(
    query: &[TokenView],
    candidate: &[TokenView],
    explain: bool,
    compounds: bool,
    similarity: impl Fn(usize, usize) -> Option<(f64, Agreement)>,
) -> NameScore {
    let query = &query[..query.len().min(MAX_ALIGNED_TOKENS)];
    let candidate = &candidate[..candidate.len().min(MAX_ALIGNED_TOKENS)];
    let query_total: f64 = query.iter().map(|t| t.weight as f64).sum();
    let candidate_total: f64 = candidate.iter().map(|t| t.weight as f64).sum();
    if query_total <= 0.0 || candidate_total <= 0.0 {
        return NameScore {
            score: 0.0,
            query_coverage: 0.0,
            candidate_coverage: 0.0,
            aligned: Vec::new(),
        };
    }

    // Every pair above the floor, single tokens and compounds alike, best first; ties go to
    // single tokens, then to earlier positions, so that the result is deterministic. The
    // buffer is the thread's, taken out (so that a nested call would find it empty rather
    // than panic) and put back.
    let mut pairs = PAIRS.with(|slot| std::mem::take(&mut *slot.borrow_mut()));
    pairs.clear();
    for i in 0..query.len() {
        for j in 0..candidate.len() {
            if let Some((similarity, agreement)) = similarity(i, j) {
                pairs.push(Pair {
                    similarity,
                    agreement,
                    query_tokens: 1 << i,
                    candidate_tokens: 1 << j,
                });
            }
        }
    }
    if compounds {
        push_compound_pairs(query, candidate, false, &mut pairs);
        push_compound_pairs(candidate, query, true, &mut pairs);
    }
    pairs.sort_by(|x, y| {
        y.similarity
            .total_cmp(&x.similarity)
            .then((x.agreement == Agreement::Compound).cmp(&(y.agreement == Agreement::Compound)))
            .then(x.query_tokens.cmp(&y.query_tokens))
            .then(x.candidate_tokens.cmp(&y.candidate_tokens))
    });

    // Greedy one-to-one alignment over bit sets of used tokens (at most 32 a side).
    let mut query_used: u32 = 0;
    let mut candidate_used: u32 = 0;
    let mut query_credit = 0.0;
    let mut candidate_credit = 0.0;
    let mut aligned = Vec::new();
    for pair in pairs.iter() {
        if query_used & pair.query_tokens != 0 || candidate_used & pair.candidate_tokens != 0 {
            continue;
        }
        query_used |= pair.query_tokens;
        candidate_used |= pair.candidate_tokens;
        let query_weight = total_weight(query, pair.query_tokens);
        let candidate_weight = total_weight(candidate, pair.candidate_tokens);
        query_credit += query_weight * pair.similarity;
        candidate_credit += candidate_weight * pair.similarity;
        if explain {
            aligned.push(AlignedTokens {
                query: joined_text(query, pair.query_tokens),
                candidate: joined_text(candidate, pair.candidate_tokens),
                similarity: pair.similarity,
                agreement: pair.agreement,
                query_weight,
                candidate_weight,
            });
        }
    }

    PAIRS.with(|slot| *slot.borrow_mut() = pairs);

    let query_coverage = (query_credit / query_total).min(1.0);
    let candidate_coverage = (candidate_credit / candidate_total).min(1.0);
    NameScore {
        score: (query_coverage + candidate_coverage) / 2.0,
        query_coverage,
        candidate_coverage,
        aligned,
    }
}

/// Scores two token lists where every token weighs the same (weak tokens a fifth): for text
/// without list statistics, such as addresses.
pub fn score_uniform(query: &[Token], candidate: &[Token]) -> NameScore {
    let keys =
        |tokens: &[Token]| -> Vec<String> { tokens.iter().map(|t| variant_key(&t.text)).collect() };
    let (query_keys, candidate_keys) = (keys(query), keys(candidate));
    score_tokens(
        &uniform_views(query, &query_keys),
        &uniform_views(candidate, &candidate_keys),
        false,
    )
}

fn uniform_views<'a>(tokens: &'a [Token], keys: &'a [String]) -> Vec<TokenView<'a>> {
    tokens
        .iter()
        .zip(keys)
        .map(|(token, key)| TokenView {
            text: &token.text,
            weight: if token.kind.is_weak() { 0.2 } else { 1.0 },
            variant: key,
        })
        .collect()
}

thread_local! {
    /// The pairs of [`align_tokens`], reused: scoring a name does not allocate.
    static PAIRS: RefCell<Vec<Pair>> = const { RefCell::new(Vec::new()) };
}

/// A possible alignment: one token against one token, or one against two adjacent ones.
struct Pair {
    similarity: f64,
    agreement: Agreement,
    /// Bit set of the query tokens involved.
    query_tokens: u32,
    /// Bit set of the candidate tokens involved.
    candidate_tokens: u32,
}

/// The similarity of a compound: one token against two adjacent tokens of the other side,
/// joined (equal or deletion neighbours).
pub fn compound_similarity(single: &[u8], joined: &[u8]) -> f64 {
    if single == joined {
        1.0
    } else {
        fuzzy_credit(jaro_winkler_units(single, joined))
    }
}

/// Adds the compounds of one token of `single_side` (at least MIN_COMPOUND_TOKEN_LEN letters)
/// against two adjacent tokens of `pair_side`, joined: equal, or deletion neighbours.
/// `swapped` says that `single_side` is the candidate.
fn push_compound_pairs(
    single_side: &[TokenView],
    pair_side: &[TokenView],
    swapped: bool,
    pairs: &mut Vec<Pair>,
) {
    // Joined pairs are built on the stack (a longer one, which no list has, on the heap).
    let mut stack = [0u8; 64];
    let mut heap: Vec<u8> = Vec::new();
    for (i, single) in single_side.iter().enumerate() {
        let single_bytes = single.text.as_bytes();
        if single_bytes.len() < MIN_COMPOUND_TOKEN_LEN {
            continue;
        }
        for j in 0..pair_side.len().saturating_sub(1) {
            let (left, right) = (
                pair_side[j].text.as_bytes(),
                pair_side[j + 1].text.as_bytes(),
            );
            // Cheap filters first: same first letter, about the same length.
            let joined_len = left.len() + right.len();
            if left.first() != single_bytes.first() || joined_len.abs_diff(single_bytes.len()) > 2 {
                continue;
            }
            let joined: &[u8] = if joined_len <= stack.len() {
                stack[..left.len()].copy_from_slice(left);
                stack[left.len()..joined_len].copy_from_slice(right);
                &stack[..joined_len]
            } else {
                heap.clear();
                heap.extend_from_slice(left);
                heap.extend_from_slice(right);
                &heap
            };
            // The same rule as single tokens: the index reaches the joined spelling and one
            // near spelling of it, nothing further.
            if !are_deletion_neighbours(single_bytes, joined) {
                continue;
            }
            let similarity = compound_similarity(single_bytes, joined);
            let (single_bits, pair_bits) = (1u32 << i, 0b11u32 << j);
            let (query_tokens, candidate_tokens) = if swapped {
                (pair_bits, single_bits)
            } else {
                (single_bits, pair_bits)
            };
            pairs.push(Pair {
                similarity,
                agreement: Agreement::Compound,
                query_tokens,
                candidate_tokens,
            });
        }
    }
}

fn total_weight(tokens: &[TokenView], bits: u32) -> f64 {
    tokens
        .iter()
        .enumerate()
        .filter(|(position, _)| bits & (1 << position) != 0)
        .map(|(_, token)| token.weight as f64)
        .sum()
}

fn joined_text(tokens: &[TokenView], bits: u32) -> String {
    tokens
        .iter()
        .enumerate()
        .filter(|(position, _)| bits & (1 << position) != 0)
        .map(|(_, token)| token.text)
        .collect::<Vec<_>>()
        .join("+")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens with given weights (variant keys computed).
    fn views(tokens: &[(&str, f32)]) -> (Vec<String>, Vec<f32>) {
        let keys = tokens.iter().map(|(t, _)| variant_key(t)).collect();
        (keys, tokens.iter().map(|(_, w)| *w).collect())
    }

    fn score(query: &[(&str, f32)], candidate: &[(&str, f32)]) -> NameScore {
        let (query_keys, _) = views(query);
        let (candidate_keys, _) = views(candidate);
        let query_views: Vec<TokenView> = query
            .iter()
            .zip(&query_keys)
            .map(|((text, weight), variant)| TokenView {
                text,
                weight: *weight,
                variant,
            })
            .collect();
        let candidate_views: Vec<TokenView> = candidate
            .iter()
            .zip(&candidate_keys)
            .map(|((text, weight), variant)| TokenView {
                text,
                weight: *weight,
                variant,
            })
            .collect();
        score_tokens(&query_views, &candidate_views, true)
    }

    #[test]
    fn exact_match_in_any_order_scores_one() {
        let result = score(
            &[("SMITH", 5.0), ("JOHN", 3.0)],
            &[("JOHN", 3.0), ("SMITH", 5.0)],
        );
        assert_eq!(result.score, 1.0);
        assert_eq!(result.aligned.len(), 2);
    }

    #[test]
    fn sharing_all_but_the_distinctive_token_scores_low() {
        let result = score(
            &[("BANK", 1.5), ("MELLI", 9.0), ("IRAN", 2.0)],
            &[("BANK", 1.5), ("SEPAH", 9.0), ("IRAN", 2.0)],
        );
        assert!(result.score < 0.4, "{result:?}");
    }

    #[test]
    fn typos_and_spelling_variants_score_high() {
        let typo = score(&[("AEROCARIBEAN", 9.0)], &[("AEROCARIBBEAN", 9.0)]);
        assert!(typo.score > 0.95, "{typo:?}");
        let variant = score(&[("HUSSEIN", 8.0)], &[("HUSAYN", 8.0)]);
        assert_eq!(variant.aligned[0].agreement, Agreement::Variant);
        let different = score(&[("NASSER", 8.0)], &[("NAZIR", 8.0)]);
        assert!(different.aligned.is_empty(), "{different:?}");
    }

    #[test]
    fn compounds_align_both_ways() {
        let joined = score(&[("JSCARGUMENT", 9.0)], &[("JSC", 0.5), ("ARGUMENT", 8.0)]);
        assert_eq!(joined.score, 1.0, "{joined:?}");
        assert_eq!(joined.aligned[0].agreement, Agreement::Compound);
        let split = score(&[("JSC", 0.5), ("ARGUMENT", 8.0)], &[("JSCARGUMENT", 9.0)]);
        assert_eq!(split.score, 1.0, "{split:?}");
        assert_eq!(split.aligned[0].query, "JSC+ARGUMENT");
    }

    #[test]
    fn initials_count_partially() {
        let result = score(
            &[("J", 1.0), ("SMITH", 5.0)],
            &[("JOHN", 3.0), ("SMITH", 5.0)],
        );
        assert!(result.score > 0.85 && result.score < 1.0, "{result:?}");
        let wrong = score(
            &[("K", 1.0), ("SMITH", 5.0)],
            &[("JOHN", 3.0), ("SMITH", 5.0)],
        );
        assert!(wrong.score < result.score);
    }

    #[test]
    fn deletion_neighbours_are_one_edit_apart() {
        let near = [
            ("MARTHA", "MARHTA"),
            ("SMITH", "SMYTH"),
            ("SMITH", "SMITHS"),
            ("ABXD", "ABDY"),
            ("KHAN", "KHAN"),
        ];
        for (a, b) in near {
            assert!(
                are_deletion_neighbours(a.as_bytes(), b.as_bytes()),
                "{a} {b}"
            );
            assert!(
                are_deletion_neighbours(b.as_bytes(), a.as_bytes()),
                "{b} {a}"
            );
        }
        let far = [
            ("ENGY", "ENERGY"),
            ("GLOBAL", "GLOBE"),
            ("ABCD", "DCBA"),
            ("NASSER", "NAZIR"),
        ];
        for (a, b) in far {
            assert!(
                !are_deletion_neighbours(a.as_bytes(), b.as_bytes()),
                "{a} {b}"
            );
        }
    }

    #[test]
    fn empty_sides_score_zero() {
        assert_eq!(score(&[], &[("A", 1.0)]).score, 0.0);
        assert_eq!(score(&[("A", 1.0)], &[]).score, 0.0);
    }
}
