//! Call-event timeline: `GET /api/db/calls/:callSid/events`, `POST /api/db/events`.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use outcall_domain::event::CallEvent;
use outcall_domain::page::Sort;
use outcall_domain::time::Timestamp;
use outcall_domain::validate::{MAX_SHORT, Validator};
use outcall_store::{EVENT_SORT_FIELDS, EventFilter};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::validate::{optional_sid, sid};
use crate::AppState;
use crate::envelope::{created, page};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, Params};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/db/events", post(create))
        .route("/db/calls/{callSid}/events", get(list_for_call))
}

async fn list_for_call(
    State(state): State<AppState>,
    ApiPath(call_sid): ApiPath,
    mut params: Params,
) -> ApiResult<Response> {
    sid("callSid", &call_sid)?;
    let page_req = params.page(EVENT_SORT_FIELDS, Sort::asc("timestamp"))?;
    let fields = params.fields()?;
    let filter = EventFilter {
        event_type: params.text("eventType"),
    };
    params.finish()?;
    if state.store.get_call(&call_sid).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "no call with callSid {call_sid}"
        )));
    }
    page(
        state
            .store
            .list_events(&call_sid, &filter, &page_req)
            .await?,
        fields.as_deref(),
    )
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateEvent {
    call_sid: String,
    event_type: String,
    #[serde(default)]
    timestamp: Option<Timestamp>,
    #[serde(default)]
    data: Option<Map<String, Value>>,
}

async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateEvent>,
) -> ApiResult<Response> {
    let mut v = Validator::new();
    optional_sid(&mut v, "callSid", Some(&body.call_sid));
    v.not_blank("eventType", &body.event_type);
    v.max_len("eventType", Some(&body.event_type), MAX_SHORT);
    v.finish()?;
    if state.store.get_call(&body.call_sid).await?.is_none() {
        return Err(ApiError::field(
            "callSid",
            format!("no call with callSid {}", body.call_sid),
        ));
    }
    let mut event = CallEvent::new(
        body.call_sid,
        body.event_type,
        body.data.unwrap_or_default(),
    );
    if let Some(t) = body.timestamp {
        event.timestamp = t;
    }
    let event = state.store.insert_event(event).await?;
    state.bus.call("event_added", &event.call_sid, &event);
    created(event)
}
