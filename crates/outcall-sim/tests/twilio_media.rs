//! The Twilio simulator's media streams against a tiny server: the TwiML webhook,
//! status callbacks, and a `/media-stream` WebSocket the test drives by hand.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use outcall_sim::twilio::{
    MediaConfig, Scenario, ScenarioBook, SimCall, StreamEnd, Timings, TwilioSim, TwilioSimConfig,
};
use outcall_twilio::media::{InboundMessage, OutboundMessage};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

const WAIT: Duration = Duration::from_secs(5);
const TOKEN: &str = "per-call&token";

#[derive(Clone)]
struct App {
    twiml: Arc<Mutex<String>>,
    auth_token: String,
    base: String,
    statuses: mpsc::UnboundedSender<Vec<(String, String)>>,
    sockets: mpsc::UnboundedSender<(WebSocket, HeaderMap)>,
}

struct Harness {
    sim: TwilioSim,
    base: String,
    statuses: mpsc::UnboundedReceiver<Vec<(String, String)>>,
    sockets: mpsc::UnboundedReceiver<(WebSocket, HeaderMap)>,
}

fn signed(app: &App, path: &str, headers: &HeaderMap, form: &[(String, String)]) -> bool {
    let signature = headers
        .get("X-Twilio-Signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    outcall_twilio::signature::validate_form(
        &format!("{}{path}", app.base),
        form,
        signature,
        &app.auth_token,
    )
}

async fn twiml(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if !signed(&app, "/twiml", &headers, &form) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let body = app.twiml.lock().expect("twiml lock").clone();
    ([("content-type", "text/xml")], body).into_response()
}

async fn status(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> StatusCode {
    if !signed(&app, "/status", &headers, &form) {
        return StatusCode::FORBIDDEN;
    }
    let _ = app.statuses.send(form);
    StatusCode::NO_CONTENT
}

async fn media_stream(
    State(app): State<App>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    ws.on_upgrade(move |socket| async move {
        let _ = app.sockets.send((socket, headers));
    })
}

/// What the TwiML webhook answers: a stream to our `/media-stream` with a token.
enum Answer {
    Stream,
    StreamTo(String),
    Fixed(String),
}

async fn start(scenario: Scenario, talk: Duration, answer: Answer) -> Harness {
    let sim = TwilioSim::start(TwilioSimConfig {
        timings: Timings {
            dial: Duration::from_millis(5),
            ring: Duration::from_millis(10),
            talk,
            amd: Duration::from_millis(10),
        },
        scenarios: ScenarioBook::all(scenario),
        media: MediaConfig {
            enabled: true,
            talk_burst: Duration::from_millis(100),
            silence: Duration::from_millis(100),
            dtmf: Some((Duration::from_millis(60), "7".into())),
            say_per_char: Duration::from_millis(60),
        },
        ..Default::default()
    })
    .await
    .expect("start the simulator");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let base = format!("http://{addr}");
    let document = match answer {
        Answer::Stream => {
            outcall_twilio::twiml::ConnectStream::new(format!("ws://{addr}/media-stream"))
                .parameter("token", TOKEN)
                .parameter("campaign", "42")
                .build()
        }
        Answer::StreamTo(url) => outcall_twilio::twiml::ConnectStream::new(url).build(),
        Answer::Fixed(twiml) => twiml,
    };
    let (statuses_tx, statuses) = mpsc::unbounded_channel();
    let (sockets_tx, sockets) = mpsc::unbounded_channel();
    let app = App {
        twiml: Arc::new(Mutex::new(document)),
        auth_token: sim.auth_token().to_string(),
        base: base.clone(),
        statuses: statuses_tx,
        sockets: sockets_tx,
    };
    let router = Router::new()
        .route("/twiml", post(twiml))
        .route("/status", post(status))
        .route("/media-stream", get(media_stream))
        .with_state(app);
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    Harness {
        sim,
        base,
        statuses,
        sockets,
    }
}

fn basic_auth(sim: &TwilioSim) -> String {
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        sim.account_sid(),
        sim.auth_token()
    ));
    format!("Basic {credentials}")
}

impl Harness {
    /// Places a call through the REST API; returns its sid.
    async fn place(&self) -> String {
        self.place_with(&[]).await
    }

