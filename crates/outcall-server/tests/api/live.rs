//! Live events: Server-Sent Events at `/api/events`, the official socket.io-client v4
//! (a Node script in `tests/socketio/`) against `/socket.io/`, both following calls
//! through the simulators, and the relay between two servers on one database.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use outcall_sim::twilio::Scenario;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::conversation::{place, world};
use crate::support::{KEY, TestServer};

/// A Server-Sent Events stream, read chunk by chunk.
struct SseStream {
    res: reqwest::Response,
    buf: String,
}

impl SseStream {
    async fn open(s: &TestServer, query: &str) -> Self {
        let res = s
            .client
            .get(format!("{}/api/events{query}", s.base))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("GET /api/events");
        assert_eq!(res.status(), StatusCode::OK);
        let content_type = res.headers()["content-type"].to_str().unwrap_or_default();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        Self {
            res,
            buf: String::new(),
        }
    }

    /// The next event `(name, payload)`; keep-alive comments are skipped.
    async fn next(&mut self, deadline: Instant) -> (String, Value) {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(|v| v.trim_start().to_string())
                };
                if let (Some(event), Some(data)) = (field("event:"), field("data:")) {
                    let payload = serde_json::from_str(&data).expect("JSON data");
                    return (event, payload);
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.res.chunk())
                .await
                .expect("an event before the deadline")
                .expect("stream read")
                .expect("stream still open");
            self.buf
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }
}

/// Events `(name, payload)` of a client, in the order received.
type Received = Vec<(String, Value)>;

/// Whether `events` hold a call's whole life: its `call_ended`, and an
/// `active_calls` that listed it followed by one that no longer does.
fn saw_the_call_end(events: &Received, sid: &str) -> bool {
    let ended = events
        .iter()
        .any(|(e, p)| e == "call_update" && p["callSid"] == sid && p["type"] == "call_ended");
    ended && left_active_calls(events, sid).is_some()
}

/// Where the call was first listed live, and where it was first unlisted after that.
fn left_active_calls(events: &Received, sid: &str) -> Option<(usize, usize)> {
    let listed = events
        .iter()
        .position(|(e, p)| e == "active_calls" && lists(p, sid))?;
    let unlisted = events[listed..]
        .iter()
        .position(|(e, p)| e == "active_calls" && !lists(p, sid))?;
    Some((listed, listed + unlisted))
}

fn lists(active_calls: &Value, sid: &str) -> bool {
    active_calls
        .as_array()
        .is_some_and(|calls| calls.iter().any(|c| c["callSid"] == sid))
}

