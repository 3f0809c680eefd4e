//! The campaign runner's guarantees, each against the Twilio simulator: fair pacing
//! across campaigns (only a dialled contact takes a call slot or moves `callDelay`),
//! completion that fails safe and picks up contacts added as it completes, a status
//! webhook that settles the attempt even when its event cannot be written, pause
//! honoured across processes, and bad engine settings refused at start.

use std::time::Duration;

use outcall_domain::contact::{Contact, ContactPatch, ContactStatus};
use outcall_sim::twilio::log::CreateRecord;
use outcall_sim::twilio::{Scenario, ScenarioBook, TwilioSim};
use serde_json::{Value, json};

use crate::campaigns::fast_twilio;
use crate::support::TestServer;

/// A server on the fast simulator, with `CALLS_PER_SECOND` as given.
async fn start(cps: &str) -> (TestServer, TwilioSim) {
    let (sim, flags) = fast_twilio(ScenarioBook::all(Scenario::CalleeHangsUp)).await;
    let cps = format!("--calls-per-second={cps}");
    let mut flags: Vec<&str> = flags
        .iter()
        .map(String::as_str)
        .filter(|f| !f.starts_with("--calls-per-second"))
        .collect();
    flags.push(&cps);
    (TestServer::start_with(&flags).await, sim)
}

fn number(block: usize, i: usize) -> String {
    format!("+1415{:07}", 4_000_000 + block * 1000 + i)
}

async fn contacts(s: &TestServer, block: usize, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let c = Contact::new(number(block, i));
        ids.push(
            s.store
                .insert_contact(c)
                .await
                .expect("contact")
                .id
                .to_hex(),
        );
    }
    ids
}

/// Marks contacts do-not-call after they were enrolled (pending): the runner then
/// claims and skips each.
async fn do_not_call(s: &TestServer, ids: &[String]) {
    let patch = ContactPatch {
        status: Some(ContactStatus::DoNotCall),
        ..Default::default()
    };
    for id in ids {
        let id = id.parse().expect("contact id");
        s.store.update_contact(id, &patch).await.expect("update");
    }
}

/// A started campaign of these contacts.
async fn campaign(s: &TestServer, settings: Value, ids: &[String]) -> String {
    let id = enrolled(s, settings, ids).await;
    start_campaign(s, &id).await;
    id
}

async fn start_campaign(s: &TestServer, id: &str) {
    let started = s
        .post(&format!("/api/db/campaigns/{id}/start"), json!({}))
        .await;
    assert_eq!(started.status.as_u16(), 200, "{started:?}");
}

/// A draft campaign of these contacts.
async fn enrolled(s: &TestServer, settings: Value, ids: &[String]) -> String {
    let made = s
        .post(
            "/api/db/campaigns",
            json!({"name": "runner", "settings": settings}),
        )
        .await;
    assert_eq!(made.status.as_u16(), 201, "{made:?}");
    let id = made.data()["_id"].as_str().expect("_id").to_string();
    let added = s
        .post(
            &format!("/api/db/campaigns/{id}/contacts"),
            json!({"contactIds": ids}),
        )
        .await;
    assert_eq!(added.status.as_u16(), 200, "{added:?}");
    id
}

/// A calling window that is closed now: one hour, six hours from now, in UTC.
fn closed_window() -> Value {
    let opens = chrono::Utc::now() + chrono::Duration::hours(6);
    let hm = |t: chrono::DateTime<chrono::Utc>| t.format("%H:%M").to_string();
    json!({"start": hm(opens), "end": hm(opens + chrono::Duration::hours(1)), "timezone": "UTC"})
}

/// The calls the simulator created to numbers of `block`, from its log, in the order
/// their requests came.
fn calls_of(sim: &TwilioSim, block: usize) -> Vec<CreateRecord> {
    let prefix = &number(block, 0)[..9];
    let mut calls: Vec<CreateRecord> = sim
        .log()
        .calls_created()
        .filter(|c| c.to.starts_with(prefix))
        .cloned()
        .collect();
    calls.sort_by_key(|c| c.at);
    calls
}

