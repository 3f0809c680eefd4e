//! The media-stream WebSocket: only a stream carrying the token our TwiML gave the
//! call may open an agent conversation; an authentic one is never refused because
//! the call record is late; the agent side is bounded in time and made ready while
//! the phone rings (`AGENT_PREWARM`), without opening anything billable for a
//! callee who never answers.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use outcall_domain::call::{Call, TerminatedBy};
use outcall_sim::elevenlabs::{
    AgentScript, AgentTimings, ElevenLabsFaults, ElevenLabsSim, ElevenLabsSimConfig,
};
use outcall_sim::twilio::{
    MediaConfig, Scenario, ScenarioBook, Timings, TwilioSim, TwilioSimConfig,
};
use serde_json::{Value, json};
use tokio::time::Instant;
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

/// Waits until `check` holds, polling; panics with `what` after `secs`.
async fn eventually<T>(secs: u64, what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn eleven_sim(faults: ElevenLabsFaults) -> ElevenLabsSim {
    ElevenLabsSim::start(ElevenLabsSimConfig {
        timings: AgentTimings::fast(),
        // Long enough that the agent never ends these calls itself.
        script: AgentScript {
            agent_lines: vec!["Hello there, this is the agent speaking.".into(); 400],
            ..AgentScript::default()
        },
        faults,
        ..Default::default()
    })
    .await
    .expect("ElevenLabs simulator")
}

fn eleven_flags(eleven: &ElevenLabsSim) -> Vec<String> {
    vec![
        format!("--elevenlabs-api-key={}", eleven.api_key()),
        format!("--elevenlabs-agent-id={}", eleven.agent_id()),
        format!("--elevenlabs-webhook-secret={}", eleven.webhook_secret()),
        format!("--elevenlabs-api-base={}", eleven.base_url()),
    ]
}

/// A Twilio simulator with media streams and the given ring time and scenario.
async fn twilio_sim(scenario: Scenario, ring: Duration) -> TwilioSim {
    TwilioSim::start(TwilioSimConfig {
        timings: Timings {
            dial: Duration::from_millis(5),
            ring,
            talk: Duration::from_secs(60),
            amd: Duration::from_millis(10),
        },
        scenarios: ScenarioBook::all(scenario),
        media: MediaConfig {
            enabled: true,
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .expect("Twilio simulator")
}

async fn calling_server(twilio: &TwilioSim, eleven: &ElevenLabsSim, extra: &[&str]) -> TestServer {
    let mut flags = vec![
        format!("--twilio-account-sid={}", twilio.account_sid()),
        format!("--twilio-auth-token={}", twilio.auth_token()),
        "--twilio-from-number=+15005550006".to_string(),
        format!("--twilio-api-base={}", twilio.base_url()),
        "--record-calls=false".to_string(),
    ];
    flags.extend(eleven_flags(eleven));
    flags.extend(extra.iter().map(|f| f.to_string()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let s = TestServer::start_with(&flags).await;
    eleven.set_webhook_url(format!("{}/webhooks/elevenlabs", s.base));
    s
}

async fn place_call(s: &TestServer) -> String {
    let answer = s
        .post(
            "/api/outbound-call",
            json!({"to": "+14155552671", "contactName": "Grace"}),
        )
        .await;
    assert_eq!(answer.status.as_u16(), 201, "{answer:?}");
    answer.data()["callSid"]
        .as_str()
        .expect("callSid")
        .to_string()
}

/// The simulator's conversation of `call_sid`, once its client data arrived.
fn conversation_of(eleven: &ElevenLabsSim, call_sid: &str) -> Option<Value> {
    eleven
        .conversations()
        .into_iter()
        .find(|c| c.client_data["dynamic_variables"]["call_sid"] == call_sid)
        .map(|c| c.client_data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_start_arrives_before_the_call_record_is_not_refused() {
    let eleven = eleven_sim(ElevenLabsFaults::default()).await;
    let mut flags = vec![
        "--twilio-account-sid=AC00000000000000000000000000000001".to_string(),
        format!("--twilio-auth-token={TOKEN}"),
        "--twilio-from-number=+15005550006".to_string(),
        "--twilio-api-base=http://127.0.0.1:9".to_string(),
    ];
    flags.extend(eleven_flags(&eleven));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let s = TestServer::start_with(&flags).await;
    let url = format!("{}/media-stream", s.base.replacen("http://", "ws://", 1));

    // Twilio's `start` for a call whose record is written 300 ms later, and for one
    // whose record never comes (the store never had it): both are authentic.
    let mut streams = Vec::new();
    for sid in ["CAlate", "CAnever"] {
        let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("connect");
        let token = crate::support::media_token(TOKEN, sid);
        ws.send(Message::text(start_frame(sid, Some(&token))))
            .await
            .expect("send start");
        streams.push(ws);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut late = Call::new("CAlate", "+15005550006", "+14155552671");
    late.contact_name = Some("Late Record".into());
    s.store.insert_call(late).await.expect("insert");

    // The late record's details reached the agent; the missing one did not block.
    let data = eventually(10, "the late call's conversation", async || {
        conversation_of(&eleven, "CAlate")
    })
    .await;
    assert_eq!(data["dynamic_variables"]["name"], "Late Record");
    assert_eq!(data["dynamic_variables"]["phone_number"], "+14155552671");
    let data = eventually(10, "the unrecorded call's conversation", async || {
        conversation_of(&eleven, "CAnever")
    })
    .await;
    assert_eq!(data["dynamic_variables"]["call_sid"], "CAnever");
    // Neither stream was closed: agent audio flows to both.
    for ws in &mut streams {
        let got = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(m)) = ws.next().await {
                if let Message::Text(t) = &m
                    && t.as_str().contains("\"media\"")
                {
                    return true;
                }
                if let Message::Close(_) = m {
                    return false;
                }
            }
            false
        })
        .await;
        assert_eq!(got, Ok(true), "agent audio, not a close");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_connect_that_never_answers_ends_the_call_through_twilio() {
    let twilio = twilio_sim(Scenario::Human, Duration::from_millis(20)).await;
    let eleven = eleven_sim(ElevenLabsFaults {
        connect_hang_rate: 1.0,
        ..Default::default()
    })
    .await;
    let s = calling_server(&twilio, &eleven, &["--agent-connect-timeout-ms=400"]).await;
    let started = Instant::now();
    let sid = place_call(&s).await;
    let reason = ended_by_the_system(&s, &twilio, &sid).await;
    assert!(reason.contains("timed out after 400 ms"), "{reason}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "ended by the 400 ms bound, not a socket default: {:?}",
        started.elapsed()
    );
    assert!(eleven.conversations().is_empty(), "no conversation started");
    eventually(5, "the conversation-failed event", async || {
        let n = s
            .total(&format!(
                "/api/db/calls/{sid}/events?eventType=conversation-failed"
            ))
            .await;
        (n == 1).then_some(())
    })
    .await;
}

/// An agent that takes the client data but never starts the conversation (no
/// metadata, no audio) would leave the callee in silence until the call's time limit:
/// the call is ended through Twilio after the connect timeout, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_agent_ends_the_call_through_twilio() {
    let twilio = twilio_sim(Scenario::Human, Duration::from_millis(20)).await;
    let eleven = eleven_sim(ElevenLabsFaults {
        silent_rate: 1.0,
        ..Default::default()
    })
    .await;
    let s = calling_server(&twilio, &eleven, &["--agent-connect-timeout-ms=400"]).await;
    let sid = place_call(&s).await;
    let reason = ended_by_the_system(&s, &twilio, &sid).await;
    assert!(
        reason.contains("did not start the conversation within 400 ms"),
        "{reason}"
    );
}

/// Waits for the call to be recorded ended by the system and hung up live at Twilio;
/// the reason it was given.
async fn ended_by_the_system(s: &TestServer, twilio: &TwilioSim, sid: &str) -> String {
    let call = eventually(10, "the call ended by the system", async || {
        let call = s.store.get_call(sid).await.ok().flatten()?;
        (call.terminated_by.is_some() && call.status.is_terminal()).then_some(call)
    })
    .await;
    assert_eq!(call.terminated_by, Some(TerminatedBy::System));
    let sim_call = twilio.call(sid).expect("sim call");
    // The end is recorded before the hang-up request reaches Twilio: wait for it.
    let _ = tokio::time::timeout(Duration::from_secs(5), sim_call.hangup_asked()).await;
    assert_eq!(sim_call.hangup_requested(), Some(false), "hung up live");
    call.termination_reason.unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pre_opened_socket_the_agent_closes_before_the_answer_is_replaced() {
    // The phone rings 1.5 s; the agent drops a socket with no client data after 200 ms.
    let twilio = twilio_sim(Scenario::Human, Duration::from_millis(1500)).await;
    let eleven = eleven_sim(ElevenLabsFaults {
        init_timeout: Duration::from_millis(200),
        ..Default::default()
    })
    .await;
    let s = calling_server(&twilio, &eleven, &["--agent-prewarm=socket"]).await;
    let sid = place_call(&s).await;
    let data = eventually(15, "the conversation", async || {
        conversation_of(&eleven, &sid)
    })
    .await;
    assert_eq!(data["dynamic_variables"]["name"], "Grace");
    let sockets = eleven.sockets();
    assert!(
        sockets.closed_by_agent_before_initiation >= 1,
        "the agent closed a waiting socket: {sockets:?}"
    );
    assert_eq!(sockets.initiated, 1, "{sockets:?}");
    // Audio flows; the call is not ended by the lost socket.
    eventually(10, "agent audio at the callee", async || {
        let m = twilio.call(&sid)?.media_stats();
        (m.frames_received > 0).then_some(())
    })
    .await;
    let call = s.store.get_call(&sid).await.expect("get").expect("call");
    assert_eq!(call.terminated_by, None, "{call:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callee_who_never_answers_starts_no_conversation_at_any_prewarm_depth() {
    for (depth, sockets_expected) in [("url", 0), ("socket", 1), ("off", 0)] {
        let twilio = twilio_sim(Scenario::NoAnswer, Duration::from_millis(400)).await;
        let eleven = eleven_sim(ElevenLabsFaults::default()).await;
        let flag = format!("--agent-prewarm={depth}");
        let s = calling_server(&twilio, &eleven, &[&flag]).await;
        let sid = place_call(&s).await;
        eventually(10, "no-answer recorded", async || {
            let call = s.store.get_call(&sid).await.ok().flatten()?;
            (call.status.as_str() == "no-answer").then_some(())
        })
        .await;
        // What the chosen depth opened is closed once the call ended unanswered.
        let sockets = eventually(5, "pre-opened sockets closed", async || {
            let st = eleven.sockets();
            (st.closed_before_initiation == st.opened).then_some(st)
        })
        .await;
        assert_eq!(sockets.opened, sockets_expected, "{depth}: {sockets:?}");
        assert_eq!(sockets.initiated, 0, "{depth}: no conversation started");
        assert!(eleven.conversations().is_empty(), "{depth}");
        if depth == "socket" {
            assert!(
                sockets.seconds_before_initiation < 2.0,
                "the socket lived only while it rang: {sockets:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_signed_url_ends_the_answered_call_with_the_reason() {
    let twilio = twilio_sim(Scenario::Human, Duration::from_millis(20)).await;
    let eleven = eleven_sim(ElevenLabsFaults {
        signed_url_failure_rate: 1.0,
        ..Default::default()
    })
    .await;
    let s = calling_server(&twilio, &eleven, &[]).await;
    let sid = place_call(&s).await;
    let call = eventually(10, "the call ended by the system", async || {
        let call = s.store.get_call(&sid).await.ok().flatten()?;
        (call.terminated_by.is_some() && call.status.is_terminal()).then_some(call)
    })
    .await;
    assert_eq!(call.terminated_by, Some(TerminatedBy::System));
    let reason = call.termination_reason.unwrap_or_default();
    assert!(reason.contains("503"), "{reason}");
    let sim_call = twilio.call(&sid).expect("sim");
    // The end is recorded before the hang-up request reaches Twilio: wait for it.
    let _ = tokio::time::timeout(Duration::from_secs(5), sim_call.hangup_asked()).await;
    assert_eq!(sim_call.hangup_requested(), Some(false), "hung up live");
    assert_eq!(eleven.sockets().opened, 0, "{:?}", eleven.sockets());
}
