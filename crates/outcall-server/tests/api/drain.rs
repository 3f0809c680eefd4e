//! Graceful shutdown with live calls, the hard way: `outcall serve` runs as a separate
//! process between the Twilio and ElevenLabs simulators and gets real signals. After
//! SIGTERM no call is placed; live calls go on for `SHUTDOWN_GRACE_SECS`, then each is
//! hung up at Twilio and recorded ended by the system for "shutdown"; a second SIGTERM
//! does that at once; and calls a SIGKILL left open are settled at the next start.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use outcall_domain::call::{CallStatus, TerminatedBy};
use outcall_domain::transcript::TranscriptStatus;
use outcall_sim::elevenlabs::{AgentScript, AgentTimings, ElevenLabsSim, ElevenLabsSimConfig};
use outcall_sim::twilio::{
    MediaConfig, Scenario, ScenarioBook, Timings, TwilioSim, TwilioSimConfig,
};
use outcall_store::Store;
use serde_json::json;
use tokio::time::Instant;

const KEY: &str = "drain-test-key";

struct World {
    twilio: TwilioSim,
    eleven: ElevenLabsSim,
    port: u16,
    db: String,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let twilio = TwilioSim::start(TwilioSimConfig {
        timings: Timings {
            dial: Duration::from_millis(5),
            ring: Duration::from_millis(20),
            talk: Duration::from_secs(120),
            amd: Duration::from_millis(10),
        },
        scenarios: ScenarioBook::all(Scenario::Human),
        media: MediaConfig {
            enabled: true,
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .expect("Twilio simulator");
    let eleven = ElevenLabsSim::start(ElevenLabsSimConfig {
        timings: AgentTimings::fast(),
        // The agent never runs out of lines during these tests.
        script: AgentScript {
            agent_lines: vec!["Still here, still talking with you.".into(); 2000],
            ..AgentScript::default()
        },
        ..Default::default()
    })
    .await
    .expect("ElevenLabs simulator");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    eleven.set_webhook_url(format!("http://127.0.0.1:{port}/webhooks/elevenlabs"));
    World {
        db: format!("sqlite://{}/drain.db", dir.path().display()),
        twilio,
        eleven,
        port,
        _dir: dir,
    }
}

impl World {
    fn spawn(&self, grace_secs: u64) -> Child {
        Command::new(env!("CARGO_BIN_EXE_outcall"))
            .arg("serve")
            .env("API_KEY", KEY)
            .env("PORT", self.port.to_string())
            .env("PUBLIC_URL", format!("http://127.0.0.1:{}", self.port))
            .env("DATABASE_URL", &self.db)
            .env("TWILIO_ACCOUNT_SID", self.twilio.account_sid())
            .env("TWILIO_AUTH_TOKEN", self.twilio.auth_token())
            .env("TWILIO_FROM_NUMBER", "+15005550006")
            .env("TWILIO_API_BASE", self.twilio.base_url())
            .env("ELEVENLABS_API_KEY", self.eleven.api_key())
            .env("ELEVENLABS_AGENT_ID", self.eleven.agent_id())
            .env("ELEVENLABS_WEBHOOK_SECRET", self.eleven.webhook_secret())
            .env("ELEVENLABS_API_BASE", self.eleven.base_url())
            .env("SHUTDOWN_GRACE_SECS", grace_secs.to_string())
            .env("RECORD_CALLS", "false")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start outcall serve")
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn wait_up(&self, http: &reqwest::Client) {
        for _ in 0..400 {
            if let Ok(r) = http.get(self.url("/healthz")).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("outcall serve did not come up");
    }

    /// `POST /api/outbound-call`: the status and, on 201, the call sid.
    async fn place(&self, http: &reqwest::Client) -> (u16, Option<String>) {
        let r = http
            .post(self.url("/api/outbound-call"))
            .bearer_auth(KEY)
            .json(&json!({"to": "+14155552671", "contactName": "Ada"}))
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        (status, body["data"]["callSid"].as_str().map(str::to_string))
    }

    /// Waits until each call's conversation is under way at the agent.
    async fn wait_talking(&self, sids: &[String]) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let talking = self
                .eleven
                .conversations()
                .iter()
                .filter(|c| {
                    c.ended_by.is_none()
                        && c.transcript.len() > 1
                        && sids
                            .iter()
                            .any(|s| c.client_data["dynamic_variables"]["call_sid"] == s.as_str())
                })
                .count();
            if talking == sids.len() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{talking} of {} talking",
                sids.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The database, read directly once the process is gone.
    async fn store(&self) -> Arc<dyn Store> {
        #[derive(Parser)]
        struct Args {
            #[command(flatten)]
            store: outcall_server::config::StoreConfig,
        }
        let url = format!("--database-url={}", self.db);
        let args =
            Args::try_parse_from(["outcall", url.as_str(), "--mongodb-uri="]).expect("store flags");
        outcall_server::store::open(&args.store)
            .await
            .expect("open store")
    }
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -{name}");
}

/// Waits for the process to exit; kills it (and fails) after `secs`.
fn wait_exit(child: &mut Child, secs: u64) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("outcall did not exit within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a user relies on after a shutdown: each call ended, by the system, for
/// "shutdown", hung up at Twilio, its live transcript closed; nothing left open.
async fn assert_ended_by_shutdown(w: &World, sids: &[String]) {
    let store = w.store().await;
    for sid in sids {
        let call = store.get_call(sid).await.expect("get").expect("call");
        assert_eq!(call.status, CallStatus::Completed, "{call:?}");
        assert!(call.end_time.is_some(), "{call:?}");
        assert_eq!(call.terminated_by, Some(TerminatedBy::System), "{call:?}");
        assert_eq!(call.termination_reason.as_deref(), Some("shutdown"));
        let sim = w.twilio.call(sid).expect("sim call");
        assert_eq!(
            sim.hangup_requested(),
            Some(false),
            "hung up through Twilio"
        );
        assert_eq!(sim.status(), "completed");
        let transcript = store.get_transcript(sid).await.expect("get");
        if let Some(t) = transcript {
            assert_eq!(t.status, TranscriptStatus::Done, "transcript closed: {t:?}");
        }
    }
    for status in [
        CallStatus::Queued,
        CallStatus::Initiated,
        CallStatus::Ringing,
        CallStatus::InProgress,
    ] {
        let page = outcall_domain::PageRequest::new(
            Some(1),
            Some(100),
            outcall_domain::page::Sort::asc("createdAt"),
        )
        .expect("page");
        let filter = outcall_store::CallFilter {
            status: Some(status),
            ..Default::default()
        };
        let open = store.list_calls(&filter, &page).await.expect("list");
        assert!(open.items.is_empty(), "left {status:?}: {:?}", open.items);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_live_calls_go_on_for_the_grace_then_ends_them_through_twilio() {
    let w = world().await;
    let http = reqwest::Client::new();
    let mut child = w.spawn(2);
    w.wait_up(&http).await;
    let mut sids = Vec::new();
    for _ in 0..3 {
        let (status, sid) = w.place(&http).await;
        assert_eq!(status, 201);
        sids.push(sid.expect("sid"));
    }
    w.wait_talking(&sids).await;

    let signalled = std::time::Instant::now();
    signal(&child, "TERM");
    // Still serving during the grace, but placing no call.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = w.place(&http).await;
    assert_eq!(status, 503, "no new call while draining");
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "still up in the grace"
    );
    let conversations = w.eleven.conversations();
    assert!(
        conversations.iter().all(|c| c.ended_by.is_none()),
        "live calls go on during the grace"
    );

    let exit = wait_exit(&mut child, 30);
    assert!(exit.success(), "{exit}");
    let took = signalled.elapsed();
    assert!(
        took >= Duration::from_secs(2),
        "the grace was honoured: {took:?}"
    );
    assert_eq!(w.twilio.calls_placed(), 3, "nothing dialled after SIGTERM");
    assert_ended_by_shutdown(&w, &sids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_ends_live_calls_at_once() {
    let w = world().await;
    let http = reqwest::Client::new();
    let mut child = w.spawn(300);
    w.wait_up(&http).await;
    let mut sids = Vec::new();
    for _ in 0..2 {
        let (status, sid) = w.place(&http).await;
        assert_eq!(status, 201);
        sids.push(sid.expect("sid"));
    }
    w.wait_talking(&sids).await;

    signal(&child, "TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = w.place(&http).await;
    assert_eq!(status, 503, "no new call while draining");
    let again = std::time::Instant::now();
    signal(&child, "TERM");
    let exit = wait_exit(&mut child, 20);
    assert!(exit.success(), "{exit}");
    assert!(
        again.elapsed() < Duration::from_secs(15),
        "not the 300 s grace: {:?}",
        again.elapsed()
    );
    assert_ended_by_shutdown(&w, &sids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_settles_calls_a_crash_left_open() {
    let w = world().await;
    let http = reqwest::Client::new();
    let mut child = w.spawn(300);
    w.wait_up(&http).await;
    let (_, sid) = w.place(&http).await;
    let sid = sid.expect("sid");
    w.wait_talking(std::slice::from_ref(&sid)).await;
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    // The call ends at Twilio while outcall is down: its callback finds nobody.
    let sim = w.twilio.call(&sid).expect("sim call");
    sim.request_hangup(false);
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.status() != "completed" {
        assert!(
            Instant::now() < deadline,
            "sim call not ended: {}",
            sim.status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let store = w.store().await;
    let before = store.get_call(&sid).await.expect("get").expect("call");
    assert_eq!(
        before.status,
        CallStatus::InProgress,
        "left open by the crash"
    );
    drop(store);

    let mut child = w.spawn(300);
    w.wait_up(&http).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let call = loop {
        let r: serde_json::Value = http
            .get(w.url(&format!("/api/db/calls/{sid}")))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        if r["data"]["status"] == "completed" {
            break r["data"].clone();
        }
        assert!(Instant::now() < deadline, "not settled: {r}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(call["terminatedBy"], "system", "{call}");
    assert!(call["endTime"].is_string(), "{call}");
    child.kill().expect("stop");
    let _ = child.wait();
}
