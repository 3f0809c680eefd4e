//! Call API (seed): list, get, create, update status, delete.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, put};
use outcall_domain::ObjectId;
use outcall_domain::call::{Call, CallStatus, StatusUpdate};
use outcall_domain::page::Sort;
use outcall_domain::time::{Timestamp, to_millis};
use outcall_domain::validate::{MAX_SHORT, MAX_TEXT, Validator};
use outcall_store::{CALL_SORT_FIELDS, CallFilter};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::validate::{optional_sid, phone, sid};
use crate::AppState;
use crate::cache::{CacheKey, CachedRoute, Dep};
use crate::envelope::{created, ok, page};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, Params};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/db/calls", get(list).post(create))
        .route("/db/calls/{callSid}", get(get_one).delete(delete))
        .route("/db/calls/{callSid}/status", put(update_status))
}

async fn list(State(state): State<AppState>, mut params: Params) -> ApiResult<Response> {
    let page_req = params.page(CALL_SORT_FIELDS, Sort::desc("createdAt"))?;
    let fields = params.fields()?;
    let number = |params: &mut Params, name: &str| -> ApiResult<Option<String>> {
        let mut v = Validator::new();
        let parsed = params
            .text(name)
            .and_then(|n| phone(&mut v, name, &n, state.region));
        v.finish()?;
        Ok(parsed.map(|p| p.to_string()))
    };
    let (start_date, end_date) = params.date_range()?;
    let filter = CallFilter {
        status: params.parse::<CallStatus>("status")?,
        campaign_id: params.object_id("campaignId")?,
        contact_id: params.object_id("contactId")?,
        attempt_id: params.text("attemptId"),
        from: number(&mut params, "from")?,
        to: number(&mut params, "to")?,
        start_date,
        end_date,
    };
    params.finish()?;
    let calls = state.store.list_calls(&filter, &page_req).await?;
    page(calls, fields.as_deref())
}

/// Cached as the call's details (30 s), until the call changes.
async fn get_one(State(state): State<AppState>, ApiPath(call_sid): ApiPath) -> ApiResult<Response> {
    sid("callSid", &call_sid)?;
    let key = CacheKey::new(CachedRoute::CallDetails, &json!({ "callSid": call_sid }))?;
    let call = state
        .cache
        .get_or_compute(key, &[Dep::call(&call_sid)], async {
            state
                .store
                .get_call(&call_sid)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("no call with callSid {call_sid}")))
        })
        .await?;
    ok(&*call)
}

/// The body of `POST /api/db/calls`: a call record made elsewhere (or by hand).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateCall {
    call_sid: String,
    from: String,
    to: String,
    #[serde(default)]
    status: Option<CallStatus>,
    #[serde(default)]
    direction: Option<String>,
    #[serde(default)]
    conversation_id: Option<String>,
    #[serde(default)]
    start_time: Option<Timestamp>,
    #[serde(default)]
    end_time: Option<Timestamp>,
    #[serde(default)]
    duration: Option<i64>,
    #[serde(default)]
    answered_by: Option<String>,
    #[serde(default)]
    machine_behavior: Option<String>,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    contact_name: Option<String>,
    #[serde(default)]
    campaign_id: Option<ObjectId>,
    #[serde(default)]
    contact_id: Option<ObjectId>,
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    first_message: Option<String>,
    #[serde(default)]
    dynamic_variables: Option<Map<String, Value>>,
    #[serde(default)]
    region: Option<String>,
}

