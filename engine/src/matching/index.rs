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
//! could reach, and fully scores only the names whose bound clears the caller's floor. Only
//! some query tokens admit new names: a set of them that every name able to clear the floor
//! must hold one of, chosen to reach the fewest postings; the others only update names
//! already reached (`NameIndex::admission_order`). Whether this ever hides a name the
//! full scorer would have accepted is measured against an exhaustive scan (tests and the
//! evaluation harness), not assumed.

use compact_str::CompactString;
use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::collections::hash_map::Entry;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use xxhash_rust::xxh3::xxh3_64;

use super::normalize::{variant_key, Token, TokenKind};
use super::score::{
    align_tokens, are_deletion_neighbours, compound_similarity, score_tokens, token_similarity,
    Agreement, NameScore, TokenView, INITIAL_SIMILARITY, MAX_ALIGNED_TOKENS,
    MIN_COMPOUND_TOKEN_LEN, MIN_FUZZY_TOKEN_LEN, MIN_VARIANT_TOKEN_LEN,
};

/// Weights of weak tokens are their rarity times this.
pub const WEAK_TOKEN_FACTOR: f32 = 0.15;

/// A vocabulary token: where its text and its spelling-variant key lie in the vocabulary's
/// string arena, and its weight. Plain data, so that the 167,000 tokens of a large list are
/// one allocation rather than three each.
#[derive(Debug, Clone, Copy)]
struct VocabularyToken {
    /// Byte range of the token's text in `Vocabulary::strings`.
    text: Span,
    /// Byte range of the token's spelling-variant key (`variant_key`) in the same arena.
    variant: Span,
    weight: f32,
}

/// A byte range `start..end` of a string arena.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
}

/// One name (primary or alias) of one entry, as token ids. Plain data: its tokens lie in
/// `NameIndex::name_tokens` (read them through `NameIndex::name_tokens`), so the millions of
/// names of a large list hold no allocation of their own.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IndexedName {
    /// Index of the entry in the matcher's entry list.
    pub(crate) entry: u32,
    /// 0 for the primary name, k for the k-th alias.
    pub(crate) name_number: u16,
    /// Whether the name has a single-letter token (an initial), which may align with any
    /// query token of the same first letter: the search cannot bound such names cheaply and
    /// scores them in full once reached.
    has_initial: bool,
    /// The name's token ids, in name order, are `NameIndex::name_tokens[token_start..token_end]`.
    token_start: u32,
    token_end: u32,
    total_weight: f32,
    /// The weight of the name's heaviest token (bounds what a query initial can add).
    max_weight: f32,
    /// `letter_bit` of the first byte of each of the name's tokens: lets the search bound a
    /// name with an initial from the query side alone, without reading its tokens
    /// (`NameIndex::initial_name_may_reach`).
    first_letters: u64,
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
    pub(crate) text: CompactString,
    /// Its spelling-variant key (shared with the neighbour cache).
    pub(crate) variant: Rc<str>,
    pub(crate) weight: f32,
    /// Vocabulary tokens similar to this one: used for candidates, bounds and scoring.
    similar: Rc<[Reach]>,
    /// Vocabulary tokens that this token and a neighbour, joined, may align with as one
    /// compound, with its similarity: used for candidates and bounds only.
    compound: Vec<(u32, f64)>,
    /// Adjacent pairs of name tokens that this token may align with as one compound (it
    /// splits into them): used for candidates and bounds only.
    pairs: Rc<[PairReach]>,
}

