//! The candidate index: a vocabulary of every normalised token in the lists, with rarity
//! weights, postings from tokens to names, and three ways to reach a vocabulary token from a
//! query token that is not spelled the same:
//!
//! - deletion neighbourhoods (SymSpell-style): every token is filed under itself and each of
//!   its one-character deletions, so one substitution, insertion, deletion or adjacent
//!   transposition meets in a shared key;
//! - variant keys (`MOHAMMED` ~ `MUHAMMAD`);
//! - compounds: a query token that splits into two vocabulary tokens, and two adjacent query
//!   tokens that join into one.
//!
//! A search accumulates, for each name reached, an upper bound of the coverage its full score
//! could reach, and fully scores only the names whose bound clears the caller's floor. Query
//! tokens are taken rarest first; once the tokens left could not lift a new name over the
//! floor, common tokens only update names already reached. Whether this ever hides a name the
//! full scorer would have accepted is measured against an exhaustive scan (tests and the
//! evaluation harness), not assumed.

use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use xxhash_rust::xxh3::xxh3_64;

use super::normalize::{variant_key, Token, TokenKind};
use super::score::{
    align_tokens, score_tokens, token_similarity, Agreement, NameScore, TokenView,
    INITIAL_SIMILARITY, MAX_ALIGNED_TOKENS, MIN_FUZZY_TOKEN_LEN, MIN_VARIANT_TOKEN_LEN,
};

/// Weights of weak tokens are their rarity times this.
pub const WEAK_TOKEN_FACTOR: f32 = 0.15;

/// A vocabulary token.
#[derive(Debug, Clone)]
struct VocabularyToken {
    text: Box<str>,
    variant: Box<str>,
    weight: f32,
}

/// One name (primary or alias) of one entry, as token ids.
#[derive(Debug, Clone)]
pub(crate) struct IndexedName {
    /// Index of the entry in the matcher's entry list.
    pub(crate) entry: u32,
    /// 0 for the primary name, k for the k-th alias.
    pub(crate) name_number: u16,
    tokens: Box<[u32]>,
    total_weight: f32,
    /// The weight of the name's heaviest token (bounds what a query initial can add).
    max_weight: f32,
    /// Whether the name has a single-letter token (an initial), which may align with any
    /// query token of the same first letter: the search cannot bound such names cheaply and
    /// scores them in full once reached.
    has_initial: bool,
}

/// A vocabulary token a query token agrees with on its own, and how: exactly the pairs for
/// which `token_similarity` gives a value (initials aside), with that value.
#[derive(Debug, Clone, Copy)]
struct Reach {
    token: u32,
    similarity: f64,
    agreement: Agreement,
}

/// One query token, prepared: its weight and the vocabulary tokens it reaches.
#[derive(Debug, Clone)]
pub(crate) struct QueryToken {
    pub(crate) text: String,
    /// Its spelling-variant key (shared with the neighbour cache).
    pub(crate) variant: Rc<str>,
    pub(crate) weight: f32,
    /// Vocabulary tokens similar to this one: used for candidates, bounds and scoring.
    similar: Rc<[Reach]>,
    /// Vocabulary tokens reached as part of a compound (halves of a split, or a token that
    /// two adjacent query tokens join into): used for candidates and bounds only.
    compound: Vec<(u32, f64)>,
}

/// A prepared query: tokens with weights and their vocabulary neighbours.
#[derive(Debug, Clone)]
pub(crate) struct PreparedQuery {
    pub(crate) tokens: Vec<QueryToken>,
    /// Whether any compound was reached; if not, no compound alignment can score and the
    /// scorer skips looking for them.
    compound_possible: bool,
}

impl PreparedQuery {
    pub(crate) fn views(&self) -> Vec<TokenView<'_>> {
        self.tokens
            .iter()
            .map(|t| TokenView {
                text: &t.text,
                weight: t.weight,
                variant: &t.variant,
            })
            .collect()
    }
}

