//! Name matching: a party name against every name and alias of every watch-list entry.
//!
//! - [`normalize`]: from a name to ASCII tokens (NFKC, transliteration, legal forms …).
//! - [`jaro_winkler`]: the character-level similarity.
//! - [`score`]: token alignment and the name score, with its explanation.
//! - `index`: the candidate index; a search never scans the whole list.
//!
//! [`Matcher`] is the front: built once from the entries (an immutable snapshot that the
//! service swaps on list updates), then searched from any number of threads.

pub mod jaro_winkler;
pub mod normalize;
pub mod score;

mod cache;
mod index;
mod memo;
mod remembered;
mod remembered_tokens;

use serde::Serialize;
use std::cell::RefCell;

use crate::lists::WatchEntry;
use index::{NameIndex, PreparedQuery};
pub use normalize::{for_each_token, has_tokens, token_texts, tokenize, Token, TokenKind};
pub(crate) use remembered::RememberedScores;
pub use remembered_tokens::{tokenize_remembered, NAME_TOKENS_CACHE_CAPACITY};
pub use score::{Agreement, AlignedTokens, NameScore};

/// Added to the name score when the party's country is one of the entry's countries.
pub const COUNTRY_AGREEMENT_BONUS: f64 = 0.02;
/// Taken from the name score when the entry has countries and the party's is not among them.
pub const COUNTRY_DISAGREEMENT_PENALTY: f64 = 0.04;
/// Country evidence is applied only to names that already score this much on their own:
/// a country never makes a match by itself.
pub const COUNTRY_EVIDENCE_FLOOR: f64 = 0.5;

/// What to search for: a name and, when known, the party's country (ISO alpha-2).
#[derive(Debug, Clone, Copy)]
pub struct PartyQuery<'a> {
    pub name: &'a str,
    pub country: Option<&'a str>,
}

impl<'a> PartyQuery<'a> {
    pub fn name(name: &'a str) -> Self {
        PartyQuery {
            name,
            country: None,
        }
    }
}

/// How the party's country bore on a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CountryEvidence {
    /// No party country, no entry countries, or a name too weak to weigh it.
    None,
    Agrees,
    Disagrees,
}

/// One watch-list entry found for a query, with the name that scored best.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Index of the entry in [`Matcher::entries`].
    pub entry_index: u32,
    /// 0 when the primary name matched best, k for the k-th alias.
    pub name_number: u16,
    /// The name score before country evidence.
    pub name_score: f64,
    pub country: CountryEvidence,
    /// The final score in [0, 1].
    pub score: f64,
}

/// A candidate with everything needed to explain it.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub list: String,
    pub entry_id: String,
    pub entry_name: String,
    /// The name or alias that matched.
    pub matched_name: String,
    pub matched_alias: bool,
    pub query_tokens: Vec<String>,
    pub candidate_tokens: Vec<String>,
    pub name: NameScore,
    pub country: CountryEvidence,
    pub score: f64,
}

/// Search settings.
#[derive(Debug, Clone, Copy)]
pub struct SearchOptions {
    /// Candidates scoring below this are not returned.
    pub min_score: f64,
    /// At most this many candidates (best first).
    pub limit: usize,
}

/// The watch-list matcher: the entries and their index, immutable once built.
#[derive(Debug, Default)]
pub struct Matcher {
    entries: Vec<WatchEntry>,
    index: NameIndex,
    /// Results of earlier searches, shared by every thread searching this matcher (`cache`).
    search_cache: cache::SearchCache,
}

impl Matcher {
    /// Builds the matcher. Names and aliases that normalise to no token are skipped; so are
    /// aliases that normalise exactly like an earlier name of the same entry.
    pub fn new(entries: Vec<WatchEntry>) -> Self {
        let mut names = Vec::new();
        for (entry_index, entry) in entries.iter().enumerate() {
            let mut seen: Vec<Vec<Token>> = Vec::new();
            for (name_number, name) in entry.all_names().enumerate() {
                let tokens = tokenize(name);
                if tokens.is_empty() || seen.contains(&tokens) {
                    continue;
                }
                seen.push(tokens.clone());
                let name_number = u16::try_from(name_number).unwrap_or(u16::MAX);
                names.push((entry_index as u32, name_number, tokens));
            }
        }
        let index = NameIndex::build(names);
        Matcher {
            entries,
            index,
            search_cache: cache::SearchCache::default(),
        }
    }

