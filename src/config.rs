//! Service configuration: a TOML file (default `config/screener.toml`) whose every key can be
//! overridden by an environment variable `SCREENER_<SECTION>__<KEY>` (double underscore
//! between levels, e.g. `SCREENER_RULES__WATCHLIST__HOLD_THRESHOLD=0.9`). Unknown keys, in the
//! file or the environment, are errors. Relative paths are relative to the config file's
//! directory, so the file works from any working directory.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::streaming::config::KafkaConfig;
use screener_engine::dedup::DedupConfig;
use screener_engine::lists::ListFormat;
use screener_engine::record::ParseLimits;
use screener_engine::rules::RulesConfig;

/// The default config file, relative to the working directory.
pub const DEFAULT_CONFIG_PATH: &str = "config/screener.toml";

/// Prefix of environment variables that override config keys.
pub const ENV_PREFIX: &str = "SCREENER_";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub lists: ListsConfig,
    /// Size limits for incoming records.
    pub limits: ParseLimits,
    pub rules: RulesConfig,
    /// Deduplication window and memory bound.
    pub dedup: DedupConfig,
    /// Brokers, topics, consumer group and client properties.
    pub kafka: KafkaConfig,
    pub log: LogConfig,
    /// The admin HTTP server (`/metrics`, `/health/*`).
    pub admin: AdminConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// `HOST:PORT` the admin server binds (`run --admin-addr` and `demo --admin-addr`
    /// override). Loopback by default: the admin API is not for the open network.
    pub addr: String,
}

/// The default `admin.addr`.
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:9898";

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            addr: DEFAULT_ADMIN_ADDR.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListsConfig {
    /// Watch lists loaded at start.
    pub watchlists: Vec<WatchlistSource>,
    /// Known-shipper registry (JSONL) loaded at start; none if absent.
    pub known_shippers: Option<PathBuf>,
    /// Apply the list topics (`kafka.topics.watchlist`, `kafka.topics.known_shippers`) over
    /// the files: read them at start, then follow them (`run` and `demo`). On by default; a
    /// missing topic then stops the start with an error rather than screening with stale
    /// lists unnoticed.
    pub follow_topics: bool,
}

impl Default for ListsConfig {
    fn default() -> Self {
        ListsConfig {
            watchlists: Vec::new(),
            known_shippers: None,
            follow_topics: true,
        }
    }
}


#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchlistSource {
    pub format: ListFormat,
    /// A directory for `ofac-sdn`, a file for `csl` and `jsonl`.
    pub path: PathBuf,
    /// List label in decisions; defaults to the format's own (`OFAC-SDN`, `CSL-<source>`, or
    /// the JSONL entries' `list`).
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` (default) or `json`.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `parcel_screener=debug`; `RUST_LOG` wins if set.
    pub level: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "config file {0} does not exist (pass --config FILE, or run from the repository root)"
    )]
    Missing(PathBuf),
    #[error("config {path}: {source}")]
    Invalid {
        path: PathBuf,
        #[source]
        source: Box<figment::Error>,
    },
    #[error("config {path}: {problems}")]
    Values { path: PathBuf, problems: String },
}

impl Config {
    /// Loads `path`, applies environment overrides, resolves relative paths against the file's
    /// directory and checks the values.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        if !path.exists() {
            return Err(ConfigError::Missing(path.to_path_buf()));
        }
        let figment = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file_exact(path))
            .merge(Env::prefixed(ENV_PREFIX).split("__"));
        let mut config: Config = figment.extract().map_err(|source| ConfigError::Invalid {
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(ConfigError::Values {
                path: path.to_path_buf(),
                problems: problems.join("; "),
            });
        }
        Ok(config)
    }

    /// Makes every relative path absolute against `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        let resolve = |path: &mut PathBuf| {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        };
        for source in &mut self.lists.watchlists {
            resolve(&mut source.path);
        }
        if let Some(path) = &mut self.lists.known_shippers {
            resolve(path);
        }
    }

    /// Every problem with the values, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = self.rules.problems();
        problems.extend(self.kafka.problems());
        if self.dedup.max_keys == 0 {
            problems.push("dedup.max_keys: must be > 0".to_string());
        }
        if self.limits.max_record_bytes == 0 {
            problems.push("limits.max_record_bytes: must be > 0".to_string());
        }
        let port = self.admin.addr.rsplit_once(':').map(|(_, port)| port);
        if port.is_none_or(|port| port.parse::<u16>().is_err()) {
            problems.push(format!(
                "admin.addr: expected HOST:PORT, got {:?}",
                self.admin.addr
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("screener.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }

    #[test]
    fn bundled_default_config_loads_and_points_at_existing_lists() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_CONFIG_PATH);
        let config = Config::load(&path).expect("bundled config loads");
        assert!(config.lists.watchlists.len() >= 2);
        for source in &config.lists.watchlists {
            assert!(source.path.exists(), "{} exists", source.path.display());
        }
        assert!(config
            .lists
            .known_shippers
            .as_ref()
            .is_some_and(|p| p.exists()));
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(dir.path(), "[rules.watchlist]\nhold_treshold = 0.9\n");
        let error = Config::load(&path).expect_err("typo rejected").to_string();
        assert!(error.contains("hold_treshold"), "{error}");
    }

    #[test]
    fn bad_values_are_rejected_with_their_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(
            dir.path(),
            "[rules.watchlist]\nhold_threshold = 0.8\nreview_threshold = 0.9\n",
        );
        let error = Config::load(&path)
            .expect_err("inverted thresholds")
            .to_string();
        assert!(error.contains("review_threshold"), "{error}");
    }

    #[test]
    fn admin_addr_defaults_to_loopback_and_must_be_host_port() {
        assert_eq!(Config::default().admin.addr, "127.0.0.1:9898");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(dir.path(), "[admin]\naddr = \"127.0.0.1\"\n");
        let error = Config::load(&path).expect_err("no port").to_string();
        assert!(error.contains("admin.addr"), "{error}");
    }

    #[test]
    fn relative_paths_resolve_against_the_config_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(
            dir.path(),
            "[lists]\nknown_shippers = \"ks.jsonl\"\n[[lists.watchlists]]\nformat = \"jsonl\"\npath = \"wl.jsonl\"\n",
        );
        let config = Config::load(&path).expect("loads");
        assert_eq!(
            config.lists.known_shippers,
            Some(dir.path().join("ks.jsonl"))
        );
        assert_eq!(config.lists.watchlists[0].path, dir.path().join("wl.jsonl"));
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's own test harness returns its large error
    fn environment_overrides_a_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SCREENER_RULES__WATCHLIST__HOLD_THRESHOLD", "0.95");
            jail.create_file("screener.toml", "[rules.watchlist]\nhold_threshold = 0.9\n")?;
            let config = Config::load(Path::new("screener.toml")).expect("loads");
            assert_eq!(config.rules.watchlist.hold_threshold, 0.95);
            Ok(())
        });
    }
}