/// Seconds between consecutive create requests.
fn gaps(calls: &[CreateRecord]) -> Vec<f64> {
    calls
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_seconds_f64())
        .collect()
}

async fn wait_until<F: std::future::Future<Output = bool>>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> F,
) {
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn status_of(s: &TestServer, id: &str) -> Value {
    s.get(&format!("/api/db/campaigns/{id}/stats"))
        .await
        .data()
        .clone()
}

async fn wait_status(s: &TestServer, id: &str, status: &str, within: Duration) -> Value {
    wait_until(&format!("campaign {status}"), within, || async {
        status_of(s, id).await["status"] == json!(status)
    })
    .await;
    status_of(s, id).await
}

/// Issue 14, defect 3: five campaigns with nothing to dial now (every contact outside
/// its window, or do-not-call) take no account call slot from the one that has due
/// contacts: it dials at `CALLS_PER_SECOND`, not at a sixth of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_campaigns_take_no_call_slot_from_a_busy_one() {
    const CPS: f64 = 5.0;
    let (s, sim) = start("5").await;
    for block in 1..=3 {
        let ids = contacts(&s, block, 3).await;
        campaign(
            &s,
            json!({"callDelay": 0, "callingWindow": closed_window()}),
            &ids,
        )
        .await;
    }
    for block in 4..=5 {
        let ids = contacts(&s, block, 3).await;
        let id = enrolled(&s, json!({"callDelay": 0}), &ids).await;
        do_not_call(&s, &ids).await;
        start_campaign(&s, &id).await;
    }
    let busy = contacts(&s, 0, 10).await;
    let id = campaign(&s, json!({"callDelay": 0, "maxConcurrentCalls": 10}), &busy).await;
    wait_status(&s, &id, "completed", Duration::from_secs(30)).await;

    let calls = calls_of(&sim, 0);
    assert_eq!(calls.len(), 10, "every due contact dialled once");
    for block in 1..=5 {
        assert!(
            calls_of(&sim, block).is_empty(),
            "campaign {block} dials no one"
        );
    }
    let gaps = gaps(&calls);
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    eprintln!("busy campaign at {CPS}/s beside 5 idle ones: gaps {gaps:.3?}, mean {mean:.3} s");
    assert!(
        mean < 1.5 / CPS,
        "the busy campaign waits for the idle ones' slots: mean gap {mean:.3} s, want {:.3}",
        1.0 / CPS
    );
    // Pacing still holds: the ten calls span at least nine slots (less a little for
    // the HTTP hops between the slot and the simulator's clock, which jitter one gap
    // but not the sum).
    let span: f64 = gaps.iter().sum();
    assert!(
        span > 0.85 * 9.0 / CPS,
        "calls faster than CALLS_PER_SECOND: {gaps:.3?}"
    );
}

/// Issue 14, defect 3: a do-not-call contact skipped between two dials does not move
/// `lastExecuted`, so the next dial waits one `callDelay` from the last real dial.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipped_contacts_do_not_count_towards_call_delay() {
    const DELAY: f64 = 0.4;
    let (s, sim) = start("1000").await;
    // Dialable and do-not-call contacts alternate in the campaign's order.
    let ids = contacts(&s, 0, 12).await;
    let id = enrolled(
        &s,
        json!({"callDelay": DELAY, "maxConcurrentCalls": 10}),
        &ids,
    )
    .await;
    let odd: Vec<String> = ids.iter().skip(1).step_by(2).cloned().collect();
    do_not_call(&s, &odd).await;
    start_campaign(&s, &id).await;
    let done = wait_status(&s, &id, "completed", Duration::from_secs(30)).await;
    assert_eq!(done["contacts"]["skipped"], json!(6), "{done}");

    let calls = calls_of(&sim, 0);
    assert_eq!(calls.len(), 6);
    let gaps = gaps(&calls);
    eprintln!("callDelay {DELAY} s with skips between dials: gaps {gaps:.3?}");
    // Five gaps: five callDelays, not ten (sums, as the HTTP hops between the
    // engine's clock and the simulator's jitter single gaps).
    let span: f64 = gaps.iter().sum();
    assert!(
        span < 5.0 * 1.4 * DELAY,
        "a skipped contact delayed the next dial by callDelay: {gaps:.3?}"
    );
    assert!(span > 5.0 * 0.85 * DELAY, "callDelay not kept: {gaps:.3?}");
}

