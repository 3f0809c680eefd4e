//! `spreadsheets.values` as the simulator serves it: `GET
//! /v4/spreadsheets/{id}/values/{range}` and `POST
//! /v4/spreadsheets/{id}/values:batchUpdate`, each needing a bearer token the
//! token endpoint issued, answering errors as `{"error": {code, message, status}}`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use outcall_sheets::{BatchUpdateRequest, BatchUpdateResponse, GoogleError, GoogleErrorBody};

use super::Shared;
use super::book::{Books, RangeError};

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v4/spreadsheets/{id}/values/{range}", get(read_values))
        .route(
            "/v4/spreadsheets/{id}/values:batchUpdate",
            post(batch_update),
        )
        .with_state(shared)
}

/// Google's error answer.
fn google_error(status: StatusCode, message: &str) -> Response {
    let name = match status.as_u16() {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ if status.is_server_error() => "INTERNAL",
        _ => "FAILED_PRECONDITION",
    };
    let body = GoogleErrorBody {
        error: GoogleError {
            code: status.as_u16(),
            message: message.to_owned(),
            status: name.to_owned(),
        },
    };
    (status, Json(body)).into_response()
}

fn range_error(e: RangeError) -> Response {
    match e {
        RangeError::NoSpreadsheet => {
            google_error(StatusCode::NOT_FOUND, "Requested entity was not found.")
        }
        RangeError::Unparsable(message) | RangeError::Invalid(message) => {
            google_error(StatusCode::BAD_REQUEST, &message)
        }
    }
}

/// The checks every values request passes first: a live bearer token, then
/// any failure the test injected.
fn gate(shared: &Shared, headers: &HeaderMap) -> Result<(), Box<Response>> {
    if !shared.tokens.authorised(headers) {
        let mut res = google_error(
            StatusCode::UNAUTHORIZED,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        );
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"https://accounts.google.com/\""),
        );
        return Err(Box::new(res));
    }
    if let Some(status) = shared.take_failure() {
        let message = match status.as_u16() {
            429 => "Quota exceeded for quota metric 'Requests' of service 'sheets.googleapis.com'.",
            503 => "The service is currently unavailable.",
            _ => "Internal error encountered.",
        };
        return Err(Box::new(google_error(status, message)));
    }
    Ok(())
}

async fn read_values(
    State(shared): State<Arc<Shared>>,
    Path((id, range)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(res) = gate(&shared, &headers) {
        return *res;
    }
    let books = shared.books();
    let answer = books
        .resolve(&id, &range)
        .and_then(|target| books.read(&id, &target).ok_or(RangeError::NoSpreadsheet));
    match answer {
        Ok(values) => {
            shared.reads.fetch_add(1, Ordering::Relaxed);
            Json(values).into_response()
        }
        Err(e) => range_error(e),
    }
}

async fn batch_update(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(res) = gate(&shared, &headers) {
        return *res;
    }
    let request: BatchUpdateRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return google_error(
                StatusCode::BAD_REQUEST,
                &format!("Invalid JSON payload received. {e}"),
            );
        }
    };
    match request.value_input_option.as_str() {
        "RAW" | "USER_ENTERED" => {}
        "" => {
            return google_error(
                StatusCode::BAD_REQUEST,
                "'valueInputOption' is required but not specified",
            );
        }
        other => {
            return google_error(
                StatusCode::BAD_REQUEST,
                &format!("Invalid value at 'value_input_option' (TYPE_ENUM), \"{other}\""),
            );
        }
    }
    let mut books = shared.books();
    // Every range is checked before any is written: Google applies a batch
    // all or nothing.
    let mut targets = Vec::with_capacity(request.data.len());
    for (i, range) in request.data.iter().enumerate() {
        if range
            .major_dimension
            .as_deref()
            .is_some_and(|d| d != "ROWS")
        {
            return google_error(
                StatusCode::BAD_REQUEST,
                &format!("data[{i}]: only majorDimension ROWS is simulated"),
            );
        }
        let checked = books
            .resolve(&id, &range.range)
            .and_then(|t| Books::check_write(&t, &range.values).map(|()| t));
        match checked {
            Ok(target) => targets.push(target),
            Err(e) => return range_error(e),
        }
    }
    let mut answer = BatchUpdateResponse {
        spreadsheet_id: id.clone(),
        ..BatchUpdateResponse::default()
    };
    let mut sheets_touched = std::collections::HashSet::new();
    for (range, target) in request.data.iter().zip(&targets) {
        let one = books.write(&id, target, &range.values);
        if one.updated_cells > 0 {
            sheets_touched.insert(target.sheet_index());
        }
        answer.total_updated_rows += one.updated_rows;
        answer.total_updated_columns = answer.total_updated_columns.max(one.updated_columns);
        answer.total_updated_cells += one.updated_cells;
        answer.responses.push(one);
    }
    answer.total_updated_sheets = sheets_touched.len() as u64;
    drop(books);
    shared.batch_updates.fetch_add(1, Ordering::Relaxed);
    Json(answer).into_response()
}
