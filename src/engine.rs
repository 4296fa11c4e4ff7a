//! Building the screening engine from the configuration: loading the watch lists and the
//! known-shipper registry from files, indexing them, and naming their versions.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use screener_engine::decision::ListVersions;
use screener_engine::known_shippers::{self, KnownShipperRegistry};
use screener_engine::lists::{self, LoadProblem, WatchEntry};
use screener_engine::matching::Matcher;
use screener_engine::rules::Screener;

use crate::config::{Config, WatchlistSource};

/// What loading found, for `lists check` and the start-up log.
#[derive(Debug, Clone)]
pub struct LoadSummary {
    pub lists: Vec<ListSummary>,
    pub known_shippers_file: Option<PathBuf>,
    pub known_shipper_problems: Vec<LoadProblem>,
    pub load_time: Duration,
    pub index_time: Duration,
}

/// Counts for one loaded list source.
#[derive(Debug, Clone)]
pub struct ListSummary {
    pub source: WatchlistSource,
    pub entries: usize,
    pub aliases: usize,
    pub addresses: usize,
    pub problems: Vec<LoadProblem>,
}

impl LoadSummary {
    pub fn problem_count(&self) -> usize {
        self.lists.iter().map(|l| l.problems.len()).sum::<usize>()
            + self.known_shipper_problems.len()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    List(#[from] lists::ListError),
    #[error("cannot read known-shipper registry {path}: {source}")]
    KnownShippers {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Loads every configured watch list, in order.
pub fn load_watchlists(
    config: &Config,
) -> Result<(Vec<WatchEntry>, Vec<ListSummary>), EngineError> {
    let mut entries = Vec::new();
    let mut summaries = Vec::new();
    for source in &config.lists.watchlists {
        let report = lists::load(source.format, &source.path, source.name.as_deref())?;
        summaries.push(ListSummary {
            source: source.clone(),
            entries: report.entries.len(),
            aliases: report.entries.iter().map(|e| e.aliases.len()).sum(),
            addresses: report.entries.iter().map(|e| e.addresses.len()).sum(),
            problems: report.problems,
        });
        entries.extend(report.entries);
    }
    Ok((entries, summaries))
}

/// Loads the configured known-shipper registry (empty when none is configured).
pub fn load_known_shippers(
    config: &Config,
) -> Result<(KnownShipperRegistry, Vec<LoadProblem>), EngineError> {
    let Some(path) = &config.lists.known_shippers else {
        return Ok((KnownShipperRegistry::default(), Vec::new()));
    };
    let (shippers, problems) =
        known_shippers::load_file(path).map_err(|source| EngineError::KnownShippers {
            path: path.clone(),
            source,
        })?;
    Ok((KnownShipperRegistry::new(shippers), problems))
}

/// Builds the screener from the configured files.
pub fn build_screener(config: &Config) -> Result<(Screener, LoadSummary), EngineError> {
    let started = Instant::now();
    let (entries, list_summaries) = load_watchlists(config)?;
    let (registry, known_shipper_problems) = load_known_shippers(config)?;
    let load_time = started.elapsed();
    let list_versions = ListVersions {
        watchlist: lists::content_version(&entries).into(),
        known_shippers: known_shippers::content_version(&registry).into(),
    };
    let indexing_started = Instant::now();
    let matcher = Matcher::new(entries);
    let index_time = indexing_started.elapsed();
    let screener = Screener {
        matcher: Arc::new(matcher),
        known_shippers: Arc::new(registry),
        rules: config.rules.clone(),
        list_versions,
    };
    let summary = LoadSummary {
        lists: list_summaries,
        known_shippers_file: config.lists.known_shippers.clone(),
        known_shipper_problems,
        load_time,
        index_time,
    };
    Ok((screener, summary))
}
