//! `ServiceAccountAuth`: access tokens by Google's JWT-bearer grant, cached
//! until shortly before they expire.
//!
//! `POST token_uri` with `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`
//! and `assertion=<RS256 JWT>` answers `{access_token, expires_in, token_type}`.
//! The cache sits behind a Tokio mutex held across the refresh, so callers
//! arriving while a token is being fetched wait for that one instead of each
//! signing and fetching their own.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::error::{SheetsError, TokenErrorBody};
use crate::key::{SPREADSHEETS_SCOPE, ServiceAccountKey};

const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Refresh this long before the token expires, so a request never leaves
/// with a token that dies on the way.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// How much of an unexpected body an error keeps.
const BODY_SNIPPET: usize = 512;

#[derive(Debug, Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
    #[serde(default)]
    token_type: Option<String>,
}

#[derive(Clone)]
struct CachedToken {
    value: String,
    /// On Tokio's clock, so tests can move it.
    refresh_at: Instant,
}

/// Never prints the token: it is a credential for an hour.
impl std::fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedToken")
            .field("value", &"<redacted>")
            .field("refresh_at", &self.refresh_at)
            .finish()
    }
}

/// Fetches and caches access tokens for one service account.
#[derive(Debug)]
pub struct ServiceAccountAuth {
    key: ServiceAccountKey,
    scope: String,
    http: reqwest::Client,
    cached: Mutex<Option<CachedToken>>,
}

impl ServiceAccountAuth {
    /// Tokens for the spreadsheets scope, fetched with `http`.
    pub fn new(key: ServiceAccountKey, http: reqwest::Client) -> Self {
        Self {
            key,
            scope: SPREADSHEETS_SCOPE.to_owned(),
            http,
            cached: Mutex::new(None),
        }
    }

    pub fn key(&self) -> &ServiceAccountKey {
        &self.key
    }

    /// A valid access token: the cached one, or a new one when there is none
    /// or it expires within a minute.
    pub async fn access_token(&self) -> Result<String, SheetsError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| Instant::now() < t.refresh_at) {
            return Ok(token.value.clone());
        }
        let token = self.fetch().await?;
        let value = token.value.clone();
        *cached = Some(token);
        Ok(value)
    }

    /// Forgets the cached token if it is still `rejected`, so the next call
    /// fetches a new one (after the API answered 401 to it). A token another
    /// caller already replaced is kept.
    pub async fn invalidate(&self, rejected: &str) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|t| t.value == rejected) {
            *cached = None;
        }
    }

    async fn fetch(&self) -> Result<CachedToken, SheetsError> {
        // The JWT's iat/exp are wall-clock times Google checks against its own.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let assertion = self.key.sign_assertion(&self.scope, now)?;
        let res = self
            .http
            .post(self.key.token_uri().clone())
            .form(&[
                ("grant_type", GRANT_TYPE),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await?;
        let status = res.status().as_u16();
        let body = res.text().await?;
        if !(200..300).contains(&status) {
            let refusal =
                serde_json::from_str::<TokenErrorBody>(&body).unwrap_or_else(|_| TokenErrorBody {
                    error: "unexpected_response".into(),
                    error_description: Some(snippet(&body)),
                });
            return Err(SheetsError::Token {
                status,
                error: refusal.error,
                description: refusal.error_description,
            });
        }
        let token: TokenResponse =
            serde_json::from_str(&body).map_err(|e| SheetsError::BadResponse {
                status,
                detail: format!("token response: {e}: {}", snippet(&body)),
            })?;
        if let Some(kind) = token
            .token_type
            .as_deref()
            .filter(|t| !t.eq_ignore_ascii_case("bearer"))
        {
            return Err(SheetsError::BadResponse {
                status,
                detail: format!("token_type {kind:?}; expected Bearer"),
            });
        }
        if token.access_token.is_empty() {
            return Err(SheetsError::BadResponse {
                status,
                detail: "empty access_token".into(),
            });
        }
        // Capped so a silly `expires_in` cannot overflow the clock.
        let lifetime = Duration::from_secs(token.expires_in.min(86_400));
        // A token shorter-lived than twice the margin is refreshed at half-life.
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        tracing::debug!(
            client_email = self.key.client_email(),
            expires_in = token.expires_in,
            "fetched Google access token"
        );
        Ok(CachedToken {
            value: token.access_token,
            refresh_at: Instant::now() + (lifetime - margin),
        })
    }
}

pub(crate) fn snippet(body: &str) -> String {
    let mut end = body.len().min(BODY_SNIPPET);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    body[..end].to_owned()
}