    /// Places a call with more form parameters; returns its sid.
    async fn place_with(&self, extra: &[(&'static str, &str)]) -> String {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Calls.json",
            self.sim.base_url(),
            self.sim.account_sid()
        );
        let mut form = vec![
            ("To", "+14155552671".to_string()),
            ("From", "+15005550006".to_string()),
            ("Url", format!("{}/twiml", self.base)),
            ("StatusCallback", format!("{}/status", self.base)),
        ];
        for event in ["initiated", "ringing", "answered", "completed"] {
            form.push(("StatusCallbackEvent", event.to_string()));
        }
        form.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        let res = reqwest::Client::new()
            .post(url)
            .header("Authorization", basic_auth(&self.sim))
            .form(&form)
            .send()
            .await
            .expect("create call");
        assert_eq!(res.status().as_u16(), 201);
        let call: serde_json::Value = res.json().await.expect("call JSON");
        call["sid"].as_str().expect("sid").to_string()
    }

    async fn hang_up(&self, sid: &str) {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Calls/{sid}.json",
            self.sim.base_url(),
            self.sim.account_sid()
        );
        let res = reqwest::Client::new()
            .post(url)
            .header("Authorization", basic_auth(&self.sim))
            .form(&[("Status", "completed")])
            .send()
            .await
            .expect("hang up");
        assert_eq!(res.status().as_u16(), 200);
    }

    fn call(&self, sid: &str) -> SimCall {
        self.sim.call(sid).expect("the call is known")
    }

    /// Waits for the status callback whose `CallStatus` is final; returns it.
    async fn final_status(&mut self) -> String {
        timeout(WAIT, async {
            loop {
                let form = self.statuses.recv().await.expect("status callbacks");
                let status = form
                    .iter()
                    .find(|(k, _)| k == "CallStatus")
                    .map(|(_, v)| v.clone())
                    .expect("CallStatus");
                if !matches!(
                    status.as_str(),
                    "initiated" | "ringing" | "in-progress" | "queued"
                ) {
                    return status;
                }
            }
        })
        .await
        .expect("a final status callback")
    }

    async fn socket(&mut self) -> (WebSocket, HeaderMap) {
        timeout(WAIT, self.sockets.recv())
            .await
            .expect("the media stream connects")
            .expect("socket")
    }
}