#[derive(Debug, Default)]
pub(crate) struct NameIndex {
    /// Unique per built index: keys the per-thread neighbour cache.
    id: u64,
    vocabulary: Vec<VocabularyToken>,
    /// Token id → the token's first byte (read for every name a search reaches).
    first_bytes: Vec<u8>,
    token_ids: FxHashMap<Box<str>, u32>,
    names: Vec<IndexedName>,
    /// Token id → ids of the names holding it that have no initial, ascending, each once.
    postings: Vec<Vec<u32>>,
    /// Token id → ids of the names holding it that have an initial (see
    /// `IndexedName::has_initial`), likewise: admitted even when the pruning admits no new
    /// names. The two lists never share a name, so the search loop need not look at names.
    initial_postings: Vec<Vec<u32>>,
    /// Hash of a token or of one of its one-character deletions → token ids.
    deletion_neighbours: FxHashMap<u64, Vec<u32>>,
    /// Spelling-variant key → ids of the tokens of at least MIN_VARIANT_TOKEN_LEN letters.
    variant_neighbours: FxHashMap<Box<str>, Vec<u32>>,
    /// Weight given to a query token absent from the vocabulary (as rare as the rarest).
    unseen_token_weight: f32,
}

/// Per-thread scratch space for a search, reused so that a search does not allocate in
/// proportion to the index. Indexed by name id; `stamp` tells live slots from stale ones.
#[derive(Default)]
struct Scratch {
    epoch: u32,
    slots: Vec<CreditSlot>,
    touched: Vec<u32>,
}

/// What a search has credited one name with so far (see `NameIndex::search`); one cache line
/// holds all three.
#[derive(Clone, Copy, Default)]
struct CreditSlot {
    stamp: u32,
    query: f32,
    candidate: f32,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
    static NEIGHBOURS: RefCell<NeighbourCache> = RefCell::new(NeighbourCache::default());
}

/// Distinct tokens whose neighbours a thread remembers before it starts over. Parcel feeds
/// repeat the same given names, surnames and company words all day, so most lookups hit.
const NEIGHBOUR_CACHE_CAPACITY: usize = 100_000;

/// Source of index ids: a cache entry is valid only for the index that computed it.
static NEXT_INDEX_ID: AtomicU64 = AtomicU64::new(1);

/// What one query token reaches: similar vocabulary tokens, and the halves of its splits;
/// with its variant key, which depends on its text alone too.
#[derive(Clone)]
struct SingleNeighbours {
    similar: Rc<[Reach]>,
    splits: Rc<[(u32, f64)]>,
    variant: Rc<str>,
}

/// Per-thread cache of the vocabulary tokens a query token reaches, for one index at a time.
#[derive(Default)]
struct NeighbourCache {
    index_id: u64,
    /// Token → the vocabulary tokens similar to it, and the halves of its splits.
    single: FxHashMap<Box<str>, SingleNeighbours>,
    /// Two adjacent tokens joined → the vocabulary tokens similar to the joined text.
    joined: FxHashMap<Box<str>, Rc<[Reach]>>,
}

impl NeighbourCache {
    fn for_index(&mut self, index_id: u64) -> &mut Self {
        let full = self.single.len() + self.joined.len() >= NEIGHBOUR_CACHE_CAPACITY;
        if self.index_id != index_id || full {
            self.single.clear();
            self.joined.clear();
            self.index_id = index_id;
        }
        self
    }
}

