//! Google's OAuth token endpoint for service accounts, as the simulator serves
//! it: `POST /token` with `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`
//! and an RS256 `assertion` signed by the service account's key; `iss` must be
//! the account, `aud` this endpoint, `scope` a Sheets scope, and `exp` at
//! most an hour after `iat`. Refusals are Google's `{error, error_description}`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use outcall_sheets::TokenErrorBody;
use rand::Rng;
use serde::Deserialize;
use serde_json::json;

use super::{CLIENT_EMAIL, KEY_ID, Shared};

const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Scopes that reach the values endpoints.
const SHEETS_SCOPES: [&str; 2] = [
    "https://www.googleapis.com/auth/spreadsheets",
    "https://www.googleapis.com/auth/spreadsheets.readonly",
];
/// Google allows some skew between our clock and the caller's.
const LEEWAY_SECS: u64 = 60;
const BAD_TIMES: &str = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.";

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/token", post(issue_token))
        .with_state(shared)
}

/// Issued access tokens and when each expires.
#[derive(Debug)]
pub(super) struct Tokens {
    live: Mutex<HashMap<String, Instant>>,
    lifetime: Mutex<Duration>,
    issued: AtomicUsize,
}

impl Default for Tokens {
    fn default() -> Self {
        Self {
            live: Mutex::default(),
            // Google's tokens last an hour less a second.
            lifetime: Mutex::new(Duration::from_secs(3599)),
            issued: AtomicUsize::new(0),
        }
    }
}