/// The next text frame, parsed; `None` once the socket closed.
async fn next(ws: &mut WebSocket) -> Option<InboundMessage> {
    loop {
        let frame = timeout(WAIT, ws.recv()).await.expect("a frame in time");
        match frame {
            Some(Ok(Message::Text(text))) => {
                return Some(
                    InboundMessage::parse(text.as_str())
                        .expect("valid JSON")
                        .expect("a known event"),
                );
            }
            Some(Ok(Message::Close(_))) => {
                // Reading on sends the close reply, then sees the connection end.
                while let Ok(Some(Ok(_))) = timeout(WAIT, ws.recv()).await {}
                return None;
            }
            None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

/// Reads until a non-`media` message; counts the `media` frames passed.
async fn next_non_media(ws: &mut WebSocket) -> (Option<InboundMessage>, usize) {
    let mut skipped = 0;
    loop {
        match next(ws).await {
            Some(InboundMessage::Media { .. }) => skipped += 1,
            other => return (other, skipped),
        }
    }
}

fn send(ws_text: &OutboundMessage) -> Message {
    Message::text(ws_text.to_json())
}

/// Reads `connected`, `start` and some `media`; returns the stream sid.
async fn handshake(ws: &mut WebSocket, call_sid: &str, account_sid: &str) -> String {
    let Some(InboundMessage::Connected { protocol, version }) = next(ws).await else {
        panic!("`connected` first");
    };
    assert_eq!((protocol.as_str(), version.as_str()), ("Call", "1.0.0"));
    let Some(InboundMessage::Start {
        sequence_number,
        start,
        stream_sid,
    }) = next(ws).await
    else {
        panic!("`start` second");
    };
    assert_eq!(sequence_number, 1);
    assert_eq!(start.stream_sid, stream_sid);
    assert!(stream_sid.starts_with("MZ") && stream_sid.len() == 34);
    assert_eq!(start.call_sid, call_sid);
    assert_eq!(start.account_sid, account_sid);
    assert_eq!(start.tracks, ["inbound"]);
    assert_eq!(start.custom_parameters["token"], TOKEN);
    assert_eq!(start.custom_parameters["campaign"], "42");
    assert_eq!(start.media_format.encoding, "audio/x-mulaw");
    assert_eq!(start.media_format.sample_rate, 8000);
    assert_eq!(start.media_format.channels, 1);
    let mut last_sequence = 1;
    let mut chunk = 0;
    let mut last_timestamp = 0;
    let mut kinds = std::collections::HashSet::new();
    while chunk < 12 {
        match next(ws).await.expect("media") {
            InboundMessage::Media {
                sequence_number,
                media,
                stream_sid: sid,
            } => {
                assert_eq!(sid, stream_sid);
                assert!(sequence_number > last_sequence);
                last_sequence = sequence_number;
                assert_eq!(media.chunk, chunk + 1);
                chunk = media.chunk;
                assert!(media.timestamp >= last_timestamp);
                last_timestamp = media.timestamp;
                assert_eq!(media.track, "inbound");
                assert_eq!(media.payload.len(), 216);
                let audio = base64::engine::general_purpose::STANDARD
                    .decode(&media.payload)
                    .expect("base64");
                assert_eq!(audio.len(), 160);
                kinds.insert(audio.iter().all(|b| *b == 0xFF));
            }
            InboundMessage::Dtmf {
                sequence_number,
                dtmf,
                ..
            } => {
                assert!(sequence_number > last_sequence);
                last_sequence = sequence_number;
                assert_eq!(
                    (dtmf.track.as_str(), dtmf.digit.as_str()),
                    ("inbound_track", "7")
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // 12 frames of 20 ms cover the first burst of speech and the start of silence.
    assert_eq!(kinds.len(), 2, "both speech and silence were sent");
    stream_sid
}

/// `n` frames of 160 bytes of μ-law.
async fn send_audio(ws: &mut WebSocket, stream_sid: &str, n: usize) {
    let payload = base64::engine::general_purpose::STANDARD.encode([0x55u8; 160]);
    for _ in 0..n {
        ws.send(send(&OutboundMessage::media(stream_sid, payload.clone())))
            .await
            .expect("send media");
    }
}

#[tokio::test]
async fn a_rest_hangup_sends_stop_then_closes() {
    let mut h = start(Scenario::Human, Duration::from_secs(30), Answer::Stream).await;
    let sid = h.place().await;
    let (mut ws, headers) = h.socket().await;
    assert!(headers.contains_key("x-twilio-signature"));
    let stream_sid = handshake(&mut ws, &sid, h.sim.account_sid()).await;

    // Nothing queued: the mark comes back at once.
    ws.send(send(&OutboundMessage::mark(&stream_sid, "now")))
        .await
        .expect("mark");
    let (mark, _) = next_non_media(&mut ws).await;
    let Some(InboundMessage::Mark { mark, .. }) = mark else {
        panic!("mark echo, got {mark:?}");
    };
    assert_eq!(mark.name, "now");

    // 10 frames = 200 ms of audio: the mark comes back once it has played.
    let sent = Instant::now();
    send_audio(&mut ws, &stream_sid, 10).await;
    ws.send(send(&OutboundMessage::mark(&stream_sid, "played")))
        .await
        .expect("mark");
    let (mark, _) = next_non_media(&mut ws).await;
    let Some(InboundMessage::Mark { mark, .. }) = mark else {
        panic!("mark echo, got {mark:?}");
    };
    assert_eq!(mark.name, "played");
    assert!(
        sent.elapsed() >= Duration::from_millis(180),
        "{:?}",
        sent.elapsed()
    );

    // 100 frames = 2 s queued, then `clear`: the pending mark comes back at once.
    send_audio(&mut ws, &stream_sid, 100).await;
    ws.send(send(&OutboundMessage::mark(&stream_sid, "cleared")))
        .await
        .expect("mark");
    // Unknown events and non-JSON are ignored; the stream goes on.
    ws.send(Message::text(r#"{"event":"connected","protocol":"Call"}"#))
        .await
        .expect("unknown");
    ws.send(Message::text("not json")).await.expect("junk");
    let cleared = Instant::now();
    ws.send(send(&OutboundMessage::clear(&stream_sid)))
        .await
        .expect("clear");
    let (mark, _) = next_non_media(&mut ws).await;
    let Some(InboundMessage::Mark { mark, .. }) = mark else {
        panic!("mark echo, got {mark:?}");
    };
    assert_eq!(mark.name, "cleared");
    assert!(cleared.elapsed() < Duration::from_secs(1));

    h.hang_up(&sid).await;
    let (stop, _) = next_non_media(&mut ws).await;
    let Some(InboundMessage::Stop {
        stream_sid: sid_of_stop,
        stop,
        ..
    }) = stop
    else {
        panic!("stop, got {stop:?}");
    };
    assert_eq!(sid_of_stop, stream_sid);
    assert_eq!(stop.call_sid, sid);
    assert_eq!(stop.account_sid, h.sim.account_sid());
    assert!(next(&mut ws).await.is_none(), "then the socket closes");
    assert_eq!(h.final_status().await, "completed");

    let stats = h.call(&sid).media_stats();
    assert!(stats.stream_started);
    assert_eq!(stats.stream_sid.as_deref(), Some(stream_sid.as_str()));
    assert_eq!(stats.ended, Some(StreamEnd::Stopped));
    assert!(stats.frames_sent >= 12);
    assert!(stats.speech_frames_sent >= 5);
    assert_eq!(stats.dtmf_sent, 1);
    assert_eq!(stats.frames_received, 110);
    assert_eq!(stats.bytes_received, 110 * 160);
    assert_eq!(stats.marks_received, 3);
    assert_eq!(stats.marks_echoed, 3);
    assert_eq!(stats.clears_received, 1);
    assert_eq!(stats.invalid_received, 1, "the frame that is not JSON");
    assert!(stats.first_media_after.is_some());
    assert_eq!(h.call(&sid).status(), "completed");
}

#[tokio::test]
async fn the_server_closing_first_ends_the_call() {
    let mut h = start(Scenario::Human, Duration::from_secs(30), Answer::Stream).await;
    let sid = h.place().await;
    let (mut ws, _) = h.socket().await;
    let stream_sid = handshake(&mut ws, &sid, h.sim.account_sid()).await;
    send_audio(&mut ws, &stream_sid, 3).await;
    ws.send(Message::Close(None)).await.expect("close");
    while next(&mut ws).await.is_some() {}
    assert_eq!(h.final_status().await, "completed");
    let stats = h.call(&sid).media_stats();
    assert_eq!(stats.ended, Some(StreamEnd::ServerClosed));
    assert_eq!(stats.frames_received, 3);
    assert_eq!(h.call(&sid).status(), "completed");
}

#[tokio::test]
async fn a_network_drop_sends_no_stop() {
    let mut h = start(
        Scenario::NetworkDrop,
        Duration::from_millis(400),
        Answer::Stream,
    )
    .await;
    let sid = h.place().await;
    let (mut ws, _) = h.socket().await;
    handshake(&mut ws, &sid, h.sim.account_sid()).await;
    let (end, _) = next_non_media(&mut ws).await;
    assert!(
        end.is_none(),
        "no stop before the connection drops: {end:?}"
    );
    assert_eq!(h.final_status().await, "completed");
    assert_eq!(h.call(&sid).media_stats().ended, Some(StreamEnd::Dropped));
}

#[tokio::test]
async fn a_callee_hang_up_stops_the_stream() {
    let mut h = start(
        Scenario::CalleeHangsUp,
        Duration::from_millis(400),
        Answer::Stream,
    )
    .await;
    let sid = h.place().await;
    let (mut ws, _) = h.socket().await;
    handshake(&mut ws, &sid, h.sim.account_sid()).await;
    let (stop, _) = next_non_media(&mut ws).await;
    assert!(
        matches!(stop, Some(InboundMessage::Stop { .. })),
        "{stop:?}"
    );
    assert!(next(&mut ws).await.is_none(), "then the socket closes");
    assert_eq!(h.final_status().await, "completed");
}

#[tokio::test]
async fn hangup_twiml_ends_the_call_without_a_stream() {
    let mut h = start(
        Scenario::Human,
        Duration::from_secs(30),
        Answer::Fixed(outcall_twilio::twiml::hangup()),
    )
    .await;
    let sid = h.place().await;
    assert_eq!(h.final_status().await, "completed");
    assert!(h.sockets.try_recv().is_err(), "no stream was opened");
    let stats = h.call(&sid).media_stats();
    assert!(!stats.stream_started);
    assert_eq!(stats.ended, None);
}

#[tokio::test]
async fn say_then_hangup_lasts_as_long_as_the_message() {
    let mut h = start(
        Scenario::Human,
        Duration::from_secs(30),
        Answer::Fixed(outcall_twilio::twiml::say_then_hangup("Call us back")),
    )
    .await;
    let placed = Instant::now();
    h.place().await;
    assert_eq!(h.final_status().await, "completed");
    // 12 characters at 60 ms each.
    assert!(
        placed.elapsed() >= Duration::from_millis(700),
        "{:?}",
        placed.elapsed()
    );
}

#[tokio::test]
async fn an_unreachable_stream_ends_the_call() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut h = start(
        Scenario::Human,
        Duration::from_secs(30),
        Answer::StreamTo(format!("ws://127.0.0.1:{port}/media-stream")),
    )
    .await;
    let sid = h.place().await;
    assert_eq!(h.final_status().await, "completed");
    let stats = h.call(&sid).media_stats();
    assert_eq!(stats.ended, Some(StreamEnd::ConnectFailed));
    assert!(!stats.stream_started);
}

/// Twilio ends an answered call at its `TimeLimit`, whatever its TwiML still has to do
/// (here a two-minute pause for a callee who never hangs up).
#[tokio::test]
async fn an_answered_call_ends_at_its_time_limit() {
    let pause =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Pause length=\"120\"/></Response>";
    let mut h = start(
        Scenario::Human,
        Duration::from_secs(600),
        Answer::Fixed(pause.to_string()),
    )
    .await;
    let sid = h.place_with(&[("TimeLimit", "1")]).await;
    assert_eq!(h.final_status().await, "completed");
    let call = h.call(&sid);
    assert_eq!(call.request().time_limit_secs, Some(1));
    assert!(call.duration_secs() <= 2, "{}", call.duration_secs());
}