    pub fn entries(&self) -> &[WatchEntry] {
        &self.entries
    }

    pub fn entry(&self, candidate: &Candidate) -> &WatchEntry {
        &self.entries[candidate.entry_index as usize]
    }

    /// The entry's name or alias that a candidate matched.
    pub fn matched_name(&self, candidate: &Candidate) -> &str {
        let entry = self.entry(candidate);
        entry
            .all_names()
            .nth(candidate.name_number as usize)
            .unwrap_or(&entry.name)
    }

    /// Number of indexed names (primary names and distinct aliases).
    pub fn name_count(&self) -> usize {
        self.index.name_count()
    }

    /// Number of distinct normalised tokens in the lists.
    pub fn vocabulary_len(&self) -> usize {
        self.index.vocabulary_len()
    }

    /// Approximate heap bytes held by the index (not counting the entries themselves).
    pub fn index_heap_bytes(&self) -> usize {
        self.index.heap_bytes()
    }

    /// The best candidates for a party, best first (ties by list and id, so that results are
    /// deterministic), one per entry.
    ///
    /// A name searched before (the same tokens once normalised, by any thread) is answered
    /// from the matcher's cache of name matches (`cache`); the result is the same.
    pub fn search(&self, query: PartyQuery, options: SearchOptions) -> Vec<Candidate> {
        self.search_with(query, options, Lookup::Cached)
    }

    /// The same as [`Matcher::search`] for a name already tokenised (with [`tokenize`]): for
    /// callers that need the tokens too, so that the name is tokenised once.
    pub fn search_tokens(
        &self,
        tokens: &[Token],
        country: Option<&str>,
        options: SearchOptions,
    ) -> Vec<Candidate> {
        self.search_tokens_with(tokens, country, options, Lookup::Cached)
    }

    /// The same as [`Matcher::search`] without the result cache: every call searches the
    /// index. For benchmarks of the search itself.
    pub fn search_uncached(&self, query: PartyQuery, options: SearchOptions) -> Vec<Candidate> {
        self.search_with(query, options, Lookup::Index)
    }

    /// The same as [`Matcher::search`] but scoring every name, and never cached: slow, for
    /// measuring the index's recall.
    pub fn search_exhaustive(&self, query: PartyQuery, options: SearchOptions) -> Vec<Candidate> {
        self.search_with(query, options, Lookup::Exhaustive)
    }

    fn search_with(
        &self,
        query: PartyQuery,
        options: SearchOptions,
        lookup: Lookup,
    ) -> Vec<Candidate> {
        let tokens = tokenize(query.name);
        self.search_tokens_with(&tokens, query.country, options, lookup)
    }

    fn search_tokens_with(
        &self,
        tokens: &[Token],
        country: Option<&str>,
        options: SearchOptions,
        lookup: Lookup,
    ) -> Vec<Candidate> {
        if tokens.is_empty() {
            return Vec::new();
        }
        let floor = name_floor(options);
        let search_index = || {
            self.name_matches(tokens, floor, |index, prepared, floor, visit| {
                index.search(prepared, floor, visit)
            })
        };
        let matches: cache::NameMatches = match lookup {
            Lookup::Cached => self.search_cache.name_matches(tokens, floor, search_index),
            Lookup::Index => cache::name_matches_of(search_index()),
            Lookup::Exhaustive => cache::name_matches_of(self.name_matches(
                tokens,
                floor,
                |index, prepared, floor, visit| index.search_exhaustive(prepared, floor, visit),
            )),
        };
        self.best_candidates(country, options, matches.as_deref().unwrap_or_default())
    }