/// Two tokens, the second directly after the first in some names, that a query token may
/// align with, joined, as one compound (see `NameIndex::split_reaches`).
#[derive(Debug, Clone, Copy)]
struct PairReach {
    left: u32,
    right: u32,
    /// The compound's similarity.
    similarity: f64,
    /// The weight of both tokens of the pair: what the compound credits a name with.
    candidate_weight: f32,
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

/// The index. Built once and never changed, so every part is laid out flat: a few large
/// allocations (arrays of ids with offsets into them) instead of millions of small ones,
/// which at a million entries cost more in allocator overhead and in heap pages pinned
/// between freed build temporaries than the data itself.
#[derive(Debug, Default)]
pub(crate) struct NameIndex {
    /// Unique per built index: keys the per-thread neighbour cache.
    id: u64,
    vocabulary: Vocabulary,
    names: Vec<IndexedName>,
    /// The token ids of every name, back to back (see `IndexedName::token_start`).
    name_tokens: Vec<u32>,
    /// Token id → ids of the names holding it that have no initial, ascending, each once.
    postings: FlatLists,
    /// Token id → ids of the names holding it that have an initial (see
    /// `IndexedName::has_initial`), likewise: admitted even when the pruning admits no new
    /// names. The two lists never share a name, so the search loop need not look at names.
    initial_postings: FlatLists,
    /// Hash of a token or of one of its one-character deletions → token ids, ascending.
    deletion_neighbours: KeyedLists,
    /// The same for the tokens shorter than MIN_FUZZY_TOKEN_LEN, which get no fuzzy
    /// agreement of their own but may be half of a compound (`SMITH` + `SA` ~ `SMITHS`).
    short_deletion_neighbours: KeyedLists,
    /// Token id → the tokens that directly follow it in some name, shortest first, each once:
    /// the pairs a query token may split into. (Which names hold a pair is read from the
    /// postings of its rarer token: a list of names per pair would cost, by estimate, about
    /// as much again as the postings at a million entries.)
    followers: FlatLists,
    /// Hash of a spelling-variant key → ids of the tokens of at least MIN_VARIANT_TOKEN_LEN
    /// letters with a variant key of that hash, ascending. Hashes may collide: a lookup keeps
    /// the tokens whose key is the one asked for (`NameIndex::variant_neighbours`).
    variant_neighbours: KeyedLists,
    /// Weight given to a query token absent from the vocabulary (as rare as the rarest).
    unseen_token_weight: f32,
    /// Letters of the longest vocabulary token: bounds the compounds worth looking for, so
    /// that a hostile name of one 1,000-letter token costs no more than a short one.
    longest_token_len: usize,
}

/// Every normalised token in the lists, numbered from 0 in order of first appearance.
#[derive(Debug, Default)]
struct Vocabulary {
    tokens: Vec<VocabularyToken>,
    /// Token id → the token's first byte (read for every name a search reaches; dense, so
    /// that the bound for names with initials stays in cache).
    first_bytes: Vec<u8>,
    /// Every token's text and variant key, back to back (see `VocabularyToken`): one
    /// allocation instead of two per token.
    strings: String,
    /// xxh3 hash of a token's text → its id. Keyed by the hash so that the text is stored
    /// once, in `strings`; a lookup compares the text found there with the one asked for.
    ids: FxHashMap<u64, u32>,
    /// Tokens whose text hashes like that of an earlier, different token (64-bit hashes:
    /// expected empty), by text.
    colliding_ids: FxHashMap<Box<str>, u32>,
}

/// Lists of ids numbered `0..n`, built once, stored back to back: list `i` is
/// `ids[starts[i]..starts[i + 1]]`.
#[derive(Debug, Default)]
struct FlatLists {
    /// `n + 1` ascending offsets into `ids`, from 0 to `ids.len()`.
    starts: Vec<u32>,
    ids: Vec<u32>,
}

/// Lists of ids filed under 64-bit keys, built once: a hash table from each key to the range
/// of its list in one flat array.
#[derive(Debug, Default)]
struct KeyedLists {
    /// Key → (start, end) of its list in `ids`.
    ranges: FxHashMap<u64, (u32, u32)>,
    /// Every list, back to back.
    ids: Vec<u32>,
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
/// holds all four.
#[derive(Clone, Copy, Default)]
struct CreditSlot {
    stamp: u32,
    query: f32,
    candidate: f32,
    /// `position_bit` of each query token that credited the name.
    positions: u32,
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
    pairs: Rc<[PairReach]>,
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
    ///
    /// Every part is built at its final size where that size is known (name tokens, names,
    /// postings, neighbour lists), so that what the index keeps is a few large blocks and
    /// what the build frees (the names' token strings, the grown vocabulary's old buffers,
    /// the neighbour keys) goes back to the system in large blocks too.
    pub(crate) fn build(names: Vec<(u32, u16, Vec<Token>)>) -> Self {
        let token_count: usize = names.iter().map(|(_, _, tokens)| tokens.len()).sum();
        let mut vocabulary = Vocabulary::default();
        let mut kinds: Vec<TokenKind> = Vec::new();
        // Token id → number of names holding it, without an initial and with one: the
        // document frequency, and the lengths of the two posting lists.
        let mut plain_counts: Vec<u32> = Vec::new();
        let mut initial_counts: Vec<u32> = Vec::new();
        let mut name_tokens: Vec<u32> = Vec::with_capacity(token_count);
        let mut indexed: Vec<IndexedName> = Vec::with_capacity(names.len());
        let mut distinct: Vec<u32> = Vec::new();
        for (entry, name_number, tokens) in names {
            let token_start = name_tokens.len();
            for token in tokens {
                let (id, new) = vocabulary.intern(&token.text);
                if new {
                    kinds.push(token.kind);
                    plain_counts.push(0);
                    initial_counts.push(0);
                }
                name_tokens.push(id);
            }
            let ids = &name_tokens[token_start..];
            let has_initial = ids.iter().any(|&id| vocabulary.text(id).len() == 1);
            let first_letters = ids.iter().fold(0, |letters, &id| {
                letters | letter_bit(vocabulary.text(id).as_bytes()[0])
            });
            distinct_ids(ids, &mut distinct);
            let counts = if has_initial {
                &mut initial_counts
            } else {
                &mut plain_counts
            };
            for &id in &distinct {
                counts[id as usize] += 1;
            }
            indexed.push(IndexedName {
                entry,
                name_number,
                has_initial,
                token_start: to_u32(token_start),
                token_end: to_u32(name_tokens.len()),
                total_weight: 0.0,
                max_weight: 0.0,
                first_letters,
            });
        }

        let name_count = indexed.len().max(1) as f32;
        let rarity = |frequency: u32| (1.0 + name_count / frequency.max(1) as f32).ln();
        for (id, token) in vocabulary.tokens.iter_mut().enumerate() {
            let factor = if kinds[id].is_weak() {
                WEAK_TOKEN_FACTOR
            } else {
                1.0
            };
            token.weight = rarity(plain_counts[id] + initial_counts[id]) * factor;
        }
        drop(kinds);
        for name in &mut indexed {
            let ids = &name_tokens[name.token_start as usize..name.token_end as usize];
            name.total_weight = ids.iter().map(|&id| vocabulary.weight(id)).sum();
            name.max_weight = ids
                .iter()
                .map(|&id| vocabulary.weight(id))
                .fold(0.0, f32::max);
        }

        let mut postings = FlatListsFiller::new(&plain_counts);
        let mut initial_postings = FlatListsFiller::new(&initial_counts);
        drop((plain_counts, initial_counts));
        for (name_id, name) in indexed.iter().enumerate() {
            let ids = &name_tokens[name.token_start as usize..name.token_end as usize];
            distinct_ids(ids, &mut distinct);
            let lists = if name.has_initial {
                &mut initial_postings
            } else {
                &mut postings
            };
            for &id in &distinct {
                lists.push(id, name_id as u32);
            }
        }

        // Every two adjacent tokens of every name, once.
        let mut adjacent: Vec<(u32, u32)> = Vec::new();
        for name in &indexed {
            let ids = &name_tokens[name.token_start as usize..name.token_end as usize];
            adjacent.extend(ids.windows(2).map(|pair| (pair[0], pair[1])));
        }
        // By first token, then by the length of the second: a query token's pairs are
        // looked up by the length they must have (`split_reaches`).
        adjacent.sort_unstable_by_key(|&(left, right)| (left, vocabulary.text_len(right), right));
        adjacent.dedup();
        let mut follower_counts = vec![0u32; vocabulary.len()];
        for &(left, _) in &adjacent {
            follower_counts[left as usize] += 1;
        }
        let mut followers = FlatListsFiller::new(&follower_counts);
        for &(left, right) in &adjacent {
            followers.push(left, right);
        }
        drop(adjacent);
        let followers = followers.finish();
        let mut deletion_keys: Vec<(u64, u32)> = Vec::new();
        let mut short_deletion_keys: Vec<(u64, u32)> = Vec::new();
        let mut variant_keys: Vec<(u64, u32)> = Vec::new();
        for id in 0..to_u32(vocabulary.len()) {
            let text = vocabulary.text(id);
            if text.len() >= MIN_FUZZY_TOKEN_LEN {
                for_each_deletion_key(text, |key| deletion_keys.push((key, id)));
            } else {
                for_each_deletion_key(text, |key| short_deletion_keys.push((key, id)));
            }
            if text.len() >= MIN_VARIANT_TOKEN_LEN {
                variant_keys.push((xxh3_64(vocabulary.variant(id).as_bytes()), id));
            }
        }

        vocabulary.shrink_to_fit();
        let index = NameIndex {
            id: NEXT_INDEX_ID.fetch_add(1, Ordering::Relaxed),
            unseen_token_weight: rarity(1),
            longest_token_len: (0..to_u32(vocabulary.len()))
                .map(|id| vocabulary.text_len(id))
                .max()
                .unwrap_or(0),
            vocabulary,
            names: indexed,
            name_tokens,
            postings: postings.finish(),
            initial_postings: initial_postings.finish(),
            deletion_neighbours: KeyedLists::from_pairs(deletion_keys),
            short_deletion_neighbours: KeyedLists::from_pairs(short_deletion_keys),
            followers,
            variant_neighbours: KeyedLists::from_pairs(variant_keys),
        };
        debug_assert_eq!(index.postings.len(), index.vocabulary.len());
        debug_assert_eq!(index.initial_postings.len(), index.vocabulary.len());
        // The names' token ranges tile `name_tokens`, in name order.
        debug_assert!(index
            .names
            .windows(2)
            .all(|pair| pair[0].token_end == pair[1].token_start));
        debug_assert_eq!(
            index.names.last().map_or(0, |name| name.token_end as usize),
            index.name_tokens.len()
        );
        index
    }

    /// The token ids of a name, in name order.
    #[inline]
    fn name_tokens(&self, name: &IndexedName) -> &[u32] {
        &self.name_tokens[name.token_start as usize..name.token_end as usize]
    }

    /// Ids of the names without an initial that hold `token`, ascending.
    #[inline]
    fn postings(&self, token: u32) -> &[u32] {
        self.postings.get(token)
    }

    /// Ids of the names with an initial that hold `token`, ascending.
    #[inline]
    fn initial_postings(&self, token: u32) -> &[u32] {
        self.initial_postings.get(token)
    }

    /// Tokens filed under a deletion key (see `for_each_deletion_key`), ascending.
    #[inline]
    fn deletion_neighbours(&self, key: u64) -> &[u32] {
        self.deletion_neighbours.get(key)
    }

    /// Tokens of at least MIN_VARIANT_TOKEN_LEN letters whose variant key is `variant`,
    /// ascending.
    fn variant_neighbours<'a>(&'a self, variant: &'a str) -> impl Iterator<Item = u32> + 'a {
        self.variant_neighbours
            .get(xxh3_64(variant.as_bytes()))
            .iter()
            .copied()
            .filter(move |&id| self.vocabulary.variant(id) == variant)
    }

    /// Unique per built index (0 for an empty default one): keys per-thread caches of
    /// results that depend on the index.
    pub(crate) fn id(&self) -> u64 {
        self.id
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
        match self.vocabulary.id(&token.text) {
            Some(id) => self.vocabulary.weight(id),
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
                            pairs: self.split_reaches(&token.text).into(),
                            variant: variant_key(&token.text).into(),
                        };
                        cache
                            .single
                            .insert(token.text.as_str().into(), neighbours.clone());
                        neighbours
                    }
                };
                compound_possible |= !neighbours.pairs.is_empty();
                prepared.push(QueryToken {
                    text: token.text.clone(),
                    variant: neighbours.variant,
                    weight: self.query_weight(token),
                    similar: neighbours.similar,
                    compound: Vec::new(),
                    pairs: neighbours.pairs,
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
                        let reaches: Rc<[Reach]> = self.joined_reaches(&joined).into();
                        cache.joined.insert(joined.as_str().into(), reaches.clone());
                        reaches
                    }
                };
                compound_possible |= !reaches.is_empty();
                for reach in reaches.iter() {
                    let compound = (reach.token, reach.similarity);
                    prepared[position].compound.push(compound);
                    prepared[position + 1].compound.push(compound);
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
        if let Some(id) = self.vocabulary.id(text) {
            consider(id);
        }
        if text.len() >= MIN_FUZZY_TOKEN_LEN {
            for_each_deletion_key(text, |key| {
                for &id in self.deletion_neighbours(key) {
                    consider(id);
                }
            });
        }
        if text.len() >= MIN_VARIANT_TOKEN_LEN {
            for id in self.variant_neighbours(&variant) {
                consider(id);
            }
        }
        reaches
    }

