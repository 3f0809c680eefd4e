//! The durability promise, tested the hard way: `outcall serve` runs a campaign as a
//! separate process and is killed with SIGKILL at random moments, 20 times, and
//! restarted each time. No attempt may be dialled twice (the Twilio simulator counts
//! them), no contact may be lost, and the campaign must complete. On SQLite, then on
//! MongoDB when `OUTCALL_TEST_MONGODB_URI` is set.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use outcall_sim::twilio::{Scenario, ScenarioBook, Timings, TwilioSim, TwilioSimConfig};
use serde_json::{Value, json};

use crate::support::{Backend, on_each_backend};

const KEY: &str = "crash-test-key";

struct Server {
    port: u16,
    db: String,
    /// `MONGODB_DB` when `db` is a MongoDB URI.
    mongodb_db: Option<String>,
    sim: String,
    sid: String,
    token: String,
}

impl Server {
    fn spawn(&self) -> Child {
        let mut command = Command::new(env!("CARGO_BIN_EXE_outcall"));
        if let Some(db) = &self.mongodb_db {
            command.env("MONGODB_DB", db);
        }
        command
            .arg("serve")
            .env("API_KEY", KEY)
            .env("PORT", self.port.to_string())
            .env("PUBLIC_URL", format!("http://127.0.0.1:{}", self.port))
            .env("DATABASE_URL", &self.db)
            .env("TWILIO_ACCOUNT_SID", &self.sid)
            .env("TWILIO_AUTH_TOKEN", &self.token)
            .env("TWILIO_FROM_NUMBER", "+15005550006")
            .env("TWILIO_API_BASE", &self.sim)
            .env("CALLS_PER_SECOND", "1000")
            .env("ENGINE_TICK_MS", "50")
            .env("ATTEMPT_LEASE_SECS", "1")
            .env("RUNNER_LEASE_SECS", "1")
            .env("RECORD_CALLS", "false")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start outcall serve")
    }
}

/// The server process, killed when the test ends, also when it fails.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn url(port: u16, path: &str) -> String {
    format!("http://127.0.0.1:{port}{path}")
}

