//! The enrollment API (issue 5) and its security (issue 8), against a real admin server on
//! an ephemeral port, spoken to over raw TCP as any HTTP client would.
//!
//! - every authorization rule: no token, malformed and wrong tokens (401 with
//!   `WWW-Authenticate: Bearer`), a marketplace reading, suspending, revoking or listing
//!   another marketplace's shipper (404, as if it did not exist), enrolling for another
//!   marketplace (403), operations acting on all, `/v1/screen` for operations only (403);
//! - hostile and broken input: bodies over the limit (413), bad JSON and invalid fields (400
//!   naming the field), never a 500;
//! - the functional path: enroll → a parcel claiming the shipper is TRUSTED/RELEASE →
//!   suspend → the same parcel is HOLD/KS_SUSPENDED (and reactivate, revoke);
//! - the audit log: who, what, outcome, and never a shipper's name or address;
//! - `docs/openapi.yaml` documents exactly the routes and methods the server serves;
//! - tokens as operators make them: `parcel-screener tokens hash`, `[[admin.tokens]]`.
//!
//! The bundled lists (config/screener.toml) are loaded once per test binary; each test gets
//! its own copy of the registry, so tests do not see each other's writes.

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use parcel_screener::admin::{self, AdminState};
use parcel_screener::api::{
    self, sha256_hex, ApiState, KnownShipperPublisher, LocalPublisher, PublishError, TokenTable,
};
use parcel_screener::config::{ApiRole, ApiTokenConfig, Config};
use parcel_screener::live::LiveScreener;
use parcel_screener::metrics::{Metrics, Readiness};
use screener_engine::known_shippers::{KnownShipper, KnownShipperStatus};
use screener_engine::rules::Screener;

const BINARY: &str = env!("CARGO_BIN_EXE_parcel-screener");

const OPS: &str = "ops-7f3a9c0e5b1d4e8f9a2b6c3d5e7f9a1b";
const ACME: &str = "acme-0c8e1f7a3b5d9e2f4a6b8c1d3e5f7a9b";
const BAZAAR: &str = "bazaar-5e2a8c4f1b7d3e9a6c0f2b8d4e6a8c0f";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn token(id: &str, secret: &str, marketplace: Option<&str>) -> ApiTokenConfig {
    ApiTokenConfig {
        id: id.to_string(),
        sha256: sha256_hex(secret),
        marketplace: marketplace.map(str::to_string),
        role: marketplace.is_none().then_some(ApiRole::Operations),
    }
}

fn tokens() -> TokenTable {
    TokenTable::new(&[
        token("ops-1", OPS, None),
        token("acme-1", ACME, Some("MKT-ACME")),
        token("bazaar-1", BAZAAR, Some("MKT-BAZAAR")),
    ])
    .expect("valid tokens")
}

/// The screener of the bundled config: OFAC SDN + CSL extract, and the sample registry
/// (MKT-ACME's KS-ACME-*, MKT-BAZAAR's KS-BAZR-*).
fn screener() -> Screener {
    static SCREENER: OnceLock<Screener> = OnceLock::new();
    SCREENER
        .get_or_init(|| {
            let config =
                Config::load(&root().join("config/screener.toml")).expect("bundled config");
            parcel_screener::engine::build_screener(&config)
                .expect("bundled lists")
                .0
        })
        .clone()
}

/// A record of `data/samples/parcels.jsonl`, by record id.
fn sample(record_id: &str) -> Value {
    let text = std::fs::read_to_string(root().join("data/samples/parcels.jsonl")).expect("read");
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|record| record["record_id"] == record_id)
        .unwrap_or_else(|| panic!("sample {record_id}"))
}

// ------------------------------------------------------------------------------------------
// A server and a client

struct Server {
    addr: String,
    live: Arc<LiveScreener>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// The admin server with the API over a fresh copy of the bundled lists, written through
    /// a [`LocalPublisher`].
    async fn start() -> Server {
        let live = Arc::new(LiveScreener::new(screener()));
        let publisher = Arc::new(LocalPublisher::new(live.clone()));
        Server::start_with(ApiState::new(live.clone(), publisher, tokens()), live).await
    }

    async fn start_with(api: ApiState, live: Arc<LiveScreener>) -> Server {
        let state = AdminState::new(Arc::new(Metrics::new()), Arc::new(Readiness::new()));
        Server::start_admin(state.with_api(api), live).await
    }

