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
    ok(analytics::overview(state.store.as_ref(), &q, outcall_domain::time::now()).await?)
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
    match analytics::call_details(state.store.as_ref(), &call_sid).await? {
        Some(details) => ok(details),
        None => Err(ApiError::not_found(format!(
            "no call with callSid {call_sid}"
        ))),
    }
}

async fn realtime(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    params.finish()?;
    ok(analytics::realtime(state.store.as_ref(), outcall_domain::time::now()).await?)
}