impl NameIndex {
    /// Builds the index over `names`: (entry index, name number, tokens).
    pub(crate) fn build(names: Vec<(u32, u16, Vec<Token>)>) -> Self {
        let mut index = NameIndex {
            id: NEXT_INDEX_ID.fetch_add(1, Ordering::Relaxed),
            ..NameIndex::default()
        };
        let mut document_frequency: Vec<u32> = Vec::new();
        let mut kinds: Vec<TokenKind> = Vec::new();
        let mut name_tokens: Vec<(u32, u16, Vec<u32>)> = Vec::with_capacity(names.len());
        for (entry, name_number, tokens) in names {
            let mut ids: Vec<u32> = Vec::with_capacity(tokens.len());
            for token in tokens {
                let next_id = index.vocabulary.len() as u32;
                let id = *index
                    .token_ids
                    .entry(token.text.as_str().into())
                    .or_insert(next_id);
                if id == next_id {
                    index.vocabulary.push(VocabularyToken {
                        variant: variant_key(&token.text).into(),
                        text: token.text.into(),
                        weight: 0.0,
                    });
                    document_frequency.push(0);
                    kinds.push(token.kind);
                }
                ids.push(id);
            }
            let mut distinct = ids.clone();
            distinct.sort_unstable();
            distinct.dedup();
            for id in distinct {
                document_frequency[id as usize] += 1;
            }
            name_tokens.push((entry, name_number, ids));
        }

        let name_count = name_tokens.len().max(1) as f32;
        let rarity = |frequency: u32| (1.0 + name_count / frequency.max(1) as f32).ln();
        for (id, token) in index.vocabulary.iter_mut().enumerate() {
            let factor = if kinds[id].is_weak() {
                WEAK_TOKEN_FACTOR
            } else {
                1.0
            };
            token.weight = rarity(document_frequency[id]) * factor;
        }
        index.unseen_token_weight = rarity(1);
        index.first_bytes = index
            .vocabulary
            .iter()
            .map(|t| t.text.as_bytes()[0])
            .collect();

        index.postings = vec![Vec::new(); index.vocabulary.len()];
        index.initial_postings = vec![Vec::new(); index.vocabulary.len()];
        for (name_id, (entry, name_number, ids)) in name_tokens.into_iter().enumerate() {
            let total_weight = ids
                .iter()
                .map(|&id| index.vocabulary[id as usize].weight)
                .sum();
            let has_initial = ids
                .iter()
                .any(|&id| index.vocabulary[id as usize].text.len() == 1);
            for &id in &ids {
                let posting = if has_initial {
                    &mut index.initial_postings[id as usize]
                } else {
                    &mut index.postings[id as usize]
                };
                if posting.last() != Some(&(name_id as u32)) {
                    posting.push(name_id as u32);
                }
            }
            let max_weight = ids
                .iter()
                .map(|&id| index.vocabulary[id as usize].weight)
                .fold(0.0, f32::max);
            index.names.push(IndexedName {
                entry,
                name_number,
                tokens: ids.into_boxed_slice(),
                total_weight,
                max_weight,
                has_initial,
            });
        }

        for (id, token) in index.vocabulary.iter().enumerate() {
            let id = id as u32;
            if token.text.len() >= MIN_FUZZY_TOKEN_LEN {
                for_each_deletion_key(&token.text, |key| {
                    index.deletion_neighbours.entry(key).or_default().push(id);
                });
            }
            if token.text.len() >= MIN_VARIANT_TOKEN_LEN {
                index
                    .variant_neighbours
                    .entry(token.variant.clone())
                    .or_default()
                    .push(id);
            }
        }
        for ids in index.deletion_neighbours.values_mut() {
            ids.dedup();
        }
        index
    }

    pub(crate) fn name_count(&self) -> usize {
        self.names.len()
    }

    pub(crate) fn vocabulary_len(&self) -> usize {
        self.vocabulary.len()
    }

    pub(crate) fn name(&self, name_id: u32) -> &IndexedName {
        &self.names[name_id as usize]
    }

    /// The weight a query token gets: its rarity in the lists, or the rarest weight if the
    /// lists do not have it; weak tokens are lowered.
    pub(crate) fn query_weight(&self, token: &Token) -> f32 {
        match self.token_ids.get(token.text.as_str()) {
            Some(&id) => self.vocabulary[id as usize].weight,
            None if token.kind.is_weak() => self.unseen_token_weight * WEAK_TOKEN_FACTOR,
            None => self.unseen_token_weight,
        }
    }

