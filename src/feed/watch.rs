//! The watch list, seen from the feed: names to plant as hits (perturbed as a filer would
//! misspell them), and a guard that keeps clean traffic from being named as a listed party.

use std::collections::HashSet;

use screener_engine::matching::{token_texts, tokenize, TokenKind};

use super::rng::Rng;

/// How a planted watch-list name was altered before it was filed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Perturbation {
    /// Filed as listed.
    None,
    /// Two adjacent letters of one word swapped, or one letter replaced.
    Typo,
    /// Word order changed (`SURNAME, Given` → `Given SURNAME`, or the last word first).
    Reorder,
    /// Upper, lower or title case.
    Case,
}

impl Perturbation {
    pub fn as_str(self) -> &'static str {
        match self {
            Perturbation::None => "none",
            Perturbation::Typo => "typo",
            Perturbation::Reorder => "reorder",
            Perturbation::Case => "case",
        }
    }
}

/// Which party of a parcel carries a planted name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlantedParty {
    Shipper,
    Consignee,
}

/// A watch-list name planted in a parcel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchlistHit {
    pub party: PlantedParty,
    /// The name as it appears on the list.
    pub listed_name: String,
    /// The name as filed (after the perturbation).
    pub filed_name: String,
    pub perturbation: Perturbation,
}

/// The watch-list names, as the feed uses them.
pub(crate) struct WatchNames {
    names: Vec<String>,
    /// Indexes of names fit to plant: 1 to 6 words with letters, at most 80 characters.
    plantable: Vec<usize>,
    /// Every name as its sorted normalised tokens, for [`WatchNames::is_listed`].
    listed: HashSet<String>,
}

impl WatchNames {
    pub(crate) fn new(names: Vec<String>) -> Self {
        let mut listed = HashSet::with_capacity(names.len());
        let mut plantable = Vec::new();
        for (index, name) in names.iter().enumerate() {
            let key = token_key(name);
            if key.is_empty() {
                continue;
            }
            let words = name.split_whitespace().count();
            if (1..=6).contains(&words)
                && name.chars().count() <= 80
                && name.chars().filter(|c| c.is_alphabetic()).count() >= 4
            {
                plantable.push(index);
            }
            listed.insert(key);
        }
        WatchNames {
            names,
            plantable,
            listed,
        }
    }

    pub(crate) fn can_plant(&self) -> bool {
        !self.plantable.is_empty()
    }

    /// Whether `name` has exactly the tokens of a listed name, in any order.
    pub(crate) fn is_listed(&self, name: &str) -> bool {
        !self.listed.is_empty() && self.listed.contains(&token_key(name))
    }

    /// A listed name, perturbed or not, for the party it fits (entities as shipper,
    /// people as consignee).
    pub(crate) fn plant(&self, rng: &mut Rng) -> Option<WatchlistHit> {
        let index = *self.plantable.get(rng.index(self.plantable.len()))?;
        let listed_name = self.names.get(index)?.clone();
        let perturbation = match rng.below(10) {
            0..=3 => Perturbation::None,
            4..=5 => Perturbation::Typo,
            6..=7 => Perturbation::Reorder,
            _ => Perturbation::Case,
        };
        let filed_name = match perturbation {
            Perturbation::None => listed_name.clone(),
            Perturbation::Typo => typo(rng, &listed_name),
            Perturbation::Reorder => reorder(&listed_name),
            Perturbation::Case => change_case(rng, &listed_name),
        };
        // A perturbation that changed nothing (a one-word name reordered) is none.
        let perturbation = if filed_name == listed_name {
            Perturbation::None
        } else {
            perturbation
        };
        let party = if looks_like_entity(&listed_name) {
            PlantedParty::Shipper
        } else {
            PlantedParty::Consignee
        };
        Some(WatchlistHit {
            party,
            listed_name,
            filed_name,
            perturbation,
        })
    }
}

/// The normalised tokens of a name, sorted and joined: equal for names that differ only in
/// case, punctuation or word order (and, through the engine's tokenizer, transliteration).
/// ASCII names, nearly all of both sides, take a fast path: upper-cased runs of letters and
/// digits, apostrophes dropped (`O'Brien` → `OBRIEN`), as the engine does.
fn token_key(name: &str) -> String {
    if !name.is_ascii() {
        let mut tokens: Vec<String> = token_texts(name);
        tokens.sort_unstable();
        return tokens.join(" ");
    }
    let mut upper = String::with_capacity(name.len());
    for byte in name.bytes() {
        match byte {
            b'\'' => {}
            b if b.is_ascii_alphanumeric() => upper.push(char::from(b.to_ascii_uppercase())),
            _ => upper.push(' '),
        }
    }
    let mut tokens: Vec<&str> = upper.split_ascii_whitespace().collect();
    tokens.sort_unstable();
    tokens.join(" ")
}