impl CreateCall {
    fn into_call(self, state: &AppState) -> ApiResult<Call> {
        let mut v = Validator::new();
        optional_sid(&mut v, "callSid", Some(&self.call_sid));
        let from = phone(&mut v, "from", &self.from, state.region);
        let to = phone(&mut v, "to", &self.to, state.region);
        if let Some(d) = self.duration
            && d < 0
        {
            v.error("duration", "must not be negative");
        }
        if let (Some(s), Some(e)) = (self.start_time, self.end_time)
            && e < s
        {
            v.error("endTime", "must not be before startTime");
        }
        optional_sid(&mut v, "conversationId", self.conversation_id.as_deref());
        optional_sid(&mut v, "agentId", self.agent_id.as_deref());
        for (field, value) in [
            ("direction", &self.direction),
            ("answeredBy", &self.answered_by),
            ("machineBehavior", &self.machine_behavior),
            ("contactName", &self.contact_name),
            ("region", &self.region),
        ] {
            v.max_len(field, value.as_deref(), MAX_SHORT);
        }
        v.max_len("prompt", self.prompt.as_deref(), MAX_TEXT);
        v.max_len("firstMessage", self.first_message.as_deref(), MAX_TEXT);
        if let Some(vars) = &self.dynamic_variables {
            super::calling::reserved_variables(&mut v, "dynamicVariables", vars);
        }
        v.finish()?;
        let (Some(from), Some(to)) = (from, to) else {
            return Err(ApiError::Internal(
                "BUG: validated phone numbers missing".into(),
            ));
        };
        let mut call = Call::new(self.call_sid, from.to_string(), to.to_string());
        call.status = self.status.unwrap_or(CallStatus::Initiated);
        if let Some(d) = self.direction {
            call.direction = d;
        }
        call.conversation_id = self.conversation_id;
        call.start_time = self.start_time.map(to_millis);
        call.end_time = self.end_time.map(to_millis);
        call.duration = self.duration;
        call.answered_by = self.answered_by;
        call.machine_behavior = self.machine_behavior;
        call.agent_id = self.agent_id;
        call.contact_name = self.contact_name;
        call.campaign_id = self.campaign_id;
        call.contact_id = self.contact_id;
        call.metadata = self.metadata.unwrap_or_default();
        call.prompt = self.prompt;
        call.first_message = self.first_message;
        call.dynamic_variables = self.dynamic_variables;
        call.region = self.region;
        Ok(call)
    }
}

async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateCall>,
) -> ApiResult<Response> {
    let call = body.into_call(&state)?;
    let call = state.store.insert_call(call).await?;
    state.bus.call("new_call", &call.call_sid, &call);
    created(call)
}

async fn update_status(
    State(state): State<AppState>,
    ApiPath(call_sid): ApiPath,
    ApiJson(update): ApiJson<StatusUpdate>,
) -> ApiResult<Response> {
    sid("callSid", &call_sid)?;
    let mut v = Validator::new();
    if update.sequence_number.is_some_and(|n| n < 0) {
        v.error("sequenceNumber", "must not be negative");
    }
    if update
        .sequence_number
        .is_some_and(|n| n > outcall_domain::call::MAX_SEQUENCE_NUMBER)
    {
        v.error(
            "sequenceNumber",
            format!(
                "must be at most {}",
                outcall_domain::call::MAX_SEQUENCE_NUMBER
            ),
        );
    }
    if update.duration.is_some_and(|d| d < 0) {
        v.error("duration", "must not be negative");
    }
    v.max_len("answeredBy", update.answered_by.as_deref(), MAX_SHORT);
    v.max_len("errorCode", update.error_code.as_deref(), MAX_SHORT);
    v.max_len("errorMessage", update.error_message.as_deref(), MAX_TEXT);
    v.finish()?;
    let (call, change) = state
        .store
        .update_call_status(&call_sid, &update)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no call with callSid {call_sid}")))?;
    match change {
        outcall_domain::StatusChange::Applied { .. } => {
            publish_status(&state, &call);
            ok(call)
        }
        // The status stays, but the update's facts the call lacked were kept.
        outcall_domain::StatusChange::Merged { .. } => {
            state.bus.call("call_updated", &call.call_sid, &call);
            ok(call)
        }
        outcall_domain::StatusChange::Refused { current, reason } => Err(ApiError::Conflict {
            message: format!("status not changed: {reason}"),
            details: Some(json!({ "currentStatus": current, "reason": reason })),
        }),
    }
}

async fn delete(State(state): State<AppState>, ApiPath(call_sid): ApiPath) -> ApiResult<Response> {
    sid("callSid", &call_sid)?;
    if state.store.delete_call(&call_sid).await? {
        let data = json!({ "deleted": true, "callSid": call_sid });
        state.bus.call("call_deleted", &call_sid, &data);
        ok(data)
    } else {
        Err(ApiError::not_found(format!(
            "no call with callSid {call_sid}"
        )))
    }
}

/// Publishes an applied status change, and `call_ended` when it finished the call.
pub(crate) fn publish_status(state: &AppState, call: &Call) {
    state.bus.call("status_update", &call.call_sid, call);
    if call.status.is_terminal() {
        state.bus.call("call_ended", &call.call_sid, call);
    }
}
