//! Integration tests against a real, separate Kafka-protocol broker (Tansu 0.6.0, fetched and
//! started by `scripts/tansu.sh`), with the screener as a separate `parcel-screener run`
//! process, as operators run it.
//!
//! Every test checks the outcome against the offline engine: the same feed screened by
//! `parcel-screener screen` gives the expected decisions, and the streaming service must
//! publish exactly those (apart from the timing fields), plus one rejection per malformed
//! record.
//!
//! Tests here share the machine's two cores with a broker and up to two screeners each, so
//! they run one at a time (`SERIAL`).

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

const BINARY: &str = env!("CARGO_BIN_EXE_parcel-screener");
const ADVANCE_PARTITIONS: i32 = 4;
const DECISION_PARTITIONS: i32 = 4;
const REJECTED_PARTITIONS: i32 = 1;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A Tansu broker on a free loopback port, stopped on drop.
struct Tansu {
    address: String,
    pidfile: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tansu {
    fn start() -> Tansu {
        Tansu::start_advertising(None)
    }

    /// Starts a broker that tells clients to connect to `advertised_port` (where a test's
    /// proxy listens) instead of its own port; its topics are then created by the caller,
    /// through the proxy. `address` is always the broker's own port.
    fn start_advertising(advertised_port: Option<u16>) -> Tansu {
        let dir = tempfile::tempdir().expect("temp dir");
        let pidfile = dir.path().join("tansu.pid");
        let log = dir.path().join("tansu.log");
        let mut command = Command::new(root().join("scripts/tansu.sh"));
        command.arg("start");
        if let Some(port) = advertised_port {
            command.arg("--advertised-port").arg(port.to_string());
        }
        let output = command
            .arg("--pidfile")
            .arg(&pidfile)
            .arg("--log")
            .arg(&log)
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/tansu.sh");
        assert!(output.status.success(), "scripts/tansu.sh start failed");
        let address = String::from_utf8(output.stdout)
            .expect("utf-8")
            .trim()
            .to_string();
        assert!(
            address.starts_with("127.0.0.1:"),
            "unexpected address {address:?}"
        );
        let tansu = Tansu {
            address,
            pidfile,
            _dir: dir,
        };
        if advertised_port.is_none() {
            tansu.create_topics(&tansu.address);
        }
        tansu
    }

    fn create_topics(&self, via: &str) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", via)
            .create()
            .expect("admin client");
        let topics = [
            NewTopic::new(
                "parcels.advance",
                ADVANCE_PARTITIONS,
                TopicReplication::Fixed(1),
            ),
            NewTopic::new(
                "parcels.decisions",
                DECISION_PARTITIONS,
                TopicReplication::Fixed(1),
            ),
            NewTopic::new(
                "parcels.rejected",
                REJECTED_PARTITIONS,
                TopicReplication::Fixed(1),
            ),
            NewTopic::new("lists.watchlist", 1, TopicReplication::Fixed(1))
                .set("cleanup.policy", "compact"),
            NewTopic::new("lists.known-shippers", 1, TopicReplication::Fixed(1))
                .set("cleanup.policy", "compact"),
        ];
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let results = runtime
            .block_on(admin.create_topics(&topics, &AdminOptions::new()))
            .expect("create topics");
        for result in results {
            result.expect("topic created");
        }
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = Command::new(root().join("scripts/tansu.sh"))
            .arg("stop")
            .arg("--pidfile")
            .arg(&self.pidfile)
            .status();
    }
}

/// A generated feed and what the offline engine decided for it.
struct Expected {
    lines: Vec<Vec<u8>>,
    /// Decisions without timing fields, by (parcel key, version).
    decisions: HashMap<(String, u64), Value>,
    rejected: usize,
}

fn generate_and_screen_offline(parcels: usize, seed: u64) -> Expected {
    let dir = tempfile::tempdir().expect("temp dir");
    let feed = dir.path().join("feed.jsonl");
    let status = Command::new(BINARY)
        .current_dir(root())
        .args([
            "generate",
            "--parcels",
            &parcels.to_string(),
            "--seed",
            &seed.to_string(),
            "-o",
        ])
        .arg(&feed)
        .stderr(Stdio::null())
        .status()
        .expect("generate");
    assert!(status.success());
    let rejects = dir.path().join("rejects.jsonl");
    let output = Command::new(BINARY)
        .current_dir(root())
        .args(["screen", "--input"])
        .arg(&feed)
        .arg("--rejects")
        .arg(&rejects)
        .stderr(Stdio::null())
        .output()
        .expect("screen");
    assert!(output.status.success());
    let mut decisions = HashMap::new();
    for line in String::from_utf8(output.stdout).expect("utf-8").lines() {
        let decision = strip_timing(serde_json::from_str(line).expect("decision JSON"));
        let key = decision_key(&decision);
        assert!(
            decisions.insert(key, decision).is_none(),
            "offline decisions are unique per key and version"
        );
    }
    let rejected = std::fs::read_to_string(&rejects)
        .expect("rejects")
        .lines()
        .count();
    let lines = std::fs::read(&feed)
        .expect("feed")
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    Expected {
        lines,
        decisions,
        rejected,
    }
}