    /// The names `run` reaches for `tokens` with a name score of at least `floor`, in the
    /// order it visits them.
    fn name_matches(
        &self,
        tokens: &[Token],
        floor: f64,
        run: impl FnOnce(&NameIndex, &PreparedQuery, f64, &mut dyn FnMut(u32, NameScore)),
    ) -> Vec<(u32, f64)> {
        let prepared = self.index.prepare(tokens);
        let mut matches = Vec::new();
        run(&self.index, &prepared, floor, &mut |name_id, name_score| {
            matches.push((name_id, name_score.score));
        });
        matches
    }

    /// Weighs the party's country on each name match, keeps those reaching the caller's
    /// floor, the best name per entry, best first.
    fn best_candidates(
        &self,
        party_country: Option<&str>,
        options: SearchOptions,
        matches: &[(u32, f64)],
    ) -> Vec<Candidate> {
        let mut best: Vec<Candidate> = Vec::new();
        for &(name_id, name_score) in matches {
            let name = self.index.name(name_id);
            let entry = &self.entries[name.entry as usize];
            let (country, score) = apply_country_evidence(name_score, party_country, entry);
            if score < options.min_score {
                continue;
            }
            let candidate = Candidate {
                entry_index: name.entry,
                name_number: name.name_number,
                name_score,
                country,
                score,
            };
            match best.iter_mut().find(|c| c.entry_index == name.entry) {
                Some(existing) if is_better(&candidate, existing) => *existing = candidate,
                Some(_) => {}
                None => best.push(candidate),
            }
        }
        best.sort_by(|a, b| {
            b.score.total_cmp(&a.score).then_with(|| {
                let (ea, eb) = (
                    &self.entries[a.entry_index as usize],
                    &self.entries[b.entry_index as usize],
                );
                (&ea.list, &ea.id).cmp(&(&eb.list, &eb.id))
            })
        });
        best.truncate(options.limit);
        best
    }

    /// Explains a candidate found for `query`: tokens, alignment, weights, country evidence.
    pub fn explain(&self, query: PartyQuery, candidate: &Candidate) -> Explanation {
        let tokens = tokenize(query.name);
        let prepared = self.index.prepare(&tokens);
        let entry = self.entry(candidate);
        let matched_name = self.matched_name(candidate).to_string();
        let name_id = (0..self.index.name_count() as u32)
            .find(|&id| {
                let name = self.index.name(id);
                name.entry == candidate.entry_index && name.name_number == candidate.name_number
            })
            .unwrap_or(0);
        let name = self.index.explain(&prepared, name_id);
        let (country, score) = apply_country_evidence(name.score, query.country, entry);
        Explanation {
            list: entry.list.clone(),
            entry_id: entry.id.clone(),
            entry_name: entry.name.clone(),
            matched_alias: candidate.name_number > 0,
            query_tokens: tokens.iter().map(|t| t.text.to_string()).collect(),
            candidate_tokens: token_texts(&matched_name),
            matched_name,
            name,
            country,
            score,
        }
    }

    /// Scores two arbitrary names with the lists' token weights (tokens the lists do not have
    /// weigh as the rarest). Symmetric in its coverage terms; used by `score` and for
    /// known-shipper name agreement.
    pub fn score_names(&self, left: &str, right: &str, explain: bool) -> NameScore {
        let left = self.index.prepare(&tokenize(left));
        let right = self.index.prepare(&tokenize(right));
        score::score_tokens(&left.views(), &right.views(), explain)
    }

    /// `score_names(left, right, false).score`, remembered per thread for this matcher: a
    /// known shipper files the same name on every parcel, and scoring it against the
    /// enrolled name costs ~12k instructions where a lookup costs a few hundred.
    pub fn name_agreement(&self, left: &str, right: &str) -> f64 {
        NAME_AGREEMENTS.with(|remembered| {
            remembered.borrow_mut().score(
                // A name's weights are its rarity in the lists: another index (a list
                // update) starts over.
                self.index.id(),
                |key| {
                    // 0xFF ends the first name: a byte UTF-8 text never holds.
                    key.extend_from_slice(left.as_bytes());
                    key.push(0xFF);
                    key.extend_from_slice(right.as_bytes());
                },
                || self.score_names(left, right, false).score,
            )
        })
    }
}

