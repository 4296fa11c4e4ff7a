//! Realistic perturbations of a list name: what filers and data entry do to real names.

use serde::Serialize;

use screener_engine::lists::EntityType;
use screener_engine::matching::{token_texts, tokenize, TokenKind};

use crate::feed::rng::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Perturbation {
    /// One substitution, deletion, insertion or adjacent transposition in the longest token.
    Typo,
    /// Tokens in another order ("SMITH, John" filed as "John Smith").
    Reorder,
    /// Lower case, punctuation removed or changed.
    CaseAndPunctuation,
    /// A legal form dropped, or one added to an entity.
    LegalForm,
    /// A given name reduced to its initial.
    Initial,
    /// A common transliteration variant in one token (MOHAMMED/MUHAMMAD, KH/H, OU/U …).
    Transliteration,
    /// Reordered and with one typo.
    ReorderAndTypo,
}

impl Perturbation {
    pub const ALL: [Perturbation; 7] = [
        Perturbation::Typo,
        Perturbation::Reorder,
        Perturbation::CaseAndPunctuation,
        Perturbation::LegalForm,
        Perturbation::Initial,
        Perturbation::Transliteration,
        Perturbation::ReorderAndTypo,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Perturbation::Typo => "typo",
            Perturbation::Reorder => "reorder",
            Perturbation::CaseAndPunctuation => "case_and_punctuation",
            Perturbation::LegalForm => "legal_form",
            Perturbation::Initial => "initial",
            Perturbation::Transliteration => "transliteration",
            Perturbation::ReorderAndTypo => "reorder_and_typo",
        }
    }

    /// The perturbed name, or `None` when the perturbation does not apply to this name.
    pub(crate) fn apply(
        self,
        name: &str,
        entity_type: EntityType,
        rng: &mut Rng,
    ) -> Option<String> {
        let words: Vec<String> = token_texts(name);
        if words.is_empty() {
            return None;
        }
        match self {
            Perturbation::Typo => typo(&words, rng).map(|w| w.join(" ")),
            Perturbation::Reorder => reorder(&words).map(|w| w.join(" ")),
            Perturbation::CaseAndPunctuation => {
                let lowered = name.to_lowercase().replace(
                    [',', '.', '-', '\''],
                    if rng.chance(0.5) { "" } else { " " },
                );
                (lowered.trim() != name.trim()).then_some(lowered)
            }
            Perturbation::LegalForm => legal_form(name, entity_type, rng),
            Perturbation::Initial => initial(&words, entity_type, rng).map(|w| w.join(" ")),
            Perturbation::Transliteration => transliterate(&words).map(|w| w.join(" ")),
            Perturbation::ReorderAndTypo => {
                let reordered = reorder(&words)?;
                typo(&reordered, rng).map(|w| w.join(" "))
            }
        }
    }
}

fn typo(words: &[String], rng: &mut Rng) -> Option<Vec<String>> {
    let (position, longest) = words.iter().enumerate().max_by_key(|(_, w)| w.len())?;
    if longest.len() < 5 {
        return None;
    }
    let mut letters: Vec<u8> = longest.bytes().collect();
    // Not the first letter: typos there are rarer, and initials matter.
    let at = 1 + rng.index(letters.len() - 1);
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    match rng.index(4) {
        0 => letters[at] = alphabet[rng.index(26)],
        1 => {
            letters.remove(at);
        }
        2 => letters.insert(at, alphabet[rng.index(26)]),
        _ => {
            if at + 1 < letters.len() {
                letters.swap(at, at + 1);
            } else {
                letters.swap(at - 1, at);
            }
        }
    }
    let mut out = words.to_vec();
    out[position] = String::from_utf8(letters).ok()?;
    (out != words).then_some(out)
}

fn reorder(words: &[String]) -> Option<Vec<String>> {
    if words.len() < 2 {
        return None;
    }
    let mut out = words.to_vec();
    out.rotate_left(1);
    Some(out)
}

fn legal_form(name: &str, entity_type: EntityType, rng: &mut Rng) -> Option<String> {
    let tokens = tokenize(name);
    let has_legal_form = tokens.iter().any(|t| t.kind == TokenKind::LegalForm);
    if has_legal_form {
        let kept: Vec<String> = tokens
            .into_iter()
            .filter(|t| t.kind != TokenKind::LegalForm)
            .map(|t| t.text.into_string())
            .collect();
        return (!kept.is_empty()).then(|| kept.join(" "));
    }
    if entity_type == EntityType::Individual {
        return None;
    }
    let form = ["LTD", "LLC", "CO LTD", "INC", "LIMITED"][rng.index(5)];
    Some(format!("{name} {form}"))
}

fn initial(words: &[String], entity_type: EntityType, rng: &mut Rng) -> Option<Vec<String>> {
    if !super::is_person(entity_type) || words.len() < 3 {
        return None;
    }
    // OFAC lists people as "SURNAME, Given …": the first token is the surname; any later
    // one may be shortened.
    let at = 1 + rng.index(words.len() - 1);
    if words[at].len() < 2 {
        return None;
    }
    let mut out = words.to_vec();
    out[at] = words[at][..1].to_string();
    Some(out)
}

/// Spelling alternations seen across transliterations of Arabic, Persian, Russian and
/// Chinese names.
const VARIANTS: &[(&str, &str)] = &[
    ("MOHAMMED", "MUHAMMAD"),
    ("MUHAMMAD", "MOHAMMED"),
    ("MOHAMMAD", "MUHAMMED"),
    ("AHMED", "AHMAD"),
    ("AHMAD", "AHMED"),
    ("HUSSEIN", "HUSAYN"),
    ("HUSSAIN", "HUSEIN"),
    ("ABDUL", "ABDOUL"),
    ("YOUSSEF", "YUSUF"),
    ("YOUSEF", "YUSUF"),
    ("KH", "H"),
    ("OU", "U"),
    ("EI", "EY"),
    ("IY", "I"),
    ("SH", "SCH"),
    ("J", "DJ"),
    ("Y", "I"),
    ("EE", "I"),
    ("PH", "F"),
    ("Q", "K"),
];

fn transliterate(words: &[String]) -> Option<Vec<String>> {
    for (from, to) in VARIANTS {
        for (position, word) in words.iter().enumerate() {
            if word.len() >= 4 && word.contains(from) {
                let mut out = words.to_vec();
                out[position] = word.replacen(from, to, 1);
                return Some(out);
            }
        }
    }
    None
}
