//! Campaigns against a Twilio simulator that fails (issue 14, defects 1 and 2): every
//! dial failure is settled by what is known about it. A retry whose create meets a
//! 500 or an answer held past the client's timeout never leaves its contact
//! `dialing`; a dial that never reached Twilio (connection refused, 429) goes back to
//! the queue and is dialled again, counting as no attempt. What really happened is
//! read from the simulator's own log of the creates it received.
//! Each runs on SQLite and on the MongoDB at `OUTCALL_TEST_MONGODB_URI`.

use std::collections::HashMap;
use std::time::Duration;

use outcall_domain::contact::Contact;
use outcall_sim::twilio::{
    CallbackFault, CallbackRule, CreateFault, CreateRule, Scenario, ScenarioBook, SimLog, TwilioSim,
};
use serde_json::{Value, json};

use crate::support::{Backend, TestServer, on_each_backend};

fn number(i: usize) -> String {
    format!("+1415{:07}", 3_000_000 + i)
}

/// The campaign tests' fast simulator and flags, at the account's highest pace.
async fn fast_twilio(book: ScenarioBook) -> (TwilioSim, Vec<String>) {
    let (sim, mut flags) = crate::campaigns::fast_twilio(book).await;
    flags.retain(|f| !f.starts_with("--calls-per-second"));
    flags.push("--calls-per-second=1000".into());
    (sim, flags)
}

async fn start(backend: Backend, book: ScenarioBook) -> (TestServer, TwilioSim) {
    let (sim, flags) = fast_twilio(book).await;
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    (TestServer::start_on_backend(backend, &flags).await, sim)
}

/// A started campaign of the given numbers (stored as contacts first).
async fn run_campaign(s: &TestServer, settings: Value, numbers: &[String]) -> String {
    let mut ids = Vec::new();
    for n in numbers {
        let c = s
            .store
            .insert_contact(Contact::new(n.clone()))
            .await
            .expect("insert contact");
        ids.push(c.id.to_hex());
    }
    let answer = s
        .post(
            "/api/db/campaigns",
            json!({"name": "Faults", "prompt": "Hello.", "settings": settings}),
        )
        .await;
    assert_eq!(answer.status.as_u16(), 201, "{answer:?}");
    let id = answer.data()["_id"].as_str().expect("_id").to_string();
    let added = s
        .post(
            &format!("/api/db/campaigns/{id}/contacts"),
            json!({"contactIds": ids}),
        )
        .await;
    assert_eq!(added.status.as_u16(), 200, "{added:?}");
    let started = s
        .post(&format!("/api/db/campaigns/{id}/start"), json!({}))
        .await;
    assert_eq!(started.status.as_u16(), 200, "{started:?}");
    id
}

/// Waits for the campaign to complete; its contacts by number.
async fn completed(s: &TestServer, id: &str, within: Duration) -> HashMap<String, Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let c = s.get(&format!("/api/db/campaigns/{id}")).await;
        let contacts = s
            .get(&format!("/api/db/campaigns/{id}/contacts?limit=100"))
            .await;
        let by_number: HashMap<String, Value> = contacts
            .items()
            .iter()
            .map(|cc| {
                (
                    cc["phoneNumber"].as_str().unwrap_or("").to_string(),
                    cc.clone(),
                )
            })
            .collect();
        if c.data()["status"] == json!("completed") {
            return by_number;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "campaign not completed in time: {c:?}\ncontacts: {by_number:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Creates the simulator received for a number, and the calls they made.
fn creates_to(log: &SimLog, to: &str) -> (usize, usize) {
    let all = log.creates.iter().filter(|c| c.to == to).count();
    let made = log.calls_created().filter(|c| c.to == to).count();
    (all, made)
}

/// No attempt id made two calls: an attempt is never dialled twice.
fn one_call_per_attempt(log: &SimLog) {
    let mut per_attempt: HashMap<&str, usize> = HashMap::new();
    for c in log.calls_created() {
        let id = c
            .attempt_id
            .as_deref()
            .expect("campaign calls carry their attempt id");
        *per_attempt.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = per_attempt.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "attempts dialled twice: {twice:?}\n{log:#?}"
    );
}

async fn stats(s: &TestServer, id: &str) -> Value {
    s.get(&format!("/api/db/campaigns/{id}")).await.data()["stats"].clone()
}

/// Defect 1: the first call is busy; the retry's create gets a 500 (no call), or is
/// answered only after the client's 15 s timeout (the call was created). Either way
/// the retry is settled from Twilio, the contact ends final, its slot is freed for
/// the next contact (one call at a time), and the campaign completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_whose_dial_fails_is_settled_and_the_campaign_completes() {
    on_each_backend(a_retry_whose_dial_fails_is_settled_and_the_campaign_completes_on).await;
}

