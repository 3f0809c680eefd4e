//! `SheetsError`: what can go wrong reading a service-account key, getting an
//! access token, or calling the Sheets API, and which failures are worth
//! another attempt (429 and 5xx, like every Google API).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Google's error object, the `error` member of `{"error": {code, message, status}}`.
///
/// Serializable too, so the simulator answers with the same shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoogleError {
    /// The HTTP status, repeated.
    pub code: u16,
    pub message: String,
    /// The canonical status name: `NOT_FOUND`, `INVALID_ARGUMENT`,
    /// `UNAUTHENTICATED`, `PERMISSION_DENIED`, `RESOURCE_EXHAUSTED`, `UNAVAILABLE`, …
    #[serde(default)]
    pub status: String,
}

/// The envelope Google wraps [`GoogleError`] in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoogleErrorBody {
    pub error: GoogleError,
}

/// The token endpoint's refusal: `{"error": "invalid_grant", "error_description": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// A service-account key that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read service account key {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("service account key{} is not valid key JSON: {source}", in_file(path.as_deref()))]
    Json {
        path: Option<PathBuf>,
        source: serde_json::Error,
    },
    /// A field is present but unusable (an empty `client_email`, a `token_uri`
    /// that is not an http(s) URL).
    #[error("service account key{} has an unusable {field}: {detail}", in_file(path.as_deref()))]
    Field {
        path: Option<PathBuf>,
        field: &'static str,
        detail: String,
    },
    #[error("service account key{}: private_key is not an RSA private key in PEM form: {detail}", in_file(path.as_deref()))]
    Pem {
        path: Option<PathBuf>,
        detail: String,
    },
    /// Signing the JWT assertion failed (a PEM whose content is not a valid key).
    #[error("cannot sign the service account's JWT assertion: {0}")]
    Sign(String),
}

fn in_file(path: Option<&Path>) -> String {
    path.map(|p| format!(" {}", p.display()))
        .unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
pub enum SheetsError {
    /// The Sheets API answered with a non-2xx status. `error` is Google's JSON
    /// error when it sent one, or a stand-in holding the start of the raw body.
    #[error("Google Sheets API error (HTTP {status}, {}): {}", error.status, error.message)]
    Api { status: u16, error: GoogleError },
    /// The token endpoint refused to exchange the JWT assertion for an access
    /// token (`invalid_grant` for a bad signature, an unknown `client_email`,
    /// a wrong `aud` or a clock far off).
    #[error("Google token endpoint refused the service account (HTTP {status}): {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Token {
        status: u16,
        error: String,
        description: Option<String>,
    },
    /// The request did not complete: DNS, connect, TLS, timeout or a body cut short.
    #[error("transport error talking to Google: {0}")]
    Transport(#[from] reqwest::Error),
    /// A 2xx answer whose body is not what the API documents.
    #[error("unexpected response from Google (HTTP {status}): {detail}")]
    BadResponse { status: u16, detail: String },
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The client was configured with something unusable (e.g. a base URL
    /// that cannot carry a path).
    #[error("invalid Google Sheets configuration: {0}")]
    Config(String),
}

impl SheetsError {
    /// Whether another attempt may succeed: HTTP 429 and any 5xx, from the
    /// API or the token endpoint, and transport failures. Other 4xx, bad
    /// bodies, keys and configuration are final.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api { status, .. } | Self::Token { status, .. } => {
                *status == 429 || *status >= 500
            }
            Self::Transport(e) => !e.is_builder() && !e.is_decode(),
            Self::BadResponse { .. } | Self::Key(_) | Self::Config(_) => false,
        }
    }

    /// Whether the spreadsheet or the sheet does not exist. Google answers 404
    /// `NOT_FOUND` for an unknown spreadsheet id, but 400 `INVALID_ARGUMENT`
    /// "Unable to parse range: …" for a sheet name it does not know (the
    /// same answer as for a malformed range, which the helpers in
    /// [`crate::a1`] do not build).
    pub fn is_not_found(&self) -> bool {
        match self {
            Self::Api { status: 404, .. } => true,
            Self::Api { status: 400, error } => error.message.starts_with("Unable to parse range"),
            _ => false,
        }
    }

    /// The HTTP status Google answered with, when it answered.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. }
            | Self::Token { status, .. }
            | Self::BadResponse { status, .. } => Some(*status),
            Self::Transport(e) => e.status().map(|s| s.as_u16()),
            Self::Key(_) | Self::Config(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, message: &str) -> SheetsError {
        SheetsError::Api {
            status,
            error: GoogleError {
                code: status,
                message: message.into(),
                status: "X".into(),
            },
        }
    }

    #[test]
    fn retryable_statuses() {
        assert!(api(429, "quota").is_retryable());
        assert!(api(500, "internal").is_retryable());
        assert!(api(503, "unavailable").is_retryable());
        assert!(!api(400, "bad").is_retryable());
        assert!(!api(401, "auth").is_retryable());
        assert!(!api(404, "nf").is_retryable());
        let token = |status| SheetsError::Token {
            status,
            error: "invalid_grant".into(),
            description: None,
        };
        assert!(!token(400).is_retryable());
        assert!(token(503).is_retryable());
        assert!(!SheetsError::Config("x".into()).is_retryable());
    }

    #[test]
    fn not_found_covers_unknown_spreadsheet_and_sheet() {
        assert!(api(404, "Requested entity was not found.").is_not_found());
        assert!(api(400, "Unable to parse range: Nope!A1").is_not_found());
        assert!(!api(400, "Invalid values[1][0]").is_not_found());
        assert!(!api(403, "The caller does not have permission").is_not_found());
    }

    #[test]
    fn parses_google_error_body() {
        let body: GoogleErrorBody = serde_json::from_str(
            r#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","errors":[]}}"#,
        )
        .expect("parse");
        assert_eq!(body.error.code, 404);
        assert_eq!(body.error.status, "NOT_FOUND");
        let text = SheetsError::Api {
            status: 404,
            error: body.error,
        }
        .to_string();
        assert!(text.contains("404") && text.contains("NOT_FOUND"), "{text}");
    }
}
