//! The number-level do-not-call list: `GET/POST/DELETE /api/db/dnc`.
//!
//! - `GET /api/db/dnc`: the list (`page`, `limit`, `sort` on `createdAt` or
//!   `phoneNumber`, `q`: digits the number contains).
//! - `GET /api/db/dnc/{phoneNumber}`: whether a number may be called, and if not why
//!   (the list or a do-not-call contact).
//! - `POST /api/db/dnc`: JSON `{phoneNumber | phoneNumbers, reason?}` (every number
//!   checked first; one bad number refuses the request), or a CSV file (`text/csv`:
//!   a phone column as contact imports name it, an optional `reason` column; bad rows
//!   are reported and skipped).
//! - `DELETE /api/db/dnc/{phoneNumber}`, or `DELETE /api/db/dnc` with
//!   `{phoneNumbers: [...]}`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use axum::routing::{get, post};
use outcall_domain::dnc::{DncEntry, MAX_REASON};
use outcall_domain::page::Sort;
use outcall_domain::phone::PhoneNumber;
use outcall_domain::validate::Validator;
use outcall_store::DNC_SORT_FIELDS;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::AppState;
use crate::contacts::{self, RowError};
use crate::envelope::{created, ok, page};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, Params};

/// Most numbers one JSON request may list or unlist.
const MAX_NUMBERS: usize = 10_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/db/dnc",
            post(add)
                .layer(DefaultBodyLimit::max(
                    super::contacts::IMPORT_BODY_LIMIT_BYTES,
                ))
                .get(list)
                .delete(remove_many),
        )
        .route("/db/dnc/{phoneNumber}", get(check).delete(remove_one))
}

async fn list(State(state): State<AppState>, mut params: Params) -> ApiResult<Response> {
    let page_req = params.page(DNC_SORT_FIELDS, Sort::desc("createdAt"))?;
    let fields = params.fields()?;
    let q = params.text("q");
    params.finish()?;
    let mut v = Validator::new();
    v.max_len("q", q.as_deref(), 64);
    v.finish()?;
    page(
        state.store.list_dnc(q.as_deref(), &page_req).await?,
        fields.as_deref(),
    )
}

fn number(state: &AppState, field: &str, raw: &str) -> ApiResult<PhoneNumber> {
    PhoneNumber::parse(raw, state.region)
        .map_err(|e| ApiError::field(field, format!("not a valid phone number ({e})")))
}

