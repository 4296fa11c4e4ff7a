//! Bearer tokens (SPEC §10): who is calling, and what they may touch.
//!
//! Tokens are configured only as the SHA-256 of the token (`[[admin.tokens]]`,
//! `admin.tokens_file`; `parcel-screener tokens hash` computes it), so neither the config
//! nor a memory dump of the process holds a usable token. A request's token is hashed and
//! compared with every configured hash in constant time (see [`TokenTable::authenticate`]).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use super::error::ApiError;
use super::ApiState;
use crate::config::{token_problems, ApiRole, ApiTokenConfig};
use screener_engine::known_shippers::KnownShipper;

/// What a token is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A marketplace: acts only on the known shippers whose `enrolled_by` is this id.
    Marketplace(String),
    /// Customs operations staff: act on every known shipper, and may use `/v1/screen`.
    Operations,
}

/// An authenticated caller: the token's id (named in the audit log) and its principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub token_id: String,
    pub principal: Principal,
}

impl Caller {
    /// `marketplace` or `operations`, for the audit log.
    pub fn role(&self) -> &'static str {
        match self.principal {
            Principal::Marketplace(_) => "marketplace",
            Principal::Operations => "operations",
        }
    }

    /// The marketplace id, for a marketplace token.
    pub fn marketplace(&self) -> Option<&str> {
        match &self.principal {
            Principal::Marketplace(id) => Some(id),
            Principal::Operations => None,
        }
    }

    /// Whether this caller may read and change `shipper`: operations any, a marketplace
    /// only those it enrolled.
    pub fn may_act_on(&self, shipper: &KnownShipper) -> bool {
        match &self.principal {
            Principal::Marketplace(id) => shipper.enrolled_by == *id,
            Principal::Operations => true,
        }
    }
}