    /// Prepares query tokens: weights and the vocabulary tokens each reaches.
    pub(crate) fn prepare(&self, tokens: &[Token]) -> PreparedQuery {
        let mut prepared: Vec<QueryToken> = Vec::with_capacity(tokens.len());
        let mut compound_possible = false;
        NEIGHBOURS.with(|cache| {
            let mut cache = cache.borrow_mut();
            let cache = cache.for_index(self.id);
            for token in tokens {
                let neighbours = match cache.single.get(token.text.as_str()) {
                    Some(hit) => hit.clone(),
                    None => {
                        let neighbours = SingleNeighbours {
                            similar: self.similar_tokens(&token.text).into(),
                            splits: self.split_tokens(&token.text).into(),
                            variant: variant_key(&token.text).into(),
                        };
                        cache
                            .single
                            .insert(token.text.as_str().into(), neighbours.clone());
                        neighbours
                    }
                };
                compound_possible |= !neighbours.splits.is_empty();
                prepared.push(QueryToken {
                    text: token.text.clone(),
                    variant: neighbours.variant,
                    weight: self.query_weight(token),
                    similar: neighbours.similar,
                    compound: neighbours.splits.to_vec(),
                });
            }
            // Two adjacent query tokens that join into one vocabulary token (or a near
            // spelling of one) reach it both.
            let mut joined = String::with_capacity(32);
            for position in 0..prepared.len().saturating_sub(1) {
                joined.clear();
                joined.push_str(&prepared[position].text);
                joined.push_str(&prepared[position + 1].text);
                let reaches = match cache.joined.get(joined.as_str()) {
                    Some(hit) => hit.clone(),
                    None => {
                        let reaches: Rc<[Reach]> = self.similar_tokens(&joined).into();
                        cache.joined.insert(joined.as_str().into(), reaches.clone());
                        reaches
                    }
                };
                compound_possible |= !reaches.is_empty();
                for reach in reaches.iter() {
                    prepared[position]
                        .compound
                        .push((reach.token, reach.similarity));
                    prepared[position + 1]
                        .compound
                        .push((reach.token, reach.similarity));
                }
            }
        });
        PreparedQuery {
            tokens: prepared,
            compound_possible,
        }
    }

    /// Vocabulary tokens similar to `text` (exact, fuzzy or spelling variant), with the
    /// similarity and agreement `token_similarity` gives.
    fn similar_tokens(&self, text: &str) -> Vec<Reach> {
        let mut reaches: Vec<Reach> = Vec::new();
        let variant = variant_key(text);
        let query_view = TokenView {
            text,
            weight: 1.0,
            variant: &variant,
        };
        let mut consider = |id: u32| {
            if reaches.iter().any(|reach| reach.token == id) {
                return;
            }
            if let Some((similarity, agreement)) = token_similarity(&query_view, &self.view(id)) {
                reaches.push(Reach {
                    token: id,
                    similarity,
                    agreement,
                });
            }
        };
        if let Some(&id) = self.token_ids.get(text) {
            consider(id);
        }
        if text.len() >= MIN_FUZZY_TOKEN_LEN {
            for_each_deletion_key(text, |key| {
                for &id in self.deletion_neighbours.get(&key).into_iter().flatten() {
                    consider(id);
                }
            });
        }
        if text.len() >= MIN_VARIANT_TOKEN_LEN {
            for &id in self
                .variant_neighbours
                .get(variant.as_str())
                .into_iter()
                .flatten()
            {
                consider(id);
            }
        }
        reaches
    }

    /// A query token that splits into two vocabulary tokens reaches both: one half spelled
    /// exactly, the other exactly or nearly (`AEROCARIBEAN` → `AERO` + `CARIBBEAN`).
    fn split_tokens(&self, text: &str) -> Vec<(u32, f64)> {
        let mut reaches = Vec::new();
        // Both halves have at least two letters.
        if text.len() < 4 {
            return reaches;
        }
        for split in 2..text.len() - 1 {
            let (left, right) = text.split_at(split);
            let left_exact = self.token_ids.get(left).copied();
            let right_exact = self.token_ids.get(right).copied();
            if let Some(left_id) = left_exact {
                let right_similar = self.similar_tokens(right);
                if !right_similar.is_empty() {
                    reaches.push((left_id, 1.0));
                    reaches.extend(right_similar.iter().map(|r| (r.token, r.similarity)));
                }
            }
            if let (Some(right_id), None) = (right_exact, left_exact) {
                let left_similar = self.similar_tokens(left);
                if !left_similar.is_empty() {
                    reaches.push((right_id, 1.0));
                    reaches.extend(left_similar.iter().map(|r| (r.token, r.similarity)));
                }
            }
        }
        reaches
    }

