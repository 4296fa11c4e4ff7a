//! The OFAC SDN legacy CSV set: a directory with `sdn.csv` and, optionally, `alt.csv`
//! (aliases) and `add.csv` (addresses). No header rows; `-0-` (possibly followed by spaces)
//! means empty.
//!
//! - `sdn.csv`: ent_num, SDN_Name, SDN_Type, Program, Title, Call_Sign, Vess_type, Tonnage,
//!   GRT, Vess_flag, Vess_owner, Remarks.
//! - `alt.csv`: ent_num, alt_num, alt_type (aka/fka/nka), alt_name, alt_remarks.
//! - `add.csv`: ent_num, add_num, Address, City/State/Province/Postal Code, Country,
//!   Add_remarks.
//!
//! Countries of an entry: the `add.csv` Country of each of its addresses, the `Vess_flag` of
//! a vessel, and for individuals every `nationality X;` / `citizen X;` in Remarks (including
//! the `alt.` ones). Country names no table knows ("Kosovo", "undetermined") are left out
//! and logged once per load.
//!
//! The files are read whole and split with a forgiving CSV reader (one damaged line is one
//! [`LoadProblem`], never the rest of the file); bytes that are not UTF-8 are read as
//! Windows-1252; the control-Z that ends the legacy files is ignored.

use super::country::alpha2_from_name;
use super::text::{clean, finish_countries, push_alias, CsvReader, CsvRecord};
use super::{EntityType, ListError, LoadProblem, LoadReport, WatchEntry};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

const SDN_FIELDS: usize = 12;
const ALT_FIELDS: usize = 5;
const ADD_FIELDS: usize = 6;

/// Loads the SDN set in `dir`; every entry gets `list_name` as its list. `sdn.csv` must
/// exist (`SDN.CSV` is accepted too); `alt.csv` and `add.csv` are read when present.
pub fn load_dir(dir: &Path, list_name: &str) -> Result<LoadReport, ListError> {
    let sdn_path = find_file(dir, "sdn.csv").unwrap_or_else(|| dir.join("sdn.csv"));
    let sdn_data = read(&sdn_path)?;
    let mut loader = Loader::new(list_name);
    loader.sdn(&sdn_path, &sdn_data);
    if let Some(path) = find_file(dir, "alt.csv") {
        let data = read(&path)?;
        loader.alt(&path, &data);
    }
    if let Some(path) = find_file(dir, "add.csv") {
        let data = read(&path)?;
        loader.add(&path, &data);
    }
    Ok(loader.finish(dir))
}

/// Parses an SDN set held in memory: the contents of `sdn.csv`, and of `alt.csv` and
/// `add.csv` when given; problems name the files as if they were in `dir`. The same as
/// [`load_dir`] without the file system (the fuzz target `parse_lists` calls it).
pub fn parse_bytes(
    dir: &Path,
    list_name: &str,
    sdn: &[u8],
    alt: Option<&[u8]>,
    add: Option<&[u8]>,
) -> LoadReport {
    let mut loader = Loader::new(list_name);
    loader.sdn(&dir.join("sdn.csv"), sdn);
    if let Some(data) = alt {
        loader.alt(&dir.join("alt.csv"), data);
    }
    if let Some(data) = add {
        loader.add(&dir.join("add.csv"), data);
    }
    loader.finish(dir)
}

/// `name` in `dir`, or its upper-case spelling (OFAC publishes `SDN.CSV`), if either exists.
fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    [name.to_owned(), name.to_ascii_uppercase()]
        .into_iter()
        .map(|candidate| dir.join(candidate))
        .find(|path| path.is_file())
}

fn read(path: &Path) -> Result<Vec<u8>, ListError> {
    std::fs::read(path).map_err(|source| ListError::Io {
        path: path.to_owned(),
        source,
    })
}

/// A field's value: cleaned, and empty for the `-0-` placeholder.
fn value(field: &str) -> String {
    let cleaned = clean(field);
    if cleaned == "-0-" {
        String::new()
    } else {
        cleaned
    }
}

fn parse_ent_num(field: &str) -> Option<u64> {
    let trimmed = field.trim();
    if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    trimmed.parse().ok()
}

fn entity_type(sdn_type: &str) -> Option<EntityType> {
    match sdn_type.to_ascii_lowercase().as_str() {
        "" => Some(EntityType::Entity),
        "individual" => Some(EntityType::Individual),
        "vessel" => Some(EntityType::Vessel),
        "aircraft" => Some(EntityType::Aircraft),
        _ => None,
    }
}

