//! Recording API (seed): list, get, list per call, create, delete.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use outcall_domain::page::Sort;
use outcall_domain::recording::{RECORDING_STATUSES, Recording};
use outcall_domain::time::{Timestamp, to_millis};
use outcall_domain::validate::{MAX_TEXT, Validator};
use outcall_store::{RECORDING_SORT_FIELDS, RecordingFilter};
use serde::Deserialize;
use serde_json::json;

use super::validate::{optional_sid, sid};
use crate::AppState;
use crate::envelope::{created, ok, page};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, Params};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/db/recordings", get(list).post(create))
        .route("/db/recordings/{recordingSid}", get(get_one).delete(delete))
        .route("/db/calls/{callSid}/recordings", get(list_for_call))
}

fn recording_status(params: &mut Params) -> ApiResult<Option<String>> {
    let status = params.text("status");
    if let Some(s) = &status
        && !RECORDING_STATUSES.contains(&s.as_str())
    {
        return Err(ApiError::field(
            "status",
            format!("must be one of {}", RECORDING_STATUSES.join(", ")),
        ));
    }
    Ok(status)
}

async fn list(State(state): State<AppState>, mut params: Params) -> ApiResult<Response> {
    let page_req = params.page(RECORDING_SORT_FIELDS, Sort::desc("createdAt"))?;
    let fields = params.fields()?;
    let call_sid = params.text("callSid");
    if let Some(s) = &call_sid {
        sid("callSid", s)?;
    }
    let (start_date, end_date) = params.date_range()?;
    let filter = RecordingFilter {
        call_sid,
        status: recording_status(&mut params)?,
        start_date,
        end_date,
    };
    params.finish()?;
    page(
        state.store.list_recordings(&filter, &page_req).await?,
        fields.as_deref(),
    )
}

async fn list_for_call(
    State(state): State<AppState>,
    ApiPath(call_sid): ApiPath,
    mut params: Params,
) -> ApiResult<Response> {
    sid("callSid", &call_sid)?;
    let page_req = params.page(RECORDING_SORT_FIELDS, Sort::asc("createdAt"))?;
    let fields = params.fields()?;
    let filter = RecordingFilter {
        call_sid: Some(call_sid.clone()),
        status: recording_status(&mut params)?,
        ..Default::default()
    };
    params.finish()?;
    if state.store.get_call(&call_sid).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "no call with callSid {call_sid}"
        )));
    }
    page(
        state.store.list_recordings(&filter, &page_req).await?,
        fields.as_deref(),
    )
}

async fn get_one(
    State(state): State<AppState>,
    ApiPath(recording_sid): ApiPath,
) -> ApiResult<Response> {
    sid("recordingSid", &recording_sid)?;
    let rec = state
        .store
        .get_recording(&recording_sid)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!("no recording with recordingSid {recording_sid}"))
        })?;
    ok(rec)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateRecording {
    recording_sid: String,
    call_sid: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    duration: Option<i64>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    channels: Option<i64>,
    #[serde(default)]
    start_time: Option<Timestamp>,
}

async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateRecording>,
) -> ApiResult<Response> {
    let mut v = Validator::new();
    optional_sid(&mut v, "recordingSid", Some(&body.recording_sid));
    optional_sid(&mut v, "callSid", Some(&body.call_sid));
    let status = body.status.unwrap_or_else(|| "completed".to_string());
    if !RECORDING_STATUSES.contains(&status.as_str()) {
        v.error(
            "status",
            format!("must be one of {}", RECORDING_STATUSES.join(", ")),
        );
    }
    if let Some(url) = &body.url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        v.error("url", "must be an http(s) URL");
    }
    v.max_len("url", body.url.as_deref(), MAX_TEXT);
    if body.duration.is_some_and(|d| d < 0) {
        v.error("duration", "must not be negative");
    }
    if body.channels.is_some_and(|c| !(1..=2).contains(&c)) {
        v.error("channels", "must be 1 or 2");
    }
    v.finish()?;
    if state.store.get_call(&body.call_sid).await?.is_none() {
        return Err(ApiError::field(
            "callSid",
            format!("no call with callSid {}", body.call_sid),
        ));
    }
    let mut rec = Recording::new(body.recording_sid, body.call_sid, status);
    rec.url = body.url;
    rec.duration = body.duration;
    rec.channels = body.channels;
    rec.start_time = body.start_time.map(to_millis);
    let rec = state.store.insert_recording(rec).await?;
    state.bus.call("recording_update", &rec.call_sid, &rec);
    created(rec)
}

async fn delete(
    State(state): State<AppState>,
    ApiPath(recording_sid): ApiPath,
) -> ApiResult<Response> {
    sid("recordingSid", &recording_sid)?;
    // Read first: the deletion is published on the recording's call.
    let call_sid = state
        .store
        .get_recording(&recording_sid)
        .await?
        .map(|r| r.call_sid);
    if state.store.delete_recording(&recording_sid).await? {
        let data = json!({ "deleted": true, "recordingSid": recording_sid });
        if let Some(call_sid) = call_sid {
            state.bus.call("recording_update", &call_sid, &data);
        }
        ok(data)
    } else {
        Err(ApiError::not_found(format!(
            "no recording with recordingSid {recording_sid}"
        )))
    }
}
