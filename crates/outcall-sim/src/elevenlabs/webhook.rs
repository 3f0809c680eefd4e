//! The post-call webhook: once a conversation has ended, a
//! `post_call_transcription` body with the transcript as spoken, signed with
//! `ElevenLabs-Signature`, POSTed to the configured URL and retried once.

use std::time::Duration;

use chrono::Utc;
use outcall_elevenlabs::signature;
use outcall_elevenlabs::webhook::{
    Analysis, CallSuccessful, ConversationMetadata, PostCallTranscription, PostCallWebhook, Role,
    WebhookEvent,
};
use serde_json::Map;

use super::Shared;
use super::conversation::{ConversationHandle, SimConversation};

const RETRY_DELAY: Duration = Duration::from_millis(250);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends the webhook of an ended conversation, if a URL is set, and records
/// whether it was accepted.
pub(super) async fn deliver(shared: &Shared, conv: &ConversationHandle) {
    let Some(url) = shared.webhook_url() else {
        return;
    };
    tokio::time::sleep(shared.config.faults.webhook_delay).await;
    let snapshot = conv.snapshot();
    let body = post_call_transcription(&snapshot).to_json();
    let header = signature::sign(
        body.as_bytes(),
        &shared.config.webhook_secret,
        Utc::now().timestamp(),
    );
    let mut delivered = false;
    for attempt in 0..2 {
        if attempt > 0 {
            tokio::time::sleep(RETRY_DELAY).await;
        }
        let sent = shared
            .http
            .post(&url)
            .header(signature::HEADER, &header)
            .header("content-type", "application/json")
            .body(body.clone())
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await;
        match sent {
            Ok(res) if res.status().is_success() => {
                delivered = true;
                break;
            }
            Ok(res) => tracing::warn!(url, status = %res.status(), attempt, "webhook refused"),
            Err(e) => tracing::warn!(url, error = %e, attempt, "webhook failed"),
        }
    }
    // Simulated duplicates: ElevenLabs may deliver the same event again.
    for _ in 0..shared.config.faults.webhook_duplicates {
        let _ = shared
            .http
            .post(&url)
            .header(signature::HEADER, &header)
            .header("content-type", "application/json")
            .body(body.clone())
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await;
    }
    conv.lock().webhook_delivered = Some(delivered);
}

/// The body ElevenLabs would send for this conversation.
fn post_call_transcription(c: &SimConversation) -> PostCallWebhook {
    let duration = c.duration_secs.unwrap_or_default();
    let first_agent = c
        .transcript
        .iter()
        .find(|t| t.role == Role::Agent)
        .and_then(|t| t.message.as_deref());
    let user_turns = c.transcript.iter().filter(|t| t.role == Role::User).count();
    let summary = match first_agent {
        Some(opening) => format!(
            "The agent opened with \"{opening}\"; the user answered {user_turns} time(s) \
             in a {} turn conversation.",
            c.transcript.len()
        ),
        None => "The agent did not speak.".to_owned(),
    };
    PostCallWebhook {
        event_timestamp: Some(Utc::now().timestamp()),
        event: WebhookEvent::PostCallTranscription(Box::new(PostCallTranscription {
            agent_id: Some(c.agent_id.clone()),
            conversation_id: c.conversation_id.clone(),
            status: Some("done".into()),
            transcript: c.transcript.clone(),
            metadata: Some(ConversationMetadata {
                start_time_unix_secs: Some(c.started_at.timestamp()),
                call_duration_secs: Some(duration.round() as i64),
                cost: None,
                termination_reason: c.ended_by.map(|e| e.termination_reason(c.close_code)),
                phone_call: None,
            }),
            analysis: Some(Analysis {
                call_successful: Some(CallSuccessful::Success),
                transcript_summary: Some(summary),
                call_summary_title: Some("Simulated sales call".into()),
                evaluation_criteria_results: Map::new(),
                data_collection_results: Map::new(),
            }),
            conversation_initiation_client_data: Some(c.client_data.clone()),
        })),
    }
}