fn strip_timing(mut decision: Value) -> Value {
    if let Some(object) = decision.as_object_mut() {
        object.remove("decided_at");
        object.remove("latency_ms");
    }
    decision
}

fn decision_key(decision: &Value) -> (String, u64) {
    (
        decision["parcel_key"]
            .as_str()
            .expect("parcel_key")
            .to_string(),
        decision["version"].as_u64().expect("version"),
    )
}

/// The Kafka key a courier would use: the parcel key, when the record can be read.
fn kafka_key(line: &[u8]) -> String {
    screener_engine::record::parse_record(line, &Default::default())
        .map(|record| record.parcel_key().into_string())
        .unwrap_or_default()
}

/// Produces `lines` to `parcels.advance`, `rate` per second (0: at once). Blocks until all
/// are acknowledged.
fn produce(address: &str, lines: &[Vec<u8>], rate: u64) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", address)
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let started = Instant::now();
    for (n, line) in lines.iter().enumerate() {
        if rate > 0 {
            let due = Duration::from_secs_f64(n as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let key = kafka_key(line);
        let mut record = BaseRecord::to("parcels.advance").key(&key).payload(line);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, returned)) => {
                    record = returned;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
    // Long enough to outlast the outage test's 30 s cut.
    producer.flush(Duration::from_secs(120)).expect("flush");
}

/// A `parcel-screener run` process, killed on drop if still running.
struct Screener {
    child: Child,
    log: PathBuf,
}

impl Screener {
    fn start(address: &str, group: &str, log_dir: &Path, name: &str) -> Screener {
        Screener::start_with(address, group, log_dir, name, &[])
    }

    /// As [`Screener::start`], with extra `run` arguments.
    fn start_with(
        address: &str,
        group: &str,
        log_dir: &Path,
        name: &str,
        extra: &[&str],
    ) -> Screener {
        Screener::start_configured(address, group, log_dir, name, extra, &[])
    }

    /// As [`Screener::start_with`], with extra environment (config overrides).
    fn start_configured(
        address: &str,
        group: &str,
        log_dir: &Path,
        name: &str,
        extra: &[&str],
        environment: &[(&str, &str)],
    ) -> Screener {
        let log = log_dir.join(format!("{name}.log"));
        let child = Command::new(BINARY)
            .envs(environment.iter().copied())
            .current_dir(root())
            .args(["run", "--brokers", address])
            .args(extra)
            .env("SCREENER_KAFKA__GROUP_ID", group)
            .env("SCREENER_KAFKA__SESSION_TIMEOUT_MS", "6000")
            .env("SCREENER_KAFKA__COMMIT_INTERVAL_MS", "200")
            // Two screeners at once: each on its own free admin port.
            .env("SCREENER_ADMIN__ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start parcel-screener run");
        Screener { child, log }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then the exit status (within `limit`).
    fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Screener {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads a topic's partitions from the beginning (no group: no join delay).
struct Reader {
    consumer: BaseConsumer,
    /// Positions (partition, offset) already read: a reader that starts a partition over
    /// (after an offset reset) does not count a record twice.
    seen: std::cell::RefCell<std::collections::HashSet<(i32, i64)>>,
}

impl Reader {
    fn new(address: &str, topic: &str, partitions: i32) -> Reader {
        Reader::with_isolation(address, topic, partitions, "read_uncommitted")
    }

    /// A reader with `isolation.level` set (`read_committed` sees only committed
    /// transactions).
    fn with_isolation(address: &str, topic: &str, partitions: i32, isolation: &str) -> Reader {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", address)
            .set("isolation.level", isolation)
            .set("group.id", format!("test-reader-{topic}"))
            .set("enable.auto.commit", "false")
            // After a lost connection a position may be judged out of range; start over
            // rather than skip ahead (re-reading is harmless: checks count distinct keys).
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "10")
            .create()
            .expect("reader");
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions {
            assignment
                .add_partition_offset(topic, partition, Offset::Beginning)
                .expect("partition");
        }
        consumer.assign(&assignment).expect("assign");
        Reader {
            consumer,
            seen: Default::default(),
        }
    }

    /// Reads what arrives within `wait`, returning early once `enough` says so.
    fn read(
        &self,
        wait: Duration,
        into: &mut Vec<Vec<u8>>,
        mut enough: impl FnMut(&[Vec<u8>]) -> bool,
    ) {
        let started = Instant::now();
        while started.elapsed() < wait && !enough(into) {
            if let Some(Ok(message)) = self.consumer.poll(Duration::from_millis(100)) {
                let position = (message.partition(), message.offset());
                if self.seen.borrow_mut().insert(position) {
                    into.push(message.payload().unwrap_or_default().to_vec());
                }
            }
        }
    }
}

/// Checks every decision read against the offline ones: each is one of them, identical apart
/// from timing; every offline decision was published. Returns how many were redelivered.
fn check_decisions(expected: &Expected, read: &[Vec<u8>]) -> usize {
    let mut seen: HashMap<(String, u64), usize> = HashMap::new();
    for payload in read {
        let decision = strip_timing(serde_json::from_slice(payload).expect("decision JSON"));
        let key = decision_key(&decision);
        let offline = expected
            .decisions
            .get(&key)
            .unwrap_or_else(|| panic!("a decision the offline engine did not make: {decision}"));
        assert_eq!(
            &decision, offline,
            "streaming and offline decisions differ for {key:?}"
        );
        *seen.entry(key).or_default() += 1;
    }
    let missing: Vec<_> = expected
        .decisions
        .keys()
        .filter(|k| !seen.contains_key(*k))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "{} decisions never published, e.g. {missing:?}",
        expected.decisions.len() - seen.len()
    );
    seen.values().map(|n| n - 1).sum()
}

/// A [`Reader::read`] stop condition: `target` distinct decisions (parcel key, version) read.
/// Each payload is parsed once: re-reading everything at each message costs quadratic time
/// (over a minute in a debug build for 5,000 decisions).
fn distinct_decisions_seen(target: usize) -> impl FnMut(&[Vec<u8>]) -> bool {
    let mut keys = std::collections::HashSet::new();
    let mut parsed = 0;
    move |read: &[Vec<u8>]| {
        for payload in &read[parsed.min(read.len())..] {
            keys.insert(decision_key(
                &serde_json::from_slice(payload).expect("decision JSON"),
            ));
        }
        parsed = read.len();
        keys.len() >= target
    }
}

fn all_decisions_seen(expected: usize) -> impl Fn(&[Vec<u8>]) -> bool {
    move |read: &[Vec<u8>]| read.len() >= expected
}

#[test]
fn stream_publishes_exactly_the_offline_decisions_and_rejections() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let tansu = Tansu::start();
    let expected = generate_and_screen_offline(2_000, 11);
    produce(&tansu.address, &expected.lines, 0);
    let logs = tempfile::tempdir().expect("log dir");
    let mut screener = Screener::start(&tansu.address, "it-exact", logs.path(), "screener");

    let mut decisions = Vec::new();
    Reader::new(&tansu.address, "parcels.decisions", DECISION_PARTITIONS).read(
        Duration::from_secs(90),
        &mut decisions,
        all_decisions_seen(expected.decisions.len()),
    );
    // Nothing more may come: wait a moment for strays.
    Reader::new(&tansu.address, "parcels.decisions", DECISION_PARTITIONS).read(
        Duration::from_secs(2),
        &mut Vec::new(),
        |_| false,
    );
    let mut rejected = Vec::new();
    Reader::new(&tansu.address, "parcels.rejected", REJECTED_PARTITIONS).read(
        Duration::from_secs(20),
        &mut rejected,
        all_decisions_seen(expected.rejected),
    );

    let redelivered = check_decisions(&expected, &decisions);
    assert_eq!(redelivered, 0, "no restart, so no decision twice");
    assert_eq!(
        rejected.len(),
        expected.rejected,
        "one rejection per malformed record"
    );
    for envelope in &rejected {
        let envelope: Value = serde_json::from_slice(envelope).expect("envelope JSON");
        assert_eq!(envelope["schema"], "rejected/v1");
        assert_eq!(envelope["source"]["topic"], "parcels.advance");
        assert!(envelope["original_base64"]
            .as_str()
            .is_some_and(|s| !s.is_empty()));
    }

    let status = screener
        .terminate(Duration::from_secs(30))
        .expect("exits within 30 s of SIGTERM");
    assert!(
        status.success(),
        "graceful exit: {status:?}\n{}",
        screener.log_text()
    );
    let log = screener.log_text();
    assert!(log.contains("stopped"), "{log}");
    eprintln!(
        "exact: {} lines, {} decisions, {} rejected",
        expected.lines.len(),
        decisions.len(),
        rejected.len()
    );
}

#[test]
fn sigkill_mid_stream_loses_nothing_and_redelivers_identical_decisions() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let tansu = Tansu::start();
    let expected = generate_and_screen_offline(6_000, 12);
    let logs = tempfile::tempdir().expect("log dir");
    let address = tansu.address.clone();
    let lines = expected.lines.clone();
    // The feed arrives over ~3 s while the screener runs.
    let producer = std::thread::spawn(move || produce(&address, &lines, 3_000));

    let reader = Reader::new(&tansu.address, "parcels.decisions", DECISION_PARTITIONS);
    let mut decisions = Vec::new();
    let mut kills = 0;
    let mut screener = Screener::start(&tansu.address, "it-kill", logs.path(), "first");
    let kill_points = [expected.decisions.len() / 4, expected.decisions.len() / 2];
    for (round, kill_at) in kill_points.iter().enumerate() {
        reader.read(
            Duration::from_secs(60),
            &mut decisions,
            all_decisions_seen(*kill_at),
        );
        screener.kill();
        kills += 1;
        screener = Screener::start(
            &tansu.address,
            "it-kill",
            logs.path(),
            &format!("restart-{round}"),
        );
    }
    producer.join().expect("producer thread");
    reader.read(
        Duration::from_secs(120),
        &mut decisions,
        distinct_decisions_seen(expected.decisions.len()),
    );
    reader.read(Duration::from_secs(2), &mut decisions, |_| false);
    let redelivered = check_decisions(&expected, &decisions);
    let status = screener
        .terminate(Duration::from_secs(30))
        .expect("exits after SIGTERM");
    assert!(status.success());
    let rebuilt = screener.log_text().matches("dedup state rebuilt").count();
    eprintln!(
        "sigkill: {} lines sent, {} kills, {} decisions read, {} distinct, {} redelivered (identical), lost 0, partitions rebuilt by the last instance: {rebuilt}",
        expected.lines.len(),
        kills,
        decisions.len(),
        expected.decisions.len(),
        redelivered
    );
}