async fn wait_up(http: &reqwest::Client, port: u16) {
    for _ in 0..400 {
        if let Ok(r) = http.get(url(port, "/healthz")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("outcall serve did not come up");
}

async fn api(http: &reqwest::Client, port: u16, path: &str, body: Value) -> Value {
    let r = http
        .post(url(port, path))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = r.status();
    let v: Value = r.json().await.expect("json");
    assert!(status.is_success(), "{path}: {v}");
    v["data"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_twenty_times_dials_no_attempt_twice_and_loses_no_contact() {
    on_each_backend(sigkill_twenty_times_on).await;
}

async fn sigkill_twenty_times_on(backend: Backend) {
    // The MongoDB stand-in scans a collection per query: fewer contacts there, so its
    // slower steps stay well inside the 1 s leases.
    let n: usize = if backend.is_standin() { 40 } else { 120 };
    let sim = TwilioSim::start(TwilioSimConfig {
        timings: Timings {
            dial: Duration::from_millis(5),
            ring: Duration::from_millis(20),
            talk: Duration::from_millis(150),
            amd: Duration::from_millis(5),
        },
        scenarios: ScenarioBook::mix(11, vec![(Scenario::CalleeHangsUp, 4), (Scenario::Busy, 1)]),
        ..Default::default()
    })
    .await
    .expect("simulator");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let (db, mongodb_db) = match backend {
        Backend::Sqlite => (format!("sqlite://{}/crash.db", dir.path().display()), None),
        Backend::MongoDb => {
            let (uri, db) = crate::support::fresh_mongodb();
            (uri, Some(db))
        }
    };
    let server = Server {
        port,
        db,
        mongodb_db,
        sim: sim.base_url().to_string(),
        sid: sim.account_sid().to_string(),
        token: sim.auth_token().to_string(),
    };
    // Bounded: a request that never gets an answer fails the test instead of hanging it.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let mut child = Running(server.spawn());
    wait_up(&http, port).await;

    let contacts: Vec<Value> = (0..n)
        .map(|i| json!({"phoneNumber": format!("+1415{:07}", 3_000_000 + i)}))
        .collect();
    let report = api(&http, port, "/api/db/contacts/import", json!(contacts)).await;
    assert_eq!(report["created"], json!(n));
    let campaign = api(
        &http,
        port,
        "/api/db/campaigns",
        json!({"name": "crash", "settings": {"callDelay": 0.02, "maxConcurrentCalls": 4,
               "retryCount": 1, "retryDelay": 0.2, "retryOn": ["busy"]}}),
    )
    .await;
    let id = campaign["_id"].as_str().expect("id").to_string();
    // Every contact into the campaign, then go.
    let mut ids = Vec::new();
    for page in 1..=n.div_ceil(100) {
        let r: Value = http
            .get(url(
                port,
                &format!("/api/db/contacts?limit=100&page={page}"),
            ))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        for c in r["data"].as_array().expect("items") {
            ids.push(c["_id"].clone());
        }
    }
    api(
        &http,
        port,
        &format!("/api/db/campaigns/{id}/contacts"),
        json!({"contactIds": ids}),
    )
    .await;
    api(
        &http,
        port,
        &format!("/api/db/campaigns/{id}/start"),
        json!({}),
    )
    .await;

    // Kill it at pseudo-random moments (a fixed seed: the same run every time).
    let mut seed: u64 = 0x5eed;
    for _ in 0..20 {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        tokio::time::sleep(Duration::from_millis(30 + (seed >> 33) % 250)).await;
        child.0.kill().expect("SIGKILL");
        let _ = child.0.wait();
        child = Running(server.spawn());
        wait_up(&http, port).await;
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let stats = loop {
        let r: Value = http
            .get(url(port, &format!("/api/db/campaigns/{id}/stats")))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("json");
        if r["data"]["status"] == "completed" {
            break r["data"].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "not completed: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let calls = sim.calls();
    let attempts: Vec<String> = calls
        .iter()
        .filter_map(|c| {
            let cb = c.request().status_callback.clone()?;
            let q = cb.split_once('?')?.1.to_string();
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "attemptId")
                .map(|(_, v)| v.into_owned())
        })
        .collect();
    assert_eq!(
        attempts.len(),
        calls.len(),
        "every call carries its attempt"
    );
    let unique: HashSet<&String> = attempts.iter().collect();
    assert_eq!(unique.len(), attempts.len(), "an attempt was dialled twice");
    let contacts = &stats["contacts"];
    let settled = ["completed", "failed", "skipped"]
        .iter()
        .map(|k| contacts[*k].as_i64().unwrap_or(0))
        .sum::<i64>();
    assert_eq!(settled, n as i64, "every contact final: {contacts}");
    // Stats are exact after all the kills: the completion recounts the stored calls.
    let stored: Value = http
        .get(url(
            port,
            &format!("/api/db/calls?campaignId={id}&limit=100"),
        ))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("calls")
        .json()
        .await
        .expect("json");
    drop(child);
    let s = &stats["stats"];
    assert_eq!(s["callsPlaced"], stored["pagination"]["total"], "stats {s}");
    assert_eq!(
        s["callsCompleted"].as_i64().unwrap_or(-1) + s["callsFailed"].as_i64().unwrap_or(-1),
        s["callsPlaced"].as_i64().unwrap_or(-2),
        "every placed call counted once as completed or failed: {s}"
    );
    let numbers: HashSet<String> = calls.iter().map(|c| c.request().to.clone()).collect();
    assert!(
        numbers.len() >= n - 2,
        "contacts never dialled: {}",
        n - numbers.len()
    );
    eprintln!(
        "crash test: {} calls for {n} contacts after 20 SIGKILLs; contacts {contacts}",
        calls.len()
    );
}
