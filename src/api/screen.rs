//! `GET /v1/lists` and `POST /v1/screen`.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::BTreeMap;

use super::auth::{Caller, Principal};
use super::error::{body_bytes, ApiError};
use super::ApiState;
use screener_engine::known_shippers::KnownShipperStatus;
use screener_engine::record::{parse_record, Action, RecordError};

/// `GET /v1/lists`: the list versions in use and their counts. Known-shipper counts cover
/// what the caller may see (a marketplace: its own enrollments; operations: all), so that a
/// marketplace learns nothing about another's enrollments from them.
pub(super) async fn lists(State(state): State<ApiState>, caller: Caller) -> Response {
    let screener = state.live.current();
    let mut per_list: BTreeMap<&str, usize> = BTreeMap::new();
    for entry in screener.matcher.entries() {
        *per_list.entry(entry.list.as_str()).or_default() += 1;
    }
    let mut by_status: BTreeMap<&str, usize> = KnownShipperStatus::ALL
        .into_iter()
        .map(|status| (status.as_str(), 0))
        .collect();
    let mut total = 0;
    for shipper in screener
        .known_shippers
        .iter()
        .filter(|s| caller.may_act_on(s))
    {
        *by_status.entry(shipper.status.as_str()).or_default() += 1;
        total += 1;
    }
    Json(serde_json::json!({
        "watchlist": {
            "version": screener.list_versions.watchlist,
            "entries": screener.matcher.entries().len(),
            "lists": per_list,
        },
        "known_shippers": {
            "version": screener.list_versions.known_shippers,
            "scope": caller.marketplace().unwrap_or("all"),
            "total": total,
            "by_status": by_status,
        },
    }))
    .into_response()
}

/// `POST /v1/screen` (operations only): screens one parcel record against the current lists
/// and returns the decision the pipeline would publish for a first report (version 1, no
/// deduplication, nothing published). The role is checked before the body is read.
pub(super) async fn screen(
    State(state): State<ApiState>,
    caller: Caller,
    request: Request,
) -> Result<Response, ApiError> {
    if caller.principal != Principal::Operations {
        tracing::info!(
            target: "audit",
            token_id = %caller.token_id,
            role = caller.role(),
            marketplace = caller.marketplace().unwrap_or("-"),
            action = "screen",
            outcome = "forbidden",
            status = 403u16,
            "screen: forbidden"
        );
        return Err(ApiError::forbidden(
            "POST /v1/screen is for operations tokens only",
        ));
    }
    let body = Bytes::from_request(request, &()).await;
    let limit = state.limits.max_record_bytes;
    let bytes = body_bytes(body, limit)?;
    let record = parse_record(&bytes, &state.limits).map_err(|error| match error {
        RecordError::TooLarge { .. } => ApiError::too_large(limit),
        RecordError::InvalidFields(errors) => ApiError::invalid(
            "invalid parcel record",
            errors.iter().map(ToString::to_string).collect(),
        ),
        other => ApiError::invalid("invalid parcel record", vec![other.to_string()]),
    })?;
    let screener = state.live.current();
    let decision = if record.action == Action::Cancel {
        screener.cancelled(&record, 1)
    } else {
        screener.screen(&record, 1, &[])
    };
    tracing::debug!(
        target: "audit",
        token_id = %caller.token_id,
        action = "screen",
        parcel_key = ?decision.parcel_key,
        outcome = decision.decision.as_str(),
        "screen"
    );
    Ok(Json(decision).into_response())
}