/// Exactly-once (`kafka.delivery = exactly-once`): a graceful restart mid-stream (SIGTERM)
/// publishes no decision twice, because each transaction carried its input offsets; a
/// SIGKILL loses nothing. (Tansu serves an aborted transaction's records to read-committed
/// consumers, see scripts/README.md, so the killed instance's open transaction shows up as
/// duplicates here; a Kafka broker hides them.)
#[test]
fn exactly_once_restarts_without_duplicates_and_kills_lose_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let tansu = Tansu::start();
    let expected = generate_and_screen_offline(6_000, 13);
    let logs = tempfile::tempdir().expect("log dir");
    let address = tansu.address.clone();
    let lines = expected.lines.clone();
    // A feed of ~20 s, so that both restarts happen while it flows.
    let producer = std::thread::spawn(move || produce(&address, &lines, 400));
    let environment = [
        ("SCREENER_KAFKA__DELIVERY", "exactly-once"),
        ("SCREENER_KAFKA__TRANSACTIONAL_ID", "it-eos-instance-1"),
        // Tansu aborts a dead producer's open transaction only when it times out (Kafka
        // does at once when the restarted producer fences it): keep the timeout short.
        (
            "SCREENER_KAFKA__CLIENT_PROPERTIES",
            r#"{"transaction.timeout.ms" = "10000", "message.timeout.ms" = "10000"}"#,
        ),
    ];
    let start = |name: &str| {
        Screener::start_configured(
            &tansu.address,
            "it-eos",
            logs.path(),
            name,
            &[],
            &environment,
        )
    };
    let reader = Reader::with_isolation(
        &tansu.address,
        "parcels.decisions",
        DECISION_PARTITIONS,
        "read_committed",
    );
    let distinct = |read: &[Vec<u8>]| -> usize {
        read.iter()
            .map(|p| decision_key(&serde_json::from_slice(p).expect("JSON")))
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    let mut decisions = Vec::new();

    let mut screener = start("first");
    let quarter = expected.decisions.len() / 4;
    reader.read(
        Duration::from_secs(60),
        &mut decisions,
        all_decisions_seen(quarter),
    );
    assert!(decisions.len() >= quarter, "log:\n{}", screener.log_text());
    let status = screener
        .terminate(Duration::from_secs(30))
        .expect("exits after SIGTERM");
    assert!(status.success(), "log:\n{}", screener.log_text());
    // Everything the first instance committed, then a good share from the second.
    reader.read(Duration::from_secs(2), &mut decisions, |_| false);
    let mut screener = start("after-sigterm");
    let kill_at = decisions.len() + 1_000;
    reader.read(
        Duration::from_secs(60),
        &mut decisions,
        all_decisions_seen(kill_at),
    );
    let before_kill = decisions.len();
    assert_eq!(
        distinct(&decisions),
        before_kill,
        "a graceful restart published decisions twice"
    );

    screener.kill();
    let mut screener = start("after-sigkill");
    producer.join().expect("producer thread");
    reader.read(
        Duration::from_secs(120),
        &mut decisions,
        distinct_decisions_seen(expected.decisions.len()),
    );
    reader.read(Duration::from_secs(3), &mut decisions, |_| false);
    let redelivered = check_decisions(&expected, &decisions);
    let status = screener
        .terminate(Duration::from_secs(30))
        .expect("exits after SIGTERM");
    assert!(status.success(), "log:\n{}", screener.log_text());
    eprintln!(
        "exactly-once: {} lines sent; SIGTERM restart: {before_kill} decisions, 0 duplicates; \
         after a SIGKILL: {} read-committed decisions, {} expected, {} duplicates (the killed \
         instance's aborted transaction, which Tansu does not hide), lost 0",
        expected.lines.len(),
        decisions.len(),
        expected.decisions.len(),
        redelivered
    );
}