async fn a_retry_whose_dial_fails_is_settled_and_the_campaign_completes_on(backend: Backend) {
    let (b500, slow, after_a, after_b) = (number(0), number(1), number(2), number(3));
    let book = ScenarioBook::all(Scenario::CalleeHangsUp)
        .with(&b500, Scenario::Busy)
        .with(&slow, Scenario::Busy);
    let (s, sim) = start(backend, book).await;
    sim.faults()
        .on_create(
            CreateRule::to(&b500)
                .nth(2)
                .fault(CreateFault::ServerError { status: 500 }),
        )
        .on_create(
            CreateRule::to(&slow)
                .nth(2)
                .fault(CreateFault::AnswerDelayed(Duration::from_secs(17))),
        );
    let settings = json!({
        "callDelay": 0.005, "maxConcurrentCalls": 1,
        "retryCount": 2, "retryDelay": 0.05, "retryOn": ["busy"],
    });
    let a = run_campaign(&s, settings.clone(), &[b500.clone(), after_a.clone()]).await;
    let b = run_campaign(&s, settings, &[slow.clone(), after_b.clone()]).await;

    let in_a = completed(&s, &a, Duration::from_secs(60)).await;
    let in_b = completed(&s, &b, Duration::from_secs(60)).await;
    for (contacts, busy, other) in [(&in_a, &b500, &after_a), (&in_b, &slow, &after_b)] {
        let cc = &contacts[busy];
        assert_eq!(cc["status"], json!("failed"), "{cc}");
        assert_eq!(cc["lastResult"], json!("busy"), "{cc}");
        assert_eq!(cc["attempts"], json!(3), "three calls placed: {cc}");
        assert!(cc.get("lease").is_none_or(Value::is_null), "{cc}");
        assert_eq!(
            contacts[other]["status"],
            json!("completed"),
            "the slot was freed"
        );
    }
    let log = sim.log();
    one_call_per_attempt(&log);
    assert_eq!(
        creates_to(&log, &b500),
        (4, 3),
        "the 500 made no call; the contact was dialled again"
    );
    assert_eq!(
        creates_to(&log, &slow),
        (3, 3),
        "the late answer's call was adopted, not dialled again"
    );
    assert_eq!(stats(&s, &a).await["callsPlaced"], json!(4));
    assert_eq!(stats(&s, &b).await["callsPlaced"], json!(4));
}

/// A dial waiting for Twilio's answer (here held past the client's 15 s timeout) holds
/// only its own slot: the campaign's next contacts are dialled meanwhile, up to
/// `maxConcurrentCalls`, and the late dial is settled (its call adopted) after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_waiting_for_twilios_answer_does_not_hold_the_campaigns_next_dials() {
    on_each_backend(a_dial_waiting_for_twilios_answer_does_not_hold_the_campaigns_next_dials_on)
        .await;
}