/// A raw SQL connection to a test server's SQLite file, to break it the way a real
/// database breaks (a write that fails, documents a query misses).
async fn sql(s: &TestServer) -> sqlx::SqlitePool {
    let path = s
        .database_flag
        .strip_prefix("--database-url=sqlite://")
        .expect("an SQLite test server");
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(path)
                .busy_timeout(Duration::from_secs(10)),
        )
        .await
        .expect("open the test database")
}

async fn exec(db: &sqlx::SqlitePool, statement: &str) {
    sqlx::query(statement)
        .execute(db)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// The runner's lease as stored: it is renewed at every look the runner takes.
async fn runner_expiry(s: &TestServer, id: &str) -> Option<String> {
    let c = s
        .store
        .get_campaign(id.parse().expect("id"))
        .await
        .expect("get");
    c.and_then(|c| c.runner).map(|r| r.expires_at.to_rfc3339())
}

/// Issue 14, defect 7 (second half): when the campaign's dial counts read zero because
/// a query misses its contacts, the campaign does not complete with nobody called; once
/// the contacts read again, they are dialled and it completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_whose_contacts_read_as_none_does_not_complete() {
    let (s, sim) = start("1000").await;
    let ids = contacts(&s, 0, 4).await;
    let id = enrolled(&s, json!({"callDelay": 0}), &ids).await;
    // Its dial states now sit under an id its queries do not match, as when a foreign
    // system stored the campaign id in another form.
    let db = sql(&s).await;
    let hidden = format!("x{}", &id[1..]);
    exec(
        &db,
        &format!("UPDATE campaigncontacts SET campaign_id = '{hidden}' WHERE campaign_id = '{id}'"),
    )
    .await;
    // Started in the store: the API refuses to start a campaign whose contacts it
    // cannot find, and this one is started before they went missing.
    s.store
        .transition_campaign(
            id.parse().expect("id"),
            outcall_domain::CampaignAction::Start,
        )
        .await
        .expect("start");
    // Three renewals of the runner's lease: at least two full looks at the campaign.
    let mut seen: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while seen.len() < 3 && status_of(&s, &id).await["status"] == json!("active") {
        if let Some(t) = runner_expiry(&s, &id).await
            && seen.last() != Some(&t)
        {
            seen.push(t);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the runner does not run"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let now = status_of(&s, &id).await;
    assert_eq!(
        now["status"],
        json!("active"),
        "completed on counts alone: {now}"
    );
    assert_eq!(sim.calls_placed(), 0);

    exec(
        &db,
        &format!("UPDATE campaigncontacts SET campaign_id = '{id}' WHERE campaign_id = '{hidden}'"),
    )
    .await;
    let done = wait_status(&s, &id, "completed", Duration::from_secs(30)).await;
    assert_eq!(done["contacts"]["completed"], json!(4), "{done}");
    assert_eq!(calls_of(&sim, 0).len(), 4);
}

/// Issue 14: contacts added to a campaign as it completes are dialled (here, by the
/// CLI import, which enrols into a campaign whatever its status): it reopens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_added_as_a_campaign_completes_are_dialled() {
    let (s, sim) = start("1000").await;
    let ids = contacts(&s, 0, 1).await;
    let id = campaign(&s, json!({"callDelay": 0}), &ids).await;
    wait_status(&s, &id, "completed", Duration::from_secs(30)).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("late.csv");
    std::fs::write(
        &csv,
        format!(
            "phone,name\n{},Late one\n{},Late two\n",
            number(0, 1),
            number(0, 2)
        ),
    )
    .expect("write csv");
    let url = s
        .database_flag
        .strip_prefix("--database-url=")
        .expect("database flag");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_outcall"))
        .args(["contacts", "import", "--campaign", &id])
        .arg(&csv)
        .env("DATABASE_URL", url)
        .output()
        .await
        .expect("run outcall contacts import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    wait_until(
        "both late contacts dialled",
        Duration::from_secs(30),
        || async { calls_of(&sim, 0).len() == 3 },
    )
    .await;
    let done = wait_status(&s, &id, "completed", Duration::from_secs(30)).await;
    assert_eq!(done["contacts"]["completed"], json!(3), "{done}");
    assert_eq!(done["stats"]["totalContacts"], json!(3));
}

/// Issue 14: a status callback whose event cannot be written still settles the
/// attempt (the contact is final and the campaign completes at once, not after the
/// attempt's lease), and Twilio gets a 2xx: the status itself was stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_event_write_does_not_keep_the_attempt_open() {
    let (s, sim) = start("1000").await;
    let db = sql(&s).await;
    exec(
        &db,
        "CREATE TRIGGER no_events BEFORE INSERT ON callevents \
         BEGIN SELECT RAISE(ABORT, 'injected: the event write fails'); END",
    )
    .await;
    let ids = contacts(&s, 0, 2).await;
    // The attempt lease (120 s by default) is far longer than the wait below: only the
    // webhook's settlement can finish these attempts in time.
    let id = campaign(&s, json!({"callDelay": 0}), &ids).await;
    let done = wait_status(&s, &id, "completed", Duration::from_secs(20)).await;
    assert_eq!(done["contacts"]["completed"], json!(2), "{done}");
    assert_eq!(done["stats"]["callsCompleted"], json!(2), "{done}");
    for call in calls_of(&sim, 0) {
        let sid = call.call_sid.expect("a created call");
        let stored = s.get(&format!("/api/db/calls/{sid}")).await;
        assert_eq!(stored.data()["status"], json!("completed"), "{stored:?}");
    }
}

