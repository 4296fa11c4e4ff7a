//! Live lists (issue 5) against librdkafka's in-process mock broker: updates published to
//! `lists.watchlist` and `lists.known-shippers` change decisions of a running pipeline
//! without a restart and without a pause, parcels released before a watch-list update are
//! re-screened, and `lists publish` sends exactly the changes.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parcel_screener::config::Config;
use parcel_screener::live::publish::{self, read_topic};
use parcel_screener::live::{start_following, FollowerHandle, LiveScreener};
use parcel_screener::metrics::Metrics;
use parcel_screener::streaming::config::KafkaConfig;
use parcel_screener::streaming::mock_broker::MockBroker;
use parcel_screener::streaming::{run_pipeline, PipelineStats};
use screener_engine::lists::{self, ListFormat};

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A parcel record (the bundled example) with its own house bill and consignee.
fn parcel(house_bill: &str, consignee: &str) -> Value {
    let mut record: Value = serde_json::from_slice(
        &std::fs::read(repository().join("data/parcel.example.json")).expect("example"),
    )
    .expect("example JSON");
    record["house_bill"] = house_bill.into();
    record["record_id"] = format!("R-{house_bill}").into();
    record["consignee"]["name"] = consignee.into();
    record
}

/// A parcel sent by the known shipper KS-ACME-0001 (bundled registry), claiming it.
fn known_shipper_parcel(house_bill: &str) -> Value {
    let mut record = parcel(house_bill, "Jane Doe");
    record["origin_country"] = "CN".into();
    record["known_shipper_id"] = "KS-ACME-0001".into();
    record["shipper"] = json!({
        "name": "Shenzhen Brightway Electronics Co., Ltd.",
        "address": {
            "lines": ["88 Keyuan Road, Nanshan District"],
            "city": "Shenzhen",
            "postal_code": "518057",
            "country": "CN"
        }
    });
    record
}

/// A running pipeline with its list follower, on a mock broker.
struct Harness {
    broker: MockBroker,
    /// The admin server with the enrollment API.
    admin_addr: std::net::SocketAddr,
    live: Arc<LiveScreener>,
    producer: FutureProducer,
    /// Decisions read back, with when they arrived.
    decisions: Arc<Mutex<Vec<(Instant, Value)>>>,
    stop_pipeline: Option<tokio::sync::oneshot::Sender<()>>,
    pipeline: Option<tokio::task::JoinHandle<()>>,
    _follower: FollowerHandle,
    _lists_dir: tempfile::TempDir,
}

