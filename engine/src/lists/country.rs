//! ISO 3166-1 alpha-2 country codes: validation, and mapping the country names that lists
//! publish ("Cuba", "Korea, North", "Burma") to codes.
//!
//! [`alpha2_from_name`] knows every English name of the generated ISO table
//! (`country_table.rs`) plus [`EXTRA_NAMES`], the spellings the OFAC SDN files and the
//! Consolidated Screening List use that ISO does not. Names are compared after
//! [`normalise`]: transliterated to ASCII, lower case, punctuation-insensitive, `&` read as
//! `and`, `St.` read as `Saint`, and the word `the` ignored (so "Bahamas, The",
//! "The Gambia" and "Congo, Democratic Republic of the" find their ISO names).
//!
//! Deliberately not mapped (no ISO 3166-1 code): "Kosovo" (`XK` is a user-assigned code,
//! and [`is_alpha2`] is strictly ISO), "Region: Kafia Kingi" (disputed between Sudan and
//! South Sudan), and the non-answers "undetermined" and "None Identified".

use std::collections::HashMap;
use std::sync::OnceLock;

// Generated (see its header): rustfmt must leave it as generated.
#[rustfmt::skip]
#[path = "country_table.rs"]
mod table;

/// Country spellings used by the OFAC SDN files (`add.csv` Country, `Vess_flag`, the
/// nationality / citizenship in Remarks) and by the Consolidated Screening List that are not
/// (after [`normalise`]) among the ISO names of `country_table.rs`.
pub const EXTRA_NAMES: &[(&str, &str)] = &[
    // OFAC "Surname, qualifier" style and short names.
    ("Korea, North", "KP"),
    ("Korea, South", "KR"),
    ("Burma", "MM"),
    ("Russia", "RU"),
    ("Macau", "MO"),
    ("Brunei", "BN"),
    ("Turkey", "TR"),
    ("Congo, Republic of the", "CG"),
    ("Democratic Republic of the Congo", "CD"),
    ("DRC", "CD"),
    ("Macedonia", "MK"),
    ("Macedonia, The Former Yugoslav Republic of", "MK"),
    ("North Macedonia, The Republic of", "MK"),
    ("Man, Isle of", "IM"),
    ("Micronesia", "FM"),
    ("Micronesia, Federated States of", "FM"),
    ("Cape Verde", "CV"),
    ("Swaziland", "SZ"),
    ("East Timor", "TL"),
    ("Vatican", "VA"),
    ("Vatican City", "VA"),
    ("Holy See", "VA"),
    ("Ivory Coast", "CI"),
    // Palestinian territories: OFAC publishes the adjective and the regions.
    ("Palestinian", "PS"),
    ("Palestine", "PS"),
    ("West Bank", "PS"),
    ("Gaza", "PS"),
    ("Gaza Strip", "PS"),
    ("Region: Gaza", "PS"),
    ("Region: West Bank", "PS"),
    // Regions OFAC names as the country of an address.
    ("Crimea", "UA"),
    ("Region: Crimea", "UA"),
    ("Crimea (occupied)", "UA"),
    ("Region: Northern Mali", "ML"),
    // Dissolved in 2010; both OFAC addresses that use it are in Willemstad, Curaçao, its
    // former capital, so the successor holding the capital is the useful code.
    ("Netherlands Antilles", "CW"),
    ("AN", "CW"), // its withdrawn ISO code, still at the end of a CSL address
    // Abbreviations seen at the end of CSL addresses and in common use.
    ("UAE", "AE"),
    ("U.A.E.", "AE"),
    ("PRC", "CN"),
    ("UK", "GB"),
    ("Great Britain", "GB"),
    ("USA", "US"),
    ("U.S.A.", "US"),
    ("U.S.", "US"),
];

/// Whether `code` is an assigned ISO 3166-1 alpha-2 code (upper case, e.g. `US`).
///
/// Every record has several country fields, so this is a bit lookup rather than a search
/// of the table (which took 1% of a screening worker's time).
pub fn is_alpha2(code: &str) -> bool {
    let [first, second] = code.as_bytes() else {
        return false;
    };
    if !first.is_ascii_uppercase() || !second.is_ascii_uppercase() {
        return false;
    }
    let assigned = ASSIGNED_ALPHA2.get_or_init(|| {
        let mut assigned = [0u32; 26];
        for (code, _) in table::COUNTRIES {
            if let [a, b] = code.as_bytes() {
                assigned[usize::from(a - b'A')] |= 1 << (b - b'A');
            }
        }
        assigned
    });
    assigned[usize::from(first - b'A')] & (1 << (second - b'A')) != 0
}

