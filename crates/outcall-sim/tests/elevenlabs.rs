//! The ElevenLabs simulator driven by a tokio-tungstenite client playing the
//! bridge: signed-URL auth, refused signatures, a whole scripted conversation
//! with its signed webhook, interruption and client hang-up, and pong timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use futures::{Sink, SinkExt, Stream, StreamExt};
use outcall_elevenlabs::convai::{
    ClientMessage, ConversationInitiationClientData, Pong, ServerMessage, user_audio_chunk_json,
};
use outcall_elevenlabs::webhook::{Role, WebhookEvent};
use outcall_elevenlabs::{ElevenLabsClient, ElevenLabsError, PostCallWebhook, signature};
use outcall_sim::elevenlabs::{
    AgentScript, AgentTimings, ElevenLabsSim, ElevenLabsSimConfig, EndedBy, SimConversation,
};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(3);
/// 160 bytes of μ-law silence.
const SILENCE: &str = "/////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////w==";

async fn start(timings: AgentTimings, script: AgentScript) -> ElevenLabsSim {
    ElevenLabsSim::start(ElevenLabsSimConfig {
        timings,
        script,
        ..ElevenLabsSimConfig::default()
    })
    .await
    .expect("sim starts")
}

async fn signed_url(sim: &ElevenLabsSim) -> String {
    ElevenLabsClient::new(sim.base_url(), sim.api_key())
        .expect("client")
        .signed_url(sim.agent_id())
        .await
        .expect("signed URL")
}

async fn open(sim: &ElevenLabsSim, data: ConversationInitiationClientData) -> Ws {
    let (mut ws, _) = connect_async(signed_url(sim).await)
        .await
        .expect("connects");
    send(
        &mut ws,
        ClientMessage::ConversationInitiationClientData(data),
    )
    .await;
    ws
}

async fn send<S: Sink<Message, Error = WsError> + Unpin>(ws: &mut S, message: ClientMessage) {
    ws.send(Message::Text(message.to_json().into()))
        .await
        .expect("send");
}

/// The next server message, or `Err(close code)` when the server closes.
async fn next<S: Stream<Item = Result<Message, WsError>> + Unpin>(
    ws: &mut S,
) -> Result<ServerMessage, Option<u16>> {
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("server answers in time");
        match frame {
            Some(Ok(Message::Text(text))) => {
                return Ok(ServerMessage::parse(text.as_str()).expect("server JSON"));
            }
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => {}
            None | Some(Err(_)) => return Err(None),
        }
    }
}

fn refused_status(result: Result<(Ws, impl Sized), WsError>) -> u16 {
    match result {
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("connection should be refused"),
    }
}

/// A webhook endpoint on loopback; `fail_first` answers 500 once.
struct Hooks {
    url: String,
    rx: mpsc::UnboundedReceiver<(Option<String>, Bytes)>,
}

