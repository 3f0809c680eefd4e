//! ElevenLabs' post-call audio fits the webhook's own body limit, and a redelivered
//! webhook adds nothing to the call's timeline.

use outcall_domain::call::Call;
use outcall_domain::transcript::Transcript;
use serde_json::json;

use super::{EL_SECRET, el_sign, post_elevenlabs};
use crate::support::{Backend, TestServer, on_each_backend};

const MIB: usize = 1024 * 1024;

/// A `post_call_audio` body whose base64 audio is `audio_len` characters.
fn audio_body(conversation_id: &str, audio_len: usize) -> String {
    // "SUQz" is base64 for "ID3", the start of an MP3 file.
    let audio = "SUQz".repeat(audio_len / 4);
    json!({
        "type": "post_call_audio",
        "event_timestamp": chrono::Utc::now().timestamp(),
        "data": {"agent_id": "agent_1", "conversation_id": conversation_id, "full_audio": audio}
    })
    .to_string()
}

/// POSTs a body the server may refuse before reading it all (unsigned, or declared
/// too large): then it answers at once and closes, and a client still writing sees
/// the connection go (`None`) rather than the answer, as a proxy or ElevenLabs would.
/// Its own client, keeping no connection: the one the server closed is not reused.
async fn post_refused(s: &TestServer, body: &str, signature: Option<String>) -> Option<u16> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let mut req = client
        .post(format!("{}/webhooks/elevenlabs", s.base))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(sig) = signature {
        req = req.header("elevenlabs-signature", sig);
    }
    match req.send().await {
        Ok(res) => Some(res.status().as_u16()),
        Err(e) if format!("{e:?}").contains("BodyWrite") => None,
        Err(e) => panic!("request: {e:?}"),
    }
}

fn signed(body: &str) -> Option<String> {
    Some(el_sign(body, chrono::Utc::now().timestamp()))
}

/// A call whose conversation `conv` has a transcript, as the bridge leaves it.
async fn call_with_conversation(s: &TestServer, sid: &str, conv: &str) {
    s.store
        .insert_call(Call::new(sid, "+15005550006", "+14155552671"))
        .await
        .expect("insert call");
    let mut t = Transcript::new(sid);
    t.conversation_id = Some(conv.into());
    s.store
        .insert_transcript(t)
        .await
        .expect("insert transcript");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_call_audio_larger_than_the_body_limit_is_taken_once() {
    on_each_backend(post_call_audio_larger_than_the_body_limit_is_taken_once_on).await;
}

async fn post_call_audio_larger_than_the_body_limit_is_taken_once_on(backend: Backend) {
    let s = TestServer::start_on_backend(
        backend,
        &[
            &format!("--elevenlabs-webhook-secret={EL_SECRET}"),
            "--body-limit-bytes=1048576",
            &format!("--elevenlabs-webhook-max-bytes={}", 4 * MIB),
        ],
    )
    .await;
    call_with_conversation(&s, "CAaudio", "conv_audio").await;
    let events = "/api/db/calls/CAaudio/events?eventType=conversation-audio";

    // Three times the server-wide limit, as a few minutes of a call's audio are.
    let body = audio_body("conv_audio", 3 * MIB);
    assert!(body.len() > 3 * MIB);
    let unsigned = post_refused(&s, &body, None).await;
    assert!(
        matches!(unsigned, Some(401) | None),
        "unsigned: {unsigned:?}"
    );
    let tampered = body.replacen("SUQz", "SUQy", 1);
    assert_eq!(
        post_elevenlabs(&s, &tampered, signed(&body)).await,
        401,
        "the signature covers the whole body"
    );
    assert_eq!(s.total(events).await, 0);
    assert_eq!(post_elevenlabs(&s, &body, signed(&body)).await, 200);
    assert_eq!(
        post_elevenlabs(&s, &body, signed(&body)).await,
        200,
        "redelivered"
    );
    let noted = s.get(events).await;
    assert_eq!(noted.items().len(), 1, "one note of the audio per call");
    assert_eq!(noted.items()[0]["data"]["conversationId"], "conv_audio");
    assert_eq!(noted.items()[0]["data"]["audioBytes"], 3 * MIB / 4 * 3);

    // Past ELEVENLABS_WEBHOOK_MAX_BYTES: 413, nothing kept.
    call_with_conversation(&s, "CAbig", "conv_big").await;
    let big = audio_body("conv_big", 5 * MIB);
    let refused = post_refused(&s, &big, signed(&big)).await;
    assert!(
        matches!(refused, Some(413) | None),
        "too large: {refused:?}"
    );
    assert_eq!(s.total("/api/db/calls/CAbig/events").await, 0);

    // Audio of a conversation outcall has no call for is acknowledged, not failed.
    let stray = audio_body("conv_unknown", 1024);
    assert_eq!(post_elevenlabs(&s, &stray, signed(&stray)).await, 200);
    // Without its conversation it is malformed.
    let nameless = json!({"type": "post_call_audio", "data": {"full_audio": "SUQz"}}).to_string();
    assert_eq!(post_elevenlabs(&s, &nameless, signed(&nameless)).await, 400);
}

#[tokio::test]
async fn the_default_limit_takes_a_long_calls_audio() {
    let s = TestServer::start_with(&[&format!("--elevenlabs-webhook-secret={EL_SECRET}")]).await;
    call_with_conversation(&s, "CAlong", "conv_long").await;
    // About twenty minutes of MP3 at 64 kbit/s, base64.
    let body = audio_body("conv_long", 13 * MIB);
    assert_eq!(post_elevenlabs(&s, &body, signed(&body)).await, 200);
    assert_eq!(
        s.total("/api/db/calls/CAlong/events?eventType=conversation-audio")
            .await,
        1
    );
}

#[tokio::test]
async fn a_redelivered_initiation_failure_is_recorded_once() {
    on_each_backend(a_redelivered_initiation_failure_is_recorded_once_on).await;
}

async fn a_redelivered_initiation_failure_is_recorded_once_on(backend: Backend) {
    let s = TestServer::start_on_backend(
        backend,
        &[&format!("--elevenlabs-webhook-secret={EL_SECRET}")],
    )
    .await;
    s.store
        .insert_call(Call::new("CAfail", "+15005550006", "+14155552671"))
        .await
        .expect("insert");
    let body = json!({
        "type": "call_initiation_failure",
        "event_timestamp": chrono::Utc::now().timestamp(),
        "data": {
            "agent_id": "agent_1",
            "conversation_id": "conv_fail",
            "failure_reason": "busy",
            "conversation_initiation_client_data": {"dynamic_variables": {"call_sid": "CAfail"}}
        }
    })
    .to_string();
    for delivery in 1..=3 {
        assert_eq!(
            post_elevenlabs(&s, &body, signed(&body)).await,
            200,
            "delivery {delivery}"
        );
    }
    let events = s
        .get("/api/db/calls/CAfail/events?eventType=conversation-failed")
        .await;
    assert_eq!(events.items().len(), 1, "one failure, one event");
    assert_eq!(events.items()[0]["data"]["reason"], "busy");
    let call = s
        .store
        .get_call("CAfail")
        .await
        .expect("get")
        .expect("call");
    assert_eq!(
        call.error_message.as_deref(),
        Some("the agent conversation could not start: busy")
    );
}