async fn a_dial_waiting_for_twilios_answer_does_not_hold_the_campaigns_next_dials_on(
    backend: Backend,
) {
    let slow = number(10);
    let others: Vec<String> = (11..14).map(number).collect();
    let (s, sim) = start(backend, ScenarioBook::all(Scenario::CalleeHangsUp)).await;
    sim.faults().on_create(
        CreateRule::to(&slow)
            .nth(1)
            .fault(CreateFault::AnswerDelayed(Duration::from_secs(17))),
    );
    let settings = json!({"callDelay": 0, "maxConcurrentCalls": 4, "retryCount": 0});
    let mut numbers = vec![slow.clone()];
    numbers.extend(others.iter().cloned());
    let id = run_campaign(&s, settings, &numbers).await;

    // Well inside the slow dial's 15 s wait for its answer.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let log = sim.log();
        let dialled = others.iter().filter(|n| creates_to(&log, n).0 > 0).count();
        if dialled == others.len() {
            assert_eq!(creates_to(&log, &slow).0, 1, "the slow dial was sent first");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{dialled} of {} dialled while a dial waited for Twilio: {log:#?}",
            others.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let contacts = completed(&s, &id, Duration::from_secs(60)).await;
    for n in &numbers {
        assert_eq!(
            contacts[n]["status"],
            json!("completed"),
            "{n}: {}",
            contacts[n]
        );
    }
    let log = sim.log();
    one_call_per_attempt(&log);
    assert_eq!(
        creates_to(&log, &slow),
        (1, 1),
        "adopted, not dialled again"
    );
}

/// Defect 2: dials that provably never reached Twilio (the REST listener refusing
/// connections for a while; 429 on every try for a while) go back to the queue and
/// are dialled again until they get through: no attempt is spent on them, even with
/// no retries configured, and nothing ends `unconfirmed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dials_that_never_reached_twilio_are_dialled_again() {
    on_each_backend(dials_that_never_reached_twilio_are_dialled_again_on).await;
}

async fn dials_that_never_reached_twilio_are_dialled_again_on(backend: Backend) {
    let (refused, limited) = (number(10), number(11));
    let (s, sim) = start(backend, ScenarioBook::all(Scenario::CalleeHangsUp)).await;
    sim.faults().on_create(
        CreateRule::to(&limited)
            .times(5)
            .fault(CreateFault::RateLimited {
                retry_after_secs: 1,
            }),
    );
    let settings = json!({
        "callDelay": 0.005, "maxConcurrentCalls": 1, "retryCount": 0, "retryOn": [],
    });
    // Longer than the client's own retries of a refused connection would wait.
    let outage = Duration::from_secs(6);
    let reopens = chrono::Utc::now() + outage;
    sim.faults().refuse_for(outage);
    let a = run_campaign(&s, settings.clone(), std::slice::from_ref(&refused)).await;
    let b = run_campaign(&s, settings, std::slice::from_ref(&limited)).await;

    let in_a = completed(&s, &a, Duration::from_secs(60)).await;
    let in_b = completed(&s, &b, Duration::from_secs(60)).await;
    for cc in [&in_a[&refused], &in_b[&limited]] {
        assert_eq!(cc["status"], json!("completed"), "{cc}");
        assert_eq!(
            cc["attempts"],
            json!(1),
            "only the call placed counts: {cc}"
        );
        assert_ne!(cc["lastResult"], json!("unconfirmed"), "{cc}");
    }
    let log = sim.log();
    one_call_per_attempt(&log);
    assert_eq!(creates_to(&log, &refused), (1, 1));
    let first = log
        .creates
        .iter()
        .find(|c| c.to == refused)
        .expect("dialled");
    assert!(
        first.at >= reopens - chrono::Duration::milliseconds(200),
        "the dials refused during the outage were made again after it"
    );
    let (tries, made) = creates_to(&log, &limited);
    assert_eq!(made, 1);
    assert_eq!(tries, 6, "five 429s, each dialled again, then the call");
    assert_eq!(stats(&s, &a).await["callsPlaced"], json!(1));
    assert_eq!(stats(&s, &b).await["callsPlaced"], json!(1));
}

/// A maybe-sent dial: Twilio created the call, but the connection closed before its
/// answer, and none of its callbacks arrive. The engine finds the call in Twilio's
/// call list (to the number, since the dial), adopts it as the attempt's, reads its
/// end from Twilio, and the contact ends with the call's real outcome, not
/// `unconfirmed`, dialled once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_answer_was_lost_is_found_in_twilio_and_adopted() {
    on_each_backend(a_call_whose_answer_was_lost_is_found_in_twilio_and_adopted_on).await;
}