/// Issue 14: `serve` refuses engine and AMD settings Twilio or the pacing cannot use,
/// in one line that names the setting, before it binds or dials.
#[tokio::test]
async fn bad_engine_settings_stop_serve_at_start() {
    let cases = [
        ("CALLS_PER_SECOND", "0", "CALLS_PER_SECOND"),
        ("CALLS_PER_SECOND", "-2", "CALLS_PER_SECOND"),
        ("CALLS_PER_SECOND", "NaN", "CALLS_PER_SECOND"),
        ("CALLS_PER_SECOND", "1e-300", "CALLS_PER_SECOND"),
        ("AMD_TIMEOUT_SECS", "120", "AMD_TIMEOUT_SECS"),
        ("AMD_SPEECH_THRESHOLD_MS", "50", "AMD_SPEECH_THRESHOLD_MS"),
        (
            "VOICEMAIL_MESSAGE",
            &"Hello there. ".repeat(400),
            "VOICEMAIL_MESSAGE",
        ),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}/start.db", dir.path().display());
    for (name, value, named) in cases {
        let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_outcall"))
            .arg("serve")
            .env("API_KEY", "k")
            .env("PORT", "0")
            .env("DATABASE_URL", &db)
            .env(name, value)
            .kill_on_drop(true)
            .output();
        // A server that accepted the setting runs on: that is the failure.
        let out = tokio::time::timeout(Duration::from_secs(20), run)
            .await
            .unwrap_or_else(|_| panic!("{name}={value:.20} was accepted: serve kept running"))
            .expect("run outcall serve");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}={value:.20} was accepted");
        let first = err.lines().next().unwrap_or("");
        assert!(
            first.contains(named),
            "{name}={value:.20}: the first line does not name it: {err}"
        );
    }
}

