//! Twilio's webhooks: call status, asynchronous AMD and recording callbacks, also at
//! the Node.js system's paths (`/call-status-callback`, `/amd-status-callback`,
//! `/recording-status-callback`).
//!
//! Each request must carry a valid `X-Twilio-Signature` for the URL Twilio requested,
//! rebuilt from `PUBLIC_URL` (never from the request's Host, which a proxy rewrites).
//! A request is stored before it is answered 2xx, so an answer means "kept"; a
//! duplicate callback is answered 2xx and changes nothing, and an out-of-order one
//! adds only what it alone knows (see `Call::apply_status`), so every arrival order
//! of a call's callbacks ends in the same call and the same timeline.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use outcall_domain::call::{
    Call, CallPatch, CallStatus, MAX_SEQUENCE_NUMBER, StatusChange, StatusUpdate, TerminatedBy,
};

use crate::config::VoicemailAction;
use outcall_domain::event::CallEvent;
use outcall_domain::recording::Recording;
use outcall_twilio::webhook::{AmdCallback, RecordingCallback, StatusCallback};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::routes::calls::publish_status;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks/twilio/voice", post(voice))
        .route("/webhooks/twilio/status", post(status))
        .route("/webhooks/twilio/amd", post(amd))
        .route("/webhooks/twilio/recording", post(recording))
        // The callback paths of the Node.js system the seed documents, so calls it
        // placed before the switch finish recorded. Twilio signs the URL it called and
        // `SignedForm` rebuilds it from the request's own path, so each alias is checked
        // against its own URL, never against outcall's.
        .route("/call-status-callback", post(status))
        .route("/amd-status-callback", post(amd))
        .route("/recording-status-callback", post(recording))
}

/// How long a status callback for a call we have not stored yet waits for it: Twilio's
/// first callback can overtake the insert that follows its own 201 answer.
const UNKNOWN_CALL_WAIT: Duration = Duration::from_secs(3);

/// The form pairs of a Twilio request whose `X-Twilio-Signature` checks out; 401
/// otherwise (503 when Twilio is not configured). Every Twilio webhook takes this.
struct SignedForm(Vec<(String, String)>);

impl FromRequest<AppState> for SignedForm {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let Some(telephony) = &state.telephony else {
            return Err(ApiError::ServiceUnavailable(
                "Twilio is not configured on this server".into(),
            ));
        };
        let (parts, body) = req.into_parts();
        let signature = parts
            .headers
            .get("x-twilio-signature")
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Unauthorized)?
            .to_string();
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let url = format!("{}{path}", state.public_url);
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| ApiError::validation(format!("unreadable body: {e}")))?;
        let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
        if !outcall_twilio::signature::validate_form(
            &url,
            &pairs,
            &signature,
            &telephony.auth_token,
        ) {
            tracing::warn!(%url, "Twilio webhook with a bad signature refused");
            return Err(ApiError::Unauthorized);
        }
        Ok(Self(pairs))
    }
}

fn bad_callback(e: impl std::fmt::Display) -> ApiError {
    ApiError::validation(format!("malformed Twilio callback: {e}"))
}

fn ok_empty() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn call_status(s: outcall_twilio::CallStatus) -> ApiResult<CallStatus> {
    s.as_str().parse().map_err(bad_callback)
}

