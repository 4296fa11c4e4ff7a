//! `/v1/known-shippers`: enroll, list, read, suspend/reactivate, revoke.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Deserializer};

use super::auth::{Caller, Principal};
use super::error::{body_bytes, parse_json, ApiError};
use super::ApiState;
use screener_engine::known_shippers::{KnownShipper, KnownShipperRegistry, KnownShipperStatus};

/// Longest enrollment id.
const MAX_ID_CHARS: usize = 64;

/// Whether `id` may be enrolled: 1 to 64 of `A-Z a-z 0-9 . _ : -`, starting with a letter or
/// digit. Ids travel in URLs, Kafka keys and log lines; this keeps them safe in all three.
fn is_valid_id(id: &str) -> bool {
    id.len() <= MAX_ID_CHARS
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
}

/// The id as the audit log may show it: ids of any other shape (they come from the request
/// and could carry anything, including line breaks) are replaced.
fn audit_id(id: &str) -> &str {
    if id.is_empty() {
        "-"
    } else if is_valid_id(id) {
        id
    } else {
        "(invalid id)"
    }
}

/// The audit event of one write attempt. Never a name or an address: personal data.
fn audit(caller: &Caller, action: &str, shipper_id: &str, outcome: &str, status: StatusCode) {
    tracing::info!(
        target: "audit",
        token_id = %caller.token_id,
        role = caller.role(),
        marketplace = caller.marketplace().unwrap_or("-"),
        action,
        shipper_id = audit_id(shipper_id),
        outcome,
        status = status.as_u16(),
        "known-shipper {action}: {outcome}"
    );
}

/// A successful write.
struct Written {
    status: StatusCode,
    /// `created`, `suspended`, `reactivated`, `updated`, `revoked` or `unchanged`.
    outcome: &'static str,
    shipper: KnownShipper,
}

/// Audits the attempt and answers.
fn respond(
    caller: &Caller,
    action: &str,
    shipper_id: &str,
    result: Result<Written, ApiError>,
) -> Response {
    match result {
        Ok(written) => {
            audit(caller, action, shipper_id, written.outcome, written.status);
            let mut response = (written.status, Json(&written.shipper)).into_response();
            if written.status == StatusCode::CREATED {
                let location = format!("/v1/known-shippers/{}", written.shipper.id);
                if let Ok(value) = HeaderValue::from_str(&location) {
                    response.headers_mut().insert(header::LOCATION, value);
                }
            }
            response
        }
        Err(error) => {
            audit(caller, action, shipper_id, error.outcome, error.status);
            error.into_response()
        }
    }
}

/// The shipper `id`, if `caller` may see it. Another marketplace's shipper is reported
/// exactly like a missing one (see the module documentation of `api`).
fn visible<'a>(
    caller: &Caller,
    registry: &'a KnownShipperRegistry,
    id: &str,
) -> Result<&'a KnownShipper, ApiError> {
    match registry.get(id) {
        Some(shipper) if caller.may_act_on(shipper) => Ok(shipper),
        Some(_) => Err(ApiError::not_found(id, "not_owner")),
        None => Err(ApiError::not_found(id, "not_found")),
    }
}

fn path_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(id)| id)
        .map_err(|rejection| ApiError::invalid("invalid path", vec![rejection.body_text()]))
}

/// Publishes `shipper`'s new state; 503 if it cannot be made effective in time.
async fn publish(state: &ApiState, shipper: KnownShipper) -> Result<(), ApiError> {
    let id = shipper.id.clone();
    match tokio::time::timeout(state.publish_timeout, state.publisher.publish(shipper)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => {
            tracing::warn!(shipper_id = audit_id(&id), %error, "known-shipper change not published");
            Err(ApiError::unavailable(error.to_string()))
        }
        Err(_elapsed) => {
            tracing::warn!(
                shipper_id = audit_id(&id),
                timeout_ms = state.publish_timeout.as_millis() as u64,
                "known-shipper change not confirmed in time"
            );
            Err(ApiError::unavailable(format!(
                "the change was not confirmed within {} ms; retry (publishing is idempotent)",
                state.publish_timeout.as_millis()
            )))
        }
    }
}

/// Problems the engine's own check does not look for, each naming its field: the id's
/// shape, lengths, control characters.
fn input_problems(shipper: &KnownShipper, max_chars: usize) -> Vec<String> {
    let mut problems = Vec::new();
    if !shipper.id.is_empty() && !is_valid_id(&shipper.id) {
        problems.push(format!(
            "id: expected 1 to {MAX_ID_CHARS} letters, digits, '.', '_', ':' or '-', \
             starting with a letter or digit"
        ));
    }
    for (field, value) in [
        ("name", &shipper.name),
        ("address", &shipper.address),
        ("enrolled_by", &shipper.enrolled_by),
    ] {
        let chars = value.chars().count();
        if chars > max_chars {
            problems.push(format!(
                "{field}: {chars} characters, over the limit of {max_chars}"
            ));
        }
        if value.chars().any(char::is_control) {
            problems.push(format!("{field}: must not contain control characters"));
        }
    }
    problems
}