/// The SHA-256 of `token`, as the 64 lower-case hex digits that `sha256` in the token
/// config holds.
pub fn sha256_hex(token: &str) -> String {
    use std::fmt::Write as _;
    let digest = Sha256::digest(token.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

struct TokenEntry {
    hash: [u8; 32],
    caller: Caller,
}

/// The configured tokens, by hash.
pub struct TokenTable {
    entries: Vec<TokenEntry>,
}

impl std::fmt::Debug for TokenTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Ids only: the hashes are not secrets, but they need not be in debug output.
        f.debug_struct("TokenTable")
            .field(
                "token_ids",
                &self
                    .entries
                    .iter()
                    .map(|e| e.caller.token_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl TokenTable {
    /// Builds the table; checks the entries as config loading does (one of marketplace or
    /// role, 64 hex digits, unique ids and hashes), every problem naming its entry.
    pub fn new(tokens: &[ApiTokenConfig]) -> Result<TokenTable, String> {
        let labelled: Vec<(String, &ApiTokenConfig)> = tokens
            .iter()
            .enumerate()
            .map(|(i, token)| (format!("tokens[{i}]"), token))
            .collect();
        let problems = token_problems(&labelled);
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        let entries = tokens
            .iter()
            .map(|token| {
                let mut hash = [0u8; 32];
                for (i, byte) in hash.iter_mut().enumerate() {
                    let pair = &token.sha256[2 * i..2 * i + 2];
                    // Checked above: 64 ASCII hex digits.
                    *byte = u8::from_str_radix(pair, 16).unwrap_or_default();
                }
                let principal = match (&token.marketplace, token.role) {
                    (Some(marketplace), _) => Principal::Marketplace(marketplace.clone()),
                    (None, Some(ApiRole::Operations) | None) => Principal::Operations,
                };
                TokenEntry {
                    hash,
                    caller: Caller {
                        token_id: token.id.clone(),
                        principal,
                    },
                }
            })
            .collect();
        Ok(TokenTable { entries })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The caller whose token this is, if any.
    ///
    /// Timing-safe: the presented token is hashed first, so the work done does not depend
    /// on how much of it resembles a real token, and its hash is then compared with *every*
    /// configured hash, each with `subtle`'s constant-time equality over all 32 bytes, and
    /// the match (if any) picked with a constant-time select. There is no early exit, on the
    /// first differing byte or on the first matching token, so the response time tells an
    /// attacker neither how close a guess was nor which entry (first or last) matched.
    pub fn authenticate(&self, token: &str) -> Option<&Caller> {
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = Choice::from(0);
        let mut index = 0u32;
        for (i, entry) in self.entries.iter().enumerate() {
            let equal = presented.ct_eq(&entry.hash);
            index = u32::conditional_select(&index, &(i as u32), equal);
            found |= equal;
        }
        if bool::from(found) {
            self.entries.get(index as usize).map(|entry| &entry.caller)
        } else {
            None
        }
    }
}

/// Why a request carries no usable token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` header.
    Missing,
    /// A header that is not `Bearer <token>`.
    Malformed,
    /// A well-formed token that is not configured.
    Unknown,
}

impl AuthFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing_token",
            AuthFailure::Malformed => "malformed_token",
            AuthFailure::Unknown => "unknown_token",
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header value (scheme case-insensitive,
/// RFC 7235).
fn bearer_token(value: &[u8]) -> Result<&str, AuthFailure> {
    let value = std::str::from_utf8(value).map_err(|_| AuthFailure::Malformed)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(AuthFailure::Malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(AuthFailure::Malformed);
    }
    Ok(token)
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    /// Authenticates before the body is read: a request without a valid token costs no
    /// body buffering and gets 401 whatever it carries.
    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let failure = match parts.headers.get(AUTHORIZATION) {
            None => AuthFailure::Missing,
            Some(value) => match bearer_token(value.as_bytes()) {
                Err(failure) => failure,
                Ok(token) => match state.tokens.authenticate(token) {
                    Some(caller) => return Ok(caller.clone()),
                    None => AuthFailure::Unknown,
                },
            },
        };
        // Never the presented token, nor anything derived from it.
        tracing::warn!(
            target: "audit",
            method = %parts.method,
            route = %super::audit_route(parts.uri.path()),
            outcome = failure.as_str(),
            status = 401u16,
            "admin API request refused: no valid bearer token"
        );
        Err(ApiError::unauthorized(failure))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(id: &str, secret: &str, marketplace: Option<&str>) -> ApiTokenConfig {
        ApiTokenConfig {
            id: id.to_string(),
            sha256: sha256_hex(secret),
            marketplace: marketplace.map(str::to_string),
            role: marketplace.is_none().then_some(ApiRole::Operations),
        }
    }

    #[test]
    fn sha256_hex_matches_a_known_vector() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn authenticates_every_entry_and_nothing_else() {
        let table = TokenTable::new(&[
            token("ops", "ops-secret", None),
            token("acme", "acme-secret", Some("MKT-ACME")),
            token("bazaar", "bazaar-secret", Some("MKT-BAZAAR")),
        ])
        .expect("valid");
        assert_eq!(
            table.authenticate("ops-secret").map(|c| &c.principal),
            Some(&Principal::Operations)
        );
        assert_eq!(
            table
                .authenticate("acme-secret")
                .map(|c| c.token_id.as_str()),
            Some("acme")
        );
        assert_eq!(
            table.authenticate("bazaar-secret").map(|c| c.marketplace()),
            Some(Some("MKT-BAZAAR"))
        );
        for wrong in ["", "ops-secre", "ops-secret ", "ACME-SECRET", "x"] {
            assert!(table.authenticate(wrong).is_none(), "{wrong:?}");
        }
    }

    #[test]
    fn upper_case_hashes_are_accepted() {
        let mut entry = token("ops", "s", None);
        entry.sha256 = entry.sha256.to_ascii_uppercase();
        let table = TokenTable::new(&[entry]).expect("valid");
        assert!(table.authenticate("s").is_some());
    }

    #[test]
    fn bad_entries_are_refused_naming_the_field() {
        let mut both = token("x", "s", Some("MKT"));
        both.role = Some(ApiRole::Operations);
        let error = TokenTable::new(&[both]).expect_err("both").to_string();
        assert!(error.contains("tokens[0].role"), "{error}");
        let mut short = token("x", "s", None);
        short.sha256.truncate(10);
        let error = TokenTable::new(&[short]).expect_err("short").to_string();
        assert!(error.contains("tokens[0].sha256"), "{error}");
        let error =
            TokenTable::new(&[token("x", "a", None), token("x", "b", None)]).expect_err("same id");
        assert!(error.contains("tokens[1].id"), "{error}");
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer_token(b"Bearer abc"), Ok("abc"));
        assert_eq!(bearer_token(b"bearer   abc "), Ok("abc"));
        assert_eq!(bearer_token(b"Basic abc"), Err(AuthFailure::Malformed));
        assert_eq!(bearer_token(b"Bearer"), Err(AuthFailure::Malformed));
        assert_eq!(bearer_token(b"Bearer "), Err(AuthFailure::Malformed));
        assert_eq!(bearer_token(b"abc"), Err(AuthFailure::Malformed));
        assert_eq!(bearer_token(b"Bearer \xff"), Err(AuthFailure::Malformed));
    }
}