    /// Vocabulary tokens that two adjacent query tokens, joined, may align with as one
    /// compound: exactly those the scorer pairs them with (`push_compound_pairs`: at least
    /// MIN_COMPOUND_TOKEN_LEN letters, the same first letter, equal or deletion neighbours),
    /// with the similarity it gives. Unlike single tokens, the joined text may be shorter
    /// than MIN_FUZZY_TOKEN_LEN: `L` + `WU` meets `LIWU`.
    fn joined_reaches(&self, joined: &str) -> Vec<Reach> {
        let joined_bytes = joined.as_bytes();
        let mut reaches: Vec<Reach> = Vec::new();
        // Deletion neighbours differ in length by one at most.
        if joined_bytes.len() > self.longest_token_len + 1 {
            return reaches;
        }
        self.for_each_near_candidate(joined, |id| {
            let wanted = self.vocabulary.text_len(id) >= MIN_COMPOUND_TOKEN_LEN
                && self.vocabulary.first_byte(id) == joined_bytes[0];
            if !wanted
                || reaches.iter().any(|reach| reach.token == id)
                || !self.is_near(id, joined_bytes)
            {
                return;
            }
            reaches.push(Reach {
                token: id,
                similarity: compound_similarity(self.vocabulary.text_bytes(id), joined_bytes),
                agreement: Agreement::Compound,
            });
        });
        reaches
    }

    /// The adjacent pairs of name tokens that `text` may align with as one compound: exactly
    /// those the scorer accepts (`push_compound_pairs`: a token of at least
    /// MIN_COMPOUND_TOKEN_LEN letters against two tokens joined, the first with its first
    /// letter, equal or deletion neighbours), `AEROCARIBEAN` ~ `AERO` + `CARIBBEAN`.
    ///
    /// If the joined pair and `text` are deletion neighbours, there is a place to cut `text`
    /// where the first token of the pair is a deletion neighbour of (or equal to) the part
    /// before the cut. So every cut looks up the near tokens of its first part, short ones
    /// included, and each of them is tried with every token that follows it in some name.
    fn split_reaches(&self, text: &str) -> Vec<PairReach> {
        let token = text.as_bytes();
        let mut reaches: Vec<PairReach> = Vec::new();
        // Two vocabulary tokens joined, one letter more or less: no longer than this.
        let longest_pair = 2 * self.longest_token_len + 1;
        if token.len() < MIN_COMPOUND_TOKEN_LEN || token.len() > longest_pair {
            return reaches;
        }
        // About twenty for a seven-letter token: room for them without growing.
        let mut lefts: Vec<u32> = Vec::with_capacity(32);
        // A first token near the part before the cut has at least `cut - 1` letters. A token
        // that no name has another token after cannot be the first of a pair.
        for cut in 1..token.len().min(self.longest_token_len + 2) {
            let before_cut = &token[..cut];
            self.for_each_near_candidate(&text[..cut], |id| {
                let wanted =
                    self.vocabulary.first_byte(id) == token[0] && self.followers.has_any(id);
                if wanted && !lefts.contains(&id) && self.is_near(id, before_cut) {
                    lefts.push(id);
                }
            });
        }
        let token_last_two = [token[token.len() - 2], token[token.len() - 1]];
        let mut joined: Vec<u8> = Vec::with_capacity(token.len() + 2);
        for &left in &lefts {
            let left_text = self.vocabulary.text_bytes(left);
            // Deletion neighbours differ in length by one at most: the second token has
            // `shortest` to `shortest + 2` letters.
            let shortest = (token.len() + 1).saturating_sub(left_text.len() + 2);
            let followers = self.followers.get(left);
            let from = followers.partition_point(|&id| self.vocabulary.text_len(id) < shortest);
            for &right in &followers[from..] {
                let right_text = self.vocabulary.text_bytes(right);
                if right_text.len() > shortest + 2 {
                    break;
                }
                // Deletion neighbours share a byte among their last two (one deletion on
                // each side at most): a cheap test before joining.
                let joined_last_two = match right_text {
                    [.., before, last] => [*before, *last],
                    [last] => [*left_text.last().unwrap_or(last), *last],
                    [] => continue,
                };
                if !joined_last_two
                    .iter()
                    .any(|&byte| byte == token_last_two[0] || byte == token_last_two[1])
                {
                    continue;
                }
                joined.clear();
                joined.extend_from_slice(left_text);
                joined.extend_from_slice(right_text);
                if !are_deletion_neighbours(token, &joined) {
                    continue;
                }
                reaches.push(PairReach {
                    left,
                    right,
                    similarity: compound_similarity(token, &joined),
                    candidate_weight: self.vocabulary.weight(left) + self.vocabulary.weight(right),
                });
            }
        }
        reaches
    }

    /// Of two tokens, the one fewer names hold.
    fn rarer(&self, a: u32, b: u32) -> u32 {
        if self.posting_count(a) <= self.posting_count(b) {
            a
        } else {
            b
        }
    }

    /// How many names hold `token`, with an initial or without.
    fn posting_count(&self, token: u32) -> usize {
        self.postings(token).len() + self.initial_postings(token).len()
    }

    /// Visits the vocabulary tokens, of any length, filed under `text` or one of its
    /// one-character deletions: every deletion neighbour of `text` and every token equal to
    /// it, some more than once, and others besides. A caller keeps those for which
    /// `self.is_near(id, text)` holds, after its own cheaper tests.
    fn for_each_near_candidate(&self, text: &str, mut visit: impl FnMut(u32)) {
        // Deletion neighbours differ in length by one at most: a text of 2 letters or fewer
        // has no neighbour among the long tokens, one of 5 or more none among the short.
        let long = text.len() + 1 >= MIN_FUZZY_TOKEN_LEN;
        let short = text.len() <= MIN_FUZZY_TOKEN_LEN;
        for_each_deletion_key(text, |key| {
            let long = if long {
                self.deletion_neighbours(key)
            } else {
                &[]
            };
            let short = if short {
                self.short_deletion_neighbours.get(key)
            } else {
                &[]
            };
            for &id in long.iter().chain(short) {
                visit(id);
            }
        });
    }

