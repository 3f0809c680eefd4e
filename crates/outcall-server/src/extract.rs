//! Extractors that answer bad input with the API's JSON envelope instead of
//! axum's plain-text rejections, and a checked reader for query strings that
//! refuses unknown or repeated parameters.

use std::collections::BTreeMap;
use std::str::FromStr;

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use outcall_domain::ObjectId;
use outcall_domain::page::{PageRequest, Sort};
use outcall_domain::time::Timestamp;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};

/// A JSON body with envelope errors: 415 not JSON, 413 too large, 400 malformed, and
/// a body that does not fit the route's shape (an unknown field, a wrong type) names
/// the field in `details`, by its path (`settings.callDelay`).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "expected a JSON body with Content-Type: application/json".into(),
            ));
        }
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge(
                        "the request body is larger than the limit (BODY_LIMIT_BYTES)".into(),
                    )
                } else {
                    ApiError::validation(format!("unreadable body: {}", e.body_text()))
                }
            })?;
        parse_json(&body).map(Self)
    }
}

/// `application/json`, or any `+json` type, as axum's own `Json` takes.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(mime) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
    else {
        return false;
    };
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Reads `T` from a JSON body, naming the field a data error is about.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        json_error(e.inner(), (path != ".").then_some(path))
    })?;
    // Anything after the value (a second object, stray text) is malformed.
    de.end().map_err(|e| json_error(&e, None))?;
    Ok(value)
}

/// A serde_json error as the API answers it: a data error names its field (the
/// body itself when it is about the whole value), a syntax error says where.
fn json_error(e: &serde_json::Error, path: Option<String>) -> ApiError {
    if !e.is_data() {
        return ApiError::validation(format!("malformed JSON: {e}"));
    }
    // serde_json ends its messages with the position; the field path says more.
    let message = e.to_string();
    let message = message
        .rfind(" at line ")
        .map_or(message.as_str(), |i| &message[..i]);
    ApiError::field(path.as_deref().unwrap_or("body"), message)
}

/// A single path segment, e.g. a `callSid`, with envelope errors.
#[derive(Debug)]
pub struct ApiPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ApiPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(value) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::validation(format!("invalid path: {}", e.body_text())))?;
        Ok(Self(value))
    }
}

/// The query string as name → value, refusing repeated names.
#[derive(Debug, Default)]
pub struct Params(BTreeMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state).await?;
        let mut map = BTreeMap::new();
        for (k, v) in pairs {
            if map.insert(k.clone(), v).is_some() {
                return Err(ApiError::field(&k, "given more than once"));
            }
        }
        Ok(Self(map))
    }
}

impl Params {
    /// Takes a parameter as text; empty values count as absent.
    pub fn text(&mut self, name: &str) -> Option<String> {
        self.0.remove(name).filter(|v| !v.is_empty())
    }

    /// Takes and parses a parameter, naming it in the error.
    pub fn parse<T: FromStr>(&mut self, name: &str) -> ApiResult<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        self.text(name)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|e| ApiError::field(name, e.to_string()))
            })
            .transpose()
    }

    pub fn object_id(&mut self, name: &str) -> ApiResult<Option<ObjectId>> {
        self.parse::<ObjectId>(name)
    }

    /// An RFC 3339 time, or a bare date (`2026-11-25`, meaning its midnight UTC).
    pub fn time(&mut self, name: &str) -> ApiResult<Option<Timestamp>> {
        self.text(name).map(|v| parse_time(name, &v)).transpose()
    }

    /// `startDate` (inclusive) and `endDate` (exclusive), refusing a range that ends
    /// before it starts: that is a mistake, not a question whose answer is "nothing".
    pub fn date_range(&mut self) -> ApiResult<(Option<Timestamp>, Option<Timestamp>)> {
        let start = self.time("startDate")?;
        let end = self.time("endDate")?;
        if let (Some(s), Some(e)) = (start, end)
            && e < s
        {
            return Err(ApiError::field("endDate", "must not be before startDate"));
        }
        Ok((start, end))
    }

    /// `page`, `limit` and `sort` (checked against `sortable`).
    pub fn page(
        &mut self,
        sortable: &[&'static str],
        default_sort: Sort,
    ) -> ApiResult<PageRequest> {
        let page = self
            .parse::<i64>("page")
            .map_err(|_| ApiError::field("page", "must be a whole number from 1"))?;
        let limit = self
            .parse::<i64>("limit")
            .map_err(|_| ApiError::field("limit", "must be a whole number from 1 to 100"))?;
        let sort = match self.text("sort") {
            Some(s) => Sort::parse(&s, sortable)?,
            None => default_sort,
        };
        Ok(PageRequest::new(page, limit, sort)?)
    }

    /// `fields=a,b,c`: which top-level fields each item keeps (`_id` always stays).
    pub fn fields(&mut self) -> ApiResult<Option<Vec<String>>> {
        let Some(raw) = self.text("fields") else {
            return Ok(None);
        };
        let fields: Vec<String> = raw
            .split(',')
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty())
            .collect();
        if fields.is_empty()
            || fields
                .iter()
                .any(|f| !f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            return Err(ApiError::field(
                "fields",
                "must be a comma-separated list of field names",
            ));
        }
        Ok(Some(fields))
    }

    /// Refuses whatever parameter was not taken: a typo must not silently widen a query.
    pub fn finish(self) -> ApiResult<()> {
        match self.0.keys().next() {
            None => Ok(()),
            Some(_) => Err(ApiError::validation(format!(
                "unknown query parameter(s): {}",
                self.0.keys().cloned().collect::<Vec<_>>().join(", ")
            ))),
        }
    }
}

pub fn parse_time(name: &str, v: &str) -> ApiResult<Timestamp> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(outcall_domain::time::to_millis(
            t.with_timezone(&chrono::Utc),
        ));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc());
    }
    Err(ApiError::field(
        name,
        "must be an RFC 3339 time (2026-11-25T09:00:00Z) or a date (2026-11-25)",
    ))
}