/// The TwiML of an answered call: connect it to our media stream, with the call's
/// token (which names the call's agent, so the stream needs no store read).
async fn voice(
    State(state): State<AppState>,
    SignedForm(pairs): SignedForm,
) -> ApiResult<Response> {
    let call_sid = pairs
        .iter()
        .find(|(k, _)| k == "CallSid")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| bad_callback("no CallSid"))?;
    // A missed `ringing` callback must not leave the agent cold.
    state.bridge.warmers.ringing(&call_sid);
    let auth_token = state
        .telephony
        .as_ref()
        .map(|t| t.auth_token.as_str())
        .unwrap_or_default();
    let agent_id = crate::bridge::setup::agent_of(&state, &call_sid).await;
    let ws_base = state
        .public_url
        .replacen("https://", "wss://", 1)
        .replacen("http://", "ws://", 1);
    let token = crate::bridge::token::issue_for(auth_token, &call_sid, agent_id.as_deref());
    let twiml = outcall_twilio::twiml::ConnectStream::new(format!("{ws_base}/media-stream"))
        .parameter("callSid", &call_sid)
        .parameter("token", token)
        .build();
    Ok((
        [(axum::http::header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        twiml,
    )
        .into_response())
}

async fn status(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    SignedForm(pairs): SignedForm,
) -> ApiResult<Response> {
    let cb = StatusCallback::parse(&pairs).map_err(bad_callback)?;
    let sequence_number = cb
        .sequence_number
        .map(i64::try_from)
        .transpose()
        .ok()
        .flatten();
    if cb.sequence_number.is_some() && sequence_number.is_none_or(|n| n > MAX_SEQUENCE_NUMBER) {
        // Stored, it would make every later callback of the call stale.
        return Err(ApiError::field(
            "SequenceNumber",
            format!(
                "must be at most {MAX_SEQUENCE_NUMBER}: Twilio counts a call's callbacks from 0"
            ),
        ));
    }
    // The media bridge opens the agent socket on ringing, closes it on an unanswered end.
    state
        .bridge
        .status(&cb.call_sid, call_status(cb.call_status)?);
    let origin = CallOrigin::from_query(query.as_deref());
    let update = StatusUpdate {
        status: call_status(cb.call_status)?,
        sequence_number,
        timestamp: cb.timestamp,
        duration: cb.call_duration.map(|d| d as i64),
        answered_by: None,
        error_code: cb.error_code.map(|c| c.to_string()),
        error_message: cb.error_message.clone(),
    };
    let Some((call, change)) = apply_when_known(&state, &cb, &update, &origin).await? else {
        return Ok(ok_empty());
    };
    // Every status Twilio reports goes on the timeline once, whether it moved the call
    // or came late (a late `in-progress` is still the answer). Written before the
    // publish, so whoever the publish wakes finds the event too; the status is kept
    // either way, only its timeline entry would be lost.
    let added = match record_status_event(&state, &call.call_sid, &update).await {
        Ok(added) => added,
        Err(e) => {
            tracing::warn!(call_sid = %call.call_sid, "status stored, its event not: {e}");
            false
        }
    };
    match change {
        StatusChange::Applied { .. } => publish_status(&state, &call),
        // The call or its timeline changed: cached call details must go.
        StatusChange::Merged { .. } => state.bus.call("call_updated", &call.call_sid, &call),
        StatusChange::Refused { .. } if added => {
            state.bus.call("call_updated", &call.call_sid, &call)
        }
        StatusChange::Refused { .. } => {}
    }
    // Settled whatever happened to the event, and again on a repeated final callback
    // (an attempt settles once): the status is stored, so a failure after this point
    // must neither leave the attempt open nor make Twilio's retry find nothing to do.
    if call.status.is_terminal()
        && let Err(e) = crate::engine::on_call_ended(&state, &call).await
    {
        // The engine's check on the attempt's lease settles it.
        tracing::warn!(call_sid = %call.call_sid, "campaign attempt not settled yet: {e}");
    }
    Ok(ok_empty())
}

/// Records the `status-change` event of a callback, once per call and status (a
/// redelivery or a second copy finds it there). Its data holds only what Twilio sent,
/// so the timeline is the same whatever order the callbacks came in. Whether it was new.
async fn record_status_event(
    state: &AppState,
    call_sid: &str,
    update: &StatusUpdate,
) -> ApiResult<bool> {
    let mut data = Map::new();
    data.insert("status".into(), json!(update.status));
    data.insert("sequenceNumber".into(), json!(update.sequence_number));
    if let Some(t) = update.timestamp {
        data.insert("timestamp".into(), json!(t));
    }
    if let Some(d) = update.duration {
        data.insert("duration".into(), json!(d));
    }
    let mut event = CallEvent::once(call_sid, "status-change", update.status.as_str(), data);
    if let Some(at) = update.timestamp {
        let arrived = event.timestamp;
        event = event.at(when_reported(at, update.sequence_number, arrived));
    }
    match state.store.insert_event(event).await {
        Ok(_) => Ok(true),
        Err(e) if e.is_conflict() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Where a status callback sits on the timeline. Twilio's `Timestamp` has whole
/// seconds: a callback arriving within its second is placed at its arrival (as precise
/// as the other events); a late one at Twilio's second plus its `SequenceNumber` in
/// milliseconds, so late callbacks of one second keep Twilio's order.
fn when_reported(
    twilio: chrono::DateTime<chrono::Utc>,
    sequence_number: Option<i64>,
    arrived: chrono::DateTime<chrono::Utc>,
) -> chrono::DateTime<chrono::Utc> {
    if arrived >= twilio && arrived - twilio < chrono::TimeDelta::seconds(1) {
        return arrived;
    }
    twilio + chrono::TimeDelta::milliseconds(sequence_number.unwrap_or(0).clamp(0, 999))
}

/// Applies a status update, waiting briefly for a call record that is about to be
/// stored, and creating it from the callback if it never comes, so no callback is lost.
async fn apply_when_known(
    state: &AppState,
    cb: &StatusCallback,
    update: &StatusUpdate,
    origin: &CallOrigin,
) -> ApiResult<Option<(Call, StatusChange)>> {
    let deadline = tokio::time::Instant::now() + UNKNOWN_CALL_WAIT;
    loop {
        if let Some(done) = state.store.update_call_status(&cb.call_sid, update).await? {
            return Ok(Some(done));
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tracing::warn!(call_sid = %cb.call_sid, "status callback for a call outcall did not place; recording it");
    let mut call = Call::new(&cb.call_sid, &cb.from, &cb.to);
    call.status = CallStatus::Queued;
    call.attempt_id = origin.attempt_id.clone();
    call.campaign_id = origin.campaign_id;
    call.contact_id = origin.contact_id;
    match state.store.insert_call(call).await {
        Ok(call) => state.bus.call("new_call", &call.call_sid, &call),
        Err(e) if e.is_conflict() => {}
        Err(e) => return Err(e.into()),
    }
    Ok(state.store.update_call_status(&cb.call_sid, update).await?)
}

/// The campaign attempt a call belongs to, from its status callback URL (signed with
/// the rest of the request), so a call whose record was never written is still
/// linked to its attempt.
#[derive(Debug, Default)]
struct CallOrigin {
    attempt_id: Option<String>,
    campaign_id: Option<outcall_domain::ObjectId>,
    contact_id: Option<outcall_domain::ObjectId>,
}

impl CallOrigin {
    fn from_query(query: Option<&str>) -> Self {
        let mut origin = Self::default();
        for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match k.as_ref() {
                "attemptId" => origin.attempt_id = Some(v.into_owned()),
                "campaignId" => origin.campaign_id = v.parse().ok(),
                "contactId" => origin.contact_id = v.parse().ok(),
                _ => {}
            }
        }
        origin
    }
}

async fn record_event(
    state: &AppState,
    call_sid: &str,
    event_type: &str,
    data: Map<String, Value>,
) -> ApiResult<()> {
    state
        .store
        .insert_event(CallEvent::new(call_sid, event_type, data))
        .await?;
    Ok(())
}

async fn amd(State(state): State<AppState>, SignedForm(pairs): SignedForm) -> ApiResult<Response> {
    let cb = AmdCallback::parse(&pairs).map_err(bad_callback)?;
    let patch = CallPatch {
        amd_result: Some(cb.answered_by.as_str().to_string()),
        ..Default::default()
    };
    let Some((call, changed)) = state.store.update_call(&cb.call_sid, &patch).await? else {
        return Err(ApiError::not_found(format!(
            "no call with callSid {}",
            cb.call_sid
        )));
    };
    if changed {
        let mut data = Map::new();
        data.insert("answeredBy".into(), json!(cb.answered_by.as_str()));
        data.insert(
            "machineDetectionDuration".into(),
            json!(cb.machine_detection_duration_ms),
        );
        record_event(&state, &call.call_sid, "machine-detection", data).await?;
        state.bus.call("machine_detection", &call.call_sid, &call);
        if cb.answered_by.is_machine() {
            answer_the_machine(&state, &call.call_sid).await?;
        }
    }
    Ok(ok_empty())
}

/// Applies `VOICEMAIL_ACTION` to a call a machine answered. The REST call runs off
/// the webhook's answer path: Twilio waits for our answer, and the REST call may retry.
async fn answer_the_machine(state: &AppState, call_sid: &str) -> ApiResult<()> {
    let Some(tel) = state.telephony.clone() else {
        return Ok(());
    };
    let message = match (tel.voicemail, tel.voicemail_message.clone()) {
        (VoicemailAction::Agent, _) => return Ok(()),
        (VoicemailAction::LeaveMessage, Some(m)) => Some(m),
        _ => None,
    };
    let reason = match message {
        Some(_) => "voicemail: left the message (VOICEMAIL_ACTION=leave-message)",
        None => "voicemail: hung up (VOICEMAIL_ACTION=hangup)",
    };
    let patch = CallPatch {
        terminated_by: Some(TerminatedBy::System),
        termination_reason: Some(reason.into()),
        ..Default::default()
    };
    if let Some((call, true)) = state.store.update_call(call_sid, &patch).await? {
        state.bus.call("call_updated", call_sid, &call);
    }
    let (state, sid) = (state.clone(), call_sid.to_string());
    tokio::spawn(async move {
        match message {
            None => crate::bridge::session::hang_up_if_live(&state, &sid).await,
            Some(words) => {
                let twiml = outcall_twilio::twiml::say_then_hangup(&words);
                if let Err(e) =
                    outcall_twilio::with_retry(&tel.retry, || tel.client.update_twiml(&sid, &twiml))
                        .await
                {
                    tracing::warn!(call_sid = %sid, error = %e, "could not leave the voicemail; hanging up");
                    crate::bridge::session::hang_up_if_live(&state, &sid).await;
                }
            }
        }
    });
    Ok(())
}

async fn recording(
    State(state): State<AppState>,
    SignedForm(pairs): SignedForm,
) -> ApiResult<Response> {
    let cb = RecordingCallback::parse(&pairs).map_err(bad_callback)?;
    let mut rec = Recording::new(
        &cb.recording_sid,
        &cb.call_sid,
        cb.recording_status.as_str(),
    );
    rec.url = cb.recording_url.clone();
    rec.duration = cb.recording_duration.map(|d| d as i64);
    rec.channels = cb.recording_channels.map(|c| c as i64);
    rec.start_time = cb.recording_start_time;
    let (rec, written) = state.store.upsert_recording(rec).await?;
    if written {
        let mut data = Map::new();
        data.insert("recordingSid".into(), json!(rec.recording_sid));
        data.insert("status".into(), json!(rec.status));
        record_event(&state, &rec.call_sid, "recording", data).await?;
        state.bus.call("recording_update", &rec.call_sid, &rec);
    }
    Ok(ok_empty())
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone, Utc};

    use super::when_reported;

    #[test]
    fn a_callback_sits_at_twilios_time_refined_only_within_its_second() {
        let second = Utc
            .with_ymd_and_hms(2026, 1, 5, 10, 0, 0)
            .single()
            .expect("time");
        let ms = TimeDelta::milliseconds;
        assert_eq!(
            when_reported(second, Some(2), second + ms(420)),
            second + ms(420),
            "on time: its arrival, as precise as other events"
        );
        assert_eq!(
            when_reported(second, Some(2), second + ms(5_000)),
            second + ms(2),
            "late: Twilio's second, ordered by its SequenceNumber"
        );
        assert_eq!(
            when_reported(second, Some(3), second - ms(300)),
            second + ms(3),
            "our clock behind Twilio's: Twilio's time"
        );
        assert_eq!(
            when_reported(second, Some(1_000_000), second + ms(5_000)),
            second + ms(999),
            "never past Twilio's second"
        );
    }
}