/// `outcall serve` as its own process on a shared SQLite file and the simulator.
struct Serve {
    child: std::process::Child,
    port: u16,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const PROC_KEY: &str = "engine-test-key";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

async fn serve(db: &str, sim: &TwilioSim, env: &[(&str, &str)]) -> Serve {
    let port = free_port();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_outcall"));
    cmd.arg("serve")
        .env("API_KEY", PROC_KEY)
        .env("PORT", port.to_string())
        .env("PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("DATABASE_URL", db)
        .env("TWILIO_ACCOUNT_SID", sim.account_sid())
        .env("TWILIO_AUTH_TOKEN", sim.auth_token())
        .env("TWILIO_FROM_NUMBER", "+15005550006")
        .env("TWILIO_API_BASE", sim.base_url())
        .env("CALLS_PER_SECOND", "1000")
        .env("ENGINE_TICK_MS", "50")
        .env("RECORD_CALLS", "false")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let server = Serve {
        child: cmd.spawn().expect("start outcall serve"),
        port,
    };
    let http = reqwest::Client::new();
    wait_until("outcall serve up", Duration::from_secs(20), || async {
        http.get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    server
}

impl Serve {
    async fn post(&self, path: &str, body: Value) -> Value {
        let r = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}{path}", self.port))
            .bearer_auth(PROC_KEY)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = r.status();
        let v: Value = r.json().await.expect("json");
        assert!(status.is_success(), "{path}: {status} {v}");
        v["data"].clone()
    }
}

/// A campaign of `n` contacts made through `api`, started.
async fn process_campaign(api: &Serve, n: usize, settings: Value) -> String {
    let rows: Vec<Value> = (0..n)
        .map(|i| json!({"phoneNumber": number(0, i)}))
        .collect();
    api.post("/api/db/contacts/import", json!(rows)).await;
    let c = api
        .post(
            "/api/db/campaigns",
            json!({"name": "two processes", "settings": settings}),
        )
        .await;
    let id = c["_id"].as_str().expect("id").to_string();
    let mut ids = Vec::new();
    for page in 1..=n.div_ceil(100) {
        let r: Value = reqwest::Client::new()
            .get(format!(
                "http://127.0.0.1:{}/api/db/contacts?limit=100&page={page}",
                api.port
            ))
            .bearer_auth(PROC_KEY)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        ids.extend(
            r["data"]
                .as_array()
                .expect("items")
                .iter()
                .map(|c| c["_id"].clone()),
        );
    }
    api.post(
        &format!("/api/db/campaigns/{id}/contacts"),
        json!({"contactIds": ids}),
    )
    .await;
    api.post(&format!("/api/db/campaigns/{id}/start"), json!({}))
        .await;
    id
}

/// The store the processes share, opened as the CLI does.
async fn shared_store(db: &str) -> std::sync::Arc<dyn outcall_store::Store> {
    #[derive(clap::Parser)]
    struct Flags {
        #[command(flatten)]
        store: outcall_server::config::StoreConfig,
    }
    let flags = <Flags as clap::Parser>::try_parse_from(["outcall", "--database-url", db])
        .expect("store flags");
    outcall_server::store::open(&flags.store)
        .await
        .expect("open the shared store")
}

/// Waits until no process runs the campaign: its runner lease released, which its
/// runner does only after its last dial was answered.
async fn wait_runner_gone(store: &dyn outcall_store::Store, id: &str) {
    let id = id.parse().expect("id");
    wait_until(
        "the engine lets go of the campaign",
        Duration::from_secs(20),
        || async {
            store
                .get_campaign(id)
                .await
                .expect("get")
                .is_some_and(|c| c.runner.is_none())
        },
    )
    .await;
}

/// Issue 14: pause and stop answered by a process that runs no engine (or by the CLI)
/// wait for the engine process's dial in flight: once answered, no call of the
/// campaign is created at the simulator. Every REST hop takes 200 ms, so a dial is
/// in flight most of the time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_stop_answered_by_another_process_wait_for_the_engines_dial() {
    let (sim, _) = fast_twilio(ScenarioBook::all(Scenario::CalleeHangsUp)).await;
    sim.faults()
        .set_latency(outcall_sim::faults::Latency::fixed(Duration::from_millis(
            200,
        )));
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}/shared.db", dir.path().display());
    let engine = serve(&db, &sim, &[]).await;
    let api = serve(&db, &sim, &[("CAMPAIGN_ENGINE", "false")]).await;
    let store = shared_store(&db).await;
    let id = process_campaign(&api, 40, json!({"callDelay": 0, "maxConcurrentCalls": 5})).await;

    let mut placed = 0;
    for round in 0..3 {
        wait_until("calls flowing", Duration::from_secs(20), || async {
            sim.calls_placed() >= placed + 2
        })
        .await;
        let how = match round {
            0 => {
                api.post(&format!("/api/db/campaigns/{id}/pause"), json!({}))
                    .await;
                "the API of a process without an engine"
            }
            1 => {
                let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_outcall"))
                    .args(["campaign", "pause", &id])
                    .env("DATABASE_URL", &db)
                    .output()
                    .await
                    .expect("outcall campaign pause");
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                "the CLI"
            }
            _ => {
                api.post(&format!("/api/db/campaigns/{id}/stop"), json!({}))
                    .await;
                "stop, on the API of a process without an engine"
            }
        };
        let at_answer = sim.calls_placed();
        wait_runner_gone(store.as_ref(), &id).await;
        assert_eq!(
            sim.calls_placed(),
            at_answer,
            "round {round}: a call was created after {how} answered"
        );
        placed = at_answer;
        if round < 2 {
            api.post(&format!("/api/db/campaigns/{id}/resume"), json!({}))
                .await;
        }
    }
    drop(engine);
}

/// Issue 14: the runner lease (1 s here) is kept while dials wait for Twilio (each
/// create answered after 1.5 s) and while the campaign's calls fill its slots, so a
/// second engine process never dials the campaign meanwhile: every create comes from
/// one process, and no more than `maxConcurrentCalls` calls are ever live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_waiting_on_twilio_keeps_the_campaign_from_a_second_engine() {
    use outcall_sim::twilio::{CreateFault, CreateRule};
    const ANSWER: Duration = Duration::from_millis(1500);
    let (sim, _) = fast_twilio(ScenarioBook::all(Scenario::CalleeHangsUp)).await;
    sim.faults().on_create(
        CreateRule::any()
            .always()
            .fault(CreateFault::AnswerDelayed(ANSWER)),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}/lease.db", dir.path().display());
    let lease = [("RUNNER_LEASE_SECS", "1")];
    let a = serve(&db, &sim, &lease).await;
    let _b = serve(&db, &sim, &lease).await;
    let id = process_campaign(&a, 6, json!({"callDelay": 0, "maxConcurrentCalls": 2})).await;
    let store = shared_store(&db).await;
    wait_until("campaign completed", Duration::from_secs(60), || async {
        store
            .get_campaign(id.parse().expect("id"))
            .await
            .expect("get")
            .is_some_and(|c| c.status == outcall_domain::CampaignStatus::Completed)
    })
    .await;
    let calls = calls_of(&sim, 0);
    assert_eq!(calls.len(), 6);
    let origins: std::collections::HashSet<_> =
        calls.iter().map(|c| c.callback_origin.clone()).collect();
    assert_eq!(
        origins.len(),
        1,
        "two engines dialled the campaign: {calls:#?}"
    );
    assert!(
        sim.peak_live_calls() <= 2,
        "{} calls live at once, over maxConcurrentCalls 2",
        sim.peak_live_calls()
    );
}