#[test]
fn two_instances_split_the_partitions_and_account_for_every_record() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let tansu = Tansu::start();
    let expected = generate_and_screen_offline(3_000, 13);
    let logs = tempfile::tempdir().expect("log dir");
    let mut first = Screener::start(&tansu.address, "it-pair", logs.path(), "a");
    let mut second = Screener::start(&tansu.address, "it-pair", logs.path(), "b");
    // Let both join before the feed arrives, so that both get work.
    std::thread::sleep(Duration::from_secs(5));
    produce(&tansu.address, &expected.lines, 0);

    let mut decisions = Vec::new();
    Reader::new(&tansu.address, "parcels.decisions", DECISION_PARTITIONS).read(
        Duration::from_secs(90),
        &mut decisions,
        all_decisions_seen(expected.decisions.len()),
    );
    let redelivered = check_decisions(&expected, &decisions);
    assert_eq!(redelivered, 0);
    for screener in [&mut first, &mut second] {
        let status = screener
            .terminate(Duration::from_secs(30))
            .expect("exits after SIGTERM");
        assert!(status.success());
        let log = screener.log_text();
        let received = received_at_stop(&log).unwrap_or_else(|| panic!("no stop line in {log}"));
        assert!(
            received > 0,
            "each instance screened part of the feed:\n{log}"
        );
    }
}