/// The countries named in an individual's Remarks: `nationality X` and `citizen X` (also
/// after `alt.`), each up to the next `;` (or the end, less a final `.`); a leading
/// "possibly" is dropped. "Nationality of Registration" and "Citizen's Card" are not matches.
fn remark_countries(remarks: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let lower = remarks.to_ascii_lowercase();
    for keyword in ["nationality ", "citizen "] {
        let mut from = 0;
        while let Some(offset) = lower[from..].find(keyword) {
            let at = from + offset;
            from = at + keyword.len();
            let at_word_start = lower[..at]
                .chars()
                .next_back()
                .is_none_or(|before| !before.is_alphanumeric());
            if !at_word_start {
                continue;
            }
            let rest = &remarks[from..];
            let country = rest[..rest.find(';').unwrap_or(rest.len())].trim();
            let country = country.strip_suffix('.').unwrap_or(country).trim();
            let country = country.strip_prefix("possibly ").unwrap_or(country).trim();
            if !country.is_empty() && !country.starts_with("of ") {
                found.push(country);
            }
        }
    }
    found
}

struct Loader<'a> {
    list_name: &'a str,
    report: LoadReport,
    /// ent_num → index in `report.entries`.
    by_ent_num: HashMap<u64, usize>,
    /// Country codes of each entry, by index; sorted and stored at the end.
    countries: Vec<Vec<&'static str>>,
    /// Country values no table knows, with how often they occurred.
    unmapped: BTreeMap<String, usize>,
    /// Records that were not UTF-8 and were read as Windows-1252.
    recoded: usize,
}

impl<'a> Loader<'a> {
    fn new(list_name: &'a str) -> Self {
        Loader {
            list_name,
            report: LoadReport::default(),
            by_ent_num: HashMap::new(),
            countries: Vec::new(),
            unmapped: BTreeMap::new(),
            recoded: 0,
        }
    }

    /// Puts the problems from `first` on in line order (stable: one line's stay in order).
    fn sort_problems(&mut self, first: usize) {
        self.report.problems[first..].sort_by_key(|problem| problem.line);
    }

    fn problem(&mut self, path: &Path, line: u64, problem: impl Into<String>) {
        self.report.problems.push(LoadProblem {
            file: path.to_owned(),
            line: Some(line),
            problem: problem.into(),
        });
    }

    /// The well-formed records of `data` with `expected` fields; reports the others.
    fn records(&mut self, path: &Path, data: &[u8], expected: usize) -> Vec<CsvRecord> {
        let mut records = Vec::new();
        let mut reader = CsvReader::new(data);
        while let Some(item) = reader.next() {
            match item {
                Err(error) => self.problem(path, error.line, error.problem),
                // The legacy files never break a record over lines (none of the samples
                // does), so a record that spans lines is an unbalanced quote that would
                // otherwise swallow the next row.
                Ok(record) if record.end_line > record.line => {
                    self.problem(
                        path,
                        record.line,
                        format!(
                            "a quoted field runs on to line {} (an unbalanced quote?); row \
                             skipped, reading resumes on the next line",
                            record.end_line
                        ),
                    );
                    reader.resume_after_first_line(&record);
                }
                Ok(record) if record.fields.len() != expected => {
                    self.problem(path, record.line, record.field_count_problem(expected));
                    reader.resume_after_first_line(&record);
                }
                Ok(record) => {
                    if record.recoded {
                        self.recoded += 1;
                    }
                    records.push(record);
                }
            }
        }
        records
    }

    fn add_country(&mut self, index: usize, name: &str) {
        if name.is_empty() {
            return;
        }
        match alpha2_from_name(name) {
            Some(code) => self.countries[index].push(code),
            None => *self.unmapped.entry(name.to_owned()).or_default() += 1,
        }
    }

    /// The entry an `alt.csv` / `add.csv` record belongs to, or a problem.
    fn owner(&mut self, path: &Path, record: &CsvRecord) -> Option<usize> {
        let field = record.fields[0].trim();
        let Some(ent_num) = parse_ent_num(field) else {
            self.problem(
                path,
                record.line,
                format!("bad ent_num {field:?}; row skipped"),
            );
            return None;
        };
        let index = self.by_ent_num.get(&ent_num).copied();
        if index.is_none() {
            self.problem(
                path,
                record.line,
                format!("ent_num {ent_num} is not in sdn.csv; row skipped"),
            );
        }
        index
    }