thread_local! {
    /// Per-thread memory of [`Matcher::name_agreement`].
    static NAME_AGREEMENTS: RefCell<RememberedScores> = RefCell::new(RememberedScores::default());
}

/// Where a search finds the names that match.
#[derive(Clone, Copy)]
enum Lookup {
    /// The result cache, else the index.
    Cached,
    /// The index.
    Index,
    /// Every name, scored in full.
    Exhaustive,
}

/// The name score a search must reach: country agreement can add a little, so names that
/// could reach the caller's floor with it are searched for.
fn name_floor(options: SearchOptions) -> f64 {
    (options.min_score - COUNTRY_AGREEMENT_BONUS).max(0.0)
}

fn is_better(candidate: &Candidate, existing: &Candidate) -> bool {
    candidate.score > existing.score
        || (candidate.score == existing.score && candidate.name_number < existing.name_number)
}

fn apply_country_evidence(
    name_score: f64,
    party_country: Option<&str>,
    entry: &WatchEntry,
) -> (CountryEvidence, f64) {
    let Some(country) = party_country else {
        return (CountryEvidence::None, name_score);
    };
    if entry.countries.is_empty() || name_score < COUNTRY_EVIDENCE_FLOOR {
        return (CountryEvidence::None, name_score);
    }
    if entry.countries.iter().any(|c| c == country) {
        (
            CountryEvidence::Agrees,
            (name_score + COUNTRY_AGREEMENT_BONUS).min(1.0),
        )
    } else {
        (
            CountryEvidence::Disagrees,
            (name_score - COUNTRY_DISAGREEMENT_PENALTY).max(0.0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lists::EntityType;

    fn entry(id: &str, name: &str, aliases: &[&str], countries: &[&str]) -> WatchEntry {
        WatchEntry {
            id: id.into(),
            list: "TEST".into(),
            name: name.into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            addresses: vec![],
            countries: countries.iter().map(|c| c.to_string()).collect(),
            entity_type: EntityType::Entity,
        }
    }

    fn sample() -> Matcher {
        Matcher::new(vec![
            entry("1", "AEROCARIBBEAN AIRLINES", &["AERO-CARIBBEAN"], &["CU"]),
            entry("2", "BANK MELLI IRAN", &[], &["IR"]),
            entry("3", "BANK SEPAH", &["BANK SEPAH IRAN"], &["IR"]),
            entry("4", "SMITH, John", &[], &[]),
            entry("5", "GLOBAL TRADING COMPANY LIMITED", &[], &[]),
            // Generic words are common in real lists; these make them common here too.
            entry("8", "ALPHA GLOBAL TRADING", &[], &[]),
            entry("9", "BETA GLOBAL TRADING CO", &[], &[]),
            entry("10", "GAMMA TRADING LLC", &[], &[]),
            entry("11", "DELTA GLOBAL INVEST", &[], &[]),
            entry("6", "JSC ARGUMENT", &[], &["RU"]),
            entry("7", "Иванов Сергей Петрович", &[], &["RU"]),
        ])
    }

    const ANY: SearchOptions = SearchOptions {
        min_score: 0.5,
        limit: 10,
    };

    /// The remembered score is the one `score_names` gives, for each pair and each matcher:
    /// the second matcher weighs GLOBAL and TRADING differently (they are not common there),
    /// so a memory that ignored the matcher would give the first one's scores.
    #[test]
    fn name_agreements_are_the_scores_of_their_own_names_and_matcher() {
        let common_words = sample();
        let rare_words = Matcher::new(vec![entry("1", "GLOBAL TRADING", &[], &[])]);
        let pairs = [
            ("Global Trading Co", "GLOBAL TRADING COMPANY"),
            ("Global Trading Co", "GLOBAL TRADNG"),
            ("Global Tradin", "GLOBAL TRADING COMPANY"),
            ("Bank Melli", "BANK MELLI IRAN"),
        ];
        let mut differs_between_matchers = false;
        for _round in 0..2 {
            for matcher in [&common_words, &rare_words, &common_words] {
                for (left, right) in pairs {
                    let expected = matcher.score_names(left, right, false).score;
                    assert_eq!(
                        matcher.name_agreement(left, right),
                        expected,
                        "{left} / {right}"
                    );
                }
            }
        }
        for (left, right) in pairs {
            differs_between_matchers |= common_words.score_names(left, right, false).score
                != rare_words.score_names(left, right, false).score;
        }
        assert!(differs_between_matchers);
    }

    fn top(matcher: &Matcher, name: &str) -> Option<(String, f64)> {
        matcher
            .search(PartyQuery::name(name), ANY)
            .first()
            .map(|c| (matcher.entry(c).id.clone(), c.score))
    }

    #[test]
    fn exact_alias_scores_one_and_names_the_alias() {
        let matcher = sample();
        let found = matcher.search(PartyQuery::name("Aero Caribbean"), ANY);
        assert_eq!(matcher.entry(&found[0]).id, "1");
        assert_eq!(found[0].score, 1.0);
        assert_eq!(matcher.matched_name(&found[0]), "AERO-CARIBBEAN");
    }

    #[test]
    fn reversed_order_typos_and_scripts_are_found() {
        let matcher = sample();
        assert_eq!(top(&matcher, "John Smith"), Some(("4".into(), 1.0)));
        let (id, score) = top(&matcher, "Bank Meli Iran").expect("typo found");
        assert_eq!(id, "2");
        assert!(score > 0.9);
        assert_eq!(top(&matcher, "JSCARGUMENT").map(|t| t.0), Some("6".into()));
        let (id, score) = top(&matcher, "Sergei Ivanov Petrovich").expect("transliterated");
        assert_eq!(id, "7");
        assert!(score > 0.95);
    }

    #[test]
    fn generic_tokens_alone_do_not_match() {
        let matcher = sample();
        let found = matcher.search(
            PartyQuery::name("Global Trading Co"),
            SearchOptions {
                min_score: 0.85,
                limit: 10,
            },
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn country_is_supporting_evidence_only() {
        let matcher = sample();
        let agrees = matcher.search(
            PartyQuery {
                name: "Bank Melli Iran",
                country: Some("IR"),
            },
            ANY,
        );
        let disagrees = matcher.search(
            PartyQuery {
                name: "Bank Melli Iran",
                country: Some("US"),
            },
            ANY,
        );
        assert_eq!(agrees[0].country, CountryEvidence::Agrees);
        assert_eq!(agrees[0].score, 1.0);
        assert_eq!(disagrees[0].country, CountryEvidence::Disagrees);
        assert!(disagrees[0].score < 1.0 && disagrees[0].score > 0.9);
        let unrelated = matcher.search(
            PartyQuery {
                name: "Pizza Roma",
                country: Some("IR"),
            },
            ANY,
        );
        assert!(unrelated.is_empty());
    }

    #[test]
    fn index_search_agrees_with_exhaustive_scan() {
        let matcher = sample();
        for name in [
            "Bank Sepah",
            "Aerocaribean",
            "J Smith",
            "Ivanov",
            "Argument JSC",
            "Iran",
        ] {
            let indexed = matcher.search(PartyQuery::name(name), ANY);
            let exhaustive = matcher.search_exhaustive(PartyQuery::name(name), ANY);
            assert_eq!(indexed, exhaustive, "{name}");
        }
    }

    #[test]
    fn explanation_names_tokens_and_agreements() {
        let matcher = sample();
        let query = PartyQuery::name("Smith J.");
        let found = matcher.search(query, ANY);
        let explanation = matcher.explain(query, &found[0]);
        assert_eq!(explanation.entry_id, "4");
        assert_eq!(explanation.query_tokens, ["SMITH", "J"]);
        let agreements: Vec<Agreement> = explanation
            .name
            .aligned
            .iter()
            .map(|a| a.agreement)
            .collect();
        assert!(agreements.contains(&Agreement::Exact));
        assert!(agreements.contains(&Agreement::Initial));
        assert!((explanation.score - found[0].score).abs() < 1e-12);
    }
}