    /// Visits every name whose full score against `query` may reach `min_score`, with that
    /// full score. Names the bound rules out are not visited.
    pub(crate) fn search(
        &self,
        query: &PreparedQuery,
        min_score: f64,
        mut visit: impl FnMut(u32, NameScore),
    ) {
        let query_total: f32 = query.tokens.iter().map(|t| t.weight).sum();
        if query_total <= 0.0 || self.names.is_empty() {
            return;
        }
        // Initials in the query may align with any token of a name: credit them up front on
        // the query side, and do not bound the candidate side at all.
        let initial_credit: f32 = query
            .tokens
            .iter()
            .filter(|t| t.text.len() == 1)
            .map(|t| t.weight * INITIAL_SIMILARITY as f32)
            .sum();
        let query_initials = query.tokens.iter().filter(|t| t.text.len() == 1).count();
        // Score = (query coverage + candidate coverage) / 2 and candidate coverage ≤ 1, so a
        // name needs query coverage ≥ 2·min − 1.
        let needed_query_credit = ((2.0 * min_score - 1.0) as f32 * query_total).max(0.0);

        let mut order: Vec<usize> = (0..query.tokens.len()).collect();
        order.sort_by(|&a, &b| query.tokens[b].weight.total_cmp(&query.tokens[a].weight));

        SCRATCH.with(|scratch| {
            let scratch = &mut *scratch.borrow_mut();
            scratch.begin(self.names.len());
            let mut weight_left: f32 = query
                .tokens
                .iter()
                .filter(|t| t.text.len() > 1)
                .map(|t| t.weight)
                .sum();
            for &position in &order {
                let query_token = &query.tokens[position];
                if query_token.text.len() == 1 {
                    continue;
                }
                // A name first reached now can gain at most what is left, this token included.
                let may_add_names = weight_left + initial_credit >= needed_query_credit;
                weight_left -= query_token.weight;
                let reached = query_token
                    .similar
                    .iter()
                    .map(|reach| (reach.token, reach.similarity))
                    .chain(query_token.compound.iter().copied());
                for (token_id, similarity) in reached {
                    let similarity = similarity as f32;
                    let query_gain = query_token.weight * similarity;
                    let candidate_gain = self.vocabulary[token_id as usize].weight * similarity;
                    let posting = &self.postings[token_id as usize];
                    // Names with an initial may gain from any query token: always admitted.
                    for &name_id in &self.initial_postings[token_id as usize] {
                        scratch.credit(name_id, query_gain, candidate_gain, true);
                    }
                    if may_add_names || posting.len() < scratch.touched.len() * 4 {
                        for &name_id in posting {
                            scratch.credit(name_id, query_gain, candidate_gain, may_add_names);
                        }
                    } else {
                        for slot in 0..scratch.touched.len() {
                            let name_id = scratch.touched[slot];
                            let name = &self.names[name_id as usize];
                            if !name.has_initial && name.tokens.contains(&token_id) {
                                scratch.credit(name_id, query_gain, candidate_gain, false);
                            }
                        }
                    }
                }
            }

            let query_views = query.views();
            let mut candidate_views: Vec<TokenView> = Vec::with_capacity(16);
            let query_shape = QueryShape::new(query);
            for slot in 0..scratch.touched.len() {
                let name_id = scratch.touched[slot];
                let name = &self.names[name_id as usize];
                let (query_credit, candidate_credit) = scratch.credits(name_id);
                if name.has_initial
                    && (self.initial_name_quick_bound(
                        &query_shape,
                        name,
                        query_credit,
                        candidate_credit,
                    ) < min_score - INITIAL_BOUND_SLACK
                        || self.initial_name_bound(
                            &query_shape,
                            name,
                            query_credit,
                            candidate_credit,
                        ) < min_score - INITIAL_BOUND_SLACK)
                {
                    continue;
                }
                let query_bound = if name.has_initial {
                    1.0
                } else {
                    ((query_credit + initial_credit) / query_total).min(1.0)
                };
                // Each query initial can align with one candidate token, for at most
                // INITIAL_SIMILARITY of the name's heaviest token.
                let candidate_bound = if name.has_initial || name.total_weight <= 0.0 {
                    1.0
                } else {
                    let initials_gain =
                        query_initials as f32 * INITIAL_SIMILARITY as f32 * name.max_weight;
                    ((candidate_credit + initials_gain) / name.total_weight).min(1.0)
                };
                if ((query_bound + candidate_bound) / 2.0) < min_score as f32 - 1e-6 {
                    continue;
                }
                candidate_views.clear();
                candidate_views.extend(name.tokens.iter().map(|&id| self.view(id)));
                let score = self.score_name(query, &query_views, name, &candidate_views, false);
                if score.score >= min_score {
                    visit(name_id, score);
                }
            }
        });
    }