async fn check(State(state): State<AppState>, ApiPath(raw): ApiPath) -> ApiResult<Response> {
    let n = number(&state, "phoneNumber", &raw)?;
    let blocked = crate::dnc::blocked(&state, n.as_str()).await?;
    let mut body = json!({ "phoneNumber": n.as_str(), "blocked": blocked.is_some() });
    if let (Some(b), Some(o)) = (&blocked, body.as_object_mut()) {
        o.insert("why".into(), serde_json::to_value(b).unwrap_or(Value::Null));
        o.insert("message".into(), json!(b.describe(n.as_str())));
    }
    ok(body)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AddBody {
    #[serde(default)]
    phone_number: Option<String>,
    #[serde(default)]
    phone_numbers: Option<Vec<String>>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AddReport {
    /// Numbers newly listed.
    added: u64,
    /// Numbers given that were listed already (they keep their first entry).
    already_listed: u64,
    /// Rows of a CSV that were not listed, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    invalid: Vec<RowError>,
    total: usize,
}

async fn add(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body.map_err(|e| ApiError::validation(format!("unreadable body: {e}")))?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (entries, invalid, total) = if content_type.starts_with("application/json") {
        let (entries, total) = json_entries(&state, &body)?;
        (entries, Vec::new(), total)
    } else if content_type.starts_with("text/csv") || content_type.starts_with("application/csv") {
        csv_entries(&state, body).await?
    } else {
        return Err(ApiError::UnsupportedMediaType(
            "send {\"phoneNumbers\": [...]} (Content-Type: application/json) or a CSV file (Content-Type: text/csv)".into(),
        ));
    };
    let given = entries.len() as u64;
    let added = state.store.add_dnc(entries).await?;
    created(AddReport {
        added,
        already_listed: given - added,
        invalid,
        total,
    })
}

/// A JSON body's entries, every number checked (one bad number refuses them all).
fn json_entries(state: &AppState, body: &[u8]) -> ApiResult<(Vec<DncEntry>, usize)> {
    let body: AddBody = serde_json::from_slice(body)
        .map_err(|e| ApiError::validation(format!("malformed JSON: {e}")))?;
    let mut raw: Vec<(String, String)> = Vec::new();
    if let Some(n) = body.phone_number {
        raw.push(("phoneNumber".into(), n));
    }
    for (i, n) in body.phone_numbers.into_iter().flatten().enumerate() {
        raw.push((format!("phoneNumbers[{i}]"), n));
    }
    let mut v = Validator::new();
    if raw.is_empty() {
        v.error("phoneNumbers", "give phoneNumber or phoneNumbers");
    }
    if raw.len() > MAX_NUMBERS {
        v.error(
            "phoneNumbers",
            format!("at most {MAX_NUMBERS} numbers at once"),
        );
    }
    v.max_len("reason", body.reason.as_deref(), MAX_REASON);
    let numbers: Vec<PhoneNumber> = raw
        .iter()
        .filter_map(|(field, n)| super::validate::phone(&mut v, field, n, state.region))
        .collect();
    v.finish()?;
    let total = numbers.len();
    let reason = body.reason.filter(|r| !r.trim().is_empty());
    let mut entries: Vec<DncEntry> = Vec::with_capacity(total);
    for n in numbers {
        if !entries.iter().any(|e| e.phone_number == n.as_str()) {
            entries.push(DncEntry::new(n.to_string(), reason.clone()));
        }
    }
    Ok((entries, total))
}

/// A CSV's entries: its phone column (as contact imports read it) and an optional
/// `reason` column (or `notes`); rows with a bad number are reported, not listed.
async fn csv_entries(
    state: &AppState,
    body: Bytes,
) -> ApiResult<(Vec<DncEntry>, Vec<RowError>, usize)> {
    let drafts = tokio::task::spawn_blocking(move || contacts::parse_csv(&body[..]))
        .await
        .map_err(|e| ApiError::Internal(format!("CSV reader task: {e}")))?
        .map_err(|e| ApiError::Validation {
            message: format!("the CSV cannot be imported: {e}; nothing was written"),
            details: e.row().map(|row| json!({ "row": row })),
        })?;
    let total = drafts.len();
    let mut entries: Vec<DncEntry> = Vec::with_capacity(total);
    let mut invalid = Vec::new();
    for d in drafts {
        let n = match PhoneNumber::parse(&d.phone_number, state.region) {
            Ok(n) => n,
            Err(e) => {
                invalid.push(RowError {
                    row: d.row,
                    reason: format!("{:?} is not a valid phone number ({e})", d.phone_number),
                });
                continue;
            }
        };
        let reason = d
            .custom_fields
            .get("reason")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or(d.notes)
            .map(|r| r.chars().take(MAX_REASON).collect::<String>())
            .filter(|r| !r.trim().is_empty());
        if !entries.iter().any(|e| e.phone_number == n.as_str()) {
            entries.push(DncEntry::new(n.to_string(), reason));
        }
    }
    Ok((entries, invalid, total))
}

async fn remove_one(State(state): State<AppState>, ApiPath(raw): ApiPath) -> ApiResult<Response> {
    let n = number(&state, "phoneNumber", &raw)?;
    if state.store.remove_dnc(&[n.to_string()]).await? == 0 {
        return Err(ApiError::not_found(format!(
            "{n} is not on the do-not-call list"
        )));
    }
    ok(json!({ "phoneNumber": n.as_str(), "removed": true }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RemoveBody {
    phone_numbers: Vec<String>,
}

async fn remove_many(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RemoveBody>,
) -> ApiResult<Response> {
    let mut v = Validator::new();
    if body.phone_numbers.is_empty() {
        v.error("phoneNumbers", "must name at least one number");
    }
    if body.phone_numbers.len() > MAX_NUMBERS {
        v.error(
            "phoneNumbers",
            format!("at most {MAX_NUMBERS} numbers at once"),
        );
    }
    let numbers: Vec<String> = body
        .phone_numbers
        .iter()
        .enumerate()
        .filter_map(|(i, n)| {
            super::validate::phone(&mut v, &format!("phoneNumbers[{i}]"), n, state.region)
        })
        .map(|n| n.to_string())
        .collect();
    v.finish()?;
    let removed = state.store.remove_dnc(&numbers).await?;
    ok(json!({ "removed": removed }))
}
