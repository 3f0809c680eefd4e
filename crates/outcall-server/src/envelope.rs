//! The success envelope: `{"success": true, "data": …}` and, on lists,
//! `"pagination": {page, limit, total, pages}` (plus `skipped` when stored documents
//! of the page could not be read); plus `fields` projection.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use outcall_domain::Page;
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};

pub fn ok<T: Serialize>(data: T) -> ApiResult<Response> {
    respond(StatusCode::OK, data)
}

pub fn created<T: Serialize>(data: T) -> ApiResult<Response> {
    respond(StatusCode::CREATED, data)
}

fn respond<T: Serialize>(status: StatusCode, data: T) -> ApiResult<Response> {
    let data = serde_json::to_value(data).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((status, Json(json!({ "success": true, "data": data }))).into_response())
}

/// A page of items, each cut down to `fields` when given.
pub fn page<T: Serialize>(page: Page<T>, fields: Option<&[String]>) -> ApiResult<Response> {
    Ok(Json(page_body(page, fields)?).into_response())
}

/// The whole body of a page answer (what the response cache keeps of a list).
pub fn page_body<T: Serialize>(page: Page<T>, fields: Option<&[String]>) -> ApiResult<Value> {
    let pages = page.pages();
    let items = page
        .items
        .iter()
        .map(|item| serde_json::to_value(item).map(|v| project(v, fields)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut pagination =
        json!({ "page": page.page, "limit": page.limit, "total": page.total, "pages": pages });
    // Stored documents of this page that could not be read (the store logged their ids).
    if page.skipped > 0 {
        pagination["skipped"] = json!(page.skipped);
    }
    Ok(json!({
        "success": true,
        "data": items,
        "pagination": pagination,
    }))
}

/// A body built earlier, e.g. by [`page_body`], answered as is.
pub fn body(body: &Value) -> ApiResult<Response> {
    Ok(Json(body).into_response())
}

/// Keeps only the named top-level fields (and `_id`), like a MongoDB projection.
pub fn project(value: Value, fields: Option<&[String]>) -> Value {
    match (value, fields) {
        (Value::Object(map), Some(fields)) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| k == "_id" || fields.iter().any(|f| f == k))
                .collect(),
        ),
        (value, _) => value,
    }
}
