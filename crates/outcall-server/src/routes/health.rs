//! `/healthz` (the process answers), `/readyz` (the store answers too) and `/metrics`
//! (Prometheus). No API key needed; `/metrics` wants `METRICS_TOKEN` when it is set.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use std::time::Duration;

use crate::AppState;
use crate::envelope::ok;
use crate::error::{ApiError, ApiResult};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// How long `/readyz` waits for the store: a load balancer's probe must get an answer
/// before its own timeout, even while MongoDB server selection is still trying.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

async fn healthz() -> ApiResult<Response> {
    ok(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> ApiResult<Response> {
    match tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(ApiError::Unavailable(e.to_string())),
        Err(_) => {
            return Err(ApiError::Unavailable(format!(
                "the {} store did not answer within {}s",
                state.store.backend(),
                READY_TIMEOUT.as_secs()
            )));
        }
    }
    ok(json!({ "status": "ready", "store": state.store.backend() }))
}

async fn metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if let Some(token) = state.metrics_token.as_deref()
        && !crate::auth::is_authorized(&[token.to_string()], &headers, None)
    {
        return ApiError::Unauthorized.into_response();
    }
    match crate::metrics::render() {
        Some(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        None => ApiError::Unavailable("metrics recorder not installed".into()).into_response(),
    }
}
