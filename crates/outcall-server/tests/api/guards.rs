//! Regression tests of issue 14's guards, one per defect, against the Twilio and
//! ElevenLabs simulators:
//! - do-not-call holds for the number, whichever contact record carries it (4);
//! - imports from the CLI and the API at once store each number once, with no 5xx (4);
//! - a contact field cannot set a dynamic variable the call sets itself (5);
//! - a stored calling window that cannot be read dials nobody (6).
//!
//! The first two are about SQLite (its files, its processes); the window and the
//! do-not-call list also run on MongoDB when `OUTCALL_TEST_MONGODB_URI` is set.

use std::time::Duration;

use outcall_domain::campaign::{CallingWindow, Campaign};
use outcall_domain::contact::{Contact, ContactStatus};
use outcall_domain::{CampaignAction, ObjectId};
use outcall_sim::twilio::{Scenario, ScenarioBook};
use serde_json::{Value, json};
use sqlx::Connection;

use crate::campaigns::fast_twilio;
use crate::conversation::world;
use crate::support::{Backend, TestServer, on_each_backend, sqlite_path};

const NUMBER: &str = "+14155550123";

/// A server on `backend` calling through a fast Twilio simulator where callees answer.
async fn start(backend: Backend) -> (TestServer, outcall_sim::twilio::TwilioSim) {
    let (sim, flags) = fast_twilio(ScenarioBook::all(Scenario::CalleeHangsUp)).await;
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    (TestServer::start_on_backend(backend, &flags).await, sim)
}

/// A draft campaign holding `ids`, made through the API.
async fn campaign_of(s: &TestServer, ids: &[String]) -> String {
    let answer = s
        .post(
            "/api/db/campaigns",
            json!({"name": "Guards", "prompt": "Remind them.", "settings": {"callDelay": 0.001}}),
        )
        .await;
    assert_eq!(answer.status.as_u16(), 201, "{answer:?}");
    let id = answer.data()["_id"].as_str().expect("_id").to_string();
    if !ids.is_empty() {
        let added = s
            .post(
                &format!("/api/db/campaigns/{id}/contacts"),
                json!({"contactIds": ids}),
            )
            .await;
        assert_eq!(added.status.as_u16(), 200, "{added:?}");
    }
    id
}

/// The campaign's dial states once none is `pending`, `retry` or `dialing`.
async fn settled(s: &TestServer, id: &str, within: Duration) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let got = s
            .get(&format!("/api/db/campaigns/{id}/contacts?limit=100"))
            .await;
        let items = got.items().clone();
        let open = items.iter().any(|cc| {
            ["pending", "retry", "dialing"].contains(&cc["status"].as_str().unwrap_or(""))
        });
        if !items.is_empty() && !open {
            return items;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "campaign {id} not settled: {items:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Defect 4: two contact records of one number (an outcall database from before
/// numbers were unique, or a migrated one), the newer marked do-not-call. A campaign
/// holding the older must not dial it, and `POST /api/outbound-call` must refuse it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_do_not_call_twin_blocks_its_number_everywhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", sqlite_path(&dir).display());
    let store = outcall_store_sqlite::SqliteStore::open(&url)
        .await
        .expect("open");
    let older = outcall_store::ContactStore::insert_contact(&store, Contact::new(NUMBER))
        .await
        .expect("the older record");
    store.close().await;
    // The newer twin, written as an earlier outcall let it be: into another campaign.
    let mut raw = sqlx::SqliteConnection::connect(&url).await.expect("raw");
    sqlx::query("DROP INDEX IF EXISTS contacts_phone_unique")
        .execute(&mut raw)
        .await
        .expect("the database as it was before numbers were unique");
    let mut newer = Contact::new(NUMBER);
    newer.created_at = older.created_at + chrono::Duration::seconds(1);
    newer.status = ContactStatus::DoNotCall;
    let elsewhere = ObjectId::new();
    newer.campaign_ids = vec![elsewhere];
    for sql in [
        "INSERT INTO contacts (id, phone_number, status, created_at, doc) VALUES (?1, ?2, 'do-not-call', ?3, ?4)",
        "INSERT INTO contact_campaigns (contact_id, phone_number, campaign_id, status) VALUES (?1, ?2, ?5, 'do-not-call')",
    ] {
        sqlx::query(sql)
            .bind(newer.id.to_hex())
            .bind(NUMBER)
            .bind(newer.created_at.timestamp_millis())
            .bind(serde_json::to_string(&newer).expect("json"))
            .bind(elsewhere.to_hex())
            .execute(&mut raw)
            .await
            .expect("the do-not-call twin");
    }
    raw.close().await.expect("close");

    let (sim, flags) = fast_twilio(ScenarioBook::all(Scenario::CalleeHangsUp)).await;
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let s = TestServer::start_in(dir, &flags).await;
    let id = campaign_of(&s, &[older.id.to_hex()]).await;
    let started = s
        .post(&format!("/api/db/campaigns/{id}/start"), json!({}))
        .await;
    assert_eq!(started.status.as_u16(), 200, "{started:?}");
    let states = settled(&s, &id, Duration::from_secs(30)).await;
    assert_eq!(sim.calls_placed(), 0, "the number was dialled: {states:?}");
    assert_eq!(states[0]["status"], "skipped", "{states:?}");
    assert_eq!(states[0]["skipReason"], "do-not-call", "{states:?}");

    let refused = s.post("/api/outbound-call", json!({"to": NUMBER})).await;
    refused.assert_error(409, "conflict");
    let details = &refused.body["error"]["details"];
    assert_eq!(details["phoneNumber"], NUMBER, "{refused:?}");
    assert_eq!(details["reason"], "do-not-call", "{refused:?}");
    assert!(refused.message().contains(NUMBER), "{refused:?}");
    assert_eq!(sim.calls_placed(), 0, "nothing was dialled");
}