    /// A cheaper and looser bound than [`NameIndex::initial_name_bound`], which it comes
    /// before: every pair that the neighbour lists do not hold (initials, compounds) needs a
    /// query token and a candidate token with the same first letter, and a compound also
    /// credits the token after such a one. Any token that could be in such a pair is counted
    /// as fully aligned.
    fn initial_name_quick_bound(
        &self,
        query: &QueryShape,
        name: &IndexedName,
        query_credit: f32,
        candidate_credit: f32,
    ) -> f64 {
        if query.tokens.len() > MAX_ALIGNED_TOKENS || name.tokens.len() > MAX_ALIGNED_TOKENS {
            // The aligner truncates such names, which changes its totals: no bound.
            return 1.0;
        }
        let mut name_letters = 0u64;
        let mut candidate_total = 0.0f64;
        let mut candidate_extra = 0.0f64;
        let mut previous_shared = false;
        for &id in name.tokens.iter() {
            let letter = letter_bit(self.first_bytes[id as usize]);
            let weight = self.vocabulary[id as usize].weight as f64;
            name_letters |= letter;
            candidate_total += weight;
            let shared = query.letters & letter != 0;
            if shared || (query.compounds && previous_shared) {
                candidate_extra += weight;
            }
            previous_shared = shared;
        }
        let mut query_total = 0.0f64;
        let mut query_extra = 0.0f64;
        let mut previous_shared = false;
        for (&(first, _), &weight) in query.tokens.iter().zip(&query.weights) {
            let weight = weight as f64;
            query_total += weight;
            let shared = name_letters & letter_bit(first) != 0;
            if shared || (query.compounds && previous_shared) {
                query_extra += weight;
            }
            previous_shared = shared;
        }
        mean_bound(
            (query_credit as f64 + query_extra, query_total),
            (candidate_credit as f64 + candidate_extra, candidate_total),
        )
    }

    /// An upper bound of the full score of a name that has an initial, from the credits the
    /// search gave it (single-token pairs through the query's neighbour lists) plus, for each
    /// token on either side, the most it could gain from the pairs those lists do not hold:
    /// an initial against a token of the same first letter (exact: 1.0, else
    /// INITIAL_SIMILARITY), and compounds (up to 1.0) wherever the aligner's own cheap
    /// filters (same first letter, joined length within 2) let one through. Every token is in
    /// at most one aligned pair, so the sum bounds the credit of the greedy alignment.
    fn initial_name_bound(
        &self,
        query: &QueryShape,
        name: &IndexedName,
        query_credit: f32,
        candidate_credit: f32,
    ) -> f64 {
        let tokens = &name.tokens;
        if query.tokens.len() > MAX_ALIGNED_TOKENS || tokens.len() > MAX_ALIGNED_TOKENS {
            // The aligner truncates such names, which changes its totals: no bound.
            return 1.0;
        }
        let text = |j: usize| self.vocabulary[tokens[j] as usize].text.as_bytes();
        // Tokens that may take part in a compound pair, as bit sets.
        let (mut query_compound, mut candidate_compound) = (0u32, 0u32);
        if query.compounds {
            for (i, &(first, len)) in query.tokens.iter().enumerate() {
                for j in 0..tokens.len() {
                    let candidate = text(j);
                    if candidate[0] != first {
                        continue;
                    }
                    // The query token against this candidate token and the next, joined.
                    if len >= 4 && j + 1 < tokens.len() {
                        let joined = candidate.len() + text(j + 1).len();
                        if joined.abs_diff(len) <= 2 {
                            query_compound |= 1 << i;
                            candidate_compound |= 0b11 << j;
                        }
                    }
                    // This candidate token against the query token and the next, joined.
                    if candidate.len() >= 4 && i + 1 < query.tokens.len() {
                        let joined = len + query.tokens[i + 1].1;
                        if joined.abs_diff(candidate.len()) <= 2 {
                            candidate_compound |= 1 << j;
                            query_compound |= 0b11 << i;
                        }
                    }
                }
            }
        }
        let mut query_total = 0.0f64;
        let mut query_extra = 0.0f64;
        for (i, &(first, len)) in query.tokens.iter().enumerate() {
            let weight = query.weights[i] as f64;
            query_total += weight;
            let best = if query_compound & (1 << i) != 0 {
                1.0
            } else {
                initial_credit(
                    (first, len),
                    (0..tokens.len()).map(|j| (text(j)[0], text(j).len())),
                )
            };
            query_extra += weight * best;
        }
        let mut candidate_total = 0.0f64;
        let mut candidate_extra = 0.0f64;
        for (j, &id) in tokens.iter().enumerate() {
            let token = &self.vocabulary[id as usize];
            let (candidate, weight) = (token.text.as_bytes(), token.weight as f64);
            candidate_total += weight;
            let best = if candidate_compound & (1 << j) != 0 {
                1.0
            } else {
                initial_credit(
                    (candidate[0], candidate.len()),
                    query.tokens.iter().copied(),
                )
            };
            candidate_extra += weight * best;
        }
        mean_bound(
            (query_credit as f64 + query_extra, query_total),
            (candidate_credit as f64 + candidate_extra, candidate_total),
        )
    }