async fn a_call_whose_answer_was_lost_is_found_in_twilio_and_adopted_on(backend: Backend) {
    let lost = number(20);
    let (s, sim) = start(backend, ScenarioBook::all(Scenario::Busy)).await;
    sim.faults()
        .on_create(CreateRule::to(&lost).fault(CreateFault::AnswerLost))
        .on_callback(
            CallbackRule::any()
                .to(&lost)
                .always()
                .fault(CallbackFault::Drop),
        );
    let settings = json!({"callDelay": 0.005, "maxConcurrentCalls": 1, "retryCount": 0});
    let id = run_campaign(&s, settings, std::slice::from_ref(&lost)).await;

    let contacts = completed(&s, &id, Duration::from_secs(30)).await;
    let cc = &contacts[&lost];
    assert_eq!(cc["status"], json!("failed"), "{cc}");
    assert_eq!(
        cc["lastResult"],
        json!("busy"),
        "the call's own outcome: {cc}"
    );
    assert_eq!(cc["attempts"], json!(1), "{cc}");
    let log = sim.log();
    assert_eq!(creates_to(&log, &lost), (1, 1), "dialled once");
    let created = log.calls_created().next().and_then(|c| c.call_sid.clone());
    assert_eq!(cc["lastCallSid"].as_str(), created.as_deref());
    let calls = s.get(&format!("/api/db/calls?campaignId={id}")).await;
    assert_eq!(calls.column("callSid"), vec![created.unwrap_or_default()]);
    assert_eq!(calls.items()[0]["status"], json!("busy"));
    assert_eq!(stats(&s, &id).await["callsPlaced"], json!(1));
}

/// Defect 1's stuck state as earlier versions left it in the database (also across a
/// restart): a retry's attempt `dialing`, sent, its lease expired, still carrying the
/// previous attempt's ended call. The check on the expired lease forgets that call,
/// finds no call of its own in Twilio, puts the contact back and dials it: the
/// campaign completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_left_stuck_by_the_old_retry_bug_is_recovered() {
    on_each_backend(a_contact_left_stuck_by_the_old_retry_bug_is_recovered_on).await;
}

async fn a_contact_left_stuck_by_the_old_retry_bug_is_recovered_on(backend: Backend) {
    use outcall_domain::call::{Call, CallStatus};
    use outcall_domain::campaign_contact::{CampaignContact, DialStatus, Lease};
    use outcall_domain::{ObjectId, time};

    let stuck = number(30);
    let (s, sim) = start(backend, ScenarioBook::all(Scenario::CalleeHangsUp)).await;
    let answer = s
        .post(
            "/api/db/campaigns",
            json!({"name": "Stuck", "prompt": "Hello.", "settings": {
                "callDelay": 0.005, "maxConcurrentCalls": 1,
                "retryCount": 2, "retryDelay": 0.05, "retryOn": ["busy"],
            }}),
        )
        .await;
    let id = answer.data()["_id"].as_str().expect("_id").to_string();
    let campaign: ObjectId = id.parse().expect("object id");
    let contact = s
        .store
        .insert_contact(Contact::new(stuck.clone()))
        .await
        .expect("insert contact");
    let mut old = Call::new("CA00000000000000000000000000000old", "+15005550006", &stuck);
    old.status = CallStatus::Busy;
    old.campaign_id = Some(campaign);
    old.contact_id = Some(contact.id);
    old.attempt_id = Some("A-first".into());
    s.store.insert_call(old).await.expect("insert call");
    let an_hour_ago = time::now() - chrono::Duration::hours(1);
    let mut cc = CampaignContact::new(campaign, contact.id, stuck.clone());
    cc.status = DialStatus::Dialing;
    cc.attempts = 1;
    cc.last_call_sid = Some("CA00000000000000000000000000000old".into());
    cc.last_result = Some("busy".into());
    cc.dialled_at = Some(an_hour_ago);
    cc.lease = Some(Lease {
        owner: "a-process-long-gone".into(),
        attempt_id: "A-retry".into(),
        expires_at: an_hour_ago,
    });
    s.store
        .upsert_campaign_contact(cc)
        .await
        .expect("upsert campaign contact");
    let started = s
        .post(&format!("/api/db/campaigns/{id}/start"), json!({}))
        .await;
    assert_eq!(started.status.as_u16(), 200, "{started:?}");

    let contacts = completed(&s, &id, Duration::from_secs(30)).await;
    let cc = &contacts[&stuck];
    assert_eq!(cc["status"], json!("completed"), "{cc}");
    assert_eq!(
        cc["attempts"],
        json!(2),
        "the old call and the new one: {cc}"
    );
    let log = sim.log();
    assert_eq!(creates_to(&log, &stuck), (1, 1), "dialled once more");
    assert_ne!(
        log.creates[0].attempt_id.as_deref(),
        Some("A-retry"),
        "the stuck attempt was never dialled again: a new attempt was"
    );
}

