//! API-key authentication for `/api/*`: `Authorization: Bearer <key>`, compared in
//! constant time against every configured key.

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiError;

pub async fn require_api_key(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    match presented {
        Some(key) if key_matches(&state.api_keys, key) => Ok(next.run(req).await),
        _ => Err(ApiError::Unauthorized),
    }
}

/// Whether a request carries a configured key: in its `Authorization: Bearer` header,
/// or else as `query_token` (for clients that cannot set headers: EventSource, and the
/// Socket.IO handshake's `auth.token`).
pub fn is_authorized(keys: &[String], headers: &HeaderMap, query_token: Option<&str>) -> bool {
    let header = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    header
        .or(query_token)
        .is_some_and(|key| key_matches(keys, key))
}

/// The token of an `Authorization: Bearer <token>` header; the scheme name is
/// case-insensitive (RFC 9110 §11.1).
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Checks every key without stopping at the first match, so timing tells nothing.
pub fn key_matches(keys: &[String], presented: &str) -> bool {
    keys.iter().fold(false, |found, k| {
        found | bool::from(k.as_bytes().ct_eq(presented.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_bearer_token_whatever_the_scheme_case() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }

    #[test]
    fn matches_any_configured_key_exactly() {
        let keys = vec!["alpha".to_string(), "beta".to_string()];
        assert!(key_matches(&keys, "beta"));
        assert!(!key_matches(&keys, "bet"));
        assert!(!key_matches(&keys, ""));
        assert!(!key_matches(&[], "alpha"));
    }
}