impl Tokens {
    fn issue(&self) -> (String, Duration) {
        let mut bytes = [0u8; 24];
        rand::rng().fill(&mut bytes);
        let token = format!(
            "ya29.sim-{}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let lifetime = *self.lifetime.lock().unwrap_or_else(|p| p.into_inner());
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        live.retain(|_, expiry| *expiry > now);
        live.insert(token.clone(), now + lifetime);
        self.issued.fetch_add(1, Ordering::Relaxed);
        (token, lifetime)
    }

    /// Whether `headers` carry `Authorization: Bearer <a live token>`.
    pub(super) fn authorised(&self, headers: &HeaderMap) -> bool {
        let Some(token) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.get(token.trim())
            .is_some_and(|expiry| *expiry > Instant::now())
    }

    pub(super) fn issued(&self) -> usize {
        self.issued.load(Ordering::Relaxed)
    }

    pub(super) fn set_lifetime(&self, lifetime: Duration) {
        *self.lifetime.lock().unwrap_or_else(|p| p.into_inner()) = lifetime;
    }

    pub(super) fn revoke_all(&self) {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// The claims Google reads from the assertion.
#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    scope: String,
    iat: u64,
    exp: u64,
}

fn refuse(error: &str, description: &str) -> Response {
    let body = TokenErrorBody {
        error: error.to_owned(),
        error_description: Some(description.to_owned()),
    };
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

async fn issue_token(
    State(shared): State<Arc<Shared>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    match form.get("grant_type").map(String::as_str) {
        Some(GRANT_TYPE) => {}
        Some(_) => return refuse("unsupported_grant_type", "Invalid grant_type"),
        None => return refuse("invalid_request", "Missing required parameter: grant_type"),
    }
    let Some(assertion) = form.get("assertion") else {
        return refuse("invalid_request", "Missing required parameter: assertion");
    };
    if let Err(response) = check_assertion(&shared, assertion) {
        return *response;
    }
    let (token, lifetime) = shared.tokens.issue();
    Json(json!({
        "access_token": token,
        "expires_in": lifetime.as_secs(),
        "token_type": "Bearer",
    }))
    .into_response()
}

fn check_assertion(shared: &Shared, assertion: &str) -> Result<(), Box<Response>> {
    let grant = |description: &str| Box::new(refuse("invalid_grant", description));
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| grant("Invalid JWT."))?;
    if header.alg != Algorithm::RS256 {
        return Err(grant("Invalid JWT: algorithm must be RS256."));
    }
    // A `kid` naming another key of the account is refused like a bad signature.
    if header.kid.as_deref().is_some_and(|kid| kid != KEY_ID) {
        return Err(grant("Invalid JWT Signature."));
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[shared.token_uri()]);
    validation.set_issuer(&[CLIENT_EMAIL]);
    validation.set_required_spec_claims(&["exp", "aud", "iss"]);
    validation.leeway = LEEWAY_SECS;
    let claims = jsonwebtoken::decode::<Claims>(assertion, &shared.public_key, &validation)
        .map_err(|e| {
            grant(&match e.kind() {
                ErrorKind::InvalidSignature => "Invalid JWT Signature.".to_owned(),
                ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => BAD_TIMES.to_owned(),
                ErrorKind::InvalidAudience => format!(
                    "Invalid JWT: Failed audience check. The right audience is {}",
                    shared.token_uri()
                ),
                ErrorKind::InvalidIssuer => "Invalid email or User ID".to_owned(),
                ErrorKind::MissingRequiredClaim(claim) => {
                    format!("Invalid JWT: missing claim {claim}")
                }
                _ => format!("Invalid JWT: {e}"),
            })
        })?
        .claims;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if claims.exp <= claims.iat || claims.exp - claims.iat > 3600 || claims.iat > now + LEEWAY_SECS
    {
        return Err(grant(BAD_TIMES));
    }
    if !claims
        .scope
        .split_whitespace()
        .any(|s| SHEETS_SCOPES.contains(&s))
    {
        return Err(Box::new(refuse(
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.",
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::Value;

    use super::*;
    use crate::sheets::{SheetsSim, TEST_PRIVATE_KEY, pem_block};

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs()
    }

    fn sign(claims: &Value) -> String {
        let key =
            EncodingKey::from_rsa_pem(pem_block(TEST_PRIVATE_KEY).as_bytes()).expect("test key");
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &key).expect("sign")
    }

    async fn post_token(sim: &SheetsSim, grant_type: &str, assertion: &str) -> (u16, Value) {
        let res = reqwest::Client::new()
            .post(sim.token_uri())
            .form(&[("grant_type", grant_type), ("assertion", assertion)])
            .send()
            .await
            .expect("token request");
        let status = res.status().as_u16();
        (status, res.json().await.expect("JSON body"))
    }

    #[tokio::test]
    async fn checks_the_assertion_claims() {
        let sim = SheetsSim::start().await.expect("sim");
        let t = now();
        let good = json!({"iss": CLIENT_EMAIL, "aud": sim.token_uri(), "scope": SHEETS_SCOPES[0], "iat": t, "exp": t + 3600});
        let (status, body) = post_token(&sim, GRANT_TYPE, &sign(&good)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3599);
        assert!(
            body["access_token"]
                .as_str()
                .is_some_and(|t| t.starts_with("ya29."))
        );

        let with = |field: &str, value: Value| {
            let mut claims = good.clone();
            claims[field] = value;
            sign(&claims)
        };
        let cases = [
            (
                with("aud", "https://oauth2.googleapis.com/token".into()),
                "invalid_grant",
                "audience",
            ),
            (
                with("iss", "someone@else.iam.gserviceaccount.com".into()),
                "invalid_grant",
                "email",
            ),
            (
                with("exp", (t + 7200).into()),
                "invalid_grant",
                "short-lived",
            ),
            (
                with("iat", (t - 7200).into()),
                "invalid_grant",
                "short-lived",
            ),
            (
                sign(
                    &json!({"iss": CLIENT_EMAIL, "aud": sim.token_uri(), "scope": SHEETS_SCOPES[0], "iat": t - 7200, "exp": t - 3600}),
                ),
                "invalid_grant",
                "short-lived",
            ),
            (
                with("scope", "https://www.googleapis.com/auth/drive".into()),
                "invalid_scope",
                "scope",
            ),
            ("not.a.jwt".to_owned(), "invalid_grant", "Invalid JWT"),
        ];
        for (assertion, error, words) in cases {
            let (status, body) = post_token(&sim, GRANT_TYPE, &assertion).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some(error)),
                "{body}"
            );
            let description = body["error_description"].as_str().unwrap_or_default();
            assert!(
                description.contains(words),
                "{description:?} should mention {words:?}"
            );
        }
        let (status, body) = post_token(&sim, "client_credentials", &sign(&good)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("unsupported_grant_type"))
        );
        assert_eq!(sim.tokens_issued(), 1);
    }

    #[tokio::test]
    async fn values_need_an_issued_bearer_token() {
        let sim = SheetsSim::start().await.expect("sim");
        sim.put_sheet("book", "Sheet1", vec![vec!["a".into()]]);
        let url = format!("{}/v4/spreadsheets/book/values/Sheet1", sim.base_url());
        for auth in [None, Some("Bearer ya29.forged")] {
            let mut req = reqwest::Client::new().get(&url);
            if let Some(auth) = auth {
                req = req.header("Authorization", auth);
            }
            let res = req.send().await.expect("request");
            assert_eq!(res.status().as_u16(), 401);
            let body: Value = res.json().await.expect("JSON body");
            assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
            assert_eq!(body["error"]["code"], 401);
        }
    }
}
