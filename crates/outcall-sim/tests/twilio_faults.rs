//! The Twilio simulator's fault API, seen from outside: outcall's own Twilio client
//! places calls over real HTTP and meets each scripted fault as it would meet it
//! from Twilio (an error answer, a reset, a lost or late answer, a refused
//! connection); a small server receives the callbacks, which arrive dropped,
//! duplicated, delayed or reordered as scripted; seeded profiles repeat their
//! decisions; and the simulator's log says what it received and did.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::extract::{Form, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use outcall_sim::faults::{Latency, Profile};
use outcall_sim::twilio::{
    CallbackFault, CallbackRule, CreateFault, CreateRule, MediaConfig, Scenario, ScenarioBook,
    Stage, Timings, TwilioFaultRates, TwilioSim, TwilioSimConfig,
};
use outcall_twilio::client::{CreateCall, StatusCallbackEvent, TwilioClient, TwilioConfig};
use outcall_twilio::error::TwilioError;
use tokio::time::Instant;

const FROM: &str = "+15005550006";
const WAIT: Duration = Duration::from_secs(5);

/// What the receiving server saw, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Status {
        sid: String,
        event: String,
        seq: u64,
    },
    Twiml(String),
    StreamStart(String),
}

#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<Seen>>>,
    base: String,
    stream: bool,
}

