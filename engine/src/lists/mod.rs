//! Watch lists (SPEC §6): the entry model and the loaders for the three formats.
//!
//! - [`ofac`]: the OFAC SDN legacy CSV set (`sdn.csv` + optional `alt.csv` + `add.csv`).
//! - [`csl`]: the US Consolidated Screening List CSV.
//! - [`native`]: the native JSONL format `{id, list, name, aliases[], addresses[], countries[], type}`.
//!
//! Every loader returns [`WatchEntry`] values plus the problems it met ([`LoadReport`]): a bad
//! row is reported with its line number and skipped, never a panic and never silently.

pub mod country;
pub mod csl;
pub mod native;
pub mod ofac;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One watch-list entry: a sanctioned or denied party with every name it is known by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchEntry {
    /// Identifier unique within `list` (OFAC `ent_num`, CSL `_id`/`entity_number`, native `id`).
    pub id: String,
    /// The list's short name, e.g. `OFAC-SDN`, `CSL-ENTITY-LIST`; appears in decisions.
    pub list: String,
    /// The primary name, as published.
    pub name: String,
    /// Every alias (a.k.a., f.k.a., n.k.a.), as published, without the primary name.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Free-text addresses, as published (one string per address).
    #[serde(default)]
    pub addresses: Vec<String>,
    /// ISO 3166-1 alpha-2 codes of every country tied to the entry (addresses, nationality,
    /// citizenship), upper case, deduplicated, sorted.
    #[serde(default)]
    pub countries: Vec<String>,
    #[serde(rename = "type", default)]
    pub entity_type: EntityType,
}

impl WatchEntry {
    /// The key under which the entry is published and diffed: `"{list}:{id}"`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.list, self.id)
    }

    /// The primary name followed by every alias.
    pub fn all_names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str()).chain(self.aliases.iter().map(String::as_str))
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityType {
    Individual,
    Entity,
    Vessel,
    Aircraft,
    #[default]
    Unknown,
}

/// The formats a watch list can be loaded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListFormat {
    /// A directory holding `sdn.csv` and optionally `alt.csv` and `add.csv`.
    OfacSdn,
    /// The Consolidated Screening List CSV, with a header row.
    Csl,
    /// Native JSONL, one entry per line.
    Jsonl,
}

/// A problem met while loading a list. Loading goes on past it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadProblem {
    pub file: PathBuf,
    /// 1-based line (or CSV record) number, when the problem is tied to one.
    pub line: Option<u64>,
    pub problem: String,
}

impl std::fmt::Display for LoadProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.problem),
            None => write!(f, "{}: {}", self.file.display(), self.problem),
        }
    }
}

/// The entries a loader produced and the problems it met on the way.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub entries: Vec<WatchEntry>,
    pub problems: Vec<LoadProblem>,
}

/// A list could not be loaded at all (missing file, unreadable directory).
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {problem}")]
    Format { path: PathBuf, problem: String },
}

/// Loads one list in the given format. `list_name` overrides the list label of the entries
/// where the format does not carry one (OFAC: default `OFAC-SDN`; CSL and JSONL carry theirs).
pub fn load(
    format: ListFormat,
    path: &Path,
    list_name: Option<&str>,
) -> Result<LoadReport, ListError> {
    match format {
        ListFormat::OfacSdn => ofac::load_dir(path, list_name.unwrap_or("OFAC-SDN")),
        ListFormat::Csl => csl::load_file(path, list_name),
        ListFormat::Jsonl => native::load_file(path, list_name),
    }
}
