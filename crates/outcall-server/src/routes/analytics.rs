//! The analytics API: `GET /api/db/analytics/{call-volume, call-duration, call-outcomes,
//! conversation-sentiment}`. Each handler checks its parameters and calls one
//! `crate::analytics` function.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;

use crate::AppState;
use crate::analytics::{self, AnalyticsQuery};
use crate::cache::{CacheKey, CachedRoute, Dep};
use crate::envelope::ok;
use crate::error::{ApiError, ApiResult};
use crate::extract::Params;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/db/analytics/call-volume", get(call_volume))
        .route("/db/analytics/call-duration", get(call_duration))
        .route("/db/analytics/call-outcomes", get(call_outcomes))
        .route(
            "/db/analytics/conversation-sentiment",
            get(conversation_sentiment),
        )
}

/// Every report depends on every call: any call, recording or transcript change drops it.
async fn cached<T: serde::Serialize, E: Into<ApiError>>(
    state: &AppState,
    q: &AnalyticsQuery,
    report: &str,
    compute: impl std::future::Future<Output = Result<T, E>>,
) -> ApiResult<Response> {
    let key = CacheKey::new(CachedRoute::Analytics, &q.cache_key(report))?;
    let answer = state
        .cache
        .get_or_compute(key, &[Dep::AnyCall], async {
            compute.await.map_err(Into::into)
        })
        .await?;
    ok(&*answer)
}

fn query(mut params: Params) -> ApiResult<AnalyticsQuery> {
    let query = AnalyticsQuery::take(&mut params)?;
    params.finish()?;
    Ok(query)
}

async fn call_volume(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    let q = query(params)?;
    let now = outcall_domain::time::now();
    let report = analytics::call_volume(state.store.as_ref(), &q, now);
    cached(&state, &q, "call-volume", report).await
}

async fn call_duration(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    let q = query(params)?;
    let report = analytics::call_duration(state.store.as_ref(), &q);
    cached(&state, &q, "call-duration", report).await
}

async fn call_outcomes(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    let q = query(params)?;
    let report = analytics::call_outcomes(state.store.as_ref(), &q);
    cached(&state, &q, "call-outcomes", report).await
}

async fn conversation_sentiment(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Response> {
    let q = query(params)?;
    let now = outcall_domain::time::now();
    let report = analytics::conversation_sentiment(state.store.as_ref(), &q, now);
    cached(&state, &q, "conversation-sentiment", report).await
}
