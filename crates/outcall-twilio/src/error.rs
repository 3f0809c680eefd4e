//! `TwilioError`: what can go wrong talking to Twilio's REST API, and which of
//! those failures are worth another attempt (`protocols.md`: 429 and 5xx are
//! retryable with backoff, other 4xx are not).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Twilio's error body: `{"code": 21211, "message": "…", "more_info": "…", "status": 400}`.
///
/// Serializable too, so the simulator can answer with the same shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Twilio's error code (21211 invalid To, 20003 auth, 20429 rate limit, …).
    #[serde(default)]
    pub code: Option<u32>,
    pub message: String,
    #[serde(default)]
    pub more_info: Option<String>,
    /// The HTTP status, repeated in the body.
    #[serde(default)]
    pub status: Option<u16>,
}

/// Twilio's code for "too many requests" (HTTP 429).
pub const CODE_TOO_MANY_REQUESTS: u32 = 20429;

#[derive(Debug, thiserror::Error)]
pub enum TwilioError {
    /// Twilio answered with a non-2xx status. `error` is Twilio's JSON body
    /// when it sent one, or a stand-in holding the start of the raw body.
    #[error("Twilio API error {} (HTTP {status}): {}", error.code.map_or_else(|| "-".to_owned(), |c| c.to_string()), error.message)]
    Api {
        status: u16,
        error: ApiError,
        /// The `Retry-After` header of a 429 or 503, when present and valid.
        retry_after: Option<Duration>,
    },
    /// The request did not complete: DNS, connect, TLS, timeout or a body cut short.
    #[error("transport error talking to Twilio: {0}")]
    Transport(#[from] reqwest::Error),
    /// A 2xx answer whose body is not what the API documents.
    #[error("unexpected response from Twilio (HTTP {status}): {detail}")]
    BadResponse { status: u16, detail: String },
    /// The client was configured with something unusable (e.g. a base URL that
    /// cannot carry a path).
    #[error("invalid Twilio configuration: {0}")]
    Config(String),
}

impl TwilioError {
    /// Whether another attempt may succeed: HTTP 429 (code 20429), any 5xx,
    /// and transport failures. Other 4xx, bad 2xx bodies and configuration
    /// errors are final.
    ///
    /// Creating a call is not idempotent: a transport error after the request
    /// was sent (a timeout, a dropped response) may hide a call Twilio did
    /// place. Callers that must not dial twice can retry only
    /// [`TwilioError::is_connect`] failures for `create_call`.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api { status, error, .. } => {
                *status == 429 || error.code == Some(CODE_TOO_MANY_REQUESTS) || *status >= 500
            }
            Self::Transport(e) => !e.is_builder() && !e.is_decode(),
            Self::BadResponse { .. } | Self::Config(_) => false,
        }
    }

    /// True when the request never reached Twilio (the connection failed), so
    /// repeating even a non-idempotent request cannot duplicate its effect.
    pub fn is_connect(&self) -> bool {
        matches!(self, Self::Transport(e) if e.is_connect())
    }

    /// Twilio's error code, for API errors that carried one.
    pub fn code(&self) -> Option<u32> {
        match self {
            Self::Api { error, .. } => error.code,
            _ => None,
        }
    }

    /// The HTTP status Twilio answered with, when it answered.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::BadResponse { status, .. } => Some(*status),
            Self::Transport(e) => e.status().map(|s| s.as_u16()),
            Self::Config(_) => None,
        }
    }

    /// How long Twilio asked us to wait before the next attempt.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: Option<u32>) -> TwilioError {
        TwilioError::Api {
            status,
            error: ApiError {
                code,
                message: "m".into(),
                more_info: None,
                status: Some(status),
            },
            retry_after: None,
        }
    }

    #[test]
    fn retryable_statuses() {
        assert!(api(429, Some(20429)).is_retryable());
        assert!(api(429, None).is_retryable());
        assert!(api(500, None).is_retryable());
        assert!(api(503, Some(20503)).is_retryable());
        assert!(!api(400, Some(21211)).is_retryable());
        assert!(!api(401, Some(20003)).is_retryable());
        assert!(!api(404, Some(20404)).is_retryable());
        let bad = TwilioError::BadResponse {
            status: 201,
            detail: "x".into(),
        };
        assert!(!bad.is_retryable());
        assert!(!TwilioError::Config("x".into()).is_retryable());
    }

    #[test]
    fn display_names_code_and_status() {
        let text = api(400, Some(21211)).to_string();
        assert!(
            text.contains("21211") && text.contains("HTTP 400"),
            "{text}"
        );
        assert_eq!(api(400, Some(21211)).code(), Some(21211));
        assert_eq!(api(502, None).http_status(), Some(502));
    }

    #[test]
    fn api_error_parses_twilio_body() {
        let e: ApiError = serde_json::from_str(
            r#"{"code": 21211, "message": "Invalid 'To' Phone Number", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}"#,
        )
        .expect("parse");
        assert_eq!(e.code, Some(21211));
        assert_eq!(e.status, Some(400));
        assert_eq!(
            e.more_info.as_deref(),
            Some("https://www.twilio.com/docs/errors/21211")
        );
    }
}