/// What a user relies on when following one call live, from `events` of a client
/// subscribed to calls and transcripts.
fn assert_a_calls_life_in_order(events: &Received, sid: &str) {
    assert_eq!(
        events[0].0, "active_calls",
        "the current live calls come first: {events:?}"
    );
    let updates: Vec<&Value> = events
        .iter()
        .filter(|(e, p)| e == "call_update" && p["callSid"] == sid)
        .map(|(_, p)| p)
        .collect();
    let types: Vec<&str> = updates.iter().filter_map(|p| p["type"].as_str()).collect();
    assert_eq!(types.first(), Some(&"new_call"), "{types:?}");
    assert_eq!(types.last(), Some(&"call_ended"), "{types:?}");
    assert!(types.contains(&"conversation_started"), "{types:?}");
    let statuses: Vec<&str> = updates
        .iter()
        .filter(|p| p["type"] == "status_update")
        .filter_map(|p| p["data"]["status"].as_str())
        .collect();
    let rank = |s: &&str| {
        ["queued", "initiated", "ringing", "in-progress", "completed"]
            .iter()
            .position(|x| x == s)
    };
    let ranks: Vec<_> = statuses.iter().map(rank).collect();
    assert!(
        ranks.iter().all(Option::is_some) && ranks.windows(2).all(|w| w[0] < w[1]),
        "status updates in the call's order: {statuses:?}"
    );
    for status in ["ringing", "in-progress", "completed"] {
        assert!(statuses.contains(&status), "{statuses:?}");
    }
    for p in &updates {
        assert!(p["timestamp"].is_string() && p["data"].is_object(), "{p}");
    }
    let at = |pred: &dyn Fn(&(String, Value)) -> bool| {
        events
            .iter()
            .position(pred)
            .unwrap_or_else(|| panic!("missing event: {events:?}"))
    };
    let new_call = at(&|(e, p)| e == "call_update" && p["type"] == "new_call");
    let ended = at(&|(e, p)| e == "call_update" && p["type"] == "call_ended");
    let completed = at(&|(e, p)| e == "call_update" && p["data"]["status"] == "completed");
    let (listed, unlisted) = left_active_calls(events, sid).expect("listed, then unlisted");
    assert!(new_call < listed, "the call is listed live once placed");
    assert!(
        listed < completed && completed < unlisted,
        "it leaves active_calls when it ends"
    );
    assert!(completed <= ended);
    let transcripts: Vec<&Value> = events
        .iter()
        .filter(|(e, p)| e == "transcript_update" && p["callSid"] == sid)
        .map(|(_, p)| p)
        .collect();
    for role in ["agent", "user"] {
        assert!(
            transcripts.iter().any(|t| t["role"] == role
                && t["message"].as_str().is_some_and(|m| !m.is_empty())
                && t["timeInCallSecs"].is_number()
                && t["isFinal"] == true),
            "a live {role} utterance: {transcripts:?}"
        );
    }
    let first_words = at(&|(e, _)| e == "transcript_update");
    assert!(
        first_words > new_call && first_words < ended,
        "utterances arrive during the call"
    );
}

