//! The campaign runner's guarantees, each against the Twilio simulator: fair pacing
//! across campaigns (only a dialled contact takes a call slot or moves `callDelay`),
//! completion that fails safe and picks up contacts added as it completes, a status
//! webhook that settles the attempt even when its event cannot be written, pause
//! honoured across processes, and bad engine settings refused at start.

use std::time::Duration;

use outcall_domain::contact::{Contact, ContactPatch, ContactStatus};
use outcall_sim::twilio::{Scenario, ScenarioBook, SimCall, TwilioSim};
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
        ids.push(s.store.insert_contact(c).await.expect("contact").id.to_hex());
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

/// The simulator's calls to numbers of `block`, in the order it created them.
fn calls_of(sim: &TwilioSim, block: usize) -> Vec<SimCall> {
    let prefix = &number(block, 0)[..9];
    let mut calls: Vec<SimCall> = sim
        .calls()
        .into_iter()
        .filter(|c| c.request().to.starts_with(prefix))
        .collect();
    calls.sort_by_key(SimCall::created);
    calls
}

/// Seconds between consecutive creations.
fn gaps(calls: &[SimCall]) -> Vec<f64> {
    calls
        .windows(2)
        .map(|w| (w[1].created() - w[0].created()).as_seconds_f64())
        .collect()
}

async fn wait_until<F: std::future::Future<Output = bool>>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> F,
) {
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}: not in time");
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
        campaign(&s, json!({"callDelay": 0, "callingWindow": closed_window()}), &ids).await;
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
        assert!(calls_of(&sim, block).is_empty(), "campaign {block} dials no one");
    }
    let gaps = gaps(&calls);
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    eprintln!("busy campaign at {CPS}/s beside 5 idle ones: gaps {gaps:.3?}, mean {mean:.3} s");
    assert!(
        mean < 1.5 / CPS,
        "the busy campaign waits for the idle ones' slots: mean gap {mean:.3} s, want {:.3}",
        1.0 / CPS
    );
    // Pacing still holds: no two calls closer than the account's rate allows (less a
    // little for the HTTP hops between the slot and the simulator's clock).
    assert!(
        gaps.iter().all(|g| *g > 0.75 / CPS),
        "calls closer than CALLS_PER_SECOND: {gaps:.3?}"
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
    let id = enrolled(&s, json!({"callDelay": DELAY, "maxConcurrentCalls": 10}), &ids).await;
    let odd: Vec<String> = ids.iter().skip(1).step_by(2).cloned().collect();
    do_not_call(&s, &odd).await;
    start_campaign(&s, &id).await;
    let done = wait_status(&s, &id, "completed", Duration::from_secs(30)).await;
    assert_eq!(done["contacts"]["skipped"], json!(6), "{done}");

    let calls = calls_of(&sim, 0);
    assert_eq!(calls.len(), 6);
    let gaps = gaps(&calls);
    eprintln!("callDelay {DELAY} s with skips between dials: gaps {gaps:.3?}");
    assert!(
        gaps.iter().all(|g| *g < 1.5 * DELAY),
        "a skipped contact delayed the next dial by callDelay: {gaps:.3?}"
    );
    // Less a little for the HTTP hops between the engine's clock and the simulator's.
    assert!(
        gaps.iter().all(|g| *g > 0.75 * DELAY),
        "callDelay not kept: {gaps:.3?}"
    );
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
    let c = s.store.get_campaign(id.parse().expect("id")).await.expect("get");
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
    start_campaign(&s, &id).await;
    // Three renewals of the runner's lease: at least two full looks at the campaign.
    let mut seen: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while seen.len() < 3 && status_of(&s, &id).await["status"] == json!("active") {
        if let Some(t) = runner_expiry(&s, &id).await
            && seen.last() != Some(&t)
        {
            seen.push(t);
        }
        assert!(tokio::time::Instant::now() < deadline, "the runner does not run");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let now = status_of(&s, &id).await;
    assert_eq!(now["status"], json!("active"), "completed on counts alone: {now}");
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
        format!("phone,name\n{},Late one\n{},Late two\n", number(0, 1), number(0, 2)),
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
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    wait_until("both late contacts dialled", Duration::from_secs(30), || async {
        calls_of(&sim, 0).len() == 3
    })
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
        let stored = s.get(&format!("/api/db/calls/{}", call.sid())).await;
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
        ("VOICEMAIL_MESSAGE", &"Hello there. ".repeat(400), "VOICEMAIL_MESSAGE"),
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