/// Defect 4's cause: `outcall contacts import --campaign X` (its own process) and the
/// API's import into campaign Y at once, of the same 320 numbers. Each number ends up
/// as one contact in both campaigns, and the API answers without a 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cli_and_api_imports_store_each_number_once() {
    const ROWS: usize = 320;
    let s = TestServer::start().await;
    let (x, y) = (campaign_of(&s, &[]).await, campaign_of(&s, &[]).await);
    let mut csv = String::from("phone,name\n");
    for i in 0..ROWS {
        csv.push_str(&format!("+1415{:07},Person {i}\n", 3_000_000 + i));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("contacts.csv");
    std::fs::write(&file, &csv).expect("write the CSV");

    let cli = {
        let (flag, x, file) = (s.database_flag.clone(), x.clone(), file.clone());
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_outcall"))
                .args(["contacts", "import", "--campaign", &x])
                .arg(&file)
                .arg(&flag)
                .output()
                .expect("run outcall contacts import")
        })
    };
    let path = format!("/api/db/campaigns/{y}/contacts/import");
    let api = s.send_raw(reqwest::Method::POST, &path, "text/csv", csv.clone());
    let (api, cli) = tokio::join!(api, cli);
    let cli = cli.expect("CLI task");
    assert!(
        cli.status.success(),
        "the CLI import failed: {}\n{}",
        String::from_utf8_lossy(&cli.stdout),
        String::from_utf8_lossy(&cli.stderr)
    );
    assert_eq!(api.status.as_u16(), 200, "the API import: {api:?}");
    assert_eq!(api.data()["errors"], json!([]), "{api:?}");

    assert_eq!(
        s.total("/api/db/contacts").await,
        ROWS as u64,
        "one contact per number"
    );
    for campaign in [&x, &y] {
        assert_eq!(
            s.total(&format!("/api/db/contacts?campaignId={campaign}"))
                .await,
            ROWS as u64,
            "every number is in campaign {campaign}"
        );
        assert_eq!(
            s.total(&format!("/api/db/campaigns/{campaign}/contacts"))
                .await,
            ROWS as u64,
            "one dial state per number in campaign {campaign}"
        );
    }
}

