//! The US Consolidated Screening List CSV (trade.gov): a header row, then one party per
//! record. Columns are found by their header name, never by position; the ones used are
//! `_id`, `source`, `entity_number`, `type`, `name`, `addresses`, `alt_names`,
//! `citizenships`, `nationalities` and `vessel_flag` (only `name` and one of `_id` /
//! `entity_number` are required).
//!
//! - id: `_id`, else `entity_number`.
//! - list: the caller's name, else `CSL-` + the acronym in parentheses in `source`
//!   ("Entity List (EL) - Bureau of Industry and Security" → `CSL-EL`), else `CSL`.
//! - aliases: `alt_names` split on `;`.
//! - addresses: `addresses` split on `;`; the last comma-separated part of each is its
//!   country, usually an alpha-2 code, sometimes a name ("China", "crimea (occupied)").
//! - countries: those, plus `citizenships`, `nationalities` (`;`-separated names or codes)
//!   and `vessel_flag`.
//!
//! Records are read with the same forgiving reader as the OFAC files: a record with another
//! number of fields than the header is reported and skipped.

use super::country::alpha2_from_name;
use super::text::{clean, finish_countries, push_alias, CsvReader};
use super::{EntityType, ListError, LoadProblem, LoadReport, WatchEntry};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// Loads the CSL file at `path`. `list_name`, when given, is the list of every entry;
/// otherwise each entry's list is derived from its `source` (see [`list_label`]).
pub fn load_file(path: &Path, list_name: Option<&str>) -> Result<LoadReport, ListError> {
    let data = std::fs::read(path).map_err(|source| ListError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_bytes(&data, path, list_name)
}

/// Parses CSL CSV held in memory; `path` only labels problems. The same as [`load_file`]
/// without the file system (the fuzz target `parse_lists` calls it).
pub fn parse_bytes(
    data: &[u8],
    path: &Path,
    list_name: Option<&str>,
) -> Result<LoadReport, ListError> {
    let format_error = |problem: String| ListError::Format {
        path: path.to_owned(),
        problem,
    };
    let mut reader = CsvReader::new(data);
    let header = match reader.next() {
        None => return Err(format_error("empty file: no header row".to_owned())),
        Some(Err(error)) => return Err(format_error(format!("header row: {}", error.problem))),
        Some(Ok(record)) => record,
    };
    let columns = Columns::from_header(&header.fields).map_err(format_error)?;

    let mut report = LoadReport::default();
    let mut problem = |line: u64, problem: String| {
        report.problems.push(LoadProblem {
            file: path.to_owned(),
            line: Some(line),
            problem,
        })
    };
    let mut entries = Vec::new();
    let mut labels: HashMap<String, String> = HashMap::new();
    let mut keys: HashSet<(String, String)> = HashSet::new();
    let mut unmapped: BTreeMap<String, usize> = BTreeMap::new();
    let mut recoded = 0usize;

    while let Some(item) = reader.next() {
        let record = match item {
            Err(error) => {
                problem(error.line, error.problem);
                continue;
            }
            Ok(record) => record,
        };
        if record.fields.len() != columns.count {
            problem(record.line, record.field_count_problem(columns.count));
            reader.resume_after_first_line(&record);
            continue;
        }
        recoded += usize::from(record.recoded);
        let field =
            |column: Option<usize>| column.map_or("", |index| record.fields[index].as_str());

        let mut id = clean(field(columns.id));
        if id.is_empty() {
            id = clean(field(columns.entity_number));
        }
        if id.is_empty() {
            problem(
                record.line,
                "no _id and no entity_number; row skipped".to_owned(),
            );
            continue;
        }
        let name = clean(field(columns.name));
        if name.is_empty() {
            problem(record.line, format!("{id}: no name; row skipped"));
            continue;
        }
        let list = match list_name {
            Some(list) => list.to_owned(),
            None => {
                let source = field(columns.source);
                labels
                    .entry(source.to_owned())
                    .or_insert_with(|| list_label(source))
                    .clone()
            }
        };
        if !keys.insert((list.clone(), id.clone())) {
            problem(
                record.line,
                format!("{list}:{id} appears again; row skipped"),
            );
            continue;
        }
        let type_field = clean(field(columns.entity_type));
        let entity_type = entity_type(&type_field).unwrap_or_else(|| {
            problem(
                record.line,
                format!("{id}: unknown type {type_field:?}; kept as unknown"),
            );
            EntityType::Unknown
        });

        let mut countries = Vec::new();
        let mut add_country = |value: &str| {
            if value.is_empty() {
                return;
            }
            match alpha2_from_name(value) {
                Some(code) => countries.push(code),
                None => *unmapped.entry(value.to_owned()).or_default() += 1,
            }
        };

        let mut aliases = Vec::new();
        for alias in split_list(field(columns.alt_names)) {
            push_alias(&mut aliases, &name, alias);
        }
        let mut addresses = Vec::new();
        for address in split_list(field(columns.addresses)) {
            // The country is the last part; a bare postal code there (US addresses) is not.
            if let Some(last) = address.rsplit(',').next() {
                if last.chars().any(char::is_alphabetic) {
                    add_country(last.trim());
                }
            }
            addresses.push(address);
        }
        for column in [columns.citizenships, columns.nationalities] {
            for country in split_list(field(column)) {
                add_country(&country);
            }
        }
        add_country(&clean(field(columns.vessel_flag)));

        entries.push(WatchEntry {
            id,
            list,
            name,
            aliases,
            addresses,
            countries: finish_countries(countries),
            entity_type,
        });
    }
    report.entries = entries;
    if recoded > 0 {
        tracing::warn!(
            path = %path.display(),
            records = recoded,
            "CSL records not in UTF-8 were read as Windows-1252"
        );
    }
    if !unmapped.is_empty() {
        // The values are fragments of published addresses: counted at info, listed at debug.
        tracing::info!(
            path = %path.display(),
            distinct_values = unmapped.len(),
            "CSL country values without an ISO 3166-1 code were left out of countries"
        );
        tracing::debug!(path = %path.display(), ?unmapped, "unmapped CSL country values");
    }
    Ok(report)
}

/// The list label for a CSL `source`: `CSL-` and the first word of its parenthesised
/// acronym, upper case ("Non-SDN Menu-Based Sanctions List (NS-MBS List) - Treasury
/// Department" → `CSL-NS-MBS`); `CSL` when there is none.
pub fn list_label(source: &str) -> String {
    let acronym = source
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .and_then(|(inside, _)| inside.split_whitespace().next())
        .map(|word| {
            word.chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect::<String>()
                .to_ascii_uppercase()
        })
        .filter(|acronym| !acronym.is_empty());
    match acronym {
        Some(acronym) => format!("CSL-{acronym}"),
        None => "CSL".to_owned(),
    }
}

/// The non-empty, cleaned items of a `;`-separated field.
fn split_list(field: &str) -> impl Iterator<Item = String> + '_ {
    field.split(';').map(clean).filter(|item| !item.is_empty())
}

