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
    /// Bearer tokens of the enrollment API (`/v1/...`), each stored only as the SHA-256 of
    /// the token (`parcel-screener tokens hash`). The API is served only when at least one
    /// token is configured, here or in `tokens_file`.
    pub tokens: Vec<ApiTokenConfig>,
    /// A file of more tokens (TOML with `[[tokens]]` entries, or JSONL with one entry per
    /// line when it ends in `.jsonl`), read when the API starts, so that production keeps
    /// them out of the main file. Relative to the config file's directory.
    pub tokens_file: Option<PathBuf>,
    /// Largest request body the enrollment API accepts, in bytes (413 beyond it).
    /// `POST /v1/screen` takes records up to `limits.max_record_bytes` instead, as the
    /// pipeline does.
    pub max_body_bytes: usize,
}

/// The default `admin.addr`.
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:9898";

/// The default `admin.max_body_bytes`: 64 KiB, far above any enrollment.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            addr: DEFAULT_ADMIN_ADDR.to_string(),
            tokens: Vec::new(),
            tokens_file: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// One bearer token of the enrollment API: `[[admin.tokens]]`, or an entry of
/// `admin.tokens_file`. Bound to exactly one of a marketplace (which then acts only on the
/// known shippers it enrolled) or the `operations` role (all shippers, and `/v1/screen`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiTokenConfig {
    /// Names the token in the audit log (never the token itself), e.g. `acme-2026-01`.
    pub id: String,
    /// SHA-256 of the token, 64 hex digits (`parcel-screener tokens hash`).
    pub sha256: String,
    /// The marketplace id the token acts for (the `enrolled_by` of its shippers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marketplace: Option<String>,
    /// `operations`: customs operations staff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<ApiRole>,
}

/// Roles a token can carry instead of a marketplace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiRole {
    Operations,
}

impl ApiTokenConfig {
    /// Every problem with this entry, each naming `{at}.<field>` (`at` as
    /// `admin.tokens[2]`).
    pub fn problems(&self, at: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.id.trim().is_empty() {
            problems.push(format!("{at}.id: must not be empty"));
        }
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            problems.push(format!(
                "{at}.sha256: expected 64 hex digits (the SHA-256 of the token, from \
                 `parcel-screener tokens hash`), got {} characters",
                self.sha256.len()
            ));
        }
        match (&self.marketplace, self.role) {
            (Some(_), Some(_)) => problems.push(format!(
                "{at}.role: give either marketplace or role, not both"
            )),
            (None, None) => problems.push(format!(
                "{at}.marketplace: give either marketplace (a marketplace id) or role = \"operations\""
            )),
            (Some(marketplace), None) if marketplace.trim().is_empty() => {
                problems.push(format!("{at}.marketplace: must not be empty"));
            }
            _ => {}
        }
        problems
    }
}

/// Problems across a set of tokens: each entry's own, and ids or hashes given twice.
pub fn token_problems(tokens: &[(String, &ApiTokenConfig)]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut ids = std::collections::HashMap::new();
    let mut hashes = std::collections::HashMap::new();
    for (at, token) in tokens {
        problems.extend(token.problems(at));
        if let Some(first) = ids.insert(token.id.as_str(), at.as_str()) {
            problems.push(format!("{at}.id: {:?} is also the id of {first}", token.id));
        }
        let hash = token.sha256.to_ascii_lowercase();
        if let Some(first) = hashes.insert(hash, at.as_str()) {
            problems.push(format!("{at}.sha256: same token as {first}"));
        }
    }
    problems
}

#[derive(Debug, thiserror::Error)]
pub enum TokensFileError {
    #[error("admin.tokens_file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("admin.tokens_file {path}: {problems}")]
    Invalid { path: PathBuf, problems: String },
    #[error("admin tokens: {0}")]
    Problems(String),
}

