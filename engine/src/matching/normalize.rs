//! Name normalisation: from a name as filed or published to a list of ASCII tokens.
//!
//! Steps, in order:
//! 1. Non-ASCII text is put in Unicode NFKC form (full-width letters, ligatures), non-Latin
//!    legal-form words (有限公司, ООО …) are replaced by their Latin equivalents, and every other
//!    character is transliterated to Latin (`deunicode`: Cyrillic, Greek, Arabic, CJK …).
//! 2. Letters are upper-cased; apostrophes vanish (`O'BRIEN` → `OBRIEN`); every other
//!    punctuation mark separates tokens.
//! 3. Single letters glued by dots are joined (`S.A.` → `SA`, `U.S.A.` → `USA`), while an
//!    initial followed by a space stays an initial (`J. SMITH` → `J`, `SMITH`).
//! 4. Honorifics (MR, DR …) are dropped. Legal forms (LTD, GMBH, OOO …) and connectives
//!    (OF, THE, DE …) are kept but marked weak, so they count little instead of being
//!    deleted blindly: `ACME LTD` still differs a little from `ACME`.
//!
//! Token order is not normalised here: the scorer aligns tokens regardless of order, which
//! also covers `SURNAME, Given`.

use deunicode::deunicode_char;
use unicode_normalization::UnicodeNormalization;

/// How much a token can say about identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// A distinctive word: a given name, a surname, a company's own name.
    Normal,
    /// A legal form (LTD, LLC, GMBH …): weak evidence of identity.
    LegalForm,
    /// A connective (OF, THE, AND, DE …): weak evidence of identity.
    Connective,
}

impl TokenKind {
    pub fn is_weak(self) -> bool {
        self != TokenKind::Normal
    }
}

/// One normalised token: upper-case ASCII letters and digits only.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Token {
    pub text: String,
    pub kind: TokenKind,
}

/// Legal forms across languages, as they look after normalisation.
#[cfg_attr(not(test), allow(dead_code))]
const LEGAL_FORMS: &[&str] = &[
    "AB",
    "AG",
    "AO",
    "AS",
    "BHD",
    "BV",
    "CIA",
    "CJSC",
    "CO",
    "COMPANY",
    "CORP",
    "CORPORATION",
    "CV",
    "DMCC",
    "EIRL",
    "EST",
    "FZC",
    "FZCO",
    "FZE",
    "FZLLC",
    "GMBH",
    "INC",
    "INCORPORATED",
    "JSC",
    "KFT",
    "KG",
    "LIMITED",
    "LLC",
    "LLP",
    "LP",
    "LTD",
    "LTDA",
    "MBH",
    "NV",
    "OAO",
    "OJSC",
    "OOO",
    "OY",
    "OYJ",
    "PAO",
    "PJSC",
    "PLC",
    "PTE",
    "PTY",
    "PVT",
    "SA",
    "SAC",
    "SARL",
    "SAS",
    "SDN",
    "SE",
    "SL",
    "SPA",
    "SPZOO",
    "SRL",
    "TBK",
    "ZAO",
];

/// Connectives in the languages the lists use most.
#[cfg_attr(not(test), allow(dead_code))]
const CONNECTIVES: &[&str] = &[
    "AND", "DA", "DAS", "DE", "DEL", "DER", "DES", "DI", "DO", "DOS", "DU", "E", "ET", "FOR", "LA",
    "LE", "LES", "OF", "THE", "UND", "VAN", "VON", "Y",
];

/// Titles that say nothing about who a person is.
const HONORIFICS: &[&str] = &[
    "DR", "FRAU", "HERR", "MADAM", "MISS", "MLLE", "MME", "MR", "MRS", "MS", "MX", "PROF", "SIR",
];

/// Non-Latin legal forms, replaced before transliteration so that they become the Latin
/// legal form rather than a string of syllables. Longest first.
const NON_LATIN_LEGAL_FORMS: &[(&str, &str)] = &[
    ("股份有限公司", " CO LTD "),
    ("有限责任公司", " LLC "),
    ("有限公司", " LTD "),
    ("株式会社", " KK "),
    ("公司", " CO "),
    ("ООО", " OOO "),
    ("ЗАО", " ZAO "),
    ("ОАО", " OAO "),
    ("ПАО", " PAO "),
    ("АО", " AO "),
];

/// Normalises a name into tokens. Never fails; an empty or all-punctuation name gives no tokens.
pub fn tokenize(name: &str) -> Vec<Token> {
    if name.is_ascii() {
        tokenize_ascii(name)
    } else {
        tokenize_ascii(&to_latin_ascii(name))
    }
}

