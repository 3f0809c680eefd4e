//! Placing and ending calls: `POST /api/outbound-call`, `POST /api/calls/:callSid/hangup`.
//!
//! A call is placed through Twilio's REST API with our webhooks (TwiML, status,
//! asynchronous AMD, recording); its record is stored as soon as Twilio accepts it.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use outcall_domain::ObjectId;
use outcall_domain::call::{CallPatch, CallStatus, TerminatedBy};
use outcall_domain::contact::{ContactStatus, RESERVED_VARIABLES, reserved_keys};
use outcall_domain::dnc::Blocked;
use outcall_domain::validate::{MAX_SHORT, MAX_TEXT, Validator};
use outcall_twilio::{TwilioError, with_retry};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::validate::{optional_sid, phone, sid};
use crate::AppState;
use crate::dialer::{DialFailure, PlaceError, Placement};
use crate::envelope::{created, ok};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::telephony::Telephony;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/outbound-call", post(outbound_call))
        .route("/calls/{callSid}/hangup", post(hangup))
}

fn telephony(state: &AppState) -> ApiResult<&Telephony> {
    state.telephony.as_deref().ok_or_else(|| {
        ApiError::ServiceUnavailable(
            "calling is off: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER"
                .into(),
        )
    })
}

/// A Twilio failure as the API user should see it: Twilio's own 4xx (a bad number,
/// an unverified caller id) is the caller's to fix; anything else is ours or Twilio's.
pub(crate) fn twilio_error(e: TwilioError) -> ApiError {
    match &e {
        TwilioError::Api { status, error, .. } if (400..500).contains(status) && *status != 429 => {
            ApiError::Validation {
                message: format!("Twilio refused the call: {}", error.message),
                details: Some(json!({ "twilioCode": error.code, "twilioStatus": status })),
            }
        }
        _ => match crate::dialer::classify(&e) {
            // A 5xx, a timeout or a reset after the request left: Twilio may have
            // made the call, whose status callbacks then record it. Placing it again
            // blindly could ring the callee twice.
            DialFailure::MaybeSent => ApiError::ServiceUnavailable(format!(
                "Twilio did not confirm the call ({e}); it may still have been placed: \
                 look for it in GET /api/db/calls before placing it again"
            )),
            _ => ApiError::ServiceUnavailable(format!(
                "Twilio did not place the call ({e}); try again shortly"
            )),
        },
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OutboundCall {
    to: String,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    first_message: Option<String>,
    #[serde(default)]
    dynamic_variables: Option<Map<String, Value>>,
    #[serde(default)]
    caller_id: Option<String>,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    contact_name: Option<String>,
    #[serde(default)]
    campaign_id: Option<ObjectId>,
    #[serde(default)]
    contact_id: Option<ObjectId>,
    #[serde(default)]
    record: Option<bool>,
}

async fn outbound_call(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<OutboundCall>,
) -> ApiResult<Response> {
    let tel = telephony(&state)?;
    if state.drain.is_draining() {
        return Err(ApiError::ServiceUnavailable(
            "outcall is shutting down: no new calls are placed".into(),
        ));
    }
    let mut v = Validator::new();
    let to = phone(&mut v, "to", &body.to, state.region);
    let from = match &body.caller_id {
        Some(c) => phone(&mut v, "callerId", c, state.region).map(|p| p.to_string()),
        None => Some(tel.from.clone()),
    };
    v.max_len("prompt", body.prompt.as_deref(), MAX_TEXT);
    v.max_len("firstMessage", body.first_message.as_deref(), MAX_TEXT);
    v.max_len("contactName", body.contact_name.as_deref(), MAX_SHORT);
    optional_sid(&mut v, "agentId", body.agent_id.as_deref());
    if let Some(vars) = &body.dynamic_variables {
        if let Some((k, _)) = vars
            .iter()
            .find(|(_, v)| !(v.is_string() || v.is_number() || v.is_boolean()))
        {
            v.error(
                format!("dynamicVariables.{k}"),
                "must be a string, number or boolean",
            );
        }
        reserved_variables(&mut v, "dynamicVariables", vars);
    }
    v.finish()?;
    let (Some(to), Some(from)) = (to, from) else {
        return Err(ApiError::Internal("BUG: validated numbers missing".into()));
    };
    refuse_do_not_call(&state, to.as_str(), body.contact_id).await?;

    let placement = Placement {
        to: to.to_string(),
        from,
        prompt: body.prompt,
        first_message: body.first_message,
        dynamic_variables: body.dynamic_variables,
        agent_id: body.agent_id,
        contact_name: body.contact_name,
        campaign_id: body.campaign_id,
        contact_id: body.contact_id,
        attempt_id: None,
        record: body.record,
    };
    let call = crate::dialer::place(&state, tel, placement)
        .await
        .map_err(|e| match e {
            PlaceError::Twilio(e) => twilio_error(e),
            PlaceError::Store(e) => e.into(),
        })?;
    created(json!({ "callSid": call.call_sid, "status": call.status }))
}

/// A field error for each reserved dynamic variable in `vars` (`field.name`): the
/// bridge sets them from the call itself ([`outcall_domain::contact::is_reserved_variable`]).
pub(crate) fn reserved_variables(v: &mut Validator, field: &str, vars: &Map<String, Value>) {
    for k in reserved_keys(vars) {
        v.error(
            format!("{field}.{k}"),
            format!(
                "is reserved: the call sets {k} itself ({} and system__… cannot be given)",
                RESERVED_VARIABLES.join(", ")
            ),
        );
    }
}

/// 409 for a number that must not be called ([`crate::dnc::blocked`]: on the
/// do-not-call list, or any contact with it marked do-not-call) or for a given contact
/// marked do-not-call. The details name the number and why.
pub(crate) async fn refuse_do_not_call(
    state: &AppState,
    to: &str,
    contact_id: Option<ObjectId>,
) -> ApiResult<()> {
    let blocked = match contact_id {
        Some(id) => {
            let contact =
                state.store.get_contact(id).await?.ok_or_else(|| {
                    ApiError::field("contactId", format!("no contact with id {id}"))
                })?;
            (contact.status == ContactStatus::DoNotCall)
                .then_some(Blocked::Contact { contact_id: id })
        }
        None => None,
    };
    let blocked = match blocked {
        Some(b) => Some(b),
        None => crate::dnc::blocked(state, to).await?,
    };
    if let Some(b) = blocked {
        let mut details = json!({ "phoneNumber": to, "reason": "do-not-call" });
        if let (Some(d), Ok(serde_json::Value::Object(why))) =
            (details.as_object_mut(), serde_json::to_value(&b))
        {
            d.extend(why);
        }
        return Err(ApiError::Conflict {
            message: format!("{}: not dialled", b.describe(to)),
            details: Some(details),
        });
    }
    Ok(())
}

async fn hangup(State(state): State<AppState>, ApiPath(call_sid): ApiPath) -> ApiResult<Response> {
    sid("callSid", &call_sid)?;
    let tel = telephony(&state)?;
    let call = state
        .store
        .get_call(&call_sid)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no call with callSid {call_sid}")))?;
    if call.status.is_terminal() {
        return Err(ApiError::Conflict {
            message: format!("the call already ended ({})", call.status),
            details: Some(json!({ "currentStatus": call.status })),
        });
    }
    let live = call.status == CallStatus::InProgress;
    with_retry(&tel.retry, || tel.client.hangup(&call_sid, live))
        .await
        .map_err(twilio_error)?;
    let patch = CallPatch {
        terminated_by: Some(TerminatedBy::System),
        termination_reason: Some("hung up through the API".into()),
        ..Default::default()
    };
    let (call, _) = state
        .store
        .update_call(&call_sid, &patch)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no call with callSid {call_sid}")))?;
    ok(call)
}
