//! `POST /webhooks/elevenlabs`: ElevenLabs' post-call webhooks, signed with
//! `ElevenLabs-Signature`. A transcription becomes the call's transcript (summary and
//! analysis kept as sent); a failure to start is recorded on the call; the audio of the
//! call is noted on its timeline. ElevenLabs does not retry by default and disables a
//! webhook that keeps failing, so the body is stored before the 200, a duplicate
//! changes nothing, and the route takes bodies the size of a call's audio.

use std::borrow::Cow;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::StreamExt;
use outcall_domain::call::CallPatch;
use outcall_domain::event::CallEvent;
use outcall_domain::transcript::{Role, Transcript, TranscriptPatch, TranscriptStatus, Turn};
use outcall_elevenlabs::webhook::{PostCallTranscription, Role as WireRole};
use outcall_elevenlabs::{PostCallWebhook, WebhookEvent};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// The route, taking bodies up to `max_bytes` (`ELEVENLABS_WEBHOOK_MAX_BYTES`, not the
/// server-wide `BODY_LIMIT_BYTES`: `post_call_audio` holds the whole call's audio).
pub fn router(max_bytes: usize) -> Router<AppState> {
    Router::new().route(
        "/webhooks/elevenlabs",
        post(
            move |State(state): State<AppState>, headers: HeaderMap, body: Body| async move {
                receive(state, headers, body, max_bytes).await
            },
        ),
    )
}

async fn receive(
    state: AppState,
    headers: HeaderMap,
    body: Body,
    max_bytes: usize,
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
    if header.is_none() {
        // Refused before megabytes of body are read.
        tracing::warn!("ElevenLabs webhook without a signature refused");
        return Err(ApiError::Unauthorized);
    }
    let body = read_body(body, &headers, max_bytes).await?;
    if let Err(e) = outcall_elevenlabs::signature::verify_now(header, &body, secret) {
        tracing::warn!(error = %e, "ElevenLabs webhook refused");
        return Err(ApiError::Unauthorized);
    }
    let malformed = |e: serde_json::Error| ApiError::validation(format!("malformed webhook: {e}"));
    let kind: Kind<'_> = serde_json::from_slice(&body).map_err(malformed)?;
    if kind.kind == "post_call_audio" {
        // Read in place: the audio is never copied out of the body.
        let hook: AudioHook<'_> = serde_json::from_slice(&body).map_err(malformed)?;
        store_audio(&state, &hook).await?;
        return Ok(StatusCode::OK.into_response());
    }
    let hook = PostCallWebhook::parse(&body).map_err(malformed)?;
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
                if let Some((call, changed)) = state.store.update_call(call_sid, &patch).await? {
                    // One failure per call: a redelivery finds its event there.
                    let added = event_once(
                        &state,
                        call_sid,
                        "conversation-failed",
                        json!({ "reason": f.failure_reason }),
                    )
                    .await?;
                    if changed || added {
                        state.bus.call("call_updated", call_sid, &call);
                    }
                }
            }
        }
        WebhookEvent::PostCallAudio(_) | WebhookEvent::Unknown { .. } => {}
    }
    Ok(StatusCode::OK.into_response())
}

/// Reads the body into one buffer (sized once from `Content-Length`), refusing it with
/// 413 as soon as it passes `max_bytes`: the body is held once, never also as chunks.
async fn read_body(body: Body, headers: &HeaderMap, max_bytes: usize) -> ApiResult<Vec<u8>> {
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "the webhook body is over {max_bytes} bytes (ELEVENLABS_WEBHOOK_MAX_BYTES)"
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max_bytes) {
        return Err(too_large());
    }
    let mut buf = Vec::with_capacity(declared.unwrap_or(0));
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| ApiError::validation(format!("unreadable body: {e}")))?;
        if buf.len() + chunk.len() > max_bytes {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// The webhook's type, read without copying the rest of the body.
#[derive(Deserialize)]
struct Kind<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
}

/// The fields of `post_call_audio` outcall uses, read in place.
#[derive(Deserialize)]
struct AudioHook<'a> {
    #[serde(default, borrow)]
    data: Option<AudioData<'a>>,
}

#[derive(Deserialize)]
struct AudioData<'a> {
    #[serde(default, borrow)]
    conversation_id: Option<Cow<'a, str>>,
    #[serde(default)]
    full_audio: Option<AudioSize>,
}

/// The decoded size of base64 `full_audio`, measured where it lies in the body (an
/// `Option<Cow<str>>` would copy megabytes: serde borrows only a bare `Cow`).
struct AudioSize(usize);

impl<'de> Deserialize<'de> for AudioSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Measure;
        impl serde::de::Visitor<'_> for Measure {
            type Value = AudioSize;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("base64 audio")
            }
            fn visit_str<E: serde::de::Error>(self, audio: &str) -> Result<AudioSize, E> {
                let padding = audio.bytes().rev().take_while(|b| *b == b'=').count();
                Ok(AudioSize((audio.len() / 4 * 3).saturating_sub(padding)))
            }
        }
        d.deserialize_str(Measure)
    }
}

/// `post_call_audio`: outcall keeps no audio of its own (the call's recording comes
/// from Twilio), so the webhook is acknowledged and the call's timeline notes that the
/// conversation's audio arrived, with its size, once per call. The call is found
/// through the conversation's transcript; without one there is nothing to note it on.
async fn store_audio(state: &AppState, hook: &AudioHook<'_>) -> ApiResult<()> {
    let data = hook.data.as_ref();
    let Some(conversation_id) = data.and_then(|d| d.conversation_id.as_deref()) else {
        return Err(ApiError::field("data.conversation_id", "is required"));
    };
    let Some(AudioSize(audio_bytes)) = data.and_then(|d| d.full_audio.as_ref()) else {
        return Err(ApiError::field("data.full_audio", "is required"));
    };
    let Some(transcript) = state
        .store
        .transcript_of_conversation(conversation_id)
        .await?
    else {
        tracing::info!(%conversation_id, "post-call audio for a conversation outcall has no call for; acknowledged");
        return Ok(());
    };
    let added = event_once(
        state,
        &transcript.call_sid,
        "conversation-audio",
        json!({ "conversationId": conversation_id, "audioBytes": audio_bytes }),
    )
    .await?;
    // Caches of the call's detail hold its timeline.
    if added && let Some(call) = state.store.get_call(&transcript.call_sid).await? {
        state.bus.call("call_updated", &call.call_sid, &call);
    }
    Ok(())
}

async fn event(state: &AppState, call_sid: &str, kind: &str, data: Value) -> ApiResult<()> {
    state
        .store
        .insert_event(CallEvent::new(call_sid, kind, object(data)))
        .await?;
    Ok(())
}

/// Records an event a call has once (see [`CallEvent::once`]); whether it was new.
async fn event_once(state: &AppState, call_sid: &str, kind: &str, data: Value) -> ApiResult<bool> {
    match state
        .store
        .insert_event(CallEvent::once(call_sid, kind, "", object(data)))
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if e.is_conflict() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn object(data: Value) -> Map<String, Value> {
    match data {
        Value::Object(m) => m,
        _ => Map::new(),
    }
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
            Some(Turn::new(
                role,
                message,
                turn.time_in_call_secs.unwrap_or(0.0),
            ))
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
        unless_finished: false,
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