    /// Scores `query` against every name, without the index: the reference the index's
    /// recall is measured against.
    pub(crate) fn search_exhaustive(
        &self,
        query: &PreparedQuery,
        min_score: f64,
        mut visit: impl FnMut(u32, NameScore),
    ) {
        let query_views = query.views();
        let mut candidate_views: Vec<TokenView> = Vec::with_capacity(16);
        for (name_id, name) in self.names.iter().enumerate() {
            candidate_views.clear();
            candidate_views.extend(name.tokens.iter().map(|&id| self.view(id)));
            let score = score_tokens(&query_views, &candidate_views, false);
            if score.score >= min_score {
                visit(name_id as u32, score);
            }
        }
    }

    /// Scores `query` against one name, with the explanation.
    pub(crate) fn explain(&self, query: &PreparedQuery, name_id: u32) -> NameScore {
        let name = &self.names[name_id as usize];
        let candidate_views: Vec<TokenView> = name.tokens.iter().map(|&id| self.view(id)).collect();
        self.score_name(query, &query.views(), name, &candidate_views, true)
    }

    /// The full score of a name, with token similarities looked up in the query's prepared
    /// neighbours rather than recomputed: the same values `score_tokens` would compute
    /// (initials, which no neighbour list holds, are computed).
    fn score_name(
        &self,
        query: &PreparedQuery,
        query_views: &[TokenView],
        name: &IndexedName,
        candidate_views: &[TokenView],
        explain: bool,
    ) -> NameScore {
        align_tokens(
            query_views,
            candidate_views,
            explain,
            query.compound_possible,
            |i, j| {
                let (query_token, candidate_token) = (&query.tokens[i], name.tokens[j]);
                if query_token.text.len() == 1
                    || self.vocabulary[candidate_token as usize].text.len() == 1
                {
                    return token_similarity(&query_views[i], &candidate_views[j]);
                }
                query_token
                    .similar
                    .iter()
                    .find(|reach| reach.token == candidate_token)
                    .map(|reach| (reach.similarity, reach.agreement))
            },
        )
    }

    fn view(&self, token_id: u32) -> TokenView<'_> {
        let token = &self.vocabulary[token_id as usize];
        TokenView {
            text: &token.text,
            weight: token.weight,
            variant: &token.variant,
        }
    }

    /// Approximate heap bytes held by the index (for the scale benchmark).
    pub(crate) fn heap_bytes(&self) -> usize {
        let vocabulary: usize = self
            .vocabulary
            .iter()
            .map(|t| std::mem::size_of::<VocabularyToken>() + t.text.len() + t.variant.len())
            .sum();
        let token_ids = self.token_ids.capacity() * (std::mem::size_of::<(Box<str>, u32)>() + 8);
        let names: usize = self
            .names
            .iter()
            .map(|n| std::mem::size_of::<IndexedName>() + n.tokens.len() * 4)
            .sum();
        let postings: usize = self
            .postings
            .iter()
            .chain(&self.initial_postings)
            .map(|p| 24 + p.capacity() * 4)
            .sum();
        let deletions: usize = self
            .deletion_neighbours
            .values()
            .map(|ids| 8 + 24 + 8 + ids.capacity() * 4)
            .sum();
        let variant: usize = self
            .variant_neighbours
            .iter()
            .map(|(key, ids)| 16 + key.len() + 24 + 8 + ids.capacity() * 4)
            .sum();
        vocabulary
            + self.first_bytes.capacity()
            + token_ids
            + names
            + postings
            + deletions
            + variant
    }
}