/// Defect 5: a contact's custom field named `call_sid` (stored before the API refused
/// it, or by another system) never reaches the agent as the call's `call_sid`, so the
/// post-call webhook writes into this call and no other. The API refuses such fields,
/// and an import drops them with a warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_field_cannot_set_the_calls_own_variables() {
    let w = world(Scenario::Human, Duration::from_secs(60)).await;
    let s = &w.server;
    let decoy = crate::support::call_sid(0xdec0);
    s.create_call(&decoy, json!({"to": NUMBER})).await;
    let mut c = Contact::new(NUMBER);
    c.custom_fields.insert("call_sid".into(), json!(decoy));
    c.custom_fields
        .insert("phone_number".into(), json!("+19995550000"));
    c.custom_fields.insert("plan".into(), json!("gold"));
    let c = s.store.insert_contact(c).await.expect("insert contact");
    let id = campaign_of(s, &[c.id.to_hex()]).await;
    let started = s
        .post(&format!("/api/db/campaigns/{id}/start"), json!({}))
        .await;
    assert_eq!(started.status.as_u16(), 200, "{started:?}");
    let states = settled(s, &id, Duration::from_secs(30)).await;
    let sid = states[0]["lastCallSid"]
        .as_str()
        .unwrap_or_else(|| panic!("the contact was called: {states:?}"))
        .to_string();
    assert_ne!(sid, decoy);

    let convo = w
        .eleven
        .conversations()
        .into_iter()
        .next()
        .expect("one conversation");
    let vars = &convo.client_data["dynamic_variables"];
    assert_eq!(vars["call_sid"], sid.as_str(), "{vars}");
    assert_eq!(vars["phone_number"], NUMBER, "{vars}");
    assert_eq!(vars["plan"], "gold", "other fields still reach the agent");
    // The post-call webhook found this call, not the decoy.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let t = s.get(&format!("/api/db/transcripts/{sid}")).await;
        if t.status.is_success() && t.data().get("summary").is_some() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no transcript for {sid}: {t:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    s.get(&format!("/api/db/transcripts/{decoy}"))
        .await
        .assert_error(404, "not_found");
    let decoy_call = s.get(&format!("/api/db/calls/{decoy}")).await;
    assert_eq!(
        decoy_call.data().get("conversationId"),
        None,
        "{decoy_call:?}"
    );

    // The API refuses them, naming the field; nothing is written or dialled.
    s.post(
        "/api/db/contacts",
        json!({"phoneNumber": "+14155550124", "customFields": {"call_sid": "CAx"}}),
    )
    .await
    .assert_field_error("customFields.call_sid");
    s.put(
        &format!("/api/db/contacts/{}", c.id),
        json!({"customFields": {"phone_number": "+19995550000"}}),
    )
    .await
    .assert_field_error("customFields.phone_number");
    let placed = w.twilio.calls_placed();
    s.post(
        "/api/outbound-call",
        json!({"to": "+14155550125", "dynamicVariables": {"call_sid": "CAx", "plan": "gold"}}),
    )
    .await
    .assert_field_error("dynamicVariables.call_sid");
    assert_eq!(w.twilio.calls_placed(), placed, "nothing was dialled");
    assert_eq!(s.total("/api/db/contacts").await, 1, "nothing was created");

    // An import keeps the row and drops the field, with a warning naming the row.
    let imported = s
        .send_raw(
            reqwest::Method::POST,
            "/api/db/contacts/import",
            "text/csv",
            "phone,name,call_sid,plan\n+14155550126,Bo,CAforged,silver\n",
        )
        .await;
    assert_eq!(imported.status.as_u16(), 200, "{imported:?}");
    assert_eq!(imported.data()["created"], 1, "{imported:?}");
    let warnings = imported.data()["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{imported:?}");
    assert_eq!(warnings[0]["row"], 2);
    assert!(
        warnings[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("call_sid")),
        "{imported:?}"
    );
    let bo = s.get("/api/db/contacts/phone/+14155550126").await;
    assert_eq!(
        bo.data()["customFields"],
        json!({"plan": "silver"}),
        "{bo:?}"
    );
}

/// Defect 6: campaigns whose stored calling window cannot be evaluated (an unknown
/// time zone, start == end, an unknown day; written straight to the store, since the
/// API refuses them) dial nobody: their contacts end `skipped` with `invalid-window`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_stored_window_dials_nobody() {
    on_each_backend(an_unreadable_stored_window_dials_nobody_on).await;
}

async fn an_unreadable_stored_window_dials_nobody_on(backend: Backend) {
    let (s, sim) = start(backend).await;
    let window = |start: &str, end: &str, day: &str, tz: &str| CallingWindow {
        start: start.into(),
        end: end.into(),
        days: vec![day.into()],
        timezone: tz.into(),
    };
    let every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let windows = [
        window("00:00", "23:59", "mon", "Mars/Olympus"),
        window("09:00", "09:00", "mon", "UTC"),
        window("00:00", "23:59", "caturday", "UTC"),
    ];
    let mut ids = Vec::new();
    for (i, w) in windows.into_iter().enumerate() {
        let mut c = Campaign::new(format!("Bad window {i}"));
        c.settings.call_delay = 0.001;
        c.settings.max_concurrent_calls = 5;
        let mut w = w;
        if i != 2 {
            // Every day, so only the broken part could keep the window shut.
            w.days = every_day.iter().map(|d| d.to_string()).collect();
        }
        c.settings.calling_window = Some(w);
        let c = s.store.insert_campaign(c).await.expect("insert campaign");
        for j in 0..3 {
            let contact = Contact::new(format!("+1415{:07}", 4_000_000 + i * 10 + j));
            let contact = s.store.insert_contact(contact).await.expect("contact");
            assert!(
                outcall_server::contacts::enroll(s.store.as_ref(), c.id, &contact)
                    .await
                    .expect("enroll")
            );
        }
        let started = s
            .store
            .transition_campaign(c.id, CampaignAction::Start)
            .await
            .expect("start");
        assert!(
            matches!(started, outcall_store::Transition::Applied(_)),
            "{started:?}"
        );
        ids.push(c.id.to_hex());
    }
    for id in &ids {
        let states = settled(&s, id, Duration::from_secs(30)).await;
        assert_eq!(states.len(), 3);
        for cc in &states {
            assert_eq!(cc["status"], "skipped", "{states:?}");
            assert_eq!(cc["skipReason"], "invalid-window", "{states:?}");
        }
    }
    assert_eq!(sim.calls_placed(), 0, "nobody was dialled");
}