/// Waits until `condition` holds, checking every 200 ms, for at most `limit`.
fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    loop {
        if condition() {
            return true;
        }
        if started.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// An instance's current input partitions, from its log: the "partitions assigned" lines add
/// partitions and the "partitions revoked" lines remove them (the screener uses the
/// cooperative-sticky assignor, whose rebalances are incremental; with an eager one every
/// assignment follows a revocation of everything, which this reads the same way).
fn current_assignment(log: &str) -> Vec<i32> {
    let mut current = std::collections::BTreeSet::new();
    for line in log.lines() {
        let assigned = line.contains("partitions assigned");
        if !assigned && !line.contains("partitions revoked") {
            continue;
        }
        let partitions = line
            .split("partitions=[")
            .nth(1)
            .and_then(|rest| rest.split(']').next())
            .unwrap_or_default()
            .split(',')
            .filter_map(|p| p.trim().parse::<i32>().ok());
        for partition in partitions {
            if assigned {
                current.insert(partition);
            } else {
                current.remove(&partition);
            }
        }
    }
    current.into_iter().collect()
}

/// Whether `screeners` together hold every input partition, each at least one, without
/// overlap: the group has settled on them.
fn settled(screeners: &[&Screener]) -> bool {
    let mut all: Vec<i32> = Vec::new();
    for screener in screeners {
        let current = current_assignment(&screener.log_text());
        if current.is_empty() {
            return false;
        }
        all.extend(current);
    }
    all.sort_unstable();
    all == (0..ADVANCE_PARTITIONS).collect::<Vec<_>>()
}

/// The `received=` count of an instance's "stopped" line (logged after a graceful stop).
fn received_at_stop(log: &str) -> Option<u64> {
    log.lines()
        .filter(|l| l.contains("stopped"))
        .filter_map(|l| l.split("received=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .next()
}

/// Scale-out (issue #8): three instances in one group split the partitions; one is SIGKILLed
/// mid-stream and the two survivors take its partitions over; later a fourth joins and gets a
/// share. Every offline decision is published (redeliveries identical), every malformed
/// record rejected once; cross-feed copies of a parcel share its key, hence its partition and
/// one instance's deduplicator, so they are still suppressed: a copy screened again would
/// publish a decision the offline engine did not make (a second version) and fail the test.
#[test]
fn three_instances_one_killed_then_a_fourth_joining_account_for_every_record() {
    const RATE: u64 = 250;
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let started = Instant::now();
    let tansu = Tansu::start();
    let expected = generate_and_screen_offline(5_000, 15);
    let logs = tempfile::tempdir().expect("log dir");
    let start = |name: &str| Screener::start(&tansu.address, "it-scale", logs.path(), name);
    let all_logs = |screeners: &[&Screener]| -> String {
        screeners
            .iter()
            .map(|s| format!("--- {}\n{}", s.log.display(), s.log_text()))
            .collect()
    };

    let mut a = start("a");
    let mut b = start("b");
    let mut c = start("c");
    assert!(
        wait_until(Duration::from_secs(40), || settled(&[&a, &b, &c])),
        "three instances share the partitions\n{}",
        all_logs(&[&a, &b, &c])
    );
    let joined = started.elapsed();

    // The feed at RATE lines/s: three fifths at once, the rest once the fourth instance holds
    // partitions (so that it gets work).
    let split = expected.lines.len() * 3 / 5;
    let (go_on, gate) = std::sync::mpsc::channel::<()>();
    let address = tansu.address.clone();
    let lines = expected.lines.clone();
    let producer = std::thread::spawn(move || {
        produce(&address, &lines[..split], RATE);
        let _ = gate.recv();
        produce(&address, &lines[split..], RATE);
    });

    let reader = Reader::new(&tansu.address, "parcels.decisions", DECISION_PARTITIONS);
    let mut decisions = Vec::new();
    reader.read(
        Duration::from_secs(60),
        &mut decisions,
        all_decisions_seen(expected.decisions.len() / 6),
    );
    let victim_partitions = current_assignment(&b.log_text());
    let decisions_at_kill = decisions.len();
    b.kill();
    let killed_at = Instant::now();
    assert!(
        wait_until(Duration::from_secs(40), || settled(&[&a, &c])),
        "the survivors take the killed instance's partitions over\n{}",
        all_logs(&[&a, &c])
    );
    let takeover = killed_at.elapsed();

    let mut d = start("d");
    let d_started = Instant::now();
    assert!(
        wait_until(Duration::from_secs(40), || settled(&[&a, &c, &d])),
        "the fourth instance gets a share\n{}",
        all_logs(&[&a, &c, &d])
    );
    let d_joined = d_started.elapsed();
    let d_partitions = current_assignment(&d.log_text());
    let _ = go_on.send(());
    producer.join().expect("producer thread");
    let fed = started.elapsed();

    reader.read(
        Duration::from_secs(90),
        &mut decisions,
        distinct_decisions_seen(expected.decisions.len()),
    );
    let drained = started.elapsed();
    reader.read(Duration::from_secs(3), &mut decisions, |_| false);
    let redelivered = check_decisions(&expected, &decisions);

    // Every malformed record rejected (a redelivered rejection has the same source).
    let source = |envelope: &[u8]| {
        let envelope: Value = serde_json::from_slice(envelope).expect("envelope JSON");
        assert!(envelope["error"].is_string(), "{envelope}");
        (
            envelope["source"]["partition"].as_i64(),
            envelope["source"]["offset"].as_i64(),
        )
    };
    let mut rejected = Vec::new();
    Reader::new(&tansu.address, "parcels.rejected", REJECTED_PARTITIONS).read(
        Duration::from_secs(20),
        &mut rejected,
        |read| {
            read.iter()
                .map(|e| source(e))
                .collect::<std::collections::HashSet<_>>()
                .len()
                >= expected.rejected
        },
    );
    let distinct_rejected = rejected
        .iter()
        .map(|e| source(e))
        .collect::<std::collections::HashSet<_>>()
        .len();
    assert_eq!(
        distinct_rejected, expected.rejected,
        "one rejection per malformed record"
    );

    let checked = started.elapsed();
    let mut received = Vec::new();
    for (name, screener) in [("a", &mut a), ("c", &mut c), ("d", &mut d)] {
        let status = screener
            .terminate(Duration::from_secs(30))
            .expect("exits after SIGTERM");
        let log = screener.log_text();
        assert!(status.success(), "{name}:\n{log}");
        let count = received_at_stop(&log).unwrap_or_else(|| panic!("no stop line in {log}"));
        assert!(count > 0, "{name} screened part of the feed:\n{log}");
        received.push(format!("{name} {count}"));
    }
    let suppressed = expected.lines.len() - expected.decisions.len() - expected.rejected;
    eprintln!(
        "scale-out: {} lines sent; 3 instances joined in {:.1} s; b (partitions \
         {victim_partitions:?}) SIGKILLed after {decisions_at_kill} decisions, its partitions \
         taken over in {:.1} s; d joined in {:.1} s with partitions {d_partitions:?}; \
         received at stop: {}; {} decisions read = {} distinct + {redelivered} redelivered \
         (identical); {} rejected ({} distinct); {suppressed} duplicates suppressed \
         (cross-feed copies and replays, as offline); lost 0; feed done at {:.0} s, all \
         decisions at {:.0} s, checked at {:.0} s, {:.0} s in all",
        expected.lines.len(),
        joined.as_secs_f64(),
        takeover.as_secs_f64(),
        d_joined.as_secs_f64(),
        received.join(", "),
        decisions.len(),
        expected.decisions.len(),
        rejected.len(),
        distinct_rejected,
        fed.as_secs_f64(),
        drained.as_secs_f64(),
        checked.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
}

/// `kafka.client_properties` set only through the documented environment override
/// (`SCREENER_KAFKA__CLIENT_PROPERTIES`, docs/kafka-security.md) reach the running service's
/// Kafka clients, and the password in them is never logged: with SASL_SSL every connection
/// the screener opens starts with a TLS handshake record, where without the override it
/// starts with a plaintext Kafka request. The "broker" is a TCP listener of the test that
/// records each connection's first bytes and closes it (no Tansu: it speaks no TLS).
#[test]
fn sasl_ssl_client_properties_from_the_environment_reach_the_kafka_clients() {
    use std::io::Read;
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let secret = "pw-never-logged-7f3a9c";
    let properties = format!(
        r#"{{"security.protocol" = "SASL_SSL", "sasl.mechanism" = "SCRAM-SHA-512", "sasl.username" = "parcel-screener", "sasl.password" = "{secret}"}}"#
    );
    let logs = tempfile::tempdir().expect("log dir");
    // The first bytes of each connection the screener opened within 5 s of its first one.
    let first_bytes = |environment: &[(&str, &str)], name: &str| -> (Vec<[u8; 3]>, String) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let sender = sender.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut first = [0u8; 3];
                    if stream.read_exact(&mut first).is_ok() {
                        let _ = sender.send(first);
                    }
                });
            }
        });
        let mut screener =
            Screener::start_configured(&address, "it-sasl", logs.path(), name, &[], environment);
        let mut connections = Vec::new();
        if let Ok(first) = receiver.recv_timeout(Duration::from_secs(60)) {
            connections.push(first);
            let until = Instant::now() + Duration::from_secs(5);
            while let Some(left) = until.checked_duration_since(Instant::now()) {
                match receiver.recv_timeout(left) {
                    Ok(first) => connections.push(first),
                    Err(_) => break,
                }
            }
        }
        screener.kill();
        (connections, screener.log_text())
    };

    let (tls, log) = first_bytes(
        &[("SCREENER_KAFKA__CLIENT_PROPERTIES", properties.as_str())],
        "sasl-ssl",
    );
    assert!(!tls.is_empty(), "the screener connected\n{log}");
    // A TLS record: content type 22 (handshake), protocol version 3.x.
    assert!(
        tls.iter().all(|first| first[0] == 0x16 && first[1] == 0x03),
        "every connection opens with a TLS handshake: {tls:?}\n{log}"
    );
    assert!(
        !log.contains(secret),
        "the password appears in the log:\n{log}"
    );

    let (plain, log) = first_bytes(&[], "plaintext");
    assert!(!plain.is_empty(), "the screener connected\n{log}");
    // A Kafka request: a 4-byte big-endian size, far below 2^24.
    assert!(
        plain.iter().all(|first| first[0] == 0x00),
        "without the override, plaintext Kafka: {plain:?}\n{log}"
    );
    eprintln!(
        "client properties from the environment: {} connections opened with a TLS ClientHello \
         (SASL_SSL), {} with a plaintext Kafka request without them; password in no log line",
        tls.len(),
        plain.len()
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// A TCP proxy in front of the broker that the test can cut: every connection closed and
/// new ones refused, as if the network between screener and broker failed.
struct Proxy {
    port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<Mutex<Vec<std::net::TcpStream>>>,
}

impl Proxy {
    fn start(port: u16, upstream: String) -> Proxy {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind proxy");
        let cut = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        let (cut_flag, registry) = (cut.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if cut_flag.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(&upstream) else {
                    continue;
                };
                let mut registry = registry.lock().unwrap_or_else(|p| p.into_inner());
                for stream in [&client, &server] {
                    if let Ok(clone) = stream.try_clone() {
                        registry.push(clone);
                    }
                }
                let (Ok(client_reader), Ok(server_writer)) =
                    (client.try_clone(), server.try_clone())
                else {
                    continue;
                };
                for (mut from, mut to) in [(client_reader, server_writer), (server, client)] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Proxy { port, cut, open }
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for stream in self
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Status and body of a GET on the screener's admin server, if it answers.
fn http_get(address: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())?;
    Some((status, body))
}

fn http_status(address: &str, path: &str) -> Option<u16> {
    http_get(address, path).map(|(status, _)| status)
}

/// A 30 s cut between every client and the broker (a TCP proxy of the test): the screener
/// stays alive, reports not ready during the cut and ready after, and every decision arrives.
/// (It was ignored as intermittent until 2026-11-22: the "stall" was this test's reader, whose
/// stop condition re-parsed every decision read at each message and so could not read ~4,500
/// decisions within its 2 minutes; see RELIABILITY.md, "Broker outage".)
#[test]
fn broker_outage_is_survived_reported_not_ready_and_loses_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let proxy_port = free_port();
    let tansu = Tansu::start_advertising(Some(proxy_port));
    let proxy = Proxy::start(proxy_port, tansu.address.clone());
    tansu.create_topics(&proxy.address());
    let expected = generate_and_screen_offline(3_000, 14);
    let half = expected.lines.len() / 2;
    let logs = tempfile::tempdir().expect("log dir");
    let admin = format!("127.0.0.1:{}", free_port());
    let mut screener = Screener::start_with(
        &proxy.address(),
        "it-outage",
        logs.path(),
        "screener",
        &["--admin-addr", &admin],
    );
    produce(&proxy.address(), &expected.lines[..half], 0);
    let reader = Reader::new(&proxy.address(), "parcels.decisions", DECISION_PARTITIONS);
    let mut decisions = Vec::new();
    reader.read(Duration::from_secs(60), &mut decisions, |read| {
        read.len() >= 200
    });
    let ready_before = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        http_status(&admin, "/health/ready") == Some(200)
    });
    assert!(
        ready_before,
        "ready before the outage\n{}",
        screener.log_text()
    );

    // 30 s without a broker; the second half of the feed is sent meanwhile (the producer
    // buffers it until the network is back).
    proxy.cut();
    let cut_at = Instant::now();
    let address = proxy.address();
    let second_half = expected.lines[half..].to_vec();
    let producer = std::thread::spawn(move || produce(&address, &second_half, 0));
    let mut reported_not_ready = false;
    while cut_at.elapsed() < Duration::from_secs(30) {
        if http_status(&admin, "/health/ready") == Some(503) {
            reported_not_ready = true;
        }
        assert_eq!(
            http_status(&admin, "/health/live"),
            Some(200),
            "alive during the outage"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        screener.child.try_wait().expect("status").is_none(),
        "the screener kept running\n{}",
        screener.log_text()
    );
    proxy.restore();
    producer.join().expect("producer");

    // Read everything again with a fresh reader: the test's own reader was cut off too.
    let reader = Reader::new(&proxy.address(), "parcels.decisions", DECISION_PARTITIONS);
    let mut decisions = Vec::new();
    reader.read(
        Duration::from_secs(120),
        &mut decisions,
        distinct_decisions_seen(expected.decisions.len()),
    );
    let distinct: std::collections::HashSet<(String, u64)> = decisions
        .iter()
        .map(|p| decision_key(&serde_json::from_slice(p).expect("JSON")))
        .collect();
    if distinct.len() < expected.decisions.len() {
        let mut inputs = Vec::new();
        Reader::new(&proxy.address(), "parcels.advance", ADVANCE_PARTITIONS).read(
            Duration::from_secs(10),
            &mut inputs,
            |read| read.len() >= expected.lines.len(),
        );
        eprintln!(
            "{} of {} input lines on parcels.advance",
            inputs.len(),
            expected.lines.len()
        );
        // Where the records of the missing decisions sit in the input.
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", proxy.address())
            .set("group.id", "test-diagnose")
            .set("enable.auto.commit", "false")
            .create()
            .expect("diagnostic reader");
        let mut assignment = TopicPartitionList::new();
        for partition in 0..ADVANCE_PARTITIONS {
            assignment
                .add_partition_offset("parcels.advance", partition, Offset::Beginning)
                .expect("partition");
        }
        consumer.assign(&assignment).expect("assign");
        let mut positions: HashMap<String, Vec<(i32, i64)>> = HashMap::new();
        let started = Instant::now();
        let mut count = 0;
        while count < expected.lines.len() && started.elapsed() < Duration::from_secs(20) {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
                count += 1;
                let key = kafka_key(message.payload().unwrap_or_default());
                positions
                    .entry(key)
                    .or_default()
                    .push((message.partition(), message.offset()));
            }
        }
        let missing: Vec<_> = expected
            .decisions
            .keys()
            .filter(|k| !distinct.contains(*k))
            .collect();
        let mut by_partition: HashMap<i32, Vec<i64>> = HashMap::new();
        for (key, _) in &missing {
            for (partition, offset) in positions.get(key).into_iter().flatten() {
                by_partition.entry(*partition).or_default().push(*offset);
            }
        }
        for (partition, offsets) in by_partition.iter_mut() {
            offsets.sort_unstable();
            eprintln!("missing decisions' inputs on partition {partition}: {offsets:?}");
        }
        let metrics = http_get(&admin, "/metrics")
            .map(|(_, body)| body)
            .unwrap_or_default();
        for line in metrics.lines().filter(|l| {
            (l.starts_with("screener_duplicates_total")
                || l.starts_with("screener_decision_records_total")
                || l.starts_with("screener_rejected_total")
                || l.starts_with("screener_parcels_received_total")
                || l.starts_with("screener_consumer_lag_messages"))
                && !l.ends_with(" 0")
        }) {
            eprintln!("  {line}");
        }
        let log = screener.log_text();
        let _ = std::fs::write(
            std::env::temp_dir().join("parcel-screener-outage.log"),
            &log,
        );
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        panic!(
            "{} of {} decisions after the outage; screener log tail:\n{}",
            distinct.len(),
            expected.decisions.len(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    let redelivered = check_decisions(&expected, &decisions);
    let ready_after = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        http_status(&admin, "/health/ready") == Some(200)
    });
    let status = screener
        .terminate(Duration::from_secs(30))
        .expect("exits after SIGTERM");
    assert!(status.success());
    assert!(
        reported_not_ready,
        "/health/ready reported 503 during the outage\n{}",
        screener.log_text()
    );
    assert!(ready_after, "ready again after the outage");
    eprintln!(
        "outage: {} lines, 30 s cut, {} decisions ({} redelivered, identical), lost 0",
        expected.lines.len(),
        expected.decisions.len(),
        redelivered
    );
}
