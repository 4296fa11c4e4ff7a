//! Configuration of the decision rules (`[rules]` in `config/screener.toml`). Unknown keys
//! are errors; every field has a documented default.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::matching::normalize::push_letters_and_digits;
use crate::matching::{for_each_token, token_texts};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    pub watchlist: WatchlistRules,
    pub known_shippers: KnownShipperRules,
    pub value: ValueRules,
    pub restricted_goods: RestrictedGoodsRules,
}

impl RulesConfig {
    /// Every problem with the values (ranges, codes), each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let unit = |key: &str, value: f64, problems: &mut Vec<String>| {
            if !(0.0..=1.0).contains(&value) {
                problems.push(format!("{key}: expected a score in [0, 1], got {value}"));
            }
        };
        unit(
            "rules.watchlist.hold_threshold",
            self.watchlist.hold_threshold,
            &mut problems,
        );
        unit(
            "rules.watchlist.review_threshold",
            self.watchlist.review_threshold,
            &mut problems,
        );
        unit(
            "rules.known_shippers.name_threshold",
            self.known_shippers.name_threshold,
            &mut problems,
        );
        unit(
            "rules.known_shippers.address_threshold",
            self.known_shippers.address_threshold,
            &mut problems,
        );
        if self.watchlist.review_threshold > self.watchlist.hold_threshold {
            problems.push(format!(
                "rules.watchlist.review_threshold ({}) must not be above hold_threshold ({})",
                self.watchlist.review_threshold, self.watchlist.hold_threshold
            ));
        }
        for (country, threshold) in &self.value.thresholds {
            if country != "default" && !crate::lists::country::is_alpha2(country) {
                problems.push(format!(
                    "rules.value.thresholds.{country}: expected an ISO 3166-1 alpha-2 code or \"default\""
                ));
            }
            if !(threshold.amount.is_finite() && threshold.amount >= 0.0) {
                problems.push(format!(
                    "rules.value.thresholds.{country}.amount: expected a number >= 0"
                ));
            }
        }
        for (currency, rate) in &self.value.usd_per_unit {
            if !(rate.is_finite() && *rate > 0.0) {
                problems.push(format!(
                    "rules.value.usd_per_unit.{currency}: expected a number > 0"
                ));
            }
        }
        for prefix in &self.restricted_goods.hs_prefixes {
            if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                problems.push(format!(
                    "rules.restricted_goods.hs_prefixes: expected digits only, got {prefix:?}"
                ));
            }
        }
        problems
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WatchlistRules {
    /// A party scoring at least this against an entry is held with `WL_MATCH`.
    pub hold_threshold: f64,
    /// A party scoring at least this (and below the hold threshold) is held with
    /// `WL_POSSIBLE` for analyst review.
    pub review_threshold: f64,
    /// Whether the Section 321 seller is screened as well as shipper and consignee.
    pub screen_seller: bool,
}

