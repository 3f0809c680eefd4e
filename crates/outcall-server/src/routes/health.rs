//! `/healthz` (the process answers) and `/readyz` (the store answers too). No key needed.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

use crate::AppState;
use crate::envelope::ok;
use crate::error::{ApiError, ApiResult};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> ApiResult<Response> {
    ok(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> ApiResult<Response> {
    state
        .store
        .ping()
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    ok(json!({ "status": "ready", "store": state.store.backend() }))
}