/// `POST /v1/known-shippers`: a [`KnownShipper`] without `enrolled_by` for a marketplace
/// token (it is the token's marketplace; giving another one is 403), with it for operations.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrollRequest {
    id: String,
    name: String,
    address: String,
    country: String,
    #[serde(default)]
    enrolled_by: Option<String>,
    /// `ACTIVE` (default) or `SUSPENDED`.
    #[serde(default)]
    status: Option<KnownShipperStatus>,
    /// Today (UTC) when absent.
    #[serde(default)]
    valid_from: Option<NaiveDate>,
    #[serde(default)]
    valid_to: Option<NaiveDate>,
}

pub(super) async fn enroll(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut shipper_id = String::new();
    let result = enroll_shipper(&state, &caller, body, &mut shipper_id).await;
    respond(&caller, "enroll", &shipper_id, result)
}

async fn enroll_shipper(
    state: &ApiState,
    caller: &Caller,
    body: Result<Bytes, BytesRejection>,
    shipper_id: &mut String,
) -> Result<Written, ApiError> {
    let bytes = body_bytes(body, state.max_body_bytes)?;
    let request: EnrollRequest = parse_json(&bytes)?;
    shipper_id.clone_from(&request.id);
    let enrolled_by = match (&caller.principal, request.enrolled_by) {
        (Principal::Marketplace(own), None) => own.clone(),
        (Principal::Marketplace(own), Some(given)) if given == *own => given,
        (Principal::Marketplace(own), Some(_)) => {
            return Err(ApiError::forbidden(format!(
                "enrolled_by: a marketplace token enrolls only for its own marketplace ({own:?})"
            )))
        }
        (Principal::Operations, Some(given)) => given,
        (Principal::Operations, None) => {
            return Err(ApiError::invalid(
                "invalid known shipper",
                vec![
                    "enrolled_by: required with an operations token (the marketplace id that \
                     owns the enrollment)"
                        .to_string(),
                ],
            ))
        }
    };
    let status = request.status.unwrap_or(KnownShipperStatus::Active);
    let shipper = KnownShipper {
        id: request.id,
        name: request.name,
        address: request.address,
        country: request.country,
        enrolled_by,
        status,
        valid_from: request
            .valid_from
            .unwrap_or_else(|| Utc::now().date_naive()),
        valid_to: request.valid_to,
    };
    let mut problems = shipper.problems();
    problems.extend(input_problems(&shipper, state.limits.max_string_chars));
    if status == KnownShipperStatus::Revoked {
        problems.push(
            "status: an enrollment starts ACTIVE or SUSPENDED (REVOKED is set by DELETE)"
                .to_string(),
        );
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid("invalid known shipper", problems));
    }
    let _write = state.writes.lock().await;
    if state
        .live
        .current()
        .known_shippers
        .get(&shipper.id)
        .is_some()
    {
        return Err(ApiError::conflict(format!(
            "known shipper {:?} is already enrolled; choose another id",
            shipper.id
        )));
    }
    publish(state, shipper.clone()).await?;
    Ok(Written {
        status: StatusCode::CREATED,
        outcome: "created",
        shipper,
    })
}

/// `GET /v1/known-shippers?status=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    #[serde(default)]
    status: Option<String>,
}

pub(super) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|rejection| {
        ApiError::invalid(
            "invalid query",
            vec![format!(
                "{}; the only parameter is status=ACTIVE|SUSPENDED|REVOKED",
                rejection.body_text()
            )],
        )
    })?;
    let status = match query.status.as_deref() {
        None => None,
        Some(text) => Some(
            KnownShipperStatus::ALL
                .into_iter()
                .find(|status| status.as_str() == text)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "invalid query",
                        vec![format!(
                            "status: expected ACTIVE, SUSPENDED or REVOKED, got {:?}",
                            text.chars().take(40).collect::<String>()
                        )],
                    )
                })?,
        ),
    };
    let screener = state.live.current();
    let mut shippers: Vec<&KnownShipper> = screener
        .known_shippers
        .iter()
        .filter(|shipper| caller.may_act_on(shipper))
        .filter(|shipper| status.is_none_or(|status| shipper.status == status))
        .collect();
    shippers.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Json(serde_json::json!({
        "known_shippers": shippers,
        "count": shippers.len(),
        "version": screener.list_versions.known_shippers,
    }))
    .into_response())
}

pub(super) async fn read(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(path)?;
    let screener = state.live.current();
    let shipper = visible(&caller, &screener.known_shippers, &id)?;
    Ok(Json(shipper).into_response())
}

