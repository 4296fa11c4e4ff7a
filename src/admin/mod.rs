//! The admin HTTP server (SPEC §2, §9): `GET /metrics` (Prometheus text), `GET /health/live`
//! (200 while the process runs) and `GET /health/ready` (200 when lists are loaded, partitions
//! are assigned and a broker is reachable; otherwise 503 naming what is not ready). It binds
//! to `admin.addr` (127.0.0.1:9898 by default).
//!
//! With [`AdminState::with_api`] it also serves the enrollment API under `/v1` ([`crate::api`]).
//!
//! [`serve`] takes a bound listener, so a test binds port 0 and reads the address back.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::api::ApiState;
use crate::metrics::{Metrics, Readiness};

/// The admin server's own routes with their methods (the API's are [`crate::api::ROUTES`]).
pub const ROUTES: &[(&str, &[&str])] = &[
    ("/", &["GET"]),
    ("/metrics", &["GET"]),
    ("/health/live", &["GET"]),
    ("/health/ready", &["GET"]),
];

/// What the handlers read.
#[derive(Debug, Clone)]
pub struct AdminState {
    pub metrics: Arc<Metrics>,
    pub readiness: Arc<Readiness>,
    /// The enrollment API, served under `/v1` when set.
    pub api: Option<ApiState>,
}

impl AdminState {
    pub fn new(metrics: Arc<Metrics>, readiness: Arc<Readiness>) -> Self {
        AdminState {
            metrics,
            readiness,
            api: None,
        }
    }

    /// Also serves the enrollment API ([`crate::api`]).
    pub fn with_api(mut self, api: ApiState) -> Self {
        self.api = Some(api);
        self
    }
}

/// The admin routes, and the API's when configured.
pub fn router(state: AdminState) -> Router {
    let api = state.api.clone();
    let admin = Router::new()
        .route("/", get(index))
        .route("/metrics", get(metrics))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .with_state(state);
    match api {
        Some(api) => admin.merge(crate::api::router(api)),
        None => admin,
    }
}

/// Serves the admin API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds `addr` (`HOST:PORT`; port 0 for an ephemeral port).
pub async fn bind(addr: &str) -> anyhow::Result<(tokio::net::TcpListener, SocketAddr)> {
    use anyhow::Context;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot bind the admin server to {addr}"))?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Starts the admin server on the current Tokio runtime; it stops when the runtime does.
/// Returns the bound address.
pub async fn start(addr: &str, state: AdminState) -> anyhow::Result<SocketAddr> {
    let (listener, local) = bind(addr).await?;
    let with_api = state.api.is_some();
    tokio::spawn(async move {
        if let Err(error) = serve(listener, state, std::future::pending()).await {
            tracing::error!(%error, "admin server stopped");
        }
    });
    if with_api {
        tracing::info!(addr = %local, "admin server listening (/metrics, /health/*, enrollment API /v1)");
    } else {
        tracing::info!(addr = %local, "admin server listening (/metrics, /health/live, /health/ready)");
    }
    Ok(local)
}

async fn index() -> &'static str {
    "parcel-screener admin: /metrics, /health/live, /health/ready\n"
}

async fn metrics(State(state): State<AdminState>) -> Response {
    (
        [(header::CONTENT_TYPE, state.metrics.content_type())],
        state.metrics.render(),
    )
        .into_response()
}

async fn live() -> Response {
    Json(serde_json::json!({"status": "live"})).into_response()
}

async fn ready(State(state): State<AdminState>) -> Response {
    let report = state.readiness.report();
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report)).into_response()
}

/// The admin state of `run` and `demo`: metrics and health, plus the enrollment API when
/// tokens are configured. The API's writes go to the known-shipper topic when the list
/// follower runs (`follower`), so that every instance applies them; without it (lists not
/// followed) they apply to this instance only.
pub fn service_state(
    config: &crate::config::Config,
    kafka: &crate::streaming::config::KafkaConfig,
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
    live: Arc<crate::live::LiveScreener>,
    follower: Option<&crate::live::FollowerHandle>,
) -> anyhow::Result<AdminState> {
    use crate::api::{KafkaPublisher, KnownShipperPublisher, LocalPublisher};
    let publisher: Arc<dyn KnownShipperPublisher> = match follower {
        Some(follower) => Arc::new(KafkaPublisher::new(
            kafka,
            follower.applied_positions.clone(),
        )?),
        None => Arc::new(LocalPublisher::new(live.clone()).with_metrics(metrics.clone())),
    };
    let state = AdminState::new(metrics, readiness);
    Ok(match ApiState::from_config(config, live, publisher)? {
        Some(api) => state.with_api(api),
        None => state,
    })
}