/// Slack under the caller's floor for [`NameIndex::initial_name_bound`]: covers the rounding
/// of credits summed in `f32` (the aligner sums in `f64`).
const INITIAL_BOUND_SLACK: f64 = 1e-4;

/// What the bound for names with initials needs of the query: first byte and length of each
/// token, its weight, and whether the aligner will look for compounds.
struct QueryShape {
    tokens: Vec<(u8, usize)>,
    weights: Vec<f32>,
    compounds: bool,
    /// `letter_bit` of every token's first byte.
    letters: u64,
}

/// A bit per upper-case letter and digit (tokens hold nothing else): the low six bits of the
/// byte tell them apart.
#[inline]
fn letter_bit(byte: u8) -> u64 {
    1 << (byte & 63)
}

impl QueryShape {
    fn new(query: &PreparedQuery) -> Self {
        QueryShape {
            tokens: query
                .tokens
                .iter()
                .map(|t| (t.text.as_bytes()[0], t.text.len()))
                .collect(),
            weights: query.tokens.iter().map(|t| t.weight).collect(),
            compounds: query.compound_possible,
            letters: query
                .tokens
                .iter()
                .fold(0, |letters, t| letters | letter_bit(t.text.as_bytes()[0])),
        }
    }
}

impl Scratch {
    fn begin(&mut self, name_count: usize) {
        if self.slots.len() < name_count {
            self.slots.resize(name_count, CreditSlot::default());
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.slots.iter_mut().for_each(|s| s.stamp = 0);
            self.epoch = 1;
        }
        self.touched.clear();
    }

    #[inline]
    fn credit(&mut self, name_id: u32, query_gain: f32, candidate_gain: f32, may_add: bool) {
        let epoch = self.epoch;
        let slot = &mut self.slots[name_id as usize];
        if slot.stamp != epoch {
            if !may_add {
                return;
            }
            *slot = CreditSlot {
                stamp: epoch,
                query: 0.0,
                candidate: 0.0,
            };
            self.touched.push(name_id);
        }
        slot.query += query_gain;
        slot.candidate += candidate_gain;
    }

    /// The credits of a touched name: (query side, candidate side).
    #[inline]
    fn credits(&self, name_id: u32) -> (f32, f32) {
        let slot = &self.slots[name_id as usize];
        (slot.query, slot.candidate)
    }
}

/// Calls `f` with the hash of `token` and of each of its one-character deletions.
fn for_each_deletion_key(token: &str, mut f: impl FnMut(u64)) {
    let bytes = token.as_bytes();
    f(xxh3_64(bytes));
    let mut buffer: Vec<u8> = Vec::with_capacity(bytes.len());
    for skip in 0..bytes.len() {
        buffer.clear();
        buffer.extend_from_slice(&bytes[..skip]);
        buffer.extend_from_slice(&bytes[skip + 1..]);
        f(xxh3_64(&buffer));
    }
}

/// The most an unmatched token, given as (first byte, length), can still be credited against
/// the other side's tokens: 1 for the same single letter, [`INITIAL_SIMILARITY`] for an
/// initial against a word of that initial, 0 otherwise.
fn initial_credit(token: (u8, usize), others: impl Iterator<Item = (u8, usize)>) -> f64 {
    let (first, len) = token;
    let mut best = 0.0f64;
    for (other_first, other_len) in others {
        if other_first == first && (len == 1 || other_len == 1) {
            best = best.max(if len == other_len {
                1.0
            } else {
                INITIAL_SIMILARITY
            });
        }
    }
    best
}

/// The bound of a name's score from each side's most reachable credit and total weight: the
/// mean of the two sides' shares (each at most 1), or 0 when a side weighs nothing.
fn mean_bound(query: (f64, f64), candidate: (f64, f64)) -> f64 {
    let ((query_reachable, query_total), (candidate_reachable, candidate_total)) =
        (query, candidate);
    if query_total <= 0.0 || candidate_total <= 0.0 {
        return 0.0;
    }
    let query_bound = (query_reachable / query_total).min(1.0);
    let candidate_bound = (candidate_reachable / candidate_total).min(1.0);
    (query_bound + candidate_bound) / 2.0
}
