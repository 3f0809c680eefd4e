//! The analytics API: `GET /api/db/analytics/{call-volume, call-duration, call-outcomes,
//! conversation-sentiment}`. Each handler checks its parameters and calls one
//! `crate::analytics` function.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;

use crate::AppState;
use crate::analytics::{self, AnalyticsQuery};
use crate::envelope::ok;
use crate::error::ApiResult;
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

fn query(mut params: Params) -> ApiResult<AnalyticsQuery> {
    let query = AnalyticsQuery::take(&mut params)?;
    params.finish()?;
    Ok(query)
}

async fn call_volume(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    let q = query(params)?;
    ok(analytics::call_volume(state.store.as_ref(), &q, outcall_domain::time::now()).await?)
}

async fn call_duration(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    let q = query(params)?;
    ok(analytics::call_duration(state.store.as_ref(), &q).await?)
}

async fn call_outcomes(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    let q = query(params)?;
    ok(analytics::call_outcomes(state.store.as_ref(), &q).await?)
}

async fn conversation_sentiment(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Response> {
    let q = query(params)?;
    ok(
        analytics::conversation_sentiment(state.store.as_ref(), &q, outcall_domain::time::now())
            .await?,
    )
}