/// A maybe-sent dial (a 500) while Twilio then cannot be reached at all: the attempt
/// stays leased (its slot held, never `unconfirmed`), is checked again when its lease
/// expires, and once Twilio's call list shows no call it goes back to the queue and
/// is dialled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maybe_sent_dial_waits_leased_while_twilio_is_out_of_reach() {
    on_each_backend(a_maybe_sent_dial_waits_leased_while_twilio_is_out_of_reach_on).await;
}

async fn a_maybe_sent_dial_waits_leased_while_twilio_is_out_of_reach_on(backend: Backend) {
    let n = number(40);
    let (sim, mut flags) = fast_twilio(ScenarioBook::all(Scenario::CalleeHangsUp)).await;
    flags.push("--attempt-lease-secs=2".into());
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let s = TestServer::start_on_backend(backend, &flags).await;
    sim.faults()
        .on_create(CreateRule::to(&n).fault(CreateFault::ServerError { status: 503 }));
    let settings = json!({"callDelay": 0.005, "maxConcurrentCalls": 1, "retryCount": 0});
    let id = run_campaign(&s, settings, std::slice::from_ref(&n)).await;

    // Right after the 503, Twilio goes out of reach for longer than the lease.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sim.log().creates.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "never dialled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sim.faults().refuse_for(Duration::from_secs(5));
    tokio::time::sleep(Duration::from_secs(4)).await;
    let during = s.get(&format!("/api/db/campaigns/{id}/contacts")).await;
    assert_eq!(
        during.items()[0]["status"],
        json!("dialing"),
        "still leased while Twilio cannot be asked: {during:?}"
    );

    let contacts = completed(&s, &id, Duration::from_secs(40)).await;
    let cc = &contacts[&n];
    assert_eq!(cc["status"], json!("completed"), "{cc}");
    assert_eq!(cc["attempts"], json!(1), "{cc}");
    let log = sim.log();
    assert_eq!(creates_to(&log, &n), (2, 1), "the 503, then the call");
    one_call_per_attempt(&log);
}

/// An ad-hoc call that meets a Twilio fault answers 503 saying what is known: after a
/// 5xx the call may exist (placing it again could ring the callee twice), after a 429
/// it does not. Neither message blames the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ad_hoc_call_that_meets_a_twilio_fault_says_whether_it_may_exist() {
    on_each_backend(an_ad_hoc_call_that_meets_a_twilio_fault_says_whether_it_may_exist_on).await;
}

async fn an_ad_hoc_call_that_meets_a_twilio_fault_says_whether_it_may_exist_on(backend: Backend) {
    let (maybe, not_sent) = (number(60), number(61));
    let (sim, flags) = fast_twilio(ScenarioBook::all(Scenario::CalleeHangsUp)).await;
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let s = TestServer::start_on_backend(backend, &flags).await;
    sim.faults()
        .on_create(CreateRule::to(&maybe).fault(CreateFault::ServerError { status: 502 }));
    // Every try: an ad-hoc call is tried again after a 429 (no call was made).
    sim.faults().on_create(
        CreateRule::to(&not_sent)
            .times(10)
            .fault(CreateFault::RateLimited {
                retry_after_secs: 0,
            }),
    );
    for (to, says) in [
        (&maybe, "may still have been placed"),
        (&not_sent, "did not place"),
    ] {
        let answer = s.post("/api/outbound-call", json!({ "to": to })).await;
        answer.assert_error(503, "unavailable");
        let message = answer.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{to}: {message}");
        assert!(!message.contains("database"), "{to}: {message}");
    }
}