impl Harness {
    async fn start() -> Harness {
        let broker = MockBroker::start(&[
            ("parcels.advance", 4),
            ("parcels.decisions", 4),
            ("parcels.rejected", 1),
            ("lists.watchlist", 1),
            ("lists.known-shippers", 1),
        ])
        .expect("mock broker");
        let settings = KafkaConfig {
            brokers: broker.bootstrap_servers().to_string(),
            session_timeout_ms: 6_000,
            commit_interval_ms: 100,
            ..KafkaConfig::default()
        };
        // A small watch list keeps index builds quick in a debug build; the bundled
        // known-shipper registry.
        let lists_dir = tempfile::tempdir().expect("temp dir");
        let watchlist = lists_dir.path().join("base.jsonl");
        std::fs::write(
            &watchlist,
            concat!(
                r#"{"id":"B1","list":"BASE","name":"Ivan Petrovich Sidorov","countries":["RU"],"type":"individual"}"#,
                "\n",
                r#"{"id":"B2","list":"BASE","name":"Golden Crescent Trading LLC","countries":["AE"],"type":"entity"}"#,
                "\n"
            ),
        )
        .expect("write list");
        let mut config = Config::load(&repository().join("config/screener.toml")).expect("config");
        config.lists.watchlists = vec![parcel_screener::config::WatchlistSource {
            format: ListFormat::Jsonl,
            path: watchlist,
            name: None,
        }];
        // The enrollment API, for marketplace MKT-ACME (which enrolled KS-ACME-0001).
        config.admin.tokens = vec![parcel_screener::config::ApiTokenConfig {
            id: "acme-test".to_string(),
            sha256: parcel_screener::api::sha256_hex(ACME_TOKEN),
            marketplace: Some("MKT-ACME".to_string()),
            role: None,
        }];
        let (screener, _) = parcel_screener::engine::build_screener(&config).expect("engine");
        let live = Arc::new(LiveScreener::new(screener));
        let metrics = Arc::new(Metrics::new());
        let follower = start_following(&settings, live.clone(), metrics.clone()).expect("follow");
        let admin = parcel_screener::admin::service_state(
            &config,
            &settings,
            metrics,
            Arc::new(parcel_screener::metrics::Readiness::new()),
            live.clone(),
            Some(&follower),
        )
        .expect("admin state");
        assert!(admin.api.is_some(), "the API is served");
        let (listener, admin_addr) = parcel_screener::admin::bind("127.0.0.1:0")
            .await
            .expect("bind admin");
        tokio::spawn(parcel_screener::admin::serve(
            listener,
            admin,
            std::future::pending(),
        ));
        let (stop_pipeline, stopped) = tokio::sync::oneshot::channel::<()>();
        let pipeline = {
            let (settings, live) = (settings.clone(), live.clone());
            let (limits, dedup) = (config.limits.clone(), config.dedup.clone());
            tokio::spawn(async move {
                run_pipeline(
                    &settings,
                    limits,
                    dedup,
                    live,
                    Arc::new(PipelineStats::default()),
                    async {
                        let _ = stopped.await;
                    },
                )
                .await
                .expect("pipeline runs");
            })
        };
        let decisions = Arc::new(Mutex::new(Vec::new()));
        tokio::spawn(read_decisions(settings.brokers.clone(), decisions.clone()));
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &settings.brokers)
            .set("linger.ms", "0")
            .create()
            .expect("producer");
        Harness {
            broker,
            admin_addr,
            live,
            producer,
            decisions,
            stop_pipeline: Some(stop_pipeline),
            pipeline: Some(pipeline),
            _follower: follower,
            _lists_dir: lists_dir,
        }
    }

    async fn send_parcel(&self, record: &Value) {
        let key = format!(
            "{}:{}",
            record["carrier"].as_str().unwrap_or_default(),
            record["house_bill"].as_str().unwrap_or_default()
        );
        let payload = serde_json::to_vec(record).expect("JSON");
        self.producer
            .send(
                FutureRecord::to("parcels.advance")
                    .key(&key)
                    .payload(&payload),
                Duration::from_secs(5),
            )
            .await
            .expect("produce parcel");
    }

    async fn publish(&self, topic: &str, key: &str, value: &Value) {
        let payload = serde_json::to_vec(value).expect("JSON");
        self.producer
            .send(
                FutureRecord::to(topic).key(key).payload(&payload),
                Duration::from_secs(5),
            )
            .await
            .expect("publish list record");
    }

    /// Waits (up to 30 s) for the decision of `house_bill` with `version`.
    async fn decision(&self, house_bill: &str, version: u64) -> Value {
        let parcel_key = format!("DHL:{house_bill}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = self
                .decisions
                .lock()
                .expect("decisions")
                .iter()
                .find(|(_, d)| d["parcel_key"] == parcel_key && d["version"] == version)
                .map(|(_, d)| d.clone());
            if let Some(found) = found {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no decision version {version} for {parcel_key}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until the screener in use has a different watch-list (or known-shipper)
    /// version than `before`; returns how long that took.
    async fn wait_for_version_change(
        &self,
        before: &str,
        field: fn(&LiveScreener) -> String,
    ) -> Duration {
        let started = Instant::now();
        while field(&self.live) == before {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the update never took effect"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        started.elapsed()
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop_pipeline.take() {
            let _ = stop.send(());
        }
        if let Some(pipeline) = self.pipeline.take() {
            pipeline.await.expect("pipeline task");
        }
        drop(self.broker);
    }
}

/// The bearer token of marketplace MKT-ACME in these tests.
const ACME_TOKEN: &str = "acme-secret-token-for-tests";

/// One HTTP request to the admin server; returns the status code and the body.
async fn http(addr: std::net::SocketAddr, method: &str, path: &str, body: &Value) -> (u16, String) {
    let request = {
        let body = body.to_string();
        format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {ACME_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let response = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        stream.write_all(request.as_bytes()).expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        response
    })
    .await
    .expect("request task");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}

fn watchlist_version(live: &LiveScreener) -> String {
    live.current().list_versions.watchlist.to_string()
}

fn known_shippers_version(live: &LiveScreener) -> String {
    live.current().list_versions.known_shippers.to_string()
}

async fn read_decisions(brokers: String, into: Arc<Mutex<Vec<(Instant, Value)>>>) {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "live-lists-test-reader")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .expect("reader");
    consumer
        .subscribe(&["parcels.decisions"])
        .expect("subscribe");
    loop {
        let Ok(message) = consumer.recv().await else {
            continue;
        };
        if let Ok(decision) = serde_json::from_slice::<Value>(message.payload().unwrap_or_default())
        {
            into.lock()
                .expect("decisions")
                .push((Instant::now(), decision));
        }
    }
}

fn reason_codes(decision: &Value) -> Vec<String> {
    decision["reasons"]
        .as_array()
        .map(|reasons| {
            reasons
                .iter()
                .filter_map(|r| r["code"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watchlist_entry_published_while_running_holds_new_and_released_parcels() {
    let harness = Harness::start().await;
    let new_name = "Zebulon Marrowby Quixote";

    // Released before the entry exists.
    harness.send_parcel(&parcel("LL-BEFORE", new_name)).await;
    let before = harness.decision("LL-BEFORE", 1).await;
    assert_eq!(before["decision"], "RELEASE", "{before}");

    // A steady feed of clean parcels across the update, to see that screening never pauses.
    let feeding = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let feed = {
        let producer = harness.producer.clone();
        let feeding = feeding.clone();
        tokio::spawn(async move {
            let mut sent = Vec::new();
            let mut n = 0;
            while feeding.load(std::sync::atomic::Ordering::Relaxed) {
                let house_bill = format!("LL-FEED-{n:05}");
                let record = parcel(&house_bill, "Jane Doe");
                let payload = serde_json::to_vec(&record).expect("JSON");
                producer
                    .send(
                        FutureRecord::to("parcels.advance")
                            .key(&format!("DHL:{house_bill}"))
                            .payload(&payload),
                        Duration::from_secs(5),
                    )
                    .await
                    .expect("produce feed");
                sent.push(house_bill);
                n += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            sent
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    let version_before = watchlist_version(&harness.live);
    let entry = json!({"id": "T1", "list": "TEST-LIST", "name": new_name,
        "countries": ["US"], "type": "individual"});
    harness
        .publish("lists.watchlist", "TEST-LIST:T1", &entry)
        .await;
    let took = harness
        .wait_for_version_change(&version_before, watchlist_version)
        .await;
    assert!(
        took < Duration::from_secs(1),
        "the entry took effect {took:?} after its publication"
    );

    // A new parcel for the listed name is held, naming the entry and the new version.
    harness.send_parcel(&parcel("LL-AFTER", new_name)).await;
    let after = harness.decision("LL-AFTER", 1).await;
    assert_eq!(after["decision"], "HOLD", "{after}");
    assert!(
        reason_codes(&after).contains(&"WL_MATCH".to_string()),
        "{after}"
    );
    assert_eq!(after["reasons"][0]["entry_id"], "T1", "{after}");
    assert_ne!(after["list_versions"]["watchlist"], version_before.as_str());

    // The parcel released before the update is re-screened: a HOLD, version 2.
    let rescreened = harness.decision("LL-BEFORE", 2).await;
    assert_eq!(rescreened["decision"], "HOLD", "{rescreened}");
    assert!(reason_codes(&rescreened).contains(&"WL_MATCH".to_string()));

    feeding.store(false, std::sync::atomic::Ordering::Relaxed);
    let sent = feed.await.expect("feed");
    assert!(sent.len() > 20, "the feed ran: {} parcels", sent.len());
    for house_bill in &sent {
        let decision = harness.decision(house_bill, 1).await;
        assert_eq!(decision["decision"], "RELEASE", "{decision}");
    }
    // The feed's decisions, with when they arrived.
    let feed_decisions: Vec<(Instant, Value)> = harness
        .decisions
        .lock()
        .expect("decisions")
        .iter()
        .filter(|(_, d)| {
            d["parcel_key"]
                .as_str()
                .is_some_and(|k| k.starts_with("DHL:LL-FEED"))
        })
        .cloned()
        .collect();
    // No pause: decisions of the feed kept arriving while the update was applied.
    let mut arrivals: Vec<Instant> = feed_decisions.iter().map(|(at, _)| *at).collect();
    arrivals.sort();
    let longest_gap = arrivals
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .max()
        .unwrap_or_default();
    assert!(
        longest_gap < Duration::from_secs(1),
        "decisions paused for {longest_gap:?}"
    );
    // Nothing else of the feed was re-screened: clean parcels stay decided once.
    assert!(feed_decisions.iter().all(|(_, d)| d["version"] == 1));
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_shipper_suspended_through_the_api_holds_its_next_parcel() {
    let harness = Harness::start().await;
    harness.send_parcel(&known_shipper_parcel("KS-1")).await;
    let trusted = harness.decision("KS-1", 1).await;
    assert_eq!(
        (trusted["decision"].as_str(), trusted["lane"].as_str()),
        (Some("RELEASE"), Some("TRUSTED")),
        "{trusted}"
    );

    // The marketplace suspends its shipper through the API; the write goes to
    // lists.known-shippers and is in effect here when the API answers.
    let version_before = known_shippers_version(&harness.live);
    let started = Instant::now();
    let (status, body) = http(
        harness.admin_addr,
        "PATCH",
        "/v1/known-shippers/KS-ACME-0001",
        &json!({"status": "SUSPENDED"}),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    assert_ne!(
        known_shippers_version(&harness.live),
        version_before,
        "in effect when the API answered"
    );
    assert!(
        took < Duration::from_secs(1),
        "the API answered after {took:?}"
    );
    let on_topic = read_topic(
        &KafkaConfig {
            brokers: harness.broker.bootstrap_servers().to_string(),
            ..KafkaConfig::default()
        },
        "lists.known-shippers",
    )
    .expect("read topic");
    let published: Value =
        serde_json::from_slice(&on_topic["KS-ACME-0001"]).expect("shipper JSON on the topic");
    assert_eq!(published["status"], "SUSPENDED");

    harness.send_parcel(&known_shipper_parcel("KS-2")).await;
    let held = harness.decision("KS-2", 1).await;
    assert_eq!(held["decision"], "HOLD", "{held}");
    assert!(
        reason_codes(&held).contains(&"KS_SUSPENDED".to_string()),
        "{held}"
    );
    assert_eq!(held["lane"], "STANDARD");
    harness.stop().await;
}

fn sdn(snapshot: &str) -> PathBuf {
    repository().join("data/lists").join(snapshot)
}

/// `lists publish` through the real binary: the 2024-05-02 SDN into an empty topic, then
/// the 2024-05-03 one publishes exactly what changed, and deletes nothing of another list.
#[test]
fn lists_publish_sends_exactly_the_sdn_changes_between_two_snapshots() {
    let broker = MockBroker::start(&[("lists.watchlist", 1), ("lists.known-shippers", 1)])
        .expect("mock broker");
    let brokers = broker.bootstrap_servers().to_string();
    let publish_cli = |args: &[&str]| -> String {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_parcel-screener"))
            .args(["lists", "publish", "--brokers", &brokers])
            .args(args)
            .current_dir(repository())
            .output()
            .expect("run parcel-screener");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{args:?}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    };
    let old = lists::load(ListFormat::OfacSdn, &sdn("ofac-sdn-2024-05-02"), None)
        .expect("05-02")
        .entries;
    let new = lists::load(ListFormat::OfacSdn, &sdn("ofac-sdn-2024-05-03"), None)
        .expect("05-03")
        .entries;

    // Another list in the topic, which publishing the SDN must leave alone.
    let scratch = tempfile::tempdir().expect("temp dir");
    let other_list = scratch.path().join("other.jsonl");
    std::fs::write(
        &other_list,
        r#"{"id":"X1","list":"OTHER","name":"Someone Else","countries":[],"type":"individual"}"#,
    )
    .expect("write");
    publish_cli(&["--watchlist", other_list.to_str().expect("path")]);

    let first = publish_cli(&["--watchlist", "data/lists/ofac-sdn-2024-05-02"]);
    assert!(
        first.contains(&format!(
            "publishing {} added, 0 updated, 0 deleted",
            old.len()
        )),
        "{first}"
    );
    let settings = KafkaConfig {
        brokers: brokers.clone(),
        ..KafkaConfig::default()
    };
    let held = read_topic(&settings, "lists.watchlist").expect("read topic");
    assert_eq!(held.len(), old.len() + 1);

    // The expected change, computed independently: keys gone, keys new, entries changed.
    let old_by_key: std::collections::HashMap<String, _> =
        old.iter().map(|e| (e.key(), e)).collect();
    let new_by_key: std::collections::HashMap<String, _> =
        new.iter().map(|e| (e.key(), e)).collect();
    let mut deleted: Vec<&String> = old_by_key
        .keys()
        .filter(|k| !new_by_key.contains_key(*k))
        .collect();
    deleted.sort();
    let added = new_by_key
        .keys()
        .filter(|k| !old_by_key.contains_key(*k))
        .count();
    let updated = new_by_key
        .iter()
        .filter(|(k, e)| old_by_key.get(*k).is_some_and(|o| o != *e))
        .count();
    let expected_deleted: Vec<String> = [38556, 38557, 38558, 38559, 38560, 38563, 38565, 38566]
        .iter()
        .map(|id| format!("OFAC-SDN:{id}"))
        .collect();
    assert_eq!(
        deleted.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        expected_deleted
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );

    let dry = publish_cli(&["--watchlist", "data/lists/ofac-sdn-2024-05-03", "--dry-run"]);
    let summary = format!("would publish {added} added, {updated} updated, 8 deleted");
    assert!(dry.contains(&summary), "{dry}");
    assert_eq!(
        read_topic(&settings, "lists.watchlist")
            .expect("read")
            .len(),
        old.len() + 1,
        "a dry run publishes nothing"
    );

    let second = publish_cli(&["--watchlist", "data/lists/ofac-sdn-2024-05-03"]);
    assert!(
        second.contains(&format!(
            "publishing {added} added, {updated} updated, 8 deleted"
        )),
        "{second}"
    );
    for key in &expected_deleted {
        assert!(second.contains(&format!("delete {key}")), "{second}");
    }
    let held = read_topic(&settings, "lists.watchlist").expect("read topic");
    assert_eq!(held.len(), new.len() + 1, "the other list is untouched");
    assert!(held.contains_key("OTHER:X1"));
    for key in &expected_deleted {
        assert!(!held.contains_key(key), "{key} deleted");
    }
    // And the topic now holds exactly the 05-03 entries: nothing left to publish.
    let diff = publish::diff_watchlist(&held, &new);
    assert!(diff.is_empty(), "{diff:?}");
    let third = publish_cli(&["--watchlist", "data/lists/ofac-sdn-2024-05-03"]);
    assert!(third.contains("0 added, 0 updated, 0 deleted"), "{third}");
}
