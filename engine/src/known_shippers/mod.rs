//! The known-shipper registry (SPEC §6): vetted sellers that marketplaces enroll.
//!
//! Entries are JSONL `{id, name, address, country, enrolled_by, status, valid_from, valid_to?}`.
//! The registry is an immutable snapshot keyed by id; updates build a new snapshot (the
//! service swaps it atomically), so readers never lock.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::lists::LoadProblem;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownShipper {
    /// Enrollment id, claimed by parcels in `known_shipper_id`.
    pub id: String,
    /// Enrolled legal name of the shipper.
    pub name: String,
    /// Enrolled address, one free-text string.
    pub address: String,
    /// ISO 3166-1 alpha-2 country of the enrolled address.
    pub country: String,
    /// Marketplace id that enrolled (and so owns) this shipper.
    pub enrolled_by: String,
    pub status: KnownShipperStatus,
    /// First day (UTC) the enrollment is valid.
    pub valid_from: NaiveDate,
    /// Last day (UTC) the enrollment is valid, inclusive; open-ended when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum KnownShipperStatus {
    Active,
    Suspended,
    Revoked,
}

impl KnownShipperStatus {
    pub const ALL: [KnownShipperStatus; 3] = [
        KnownShipperStatus::Active,
        KnownShipperStatus::Suspended,
        KnownShipperStatus::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KnownShipperStatus::Active => "ACTIVE",
            KnownShipperStatus::Suspended => "SUSPENDED",
            KnownShipperStatus::Revoked => "REVOKED",
        }
    }
}

impl KnownShipper {
    /// Whether the enrollment's validity dates cover `at`.
    pub fn is_valid_on(&self, at: DateTime<Utc>) -> bool {
        let day = at.date_naive();
        day >= self.valid_from && self.valid_to.is_none_or(|last| day <= last)
    }

    /// Checks the fields a JSON schema cannot: non-empty strings, a real country code,
    /// `valid_to` not before `valid_from`. Returns every problem, each naming its field.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (field, value) in [
            ("id", &self.id),
            ("name", &self.name),
            ("address", &self.address),
            ("enrolled_by", &self.enrolled_by),
        ] {
            if value.trim().is_empty() {
                problems.push(format!("{field}: must not be empty"));
            }
        }
        if !crate::lists::country::is_alpha2(&self.country) {
            problems.push(format!(
                "country: expected ISO 3166-1 alpha-2, got {:?}",
                self.country
            ));
        }
        if let Some(valid_to) = self.valid_to {
            if valid_to < self.valid_from {
                problems.push(format!(
                    "valid_to: {valid_to} is before valid_from {}",
                    self.valid_from
                ));
            }
        }
        problems
    }
}

/// An immutable snapshot of the registry.
#[derive(Debug, Clone, Default)]
pub struct KnownShipperRegistry {
    /// By enrollment id. A `HashMap` rather than a sorted map: lookups by id are the only
    /// hot-path access; listings sort on demand.
    by_id: HashMap<String, KnownShipper>,
}

impl KnownShipperRegistry {
    pub fn new(shippers: impl IntoIterator<Item = KnownShipper>) -> Self {
        let by_id = shippers
            .into_iter()
            .map(|shipper| (shipper.id.clone(), shipper))
            .collect();
        KnownShipperRegistry { by_id }
    }

    pub fn get(&self, id: &str) -> Option<&KnownShipper> {
        self.by_id.get(id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &KnownShipper> {
        self.by_id.values()
    }

    /// Number of shippers with the given status (for `screener_known_shippers{status}`).
    pub fn count_with_status(&self, status: KnownShipperStatus) -> usize {
        self.by_id.values().filter(|s| s.status == status).count()
    }

    /// A copy with `shipper` inserted or replaced.
    pub fn with_upsert(&self, shipper: KnownShipper) -> Self {
        let mut by_id = self.by_id.clone();
        by_id.insert(shipper.id.clone(), shipper);
        KnownShipperRegistry { by_id }
    }

    /// A copy without the shipper `id`.
    pub fn with_removed(&self, id: &str) -> Self {
        let mut by_id = self.by_id.clone();
        by_id.remove(id);
        KnownShipperRegistry { by_id }
    }
}

/// Loads a known-shipper JSONL file. Bad lines are reported (with line numbers) and skipped.
pub fn load_file(path: &Path) -> Result<(Vec<KnownShipper>, Vec<LoadProblem>), std::io::Error> {
    let text = std::fs::read_to_string(path)?;
    Ok(parse_jsonl(&text, path))
}

/// Parses known-shipper JSONL text; `path` is only used to label problems.
pub fn parse_jsonl(text: &str, path: &Path) -> (Vec<KnownShipper>, Vec<LoadProblem>) {
    let mut shippers = Vec::new();
    let mut problems = Vec::new();
    let problem_at = |line: usize, problem: String| LoadProblem {
        file: PathBuf::from(path),
        line: Some(line as u64 + 1),
        problem,
    };
    for (line_index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<KnownShipper>(line) {
            Ok(shipper) => {
                let shipper_problems = shipper.problems();
                if shipper_problems.is_empty() {
                    shippers.push(shipper);
                } else {
                    problems.push(problem_at(line_index, shipper_problems.join("; ")));
                }
            }
            Err(error) => problems.push(problem_at(line_index, error.to_string())),
        }
    }
    (shippers, problems)
}

/// A version name for a registry snapshot, derived from its content: the same shippers give
/// the same version on every instance and after every restart, so decisions stay
/// deterministic. `ks-` and 16 hex digits.
pub fn content_version(registry: &KnownShipperRegistry) -> String {
    let mut shippers: Vec<&KnownShipper> = registry.iter().collect();
    shippers.sort_by(|a, b| a.id.cmp(&b.id));
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for shipper in shippers {
        // Serialising a plain struct of strings and dates cannot fail.
        let line = serde_json::to_vec(shipper).unwrap_or_default();
        hasher.update(&line);
        hasher.update(b"\n");
    }
    format!("ks-{:016x}", hasher.digest())
}