impl Receiver {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }

    fn push(&self, s: Seen) {
        self.seen.lock().expect("seen").push(s);
    }

    /// The status events received for `sid`, as `(event, SequenceNumber)`.
    fn statuses(&self, sid: &str) -> Vec<(String, u64)> {
        self.seen()
            .into_iter()
            .filter_map(|s| match s {
                Seen::Status { sid: s, event, seq } if s == sid => Some((event, seq)),
                _ => None,
            })
            .collect()
    }

    async fn wait_for(&self, what: impl Fn(&[Seen]) -> bool) -> Vec<Seen> {
        let deadline = Instant::now() + WAIT;
        loop {
            let seen = self.seen();
            if what(&seen) {
                return seen;
            }
            assert!(Instant::now() < deadline, "not seen in time: {seen:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

async fn status(
    State(r): State<Receiver>,
    Form(form): Form<Vec<(String, String)>>,
) -> &'static str {
    let event = match field(&form, "CallStatus") {
        "in-progress" => "answered",
        "initiated" => "initiated",
        "ringing" => "ringing",
        _ => "completed",
    };
    r.push(Seen::Status {
        sid: field(&form, "CallSid").to_string(),
        event: event.to_string(),
        seq: field(&form, "SequenceNumber").parse().unwrap_or(u64::MAX),
    });
    ""
}

async fn twiml(State(r): State<Receiver>, Form(form): Form<Vec<(String, String)>>) -> Response {
    r.push(Seen::Twiml(field(&form, "CallSid").to_string()));
    let body = if r.stream {
        let ws = r.base.replace("http://", "ws://");
        format!(r#"<Response><Connect><Stream url="{ws}/media"/></Connect></Response>"#)
    } else {
        "<Response><Pause length=\"1\"/></Response>".to_string()
    };
    ([("content-type", "text/xml")], body).into_response()
}

/// Records the stream's `start`, then keeps the socket open until the call ends.
async fn media(State(r): State<Receiver>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |mut socket| async move {
        while let Some(Ok(msg)) = socket.recv().await {
            if let Message::Text(text) = msg {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                if v["event"] == "start" {
                    let sid = v["start"]["callSid"].as_str().unwrap_or("").to_string();
                    r.push(Seen::StreamStart(sid));
                }
            }
        }
    })
}

struct Harness {
    sim: TwilioSim,
    client: TwilioClient,
    receiver: Receiver,
}

/// A simulator with fast calls, a receiver for its callbacks, and a client whose
/// request timeout is 300 ms.
async fn harness(
    scenario: Scenario,
    stream: bool,
    tweak: impl FnOnce(&mut TwilioSimConfig),
) -> Harness {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let receiver = Receiver {
        base: base.clone(),
        stream,
        ..Default::default()
    };
    let app = Router::new()
        .route("/status", post(status))
        .route("/twiml", post(twiml))
        .route("/media", get(media))
        .with_state(receiver.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut config = TwilioSimConfig {
        timings: Timings {
            dial: Duration::from_millis(5),
            ring: Duration::from_millis(10),
            talk: Duration::from_millis(100),
            amd: Duration::from_millis(5),
        },
        scenarios: ScenarioBook::all(scenario),
        media: MediaConfig {
            enabled: stream,
            ..Default::default()
        },
        ..Default::default()
    };
    tweak(&mut config);
    let sim = TwilioSim::start(config).await.expect("simulator");
    let mut config = TwilioConfig::new(sim.base_url(), sim.account_sid(), sim.auth_token());
    config.request_timeout = Duration::from_millis(300);
    config.connect_timeout = Duration::from_millis(300);
    let client = TwilioClient::new(config).expect("client");
    Harness {
        sim,
        client,
        receiver,
    }
}

impl Harness {
    /// A create as outcall sends it: the attempt id in the StatusCallback URL.
    fn request(&self, to: &str, attempt: &str) -> CreateCall {
        let base = &self.receiver.base;
        let mut c = CreateCall::new(to, FROM, format!("{base}/twiml"));
        c.status_callback = Some(format!("{base}/status?attemptId={attempt}&x=1"));
        c.status_callback_events = StatusCallbackEvent::ALL.to_vec();
        c
    }

    async fn create(&self, to: &str, attempt: &str) -> Result<String, TwilioError> {
        self.client
            .create_call(&self.request(to, attempt))
            .await
            .map(|c| c.sid)
    }
}

fn api_status(e: &TwilioError) -> Option<u16> {
    match e {
        TwilioError::Api { status, .. } => Some(*status),
        _ => None,
    }
}

#[tokio::test]
async fn create_faults_reach_the_client_as_twilio_would_send_them() {
    let h = harness(Scenario::Busy, false, |_| {}).await;
    let f = h.sim.faults();
    f.on_create(CreateRule::to("+1555").fault(CreateFault::ServerError { status: 503 }));
    f.on_create(
        CreateRule::attempt("a-429").fault(CreateFault::RateLimited {
            retry_after_secs: 7,
        }),
    );
    f.on_create(CreateRule::attempt("a-reset").fault(CreateFault::ResetBeforeCreate));
    f.on_create(CreateRule::attempt("a-reset-made").fault(CreateFault::ResetAfterCreate));
    f.on_create(CreateRule::attempt("a-lost").fault(CreateFault::AnswerLost));
    f.on_create(
        CreateRule::attempt("a-late").fault(CreateFault::AnswerDelayed(Duration::from_millis(900))),
    );

    let e = h.create("+15550001111", "a-503").await.expect_err("503");
    assert_eq!(api_status(&e), Some(503), "{e}");
    assert_eq!(e.code(), Some(20503));
    assert!(e.is_retryable() && !e.is_connect());
    // The rule fired once: the next create to the same number goes through.
    h.create("+15550001111", "a-ok")
        .await
        .expect("second create");

    let e = h.create("+14150000001", "a-429").await.expect_err("429");
    assert_eq!(api_status(&e), Some(429));
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));

    for attempt in ["a-reset", "a-reset-made", "a-lost", "a-late"] {
        let e = h.create("+14150000002", attempt).await.expect_err(attempt);
        assert!(
            matches!(e, TwilioError::Transport(_)) && !e.is_connect(),
            "{attempt}: a transport failure after the request was sent: {e:?}"
        );
    }

    let log = h.sim.log();
    let by_attempt = |a: &str| {
        log.creates
            .iter()
            .find(|c| c.attempt_id.as_deref() == Some(a))
            .unwrap_or_else(|| panic!("no create of {a} in {log:?}"))
            .clone()
    };
    let expect = [
        ("a-503", Some("server-error-503"), Some(503), false),
        ("a-ok", None, Some(201), true),
        ("a-429", Some("rate-limited"), Some(429), false),
        ("a-reset", Some("reset-before-create"), None, false),
        ("a-reset-made", Some("reset-after-create"), None, true),
        ("a-lost", Some("answer-lost"), None, true),
        ("a-late", Some("answer-delayed"), Some(201), true),
    ];
    for (attempt, fault, status, created) in expect {
        let c = by_attempt(attempt);
        assert_eq!(c.fault.as_deref(), fault, "{c:?}");
        assert_eq!(c.status, status, "{c:?}");
        assert_eq!(c.call_sid.is_some(), created, "{c:?}");
        if let Some(sid) = &c.call_sid {
            assert!(h.sim.call(sid).is_some(), "the logged call exists: {c:?}");
        }
        assert_eq!(c.from, FROM);
    }
    assert_eq!(log.creates.len(), 7);
    assert_eq!(h.sim.calls_placed(), 4);
    let seqs: Vec<u64> = log.creates.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, (0..7).collect::<Vec<_>>());
}