fn entity_type(value: &str) -> Option<EntityType> {
    match value.to_ascii_lowercase().as_str() {
        "" => Some(EntityType::Unknown),
        "individual" => Some(EntityType::Individual),
        "entity" => Some(EntityType::Entity),
        "vessel" => Some(EntityType::Vessel),
        "aircraft" => Some(EntityType::Aircraft),
        _ => None,
    }
}

/// Where the used columns are, by header name.
struct Columns {
    count: usize,
    id: Option<usize>,
    entity_number: Option<usize>,
    source: Option<usize>,
    entity_type: Option<usize>,
    name: Option<usize>,
    addresses: Option<usize>,
    alt_names: Option<usize>,
    citizenships: Option<usize>,
    nationalities: Option<usize>,
    vessel_flag: Option<usize>,
}

impl Columns {
    fn from_header(header: &[String]) -> Result<Columns, String> {
        let find = |name: &str| {
            header
                .iter()
                .position(|column| column.trim().eq_ignore_ascii_case(name))
        };
        let columns = Columns {
            count: header.len(),
            id: find("_id"),
            entity_number: find("entity_number"),
            source: find("source"),
            entity_type: find("type"),
            name: find("name"),
            addresses: find("addresses"),
            alt_names: find("alt_names"),
            citizenships: find("citizenships"),
            nationalities: find("nationalities"),
            vessel_flag: find("vessel_flag"),
        };
        if columns.name.is_none() {
            return Err("header row has no `name` column".to_owned());
        }
        if columns.id.is_none() && columns.entity_number.is_none() {
            return Err("header row has neither `_id` nor `entity_number`".to_owned());
        }
        Ok(columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_labels_come_from_the_parenthesised_acronym() {
        for (source, label) in [
            ("Entity List (EL) - Bureau of Industry and Security", "CSL-EL"),
            ("Specially Designated Nationals (SDN) - Treasury Department", "CSL-SDN"),
            (
                "Non-SDN Chinese Military-Industrial Complex Companies List (CMIC) - Treasury Department",
                "CSL-CMIC",
            ),
            ("Military End User (MEU) List - Bureau of Industry and Security", "CSL-MEU"),
            (
                "Non-SDN Menu-Based Sanctions List (NS-MBS List) - Treasury Department",
                "CSL-NS-MBS",
            ),
            ("Some list without an acronym", "CSL"),
            ("Broken (", "CSL"),
            ("Empty () acronym", "CSL"),
            ("", "CSL"),
        ] {
            assert_eq!(list_label(source), label, "{source}");
        }
    }

    #[test]
    fn split_list_trims_and_drops_empty_items() {
        let items: Vec<String> = split_list("a; b;c ;; ").collect();
        assert_eq!(items, ["a", "b", "c"]);
    }

    #[test]
    fn types() {
        assert_eq!(entity_type(""), Some(EntityType::Unknown));
        assert_eq!(entity_type("Individual"), Some(EntityType::Individual));
        assert_eq!(entity_type("Entity"), Some(EntityType::Entity));
        assert_eq!(entity_type("Vessel"), Some(EntityType::Vessel));
        assert_eq!(entity_type("Aircraft"), Some(EntityType::Aircraft));
        assert_eq!(entity_type("Ship"), None);
    }
}
