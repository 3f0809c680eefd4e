//! The dashboard API: `GET /api/db/dashboard/{overview, activity, call/:callSid,
//! realtime}`. Each handler checks its parameters and calls one `crate::analytics`
//! function.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use outcall_domain::page::Sort;

use super::validate::sid;
use crate::AppState;
use crate::analytics::{self, OverviewQuery};
use crate::cache::{CacheKey, CachedRoute, Dep};
use crate::envelope::{ok, page};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, Params};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/db/dashboard/overview", get(overview))
        .route("/db/dashboard/activity", get(activity))
        .route("/db/dashboard/call/{callSid}", get(call_details))
        .route("/db/dashboard/realtime", get(realtime))
}

async fn overview(State(state): State<AppState>, mut params: Params) -> ApiResult<Response> {
    let q = OverviewQuery::take(&mut params)?;
    params.finish()?;
    let key = CacheKey::new(CachedRoute::Overview, &q.cache_key())?;
    let answer = state
        .cache
        .get_or_compute(key, &[Dep::AnyCall], async {
            let now = outcall_domain::time::now();
            Ok(analytics::overview(state.store.as_ref(), &q, now).await?)
        })
        .await?;
    ok(&*answer)
}

async fn activity(State(state): State<AppState>, mut params: Params) -> ApiResult<Response> {
    let page_req = params.page(&["timestamp"], Sort::desc("timestamp"))?;
    let campaign_id = params.object_id("campaignId")?;
    params.finish()?;
    page(
        analytics::activity(state.store.as_ref(), campaign_id, &page_req).await?,
        None,
    )
}

async fn call_details(
    State(state): State<AppState>,
    ApiPath(call_sid): ApiPath,
    params: Params,
) -> ApiResult<Response> {
    sid("callSid", &call_sid)?;
    params.finish()?;
    let key = CacheKey::new(
        CachedRoute::CallDetails,
        &serde_json::json!({"combined": true, "callSid": call_sid}),
    )?;
    let answer = state
        .cache
        .get_or_compute(key, &[Dep::call(&call_sid)], async {
            analytics::call_details(state.store.as_ref(), &call_sid)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("no call with callSid {call_sid}")))
        })
        .await?;
    ok(&*answer)
}

async fn realtime(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    params.finish()?;
    ok(&*realtime_answer(&state).await?)
}

/// The realtime numbers through the cache: this route and the live feed's
/// `dashboard_update` share one computation per change.
pub(crate) async fn realtime_answer(
    state: &AppState,
) -> ApiResult<std::sync::Arc<serde_json::Value>> {
    let key = CacheKey::new(CachedRoute::Realtime, &serde_json::json!({}))?;
    state
        .cache
        .get_or_compute(key, &[Dep::AnyCall], async {
            let now = outcall_domain::time::now();
            Ok(analytics::realtime(state.store.as_ref(), now).await?)
        })
        .await
}