    async fn start_admin(state: AdminState, live: Arc<LiveScreener>) -> Server {
        let (listener, addr) = admin::bind("127.0.0.1:0").await.expect("bind");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(admin::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Server {
            addr: addr.to_string(),
            live,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server and waits for it.
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let result = tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("server stops")
                .expect("server task");
            result.expect("server ran without error");
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let bytes = body.map(|b| serde_json::to_vec(b).expect("json"));
        self.raw(method, path, token, bytes.as_deref()).await
    }

    async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
    ) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| ("Authorization", a))
            .into_iter()
            .collect();
        send(&self.addr, method, path, &headers, body).await
    }

    fn shipper(&self, id: &str) -> Option<KnownShipper> {
        self.live.current().known_shippers.get(id).cloned()
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("JSON body ({e}): {} {}", self.status, self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `problems` of an error body, joined.
    fn problems(&self) -> String {
        let body = self.json();
        assert!(body["error"].is_string(), "error body: {}", self.body);
        body["problems"]
            .as_array()
            .unwrap_or_else(|| panic!("problems[]: {}", self.body))
            .iter()
            .map(|p| p.as_str().expect("problem is a string"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`); the whole response.
async fn send(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Reply {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    // The server may answer (413, 403) and close before reading a large body: a failed
    // write is fine as long as the response arrives. (Readiness and `try_*` rather than
    // tokio's io-util extension traits, which this crate does not enable.)
    let exchange = async {
        let mut written = 0;
        while written < bytes.len() {
            if stream.writable().await.is_err() {
                break;
            }
            match stream.try_write(&bytes[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => break,
            }
        }
        let mut response = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            if stream.readable().await.is_err() {
                break;
            }
            match stream.try_read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => response.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => break,
            }
        }
        response
    };
    let response = tokio::time::timeout(Duration::from_secs(30), exchange).await;
    let response = response.expect("response within 30 s");
    parse_response(&response)
        .unwrap_or_else(|| panic!("HTTP response: {:?}", String::from_utf8_lossy(&response)))
}

fn parse_response(response: &[u8]) -> Option<Reply> {
    let text = String::from_utf8_lossy(response);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        let mut rest = body;
        let mut out = String::new();
        loop {
            let (size, after) = rest.split_once("\r\n")?;
            let size = usize::from_str_radix(size.trim(), 16).ok()?;
            if size == 0 {
                break;
            }
            out.push_str(after.get(..size)?);
            rest = after.get(size + 2..)?;
        }
        out
    } else {
        body.to_string()
    };
    Some(Reply {
        status,
        headers,
        body,
    })
}

fn new_shipper(id: &str) -> Value {
    json!({
        "id": id,
        "name": "Shenzhen Brightway Electronics Co., Ltd.",
        "address": "88 Keyuan Road, Nanshan District, Shenzhen 518057",
        "country": "CN",
        "valid_from": "2025-01-01",
    })
}

// ------------------------------------------------------------------------------------------
// Authentication

#[tokio::test]
async fn every_route_without_a_valid_token_is_401_with_a_bearer_challenge() {
    let server = Server::start().await;
    let body = json!({});
    for (route, methods) in api::ROUTES {
        let path = route.replace("{id}", "KS-ACME-0001");
        for method in *methods {
            let malformed = ["Basic b3BzOnNlY3JldA==", "Bearer", "Token abc", OPS];
            let mut attempts: Vec<Vec<(&str, &str)>> = vec![vec![]];
            attempts.extend(malformed.iter().map(|v| vec![("Authorization", *v)]));
            let wrong = format!("Bearer {OPS}x");
            attempts.push(vec![("Authorization", wrong.as_str())]);
            let lowercase = format!("bearer {}", OPS.to_uppercase());
            attempts.push(vec![("Authorization", lowercase.as_str())]);
            for headers in attempts {
                let bytes = serde_json::to_vec(&body).expect("json");
                let reply = send(&server.addr, method, &path, &headers, Some(&bytes)).await;
                assert_eq!(
                    reply.status, 401,
                    "{method} {path} {headers:?}: {}",
                    reply.body
                );
                let challenge = reply.header("WWW-Authenticate").unwrap_or_default();
                assert!(
                    challenge.starts_with("Bearer"),
                    "{method} {path}: {challenge:?}"
                );
                if !headers.is_empty() {
                    assert!(challenge.contains("invalid_token"), "{challenge}");
                }
                assert!(reply.json()["error"].is_string(), "{}", reply.body);
            }
        }
    }
    // Nothing was written.
    assert_eq!(
        server.shipper("KS-ACME-0001").expect("still there").status,
        KnownShipperStatus::Active
    );
    // The scheme is case-insensitive (RFC 7235), the token is not.
    let reply = send(
        &server.addr,
        "GET",
        "/v1/lists",
        &[("Authorization", &format!("bearer {OPS}"))],
        None,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    server.stop().await;
}

#[tokio::test]
async fn the_api_is_not_served_without_tokens() {
    let config = Config::default();
    let live = Arc::new(LiveScreener::new(screener()));
    let publisher = Arc::new(LocalPublisher::new(live.clone()));
    let api = ApiState::from_config(&config, live.clone(), publisher).expect("from config");
    assert!(api.is_none(), "no tokens: no API");
    let state = AdminState::new(Arc::new(Metrics::new()), Arc::new(Readiness::new()));
    let server = Server::start_admin(state, live).await;
    let reply = server.call("GET", "/v1/lists", Some(OPS), None).await;
    assert_eq!(reply.status, 404);
    assert_eq!(
        server.call("GET", "/health/live", None, None).await.status,
        200
    );
    server.stop().await;
}

// ------------------------------------------------------------------------------------------
// Authorization: marketplaces see and touch only their own shippers

#[tokio::test]
async fn a_marketplace_cannot_read_another_marketplaces_shipper() {
    let server = Server::start().await;
    // Its own: visible.
    let own = server
        .call("GET", "/v1/known-shippers/KS-ACME-0001", Some(ACME), None)
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.json()["enrolled_by"], "MKT-ACME");
    // Another's: 404, and the same answer as for an id nobody enrolled.
    let other = server
        .call("GET", "/v1/known-shippers/KS-BAZR-0001", Some(ACME), None)
        .await;
    let missing = server
        .call("GET", "/v1/known-shippers/KS-NOPE-0001", Some(ACME), None)
        .await;
    assert_eq!(other.status, 404, "{}", other.body);
    assert_eq!(missing.status, 404);
    assert_eq!(
        other.body.replace("KS-BAZR-0001", "ID"),
        missing.body.replace("KS-NOPE-0001", "ID"),
        "another's shipper is indistinguishable from a missing one"
    );
    assert!(!other.body.contains("MKT-BAZAAR") && !other.body.contains("Saigon"));
    // The list holds only its own, sorted by id.
    let list = server
        .call("GET", "/v1/known-shippers", Some(ACME), None)
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    let ids: Vec<String> = list.json()["known_shippers"]
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(
        ids,
        [
            "KS-ACME-0001",
            "KS-ACME-0002",
            "KS-ACME-0003",
            "KS-ACME-0004"
        ]
    );
    let list = server
        .call("GET", "/v1/known-shippers", Some(BAZAAR), None)
        .await;
    assert!(list.json()["known_shippers"]
        .as_array()
        .expect("array")
        .iter()
        .all(|s| s["enrolled_by"] == "MKT-BAZAAR"));
    // Counts in /v1/lists cover its own enrollments only.
    let lists = server
        .call("GET", "/v1/lists", Some(ACME), None)
        .await
        .json();
    assert_eq!(lists["known_shippers"]["scope"], "MKT-ACME");
    assert_eq!(lists["known_shippers"]["total"], 4);
    server.stop().await;
}

#[tokio::test]
async fn a_marketplace_cannot_suspend_reactivate_or_revoke_another_marketplaces_shipper() {
    let server = Server::start().await;
    let before = server.shipper("KS-BAZR-0001").expect("sample");
    let suspend = json!({"status": "SUSPENDED"});
    let reply = server
        .call(
            "PATCH",
            "/v1/known-shippers/KS-BAZR-0001",
            Some(ACME),
            Some(&suspend),
        )
        .await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    let reply = server
        .call(
            "DELETE",
            "/v1/known-shippers/KS-BAZR-0001",
            Some(ACME),
            None,
        )
        .await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    // A suspended shipper of the other marketplace cannot be reactivated either.
    let reply = server
        .call(
            "PATCH",
            "/v1/known-shippers/KS-ACME-0003",
            Some(BAZAAR),
            Some(&json!({"status": "ACTIVE"})),
        )
        .await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert_eq!(server.shipper("KS-BAZR-0001"), Some(before));
    assert_eq!(
        server.shipper("KS-ACME-0003").expect("sample").status,
        KnownShipperStatus::Suspended
    );
    // Its own: allowed.
    let reply = server
        .call(
            "PATCH",
            "/v1/known-shippers/KS-BAZR-0001",
            Some(BAZAAR),
            Some(&suspend),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["status"], "SUSPENDED");
    server.stop().await;
}

#[tokio::test]
async fn a_marketplace_enrolls_only_for_itself() {
    let server = Server::start().await;
    // enrolled_by naming another marketplace: 403, nothing enrolled.
    let mut body = new_shipper("KS-ACME-7001");
    body["enrolled_by"] = json!("MKT-BAZAAR");
    let reply = server
        .call("POST", "/v1/known-shippers", Some(ACME), Some(&body))
        .await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(reply.json()["error"]
        .as_str()
        .expect("error")
        .contains("enrolled_by"));
    assert!(server.shipper("KS-ACME-7001").is_none());
    // Its own, explicitly: fine.
    body["enrolled_by"] = json!("MKT-ACME");
    let reply = server
        .call("POST", "/v1/known-shippers", Some(ACME), Some(&body))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(
        reply.header("Location"),
        Some("/v1/known-shippers/KS-ACME-7001")
    );
    // Left out: the token's marketplace, status ACTIVE by default.
    let reply = server
        .call(
            "POST",
            "/v1/known-shippers",
            Some(BAZAAR),
            Some(&new_shipper("KS-BAZR-7002")),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let enrolled = reply.json();
    assert_eq!(enrolled["enrolled_by"], "MKT-BAZAAR");
    assert_eq!(enrolled["status"], "ACTIVE");
    let stored = server.shipper("KS-BAZR-7002").expect("enrolled");
    assert_eq!(stored.enrolled_by, "MKT-BAZAAR");
    assert_eq!(serde_json::to_value(&stored).expect("json"), enrolled);
    // An id that is taken, by anyone: 409.
    let reply = server
        .call(
            "POST",
            "/v1/known-shippers",
            Some(ACME),
            Some(&new_shipper("KS-BAZR-0001")),
        )
        .await;
    assert_eq!(reply.status, 409, "{}", reply.body);
    assert!(!reply.body.contains("MKT-BAZAAR"), "{}", reply.body);
    server.stop().await;
}

#[tokio::test]
async fn operations_act_on_every_shipper() {
    let server = Server::start().await;
    let list = server
        .call("GET", "/v1/known-shippers", Some(OPS), None)
        .await
        .json();
    assert_eq!(list["count"], 8);
    let active = server
        .call("GET", "/v1/known-shippers?status=ACTIVE", Some(OPS), None)
        .await
        .json();
    assert_eq!(active["count"], 6);
    let reply = server
        .call("GET", "/v1/known-shippers/KS-BAZR-0001", Some(OPS), None)
        .await;
    assert_eq!(reply.status, 200);
    let reply = server
        .call(
            "PATCH",
            "/v1/known-shippers/KS-ACME-0001",
            Some(OPS),
            Some(&json!({"status": "SUSPENDED", "valid_to": "2030-12-31"})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let suspended = server.shipper("KS-ACME-0001").expect("there");
    assert_eq!(suspended.status, KnownShipperStatus::Suspended);
    assert_eq!(
        suspended.valid_to.map(|d| d.to_string()).as_deref(),
        Some("2030-12-31")
    );
    let reply = server
        .call("DELETE", "/v1/known-shippers/KS-BAZR-0004", Some(OPS), None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["status"], "REVOKED");
    // Operations must say which marketplace owns an enrollment.
    let reply = server
        .call(
            "POST",
            "/v1/known-shippers",
            Some(OPS),
            Some(&new_shipper("KS-OPS-0001")),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.problems().contains("enrolled_by"), "{}", reply.body);
    let mut body = new_shipper("KS-OPS-0001");
    body["enrolled_by"] = json!("MKT-NEW");
    let reply = server
        .call("POST", "/v1/known-shippers", Some(OPS), Some(&body))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(
        server.shipper("KS-OPS-0001").expect("enrolled").enrolled_by,
        "MKT-NEW"
    );
    let lists = server
        .call("GET", "/v1/lists", Some(OPS), None)
        .await
        .json();
    assert_eq!(lists["known_shippers"]["scope"], "all");
    assert_eq!(lists["known_shippers"]["total"], 9);
    assert_eq!(lists["known_shippers"]["by_status"]["REVOKED"], 2);
    server.stop().await;
}

#[tokio::test]
async fn screening_is_for_operations_only() {
    let server = Server::start().await;
    let parcel = sample("S01-CLEAN");
    for marketplace in [ACME, BAZAAR] {
        let reply = server
            .call("POST", "/v1/screen", Some(marketplace), Some(&parcel))
            .await;
        assert_eq!(reply.status, 403, "{}", reply.body);
    }
    // The role is checked before the body is read: even an oversized body gets 403.
    let huge = vec![b' '; 600 * 1024];
    let reply = server
        .raw("POST", "/v1/screen", Some(ACME), Some(&huge))
        .await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    let reply = server
        .call("POST", "/v1/screen", Some(OPS), Some(&parcel))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let decision = reply.json();
    assert_eq!(decision["schema"], "decision/v1");
    assert_eq!(decision["decision"], "RELEASE");
    assert_eq!(decision["version"], 1);
    server.stop().await;
}

// ------------------------------------------------------------------------------------------
// Input: limits, bad JSON, invalid fields

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let server = Server::start().await;
    let mut body = new_shipper("KS-ACME-8001");
    body["name"] = json!("x".repeat(70 * 1024));
    let reply = server
        .call("POST", "/v1/known-shippers", Some(ACME), Some(&body))
        .await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert!(reply.json()["error"]
        .as_str()
        .expect("error")
        .contains("65536"));
    let reply = server
        .raw(
            "PATCH",
            "/v1/known-shippers/KS-ACME-0001",
            Some(ACME),
            Some(&vec![b' '; 65 * 1024]),
        )
        .await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert!(server.shipper("KS-ACME-8001").is_none());
    // /v1/screen takes what the pipeline takes (limits.max_record_bytes, 256 KiB): a
    // 100 KiB record is screened, a 300 KiB one is 413.
    let mut parcel = sample("S01-CLEAN");
    let item = parcel["items"][0].clone();
    parcel["items"] = Value::Array(vec![item; 500]);
    let size = serde_json::to_vec(&parcel).expect("json").len();
    assert!((64 * 1024..256 * 1024).contains(&size), "{size}");
    let reply = server
        .call("POST", "/v1/screen", Some(OPS), Some(&parcel))
        .await;
    assert_eq!(reply.status, 200, "{size} bytes: {}", reply.body);
    let reply = server
        .raw(
            "POST",
            "/v1/screen",
            Some(OPS),
            Some(&vec![b' '; 300 * 1024]),
        )
        .await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    server.stop().await;
}

#[tokio::test]
async fn bad_json_is_400_naming_the_problem() {
    let server = Server::start().await;
    let post = |body: &'static [u8]| {
        let server = &server;
        async move {
            server
                .raw("POST", "/v1/known-shippers", Some(ACME), Some(body))
                .await
        }
    };
    // Broken syntax: where.
    let reply = post(br#"{"id": "KS-ACME-8002", "name": "#).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.problems().contains("line 1 column"), "{}", reply.body);
    // Trailing garbage after the object.
    let reply = post(br#"{"id":"a","name":"b","address":"c","country":"CN"} x"#).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    // Not an object, empty, not UTF-8.
    for body in [&b"[]"[..], b"", b"\xff\xfe"] {
        let reply = server
            .raw("POST", "/v1/known-shippers", Some(ACME), Some(body))
            .await;
        assert_eq!(reply.status, 400, "{body:?}: {}", reply.body);
    }
    // A missing field, an unknown field, a wrong type: each named.
    let reply = post(br#"{"id": "KS-ACME-8002", "address": "a", "country": "CN"}"#).await;
    assert_eq!(reply.status, 400);
    assert!(reply.problems().contains("name"), "{}", reply.body);
    let reply =
        post(br#"{"id":"KS-ACME-8002","name":"n","address":"a","country":"CN","colour":1}"#).await;
    assert_eq!(reply.status, 400);
    assert!(reply.problems().contains("colour"), "{}", reply.body);
    let reply =
        post(br#"{"id":"KS-ACME-8002","name":"n","address":"a","country":"CN","valid_to":"soon"}"#)
            .await;
    assert_eq!(reply.status, 400);
    assert!(reply.problems().starts_with("valid_to:"), "{}", reply.body);
    let reply =
        post(br#"{"id":"KS-ACME-8002","name":"n","address":"a","country":"CN","status":"GOLD"}"#)
            .await;
    assert_eq!(reply.status, 400);
    assert!(reply.problems().starts_with("status:"), "{}", reply.body);
    // PATCH: the same.
    for (body, field) in [
        (&br#"{"status": "REVOKED"}"#[..], "status"),
        (br#"{"status": "suspended"}"#, "status"),
        (br#"{"valid_to": 5}"#, "valid_to"),
        (br#"{}"#, "status"),
        (br#"{"name": "x"}"#, "name"),
    ] {
        let reply = server
            .raw(
                "PATCH",
                "/v1/known-shippers/KS-ACME-0001",
                Some(ACME),
                Some(body),
            )
            .await;
        assert_eq!(reply.status, 400, "{body:?}: {}", reply.body);
        assert!(reply.problems().contains(field), "{field}: {}", reply.body);
    }
    // A bad query.
    let reply = server
        .call("GET", "/v1/known-shippers?status=GOLD", Some(OPS), None)
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.problems().starts_with("status:"), "{}", reply.body);
    let reply = server
        .call("GET", "/v1/known-shippers?colour=red", Some(OPS), None)
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.problems().contains("colour"), "{}", reply.body);
    // A path that is not valid UTF-8 once decoded.
    let reply = server
        .call("GET", "/v1/known-shippers/%FF%FE", Some(OPS), None)
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(server.live.current().known_shippers.len(), 8);
    server.stop().await;
}

#[tokio::test]
async fn invalid_fields_are_400_naming_each_field() {
    let server = Server::start().await;
    let mut body = new_shipper("KS-ACME-8003");
    body["country"] = json!("XX");
    let reply = server
        .call("POST", "/v1/known-shippers", Some(ACME), Some(&body))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let problems = reply.problems();
    assert!(problems.starts_with("country:"), "{problems}");
    // Several at once, each named.
    let body = json!({
        "id": "KS ACME\n8003", "name": " ", "address": "a\u{1b}[31m", "country": "cn",
        "status": "REVOKED", "valid_from": "2026-01-01", "valid_to": "2025-01-01",
    });
    let reply = server
        .call("POST", "/v1/known-shippers", Some(ACME), Some(&body))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let problems = reply.problems();
    for field in [
        "id:",
        "name:",
        "address:",
        "country:",
        "status:",
        "valid_to:",
    ] {
        assert!(problems.contains(field), "{field} in {problems}");
    }
    // valid_to before valid_from through PATCH.
    let reply = server
        .call(
            "PATCH",
            "/v1/known-shippers/KS-ACME-0001",
            Some(ACME),
            Some(&json!({"valid_to": "2020-01-01"})),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.problems().starts_with("valid_to:"), "{}", reply.body);
    // A parcel record for /v1/screen: the parser's errors, with field paths.
    let mut parcel = sample("S01-CLEAN");
    parcel["shipper"]["name"] = json!(42);
    parcel["items"][0]["value"]["amount"] = json!("lots");
    parcel.as_object_mut().expect("object").remove("carrier");
    let reply = server
        .call("POST", "/v1/screen", Some(OPS), Some(&parcel))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let problems = reply.problems();
    for path in ["shipper.name", "items[0].value.amount", "carrier"] {
        assert!(problems.contains(path), "{path} in {problems}");
    }
    let reply = server
        .raw("POST", "/v1/screen", Some(OPS), Some(b"{"))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(server.live.current().known_shippers.len(), 8);
    server.stop().await;
}

// ------------------------------------------------------------------------------------------
// The functional path

async fn screen(server: &Server, parcel: &Value) -> Value {
    let reply = server
        .call("POST", "/v1/screen", Some(OPS), Some(parcel))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

fn codes(decision: &Value) -> Vec<String> {
    decision["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|r| r["code"].as_str().expect("code").to_string())
        .collect()
}

#[tokio::test]
async fn a_shipper_suspended_through_the_api_turns_the_next_parcel_from_trusted_release_to_hold() {
    let server = Server::start().await;
    let id = "KS-ACME-9001";
    let mut parcel = sample("S04-KS-VERIFIED");
    parcel["known_shipper_id"] = json!(id);
    parcel["record_id"] = json!("API-KS-1");
    // Not enrolled yet: the claim is a mismatch.
    let before = screen(&server, &parcel).await;
    assert_eq!(before["decision"], "HOLD");
    assert_eq!(codes(&before), ["KS_MISMATCH"]);

    let reply = server
        .call(
            "POST",
            "/v1/known-shippers",
            Some(ACME),
            Some(&new_shipper(id)),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let trusted = screen(&server, &parcel).await;
    assert_eq!(trusted["decision"], "RELEASE", "{trusted}");
    assert_eq!(trusted["lane"], "TRUSTED", "{trusted}");
    assert_eq!(codes(&trusted), ["KS_VERIFIED"]);
    assert_eq!(trusted["reasons"][0]["entry_id"], id);
    assert_ne!(
        trusted["list_versions"]["known_shippers"],
        before["list_versions"]["known_shippers"]
    );
    assert_eq!(
        trusted["list_versions"]["watchlist"],
        before["list_versions"]["watchlist"]
    );

    let reply = server
        .call(
            "PATCH",
            &format!("/v1/known-shippers/{id}"),
            Some(ACME),
            Some(&json!({"status": "SUSPENDED"})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["status"], "SUSPENDED");
    let held = screen(&server, &parcel).await;
    assert_eq!(held["decision"], "HOLD", "{held}");
    assert_eq!(held["lane"], "STANDARD");
    assert_eq!(codes(&held), ["KS_SUSPENDED"]);
    assert_eq!(held["version"], 1, "no dedup: always a first decision");

    // Reactivated: trusted again, with the same list version as before the suspension
    // (versions follow content).
    let reply = server
        .call(
            "PATCH",
            &format!("/v1/known-shippers/{id}"),
            Some(ACME),
            Some(&json!({"status": "ACTIVE"})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let again = screen(&server, &parcel).await;
    assert_eq!(
        (again["decision"].as_str(), again["lane"].as_str()),
        (Some("RELEASE"), Some("TRUSTED"))
    );
    assert_eq!(again["list_versions"], trusted["list_versions"]);

    // Revoked: the record stays, so the claim is KS_SUSPENDED (not "not enrolled").
    let reply = server
        .call(
            "DELETE",
            &format!("/v1/known-shippers/{id}"),
            Some(ACME),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["status"], "REVOKED");
    let revoked = screen(&server, &parcel).await;
    assert_eq!(revoked["decision"], "HOLD");
    assert_eq!(codes(&revoked), ["KS_SUSPENDED"]);
    let reply = server
        .call("GET", &format!("/v1/known-shippers/{id}"), Some(ACME), None)
        .await;
    assert_eq!(reply.json()["status"], "REVOKED");
    // Revocation is final: reactivating is a conflict; revoking again changes nothing.
    let reply = server
        .call(
            "PATCH",
            &format!("/v1/known-shippers/{id}"),
            Some(ACME),
            Some(&json!({"status": "ACTIVE"})),
        )
        .await;
    assert_eq!(reply.status, 409, "{}", reply.body);
    let reply = server
        .call(
            "DELETE",
            &format!("/v1/known-shippers/{id}"),
            Some(OPS),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        server.shipper(id).expect("kept").status,
        KnownShipperStatus::Revoked
    );
    server.stop().await;
}

#[tokio::test]
async fn lists_reports_versions_and_counts() {
    let server = Server::start().await;
    let lists = server.call("GET", "/v1/lists", Some(BAZAAR), None).await;
    assert_eq!(lists.status, 200, "{}", lists.body);
    let lists = lists.json();
    let current = server.live.current();
    assert_eq!(
        lists["watchlist"]["version"],
        current.list_versions.watchlist.as_str()
    );
    assert_eq!(
        lists["watchlist"]["entries"],
        current.matcher.entries().len()
    );
    let per_list: BTreeMap<String, u64> =
        serde_json::from_value(lists["watchlist"]["lists"].clone()).expect("counts per list");
    assert!(
        per_list.get("OFAC-SDN").is_some_and(|n| *n > 1000),
        "{per_list:?}"
    );
    assert_eq!(
        per_list.values().sum::<u64>() as usize,
        current.matcher.entries().len()
    );
    assert_eq!(
        lists["known_shippers"]["version"],
        current.list_versions.known_shippers.as_str()
    );
    assert_eq!(
        lists["known_shippers"]["by_status"],
        json!({"ACTIVE": 3, "SUSPENDED": 0, "REVOKED": 1})
    );
    server.stop().await;
}

// ------------------------------------------------------------------------------------------
// Publishing: failures, and one write at a time

/// A publisher whose list is down.
struct Down;

impl KnownShipperPublisher for Down {
    fn publish(
        &self,
        _: KnownShipper,
    ) -> futures_util::future::BoxFuture<'static, Result<(), PublishError>> {
        Box::pin(async { Err(PublishError::Unavailable("broker unreachable".to_string())) })
    }
}

/// A publisher that never confirms.
struct Hangs;

impl KnownShipperPublisher for Hangs {
    fn publish(
        &self,
        _: KnownShipper,
    ) -> futures_util::future::BoxFuture<'static, Result<(), PublishError>> {
        Box::pin(std::future::pending())
    }
}

/// Applies after a delay, as a broker round trip would.
struct Slow(LocalPublisher);

impl KnownShipperPublisher for Slow {
    fn publish(
        &self,
        shipper: KnownShipper,
    ) -> futures_util::future::BoxFuture<'static, Result<(), PublishError>> {
        let local = self.0.clone();
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            local.apply(shipper);
            Ok(())
        })
    }
}

#[tokio::test]
async fn an_unavailable_list_is_503_never_500_and_changes_nothing() {
    for publisher in [
        Arc::new(Down) as Arc<dyn KnownShipperPublisher>,
        Arc::new(Hangs),
    ] {
        let live = Arc::new(LiveScreener::new(screener()));
        let api = ApiState::new(live.clone(), publisher, tokens())
            .with_publish_timeout(Duration::from_millis(200));
        let server = Server::start_with(api, live).await;
        let reply = server
            .call(
                "POST",
                "/v1/known-shippers",
                Some(ACME),
                Some(&new_shipper("KS-ACME-6001")),
            )
            .await;
        assert_eq!(reply.status, 503, "{}", reply.body);
        assert!(reply.header("Retry-After").is_some());
        let reply = server
            .call(
                "PATCH",
                "/v1/known-shippers/KS-ACME-0001",
                Some(ACME),
                Some(&json!({"status": "SUSPENDED"})),
            )
            .await;
        assert_eq!(reply.status, 503, "{}", reply.body);
        assert!(server.shipper("KS-ACME-6001").is_none());
        assert_eq!(
            server.shipper("KS-ACME-0001").expect("sample").status,
            KnownShipperStatus::Active
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn concurrent_writes_are_serialised() {
    let live = Arc::new(LiveScreener::new(screener()));
    let publisher = Arc::new(Slow(LocalPublisher::new(live.clone())));
    let server = Server::start_with(ApiState::new(live.clone(), publisher, tokens()), live).await;
    // Two enrollments of one id at once: exactly one wins.
    let body = new_shipper("KS-ACME-5001");
    let (a, b) = tokio::join!(
        server.call("POST", "/v1/known-shippers", Some(ACME), Some(&body)),
        server.call("POST", "/v1/known-shippers", Some(ACME), Some(&body)),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{} / {}", a.body, b.body);
    // Two changes to different shippers at once: neither is lost.
    let suspend = json!({"status": "SUSPENDED"});
    let (a, b) = tokio::join!(
        server.call(
            "PATCH",
            "/v1/known-shippers/KS-ACME-0001",
            Some(ACME),
            Some(&suspend)
        ),
        server.call(
            "DELETE",
            "/v1/known-shippers/KS-ACME-0002",
            Some(ACME),
            None
        ),
    );
    assert_eq!((a.status, b.status), (200, 200));
    assert_eq!(
        server.shipper("KS-ACME-0001").expect("s").status,
        KnownShipperStatus::Suspended
    );
    assert_eq!(
        server.shipper("KS-ACME-0002").expect("s").status,
        KnownShipperStatus::Revoked
    );
    assert!(server.shipper("KS-ACME-5001").is_some());
    server.stop().await;
}

// ------------------------------------------------------------------------------------------
// The audit log

/// Collects what a `tracing` subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

thread_local! {
    /// Where this thread's log lines go; `None` (every other test's thread) discards them.
    static THREAD_CAPTURE: std::cell::RefCell<Option<Captured>> = const { std::cell::RefCell::new(None) };
}

/// Captures every log line written on the calling thread until the returned guard drops.
///
/// One *global* JSON subscriber is installed for the whole test binary, and its writer routes
/// each line by thread. A scoped `set_default` subscriber is not enough here: the other tests
/// run the same `info!` call sites at the same time without a subscriber, and a call site
/// they register while `set_default` rebuilds the interest cache can keep "never" cached and
/// lose this test's lines (CI saw exactly that: only the WARN line arrived; 3 failures in 40
/// runs of this binary before, none in 80 after).
fn capture_this_threads_logs() -> (Captured, impl Drop) {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_max_level(tracing::Level::INFO)
            .with_writer(|| -> Box<dyn std::io::Write> {
                match THREAD_CAPTURE.with(|capture| capture.borrow().clone()) {
                    Some(captured) => Box::new(captured),
                    None => Box::new(std::io::sink()),
                }
            })
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
        // A call site whose registration was under way as the subscriber went in may still
        // have computed its interest without it; such a registration is over within
        // microseconds, and a rebuild after it corrects what it stored.
        std::thread::sleep(Duration::from_millis(50));
        tracing::callsite::rebuild_interest_cache();
    });
    struct StopCapturing;
    impl Drop for StopCapturing {
        fn drop(&mut self) {
            THREAD_CAPTURE.with(|capture| capture.borrow_mut().take());
        }
    }
    let captured = Captured::default();
    THREAD_CAPTURE.with(|capture| *capture.borrow_mut() = Some(captured.clone()));
    (captured, StopCapturing)
}

/// Runs on the test's own (current-thread) runtime, so the server's tasks log on this thread.
#[tokio::test]
async fn audit_lines_say_who_did_what_and_never_carry_names_or_addresses() {
    let (captured, capturing) = capture_this_threads_logs();

    let server = Server::start().await;
    let name = "Zanzibar Personal Data Exporters Ltd";
    let address = "17 Confidential Lane, Stone Town 71000";
    let shipper = |id: &str, country: &str| json!({"id": id, "name": name, "address": address, "country": country, "valid_from": "2025-01-01"});
    let enroll = |token: &'static str, body: Value| {
        let server = &server;
        async move {
            server
                .call("POST", "/v1/known-shippers", Some(token), Some(&body))
                .await
                .status
        }
    };
    assert_eq!(enroll(ACME, shipper("KS-ACME-4001", "TZ")).await, 201);
    assert_eq!(enroll(ACME, shipper("KS-ACME-4001", "TZ")).await, 409);
    assert_eq!(enroll(ACME, shipper("KS-ACME-4002", "ZZ")).await, 400);
    let mut other = shipper("KS-ACME-4003", "TZ");
    other["enrolled_by"] = json!("MKT-BAZAAR");
    assert_eq!(enroll(ACME, other).await, 403);
    assert_eq!(
        enroll("not-a-token", shipper("KS-ACME-4004", "TZ")).await,
        401
    );
    let suspend = json!({"status": "SUSPENDED"});
    let patch = |token: &'static str, id: &'static str| {
        let server = &server;
        let suspend = suspend.clone();
        async move {
            server
                .call(
                    "PATCH",
                    &format!("/v1/known-shippers/{id}"),
                    Some(token),
                    Some(&suspend),
                )
                .await
                .status
        }
    };
    assert_eq!(patch(ACME, "KS-ACME-4001").await, 200);
    assert_eq!(patch(BAZAAR, "KS-ACME-4001").await, 404);
    assert_eq!(
        server
            .call("DELETE", "/v1/known-shippers/KS-ACME-4001", Some(OPS), None)
            .await
            .status,
        200
    );
    // The screen route sees a whole parcel: none of its parties may be logged either.
    let parcel = sample("S04-KS-VERIFIED");
    assert_eq!(
        server
            .call("POST", "/v1/screen", Some(OPS), Some(&parcel))
            .await
            .status,
        200
    );
    server.stop().await;
    drop(capturing);

    let text = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("UTF-8 logs");
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let audit: Vec<&Value> = lines.iter().filter(|l| l["target"] == "audit").collect();
    let summary: Vec<(String, String, String, String)> = audit
        .iter()
        .map(|l| {
            let field = |name: &str| l[name].as_str().map(str::to_string).unwrap_or_default();
            (
                field("action"),
                field("shipper_id"),
                field("outcome"),
                field("token_id"),
            )
        })
        .collect();
    let expected = [
        ("enroll", "KS-ACME-4001", "created", "acme-1"),
        ("enroll", "KS-ACME-4001", "conflict", "acme-1"),
        ("enroll", "KS-ACME-4002", "invalid", "acme-1"),
        ("enroll", "KS-ACME-4003", "forbidden", "acme-1"),
        ("", "", "unknown_token", ""),
        ("suspend", "KS-ACME-4001", "suspended", "acme-1"),
        ("suspend", "KS-ACME-4001", "not_owner", "bazaar-1"),
        ("revoke", "KS-ACME-4001", "revoked", "ops-1"),
    ];
    let expected: Vec<(String, String, String, String)> = expected
        .iter()
        .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
        .collect();
    assert_eq!(summary, expected, "{text}");
    for line in &audit {
        let level = line["level"].as_str().unwrap_or_default();
        if line["outcome"] == "unknown_token" {
            assert_eq!(level, "WARN");
            assert_eq!(line["route"], "/v1/known-shippers");
        } else {
            assert_eq!(level, "INFO");
            assert!(
                line["role"].is_string() && line["marketplace"].is_string(),
                "{line}"
            );
            assert!(line["status"].is_u64(), "{line}");
            assert!(line["timestamp"].is_string(), "when: {line}");
        }
    }
    assert_eq!(audit[7]["role"], "operations");
    assert_eq!(audit[0]["marketplace"], "MKT-ACME");
    // Nothing personal anywhere in the log, nor any token.
    let mut personal: BTreeSet<String> = [name, address, "Zanzibar", "Confidential Lane"]
        .into_iter()
        .map(str::to_string)
        .collect();
    for role in ["shipper", "consignee"] {
        personal.insert(parcel[role]["name"].as_str().expect("name").to_string());
        for line in parcel[role]["address"]["lines"].as_array().expect("lines") {
            personal.insert(line.as_str().expect("line").to_string());
        }
    }
    for secret in personal
        .iter()
        .map(String::as_str)
        .chain([OPS, ACME, BAZAAR, "not-a-token"])
    {
        assert!(!text.contains(secret), "{secret:?} in the log:\n{text}");
    }
}

// ------------------------------------------------------------------------------------------
// OpenAPI

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn openapi() -> serde_norway::Value {
    let text =
        std::fs::read_to_string(root().join("docs/openapi.yaml")).expect("docs/openapi.yaml");
    serde_norway::from_str(&text).expect("docs/openapi.yaml parses")
}

fn served_routes() -> BTreeMap<String, BTreeSet<String>> {
    admin::ROUTES
        .iter()
        .chain(api::ROUTES)
        .map(|(path, methods)| {
            let methods = methods.iter().map(|m| m.to_ascii_lowercase()).collect();
            (path.to_string(), methods)
        })
        .collect()
}

#[test]
fn openapi_documents_every_route_with_its_methods() {
    let doc = openapi();
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3.0"), "{version}");
    let paths = doc["paths"].as_mapping().expect("paths");
    let mut documented = BTreeMap::new();
    for (path, item) in paths {
        let path = path.as_str().expect("path").to_string();
        let methods: BTreeSet<String> = item
            .as_mapping()
            .expect("path item")
            .keys()
            .filter_map(|k| k.as_str())
            .filter(|k| METHODS.contains(k))
            .map(str::to_string)
            .collect();
        documented.insert(path, methods);
    }
    assert_eq!(documented, served_routes());

    // Bearer security everywhere under /v1, each operation with its error responses.
    let scheme = &doc["components"]["securitySchemes"]["bearerAuth"];
    assert_eq!(scheme["type"].as_str(), Some("http"));
    assert_eq!(scheme["scheme"].as_str(), Some("bearer"));
    for (path, methods) in api::ROUTES {
        for method in *methods {
            let operation = &doc["paths"][*path][method.to_ascii_lowercase().as_str()];
            let responses = operation["responses"]
                .as_mapping()
                .unwrap_or_else(|| panic!("{method} {path}: responses"));
            let codes: BTreeSet<&str> = responses.keys().filter_map(|k| k.as_str()).collect();
            assert!(
                codes.contains("401"),
                "{method} {path}: 401 documented ({codes:?})"
            );
            if ["POST", "PATCH"].contains(method) {
                assert!(codes.contains("400"), "{method} {path}: 400 documented");
            }
            let security = operation["security"]
                .as_sequence()
                .or_else(|| doc["security"].as_sequence());
            assert!(
                security.is_some_and(|s| s.iter().any(|r| r.get("bearerAuth").is_some())),
                "{method} {path}: security"
            );
            assert!(
                operation["operationId"].is_string(),
                "{method} {path}: operationId"
            );
        }
    }
    for (path, method, code) in [
        ("/v1/known-shippers", "post", "201"),
        ("/v1/known-shippers", "post", "403"),
        ("/v1/known-shippers", "post", "409"),
        ("/v1/known-shippers", "post", "413"),
        ("/v1/known-shippers/{id}", "get", "404"),
        ("/v1/known-shippers/{id}", "patch", "409"),
        ("/v1/known-shippers/{id}", "patch", "413"),
        ("/v1/screen", "post", "403"),
        ("/v1/screen", "post", "413"),
    ] {
        assert!(
            doc["paths"][path][method]["responses"].get(code).is_some(),
            "{method} {path}: {code} documented"
        );
    }
    // Every $ref resolves.
    fn refs(value: &serde_norway::Value, found: &mut Vec<String>) {
        match value {
            serde_norway::Value::Mapping(map) => {
                for (key, value) in map {
                    if key.as_str() == Some("$ref") {
                        found.push(value.as_str().expect("$ref string").to_string());
                    } else {
                        refs(value, found);
                    }
                }
            }
            serde_norway::Value::Sequence(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 10);
    for reference in found {
        let mut target = &doc;
        for part in reference.trim_start_matches("#/").split('/') {
            target = target
                .get(part)
                .unwrap_or_else(|| panic!("{reference} resolves"));
        }
    }
}

/// The server agrees with the document: every documented method answers (401 without a
/// token under /v1), every other method is 405.
#[tokio::test]
async fn the_server_serves_exactly_the_documented_methods() {
    let server = Server::start().await;
    for (path, methods) in served_routes() {
        let concrete = path.replace("{id}", "KS-ACME-0001");
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let reply = server.raw(method, &concrete, None, None).await;
            if methods.contains(&method.to_ascii_lowercase()) {
                let expected: &[u16] = if path.starts_with("/v1") {
                    &[401]
                } else {
                    &[200, 503]
                };
                assert!(
                    expected.contains(&reply.status),
                    "{method} {path}: {}",
                    reply.status
                );
            } else {
                assert_eq!(reply.status, 405, "{method} {path} is not served");
            }
        }
    }
    server.stop().await;
}

// ------------------------------------------------------------------------------------------
// Tokens as operators make them

#[tokio::test]
async fn a_token_hashed_by_the_cli_and_configured_authenticates() {
    use std::io::Write;
    let secret = "0f4b6c2d9e8a7b1c3d5e7f9a0b2c4d6e8f0a1b3c5d7e9f1a";
    let mut child = std::process::Command::new(BINARY)
        .args(["tokens", "hash"])
        .env_remove("PARCEL_SCREENER_CONFIG")
        .current_dir(std::env::temp_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run tokens hash");
    writeln!(child.stdin.take().expect("stdin"), "{secret}").expect("write token");
    let output = child.wait_with_output().expect("tokens hash");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let hash = String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    assert_eq!(hash, sha256_hex(secret));
    assert_eq!(hash.len(), 64);

    // One token inline, one in a tokens file (TOML) beside the config.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("tokens.toml"),
        format!(
            "[[tokens]]\nid = \"acme-file\"\nsha256 = \"{}\"\nmarketplace = \"MKT-ACME\"\n",
            sha256_hex(ACME)
        ),
    )
    .expect("write tokens file");
    let config_path = dir.path().join("screener.toml");
    std::fs::write(
        &config_path,
        format!(
            "[admin]\ntokens_file = \"tokens.toml\"\nmax_body_bytes = 4096\n\n[[admin.tokens]]\nid = \"ops-cli\"\nsha256 = \"{hash}\"\nrole = \"operations\"\n"
        ),
    )
    .expect("write config");
    let config = Config::load(&config_path).expect("config loads");
    let live = Arc::new(LiveScreener::new(screener()));
    let publisher = Arc::new(LocalPublisher::new(live.clone()));
    let api = ApiState::from_config(&config, live.clone(), publisher)
        .expect("tokens load")
        .expect("API configured");
    assert_eq!(api.token_count(), 2);
    let server = Server::start_with(api, live).await;
    let reply = server
        .call("GET", "/v1/known-shippers", Some(secret), None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["count"], 8);
    let reply = server
        .call("GET", "/v1/known-shippers", Some(ACME), None)
        .await;
    assert_eq!(
        reply.json()["count"],
        4,
        "the file's token is a marketplace token"
    );
    // The configured body limit applies.
    let reply = server
        .raw(
            "POST",
            "/v1/known-shippers",
            Some(ACME),
            Some(&vec![b' '; 5000]),
        )
        .await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    server.stop().await;

    // A bad entry is refused when the tokens load, naming the file, the entry and the field.
    std::fs::write(
        dir.path().join("tokens.toml"),
        "[[tokens]]\nid = \"x\"\nsha256 = \"abc\"\nmarketplace = \"MKT\"\nrole = \"operations\"\n",
    )
    .expect("write tokens file");
    let config = Config::load(&config_path).expect("config itself loads");
    let live = Arc::new(LiveScreener::new(screener()));
    let error = ApiState::from_config(&config, live.clone(), Arc::new(LocalPublisher::new(live)))
        .expect_err("bad tokens file")
        .to_string();
    assert!(error.contains("tokens.toml tokens[0].sha256"), "{error}");
    assert!(error.contains("tokens[0].role"), "{error}");
}

/// Not a test: serves the API (bundled lists, the tokens `ops`, `acme`, `bazaar` of this
/// file) on `ADMIN_API_ADDR` (default 127.0.0.1:9899) for `ADMIN_API_SECONDS` (default 60),
/// to try the README's curl commands by hand:
///
///     ADMIN_API_SECONDS=300 cargo test --test admin_api -- --ignored --nocapture serve_for_curl
#[tokio::test]
#[ignore = "manual: serves the API for curl checks"]
async fn serve_for_curl() {
    let addr = std::env::var("ADMIN_API_ADDR").unwrap_or_else(|_| "127.0.0.1:9899".to_string());
    let seconds: u64 = std::env::var("ADMIN_API_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let live = Arc::new(LiveScreener::new(screener()));
    let publisher = Arc::new(LocalPublisher::new(live.clone()));
    let api = ApiState::new(live, publisher, tokens());
    let state = AdminState::new(Arc::new(Metrics::new()), Arc::new(Readiness::new())).with_api(api);
    let (listener, local) = admin::bind(&addr).await.expect("bind");
    eprintln!(
        "serving on http://{local} for {seconds} s; tokens: OPS={OPS} ACME={ACME} BAZAAR={BAZAAR}"
    );
    admin::serve(
        listener,
        state,
        tokio::time::sleep(Duration::from_secs(seconds)),
    )
    .await
    .expect("serve");
}