/// The entries of a tokens file of the form `[[tokens]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    #[serde(default)]
    tokens: Vec<ApiTokenConfig>,
}

impl AdminConfig {
    /// Every configured token: `tokens`, then the entries of `tokens_file` (read now).
    /// Checks them all together (ids and hashes must be unique across both); every
    /// problem names the file, the entry and the field.
    pub fn load_tokens(&self) -> Result<Vec<ApiTokenConfig>, TokensFileError> {
        let mut tokens = self.tokens.clone();
        let mut labels: Vec<String> = (0..tokens.len())
            .map(|i| format!("admin.tokens[{i}]"))
            .collect();
        if let Some(path) = &self.tokens_file {
            let invalid = |problems: String| TokensFileError::Invalid {
                path: path.clone(),
                problems,
            };
            let text = std::fs::read_to_string(path).map_err(|source| TokensFileError::Read {
                path: path.clone(),
                source,
            })?;
            if path.extension().is_some_and(|e| e == "jsonl") {
                for (index, line) in text.lines().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let token = serde_json::from_str::<ApiTokenConfig>(line)
                        .map_err(|e| invalid(format!("line {}: {e}", index + 1)))?;
                    labels.push(format!("{} line {}", path.display(), index + 1));
                    tokens.push(token);
                }
            } else {
                let file: TokensFile = Figment::from(Toml::string(&text))
                    .extract()
                    .map_err(|e| invalid(e.to_string()))?;
                for (index, token) in file.tokens.into_iter().enumerate() {
                    labels.push(format!("{} tokens[{index}]", path.display()));
                    tokens.push(token);
                }
            }
        }
        let labelled: Vec<(String, &ApiTokenConfig)> = labels.into_iter().zip(&tokens).collect();
        let problems = token_problems(&labelled);
        if !problems.is_empty() {
            return Err(TokensFileError::Problems(problems.join("; ")));
        }
        Ok(tokens)
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

/// Replaces what an error about `kafka.client_properties` would echo of the value: it may be
/// a secret (`SCREENER_KAFKA__CLIENT_PROPERTIES` carries `sasl.password`), and config errors
/// are printed and logged.
fn redact_client_properties(error: figment::Error) -> figment::Error {
    let mut redacted: Option<figment::Error> = None;
    for mut single in error {
        let about_properties = single
            .path
            .iter()
            .any(|key| key.eq_ignore_ascii_case("client_properties"));
        if about_properties {
            single.kind = figment::error::Kind::Message(
                "expected a table of librdkafka properties, e.g. {\"sasl.password\" = \"…\"} \
                 (the value is not shown: it may hold secrets)"
                    .to_string(),
            );
        }
        redacted = Some(match redacted {
            None => single,
            Some(chain) => chain.chain(single),
        });
    }
    redacted.unwrap_or_else(|| figment::Error::from("invalid configuration".to_string()))
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
            source: Box::new(redact_client_properties(source)),
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
        if let Some(path) = &mut self.admin.tokens_file {
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
        if self.admin.max_body_bytes == 0 {
            problems.push("admin.max_body_bytes: must be > 0".to_string());
        }
        // The inline tokens are checked here; a tokens_file is read and checked when the API
        // starts (AdminConfig::load_tokens), like the list files.
        let inline: Vec<(String, &ApiTokenConfig)> = (self.admin.tokens.iter().enumerate())
            .map(|(i, token)| (format!("admin.tokens[{i}]"), token))
            .collect();
        problems.extend(token_problems(&inline));
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
    fn a_malformed_client_properties_value_is_not_echoed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(
            dir.path(),
            "[kafka]\nclient_properties = \"sasl.password=hunter2-secret\"\n",
        );
        let error = Config::load(&path).expect_err("not a table").to_string();
        assert!(error.contains("client_properties"), "{error}");
        assert!(error.contains("not shown"), "{error}");
        assert!(!error.contains("hunter2"), "the secret leaked: {error}");
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
    fn kafka_linger_ms_is_read_and_bounded_by_librdkafkas_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(dir.path(), "[kafka]\nlinger_ms = 0\n");
        assert_eq!(Config::load(&path).expect("loads").kafka.linger_ms, 0);
        let path = write(dir.path(), "[kafka]\nlinger_ms = 900001\n");
        let error = Config::load(&path).expect_err("over the limit").to_string();
        assert!(
            error.contains("kafka.linger_ms") && error.contains("900000"),
            "{error}"
        );
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

    const HASH_A: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const HASH_B: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn admin_tokens_are_checked_at_load_naming_the_field() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (entry, field) in [
            (
                format!(
                    "id = \"a\"\nsha256 = \"{HASH_A}\"\nmarketplace = \"M\"\nrole = \"operations\""
                ),
                "admin.tokens[0].role",
            ),
            (
                format!("id = \"a\"\nsha256 = \"{HASH_A}\""),
                "admin.tokens[0].marketplace",
            ),
            (
                "id = \"a\"\nsha256 = \"secret\"\nrole = \"operations\"".to_string(),
                "admin.tokens[0].sha256",
            ),
            (
                format!("id = \"\"\nsha256 = \"{HASH_A}\"\nrole = \"operations\""),
                "admin.tokens[0].id",
            ),
        ] {
            let path = write(dir.path(), &format!("[[admin.tokens]]\n{entry}\n"));
            let error = Config::load(&path).expect_err(field).to_string();
            assert!(error.contains(field), "{field}: {error}");
        }
        let path = write(
            dir.path(),
            "[[admin.tokens]]\nid = \"a\"\nsha256 = \"x\"\nrole = \"admin\"\n",
        );
        let error = Config::load(&path).expect_err("unknown role").to_string();
        assert!(error.contains("admin"), "{error}");
        let path = write(dir.path(), "[admin]\nmax_body_bytes = 0\n");
        let error = Config::load(&path).expect_err("zero").to_string();
        assert!(error.contains("admin.max_body_bytes"), "{error}");
    }

    #[test]
    fn admin_tokens_file_is_read_when_the_tokens_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(
            dir.path(),
            &format!(
                "[admin]\ntokens_file = \"tokens.jsonl\"\n[[admin.tokens]]\nid = \"ops\"\nsha256 = \"{HASH_A}\"\nrole = \"operations\"\n"
            ),
        );
        let config = Config::load(&path).expect("loads without reading the tokens file");
        assert_eq!(
            config.admin.tokens_file,
            Some(dir.path().join("tokens.jsonl"))
        );
        assert_eq!(config.admin.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        let error = config.admin.load_tokens().expect_err("missing").to_string();
        assert!(error.contains("admin.tokens_file"), "{error}");

        let file = dir.path().join("tokens.jsonl");
        std::fs::write(
            &file,
            format!("{{\"id\":\"acme\",\"sha256\":\"{HASH_B}\",\"marketplace\":\"MKT-ACME\"}}\n\n"),
        )
        .expect("write");
        let tokens = config.admin.load_tokens().expect("loads");
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens[1].marketplace.as_deref(), Some("MKT-ACME"));

        // Unique across the config and the file.
        std::fs::write(
            &file,
            format!("{{\"id\":\"ops\",\"sha256\":\"{HASH_B}\",\"role\":\"operations\"}}\n"),
        )
        .expect("write");
        let error = config.admin.load_tokens().expect_err("same id").to_string();
        assert!(error.contains("tokens.jsonl line 1.id"), "{error}");
        std::fs::write(&file, "{\"id\":\"x\",\"sha256\":\"y\",\"colour\":1}\n").expect("write");
        let error = config
            .admin
            .load_tokens()
            .expect_err("unknown field")
            .to_string();
        assert!(
            error.contains("line 1") && error.contains("colour"),
            "{error}"
        );
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
