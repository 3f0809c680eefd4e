//! The one API error type. Each variant's doc names the HTTP status it becomes; the
//! conversion to the JSON envelope of api.md lives here and nowhere else.
//! A 5xx logs its cause and shows the client only a generic message.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use outcall_domain::ValidationError;
use outcall_store::StoreError;
use serde_json::{Value, json};

/// `Clone`: one failed computation answers every request that waited on it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or breaks a rule; nothing was written.
    #[error("{message}")]
    Validation {
        message: String,
        details: Option<Value>,
    },
    /// 401: missing or wrong API key.
    #[error("missing or invalid API key")]
    Unauthorized,
    /// 404: no such resource.
    #[error("{0}")]
    NotFound(String),
    /// 405: the path exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: the request conflicts with what is stored (duplicate, final status, …).
    #[error("{message}")]
    Conflict {
        message: String,
        details: Option<Value>,
    },
    /// 413: the body is larger than the configured limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: the body is not JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 503: the store is unreachable; retry later.
    #[error("{0}")]
    Unavailable(String),
    /// 503: an outside service is not configured or cannot be reached now; the message
    /// (which names the service and the setting, never a secret) is shown.
    #[error("{0}")]
    ServiceUnavailable(String),
    /// 500: a bug. The cause is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn validation(message: impl Into<String>) -> Self {
        Self::Validation {
            message: message.into(),
            details: None,
        }
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ValidationError::field(field, message).into()
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Validation { .. } => (StatusCode::BAD_REQUEST, "validation_error"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::Unavailable(_) | Self::ServiceUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            Self::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                "internal error".to_string()
            }
            Self::Unavailable(cause) => {
                tracing::warn!(%cause, "store unavailable");
                "the database is unavailable; try again shortly".to_string()
            }
            other => other.to_string(),
        };
        let mut error = json!({ "code": code, "message": message });
        if let Self::Validation {
            details: Some(d), ..
        }
        | Self::Conflict {
            details: Some(d), ..
        } = &self
        {
            error["details"] = d.clone();
        }
        let mut response = (
            status,
            axum::Json(json!({ "success": false, "error": error })),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        Self::Validation {
            message: e.to_string(),
            details: serde_json::to_value(&e.errors).ok(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { what } => Self::Conflict {
                message: format!("conflict: {what} already exists"),
                details: None,
            },
            StoreError::Unavailable(m) => Self::Unavailable(m),
            StoreError::Internal(m) => Self::Internal(m),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => Self::UnsupportedMediaType(
                "expected a JSON body with Content-Type: application/json".into(),
            ),
            JsonRejection::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::PayloadTooLarge(
                    "the request body is larger than the limit (BODY_LIMIT_BYTES)".into(),
                )
            }
            JsonRejection::JsonSyntaxError(e) => {
                Self::validation(format!("malformed JSON: {}", e.body_text()))
            }
            JsonRejection::JsonDataError(e) => {
                Self::validation(format!("invalid body: {}", e.body_text()))
            }
            other => Self::validation(other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::validation(format!("invalid query string: {}", r.body_text()))
    }
}