    fn sdn(&mut self, path: &Path, data: &[u8]) {
        let first_problem = self.report.problems.len();
        for record in self.records(path, data, SDN_FIELDS) {
            let f = &record.fields;
            let id_field = f[0].trim();
            let Some(ent_num) = parse_ent_num(id_field) else {
                self.problem(
                    path,
                    record.line,
                    format!("bad ent_num {id_field:?}; row skipped"),
                );
                continue;
            };
            let name = value(&f[1]);
            if name.is_empty() {
                self.problem(
                    path,
                    record.line,
                    format!("ent_num {ent_num}: no name; row skipped"),
                );
                continue;
            }
            if self.by_ent_num.contains_key(&ent_num) {
                self.problem(
                    path,
                    record.line,
                    format!("ent_num {ent_num} appears again; row skipped"),
                );
                continue;
            }
            let sdn_type = value(&f[2]);
            let entity_type = entity_type(&sdn_type).unwrap_or_else(|| {
                self.problem(
                    path,
                    record.line,
                    format!("ent_num {ent_num}: unknown SDN_Type {sdn_type:?}; kept as unknown"),
                );
                EntityType::Unknown
            });
            let index = self.report.entries.len();
            self.by_ent_num.insert(ent_num, index);
            self.countries.push(Vec::new());
            self.report.entries.push(WatchEntry {
                id: id_field.to_owned(),
                list: self.list_name.to_owned(),
                name,
                aliases: Vec::new(),
                addresses: Vec::new(),
                countries: Vec::new(),
                entity_type,
            });
            match entity_type {
                EntityType::Vessel => self.add_country(index, &value(&f[9])),
                EntityType::Individual => {
                    let remarks = value(&f[11]);
                    for country in remark_countries(&remarks) {
                        self.add_country(index, country);
                    }
                }
                _ => {}
            }
        }
        self.sort_problems(first_problem);
    }

    fn alt(&mut self, path: &Path, data: &[u8]) {
        let first_problem = self.report.problems.len();
        for record in self.records(path, data, ALT_FIELDS) {
            let Some(index) = self.owner(path, &record) else {
                continue;
            };
            let alias = value(&record.fields[3]);
            if alias.is_empty() {
                self.problem(path, record.line, "no alt_name; row skipped");
                continue;
            }
            let entry = &mut self.report.entries[index];
            push_alias(&mut entry.aliases, &entry.name, alias);
        }
        self.sort_problems(first_problem);
    }

    fn add(&mut self, path: &Path, data: &[u8]) {
        let first_problem = self.report.problems.len();
        for record in self.records(path, data, ADD_FIELDS) {
            let Some(index) = self.owner(path, &record) else {
                continue;
            };
            let parts = [
                value(&record.fields[2]),
                value(&record.fields[3]),
                value(&record.fields[4]),
            ];
            let address = parts
                .iter()
                .filter(|part| !part.is_empty())
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            if !address.is_empty() {
                self.report.entries[index].addresses.push(address);
            }
            self.add_country(index, &parts[2]);
        }
        self.sort_problems(first_problem);
    }

    fn finish(mut self, dir: &Path) -> LoadReport {
        for (entry, codes) in self.report.entries.iter_mut().zip(self.countries) {
            entry.countries = finish_countries(codes);
        }
        if self.recoded > 0 {
            tracing::warn!(
                dir = %dir.display(),
                records = self.recoded,
                "OFAC SDN records not in UTF-8 were read as Windows-1252"
            );
        }
        if !self.unmapped.is_empty() {
            // The values are fragments of published addresses: counted at info, listed at debug.
            tracing::info!(
                dir = %dir.display(),
                distinct_values = self.unmapped.len(),
                "OFAC SDN country names without an ISO 3166-1 code were left out of countries"
            );
            tracing::debug!(dir = %dir.display(), unmapped = ?self.unmapped, "unmapped OFAC SDN country names");
        }
        self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remark_countries_finds_nationality_and_citizenship() {
        assert_eq!(
            remark_countries("DOB 1960; nationality Iran; citizen Cuba; Gender Male."),
            vec!["Iran", "Cuba"]
        );
        assert_eq!(
            remark_countries(
                "nationality Israel; alt. nationality Congo, Democratic Republic of the."
            ),
            vec!["Israel", "Congo, Democratic Republic of the"]
        );
        assert_eq!(
            remark_countries("Nationality possibly Palestinian"),
            vec!["Palestinian"]
        );
        assert_eq!(
            remark_countries("Vessel Registration; Nationality of Registration Russia; Citizen's Card Number 1 (China)"),
            Vec::<&str>::new()
        );
        assert_eq!(
            remark_countries("denationality X; noncitizen Y"),
            Vec::<&str>::new()
        );
        assert_eq!(remark_countries(""), Vec::<&str>::new());
    }

    #[test]
    fn types_and_placeholders() {
        assert_eq!(entity_type(""), Some(EntityType::Entity));
        assert_eq!(entity_type("individual"), Some(EntityType::Individual));
        assert_eq!(entity_type("Vessel"), Some(EntityType::Vessel));
        assert_eq!(entity_type("aircraft"), Some(EntityType::Aircraft));
        assert_eq!(entity_type("ship"), None);
        assert_eq!(value("-0- "), "");
        assert_eq!(value(" -0-"), "");
        assert_eq!(value(" CUBA "), "CUBA");
        assert_eq!(parse_ent_num(" 36 "), Some(36));
        assert_eq!(parse_ent_num("36a"), None);
        assert_eq!(parse_ent_num("-36"), None);
        assert_eq!(parse_ent_num(""), None);
    }
}