/// NFKC, non-Latin legal forms to Latin, then transliteration of every non-ASCII character.
pub fn to_latin_ascii(text: &str) -> String {
    let mut composed: String = text.nfkc().collect();
    for (non_latin, latin) in NON_LATIN_LEGAL_FORMS {
        if composed.contains(non_latin) {
            composed = composed.replace(non_latin, latin);
        }
    }
    let mut ascii = String::with_capacity(composed.len());
    for character in composed.chars() {
        if character.is_ascii() {
            ascii.push(character);
            continue;
        }
        match deunicode_char(character) {
            // Transliterations of CJK syllables come with a trailing space; keep the
            // syllables apart so that they can be joined again by compound matching.
            Some(latin) => {
                ascii.push_str(latin);
                if latin.len() > 1 && is_cjk(character) {
                    ascii.push(' ');
                }
            }
            None => ascii.push(' '),
        }
    }
    ascii
}

fn is_cjk(character: char) -> bool {
    matches!(character as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF)
}

/// A raw token and whether the separator after it was a single dot with no space.
struct RawToken {
    text: String,
    glued_by_dot: bool,
}

fn tokenize_ascii(text: &str) -> Vec<Token> {
    let mut raw: Vec<RawToken> = Vec::new();
    let mut current = String::new();
    let mut separator_run = String::new();
    for character in text.chars() {
        if character.is_ascii_alphanumeric() {
            if current.is_empty() && !raw.is_empty() {
                if let Some(previous) = raw.last_mut() {
                    previous.glued_by_dot = separator_run == ".";
                }
            }
            separator_run.clear();
            current.push(character.to_ascii_uppercase());
        } else if character == '\'' || character == '`' {
            // O'BRIEN → OBRIEN: an apostrophe joins rather than separates.
        } else {
            if !current.is_empty() {
                raw.push(RawToken {
                    text: std::mem::take(&mut current),
                    glued_by_dot: false,
                });
            }
            separator_run.push(character);
        }
    }
    if !current.is_empty() {
        raw.push(RawToken {
            text: current,
            glued_by_dot: false,
        });
    }
    join_dotted_letters(raw)
        .into_iter()
        .filter(|text| !HONORIFICS.contains(&text.as_str()))
        .map(|text| {
            let kind = classify(&text);
            Token { text, kind }
        })
        .collect()
}

/// Joins runs of single letters separated by bare dots: `S.A.` → `SA`.
fn join_dotted_letters(raw: Vec<RawToken>) -> Vec<String> {
    let mut joined: Vec<String> = Vec::with_capacity(raw.len());
    let mut previous_glues_next = false;
    for token in raw {
        let is_letter = token.text.len() == 1;
        let joins_previous = previous_glues_next
            && is_letter
            && joined
                .last()
                .is_some_and(|last| last.len() == 1 || is_dotted_run(last));
        if joins_previous {
            if let Some(last) = joined.last_mut() {
                last.push_str(&token.text);
            }
        } else {
            joined.push(token.text);
        }
        previous_glues_next = token.glued_by_dot && is_letter;
    }
    joined
}

/// Whether a joined token was built from single letters (all letters, at most 5): lets
/// `U.S.A.` keep joining after `US`.
fn is_dotted_run(token: &str) -> bool {
    token.len() <= 5 && token.bytes().all(|b| b.is_ascii_alphabetic())
}

fn classify(token: &str) -> TokenKind {
    // A `match` compiles to a switch on length and a few comparisons: cheaper than a search
    // of the word lists for every token of every name. The lists above stay the reference;
    // a test checks the two agree.
    match token {
        "AB" | "AG" | "AO" | "AS" | "BHD" | "BV" | "CIA" | "CJSC" | "CO" | "COMPANY" | "CORP"
        | "CORPORATION" | "CV" | "DMCC" | "EIRL" | "EST" | "FZC" | "FZCO" | "FZE" | "FZLLC"
        | "GMBH" | "INC" | "INCORPORATED" | "JSC" | "KFT" | "KG" | "LIMITED" | "LLC" | "LLP"
        | "LP" | "LTD" | "LTDA" | "MBH" | "NV" | "OAO" | "OJSC" | "OOO" | "OY" | "OYJ" | "PAO"
        | "PJSC" | "PLC" | "PTE" | "PTY" | "PVT" | "SA" | "SAC" | "SARL" | "SAS" | "SDN" | "SE"
        | "SL" | "SPA" | "SPZOO" | "SRL" | "TBK" | "ZAO" => TokenKind::LegalForm,
        "AND" | "DA" | "DAS" | "DE" | "DEL" | "DER" | "DES" | "DI" | "DO" | "DOS" | "DU" | "E"
        | "ET" | "FOR" | "LA" | "LE" | "LES" | "OF" | "THE" | "UND" | "VAN" | "VON" | "Y" => {
            TokenKind::Connective
        }
        _ => TokenKind::Normal,
    }
}