#[tokio::test]
async fn an_outage_refuses_connections_then_the_listener_comes_back() {
    let h = harness(Scenario::Busy, false, |_| {}).await;
    h.create("+14150000001", "before")
        .await
        .expect("before the outage");
    h.sim.faults().refuse();
    assert!(!h.sim.faults().accepting());
    let e = h
        .create("+14150000001", "during")
        .await
        .expect_err("refused");
    assert!(e.is_connect(), "connection refused, nothing sent: {e:?}");
    h.sim.faults().accept();
    h.create("+14150000001", "after")
        .await
        .expect("listening again");

    h.sim.faults().refuse_for(Duration::from_millis(300));
    let started = Instant::now();
    let e = h
        .create("+14150000001", "timed")
        .await
        .expect_err("refused");
    assert!(e.is_connect(), "{e:?}");
    let deadline = started + WAIT;
    while h.create("+14150000001", "timed-after").await.is_err() {
        assert!(Instant::now() < deadline, "the listener never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(started.elapsed() >= Duration::from_millis(250));
    let attempts: Vec<_> = h
        .sim
        .log()
        .creates
        .iter()
        .filter_map(|c| c.attempt_id.clone())
        .collect();
    assert_eq!(
        attempts,
        ["before", "after", "timed-after"],
        "refused requests never arrived"
    );
}

#[tokio::test]
async fn an_early_start_answers_after_the_callbacks_twiml_and_stream_start() {
    let h = harness(Scenario::Human, true, |_| {}).await;
    h.sim
        .faults()
        .on_create(CreateRule::attempt("early").fault(CreateFault::EarlyStart));
    let mut config = TwilioConfig::new(h.sim.base_url(), h.sim.account_sid(), h.sim.auth_token());
    config.request_timeout = Duration::from_secs(6);
    let patient = TwilioClient::new(config).expect("client");
    let sid = patient
        .create_call(&h.request("+14150000001", "early"))
        .await
        .expect("created")
        .sid;
    // The callbacks and the TwiML fetch were answered by the receiver, and the
    // stream's `start` sent to it, before the 201 reached the client.
    let seen = h.receiver.seen();
    assert!(seen.contains(&Seen::Twiml(sid.clone())), "{seen:?}");
    let events: Vec<String> = h.receiver.statuses(&sid).into_iter().map(|e| e.0).collect();
    assert!(
        events.starts_with(&["initiated".to_string(), "ringing".to_string()]),
        "{events:?}"
    );
    let call = h.sim.call(&sid).expect("call");
    assert!(call.stage() >= Stage::Streaming);
    assert!(call.media_stats().stream_started);
    h.receiver
        .wait_for(|seen| seen.contains(&Seen::StreamStart(sid.clone())))
        .await;
    // An ordinary create answers before any callback.
    let other = h.create("+14150000002", "plain").await.expect("created");
    assert!(h.receiver.statuses(&other).is_empty());
}

#[tokio::test]
async fn callbacks_are_dropped_duplicated_delayed_and_reordered_as_scripted() {
    let h = harness(Scenario::CalleeHangsUp, false, |_| {}).await;
    let f = h.sim.faults();
    f.on_callback(
        CallbackRule::event("initiated")
            .attempt("a")
            .fault(CallbackFault::Drop),
    );
    f.on_callback(
        CallbackRule::event("ringing")
            .attempt("a")
            .fault(CallbackFault::Duplicate),
    );
    f.on_callback(
        CallbackRule::event("answered")
            .attempt("a")
            .fault(CallbackFault::Reorder),
    );
    f.on_callback(
        CallbackRule::event("initiated")
            .attempt("b")
            .fault(CallbackFault::Delay(Duration::from_millis(400))),
    );
    let a = h.create("+14150000001", "a").await.expect("a");
    let b = h.create("+14150000002", "b").await.expect("b");
    h.receiver
        .wait_for(|_| h.receiver.statuses(&a).len() == 4 && h.receiver.statuses(&b).len() == 4)
        .await;
    assert_eq!(
        h.receiver.statuses(&a),
        [
            ("ringing".to_string(), 1),
            ("ringing".to_string(), 1),
            ("completed".to_string(), 3),
            ("answered".to_string(), 2),
        ],
        "initiated dropped, ringing twice, answered after completed"
    );
    let b_events: Vec<String> = h.receiver.statuses(&b).into_iter().map(|e| e.0).collect();
    assert_eq!(
        b_events.last().map(String::as_str),
        Some("initiated"),
        "{b_events:?}"
    );
    let faults: Vec<(String, String)> = h
        .sim
        .log()
        .callback_faults
        .into_iter()
        .map(|c| (c.event, c.fault))
        .collect();
    for expected in [
        ("initiated", "dropped"),
        ("ringing", "duplicated"),
        ("answered", "reordered"),
        ("initiated", "delayed"),
    ] {
        assert!(
            faults.contains(&(expected.0.to_string(), expected.1.to_string())),
            "{expected:?} not in {faults:?}"
        );
    }
}

/// The faults a seeded profile applied to `n` creates sent one after another.
async fn seeded_run(seed: u64, n: usize) -> Vec<Option<String>> {
    let mut rates = TwilioFaultRates::for_profile(Profile::Chaos);
    rates.answer_delay = Duration::from_millis(400);
    rates.outage_for = Duration::from_millis(100);
    rates.latency = Latency::ZERO;
    let h = harness(Scenario::Busy, false, |c| {
        c.faults = rates;
        c.fault_seed = seed;
    })
    .await;
    for i in 0..n {
        // A refused request never arrives: send it again until one does.
        let deadline = Instant::now() + WAIT;
        loop {
            match h.create("+14150000001", &format!("a{i}")).await {
                Err(e) if e.is_connect() => {
                    assert!(Instant::now() < deadline, "refused for good");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                _ => break,
            }
        }
    }
    let log = h.sim.log();
    assert_eq!(log.creates.len(), n, "one create received per request");
    log.creates.into_iter().map(|c| c.fault).collect()
}

#[tokio::test]
async fn a_seeded_profile_makes_the_same_decisions_for_the_same_seed() {
    let a = seeded_run(9, 40).await;
    assert_eq!(a, seeded_run(9, 40).await);
    assert_ne!(a, seeded_run(10, 40).await);
    let faulty = a.iter().flatten().count();
    assert!(
        (3..30).contains(&faulty),
        "chaos faults {faulty} of 40: {a:?}"
    );
}

#[tokio::test]
async fn latency_is_added_to_rest_answers_and_callbacks() {
    let h = harness(Scenario::Busy, false, |_| {}).await;
    h.sim
        .faults()
        .set_latency(Latency::fixed(Duration::from_millis(150)));
    let mut config = TwilioConfig::new(h.sim.base_url(), h.sim.account_sid(), h.sim.auth_token());
    config.request_timeout = Duration::from_secs(3);
    let client = TwilioClient::new(config).expect("client");
    let t0 = Instant::now();
    let started = Instant::now();
    let sid = client
        .create_call(&h.request("+14150000001", "slow"))
        .await
        .expect("created")
        .sid;
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "REST answer"
    );
    let started = Instant::now();
    client.fetch_call(&sid).await.expect("fetched");
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "fetch answer"
    );
    // Busy: initiated, ringing, completed, each one hop of 150 ms after the last,
    // all after the create's own round trip.
    h.receiver
        .wait_for(|_| h.receiver.statuses(&sid).len() == 3)
        .await;
    assert!(
        t0.elapsed() >= Duration::from_millis(600),
        "three callback hops"
    );
}

#[tokio::test]
async fn the_log_holds_creates_and_hangups_in_process_and_over_http() {
    let h = harness(Scenario::Human, false, |_| {}).await;
    let sid = h.create("+14150000001", "att-1").await.expect("created");
    let call = h.client.hangup(&sid, true).await.expect("hung up");
    assert_eq!(call.sid, sid);
    let log = h.sim.log();
    assert_eq!(log.creates.len(), 1);
    assert_eq!(log.creates[0].attempt_id.as_deref(), Some("att-1"));
    assert_eq!(log.creates[0].to, "+14150000001");
    assert_eq!(log.creates[0].call_sid.as_deref(), Some(sid.as_str()));
    assert_eq!(log.hangups.len(), 1);
    assert_eq!(log.hangups[0].call_sid, sid);
    assert_eq!(log.hangups[0].attempt_id.as_deref(), Some("att-1"));

    let served: serde_json::Value = reqwest::get(format!("{}/_sim/log", h.sim.base_url()))
        .await
        .expect("GET /_sim/log")
        .json()
        .await
        .expect("json");
    assert_eq!(served["creates"][0]["attemptId"], "att-1");
    assert_eq!(served["creates"][0]["callSid"], sid.as_str());
    assert_eq!(served["creates"][0]["status"], 201);
    assert_eq!(served["hangups"][0]["callSid"], sid.as_str());
    assert!(served["hangups"][0]["status"].is_string());
}