impl Hooks {
    async fn start(fail_first: bool) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let failed = Arc::new(AtomicBool::new(!fail_first));
        let app = axum::Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let (tx, failed) = (tx.clone(), failed.clone());
                async move {
                    let sig = headers
                        .get(signature::HEADER)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    tx.send((sig, body)).expect("test alive");
                    if failed.swap(true, Ordering::SeqCst) {
                        StatusCode::OK
                    } else {
                        StatusCode::INTERNAL_SERVER_ERROR
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        Self { url, rx }
    }

    /// The next delivery, verified against the sim's secret, parsed.
    async fn next(&mut self, secret: &str) -> PostCallWebhook {
        let (sig, body) = tokio::time::timeout(WAIT, self.rx.recv())
            .await
            .expect("webhook in time")
            .expect("channel open");
        signature::verify_now(sig.as_deref(), &body, secret).expect("valid signature");
        PostCallWebhook::parse(&body).expect("webhook JSON")
    }
}

/// The sim's record of its only conversation once `done` holds.
async fn wait_for(sim: &ElevenLabsSim, done: impl Fn(&SimConversation) -> bool) -> SimConversation {
    for _ in 0..200 {
        if let Some(c) = sim.conversations().into_iter().next().filter(|c| done(c)) {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "conversation not in the expected state: {:?}",
        sim.conversations()
    );
}

#[tokio::test]
async fn signed_url_requires_the_key_and_the_agent() {
    let sim = start(AgentTimings::fast(), AgentScript::default()).await;
    let http = reqwest::Client::new();
    let endpoint = format!("{}/v1/convai/conversation/get-signed-url", sim.base_url());
    let get = |key: Option<&str>, agent: Option<&str>| {
        let mut req = http.get(&endpoint);
        if let Some(key) = key {
            req = req.header("xi-api-key", key);
        }
        if let Some(agent) = agent {
            req = req.query(&[("agent_id", agent)]);
        }
        req.send()
    };
    let wrong = get(Some("nope"), Some("agent_sim")).await.expect("answer");
    assert_eq!(wrong.status().as_u16(), 401);
    let body: serde_json::Value = wrong.json().await.expect("JSON error");
    assert_eq!(body["detail"]["status"], "invalid_api_key");
    let missing_key = get(None, Some("agent_sim")).await.expect("answer");
    assert_eq!(missing_key.status().as_u16(), 401);
    let unknown = get(Some("sim-xi-key"), Some("agent_x"))
        .await
        .expect("answer");
    assert_eq!(unknown.status().as_u16(), 404);
    let no_agent = get(Some("sim-xi-key"), None).await.expect("answer");
    assert_eq!(no_agent.status().as_u16(), 404);

    let url = signed_url(&sim).await;
    let ws_base = sim.base_url().replace("http://", "ws://");
    let prefix =
        format!("{ws_base}/v1/convai/conversation?agent_id=agent_sim&conversation_signature=");
    assert!(url.starts_with(&prefix), "{url}");
    assert!(url.len() > prefix.len() + 20, "{url}");

    let err = ElevenLabsClient::new(sim.base_url(), "bad")
        .expect("client")
        .signed_url("agent_sim")
        .await
        .expect_err("wrong key");
    assert!(
        matches!(&err, ElevenLabsError::Api { status: 401, code: Some(c), .. } if c == "invalid_api_key"),
        "{err:?}"
    );
}

#[tokio::test]
async fn forged_reused_foreign_and_expired_signatures_are_refused() {
    let timings = AgentTimings {
        signed_url_ttl: Duration::from_millis(100),
        ..AgentTimings::fast()
    };
    let sim = start(timings, AgentScript::default()).await;
    let base = format!(
        "{}/v1/convai/conversation",
        sim.base_url().replace("http://", "ws://")
    );
    let forged = format!("{base}?agent_id=agent_sim&conversation_signature=forged");
    assert_eq!(refused_status(connect_async(forged).await), 403);
    assert_eq!(
        refused_status(connect_async(format!("{base}?agent_id=agent_sim")).await),
        401
    );

    let url = signed_url(&sim).await;
    let (mut ws, _) = connect_async(&url).await.expect("first use");
    ws.close(None).await.expect("close");
    assert_eq!(refused_status(connect_async(&url).await), 403);

    let foreign = signed_url(&sim)
        .await
        .replace("agent_id=agent_sim", "agent_id=agent_x");
    assert_eq!(refused_status(connect_async(foreign).await), 403);

    let stale = signed_url(&sim).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(refused_status(connect_async(stale).await), 403);
    assert!(sim.conversations().is_empty());
}

#[tokio::test]
async fn first_message_must_be_the_client_data() {
    let sim = start(AgentTimings::fast(), AgentScript::default()).await;
    let (mut ws, _) = connect_async(signed_url(&sim).await)
        .await
        .expect("connects");
    ws.send(Message::Text(user_audio_chunk_json(SILENCE).into()))
        .await
        .expect("send");
    assert_eq!(next(&mut ws).await, Err(Some(1008)));
    assert!(sim.conversations().is_empty());
}

#[tokio::test]
async fn a_whole_conversation_then_a_signed_webhook() {
    let timings = AgentTimings {
        ping_every: Duration::from_millis(20),
        ..AgentTimings::fast()
    };
    let script = AgentScript::default();
    let sim = start(timings, script.clone()).await;
    let mut hooks = Hooks::start(false).await;
    sim.set_webhook_url(&hooks.url);
    let data = ConversationInitiationClientData::new().with_variable("call_sid", "CA_test_123");
    let (mut tx, mut rx) = open(&sim, data).await.split();

    // Play the bridge: stream user audio every 2 ms, answer pings at once.
    let mut events = Vec::new();
    let mut frames = tokio::time::interval(Duration::from_millis(2));
    let close_code = loop {
        tokio::select! {
            _ = frames.tick() => {
                let _ = tx.send(Message::Text(user_audio_chunk_json(SILENCE).into())).await;
            }
            message = next(&mut rx) => match message {
                Ok(ServerMessage::Ping(p)) => {
                    send(&mut tx, ClientMessage::Pong(Pong { event_id: p.event_id })).await;
                    events.push(ServerMessage::Ping(p));
                }
                Ok(m) => events.push(m),
                Err(code) => break code,
            },
        }
    };
    // Reading on sends our reply to the close.
    let _ = tokio::time::timeout(Duration::from_millis(200), rx.next()).await;
    assert_eq!(close_code, Some(1000));

    let ServerMessage::ConversationInitiationMetadata(meta) = &events[0] else {
        panic!("first event is {:?}", events[0]);
    };
    assert_eq!(meta.agent_output_audio_format.as_deref(), Some("ulaw_8000"));
    assert_eq!(meta.user_input_audio_format.as_deref(), Some("ulaw_8000"));
    let mut said = Vec::new();
    let (mut ids, mut pings, mut audio_after_line) = (Vec::new(), 0, 0);
    for event in &events[1..] {
        match event {
            ServerMessage::AgentResponse(r) => said.push((Role::Agent, r.agent_response.clone())),
            ServerMessage::UserTranscript(t) => said.push((Role::User, t.user_transcript.clone())),
            ServerMessage::Audio(a) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(&a.audio_base_64)
                    .expect("base64 audio");
                assert_eq!(bytes.len(), 160);
                ids.push(a.event_id);
                if said.last().is_some_and(|(role, _)| *role == Role::Agent) {
                    audio_after_line += 1;
                }
            }
            ServerMessage::Ping(p) => {
                ids.push(p.event_id);
                pings += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let l = &script.agent_lines;
    let u = &script.user_lines;
    let expected = vec![
        (Role::Agent, l[0].clone()),
        (Role::User, u[0].clone()),
        (Role::Agent, l[1].clone()),
        (Role::User, u[1].clone()),
        (Role::Agent, l[2].clone()),
    ];
    assert_eq!(said, expected);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "event ids increase: {ids:?}"
    );
    assert!(
        audio_after_line >= 3 && pings >= 1,
        "{audio_after_line} audio, {pings} pings"
    );

    let hook = hooks.next(sim.webhook_secret()).await;
    assert_eq!(hook.kind(), "post_call_transcription");
    let WebhookEvent::PostCallTranscription(t) = hook.event else {
        panic!("not a transcription");
    };
    assert_eq!(t.conversation_id, meta.conversation_id);
    assert_eq!(t.agent_id.as_deref(), Some("agent_sim"));
    assert_eq!(t.status.as_deref(), Some("done"));
    assert_eq!(t.call_sid(), Some("CA_test_123"));
    let spoken: Vec<_> = t
        .transcript
        .iter()
        .map(|turn| (turn.role, turn.message.clone().expect("message")))
        .collect();
    assert_eq!(spoken, expected);
    let times: Vec<f64> = t
        .transcript
        .iter()
        .filter_map(|turn| turn.time_in_call_secs)
        .collect();
    assert!(
        times.len() == 5 && times.windows(2).all(|w| w[0] <= w[1]),
        "{times:?}"
    );
    let metadata = t.metadata.as_ref().expect("metadata");
    assert_eq!(
        metadata.termination_reason.as_deref(),
        Some("end_call tool was called.")
    );
    assert!(
        t.analysis
            .as_ref()
            .is_some_and(|a| a.transcript_summary.is_some())
    );

    let record = wait_for(&sim, |c| c.webhook_delivered.is_some()).await;
    assert_eq!(record.ended_by, Some(EndedBy::Agent));
    assert_eq!(record.webhook_delivered, Some(true));
    assert_eq!(
        record.client_data["dynamic_variables"]["call_sid"],
        "CA_test_123"
    );
    assert!(
        record.user_audio_frames >= 10,
        "{}",
        record.user_audio_frames
    );
    assert_eq!(record.invalid_audio_frames, 0);
}

#[tokio::test]
async fn interruption_override_and_client_hang_up() {
    let timings = AgentTimings {
        speech_per_char: Duration::from_millis(5),
        ..AgentTimings::fast()
    };
    let script = AgentScript {
        interrupt_after_turn: Some(0),
        ..AgentScript::default()
    };
    let sim = start(timings, script).await;
    let mut hooks = Hooks::start(false).await;
    sim.set_webhook_url(&hooks.url);
    let data = ConversationInitiationClientData::new()
        .with_first_message("Hello {{name}}, this is a rather long first message.")
        .with_variable("name", "Ada");
    let mut ws = open(&sim, data).await;

    assert!(matches!(
        next(&mut ws).await,
        Ok(ServerMessage::ConversationInitiationMetadata(_))
    ));
    let Ok(ServerMessage::AgentResponse(first)) = next(&mut ws).await else {
        panic!("agent_response expected");
    };
    assert_eq!(
        first.agent_response,
        "Hello Ada, this is a rather long first message."
    );
    let (mut audio, mut last_audio) = (0, 0);
    let cut = loop {
        match next(&mut ws).await {
            Ok(ServerMessage::Audio(a)) => (audio, last_audio) = (audio + 1, a.event_id),
            Ok(ServerMessage::Interruption(i)) => break i.event_id,
            Ok(ServerMessage::Ping(p)) => {
                send(
                    &mut ws,
                    ClientMessage::Pong(Pong {
                        event_id: p.event_id,
                    }),
                )
                .await
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    // 47 characters × 5 ms = 240 ms = 12 frames, cut after half.
    assert_eq!((audio, cut), (6, last_audio));

    ws.send(Message::Text(user_audio_chunk_json("not base64!").into()))
        .await
        .expect("send");
    ws.send(Message::Text(
        r#"{"type":"user_message","text":"hi"}"#.into(),
    ))
    .await
    .expect("send");
    ws.close(None).await.expect("close");

    let record = wait_for(&sim, |c| c.webhook_delivered.is_some()).await;
    assert_eq!(record.ended_by, Some(EndedBy::Client));
    assert_eq!(record.invalid_audio_frames, 1);
    assert_eq!(record.transcript.len(), 1);
    assert!(record.transcript[0].interrupted);

    let WebhookEvent::PostCallTranscription(t) = hooks.next(sim.webhook_secret()).await.event
    else {
        panic!("not a transcription");
    };
    assert!(t.transcript[0].interrupted);
    let reason = t
        .metadata
        .and_then(|m| m.termination_reason)
        .expect("reason");
    assert!(reason.starts_with("Client disconnected"), "{reason}");
}

#[tokio::test]
async fn a_client_that_never_pongs_is_closed() {
    let timings = AgentTimings {
        ping_every: Duration::from_millis(50),
        pong_timeout: Duration::from_millis(150),
        ..AgentTimings::fast()
    };
    let sim = start(timings, AgentScript::default()).await;
    // The webhook endpoint fails once: the simulator retries.
    let mut hooks = Hooks::start(true).await;
    sim.set_webhook_url(&hooks.url);
    let mut ws = open(&sim, ConversationInitiationClientData::new()).await;
    let started = tokio::time::Instant::now();
    let code = loop {
        match next(&mut ws).await {
            Ok(_) => {}
            Err(code) => break code,
        }
    };
    assert_eq!(code, Some(1008));
    // Reading on sends our reply to the close, so the webhook is not delayed.
    let _ = tokio::time::timeout(Duration::from_millis(200), ws.next()).await;
    assert!(
        started.elapsed() >= Duration::from_millis(190),
        "{:?}",
        started.elapsed()
    );

    let record = wait_for(&sim, |c| c.webhook_delivered.is_some()).await;
    assert_eq!(record.ended_by, Some(EndedBy::NoPong));
    assert_eq!(record.webhook_delivered, Some(true));
    let first = hooks.next(sim.webhook_secret()).await;
    let second = hooks.next(sim.webhook_secret()).await;
    assert_eq!(first, second);
    let WebhookEvent::PostCallTranscription(t) = second.event else {
        panic!("not a transcription");
    };
    assert_eq!(
        t.metadata.and_then(|m| m.termination_reason).as_deref(),
        Some("Ping timeout")
    );
}