impl Default for WatchlistRules {
    fn default() -> Self {
        WatchlistRules {
            hold_threshold: 0.92,
            review_threshold: 0.85,
            screen_seller: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnownShipperRules {
    /// The shipper's name must score at least this against the enrolled name.
    pub name_threshold: f64,
    /// The shipper's address must score at least this against the enrolled address.
    pub address_threshold: f64,
}

impl Default for KnownShipperRules {
    fn default() -> Self {
        KnownShipperRules {
            name_threshold: 0.88,
            address_threshold: 0.7,
        }
    }
}

/// An amount in a currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoneyThreshold {
    pub amount: f64,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValueRules {
    /// De minimis threshold per destination country (ISO alpha-2), and optionally under the
    /// key `default` for every other destination. A destination with neither is not checked.
    pub thresholds: BTreeMap<String, MoneyThreshold>,
    /// Fixed exchange rates used to compare a declared value with a threshold in another
    /// currency: US dollars per unit of each currency (`USD` is 1 implicitly).
    pub usd_per_unit: BTreeMap<String, f64>,
}

impl Default for ValueRules {
    fn default() -> Self {
        let threshold = |amount: f64, currency: &str| MoneyThreshold {
            amount,
            currency: currency.to_string(),
        };
        let mut thresholds = BTreeMap::new();
        thresholds.insert("US".to_string(), threshold(800.0, "USD"));
        thresholds.insert("GB".to_string(), threshold(135.0, "GBP"));
        thresholds.insert("CA".to_string(), threshold(150.0, "CAD"));
        for eu in ["AT", "BE", "DE", "ES", "FR", "IE", "IT", "NL", "PL", "SE"] {
            thresholds.insert(eu.to_string(), threshold(150.0, "EUR"));
        }
        let usd_per_unit = [
            ("EUR", 1.08),
            ("GBP", 1.27),
            ("CAD", 0.73),
            ("CNY", 0.14),
            ("JPY", 0.0067),
            ("VND", 0.000039),
            ("INR", 0.012),
            ("KRW", 0.00073),
            ("HKD", 0.128),
            ("MXN", 0.058),
        ]
        .into_iter()
        .map(|(currency, rate)| (currency.to_string(), rate))
        .collect();
        ValueRules {
            thresholds,
            usd_per_unit,
        }
    }
}

impl ValueRules {
    /// The threshold that applies to a destination.
    pub fn threshold_for(&self, destination_country: &str) -> Option<&MoneyThreshold> {
        self.thresholds
            .get(destination_country)
            .or_else(|| self.thresholds.get("default"))
    }

    /// Converts `amount` from one currency to another with the configured rates; `None` if a
    /// rate is missing.
    pub fn convert(&self, amount: f64, from: &str, to: &str) -> Option<f64> {
        if from == to {
            return Some(amount);
        }
        let usd_per = |currency: &str| -> Option<f64> {
            if currency == "USD" {
                Some(1.0)
            } else {
                self.usd_per_unit.get(currency).copied()
            }
        };
        Some(amount * usd_per(from)? / usd_per(to)?)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RestrictedGoodsRules {
    /// HS code prefixes (digits) of restricted goods: an item whose code starts with one is
    /// held.
    pub hs_prefixes: Vec<String>,
    /// Words or phrases that make an item restricted when its description contains them
    /// (compared after normalisation, so case and punctuation do not matter; a final S or ES
    /// of a description word is allowed: `firearm` matches `Firearms`).
    pub description_keywords: Vec<String>,
    /// The keywords as normalised words, computed on first use.
    #[serde(skip)]
    keyword_words: std::sync::OnceLock<KeywordWords>,
}

/// The description keywords as normalised words, and the first two letters of each, which
/// let most descriptions be ruled out in one pass over their letters.
#[derive(Debug, Clone, PartialEq)]
struct KeywordWords {
    /// Each keyword's words, in the order of `description_keywords`.
    phrases: Vec<Vec<String>>,
    /// A bit per pair of letters or digits (`bigram_bit`) that starts some keyword's first
    /// word.
    first_bigrams: [u64; 64],
    /// Whether some keyword's first word has fewer than two letters: the pairs cannot rule
    /// a description out then.
    short_first_word: bool,
}

impl KeywordWords {
    fn new(keywords: &[String]) -> Self {
        let phrases: Vec<Vec<String>> = keywords
            .iter()
            .map(|keyword| token_texts(keyword))
            .collect();
        let mut first_bigrams = [0u64; 64];
        let mut short_first_word = false;
        for first in phrases.iter().filter_map(|phrase| phrase.first()) {
            match first.as_bytes() {
                [a, b, ..] => {
                    let (word, bit) = bigram_bit(*a, *b);
                    first_bigrams[word] |= bit;
                }
                _ => short_first_word = true,
            }
        }
        KeywordWords {
            phrases,
            first_bigrams,
            short_first_word,
        }
    }

    /// Whether two adjacent letters of a description start some keyword's first word.
    #[inline]
    fn starts_a_first_word(&self, a: u8, b: u8) -> bool {
        let (word, bit) = bigram_bit(a, b);
        self.first_bigrams[word] & bit != 0
    }
}

/// Where the bit of a pair of upper-case letters or digits lies in `first_bigrams`: the low
/// six bits of each byte tell them apart (`A`–`Z` are 1–26, `0`–`9` are 48–57), so a pair
/// is one of 4,096 bits.
#[inline]
fn bigram_bit(a: u8, b: u8) -> (usize, u64) {
    let index = usize::from(a & 63) << 6 | usize::from(b & 63);
    (index >> 6, 1 << (index & 63))
}

impl Default for RestrictedGoodsRules {
    fn default() -> Self {
        RestrictedGoodsRules {
            // 93: arms and ammunition; 3601–3604: explosives, fuses, fireworks;
            // 293333: fentanyl and its salts (HS 2022).
            hs_prefixes: ["93", "3601", "3602", "3603", "3604", "293333"]
                .into_iter()
                .map(String::from)
                .collect(),
            description_keywords: [
                "firearm",
                "ammunition",
                "explosive",
                "fentanyl",
                "counterfeit",
                "ivory",
                "pill press",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            keyword_words: std::sync::OnceLock::new(),
        }
    }
}

impl RestrictedGoodsRules {
    /// The first configured keyword found in `description`, if any.
    pub fn matching_keyword(&self, description: &str) -> Option<&str> {
        let keyword_words = self
            .keyword_words
            .get_or_init(|| KeywordWords::new(&self.description_keywords));
        // A keyword's first word is a description word or its start (a plural), and every
        // description word is a substring of the description's letters and digits back to
        // back. So a description where none of the first words occurs that way holds no
        // keyword: most descriptions, decided without tokenising them (2.6k instructions
        // an item before). First, in one pass, whether any two adjacent letters start a first
        // word at all: a search for each first word cost ~1k instructions a record.
        let mut letters_and_digits = Vec::with_capacity(description.len());
        push_letters_and_digits(&mut letters_and_digits, description);
        let some_first_word_may_start = keyword_words.short_first_word
            || letters_and_digits
                .windows(2)
                .any(|pair| keyword_words.starts_a_first_word(pair[0], pair[1]));
        if !some_first_word_may_start {
            return None;
        }
        let may_hold_a_keyword = keyword_words.phrases.iter().any(|phrase| {
            phrase
                .first()
                .is_some_and(|first| holds(&letters_and_digits, first.as_bytes()))
        });
        if !may_hold_a_keyword {
            return None;
        }
        // The description's words back to back in one string, with their spans: three
        // allocations per description rather than one per word.
        let mut letters = String::with_capacity(description.len());
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for_each_token(description, |word, _| {
            spans.push((letters.len(), letters.len() + word.len()));
            letters.push_str(word);
        });
        let words: Vec<&str> = spans
            .iter()
            .map(|&(start, end)| &letters[start..end])
            .collect();
        self.description_keywords
            .iter()
            .zip(&keyword_words.phrases)
            .find(|(_, phrase)| contains_phrase(&words, phrase))
            .map(|(keyword, _)| keyword.as_str())
    }
}

/// Whether `needle` occurs in `haystack`. A byte scan: both are a few dozen bytes, where
/// `str::contains` spent ~300 instructions a call preparing its search.
fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    haystack
        .iter()
        .enumerate()
        .any(|(index, &byte)| byte == first && haystack[index + 1..].starts_with(rest))
}

/// Whether `phrase` occurs as consecutive words of `words`, each word equal or with a plural
/// ending.
fn contains_phrase(words: &[&str], phrase: &[String]) -> bool {
    if phrase.is_empty() || phrase.len() > words.len() {
        return false;
    }
    words.windows(phrase.len()).any(|window| {
        window.iter().zip(phrase).all(|(word, wanted)| {
            word == wanted
                || word
                    .strip_prefix(wanted.as_str())
                    .is_some_and(|ending| ending == "S" || ending == "ES")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_starting_with_one_letter_or_with_digits_are_found() {
        let rules = RestrictedGoodsRules {
            description_keywords: vec!["x ray".into(), "3d printed gun".into()],
            ..RestrictedGoodsRules::default()
        };
        for (description, keyword) in [
            ("Portable X-ray unit", Some("x ray")),
            ("3D-printed guns kit", Some("3d printed gun")),
            ("Printed gun poster", None),
            ("Xray film", None),
        ] {
            assert_eq!(
                rules.matching_keyword(description),
                keyword,
                "{description:?}"
            );
        }
    }

    #[test]
    fn description_keywords_match_whole_words_with_plurals_in_any_script_and_case() {
        let rules = RestrictedGoodsRules::default();
        for (description, keyword) in [
            ("Firearms cleaning kit", Some("firearm")),
            ("replacement FIREARM stock", Some("firearm")),
            ("Pill presses, manual", Some("pill press")),
            ("Ivory-handled letter opener", Some("ivory")),
            ("Éléphant ivory carving", Some("ivory")),
            ("counterfeit's watch", Some("counterfeit")),
            // The first configured keyword wins.
            ("Ammunition for a firearm", Some("firearm")),
            // The letters are there, the words are not.
            ("Fire arm decal", None),
            ("Ivorycoast coffee", None),
            ("Pill box press kit", None),
            ("Cotton terry bath towels", None),
            ("", None),
            ("…", None),
        ] {
            assert_eq!(
                rules.matching_keyword(description),
                keyword,
                "{description}"
            );
        }
    }
}
