//! `ServiceAccountKey`: the key JSON Google issues for a service account, and
//! the RS256 JWT assertion signed with it (`protocols.md`, Google Sheets v4).

use std::fmt;
use std::path::{Path, PathBuf};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::KeyError;

/// The OAuth scope outcall asks for: read and write spreadsheets.
pub const SPREADSHEETS_SCOPE: &str = "https://www.googleapis.com/auth/spreadsheets";

/// The assertion's lifetime; Google refuses anything longer than an hour.
pub const ASSERTION_LIFETIME_SECS: u64 = 3600;

/// The fields of the key JSON outcall reads; the others (`project_id`,
/// `client_id`, `auth_uri`, …) are ignored.
#[derive(Deserialize)]
struct KeyJson {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    client_email: String,
    private_key: String,
    token_uri: String,
    #[serde(default)]
    private_key_id: Option<String>,
}

/// A parsed service-account key: who we are (`client_email`), where to trade
/// an assertion for a token (`token_uri`), and the RSA key to sign it with.
#[derive(Clone)]
pub struct ServiceAccountKey {
    client_email: String,
    token_uri: Url,
    private_key_id: Option<String>,
    signing_key: EncodingKey,
}

/// Never prints the private key.
impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri.as_str())
            .field("private_key_id", &self.private_key_id)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

/// The JWT claims of the `jwt-bearer` grant.
#[derive(Debug, Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

impl ServiceAccountKey {
    /// Reads and parses the key file (`GOOGLE_SERVICE_ACCOUNT_KEY`).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, Some(path))
    }

    /// Parses the key JSON itself.
    pub fn from_json(json: &str) -> Result<Self, KeyError> {
        Self::parse(json, None)
    }

    fn parse(json: &str, path: Option<&Path>) -> Result<Self, KeyError> {
        let path = || path.map(PathBuf::from);
        let raw: KeyJson = serde_json::from_str(json).map_err(|source| KeyError::Json {
            path: path(),
            source,
        })?;
        let field = |field, detail: String| KeyError::Field {
            path: path(),
            field,
            detail,
        };
        if let Some(kind) = raw.kind.as_deref().filter(|k| *k != "service_account") {
            return Err(field(
                "type",
                format!(
                    "{kind:?}; expected \"service_account\" (an OAuth client file is not a service account key)"
                ),
            ));
        }
        if raw.client_email.trim().is_empty() {
            return Err(field("client_email", "it is empty".into()));
        }
        let token_uri = Url::parse(&raw.token_uri)
            .map_err(|e| field("token_uri", format!("{:?}: {e}", raw.token_uri)))?;
        if !matches!(token_uri.scheme(), "http" | "https") {
            return Err(field(
                "token_uri",
                format!("{:?} is not an http(s) URL", raw.token_uri),
            ));
        }
        // Accepts PKCS#8 (`BEGIN PRIVATE KEY`, what Google issues) and PKCS#1.
        let signing_key =
            EncodingKey::from_rsa_pem(raw.private_key.as_bytes()).map_err(|e| KeyError::Pem {
                path: path(),
                detail: e.to_string(),
            })?;
        Ok(Self {
            client_email: raw.client_email,
            token_uri,
            private_key_id: raw.private_key_id.filter(|id| !id.is_empty()),
            signing_key,
        })
    }

    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    pub fn token_uri(&self) -> &Url {
        &self.token_uri
    }

    pub fn private_key_id(&self) -> Option<&str> {
        self.private_key_id.as_deref()
    }

    /// The signed JWT for the token request: `iss` = client_email, `aud` =
    /// token_uri, `scope`, `iat` = `now_unix`, `exp` an hour later; the
    /// header names the key (`kid`) when the key JSON did.
    pub fn sign_assertion(&self, scope: &str, now_unix: u64) -> Result<String, KeyError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.private_key_id.clone();
        let claims = AssertionClaims {
            iss: &self.client_email,
            scope,
            aud: self.token_uri.as_str(),
            iat: now_unix,
            exp: now_unix + ASSERTION_LIFETIME_SECS,
        };
        jsonwebtoken::encode(&header, &claims, &self.signing_key)
            .map_err(|e| KeyError::Sign(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(private_key: &str, token_uri: &str) -> String {
        serde_json::json!({
            "type": "service_account",
            "project_id": "p",
            "private_key_id": "k1",
            "private_key": private_key,
            "client_email": "robot@p.iam.gserviceaccount.com",
            "token_uri": token_uri,
        })
        .to_string()
    }

    #[test]
    fn missing_file_names_the_path() {
        let err =
            ServiceAccountKey::from_file("/nonexistent/outcall-key.json").expect_err("no file");
        assert!(matches!(err, KeyError::Read { .. }));
        assert!(
            err.to_string().contains("/nonexistent/outcall-key.json"),
            "{err}"
        );
    }

    #[test]
    fn bad_json_and_missing_fields() {
        let err = ServiceAccountKey::from_json("{not json").expect_err("bad json");
        assert!(matches!(err, KeyError::Json { .. }), "{err}");
        let err = ServiceAccountKey::from_json(r#"{"client_email": "a@b"}"#).expect_err("fields");
        assert!(err.to_string().contains("private_key"), "{err}");
        let err = ServiceAccountKey::from_json(r#"{"installed": {"client_id": "x"}}"#)
            .expect_err("oauth client file");
        assert!(matches!(err, KeyError::Json { .. }), "{err}");
    }

    #[test]
    fn bad_pem_and_bad_token_uri() {
        let err =
            ServiceAccountKey::from_json(&json("not a pem", "https://oauth2.googleapis.com/token"))
                .expect_err("bad pem");
        assert!(matches!(err, KeyError::Pem { .. }), "{err}");
        let garbage = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let err =
            ServiceAccountKey::from_json(&json(garbage, "https://oauth2.googleapis.com/token"))
                .expect_err("garbage pem");
        assert!(matches!(err, KeyError::Pem { .. }), "{err}");
        let err =
            ServiceAccountKey::from_json(&json("x", "ftp://example/token")).expect_err("scheme");
        assert!(
            matches!(
                err,
                KeyError::Field {
                    field: "token_uri",
                    ..
                }
            ),
            "{err}"
        );
    }
}