    /// Whether vocabulary token `id` is a deletion neighbour of `text` or equal to it.
    #[inline]
    fn is_near(&self, id: u32, text: &[u8]) -> bool {
        are_deletion_neighbours(self.vocabulary.text_bytes(id), text)
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
        // the query side (at INITIAL_SIMILARITY, or at the similarity of a compound the
        // initial joins into with its neighbour, if higher), and do not bound the candidate
        // side at all.
        let initial_credit: f32 = query
            .tokens
            .iter()
            .filter(|t| t.text.len() == 1)
            .map(|t| {
                let best_compound = t.compound.iter().map(|&(_, s)| s).fold(0.0, f64::max);
                t.weight * INITIAL_SIMILARITY.max(best_compound) as f32
            })
            .sum();
        let query_initials = query.tokens.iter().filter(|t| t.text.len() == 1).count();
        // Score = (query coverage + candidate coverage) / 2 and candidate coverage ≤ 1, so a
        // name needs query coverage ≥ 2·min − 1.
        let needed_query_credit = ((2.0 * min_score - 1.0) as f32 * query_total).max(0.0);

        let order = self.admission_order(query, needed_query_credit - initial_credit);

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
                let position_bit = position_bit(position);
                weight_left -= query_token.weight;
                // Names holding a pair this token splits into, found among the names of the
                // pair's rarer token, credited with both tokens' weight (names with an
                // initial admitted, as below).
                for pair in query_token.pairs.iter() {
                    let similarity = pair.similarity as f32;
                    let query_gain = query_token.weight * similarity;
                    let candidate_gain = pair.candidate_weight * similarity;
                    let anchor = self.rarer(pair.left, pair.right);
                    let holders = self.postings(anchor).iter();
                    for &name_id in holders.chain(self.initial_postings(anchor)) {
                        let name = &self.names[name_id as usize];
                        let may_add = may_add_names || name.has_initial;
                        if (may_add || scratch.is_touched(name_id))
                            && self
                                .name_tokens(name)
                                .windows(2)
                                .any(|w| w == [pair.left, pair.right])
                        {
                            scratch.credit(
                                name_id,
                                query_gain,
                                candidate_gain,
                                may_add,
                                position_bit,
                            );
                        }
                    }
                }
                let reached = query_token
                    .similar
                    .iter()
                    .map(|reach| (reach.token, reach.similarity))
                    .chain(query_token.compound.iter().copied());
                for (token_id, similarity) in reached {
                    let similarity = similarity as f32;
                    let query_gain = query_token.weight * similarity;
                    let candidate_gain = self.vocabulary.weight(token_id) * similarity;
                    let posting = self.postings(token_id);
                    // Names with an initial may gain from any query token: always admitted.
                    for &name_id in self.initial_postings(token_id) {
                        scratch.credit(name_id, query_gain, candidate_gain, true, position_bit);
                    }
                    if may_add_names || posting.len() < scratch.touched.len() * 4 {
                        for &name_id in posting {
                            scratch.credit(
                                name_id,
                                query_gain,
                                candidate_gain,
                                may_add_names,
                                position_bit,
                            );
                        }
                    } else {
                        for slot in 0..scratch.touched.len() {
                            let name_id = scratch.touched[slot];
                            let name = &self.names[name_id as usize];
                            if !name.has_initial && self.name_tokens(name).contains(&token_id) {
                                scratch.credit(
                                    name_id,
                                    query_gain,
                                    candidate_gain,
                                    false,
                                    position_bit,
                                );
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
                let (query_credit, candidate_credit, credited_positions) = scratch.credits(name_id);
                if name.has_initial
                    && !self.initial_name_may_reach(
                        &query_shape,
                        name,
                        (query_credit, candidate_credit, credited_positions),
                        min_score - INITIAL_BOUND_SLACK,
                    )
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
                candidate_views.extend(self.name_tokens(name).iter().map(|&id| self.view(id)));
                let score = self.score_name(query, &query_views, name, &candidate_views, false);
                if score.score >= min_score {
                    visit(name_id, score);
                }
            }
        });
    }

    /// The order in which `search` takes the query's tokens (initials left out): first the
    /// tokens that admit new names, then the others, which only add to names already
    /// reached.
    ///
    /// Any order is correct: `search` stops admitting once the weight of the tokens left is
    /// below what a name needs, so a name that it never admitted cannot have the credit to
    /// pass. The order only decides how many names are admitted and bounded in vain. A token
    /// admits every name in the posting lists of every vocabulary token it reaches, so the
    /// admitting tokens are chosen to hold the fewest postings between them, among the sets
    /// whose leaving out leaves less than `needed` of weight: for "MICHAL KAMINSKI", where
    /// a name needs both, KAMINSKI's few postings rather than the thousands that MICHAL's
    /// near spellings (MICHAEL, MICHEL, …) reach.
    fn admission_order(&self, query: &PreparedQuery, needed: f32) -> Vec<usize> {
        let mut tokens: Vec<(usize, f32, usize)> = query
            .tokens
            .iter()
            .enumerate()
            .filter(|(_, token)| token.text.len() > 1)
            .map(|(position, token)| {
                let postings: usize = token
                    .similar
                    .iter()
                    .map(|reach| reach.token)
                    .chain(token.compound.iter().map(|&(id, _)| id))
                    .map(|id| self.postings(id).len())
                    .sum::<usize>()
                    + token
                        .pairs
                        .iter()
                        .map(|pair| self.posting_count(self.rarer(pair.left, pair.right)))
                        .sum::<usize>();
                (position, token.weight, postings)
            })
            .collect();
        let total_weight: f32 = tokens.iter().map(|&(_, weight, _)| weight).sum();
        // Whether each of `tokens` admits.
        let admitting: Vec<bool> = if tokens.len() <= MAX_EXACT_ADMISSION_TOKENS {
            let set = cheapest_admitting_set(&tokens, total_weight, needed);
            (0..tokens.len())
                .map(|index| set & (1 << index) != 0)
                .collect()
        } else {
            // Rare long queries (any number of tokens): the cheapest postings per unit of
            // weight first, until the weight left out is below `needed`.
            tokens.sort_by(|a, b| (a.2 as f32 * b.1).total_cmp(&(b.2 as f32 * a.1)));
            let mut left = total_weight;
            tokens
                .iter()
                .map(|&(_, weight, _)| {
                    let admits = left >= needed;
                    left -= weight;
                    admits
                })
                .collect()
        };
        // The admitting tokens, fewest postings first (should admission stop early, it
        // stops before the largest lists), then the rest, heaviest first as before.
        let (mut first, mut rest): (Vec<_>, Vec<_>) = tokens
            .iter()
            .enumerate()
            .partition(|&(index, _)| admitting[index]);
        first.sort_by_key(|&(_, &(position, _, postings))| (postings, position));
        rest.sort_by(|(_, a), (_, b)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        first
            .into_iter()
            .chain(rest)
            .map(|(_, &(position, _, _))| position)
            .collect()
    }

    /// The name's tokens, or `None` when the bounds below do not hold for it (`is_boundable`).
    fn boundable_tokens(&self, query: &QueryShape, name: &IndexedName) -> Option<&[u32]> {
        is_boundable(query, name).then(|| self.name_tokens(name))
    }

    /// Whether a name with an initial may reach `floor`, by three upper bounds of its full
    /// score, cheapest and loosest first, each ruling out most of the names that pass the one
    /// before (for the 100k mixed feed, 72%, 17% and 10% of the names with initials the
    /// search reaches, measured before `QueryShape::reachable` counted credited positions):
    ///
    /// 1. the query side of the bound, with the candidate side taken as fully covered: it
    ///    reads nothing but the name (its first letters), not its tokens or the vocabulary;
    /// 2. [`NameIndex::initial_name_quick_bound`];
    /// 3. [`NameIndex::initial_name_bound`].
    fn initial_name_may_reach(
        &self,
        query: &QueryShape,
        name: &IndexedName,
        (query_credit, candidate_credit, credited_positions): (f32, f32, u32),
        floor: f64,
    ) -> bool {
        let Some(tokens) = self.boundable_tokens(query, name) else {
            return true;
        };
        let query_side = query.reachable(name.first_letters, query_credit, credited_positions);
        if mean_bound(query_side, (1.0, 1.0)) < floor {
            return false;
        }
        if self.initial_name_quick_bound(query, tokens, query_side, candidate_credit) < floor {
            return false;
        }
        self.initial_name_bound(query, name, query_credit, candidate_credit) >= floor
    }

    /// A cheaper and looser bound than [`NameIndex::initial_name_bound`], which it comes
    /// before: every pair that the neighbour lists do not hold (initials, compounds) needs a
    /// query token and a candidate token with the same first letter, and a compound also
    /// credits the token after such a one. Any token that could be in such a pair is counted
    /// as fully aligned. `query_side` is the query's side of it (`QueryShape::reachable`).
    fn initial_name_quick_bound(
        &self,
        query: &QueryShape,
        name_tokens: &[u32],
        query_side: (f64, f64),
        candidate_credit: f32,
    ) -> f64 {
        let mut candidate_total = 0.0f64;
        let mut candidate_extra = 0.0f64;
        let mut previous_shared = false;
        let query_letters = query.letters.all();
        for &id in name_tokens {
            let weight = self.vocabulary.weight(id) as f64;
            candidate_total += weight;
            let shared = query_letters & letter_bit(self.vocabulary.first_byte(id)) != 0;
            if shared || (query.compounds && previous_shared) {
                candidate_extra += weight;
            }
            previous_shared = shared;
        }
        mean_bound(
            query_side,
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
        let Some(tokens) = self.boundable_tokens(query, name) else {
            return 1.0;
        };
        // The name's tokens as (first byte, length), read from the vocabulary once: the
        // loops below visit every pair of tokens.
        let mut shapes = [(0u8, 0usize); MAX_ALIGNED_TOKENS];
        let shapes = &mut shapes[..tokens.len()];
        for (shape, &id) in shapes.iter_mut().zip(tokens) {
            *shape = (self.vocabulary.first_byte(id), self.vocabulary.text_len(id));
        }
        let shapes: &[(u8, usize)] = shapes;
        let name_letters = InitialLetters::of(shapes.iter().copied());
        // Tokens that may take part in a compound pair, as bit sets.
        let (mut query_compound, mut candidate_compound) = (0u32, 0u32);
        if query.compounds {
            for (i, &(first, len)) in query.tokens.iter().enumerate() {
                for (j, &(candidate_first, candidate_len)) in shapes.iter().enumerate() {
                    if candidate_first != first {
                        continue;
                    }
                    // The query token against this candidate token and the next, joined.
                    if len >= 4 && j + 1 < shapes.len() {
                        let joined = candidate_len + shapes[j + 1].1;
                        if joined.abs_diff(len) <= 2 {
                            query_compound |= 1 << i;
                            candidate_compound |= 0b11 << j;
                        }
                    }
                    // This candidate token against the query token and the next, joined.
                    if candidate_len >= 4 && i + 1 < query.tokens.len() {
                        let joined = len + query.tokens[i + 1].1;
                        if joined.abs_diff(candidate_len) <= 2 {
                            candidate_compound |= 1 << j;
                            query_compound |= 0b11 << i;
                        }
                    }
                }
            }
        }
        let mut query_total = 0.0f64;
        let mut query_extra = 0.0f64;
        for (i, &shape) in query.tokens.iter().enumerate() {
            let weight = query.weights[i] as f64;
            query_total += weight;
            let best = if query_compound & (1 << i) != 0 {
                1.0
            } else {
                initial_credit(shape, name_letters)
            };
            query_extra += weight * best;
        }
        let mut candidate_total = 0.0f64;
        let mut candidate_extra = 0.0f64;
        for (j, (&id, &shape)) in tokens.iter().zip(shapes).enumerate() {
            let weight = self.vocabulary.weight(id) as f64;
            candidate_total += weight;
            let best = if candidate_compound & (1 << j) != 0 {
                1.0
            } else {
                initial_credit(shape, query.letters)
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
            candidate_views.extend(self.name_tokens(name).iter().map(|&id| self.view(id)));
            let score = score_tokens(&query_views, &candidate_views, false);
            if score.score >= min_score {
                visit(name_id as u32, score);
            }
        }
    }

    /// Scores `query` against one name, with the explanation.
    pub(crate) fn explain(&self, query: &PreparedQuery, name_id: u32) -> NameScore {
        let name = &self.names[name_id as usize];
        let candidate_views: Vec<TokenView> = self
            .name_tokens(name)
            .iter()
            .map(|&id| self.view(id))
            .collect();
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
        let candidate_tokens = self.name_tokens(name);
        align_tokens(
            query_views,
            candidate_views,
            explain,
            query.compound_possible,
            |i, j| {
                let (query_token, candidate_token) = (&query.tokens[i], candidate_tokens[j]);
                if query_token.text.len() == 1 || self.vocabulary.text(candidate_token).len() == 1 {
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
        let token = &self.vocabulary.tokens[token_id as usize];
        TokenView {
            text: self.vocabulary.str(token.text),
            weight: token.weight,
            variant: self.vocabulary.str(token.variant),
        }
    }

    /// Heap bytes held by the index (for the scale benchmark): the capacity of every array
    /// and hash table, without the allocator's own overhead (a few dozen allocations).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.vocabulary.heap_bytes()
            + vec_bytes(&self.names)
            + vec_bytes(&self.name_tokens)
            + self.postings.heap_bytes()
            + self.initial_postings.heap_bytes()
            + self.deletion_neighbours.heap_bytes()
            + self.short_deletion_neighbours.heap_bytes()
            + self.followers.heap_bytes()
            + self.variant_neighbours.heap_bytes()
    }
}

impl Vocabulary {
    fn len(&self) -> usize {
        self.tokens.len()
    }

    /// The id of the token spelled `text`, if the lists have it.
    fn id(&self, text: &str) -> Option<u32> {
        match self.ids.get(&xxh3_64(text.as_bytes())) {
            Some(&id) if self.text(id) == text => Some(id),
            Some(_) => self.colliding_ids.get(text).copied(),
            None => None,
        }
    }

    /// The id of the token spelled `text`, added if new; and whether it was.
    fn intern(&mut self, text: &str) -> (u32, bool) {
        if let Some(id) = self.id(text) {
            return (id, false);
        }
        let id = to_u32(self.tokens.len());
        match self.ids.entry(xxh3_64(text.as_bytes())) {
            Entry::Vacant(slot) => {
                slot.insert(id);
            }
            Entry::Occupied(_) => {
                self.colliding_ids.insert(text.into(), id);
            }
        }
        let text_span = self.push_str(text);
        let variant_span = self.push_str(&variant_key(text));
        self.tokens.push(VocabularyToken {
            text: text_span,
            variant: variant_span,
            weight: 0.0,
        });
        self.first_bytes.push(text.as_bytes()[0]);
        (id, true)
    }

    fn push_str(&mut self, text: &str) -> Span {
        let start = to_u32(self.strings.len());
        self.strings.push_str(text);
        Span {
            start,
            end: to_u32(self.strings.len()),
        }
    }

    #[inline]
    fn str(&self, span: Span) -> &str {
        &self.strings[span.start as usize..span.end as usize]
    }

    #[inline]
    fn text(&self, id: u32) -> &str {
        self.str(self.tokens[id as usize].text)
    }

    /// A token's text as bytes: for the neighbour searches' inner loops, which compare bytes
    /// and so need not pay for the char-boundary checks of slicing a `str`.
    #[inline]
    fn text_bytes(&self, id: u32) -> &[u8] {
        let span = self.tokens[id as usize].text;
        &self.strings.as_bytes()[span.start as usize..span.end as usize]
    }

    /// The length of a token's text in bytes, without slicing the arena.
    #[inline]
    fn text_len(&self, id: u32) -> usize {
        let span = self.tokens[id as usize].text;
        (span.end - span.start) as usize
    }

    #[inline]
    fn variant(&self, id: u32) -> &str {
        self.str(self.tokens[id as usize].variant)
    }

    #[inline]
    fn weight(&self, id: u32) -> f32 {
        self.tokens[id as usize].weight
    }

    #[inline]
    fn first_byte(&self, id: u32) -> u8 {
        self.first_bytes[id as usize]
    }

    /// Releases the spare capacity the vocabulary grew with (it is complete once built).
    fn shrink_to_fit(&mut self) {
        self.tokens.shrink_to_fit();
        self.first_bytes.shrink_to_fit();
        self.strings.shrink_to_fit();
        self.ids.shrink_to_fit();
        self.colliding_ids.shrink_to_fit();
    }

    fn heap_bytes(&self) -> usize {
        vec_bytes(&self.tokens)
            + vec_bytes(&self.first_bytes)
            + self.strings.capacity()
            + map_bytes(&self.ids)
            + map_bytes(&self.colliding_ids)
            + self
                .colliding_ids
                .keys()
                .map(|text| text.len())
                .sum::<usize>()
    }
}

impl FlatLists {
    /// List `i`.
    #[inline]
    fn get(&self, i: u32) -> &[u32] {
        let i = i as usize;
        &self.ids[self.starts[i] as usize..self.starts[i + 1] as usize]
    }

    /// Whether list `i` is not empty (cheaper than `get`: no slice to build).
    #[inline]
    fn has_any(&self, i: u32) -> bool {
        let i = i as usize;
        self.starts[i + 1] != self.starts[i]
    }

    /// Number of lists.
    fn len(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    fn heap_bytes(&self) -> usize {
        vec_bytes(&self.starts) + vec_bytes(&self.ids)
    }
}

/// Fills [`FlatLists`] whose lengths are known beforehand: each list's ids are pushed in the
/// order they are to be read, the lists in any order.
struct FlatListsFiller {
    lists: FlatLists,
    /// List → where its next id goes in `lists.ids`.
    next: Vec<u32>,
}

impl FlatListsFiller {
    fn new(lengths: &[u32]) -> Self {
        let mut starts: Vec<u32> = Vec::with_capacity(lengths.len() + 1);
        let mut total = 0u32;
        starts.push(0);
        for &length in lengths {
            total = total
                .checked_add(length)
                .expect("index lists hold fewer than 2^32 ids");
            starts.push(total);
        }
        FlatListsFiller {
            next: starts[..lengths.len()].to_vec(),
            lists: FlatLists {
                starts,
                ids: vec![0; total as usize],
            },
        }
    }

    #[inline]
    fn push(&mut self, list: u32, id: u32) {
        let next = &mut self.next[list as usize];
        debug_assert!(
            *next < self.lists.starts[list as usize + 1],
            "list {list} overfilled"
        );
        self.lists.ids[*next as usize] = id;
        *next += 1;
    }

    fn finish(self) -> FlatLists {
        debug_assert!(
            self.next == self.lists.starts[1..],
            "every list filled to the length it was given"
        );
        self.lists
    }
}

impl KeyedLists {
    /// From (key, id) pairs: each key's list holds its ids ascending, each once.
    fn from_pairs(mut pairs: Vec<(u64, u32)>) -> Self {
        pairs.sort_unstable();
        pairs.dedup();
        let key_count = pairs.chunk_by(|a, b| a.0 == b.0).count();
        let mut ranges: FxHashMap<u64, (u32, u32)> =
            FxHashMap::with_capacity_and_hasher(key_count, Default::default());
        let mut ids: Vec<u32> = Vec::with_capacity(pairs.len());
        for group in pairs.chunk_by(|a, b| a.0 == b.0) {
            let start = to_u32(ids.len());
            ids.extend(group.iter().map(|&(_, id)| id));
            ranges.insert(group[0].0, (start, to_u32(ids.len())));
        }
        KeyedLists { ranges, ids }
    }

    /// The ids filed under `key` (none if it has none).
    #[inline]
    fn get(&self, key: u64) -> &[u32] {
        match self.ranges.get(&key) {
            Some(&(start, end)) => &self.ids[start as usize..end as usize],
            None => &[],
        }
    }

    fn heap_bytes(&self) -> usize {
        map_bytes(&self.ranges) + vec_bytes(&self.ids)
    }
}

/// `ids` without repeats, ascending, into `out`.
fn distinct_ids(ids: &[u32], out: &mut Vec<u32>) {
    out.clear();
    out.extend_from_slice(ids);
    out.sort_unstable();
    out.dedup();
}

/// A length or offset as the index stores it.
fn to_u32(n: usize) -> u32 {
    u32::try_from(n).expect("index sizes fit in u32")
}

/// Heap bytes of a vector's buffer (its capacity, not its length).
fn vec_bytes<T>(vector: &Vec<T>) -> usize {
    vector.capacity() * std::mem::size_of::<T>()
}

/// Heap bytes of a hash table (std's SwissTable): a power-of-two number of buckets, at most
/// 7/8 full (all but one full below 8), each an entry and a control byte, plus a group of
/// trailing control bytes.
pub(super) fn map_bytes<K, V, S>(map: &std::collections::HashMap<K, V, S>) -> usize {
    if map.capacity() == 0 {
        return 0;
    }
    let buckets = if map.capacity() < 8 {
        (map.capacity() + 1).next_power_of_two()
    } else {
        (map.capacity() * 8 / 7).next_power_of_two()
    };
    buckets * (std::mem::size_of::<(K, V)>() + 1) + 16
}

/// Slack under the caller's floor for [`NameIndex::initial_name_bound`]: covers the rounding
/// of credits summed in `f32` (the aligner sums in `f64`).
const INITIAL_BOUND_SLACK: f64 = 1e-4;

/// Queries of at most this many tokens (initials aside) get the admitting set of fewest
/// postings by trying every subset (at most 256); longer ones, a greedy choice.
const MAX_EXACT_ADMISSION_TOKENS: usize = 8;

/// Of `tokens` (position, weight, postings), the subset, as a bit set over their indices,
/// with the fewest postings between them such that the weight of the tokens outside it is
/// below `needed`: every name that can reach `needed` holds one of them. When even all
/// tokens leave nothing out (needed ≤ 0), all of them.
fn cheapest_admitting_set(tokens: &[(usize, f32, usize)], total_weight: f32, needed: f32) -> u64 {
    debug_assert!(tokens.len() <= MAX_EXACT_ADMISSION_TOKENS);
    let all = (1usize << tokens.len()) - 1;
    // Each set's weight and postings are those of the set without its highest token, plus
    // that token's: one addition per set instead of one per token. The weights are summed
    // in token order all the same, so each is the same `f32` as a sum over the set's tokens.
    let mut set_weights = [0.0f32; 1 << MAX_EXACT_ADMISSION_TOKENS];
    let mut set_postings = [0usize; 1 << MAX_EXACT_ADMISSION_TOKENS];
    let mut best = (usize::MAX, all);
    for set in 0..=all {
        if set != 0 {
            let highest = usize::BITS - 1 - set.leading_zeros();
            let rest = set & !(1 << highest);
            let (_, token_weight, token_postings) = tokens[highest as usize];
            set_weights[set] = set_weights[rest] + token_weight;
            set_postings[set] = set_postings[rest] + token_postings;
        }
        if total_weight - set_weights[set] < needed && set_postings[set] < best.0 {
            best = (set_postings[set], set);
        }
    }
    best.1 as u64
}

/// Whether the bounds of names with initials hold for `name`: not when the query or the
/// name has more tokens than the aligner takes, since it truncates such names, which changes
/// its totals.
fn is_boundable(query: &QueryShape, name: &IndexedName) -> bool {
    let name_token_count = (name.token_end - name.token_start) as usize;
    query.tokens.len() <= MAX_ALIGNED_TOKENS && name_token_count <= MAX_ALIGNED_TOKENS
}

/// What the bound for names with initials needs of the query: first byte and length of each
/// token, its weight, and whether the aligner will look for compounds.
struct QueryShape {
    tokens: Vec<(u8, usize)>,
    weights: Vec<f32>,
    compounds: bool,
    /// `letter_bit` of every token's first byte, for initials and for longer tokens apart
    /// (`initial_credit`); `InitialLetters::all` for both.
    letters: InitialLetters,
}

/// The bit of a query token's position among the credits of a name (`CreditSlot::positions`):
/// none past the 32nd, where the bounds that read them do not apply (`is_boundable`).
#[inline]
fn position_bit(position: usize) -> u32 {
    1u32.checked_shl(position as u32).unwrap_or(0)
}

/// A bit per upper-case letter and digit (tokens hold nothing else): the low six bits of the
/// byte tell them apart.
#[inline]
fn letter_bit(byte: u8) -> u64 {
    1 << (byte & 63)
}

impl QueryShape {
    /// The query side of the bounds of a name with an initial whose tokens have the first
    /// letters `name_letters` (`letter_bit`s): (the most coverage the name can give the query,
    /// the query's total weight).
    ///
    /// A query token adds to the coverage only if it aligns with a name token, once at most
    /// and for at most its weight. It can align only through a pair the neighbour lists hold
    /// (then it credited the name: its bit is in `credited_positions`, see `position_bit`),
    /// or through a pair they do not hold, an initial or a compound, which needs a name token
    /// with the same first letter (with compounds, also the token after one). So the
    /// coverage is at most the weight of the tokens that credited the name or share a first
    /// letter with it; and at most the credit given plus the weight of the latter, which is
    /// lower when the credited tokens matched poorly.
    fn reachable(
        &self,
        name_letters: u64,
        query_credit: f32,
        credited_positions: u32,
    ) -> (f64, f64) {
        let mut query_total = 0.0f64;
        let mut query_extra = 0.0f64;
        let mut aligned_at_most = 0.0f64;
        let mut previous_shared = false;
        for (position, (&(first, _), &weight)) in self.tokens.iter().zip(&self.weights).enumerate()
        {
            let weight = weight as f64;
            query_total += weight;
            let shared = name_letters & letter_bit(first) != 0;
            let unlisted = shared || (self.compounds && previous_shared);
            if unlisted {
                query_extra += weight;
            }
            if unlisted || credited_positions & position_bit(position) != 0 {
                aligned_at_most += weight;
            }
            previous_shared = shared;
        }
        let reachable = (query_credit as f64 + query_extra).min(aligned_at_most);
        (reachable, query_total)
    }

    fn new(query: &PreparedQuery) -> Self {
        let tokens: Vec<(u8, usize)> = query
            .tokens
            .iter()
            .map(|t| (t.text.as_bytes()[0], t.text.len()))
            .collect();
        QueryShape {
            letters: InitialLetters::of(tokens.iter().copied()),
            tokens,
            weights: query.tokens.iter().map(|t| t.weight).collect(),
            compounds: query.compound_possible,
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
    fn credit(
        &mut self,
        name_id: u32,
        query_gain: f32,
        candidate_gain: f32,
        may_add: bool,
        position_bit: u32,
    ) {
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
                positions: 0,
            };
            self.touched.push(name_id);
        }
        slot.query += query_gain;
        slot.candidate += candidate_gain;
        slot.positions |= position_bit;
    }

    /// Whether the search has credited the name already.
    #[inline]
    fn is_touched(&self, name_id: u32) -> bool {
        self.slots[name_id as usize].stamp == self.epoch
    }

    /// The credits of a touched name: (query side, candidate side, the `position_bit`s of
    /// the query tokens that gave them).
    #[inline]
    fn credits(&self, name_id: u32) -> (f32, f32, u32) {
        let slot = &self.slots[name_id as usize];
        (slot.query, slot.candidate, slot.positions)
    }
}

/// Calls `f` with the hash of `token` and of each of its one-character deletions.
fn for_each_deletion_key(token: &str, mut f: impl FnMut(u64)) {
    let bytes = token.as_bytes();
    f(xxh3_64(bytes));
    let Some(without_first) = bytes.get(1..) else {
        return;
    };
    // The deletions in order, each from the one before by putting back one byte: the
    // deletion of byte `skip` differs from that of `skip - 1` at position `skip - 1` only.
    // On the stack for the tokens of any real name.
    let mut stack = [0u8; 64];
    let mut heap: Vec<u8> = Vec::new();
    let deletion: &mut [u8] = if without_first.len() <= stack.len() {
        &mut stack[..without_first.len()]
    } else {
        heap.extend_from_slice(without_first);
        &mut heap
    };
    deletion.copy_from_slice(without_first);
    f(xxh3_64(deletion));
    for skip in 1..bytes.len() {
        deletion[skip - 1] = bytes[skip - 1];
        f(xxh3_64(deletion));
    }
}

/// The first letters of one side's tokens, as `letter_bit`s: of its single-letter tokens
/// (initials) and of its longer ones. All that [`initial_credit`] reads of the other side,
/// so that it does not loop over that side's tokens for each token of this one.
#[derive(Debug, Clone, Copy, Default)]
struct InitialLetters {
    initials: u64,
    words: u64,
}

impl InitialLetters {
    fn of(tokens: impl IntoIterator<Item = (u8, usize)>) -> Self {
        tokens
            .into_iter()
            .fold(InitialLetters::default(), |mut letters, (first, len)| {
                if len == 1 {
                    letters.initials |= letter_bit(first);
                } else {
                    letters.words |= letter_bit(first);
                }
                letters
            })
    }

    /// The first letters of all the tokens, initials or not.
    fn all(self) -> u64 {
        self.initials | self.words
    }
}

/// The most an unmatched token, given as (first byte, length), can still be credited against
/// the other side's tokens: 1 for the same single letter, [`INITIAL_SIMILARITY`] for an
/// initial against a word of that initial, 0 otherwise. (Only letters and digits, which
/// `letter_bit` tells apart, start a token; a byte sharing another's bit could only raise the
/// credit, which keeps it a bound.)
fn initial_credit(token: (u8, usize), others: InitialLetters) -> f64 {
    let (first, len) = token;
    let bit = letter_bit(first);
    if others.initials & bit != 0 {
        return if len == 1 { 1.0 } else { INITIAL_SIMILARITY };
    }
    if len == 1 && others.words & bit != 0 {
        INITIAL_SIMILARITY
    } else {
        0.0
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::normalize::tokenize;

    /// An index over `names`, one entry each.
    fn index_of(names: &[&str]) -> NameIndex {
        NameIndex::build(
            names
                .iter()
                .enumerate()
                .map(|(entry, name)| (entry as u32, 0, tokenize(name)))
                .collect(),
        )
    }

    /// The names `search` or `search_exhaustive` visits, with their scores.
    fn visited(index: &NameIndex, name: &str, exhaustive: bool) -> Vec<(u32, f64)> {
        let query = index.prepare(&tokenize(name));
        let mut found = Vec::new();
        let visit = |name_id, score: NameScore| found.push((name_id, score.score));
        if exhaustive {
            index.search_exhaustive(&query, 0.8, visit);
        } else {
            index.search(&query, 0.8, visit);
        }
        found.sort_by_key(|&(name_id, _)| name_id);
        found
    }

    #[test]
    fn a_token_that_credited_a_name_and_shares_its_first_letter_counts_once() {
        let index = index_of(&["A JOHN DOE", "PETER SMITH", "JOHN SMITH"]);
        let query = index.prepare(&tokenize("JOHN SMITH"));
        let shape = QueryShape::new(&query);
        assert!(
            !shape.compounds,
            "no compound here: no token after a shared one counts"
        );
        let (john, smith) = (query.tokens[0].weight as f64, query.tokens[1].weight as f64);
        let name = index.name(0);
        assert!(name.has_initial);
        // JOHN credited "A JOHN DOE" in full; of the query's first letters, only J is among
        // the name's. At most JOHN's weight aligns, not the credit and JOHN's weight again.
        let credited = query.tokens[0].weight;
        let (reachable, total) = shape.reachable(name.first_letters, credited, position_bit(0));
        assert!(
            (reachable - john).abs() < 1e-6,
            "{reachable} against {john}"
        );
        assert!((total - (john + smith)).abs() < 1e-6);
        // A token that credited the name without sharing a first letter counts too.
        let (reachable, _) = shape.reachable(name.first_letters, credited, position_bit(1));
        assert!((reachable - (john + smith).min(credited as f64 + john)).abs() < 1e-6);
        // With no position recorded, the lower of the credit given plus the shared weight
        // and the shared weight alone: the shared weight.
        let (reachable, _) = shape.reachable(name.first_letters, 0.5, 0);
        assert!((reachable - john.min(0.5 + john)).abs() < 1e-6);
    }

    #[test]
    fn deletion_keys_are_the_token_and_each_deletion() {
        for token in ["", "A", "AB", "SMITH", &"X".repeat(70)] {
            let mut keys = Vec::new();
            for_each_deletion_key(token, |key| keys.push(key));
            let mut expected = vec![xxh3_64(token.as_bytes())];
            for skip in 0..token.len() {
                let deleted = [&token[..skip], &token[skip + 1..]].concat();
                expected.push(xxh3_64(deleted.as_bytes()));
            }
            assert_eq!(keys, expected, "{token}");
        }
    }

    /// `split_reaches` against its definition: every adjacent pair of name tokens whose
    /// first token starts like the query token and that, joined, is a deletion neighbour of
    /// it. The names mix short tokens (which only the short neighbour lists hold), tokens no
    /// other follows (which the search skips as first halves) and the same first token with
    /// several followers.
    #[test]
    fn split_reaches_are_exactly_the_adjacent_pairs_that_join_near_the_token() {
        let names = [
            "AERO CARIBBEAN",
            "AERO CARIBE SA",
            "AL RAHMAN TRADING",
            "ABDUL RAHMAN",
            "ABD AL RAHMAN",
            "KIM IL SUNG",
            "BIN LADEN",
            "BRIAN BAKER",
            "BRI ANXY",
            "B RIANXY",
            "TRANS CARIBBEAN AERO",
        ];
        let index = index_of(&names);
        let pairs: Vec<(u32, u32)> = {
            let mut pairs: Vec<(u32, u32)> = names
                .iter()
                .flat_map(|name| {
                    let ids: Vec<u32> = tokenize(name)
                        .iter()
                        .map(|token| index.vocabulary.id(&token.text).unwrap())
                        .collect();
                    ids.windows(2)
                        .map(|pair| (pair[0], pair[1]))
                        .collect::<Vec<_>>()
                })
                .collect();
            pairs.sort_unstable();
            pairs.dedup();
            pairs
        };
        let queries = [
            "AEROCARIBBEAN",
            "AEROCARIBEAN",
            "AROCARIBBEAN",
            "AEROCARIBBEANS",
            "AEORCARIBBEAN",
            "AEROCRAIBBEAN",
            "AERCOARIBBEAN",
            "ALRAHMAN",
            "ALRAHMANN",
            "ABDULRAHMAN",
            "ABDULRAHMN",
            "ABDALRAHMAN",
            "KIMIL",
            "KIMILL",
            "ILSUNG",
            "BINLADEN",
            "BINLADN",
            "BRIANXY",
            "BRIANBAKER",
            "BRAINBAKER",
            "CARIBBEANAERO",
            "CARIBBEANAEROS",
            "SUNG",
            "XYZ",
        ];
        for query in queries {
            let bytes = query.as_bytes();
            let mut expected: Vec<(u32, u32)> = pairs
                .iter()
                .copied()
                .filter(|&(left, right)| {
                    let joined =
                        [index.vocabulary.text(left), index.vocabulary.text(right)].concat();
                    index.vocabulary.first_byte(left) == bytes[0]
                        && are_deletion_neighbours(bytes, joined.as_bytes())
                })
                .collect();
            let mut found: Vec<(u32, u32)> = index
                .split_reaches(query)
                .iter()
                .map(|reach| (reach.left, reach.right))
                .collect();
            expected.sort_unstable();
            found.sort_unstable();
            assert_eq!(found, expected, "{query}");
        }
        // The queries above reach pairs through first halves with an edit, not only exact ones.
        let reached = |query: &str| index.split_reaches(query).len();
        assert!(reached("AEORCARIBBEAN") > 0 && reached("ABDULRAHMN") > 0);
    }

    /// `initial_credit` from the other side's first letters against its definition, the
    /// best credit over the other side's tokens one by one.
    #[test]
    fn initial_credit_from_letters_agrees_with_every_pair() {
        fn pairwise(token: (u8, usize), others: &[(u8, usize)]) -> f64 {
            let (first, len) = token;
            let mut best = 0.0f64;
            for &(other_first, other_len) in others {
                if other_first == first && (len == 1 || other_len == 1) {
                    let credit = if len == other_len {
                        1.0
                    } else {
                        INITIAL_SIMILARITY
                    };
                    best = best.max(credit);
                }
            }
            best
        }
        let shapes: Vec<(u8, usize)> = [b'A', b'B', b'Z', b'0', b'9']
            .iter()
            .flat_map(|&first| [1usize, 2, 7].map(|len| (first, len)))
            .collect();
        let mut others: Vec<Vec<(u8, usize)>> = vec![vec![]];
        for &a in &shapes {
            others.push(vec![a]);
            for &b in &shapes {
                others.push(vec![a, b]);
            }
        }
        let mut credited = 0;
        for &token in &shapes {
            for side in &others {
                let expected = pairwise(token, side);
                let found = initial_credit(token, InitialLetters::of(side.iter().copied()));
                assert_eq!(found, expected, "{token:?} against {side:?}");
                credited += usize::from(expected > 0.0);
            }
        }
        assert!(
            credited > 100,
            "the cases include credited ones: {credited}"
        );
    }

    #[test]
    fn cheapest_admitting_set_minimises_postings_not_tokens() {
        // Either token alone leaves out less than `needed`: the one with fewer postings.
        let tokens = [(0, 10.0, 5_000), (1, 10.0, 10)];
        assert_eq!(cheapest_admitting_set(&tokens, 20.0, 13.0), 0b10);
        // One heavy token would do, but two light ones hold fewer postings.
        let tokens = [(0, 10.0, 5_000), (1, 5.0, 10), (2, 5.0, 100)];
        assert_eq!(cheapest_admitting_set(&tokens, 20.0, 12.0), 0b110);
        // A name may need nothing (needed ≤ 0): every token admits.
        assert_eq!(cheapest_admitting_set(&tokens, 20.0, 0.0), 0b111);
    }

    /// The incremental sums choose exactly the set that summing each set's tokens in order
    /// chooses, rounding included, for any number of tokens up to the limit.
    #[test]
    fn cheapest_admitting_set_agrees_with_summing_every_set() {
        fn summing_every_set(tokens: &[(usize, f32, usize)], total: f32, needed: f32) -> u64 {
            let all = (1u64 << tokens.len()) - 1;
            let mut best = (usize::MAX, all);
            for set in 0..=all {
                let (mut weight, mut postings) = (0.0f32, 0usize);
                for (index, &(_, token_weight, token_postings)) in tokens.iter().enumerate() {
                    if set & (1 << index) != 0 {
                        weight += token_weight;
                        postings += token_postings;
                    }
                }
                if total - weight < needed && postings < best.0 {
                    best = (postings, set);
                }
            }
            best.1
        }
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..2_000 {
            let count = 1 + round % MAX_EXACT_ADMISSION_TOKENS;
            let tokens: Vec<(usize, f32, usize)> = (0..count)
                .map(|position| {
                    let weight = (next() % 10_000) as f32 / 997.0;
                    // Few distinct posting counts, so that ties between sets are common.
                    let postings = (next() % 4) as usize * 100;
                    (position, weight, postings)
                })
                .collect();
            let total: f32 = tokens.iter().map(|&(_, weight, _)| weight).sum();
            let needed = total * (next() % 1_000) as f32 / 1_000.0;
            assert_eq!(
                cheapest_admitting_set(&tokens, total, needed),
                summing_every_set(&tokens, total, needed),
                "{tokens:?}, needed {needed}"
            );
        }
    }

    #[test]
    fn queries_of_any_length_and_token_size_agree_with_the_exhaustive_scan() {
        let index = index_of(&["ABCD EFGH", "W01X W02X", "N NNNN"]);
        // More tokens than a 64-bit set holds, and one far longer than any in the lists.
        let many: Vec<String> = (0..70).map(|i| format!("W{i:02}X")).collect();
        let long_token = "N".repeat(1000);
        for name in [
            many.join(" "),
            long_token.clone(),
            format!("{long_token} ABCD"),
        ] {
            assert_eq!(
                visited(&index, &name, false),
                visited(&index, &name, true),
                "{}",
                &name[..20]
            );
        }
    }

    #[test]
    fn the_token_with_fewer_postings_admits() {
        // MICHAL is not in the vocabulary but reaches MICHAEL, held by many names; KAMINSKI
        // is held by one. A name needs both, so KAMINSKI alone admits.
        let mut names: Vec<String> = (0..40)
            .map(|i| format!("MICHAEL {}", ["SMITH", "JONES", "BROWN", "TAYLOR"][i % 4]))
            .collect();
        names.push("MICHAEL KAMINSKI".into());
        names.push("JAN KAMINSKI".into());
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let index = index_of(&names);
        let query = index.prepare(&tokenize("MICHAL KAMINSKI"));
        let total: f32 = query.tokens.iter().map(|t| t.weight).sum();
        let order = index.admission_order(&query, 0.6 * total);
        assert_eq!(order, [1, 0], "KAMINSKI (position 1) first");

        let indexed = visited(&index, "MICHAL KAMINSKI", false);
        assert_eq!(indexed, visited(&index, "MICHAL KAMINSKI", true));
        assert_eq!(indexed.len(), 1, "{indexed:?}");
        assert_eq!(names[indexed[0].0 as usize], "MICHAEL KAMINSKI");
    }

    #[test]
    fn search_agrees_with_the_exhaustive_scan_whatever_admits() {
        let index = index_of(&[
            "MICHAEL SMITH",
            "MICHAEL JONES",
            "MIKHAIL SMIRNOV",
            "J MICHAEL SMITH",
            "SMITH TRADING CO LTD",
            "GLOBAL SMITH TRADING",
            "ALBION ALBIONS LTD",
            "ALBION APPAREL LIMITED",
            "XAVIER LIWU",
            "ABCDEF HOLDINGS",
            "ABCXDEF",
            "ABC DEF HOLDINGS",
            "QRST UV TRADING",
            "WXY ZAB LMNOP",
            "L WU FANG",
            "MICHAEL SMITH SA",
        ]);
        for name in [
            "L Wu Xavier",
            "Xavier L Wu",
            "Xavier L. Wu Trading",
            "Abcx Def",
            "Abc Xdef",
            "Abcxdef Holdings",
            "Abxcdef Holdings",
            "Qrstxuv Trading",
            "Qrsuv Trading",
            "Wxyzab Lmnop",
            "Liwu Fang",
            "Smiths",
            "Michael Smiths",
            "Michal Smith",
            "Smith Michael",
            "M Smith",
            "Smith Trading Co",
            "Albion Apparel Ltd",
            "Albion Albion",
            "Mikhail Smirnov Trading",
        ] {
            assert_eq!(
                visited(&index, name, false),
                visited(&index, name, true),
                "{name}"
            );
        }
    }
}