/// A stopped campaign has no runner to recount its stats when it ends, yet calls in
/// flight at the stop still end and count afterwards, and a process killed between an
/// attempt's end and its count loses that count. Once nothing of it is in flight, its
/// stats are recounted from its calls (here made wrong on purpose, as such a crash
/// would leave them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_campaigns_stats_are_recounted_once_nothing_is_in_flight() {
    on_each_backend(a_stopped_campaigns_stats_are_recounted_once_nothing_is_in_flight_on).await;
}

async fn a_stopped_campaigns_stats_are_recounted_once_nothing_is_in_flight_on(backend: Backend) {
    let numbers: Vec<String> = (70..74).map(number).collect();
    let (s, sim) = start(backend, ScenarioBook::all(Scenario::CalleeHangsUp)).await;
    let settings = json!({"callDelay": 0, "maxConcurrentCalls": 4, "retryCount": 0});
    let id = run_campaign(&s, settings, &numbers).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sim.log().creates.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "never dialled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stopped = s
        .post(&format!("/api/db/campaigns/{id}/stop"), json!({}))
        .await;
    assert_eq!(stopped.status.as_u16(), 200, "{stopped:?}");
    let oid: outcall_domain::ObjectId = id.parse().expect("id");
    let wrong = outcall_domain::campaign::StatsDelta {
        calls_placed: 5,
        calls_completed: 3,
        ..Default::default()
    };
    s.store
        .add_campaign_stats(oid, &wrong)
        .await
        .expect("add stats");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let calls = s.total(&format!("/api/db/calls?campaignId={id}")).await;
        let c = s.get(&format!("/api/db/campaigns/{id}")).await;
        let stats = &c.data()["stats"];
        let ended = stats["callsCompleted"].as_i64().unwrap_or(-1)
            + stats["callsFailed"].as_i64().unwrap_or(-1);
        if calls > 0 && stats["callsPlaced"] == json!(calls) && ended == calls as i64 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stats never recounted: {stats} for {calls} calls"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A contact of a stopped campaign left waiting (its process died, or the store
/// failed, between its call's end with a retry and its cancelling) is cancelled by
/// the scheduler: a stopped campaign ends with every contact final.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_left_waiting_in_a_stopped_campaign_is_cancelled() {
    on_each_backend(a_contact_left_waiting_in_a_stopped_campaign_is_cancelled_on).await;
}

async fn a_contact_left_waiting_in_a_stopped_campaign_is_cancelled_on(backend: Backend) {
    let (s, _sim) = start(backend, ScenarioBook::all(Scenario::CalleeHangsUp)).await;
    let settings = json!({"callDelay": 0, "maxConcurrentCalls": 1, "retryCount": 0});
    let id = run_campaign(&s, settings, &[number(80)]).await;
    let stopped = s
        .post(&format!("/api/db/campaigns/{id}/stop"), json!({}))
        .await;
    assert_eq!(stopped.status.as_u16(), 200, "{stopped:?}");
    // Written behind the engine's back, as a dead process would leave it.
    let contact = s
        .store
        .insert_contact(Contact::new(number(81)))
        .await
        .expect("insert contact");
    let oid: outcall_domain::ObjectId = id.parse().expect("id");
    let left = outcall_domain::campaign_contact::CampaignContact::new(
        oid,
        contact.id,
        contact.phone_number.clone(),
    );
    s.store.upsert_campaign_contact(left).await.expect("upsert");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let cc = s
            .store
            .get_campaign_contact(oid, contact.id)
            .await
            .expect("read")
            .expect("there");
        if cc.status == outcall_domain::campaign_contact::DialStatus::Cancelled {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "left waiting: {cc:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