#[tokio::test]
async fn events_need_a_key_and_valid_filters() {
    let s = TestServer::start().await;
    s.send(Method::GET, "/api/events", None, None)
        .await
        .assert_error(401, "unauthorized");
    s.send(Method::GET, "/api/events?token=wrong", None, None)
        .await
        .assert_error(401, "unauthorized");
    s.send(Method::GET, "/api/events", Some("wrong"), None)
        .await
        .assert_error(401, "unauthorized");
    s.get("/api/events?topics=calls,weather")
        .await
        .assert_field_error("topics");
    s.get("/api/events?callSid=not%20a%20sid")
        .await
        .assert_field_error("callSid");
    s.get("/api/events?campaignId=42")
        .await
        .assert_field_error("campaignId");
    s.get("/api/events?topic=calls")
        .await
        .assert_error(400, "validation_error");
    // EventSource cannot set headers: the key as `?token=` works too.
    let res = s
        .client
        .get(format!(
            "{}/api/events?token={KEY}&topics=dashboard",
            s.base
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_follows_a_simulated_call_in_order() {
    let w = world(Scenario::Human, Duration::from_secs(60)).await;
    let mut sse = SseStream::open(&w.server, "?topics=calls,transcripts,dashboard").await;
    let sid = place(&w.server).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut events = Received::new();
    let mut dashboards = Vec::new();
    while !saw_the_call_end(&events, &sid) {
        let (event, payload) = sse.next(deadline).await;
        eprintln!("sse: {event} {payload}");
        if event == "dashboard_update" {
            dashboards.push((Instant::now(), payload));
        } else {
            events.push((event, payload));
        }
    }
    assert_a_calls_life_in_order(&events, &sid);
    assert!(
        dashboards
            .iter()
            .any(|(_, d)| d["activeCount"].as_u64() >= Some(1) && d["last5Minutes"]["calls"] == 1),
        "the dashboard counted the live call: {dashboards:?}"
    );
    // Sent at least 1 s apart; measured where they arrive, so allow for delivery jitter
    // on a loaded machine (an unthrottled feed sends them milliseconds apart).
    for pair in dashboards.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap >= Duration::from_millis(750),
            "two dashboard updates {gap:?} apart"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_published_in_one_process_reaches_sse_clients_of_another() {
    let relay = ["--event-relay=on", "--event-relay-poll-ms=50"];
    let a = TestServer::start_with(&relay).await;
    let b = TestServer::start_beside(&a, &relay).await;
    relay_both_ways(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_mongodb_events_reach_the_clients_of_every_process() {
    let Some(uri) = std::env::var("OUTCALL_TEST_MONGODB_URI")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("skipped: OUTCALL_TEST_MONGODB_URI is not set (scripts/test sets it)");
        return;
    };
    let db = format!("relay_{}", outcall_domain::ObjectId::new().to_hex());
    let db_flag = format!("--mongodb-db={db}");
    // EVENT_RELAY's default (`auto`) is on for MongoDB.
    let a = TestServer::start_on_mongodb(&uri, &db, &["--event-relay-poll-ms=50"]).await;
    let b = TestServer::start_beside(&a, &[db_flag.as_str(), "--event-relay-poll-ms=50"]).await;
    relay_both_ways(a, b).await;
}

async fn relay_both_ways(a: TestServer, b: TestServer) {
    let mut on_a = SseStream::open(&a, "?topics=calls").await;
    let mut on_b = SseStream::open(&b, "?topics=calls").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    // The initial active_calls of each.
    assert_eq!(on_a.next(deadline).await.0, "active_calls");
    assert_eq!(on_b.next(deadline).await.0, "active_calls");

    let started = Instant::now();
    let sid = crate::support::call_sid(0x5e1a);
    a.create_call(&sid, json!({})).await;
    let new_call = |(e, p): &(String, Value)| {
        e == "call_update" && p["type"] == "new_call" && p["callSid"] == sid.as_str()
    };
    loop {
        let event = on_b.next(deadline).await;
        if new_call(&event) {
            assert_eq!(
                event.1["data"]["to"], "+14155552671",
                "the whole payload travels"
            );
            break;
        }
    }
    eprintln!("relay: A → B in {:?}", started.elapsed());

    // A's own client sees it once (no echo), and the event was written to the log once
    // (B did not append what it received).
    let mut seen_on_a = 0;
    let quiet = Instant::now() + Duration::from_millis(600);
    while let Ok(event) = tokio::time::timeout_at(quiet, on_a.next(deadline)).await {
        seen_on_a += usize::from(new_call(&event));
    }
    assert_eq!(seen_on_a, 1, "A's client got its own event exactly once");
    let log = a
        .store
        .relay_since(
            outcall_domain::time::now() - chrono::TimeDelta::minutes(1),
            "-",
            100,
        )
        .await
        .expect("relay log");
    let copies = log.iter().filter(|e| e.event.contains(&sid)).count();
    assert_eq!(copies, 1, "one log entry for one event: {log:?}");

    // And the other way round.
    let other = crate::support::call_sid(0x5e1b);
    let started = Instant::now();
    b.create_call(&other, json!({})).await;
    loop {
        let (e, p) = on_a.next(deadline).await;
        if e == "call_update" && p["callSid"] == other.as_str() {
            break;
        }
    }
    eprintln!("relay: B → A in {:?}", started.elapsed());
}

#[tokio::test]
async fn without_the_relay_another_process_sees_nothing() {
    let a = TestServer::start_with(&["--event-relay=off"]).await;
    let b = TestServer::start_beside(&a, &["--event-relay=off"]).await;
    let mut on_b = SseStream::open(&b, "?topics=calls").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    assert_eq!(on_b.next(deadline).await.0, "active_calls");
    a.create_call(&crate::support::call_sid(0x5e1c), json!({}))
        .await;
    // (B may list the call in active_calls once it reloads the live calls from the
    // database; no call_update reaches it.)
    let quiet = Instant::now() + Duration::from_millis(500);
    while let Ok((event, payload)) = tokio::time::timeout_at(quiet, on_b.next(deadline)).await {
        assert_eq!(
            event, "active_calls",
            "B's client got {event} {payload} with the relay off"
        );
    }
}

/// The official socket.io-client, run by Node: one JSON line per event.
struct NodeClient {
    child: Child,
    lines: mpsc::UnboundedReceiver<Value>,
}

impl NodeClient {
    /// `None` (having said why) when `node` is not installed.
    fn start(base: &str, token: &str, subscriptions: &[&str]) -> Option<Self> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/socketio");
        if Command::new("node").arg("--version").output().is_err() {
            eprintln!(
                "SKIPPED: `node` is not on PATH, so the socket.io-client test cannot run \
                 (scripts/test installs Node.js)"
            );
            return None;
        }
        // Tests run in parallel: one `npm ci` at a time in the shared directory.
        static NPM: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = NPM.lock().unwrap_or_else(|e| e.into_inner());
        if !dir
            .join("node_modules/socket.io-client/package.json")
            .exists()
        {
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .status()
                .expect("npm (comes with node) runs");
            assert!(status.success(), "npm ci in {}", dir.display());
        }
        let mut child = Command::new("node")
            .arg(dir.join("client.mjs"))
            .arg(base)
            .arg(token)
            .args(subscriptions)
            .stdout(Stdio::piped())
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| panic!("client printed a non-JSON line: {line}"));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        Some(Self { child, lines })
    }

    async fn next(&mut self, deadline: Instant) -> Value {
        tokio::time::timeout_at(deadline, self.lines.recv())
            .await
            .expect("the client printed a line before the deadline")
            .expect("the client is still running")
    }

    /// Reads up to `ready`: the acknowledgements, and the events received meanwhile.
    async fn ready(&mut self, deadline: Instant) -> (Vec<Value>, Received) {
        let (mut acks, mut events) = (Vec::new(), Received::new());
        loop {
            let line = self.next(deadline).await;
            match line["event"].as_str() {
                Some("ready") => return (acks, events),
                Some("ack") => acks.push(line),
                Some("connect") => {}
                Some("connect_error") => panic!("refused: {line}"),
                Some(event) => events.push((event.to_string(), line["payload"].clone())),
                None => panic!("a line without an event: {line}"),
            }
        }
    }
}

impl Drop for NodeClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_io_client_v4_follows_a_simulated_call() {
    let w = world(Scenario::Human, Duration::from_secs(60)).await;
    let subscriptions = ["subscribe_to_calls", "subscribe_to_transcripts"];
    let Some(mut client) = NodeClient::start(&w.server.base, KEY, &subscriptions) else {
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let (acks, mut events) = client.ready(deadline).await;
    assert_eq!(acks.len(), 2);
    assert_eq!(acks[0]["answer"], json!({"ok": true, "room": "calls"}));
    assert_eq!(
        acks[1]["answer"],
        json!({"ok": true, "room": "transcripts"})
    );
    assert_eq!(
        events.first().map(|(e, _)| e.as_str()),
        Some("active_calls"),
        "subscribing to calls sends the live calls"
    );
    let sid = place(&w.server).await;
    while !saw_the_call_end(&events, &sid) {
        let line = client.next(deadline).await;
        let event = line["event"].as_str().unwrap_or_default().to_string();
        if event != "dashboard_update" {
            events.push((event, line["payload"].clone()));
        }
    }
    assert_a_calls_life_in_order(&events, &sid);
}

#[tokio::test]
async fn socket_io_refuses_a_client_without_the_right_key_and_checks_arguments() {
    let s = TestServer::start().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    for token in ["-", "wrong-key"] {
        let Some(mut client) = NodeClient::start(&s.base, token, &[]) else {
            return;
        };
        let line = client.next(deadline).await;
        assert_eq!(line["event"], "connect_error", "token {token}: {line}");
        assert!(
            line["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("unauthorized")),
            "{line}"
        );
    }
    let sid = crate::support::call_sid(7);
    let good = format!("subscribe_to_call={sid}");
    let args = [
        good.as_str(),
        "subscribe_to_call=not a sid",
        "subscribe_to_campaign=42",
    ];
    let Some(mut client) = NodeClient::start(&s.base, KEY, &args) else {
        return;
    };
    let (acks, _) = client.ready(deadline).await;
    assert_eq!(
        acks[0]["answer"],
        json!({"ok": true, "room": format!("call:{sid}")})
    );
    assert_eq!(acks[1]["answer"]["ok"], false, "{}", acks[1]);
    assert_eq!(acks[2]["answer"]["ok"], false, "{}", acks[2]);
    assert!(
        acks[2]["answer"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("campaignId"))
    );
}
