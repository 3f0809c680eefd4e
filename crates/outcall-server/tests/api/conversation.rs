//! Whole calls end to end: the real Twilio and ElevenLabs clients against both
//! simulators, through the media bridge, with every webhook signed.

use std::time::Duration;

use outcall_sim::elevenlabs::{
    AgentScript, AgentTimings, ElevenLabsSim, ElevenLabsSimConfig, EndedBy,
};
use outcall_sim::twilio::{
    MediaConfig, Scenario, ScenarioBook, Timings, TwilioSim, TwilioSimConfig,
};
use serde_json::{Value, json};

use crate::support::TestServer;

pub(crate) struct World {
    pub server: TestServer,
    pub twilio: TwilioSim,
    pub eleven: ElevenLabsSim,
}

pub(crate) async fn world(scenario: Scenario, talk: Duration) -> World {
    world_with(scenario, talk, AgentScript::default()).await
}

/// A Twilio simulator with media streams on and fast timings.
async fn twilio_sim(scenario: Scenario, talk: Duration) -> TwilioSim {
    TwilioSim::start(TwilioSimConfig {
        timings: Timings {
            dial: Duration::from_millis(5),
            ring: Duration::from_millis(20),
            talk,
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

/// A server calling through `twilio`, with the given ElevenLabs flags.
async fn server_for(twilio: &TwilioSim, agent_flags: &[String]) -> TestServer {
    let mut flags = vec![
        format!("--twilio-account-sid={}", twilio.account_sid()),
        format!("--twilio-auth-token={}", twilio.auth_token()),
        "--twilio-from-number=+15005550006".to_string(),
        format!("--twilio-api-base={}", twilio.base_url()),
    ];
    flags.extend_from_slice(agent_flags);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    TestServer::start_with(&flags).await
}

async fn world_with(scenario: Scenario, talk: Duration, script: AgentScript) -> World {
    let twilio = twilio_sim(scenario, talk).await;
    let eleven = ElevenLabsSim::start(ElevenLabsSimConfig {
        timings: AgentTimings::fast(),
        script,
        ..Default::default()
    })
    .await
    .expect("ElevenLabs simulator");
    let server = server_for(
        &twilio,
        &[
            format!("--elevenlabs-api-key={}", eleven.api_key()),
            format!("--elevenlabs-agent-id={}", eleven.agent_id()),
            format!("--elevenlabs-webhook-secret={}", eleven.webhook_secret()),
            format!("--elevenlabs-api-base={}", eleven.base_url()),
        ],
    )
    .await;
    eleven.set_webhook_url(format!("{}/webhooks/elevenlabs", server.base));
    World {
        server,
        twilio,
        eleven,
    }
}

pub(crate) async fn place(s: &TestServer) -> String {
    let answer = s
        .post(
            "/api/outbound-call",
            json!({
                "to": "+14155552671",
                "contactName": "Ada <& \"Lovelace\">",
                "firstMessage": "Hi {{name}}, this is Sam. Got a minute?",
                "prompt": "Be brief & polite; never say \"guarantee\". Ünïcödé is fine.",
                "dynamicVariables": {"plan": "gold", "visits": 3, "vip": true}
            }),
        )
        .await;
    assert_eq!(answer.status.as_u16(), 201, "{answer:?}");
    answer.data()["callSid"]
        .as_str()
        .expect("callSid")
        .to_string()
}

/// Waits until the call ended and the post-call transcript is stored.
async fn finished(s: &TestServer, sid: &str) -> (Value, Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let call = s.get(&format!("/api/db/calls/{sid}")).await;
        let transcript = s.get(&format!("/api/db/transcripts/{sid}")).await;
        let ended = call.data()["status"] == "completed";
        let analysed = transcript.status.is_success() && transcript.data().get("summary").is_some();
        if ended && analysed {
            return (call.data().clone(), transcript.data().clone());
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not finished: {call:?} {transcript:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn event_types(s: &TestServer, sid: &str) -> Vec<String> {
    s.get(&format!("/api/db/calls/{sid}/events?limit=100"))
        .await
        .items()
        .iter()
        .map(|e| match e["eventType"].as_str() {
            Some("status-change") => {
                format!("status:{}", e["data"]["status"].as_str().unwrap_or("?"))
            }
            Some(other) => other.to_string(),
            None => "?".into(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_runs_end_to_end_and_the_agent_ends_it() {
    let w = world(Scenario::Human, Duration::from_secs(60)).await;
    let sid = place(&w.server).await;
    let (call, transcript) = finished(&w.server, &sid).await;

    assert_eq!(call["outcome"], "held");
    assert_eq!(
        call["terminatedBy"], "agent",
        "the agent's script ended the call"
    );
    assert_eq!(call["conversationId"], transcript["conversationId"]);
    assert_eq!(transcript["status"], "done");
    let turns = transcript["transcript"].as_array().expect("turns");
    let roles: Vec<&str> = turns.iter().filter_map(|t| t["role"].as_str()).collect();
    assert!(
        roles.contains(&"agent") && roles.contains(&"user"),
        "{roles:?}"
    );
    assert_eq!(
        turns[0]["message"], "Hi Ada <& \"Lovelace\">, this is Sam. Got a minute?",
        "the first-message override and the name variable reached the agent"
    );

    // The agent got the call's data before any audio, and audio flowed both ways.
    let convo = w
        .eleven
        .conversations()
        .into_iter()
        .next()
        .expect("one conversation");
    let vars = &convo.client_data["dynamic_variables"];
    assert_eq!(vars["call_sid"], sid.as_str());
    assert_eq!(vars["phone_number"], "+14155552671");
    assert_eq!(vars["plan"], "gold");
    assert_eq!(vars["vip"], true);
    assert_eq!(
        convo.client_data["conversation_config_override"]["agent"]["prompt"]["prompt"],
        "Be brief & polite; never say \"guarantee\". Ünïcödé is fine."
    );
    assert_eq!(convo.ended_by, Some(EndedBy::Agent));
    assert!(
        convo.user_audio_frames > 0,
        "callee audio reached the agent"
    );
    let media = w.twilio.call(&sid).expect("sim call").media_stats();
    assert!(media.stream_started);
    assert!(media.frames_received > 0, "agent audio reached the callee");
    assert_eq!(
        media.invalid_received, 0,
        "every frame we sent Twilio was valid"
    );

    // The post-call webhook stores the transcript, then its event: wait for the event.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let events = loop {
        let events = event_types(&w.server, &sid).await;
        if events.iter().any(|e| e == "conversation-completed")
            || tokio::time::Instant::now() >= deadline
        {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let position = |e: &str| {
        events
            .iter()
            .position(|x| x == e)
            .unwrap_or_else(|| panic!("{e} missing: {events:?}"))
    };
    assert!(position("status:initiated") < position("status:ringing"));
    assert!(position("status:ringing") < position("status:in-progress"));
    assert!(position("status:in-progress") < position("conversation-started"));
    assert!(position("conversation-started") < position("status:completed"));
    assert!(position("conversation-completed") > position("conversation-started"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callee_who_hangs_up_mid_conversation_is_recorded_as_such() {
    let w = world(Scenario::CalleeHangsUp, Duration::from_millis(150)).await;
    let sid = place(&w.server).await;
    let (call, _) = finished(&w.server, &sid).await;
    assert_eq!(call["terminatedBy"], "callee");
    assert_eq!(call["outcome"], "held");
    let convo = w
        .eleven
        .conversations()
        .into_iter()
        .next()
        .expect("one conversation");
    assert_eq!(
        convo.ended_by,
        Some(EndedBy::Client),
        "the bridge closed the agent side"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_network_ends_the_conversation_and_the_call() {
    let w = world(Scenario::NetworkDrop, Duration::from_millis(150)).await;
    let sid = place(&w.server).await;
    let (call, _) = finished(&w.server, &sid).await;
    assert_eq!(
        call["terminatedBy"], "callee",
        "the Twilio side ended first"
    );
    assert_eq!(call["terminationReason"], "stream dropped");
    let convo = w
        .eleven
        .conversations()
        .into_iter()
        .next()
        .expect("one conversation");
    assert_eq!(
        convo.ended_by,
        Some(EndedBy::Client),
        "the agent side was closed too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interruption_sends_twilio_a_clear() {
    let script = AgentScript {
        interrupt_after_turn: Some(1),
        ..AgentScript::default()
    };
    let w = world_with(Scenario::Human, Duration::from_secs(60), script).await;
    let sid = place(&w.server).await;
    let (_, transcript) = finished(&w.server, &sid).await;
    let media = w.twilio.call(&sid).expect("sim call").media_stats();
    assert_eq!(media.clears_received, 1, "one interruption, one clear");
    let turns = transcript["transcript"].as_array().expect("turns");
    assert!(turns.iter().any(|t| t["role"] == "user"));
}

/// A stand-in agent whose connection breaks mid-call: it answers the signed-URL
/// request, greets, then drops the TCP connection without a close frame.
async fn breaking_agent() -> String {
    use axum::extract::ws::{Message, WebSocketUpgrade};
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let ws_url = format!(
        "{}/v1/convai/conversation?agent_id=a",
        base.replacen("http", "ws", 1)
    );
    let app = axum::Router::new()
        .route(
            "/v1/convai/conversation/get-signed-url",
            get(move || {
                let url = ws_url.clone();
                async move { axum::Json(json!({ "signed_url": url })) }
            }),
        )
        .route(
            "/v1/convai/conversation",
            get(|ws: WebSocketUpgrade| async move {
                ws.on_upgrade(|mut socket| async move {
                    let _client_data = socket.recv().await;
                    let hello = json!({"type": "conversation_initiation_metadata", "conversation_initiation_metadata_event": {"conversation_id": "conv_break", "agent_output_audio_format": "ulaw_8000", "user_input_audio_format": "ulaw_8000"}});
                    let _ = socket.send(Message::Text(hello.to_string().into())).await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    // Dropping the socket without a close frame: the connection just ends.
                    drop(socket);
                })
            }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_connection_lost_mid_call_is_recorded_and_the_call_ended() {
    let twilio = twilio_sim(Scenario::Human, Duration::from_secs(60)).await;
    let agent = breaking_agent().await;
    let agent_flags = [
        "--elevenlabs-api-key=xi".to_string(),
        "--elevenlabs-agent-id=a".to_string(),
        format!("--elevenlabs-api-base={agent}"),
    ];
    let s = server_for(&twilio, &agent_flags).await;
    let sid = place(&s).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let call = loop {
        let call = s.get(&format!("/api/db/calls/{sid}")).await.data().clone();
        if call["status"] == "completed" && call.get("terminatedBy").is_some() {
            break call;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the call did not end: {call}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(call["terminatedBy"], "system", "{call}");
    assert_eq!(call["conversationId"], "conv_break");
    assert!(
        call["terminationReason"]
            .as_str()
            .is_some_and(|r| r.contains("agent connection lost")),
        "{call}"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while s
        .total(&format!(
            "/api/db/calls/{sid}/events?eventType=conversation-failed"
        ))
        .await
        != 1
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no conversation-failed event"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
