//! The media-stream WebSocket: only a stream carrying the token our TwiML gave the
//! call may open an agent conversation.

use futures::{SinkExt, StreamExt};
use outcall_domain::call::Call;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::support::TestServer;

const TOKEN: &str = "media-test-token";

async fn server() -> TestServer {
    TestServer::start_with(&[
        "--twilio-account-sid=AC00000000000000000000000000000001",
        &format!("--twilio-auth-token={TOKEN}"),
        "--twilio-from-number=+15005550006",
        "--twilio-api-base=http://127.0.0.1:9",
        "--elevenlabs-api-key=xi",
        "--elevenlabs-agent-id=agent",
        // Nothing listens here: a stream that got this far would fail loudly.
        "--elevenlabs-api-base=http://127.0.0.1:9",
    ])
    .await
}

fn start_frame(call_sid: &str, token: Option<&str>) -> String {
    let mut params = serde_json::Map::new();
    params.insert("callSid".into(), json!(call_sid));
    if let Some(t) = token {
        params.insert("token".into(), json!(t));
    }
    json!({
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": "MZ00000000000000000000000000000001",
        "start": {
            "accountSid": "AC00000000000000000000000000000001",
            "streamSid": "MZ00000000000000000000000000000001",
            "callSid": call_sid,
            "tracks": ["inbound"],
            "customParameters": params,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
        }
    })
    .to_string()
}

/// Connects as Twilio would, sends `connected` and `start`, and returns the close code.
async fn close_code_for(s: &TestServer, start: String) -> Option<u16> {
    let url = format!("{}/media-stream", s.base.replacen("http://", "ws://", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("connect");
    ws.send(Message::text(
        r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#,
    ))
    .await
    .expect("send connected");
    ws.send(Message::text(start)).await.expect("send start");
    while let Some(frame) = ws.next().await {
        match frame {
            Ok(Message::Close(Some(f))) => return Some(f.code.into()),
            Ok(Message::Close(None)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
    None
}

#[tokio::test]
async fn streams_without_a_valid_token_are_closed_before_any_agent_session() {
    let s = server().await;
    s.store
        .insert_call(Call::new("CAmedia", "+15005550006", "+14155552671"))
        .await
        .expect("insert");
    let forged = crate::support::media_token("not-the-auth-token", "CAmedia");
    let other_call = crate::support::media_token(TOKEN, "CAother");
    for (what, start) in [
        ("no token", start_frame("CAmedia", None)),
        ("forged token", start_frame("CAmedia", Some(&forged))),
        (
            "another call's token",
            start_frame("CAmedia", Some(&other_call)),
        ),
    ] {
        assert_eq!(close_code_for(&s, start).await, Some(1008), "{what}");
    }
    let call = s
        .store
        .get_call("CAmedia")
        .await
        .expect("get")
        .expect("call");
    assert_eq!(call.terminated_by, None, "a refused stream changes nothing");
    assert_eq!(s.total("/api/db/calls/CAmedia/events").await, 0);
}

#[tokio::test]
async fn an_agent_that_cannot_be_reached_ends_the_call_cleanly_and_says_why() {
    let s = server().await;
    s.store
        .insert_call(Call::new("CAnoagent", "+15005550006", "+14155552671"))
        .await
        .expect("insert");
    let token = crate::support::media_token(TOKEN, "CAnoagent");
    let code = close_code_for(&s, start_frame("CAnoagent", Some(&token))).await;
    assert_ne!(code, Some(1008), "a valid token is accepted");
    // The failure is recorded off the audio path: give it a moment.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let call = s
            .store
            .get_call("CAnoagent")
            .await
            .expect("get")
            .expect("call");
        let events = s
            .total("/api/db/calls/CAnoagent/events?eventType=conversation-failed")
            .await;
        if call.terminated_by.is_some() && events == 1 {
            assert_eq!(
                call.terminated_by,
                Some(outcall_domain::call::TerminatedBy::System)
            );
            assert!(call.termination_reason.is_some_and(|r| !r.is_empty()));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the failure was not recorded: {call:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
