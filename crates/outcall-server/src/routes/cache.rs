//! `GET /api/cache/stats` and `POST /api/cache/clear`: the response cache's numbers,
//! and dropping every cached answer (stats keep counting).

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::json;

use crate::AppState;
use crate::envelope::ok;
use crate::error::ApiResult;
use crate::extract::Params;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cache/stats", get(stats))
        .route("/cache/clear", post(clear))
}

async fn stats(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    params.finish()?;
    ok(state.cache.stats().await)
}

async fn clear(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    params.finish()?;
    ok(json!({ "cleared": state.cache.clear().await }))
}