/// Per first letter of an assigned alpha-2 code, a bit per second letter.
static ASSIGNED_ALPHA2: std::sync::OnceLock<[u32; 26]> = std::sync::OnceLock::new();

/// The table's own `&'static str` for `code` (upper case), if assigned.
fn table_code(code: &str) -> Option<&'static str> {
    table::COUNTRIES
        .binary_search_by(|(candidate, _)| candidate.cmp(&code))
        .ok()
        .map(|index| table::COUNTRIES[index].0)
}

/// Maps a country as a list publishes it to its ISO 3166-1 alpha-2 code: a bare code in
/// either case (`"cu"`, `"CU"`), an ISO English name ("Iran, Islamic Republic of",
/// "Côte d'Ivoire"), or one of [`EXTRA_NAMES`] ("Korea, North", "Burma", "Region: Crimea").
/// Case, accents and punctuation do not matter. `None` when the name is not known.
pub fn alpha2_from_name(name: &str) -> Option<&'static str> {
    let trimmed = name.trim();
    if trimmed.len() == 2 && trimmed.bytes().all(|b| b.is_ascii_alphabetic()) {
        if let Some(code) = table_code(&trimmed.to_ascii_uppercase()) {
            return Some(code);
        }
    }
    let key = normalise(trimmed);
    if key.is_empty() {
        return None;
    }
    names().get(&key).copied()
}

/// The lookup key of a country name: ASCII (transliterated), lower case, every run of
/// non-alphanumeric characters one space, `&` → `and`, `st` → `saint`, `the` dropped.
pub fn normalise(name: &str) -> String {
    let ascii = deunicode::deunicode(name)
        .to_ascii_lowercase()
        .replace('&', " and ");
    let mut key = String::with_capacity(ascii.len());
    for word in ascii
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty() && *word != "the")
    {
        if !key.is_empty() {
            key.push(' ');
        }
        key.push_str(if word == "st" { "saint" } else { word });
    }
    key
}