/// Whether a listed name is an organisation's (a legal form, or words organisations use).
fn looks_like_entity(name: &str) -> bool {
    const ORGANISATION_WORDS: &[&str] = &[
        "BANK",
        "TRADING",
        "INDUSTRIES",
        "INDUSTRY",
        "GROUP",
        "SHIPPING",
        "AIRLINES",
        "INTERNATIONAL",
        "ENTERPRISE",
        "ENTERPRISES",
        "COMPANY",
        "CORPORATION",
        "FOUNDATION",
        "ORGANIZATION",
        "INSTITUTE",
        "MINISTRY",
        "HOLDING",
        "HOLDINGS",
        "TECHNOLOGY",
        "ELECTRONICS",
        "IMPORT",
        "EXPORT",
        "FACTORY",
        "SERVICES",
    ];
    tokenize(name).iter().any(|token| {
        token.kind == TokenKind::LegalForm || ORGANISATION_WORDS.contains(&token.text.as_str())
    })
}

/// Swaps two adjacent letters inside the longest word, or replaces its middle vowel.
fn typo(rng: &mut Rng, name: &str) -> String {
    let mut chars: Vec<char> = name.chars().collect();
    // The longest run of letters.
    let (mut best_start, mut best_len) = (0, 0);
    let mut start = 0;
    for index in 0..=chars.len() {
        let letter = chars.get(index).is_some_and(|c| c.is_alphabetic());
        if !letter {
            if index - start > best_len {
                best_start = start;
                best_len = index - start;
            }
            start = index + 1;
        }
    }
    if best_len < 4 {
        return name.to_string();
    }
    // Keep the first letter: typos rarely hit it.
    let position = best_start + 1 + rng.index(best_len - 2);
    if rng.chance(0.5) {
        chars.swap(position, position + 1);
    } else if let Some(c) = chars.get_mut(position) {
        let replacement = match c.to_ascii_lowercase() {
            'a' => 'e',
            'e' => 'a',
            'i' => 'y',
            'o' => 'u',
            'u' => 'o',
            'y' => 'i',
            other => other,
        };
        *c = if c.is_uppercase() {
            replacement.to_ascii_uppercase()
        } else {
            replacement
        };
    }
    let typed: String = chars.into_iter().collect();
    if typed == name {
        // Same letters swapped or no vowel there: drop a letter instead.
        let mut dropped: Vec<char> = name.chars().collect();
        dropped.remove(position.min(dropped.len().saturating_sub(1)));
        return dropped.into_iter().collect();
    }
    typed
}

/// `SURNAME, Given Names` → `Given Names SURNAME`; otherwise the last word moves first.
fn reorder(name: &str) -> String {
    if let Some((surname, given)) = name.split_once(',') {
        let given = given.trim();
        if !given.is_empty() {
            return format!("{given} {}", surname.trim());
        }
    }
    let words: Vec<&str> = name.split_whitespace().collect();
    match words.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{last} {}", rest.join(" ")),
        _ => name.to_string(),
    }
}

/// Upper, lower or title case.
fn change_case(rng: &mut Rng, name: &str) -> String {
    match rng.below(3) {
        0 => name.to_uppercase(),
        1 => name.to_lowercase(),
        _ => {
            let mut titled = String::with_capacity(name.len());
            let mut word_start = true;
            for c in name.chars() {
                if word_start {
                    titled.extend(c.to_uppercase());
                } else {
                    titled.extend(c.to_lowercase());
                }
                word_start = !c.is_alphanumeric();
            }
            titled
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perturbations() {
        assert_eq!(reorder("HAMMAMI, Omar Shafik"), "Omar Shafik HAMMAMI");
        assert_eq!(reorder("BANCO NACIONAL DE CUBA"), "CUBA BANCO NACIONAL DE");
        assert_eq!(reorder("ALPHA"), "ALPHA");
        let mut rng = Rng::new(1);
        for _ in 0..50 {
            let typed = typo(&mut rng, "AEROCARIBBEAN AIRLINES");
            assert_ne!(typed, "AEROCARIBBEAN AIRLINES");
            assert!(typed.starts_with('A'));
        }
        assert_eq!(typo(&mut rng, "AB CD"), "AB CD");
        let cased = change_case(&mut rng, "HAMMAMI, Omar");
        assert!(["HAMMAMI, OMAR", "hammami, omar", "Hammami, Omar"].contains(&cased.as_str()));
    }

    #[test]
    fn listed_names_are_recognised_in_any_order_and_case() {
        let names = WatchNames::new(vec![
            "HAMMAMI, Omar Shafik".to_string(),
            "AEROCARIBBEAN AIRLINES".to_string(),
        ]);
        assert!(names.is_listed("Omar Shafik Hammami"));
        assert!(names.is_listed("aerocaribbean airlines"));
        assert!(!names.is_listed("Omar Hammami"));
        assert!(looks_like_entity("AEROCARIBBEAN AIRLINES"));
        assert!(!looks_like_entity("HAMMAMI, Omar Shafik"));
    }
}
