//! The enrollment API (SPEC §2, §6, §10; issue 5): JSON over HTTP under the admin server.
//!
//! | route | who | what |
//! |---|---|---|
//! | `POST /v1/known-shippers` | marketplace, operations | enroll a known shipper (201; 409 if the id is taken) |
//! | `GET /v1/known-shippers[?status=]` | marketplace (own), operations (all) | list, sorted by id |
//! | `GET /v1/known-shippers/{id}` | marketplace (own), operations | one shipper |
//! | `PATCH /v1/known-shippers/{id}` | marketplace (own), operations | suspend / reactivate, `valid_to` |
//! | `DELETE /v1/known-shippers/{id}` | marketplace (own), operations | revoke (the record stays, `REVOKED`) |
//! | `GET /v1/lists` | any token | list versions and counts |
//! | `POST /v1/screen` | operations | screen one parcel record, as the pipeline would (version 1, no dedup) |
//!
//! `docs/openapi.yaml` describes every route, body and error.
//!
//! **Authorization.** Every route needs `Authorization: Bearer <token>` ([`auth`]); without a
//! valid one: 401 with `WWW-Authenticate: Bearer`. A marketplace token acts only on the
//! shippers whose `enrolled_by` is its marketplace. Another marketplace's shipper answers
//! **404, exactly as a shipper that does not exist**, never 403: a 403 would tell a
//! marketplace that a competitor has enrolled that id, i.e. who sells through whom. (Enrolling
//! an id that is taken gets 409 whoever holds it: ids are one namespace, so prefix them with
//! the marketplace, e.g. `KS-ACME-0001`.) A route that is for operations only answers 403 to
//! a marketplace token: that reveals nothing but the route's rule.
//!
//! **Writes** go through a [`KnownShipperPublisher`] (Kafka in production,
//! [`LocalPublisher`] without it), one at a time per instance, so that "id is free" or "the
//! current status is X" still holds when the change is published. Every write attempt is
//! audited: one `info` event with target `audit` naming the token id, role, marketplace,
//! action, shipper id, outcome and status, never a shipper's name or address (personal
//! data, SPEC §10). Requests refused for want of a valid token are audited at `warn`.
//!
//! **Input.** Bodies are limited (`admin.max_body_bytes`, 413 beyond; `/v1/screen` takes a
//! record up to `limits.max_record_bytes`, as the pipeline does). Bad JSON, unknown fields
//! and invalid values get 400 with `{error, problems[]}`, each problem naming its field.
//! Client input never gets a 500.

pub mod auth;
pub mod error;
mod known_shippers;
pub mod publish;
mod screen;

pub use auth::{sha256_hex, Caller, Principal, TokenTable};
pub use error::ApiError;
pub use publish::{KafkaPublisher, KnownShipperPublisher, LocalPublisher, PublishError};

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, DEFAULT_MAX_BODY_BYTES};
use crate::live::LiveScreener;
use screener_engine::record::ParseLimits;

/// Every route of the API with its methods: the router serves exactly these, and
/// `docs/openapi.yaml` must document exactly these (tests/admin_api.rs checks both).
pub const ROUTES: &[(&str, &[&str])] = &[
    ("/v1/known-shippers", &["GET", "POST"]),
    ("/v1/known-shippers/{id}", &["GET", "PATCH", "DELETE"]),
    ("/v1/lists", &["GET"]),
    ("/v1/screen", &["POST"]),
];

/// How long a write waits for the publisher before answering 503 by default.
pub const DEFAULT_PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// What the API's handlers share.
#[derive(Clone)]
pub struct ApiState {
    live: Arc<LiveScreener>,
    publisher: Arc<dyn KnownShipperPublisher>,
    tokens: Arc<TokenTable>,
    limits: ParseLimits,
    max_body_bytes: usize,
    publish_timeout: Duration,
    /// One write at a time: a write checks the current registry, then publishes, and the
    /// check must still hold when it does.
    writes: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("tokens", &self.tokens)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("publish_timeout", &self.publish_timeout)
            .finish_non_exhaustive()
    }
}

impl ApiState {
    /// The API over `live` (reads and `/v1/screen`), writing through `publisher`, for the
    /// callers in `tokens`. Default limits: [`ParseLimits::default`],
    /// [`DEFAULT_MAX_BODY_BYTES`], [`DEFAULT_PUBLISH_TIMEOUT`].
    pub fn new(
        live: Arc<LiveScreener>,
        publisher: Arc<dyn KnownShipperPublisher>,
        tokens: TokenTable,
    ) -> Self {
        ApiState {
            live,
            publisher,
            tokens: Arc::new(tokens),
            limits: ParseLimits::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            publish_timeout: DEFAULT_PUBLISH_TIMEOUT,
            writes: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// The API as configured: tokens from `admin.tokens` and `admin.tokens_file` (read now),
    /// `admin.max_body_bytes`, and the record limits of `limits`. `None` when no token is
    /// configured: then the API is not served at all (every `/v1` route is 404).
    pub fn from_config(
        config: &Config,
        live: Arc<LiveScreener>,
        publisher: Arc<dyn KnownShipperPublisher>,
    ) -> anyhow::Result<Option<ApiState>> {
        let tokens = config.admin.load_tokens()?;
        if tokens.is_empty() {
            return Ok(None);
        }
        let table = TokenTable::new(&tokens).map_err(|problems| anyhow::anyhow!(problems))?;
        Ok(Some(
            ApiState::new(live, publisher, table)
                .with_limits(config.limits.clone())
                .with_max_body_bytes(config.admin.max_body_bytes),
        ))
    }

    /// Record limits for `/v1/screen` (its body limit is `limits.max_record_bytes`).
    pub fn with_limits(mut self, limits: ParseLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Body limit of the known-shipper routes.
    pub fn with_max_body_bytes(mut self, max_body_bytes: usize) -> Self {
        self.max_body_bytes = max_body_bytes;
        self
    }

    /// How long a write waits for the publisher before answering 503.
    pub fn with_publish_timeout(mut self, timeout: Duration) -> Self {
        self.publish_timeout = timeout;
        self
    }

    /// The number of configured tokens.
    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }
}

/// The API routes, with their state and body limits.
pub fn router(state: ApiState) -> Router {
    let record_limit = state.limits.max_record_bytes;
    Router::new()
        .route(
            "/v1/known-shippers",
            get(known_shippers::list).post(known_shippers::enroll),
        )
        .route(
            "/v1/known-shippers/{id}",
            get(known_shippers::read)
                .patch(known_shippers::update)
                .delete(known_shippers::revoke),
        )
        .route("/v1/lists", get(screen::lists))
        .route(
            "/v1/screen",
            post(screen::screen).layer(DefaultBodyLimit::max(record_limit)),
        )
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .with_state(state)
}

/// The route template a request path belongs to, for audit lines about requests that may
/// not be trusted (the raw path is attacker-controlled).
fn audit_route(path: &str) -> &'static str {
    match path {
        "/v1/known-shippers" => "/v1/known-shippers",
        "/v1/lists" => "/v1/lists",
        "/v1/screen" => "/v1/screen",
        _ if path.starts_with("/v1/known-shippers/") => "/v1/known-shippers/{id}",
        _ => "(other)",
    }
}