/// Normalised name → code, built once: the ISO names first, then [`EXTRA_NAMES`] (which
/// never override an ISO name).
fn names() -> &'static HashMap<String, &'static str> {
    static NAMES: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut map = HashMap::with_capacity(table::COUNTRIES.len() * 2 + EXTRA_NAMES.len());
        for (code, names) in table::COUNTRIES {
            for name in *names {
                map.entry(normalise(name)).or_insert(*code);
            }
        }
        for (name, code) in EXTRA_NAMES {
            map.entry(normalise(name)).or_insert(*code);
        }
        map
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_alpha2_is_strict_iso_upper_case() {
        assert!(is_alpha2("US"));
        assert!(is_alpha2("CU"));
        assert!(!is_alpha2("us"));
        assert!(!is_alpha2("XK"));
        assert!(!is_alpha2("AN"));
        assert!(!is_alpha2(""));
        assert!(!is_alpha2("USA"));
    }

    #[test]
    fn is_alpha2_agrees_with_the_table_on_every_pair_of_letters() {
        let mut assigned = 0;
        for first in b'A'..=b'Z' {
            for second in b'A'..=b'Z' {
                let code = String::from_utf8(vec![first, second]).expect("ASCII");
                assert_eq!(is_alpha2(&code), table_code(&code).is_some(), "{code}");
                assigned += usize::from(is_alpha2(&code));
            }
        }
        assert_eq!(assigned, table::COUNTRIES.len());
    }

    #[test]
    fn iso_names_map_case_and_punctuation_insensitively() {
        assert_eq!(alpha2_from_name("Cuba"), Some("CU"));
        assert_eq!(alpha2_from_name("  CUBA "), Some("CU"));
        assert_eq!(alpha2_from_name("Iran, Islamic Republic of"), Some("IR"));
        assert_eq!(alpha2_from_name("Cote d'Ivoire"), Some("CI"));
        assert_eq!(alpha2_from_name("Côte d’Ivoire"), Some("CI"));
        assert_eq!(alpha2_from_name("Cote d Ivoire"), Some("CI"));
        assert_eq!(alpha2_from_name("Curacao"), Some("CW"));
        assert_eq!(alpha2_from_name("Bahamas, The"), Some("BS"));
        assert_eq!(alpha2_from_name("The Gambia"), Some("GM"));
        assert_eq!(alpha2_from_name("St. Kitts & Nevis"), Some("KN"));
        assert_eq!(
            alpha2_from_name("St. Vincent and the Grenadines"),
            Some("VC")
        );
        assert_eq!(alpha2_from_name("Virgin Islands, British"), Some("VG"));
        assert_eq!(
            alpha2_from_name("Democratic People's Republic of Korea"),
            Some("KP")
        );
        assert_eq!(
            alpha2_from_name("Congo, Democratic Republic of the"),
            Some("CD")
        );
        assert_eq!(alpha2_from_name("Congo"), Some("CG"));
    }

    #[test]
    fn list_spellings_map() {
        for (name, code) in [
            ("Korea, North", "KP"),
            ("Korea, South", "KR"),
            ("Burma", "MM"),
            ("Russia", "RU"),
            ("Iran", "IR"),
            ("Syria", "SY"),
            ("Venezuela", "VE"),
            ("Bolivia", "BO"),
            ("Tanzania", "TZ"),
            ("Vietnam", "VN"),
            ("Laos", "LA"),
            ("Moldova", "MD"),
            ("Czech Republic", "CZ"),
            ("Macau", "MO"),
            ("Taiwan", "TW"),
            ("Palestinian", "PS"),
            ("West Bank", "PS"),
            ("Region: Gaza", "PS"),
            ("Region: Crimea", "UA"),
            ("crimea (occupied)", "UA"),
            ("Congo, Republic of the", "CG"),
            ("Macedonia, The Former Yugoslav Republic of", "MK"),
            ("North Macedonia, The Republic of", "MK"),
            ("Man, Isle of", "IM"),
            ("Netherlands Antilles", "CW"),
            ("AN", "CW"), // its withdrawn ISO code, still at the end of a CSL address
            ("Brunei", "BN"),
            ("Turkey", "TR"),
            ("Hong Kong", "HK"),
            ("UAE", "AE"),
        ] {
            assert_eq!(alpha2_from_name(name), Some(code), "{name}");
        }
    }

    #[test]
    fn bare_codes_are_accepted_in_either_case() {
        assert_eq!(alpha2_from_name("CU"), Some("CU"));
        assert_eq!(alpha2_from_name("cu"), Some("CU"));
        assert_eq!(alpha2_from_name(" gb "), Some("GB"));
        // Not ISO: no code, and "S.A." (a company suffix) is not Saudi Arabia.
        assert_eq!(alpha2_from_name("XK"), None);
        assert_eq!(alpha2_from_name("S.A."), None);
    }

    #[test]
    fn unknown_and_empty_names_are_none() {
        for name in [
            "",
            "  ",
            "-0-",
            "Kosovo",
            "undetermined",
            "None Identified",
            "Atlantis",
            "the",
        ] {
            assert_eq!(alpha2_from_name(name), None, "{name}");
        }
    }

    #[test]
    fn extra_names_are_valid_codes_and_not_already_iso() {
        let mut iso = HashMap::new();
        for (code, names) in table::COUNTRIES {
            for name in *names {
                iso.insert(normalise(name), *code);
            }
        }
        for (name, code) in EXTRA_NAMES {
            assert!(is_alpha2(code), "{name} → {code} is not an ISO code");
            if let Some(iso_code) = iso.get(&normalise(name)) {
                assert_eq!(iso_code, code, "{name} conflicts with an ISO name");
            }
        }
    }

    #[test]
    fn no_two_iso_codes_share_a_normalised_name() {
        let mut seen: HashMap<String, &str> = HashMap::new();
        for (code, names) in table::COUNTRIES {
            for name in *names {
                if let Some(previous) = seen.insert(normalise(name), code) {
                    assert_eq!(previous, *code, "{name:?} is ambiguous");
                }
            }
        }
    }
}
