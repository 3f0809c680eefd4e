//! `POST /webhooks/elevenlabs`: ElevenLabs' post-call webhooks, signed with
//! `ElevenLabs-Signature`. A transcription becomes the call's transcript (summary and
//! analysis kept as sent); a failure to start is recorded on the call. ElevenLabs does
//! not retry by default, so the body is stored before the 200 and a duplicate changes
//! nothing.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use outcall_domain::call::CallPatch;
use outcall_domain::event::CallEvent;
use outcall_domain::transcript::{Role, Transcript, TranscriptPatch, TranscriptStatus, Turn};
use outcall_elevenlabs::webhook::{PostCallTranscription, Role as WireRole};
use outcall_elevenlabs::{PostCallWebhook, WebhookEvent};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};

pub fn router() -> Router<AppState> {
    Router::new().route("/webhooks/elevenlabs", post(receive))
}

async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let Some(secret) = state
        .agent
        .as_ref()
        .and_then(|a| a.webhook_secret.as_deref())
    else {
        return Err(ApiError::ServiceUnavailable(
            "ELEVENLABS_WEBHOOK_SECRET is not set on this server".into(),
        ));
    };
    let header = headers
        .get("elevenlabs-signature")
        .and_then(|v| v.to_str().ok());
    if let Err(e) = outcall_elevenlabs::signature::verify_now(header, &body, secret) {
        tracing::warn!(error = %e, "ElevenLabs webhook refused");
        return Err(ApiError::Unauthorized);
    }
    let hook = PostCallWebhook::parse(&body)
        .map_err(|e| ApiError::validation(format!("malformed webhook: {e}")))?;
    match &hook.event {
        WebhookEvent::PostCallTranscription(t) => store_transcription(&state, t).await?,
        WebhookEvent::CallInitiationFailure(f) => {
            if let Some(call_sid) = f
                .data
                .pointer("/conversation_initiation_client_data/dynamic_variables/call_sid")
                .and_then(Value::as_str)
            {
                let patch = CallPatch {
                    error_message: Some(format!(
                        "the agent conversation could not start: {}",
                        f.failure_reason.as_deref().unwrap_or("unknown")
                    )),
                    ..Default::default()
                };
                if let Some((call, _)) = state.store.update_call(call_sid, &patch).await? {
                    event(
                        &state,
                        call_sid,
                        "conversation-failed",
                        json!({ "reason": f.failure_reason }),
                    )
                    .await?;
                    state.bus.call("call_updated", call_sid, &call);
                }
            }
        }
        // Audio is not kept: the recording comes from Twilio.
        WebhookEvent::PostCallAudio(_) | WebhookEvent::Unknown { .. } => {}
    }
    Ok(StatusCode::OK.into_response())
}

async fn event(state: &AppState, call_sid: &str, kind: &str, data: Value) -> ApiResult<()> {
    let data = match data {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    state
        .store
        .insert_event(CallEvent::new(call_sid, kind, data))
        .await?;
    Ok(())
}

fn turns(t: &PostCallTranscription) -> Vec<Turn> {
    t.transcript
        .iter()
        .filter_map(|turn| {
            let message = turn.message.clone()?;
            let role = match turn.role {
                WireRole::Agent => Role::Agent,
                WireRole::User => Role::User,
                _ => return None,
            };
            Some(Turn {
                role,
                message,
                time_in_call_secs: turn.time_in_call_secs.unwrap_or(0.0),
            })
        })
        .collect()
}

async fn store_transcription(state: &AppState, t: &PostCallTranscription) -> ApiResult<()> {
    let Some(call_sid) = t.call_sid().map(str::to_string) else {
        tracing::warn!(conversation_id = %t.conversation_id, "post-call transcript names no call; ignored");
        return Ok(());
    };
    let analysis = t
        .analysis
        .as_ref()
        .and_then(|a| serde_json::to_value(a).ok())
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        });
    let patch = TranscriptPatch {
        conversation_id: Some(t.conversation_id.clone()),
        transcript: Some(turns(t)),
        summary: t
            .analysis
            .as_ref()
            .and_then(|a| a.transcript_summary.clone()),
        sentiment: None,
        analysis,
        status: Some(TranscriptStatus::Done),
    };
    let stored = state.store.get_transcript(&call_sid).await?;
    let mut patch = patch;
    // ElevenLabs sends no sentiment: compute it from the callee's turns, unless the
    // transcript already has one (set through the API, or by an earlier delivery).
    if stored.as_ref().is_none_or(|t| t.sentiment.is_none()) {
        patch.sentiment = patch
            .transcript
            .as_deref()
            .and_then(crate::sentiment::of_user_turns);
    }
    let transcript = match stored {
        Some(existing) => {
            let mut merged = existing.clone();
            patch.apply(&mut merged);
            if merged == existing {
                return Ok(()); // a duplicate delivery
            }
            state.store.update_transcript(&call_sid, &patch).await?
        }
        None => {
            let mut fresh = Transcript::new(&call_sid);
            patch.apply(&mut fresh);
            match state.store.insert_transcript(fresh).await {
                Ok(t) => Some(t),
                // The bridge created it meanwhile: apply the webhook over it.
                Err(e) if e.is_conflict() => {
                    state.store.update_transcript(&call_sid, &patch).await?
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    let conversation = CallPatch {
        conversation_id: Some(t.conversation_id.clone()),
        ..Default::default()
    };
    if state
        .store
        .update_call(&call_sid, &conversation)
        .await?
        .is_some()
    {
        event(
            state,
            &call_sid,
            "conversation-completed",
            json!({ "conversationId": t.conversation_id, "turns": patch.transcript.as_ref().map_or(0, Vec::len) }),
        )
        .await?;
    }
    state
        .bus
        .call("conversation_completed", &call_sid, &transcript);
    Ok(())
}
