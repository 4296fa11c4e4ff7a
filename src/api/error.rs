//! The API's error responses: a status code and a JSON body `{error, problems[]}`, where
//! `error` says what went wrong and each problem names a field (`country: expected ...`).
//!
//! Client input never gets a 500: every way a request can be wrong maps to a 4xx here, and
//! the only 5xx is 503 when the known-shipper list cannot be published right now.

use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;

use super::auth::AuthFailure;

/// An error response, with the outcome label the audit log records for it.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: String,
    pub problems: Vec<String>,
    /// `WWW-Authenticate` (401 only).
    www_authenticate: Option<&'static str>,
    /// The audit log's `outcome` for this error (may be more precise than the response, e.g.
    /// `not_owner` where the caller is told only 404).
    pub outcome: &'static str,
}

impl ApiError {
    fn new(status: StatusCode, outcome: &'static str, error: impl Into<String>) -> Self {
        ApiError {
            status,
            error: error.into(),
            problems: Vec::new(),
            www_authenticate: None,
            outcome,
        }
    }

    pub fn unauthorized(failure: AuthFailure) -> Self {
        let (message, challenge) = match failure {
            // RFC 6750 §3.1: no error code when the request carried no credentials.
            AuthFailure::Missing => (
                "missing bearer token (Authorization: Bearer <token>)",
                r#"Bearer realm="parcel-screener""#,
            ),
            AuthFailure::Malformed => (
                "malformed Authorization header: expected Bearer <token>",
                r#"Bearer realm="parcel-screener", error="invalid_token""#,
            ),
            AuthFailure::Unknown => (
                "invalid bearer token",
                r#"Bearer realm="parcel-screener", error="invalid_token""#,
            ),
        };
        ApiError {
            www_authenticate: Some(challenge),
            ..ApiError::new(StatusCode::UNAUTHORIZED, failure.as_str(), message)
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// The shipper does not exist, or belongs to another marketplace (`outcome`
    /// `not_owner`): the caller cannot tell which.
    pub fn not_found(id: &str, outcome: &'static str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            outcome,
            format!("no known shipper {id:?}"),
        )
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn invalid(message: impl Into<String>, problems: Vec<String>) -> Self {
        ApiError {
            problems,
            ..ApiError::new(StatusCode::BAD_REQUEST, "invalid", message)
        }
    }

    pub fn too_large(limit: usize) -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("request body is over the limit of {limit} bytes"),
        )
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.error, "problems": self.problems});
        let mut response = (self.status, Json(body)).into_response();
        if let Some(challenge) = self.www_authenticate {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// The body's bytes, or 413 past the route's limit (`DefaultBodyLimit`), or 400.
pub fn body_bytes(
    body: Result<axum::body::Bytes, BytesRejection>,
    limit: usize,
) -> Result<axum::body::Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(limit)
        } else {
            ApiError::invalid("cannot read the request body", vec![rejection.body_text()])
        }
    })
}

/// Parses a JSON body into `T`; a problem names the field path where parsing failed
/// (`valid_to: premature end of input`), or the position for broken JSON.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let invalid = |problem: String| ApiError::invalid("invalid JSON body", vec![problem]);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if path == "." || inner.is_syntax() || inner.is_eof() {
            invalid(inner.to_string())
        } else {
            invalid(format!("{path}: {inner}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|error| invalid(error.to_string()))?;
    Ok(value)
}