/// A coarse phonetic key: the first letter, then consonants with similar sounds merged and
/// vowels, H, W and Y dropped, repeats collapsed. `MOHAMMED` and `MUHAMMAD` both give `MMT`;
/// `YUSUF` and `YOUSEF` both give `YSF`. Digits are kept as they are.
pub fn phonetic_key(token: &str) -> String {
    let mut key = String::with_capacity(token.len());
    let mut last_class: Option<u8> = None;
    for (position, byte) in token.bytes().enumerate() {
        let class = match byte {
            b'A' | b'E' | b'I' | b'O' | b'U' | b'Y' | b'H' | b'W' if position > 0 => None,
            b'C' | b'K' | b'Q' | b'G' if position > 0 => Some(b'K'),
            b'S' | b'Z' | b'X' if position > 0 => Some(b'S'),
            b'D' | b'T' if position > 0 => Some(b'T'),
            b'B' | b'P' if position > 0 => Some(b'P'),
            b'F' | b'V' if position > 0 => Some(b'F'),
            b'J' if position > 0 => Some(b'K'),
            other => Some(other),
        };
        match class {
            Some(class) if last_class != Some(class) => {
                key.push(class as char);
                last_class = Some(class);
            }
            Some(_) => {}
            None => {
                // A vowel between two identical consonants keeps them apart (`MAMA` → `MM`).
                last_class = None;
            }
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(name: &str) -> Vec<String> {
        tokenize(name).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn classify_agrees_with_the_word_lists() {
        for word in LEGAL_FORMS {
            assert_eq!(classify(word), TokenKind::LegalForm, "{word}");
        }
        for word in CONNECTIVES {
            assert_eq!(classify(word), TokenKind::Connective, "{word}");
        }
        assert_eq!(classify("SMITH"), TokenKind::Normal);
    }

    #[test]
    fn punctuation_case_and_apostrophes() {
        assert_eq!(
            texts("Anglo-Caribbean Co., Ltd."),
            ["ANGLO", "CARIBBEAN", "CO", "LTD"]
        );
        assert_eq!(texts("o'brien, patrick"), ["OBRIEN", "PATRICK"]);
        assert_eq!(texts("  "), Vec::<String>::new());
        assert_eq!(texts("---"), Vec::<String>::new());
    }

    #[test]
    fn dotted_letters_join_but_initials_stay() {
        assert_eq!(
            texts("Grupo Ejemplo S.A. de C.V."),
            ["GRUPO", "EJEMPLO", "SA", "DE", "CV"]
        );
        assert_eq!(texts("U.S.A. Trading"), ["USA", "TRADING"]);
        assert_eq!(texts("J. Smith"), ["J", "SMITH"]);
        assert_eq!(texts("J.Smith"), ["J", "SMITH"]);
    }

    #[test]
    fn honorifics_dropped_legal_forms_weak() {
        let tokens = tokenize("Mr. John Smith LLC");
        assert_eq!(tokens.len(), 3);
        assert_eq!(tokens[2].kind, TokenKind::LegalForm);
        assert_eq!(tokens[0].kind, TokenKind::Normal);
        assert_eq!(tokenize("Bank of Iran")[1].kind, TokenKind::Connective);
    }

    #[test]
    fn non_latin_scripts_are_transliterated() {
        assert_eq!(texts("Иванов Сергей"), ["IVANOV", "SERGEI"]);
        assert_eq!(texts("ООО Ромашка"), ["OOO", "ROMASHKA"]);
        assert_eq!(tokenize("ООО Ромашка")[0].kind, TokenKind::LegalForm);
        assert_eq!(texts("Müller GmbH"), ["MULLER", "GMBH"]);
        assert_eq!(texts("ＡＢＣ Ｔｒａｄｉｎｇ"), ["ABC", "TRADING"]);
        let chinese = tokenize("华为技术有限公司");
        assert_eq!(chinese.last().map(|t| t.text.as_str()), Some("LTD"));
        assert!(chinese.iter().all(|t| t.text.is_ascii()));
        assert!(
            chinese.len() >= 4,
            "each CJK syllable is a token: {chinese:?}"
        );
    }

    #[test]
    fn phonetic_keys_merge_spelling_variants() {
        assert_eq!(phonetic_key("MOHAMMED"), phonetic_key("MUHAMMAD"));
        assert_eq!(phonetic_key("YUSUF"), phonetic_key("YOUSEF"));
        assert_eq!(phonetic_key("HUSSEIN"), phonetic_key("HUSAYN"));
        assert_ne!(phonetic_key("SMITH"), phonetic_key("JONES"));
    }
}
