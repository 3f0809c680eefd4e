//! `ElevenLabsError`: what can go wrong talking to ElevenLabs' HTTP API, and
//! which of those failures are worth another attempt (429, 5xx and transport
//! failures; other 4xx are final).

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ElevenLabsError {
    /// ElevenLabs answered with a non-2xx status. `message` is taken from its
    /// JSON error body when it sent one, or is the start of the raw body.
    #[error("ElevenLabs API error (HTTP {status}){}: {message}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default())]
    Api {
        status: u16,
        /// ElevenLabs' machine-readable status, e.g. `invalid_api_key`, when
        /// the body carried one.
        code: Option<String>,
        message: String,
    },
    /// The request did not complete: DNS, connect, TLS, timeout or a body cut short.
    #[error("transport error talking to ElevenLabs: {0}")]
    Transport(#[from] reqwest::Error),
    /// A 2xx answer whose body is not what the API documents.
    #[error("unexpected response from ElevenLabs (HTTP {status}): {detail}")]
    BadResponse { status: u16, detail: String },
    /// The client was configured with something unusable (e.g. a base URL
    /// that is not http(s)).
    #[error("invalid ElevenLabs configuration: {0}")]
    Config(String),
}

impl ElevenLabsError {
    /// Whether another attempt may succeed: HTTP 429, any 5xx, and transport
    /// failures. Other 4xx (401 bad key, 404 unknown agent, 422 bad query),
    /// bad 2xx bodies and configuration errors are final. Fetching a signed
    /// URL has no side effect, so retrying is always safe.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api { status, .. } => *status == 429 || *status >= 500,
            Self::Transport(e) => !e.is_builder() && !e.is_decode(),
            Self::BadResponse { .. } | Self::Config(_) => false,
        }
    }

    /// The HTTP status ElevenLabs answered with, when it answered.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::BadResponse { status, .. } => Some(*status),
            Self::Transport(e) => e.status().map(|s| s.as_u16()),
            Self::Config(_) => None,
        }
    }

    /// Builds an [`ElevenLabsError::Api`] from a non-2xx answer's status and body.
    pub(crate) fn from_response(status: u16, body: &str) -> Self {
        let (code, message) = parse_error_body(body);
        Self::Api {
            status,
            code,
            message,
        }
    }
}

/// How much of an unexpected body an error keeps.
pub(crate) const BODY_SNIPPET: usize = 512;

/// The first [`BODY_SNIPPET`] bytes of `body`, cut on a character boundary.
pub(crate) fn snippet(body: &str) -> String {
    if body.len() <= BODY_SNIPPET {
        return body.to_owned();
    }
    let mut end = BODY_SNIPPET;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &body[..end])
}

/// ElevenLabs' error bodies come in FastAPI's shapes:
/// `{"detail": {"status": "invalid_api_key", "message": "…"}}`,
/// `{"detail": "…"}`, or a 422's `{"detail": [{"loc": […], "msg": "…"}]}`.
#[derive(Deserialize)]
struct ErrorBody {
    detail: Value,
}

fn parse_error_body(body: &str) -> (Option<String>, String) {
    let Ok(ErrorBody { detail }) = serde_json::from_str::<ErrorBody>(body) else {
        let trimmed = body.trim();
        let message = if trimmed.is_empty() {
            "(empty body)".to_owned()
        } else {
            snippet(trimmed)
        };
        return (None, message);
    };
    match detail {
        Value::String(message) => (None, message),
        Value::Object(map) => {
            let code = map.get("status").and_then(Value::as_str).map(str::to_owned);
            let message = map
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| snippet(&Value::Object(map.clone()).to_string()));
            (code, message)
        }
        Value::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|item| match item.get("msg").and_then(Value::as_str) {
                    Some(msg) => msg.to_owned(),
                    None => item.to_string(),
                })
                .collect();
            (None, snippet(&parts.join("; ")))
        }
        other => (None, snippet(&other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16) -> ElevenLabsError {
        ElevenLabsError::from_response(status, "")
    }

    #[test]
    fn retryable_statuses() {
        assert!(api(429).is_retryable());
        assert!(api(500).is_retryable());
        assert!(api(503).is_retryable());
        assert!(!api(400).is_retryable());
        assert!(!api(401).is_retryable());
        assert!(!api(404).is_retryable());
        assert!(!api(422).is_retryable());
        let bad = ElevenLabsError::BadResponse {
            status: 200,
            detail: "x".into(),
        };
        assert!(!bad.is_retryable());
        assert!(!ElevenLabsError::Config("x".into()).is_retryable());
    }

    #[test]
    fn parses_object_detail() {
        let e = ElevenLabsError::from_response(
            401,
            r#"{"detail":{"status":"invalid_api_key","message":"Invalid API key"}}"#,
        );
        match &e {
            ElevenLabsError::Api {
                status,
                code,
                message,
            } => {
                assert_eq!(*status, 401);
                assert_eq!(code.as_deref(), Some("invalid_api_key"));
                assert_eq!(message, "Invalid API key");
            }
            other => panic!("unexpected {other:?}"),
        }
        let text = e.to_string();
        assert!(
            text.contains("HTTP 401") && text.contains("invalid_api_key"),
            "{text}"
        );
        assert_eq!(e.http_status(), Some(401));
    }

    #[test]
    fn parses_string_array_and_raw_bodies() {
        let (code, msg) = parse_error_body(r#"{"detail":"Not Found"}"#);
        assert_eq!((code, msg.as_str()), (None, "Not Found"));
        let (_, msg) = parse_error_body(
            r#"{"detail":[{"loc":["query","agent_id"],"msg":"field required","type":"value_error.missing"}]}"#,
        );
        assert_eq!(msg, "field required");
        let (_, msg) = parse_error_body("<html>Bad Gateway</html>");
        assert_eq!(msg, "<html>Bad Gateway</html>");
        let (_, msg) = parse_error_body("   ");
        assert_eq!(msg, "(empty body)");
    }

    #[test]
    fn snippet_cuts_on_char_boundary() {
        let long = "é".repeat(BODY_SNIPPET);
        let s = snippet(&long);
        assert!(s.len() <= BODY_SNIPPET + '…'.len_utf8());
        assert!(s.ends_with('…'));
    }
}
