//! The native JSONL format: one [`WatchEntry`] per line,
//! `{"id", "list", "name", "aliases": [], "addresses": [], "countries": [], "type"}`
//! (`aliases`, `addresses`, `countries` and `type` may be left out). The same line is what
//! the service publishes on the watch-list topic ([`to_line`] / [`parse_line`]).
//!
//! Validation: `id`, `list` and `name` must not be empty after trimming; `countries` may
//! hold alpha-2 codes in either case or country names ([`alpha2_from_name`]) and are stored
//! as sorted, deduplicated upper-case codes; a country that maps to no code rejects the line.
//! Names, aliases and addresses are trimmed, empty aliases and addresses dropped, and an
//! alias equal to the name or to an earlier alias dropped.

use super::country::alpha2_from_name;
use super::text::{clean, finish_countries, push_alias};
use super::{ListError, LoadProblem, LoadReport, WatchEntry};
use std::collections::HashSet;
use std::path::Path;

/// Loads a JSONL file. `list_name`, when given, is the list of every entry (it overrides or
/// fills each line's `list`). Blank lines are skipped; a bad line is a [`LoadProblem`].
pub fn load_file(path: &Path, list_name: Option<&str>) -> Result<LoadReport, ListError> {
    let data = std::fs::read(path).map_err(|source| ListError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(parse_bytes(&data, path, list_name))
}

/// Parses JSONL held in memory; `path` only labels problems. The same as [`load_file`]
/// without the file system (the fuzz target `parse_lists` calls it).
pub fn parse_bytes(data: &[u8], path: &Path, list_name: Option<&str>) -> LoadReport {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let mut report = LoadReport::default();
    let mut keys = HashSet::new();
    for (index, raw) in data.split(|&b| b == b'\n').enumerate() {
        let line = index as u64 + 1;
        let mut problem = |problem: String| {
            report.problems.push(LoadProblem {
                file: path.to_owned(),
                line: Some(line),
                problem,
            })
        };
        let Ok(text) = std::str::from_utf8(raw) else {
            problem("not UTF-8; line skipped".to_owned());
            continue;
        };
        if text.trim().is_empty() {
            continue;
        }
        match parse_with(text, list_name) {
            Err(error) => problem(format!("{error}; line skipped")),
            Ok(entry) => {
                if keys.insert(entry.key()) {
                    report.entries.push(entry);
                } else {
                    problem(format!("{} appears again; line skipped", entry.key()));
                }
            }
        }
    }
    report
}

/// Parses and validates one JSONL line (see the module documentation). The error says what
/// is wrong, naming the field.
pub fn parse_line(line: &str) -> Result<WatchEntry, String> {
    parse_with(line, None)
}

/// The JSONL line of `entry` (without a line break); [`parse_line`] reads it back.
pub fn to_line(entry: &WatchEntry) -> String {
    // Strings, string vectors and a unit enum: serialising cannot fail.
    serde_json::to_string(entry).expect("a WatchEntry always serialises to JSON")
}

fn parse_with(line: &str, list_name: Option<&str>) -> Result<WatchEntry, String> {
    let entry: WatchEntry = match list_name {
        None => serde_json::from_str(line)
            .map_err(|error| format!("not a watch-list entry: {error}"))?,
        Some(list) => {
            let mut value: serde_json::Value =
                serde_json::from_str(line).map_err(|error| format!("not JSON: {error}"))?;
            let object = value
                .as_object_mut()
                .ok_or_else(|| "not a JSON object".to_owned())?;
            object.insert("list".to_owned(), serde_json::Value::from(list));
            serde_json::from_value(value)
                .map_err(|error| format!("not a watch-list entry: {error}"))?
        }
    };
    validate(entry)
}

fn validate(entry: WatchEntry) -> Result<WatchEntry, String> {
    let id = clean(&entry.id);
    let list = clean(&entry.list);
    let name = clean(&entry.name);
    for (field, value) in [("id", &id), ("list", &list), ("name", &name)] {
        if value.is_empty() {
            return Err(format!("{field}: must not be empty"));
        }
    }
    let mut aliases = Vec::with_capacity(entry.aliases.len());
    for alias in &entry.aliases {
        push_alias(&mut aliases, &name, clean(alias));
    }
    let addresses = entry
        .addresses
        .iter()
        .map(|address| clean(address))
        .filter(|address| !address.is_empty())
        .collect();
    let mut countries = Vec::with_capacity(entry.countries.len());
    for country in &entry.countries {
        match alpha2_from_name(country) {
            Some(code) => countries.push(code),
            None => {
                return Err(format!(
                    "countries: {country:?} is neither an ISO 3166-1 alpha-2 code nor a known country name"
                ))
            }
        }
    }
    Ok(WatchEntry {
        id,
        list,
        name,
        aliases,
        addresses,
        countries: finish_countries(countries),
        entity_type: entry.entity_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lists::EntityType;

    fn entry() -> WatchEntry {
        WatchEntry {
            id: "36".to_owned(),
            list: "OFAC-SDN".to_owned(),
            name: "AEROCARIBBEAN AIRLINES".to_owned(),
            aliases: vec!["AERO-CARIBBEAN".to_owned()],
            addresses: vec!["Havana, Cuba".to_owned()],
            countries: vec!["CU".to_owned()],
            entity_type: EntityType::Entity,
        }
    }

    #[test]
    fn round_trip() {
        let line = to_line(&entry());
        assert!(!line.contains('\n'));
        assert!(line.contains(r#""type":"entity""#), "{line}");
        assert_eq!(parse_line(&line), Ok(entry()));
    }

    #[test]
    fn minimal_line_and_normalisation() {
        let parsed = parse_line(
            r#"{"id":" 7 ","list":"L","name":" X ","aliases":["X"," Y ","","Y"],"countries":["cu","Cuba","Korea, North"]}"#,
        );
        assert_eq!(
            parsed,
            Ok(WatchEntry {
                id: "7".to_owned(),
                list: "L".to_owned(),
                name: "X".to_owned(),
                aliases: vec!["Y".to_owned()],
                addresses: vec![],
                countries: vec!["CU".to_owned(), "KP".to_owned()],
                entity_type: EntityType::Unknown,
            })
        );
    }

    #[test]
    fn bad_lines_say_why() {
        for (line, expected) in [
            ("", "not a watch-list entry"),
            ("[1]", "not a watch-list entry"),
            (r#"{"id":"1","list":"L"}"#, "missing field `name`"),
            (
                r#"{"id":"","list":"L","name":"X"}"#,
                "id: must not be empty",
            ),
            (
                r#"{"id":"1","list":" ","name":"X"}"#,
                "list: must not be empty",
            ),
            (
                r#"{"id":"1","list":"L","name":"X","countries":["Atlantis"]}"#,
                "countries:",
            ),
            (
                r#"{"id":"1","list":"L","name":"X","type":"ship"}"#,
                "unknown variant",
            ),
        ] {
            let error = parse_line(line).expect_err(line);
            assert!(error.contains(expected), "{line}: {error}");
        }
    }

    #[test]
    fn list_name_fills_and_overrides() {
        let filled = parse_with(r#"{"id":"1","name":"X"}"#, Some("MINE")).map(|e| e.list);
        assert_eq!(filled, Ok("MINE".to_owned()));
        let overridden = parse_with(r#"{"id":"1","list":"THEIRS","name":"X"}"#, Some("MINE"));
        assert_eq!(overridden.map(|e| e.list), Ok("MINE".to_owned()));
        assert!(parse_with("42", Some("MINE")).is_err());
    }
}