/// `valid_to` given (`Some(date)`), given as `null` (`Some(None)`: open-ended), or absent
/// (`None`: unchanged).
fn present<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<NaiveDate>>, D::Error> {
    Option::<NaiveDate>::deserialize(deserializer).map(Some)
}

/// `PATCH /v1/known-shippers/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateRequest {
    /// `ACTIVE` (reactivate) or `SUSPENDED` (suspend).
    #[serde(default)]
    status: Option<KnownShipperStatus>,
    #[serde(default, deserialize_with = "present")]
    valid_to: Option<Option<NaiveDate>>,
}

pub(super) async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut action = "update";
    let id = path.as_ref().map(|p| p.0.clone()).unwrap_or_default();
    let result = update_shipper(&state, &caller, path, body, &mut action).await;
    respond(&caller, action, &id, result)
}

async fn update_shipper(
    state: &ApiState,
    caller: &Caller,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
    action: &mut &'static str,
) -> Result<Written, ApiError> {
    let id = path_id(path)?;
    let bytes = body_bytes(body, state.max_body_bytes)?;
    let request: UpdateRequest = parse_json(&bytes)?;
    *action = match request.status {
        Some(KnownShipperStatus::Suspended) => "suspend",
        Some(KnownShipperStatus::Active) => "reactivate",
        _ => "update",
    };
    match request.status {
        Some(KnownShipperStatus::Revoked) => {
            return Err(ApiError::invalid(
                "invalid change",
                vec![
                "status: expected ACTIVE or SUSPENDED (revoke with DELETE /v1/known-shippers/{id})"
                    .to_string(),
            ],
            ))
        }
        None if request.valid_to.is_none() => {
            return Err(ApiError::invalid(
                "nothing to change",
                vec!["status: expected ACTIVE or SUSPENDED (or give valid_to)".to_string()],
            ))
        }
        _ => {}
    }
    let _write = state.writes.lock().await;
    let screener = state.live.current();
    let current = visible(caller, &screener.known_shippers, &id)?;
    if current.status == KnownShipperStatus::Revoked {
        return Err(ApiError::conflict(format!(
            "known shipper {id:?} is revoked; a revoked enrollment cannot be changed or \
             reactivated (enroll the shipper under a new id)"
        )));
    }
    let mut next = current.clone();
    if let Some(status) = request.status {
        next.status = status;
    }
    if let Some(valid_to) = request.valid_to {
        next.valid_to = valid_to;
    }
    let problems = next.problems();
    if !problems.is_empty() {
        return Err(ApiError::invalid("invalid change", problems));
    }
    if next == *current {
        return Ok(Written {
            status: StatusCode::OK,
            outcome: "unchanged",
            shipper: next,
        });
    }
    let outcome = if next.status == current.status {
        "updated"
    } else if next.status == KnownShipperStatus::Suspended {
        "suspended"
    } else {
        "reactivated"
    };
    publish(state, next.clone()).await?;
    Ok(Written {
        status: StatusCode::OK,
        outcome,
        shipper: next,
    })
}

/// `DELETE /v1/known-shippers/{id}`: revokes. The record is kept with status `REVOKED`, so
/// that parcels still claiming the id get `KS_SUSPENDED` rather than `KS_MISMATCH`.
pub(super) async fn revoke(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let id = path.as_ref().map(|p| p.0.clone()).unwrap_or_default();
    let result = revoke_shipper(&state, &caller, path).await;
    respond(&caller, "revoke", &id, result)
}

async fn revoke_shipper(
    state: &ApiState,
    caller: &Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Written, ApiError> {
    let id = path_id(path)?;
    let _write = state.writes.lock().await;
    let screener = state.live.current();
    let current = visible(caller, &screener.known_shippers, &id)?;
    if current.status == KnownShipperStatus::Revoked {
        return Ok(Written {
            status: StatusCode::OK,
            outcome: "unchanged",
            shipper: current.clone(),
        });
    }
    let revoked = KnownShipper {
        status: KnownShipperStatus::Revoked,
        ..current.clone()
    };
    publish(state, revoked.clone()).await?;
    Ok(Written {
        status: StatusCode::OK,
        outcome: "revoked",
        shipper: revoked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_restricted_to_a_safe_alphabet() {
        for good in ["KS-ACME-0001", "a", "ks.acme:1_2", &"x".repeat(64)] {
            assert!(is_valid_id(good), "{good}");
        }
        for bad in [
            "",
            "-x",
            "KS ACME",
            "KS\nACME",
            "KS/1",
            "ks%2F",
            "é",
            &"x".repeat(65),
        ] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
        assert_eq!(audit_id("KS\n[audit] forged"), "(invalid id)");
    }
}
