//! `ElevenLabsClient`: the one HTTP call outcall makes to ElevenLabs before a
//! conversation, fetching a signed WebSocket URL for an agent, against a
//! configurable base URL so the same client talks to `api.elevenlabs.io` or
//! the loopback simulator.
//!
//! `GET {base}/v1/convai/conversation/get-signed-url?agent_id=…` with the
//! `xi-api-key` header answers `{"signed_url": "wss://…"}`; the URL is valid
//! for 15 minutes to start one conversation, so it is fetched per call and
//! never cached. This module does not retry: callers decide with
//! [`ElevenLabsError::is_retryable`].

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{ElevenLabsError, snippet};

/// The header carrying the API key.
pub const API_KEY_HEADER: &str = "xi-api-key";
/// The path of the signed-URL endpoint (the older `get_signed_url` is deprecated).
pub const SIGNED_URL_PATH: &str = "/v1/convai/conversation/get-signed-url";

/// Where and as whom the client talks to ElevenLabs.
#[derive(Clone)]
pub struct ElevenLabsConfig {
    /// Base URL, e.g. `https://api.elevenlabs.io` or the simulator's
    /// `http://127.0.0.1:PORT`. A path prefix is kept.
    pub api_base: String,
    pub api_key: String,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
}

impl ElevenLabsConfig {
    /// A configuration with the default timeouts (10 s per request, 5 s to
    /// connect): the signed URL is on the path of a ringing call, so a slow
    /// answer is better retried than waited for.
    pub fn new(api_base: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            api_base: api_base.into(),
            api_key: api_key.into(),
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Hides the API key.
impl fmt::Debug for ElevenLabsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ElevenLabsConfig")
            .field("api_base", &self.api_base)
            .field("api_key", &"<redacted>")
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// The body of a successful signed-URL answer. Serializable too, so the
/// simulator can answer with the same shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedUrlResponse {
    pub signed_url: String,
}

/// The HTTP client; cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct ElevenLabsClient {
    http: reqwest::Client,
    signed_url_endpoint: Url,
    api_key: String,
}

/// Hides the API key.
impl fmt::Debug for ElevenLabsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ElevenLabsClient")
            .field("signed_url_endpoint", &self.signed_url_endpoint.as_str())
            .field("api_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl ElevenLabsClient {
    /// A client with the default timeouts.
    pub fn new(
        api_base: impl Into<String>,
        api_key: impl Into<String>,
    ) -> Result<Self, ElevenLabsError> {
        Self::with_config(ElevenLabsConfig::new(api_base, api_key))
    }

    pub fn with_config(config: ElevenLabsConfig) -> Result<Self, ElevenLabsError> {
        let signed_url_endpoint = endpoint(&config.api_base, SIGNED_URL_PATH)?;
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("outcall-elevenlabs/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            signed_url_endpoint,
            api_key: config.api_key,
        })
    }

    /// Fetches a signed `wss://` URL to start one conversation with `agent_id`.
    ///
    /// Errors: [`ElevenLabsError::Api`] for a non-2xx answer (401 bad key, 404
    /// unknown agent, 429, 5xx), [`ElevenLabsError::Transport`] when the
    /// request did not complete, [`ElevenLabsError::BadResponse`] when a 2xx
    /// body has no `ws://`/`wss://` `signed_url`.
    #[tracing::instrument(skip_all, fields(agent_id = %agent_id))]
    pub async fn signed_url(&self, agent_id: &str) -> Result<String, ElevenLabsError> {
        let mut url = self.signed_url_endpoint.clone();
        url.query_pairs_mut().append_pair("agent_id", agent_id);
        let response = self
            .http
            .get(url)
            .header(API_KEY_HEADER, &self.api_key)
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.text().await?;
        if !(200..300).contains(&status) {
            let error = ElevenLabsError::from_response(status, &body);
            tracing::warn!(status, error = %error, "signed URL request failed");
            return Err(error);
        }
        let parsed: SignedUrlResponse =
            serde_json::from_str(&body).map_err(|e| ElevenLabsError::BadResponse {
                status,
                detail: format!("{e}: {}", snippet(&body)),
            })?;
        if !is_websocket_url(&parsed.signed_url) {
            return Err(ElevenLabsError::BadResponse {
                status,
                detail: format!(
                    "signed_url is not a ws(s) URL: {}",
                    snippet(&parsed.signed_url)
                ),
            });
        }
        tracing::debug!("signed URL obtained");
        Ok(parsed.signed_url)
    }
}

/// `{base}{path}`, keeping any path prefix of `base` and ignoring a trailing slash.
fn endpoint(api_base: &str, path: &str) -> Result<Url, ElevenLabsError> {
    let base = Url::parse(api_base)
        .map_err(|e| ElevenLabsError::Config(format!("api_base {api_base:?}: {e}")))?;
    if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
        return Err(ElevenLabsError::Config(format!(
            "api_base {api_base:?} is not an http(s) base URL"
        )));
    }
    if base.query().is_some() || base.fragment().is_some() {
        return Err(ElevenLabsError::Config(format!(
            "api_base {api_base:?} must not carry a query or fragment"
        )));
    }
    let mut url = base;
    let joined = format!("{}{path}", url.path().trim_end_matches('/'));
    url.set_path(&joined);
    Ok(url)
}

fn is_websocket_url(s: &str) -> bool {
    Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "ws" | "wss") && u.host().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_keeps_prefix_and_ignores_trailing_slash() {
        let e = |b: &str| endpoint(b, SIGNED_URL_PATH).expect("endpoint").to_string();
        assert_eq!(
            e("https://api.elevenlabs.io"),
            "https://api.elevenlabs.io/v1/convai/conversation/get-signed-url"
        );
        assert_eq!(
            e("https://api.elevenlabs.io/"),
            "https://api.elevenlabs.io/v1/convai/conversation/get-signed-url"
        );
        assert_eq!(
            e("http://127.0.0.1:9000/el/"),
            "http://127.0.0.1:9000/el/v1/convai/conversation/get-signed-url"
        );
    }

    #[test]
    fn rejects_unusable_bases() {
        for bad in ["not a url", "ftp://x", "mailto:a@b", "https://x/?a=1"] {
            assert!(
                matches!(
                    ElevenLabsClient::new(bad, "k"),
                    Err(ElevenLabsError::Config(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_hides_the_key() {
        let config = ElevenLabsConfig::new("https://api.elevenlabs.io", "sk_s3cret");
        assert!(!format!("{config:?}").contains("s3cret"));
        let client = ElevenLabsClient::with_config(config).expect("client");
        assert!(!format!("{client:?}").contains("s3cret"));
    }

    #[test]
    fn websocket_url_check() {
        assert!(is_websocket_url(
            "wss://api.elevenlabs.io/v1/convai/conversation?agent_id=a&conversation_signature=s"
        ));
        assert!(is_websocket_url(
            "ws://127.0.0.1:4000/v1/convai/conversation"
        ));
        assert!(!is_websocket_url("https://api.elevenlabs.io/"));
        assert!(!is_websocket_url(""));
    }
}