/// The number-level list (`/api/db/dnc`): numbers listed by JSON or CSV block
/// campaigns and outbound calls, whether or not a contact carries them, until removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_do_not_call_list_blocks_numbers_until_they_are_removed() {
    on_each_backend(the_do_not_call_list_blocks_numbers_until_they_are_removed_on).await;
}

async fn the_do_not_call_list_blocks_numbers_until_they_are_removed_on(backend: Backend) {
    let (s, sim) = start(backend).await;

    let added = s
        .post(
            "/api/db/dnc",
            json!({"phoneNumbers": ["+14155550123", "(415) 555-0124"], "reason": "asked on the phone"}),
        )
        .await;
    assert_eq!(added.status.as_u16(), 201, "{added:?}");
    assert_eq!(added.data()["added"], 2);
    let again = s
        .post("/api/db/dnc", json!({"phoneNumber": "415-555-0124"}))
        .await;
    assert_eq!(
        (
            again.data()["added"].clone(),
            again.data()["alreadyListed"].clone()
        ),
        (json!(0), json!(1))
    );
    s.post(
        "/api/db/dnc",
        json!({"phoneNumbers": ["+14155550126", "nope"]}),
    )
    .await
    .assert_field_error("phoneNumbers[1]");
    let csv = s
        .send_raw(
            reqwest::Method::POST,
            "/api/db/dnc",
            "text/csv",
            "phone,reason\n+14155550125,complaint\nnope,x\n",
        )
        .await;
    assert_eq!(csv.status.as_u16(), 201, "{csv:?}");
    assert_eq!(csv.data()["added"], 1);
    assert_eq!(csv.data()["invalid"][0]["row"], 3, "{csv:?}");
    let list = s.get("/api/db/dnc?sort=phoneNumber&limit=2").await;
    assert_eq!(
        list.pagination(),
        (1, 2, 3, 2),
        "the bad rows wrote nothing"
    );
    assert_eq!(
        list.column("phoneNumber"),
        vec!["+14155550123", "+14155550124"]
    );
    assert_eq!(s.total("/api/db/dnc?q=0125").await, 1);
    let check = s.get("/api/db/dnc/%2B14155550125").await;
    assert_eq!(check.data()["blocked"], true);
    assert_eq!(
        check.data()["why"],
        json!({"source": "list", "listReason": "complaint"})
    );

    // A campaign holding a listed number skips it; the others are dialled.
    let listed = s
        .store
        .insert_contact(Contact::new("+14155550123"))
        .await
        .expect("contact");
    let free = s
        .store
        .insert_contact(Contact::new("+14155550199"))
        .await
        .expect("contact");
    let id = campaign_of(&s, &[listed.id.to_hex(), free.id.to_hex()]).await;
    s.post(&format!("/api/db/campaigns/{id}/start"), json!({}))
        .await;
    let states = settled(&s, &id, Duration::from_secs(30)).await;
    let by_number = |n: &str| {
        states
            .iter()
            .find(|cc| cc["phoneNumber"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("{n} not in {states:?}"))
    };
    assert_eq!(by_number("+14155550123")["skipReason"], "do-not-call");
    assert_eq!(by_number("+14155550199")["status"], "completed");
    let dialled: Vec<String> = sim.calls().iter().map(|c| c.request().to.clone()).collect();
    assert_eq!(dialled, vec!["+14155550199"]);

    let refused = s
        .post("/api/outbound-call", json!({"to": "+14155550124"}))
        .await;
    refused.assert_error(409, "conflict");
    assert_eq!(
        refused.body["error"]["details"],
        json!({"phoneNumber": "+14155550124", "reason": "do-not-call", "source": "list", "listReason": "asked on the phone"})
    );

    // Removed, the number may be called again.
    let removed = s.delete("/api/db/dnc/%2B14155550124").await;
    assert_eq!(removed.status.as_u16(), 200, "{removed:?}");
    s.delete("/api/db/dnc/%2B14155550124")
        .await
        .assert_error(404, "not_found");
    let placed = s
        .post("/api/outbound-call", json!({"to": "+14155550124"}))
        .await;
    assert_eq!(placed.status.as_u16(), 201, "{placed:?}");
    let many = s
        .call(
            reqwest::Method::DELETE,
            "/api/db/dnc",
            Some(json!({"phoneNumbers": ["+14155550123", "+14155550125", "+14155550199"]})),
        )
        .await;
    assert_eq!(many.data()["removed"], 2, "{many:?}");
    assert_eq!(s.total("/api/db/dnc").await, 0);
}
