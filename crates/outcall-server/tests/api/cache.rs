//! The response cache over HTTP: a read after a change (through the API or a signed
//! webhook) is fresh even within the TTL; stats count exactly; clear empties; the TTL
//! ends an answer nothing invalidated.

use std::time::Duration;

use outcall_twilio::signature::sign_form;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{KEY, TestServer, call_sid};

const TOKEN: &str = "cache-test-token";
const ACCOUNT: &str = "AC00000000000000000000000000000002";
const EL_SECRET: &str = "wsec_cache_test";

async fn server() -> TestServer {
    TestServer::start_with(&[
        &format!("--twilio-account-sid={ACCOUNT}"),
        &format!("--twilio-auth-token={TOKEN}"),
        "--twilio-from-number=+15005550006",
        "--twilio-api-base=http://127.0.0.1:9",
        &format!("--elevenlabs-webhook-secret={EL_SECRET}"),
        "--campaign-engine=false",
    ])
    .await
}

/// The stats line of one route.
async fn route_stats(s: &TestServer, route: &str) -> Value {
    let stats = s.get("/api/cache/stats").await;
    stats.data()["routes"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["route"] == route).cloned())
        .unwrap_or_else(|| panic!("no stats for {route}: {stats:?}"))
}

async fn hits_misses(s: &TestServer, route: &str) -> (u64, u64) {
    let r = route_stats(s, route).await;
    (
        r["hits"].as_u64().expect("hits"),
        r["misses"].as_u64().expect("misses"),
    )
}

async fn new_call(s: &TestServer, n: u32, extra: Value) -> String {
    let sid = call_sid(n);
    let mut body = json!({"callSid": sid, "from": "+15005550006", "to": "+14155552671"});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    assert_eq!(s.post("/api/db/calls", body).await.status, 201);
    sid
}

/// A Twilio status callback, signed as Twilio signs it.
async fn twilio_status(s: &TestServer, sid: &str, status: &str, seq: u64) {
    let params: Vec<(String, String)> = [
        ("CallSid", sid),
        ("AccountSid", ACCOUNT),
        ("From", "+15005550006"),
        ("To", "+14155552671"),
        ("CallStatus", status),
        ("ApiVersion", "2010-04-01"),
        ("Direction", "outbound-api"),
        ("SequenceNumber", &seq.to_string()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let url = format!("{}/webhooks/twilio/status", s.base);
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &params {
        form.append_pair(k, v);
    }
    let res = s
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", sign_form(&url, &params, TOKEN))
        .body(form.finish())
        .send()
        .await
        .expect("request");
    assert!(res.status().is_success(), "{:?}", res.text().await);
}

#[tokio::test]
async fn a_campaign_read_after_an_edit_is_fresh_within_its_ttl() {
    let s = server().await;
    let created = s.post("/api/db/campaigns", json!({"name": "Spring"})).await;
    let id = created.data()["_id"].as_str().expect("id").to_string();
    let path = format!("/api/db/campaigns/{id}");
    assert_eq!(s.get(&path).await.data()["name"], "Spring");
    assert_eq!(s.get(&path).await.data()["name"], "Spring");
    assert_eq!(
        hits_misses(&s, "campaign").await,
        (1, 1),
        "second read was a hit"
    );

    let edited = s.put(&path, json!({"name": "Summer"})).await;
    assert_eq!(edited.status, 200, "{edited:?}");
    assert_eq!(s.get(&path).await.data()["name"], "Summer");
    assert_eq!(hits_misses(&s, "campaign").await, (1, 2), "recomputed once");

    // The stats route is cached too, and a refused edit changes nothing.
    let stats_path = format!("{path}/stats");
    assert_eq!(s.get(&stats_path).await.data()["status"], "draft");
    s.put(&path, json!({"name": ""}))
        .await
        .assert_field_error("name");
    assert_eq!(s.get(&path).await.data()["name"], "Summer");
    assert_eq!(hits_misses(&s, "campaign").await, (2, 3));
}

#[tokio::test]
async fn a_call_read_after_a_twilio_status_callback_is_fresh() {
    let s = server().await;
    let sid = new_call(&s, 1, json!({})).await;
    let path = format!("/api/db/calls/{sid}");
    assert_eq!(s.get(&path).await.data()["status"], "initiated");
    assert_eq!(s.get(&path).await.data()["status"], "initiated");
    twilio_status(&s, &sid, "ringing", 1).await;
    assert_eq!(s.get(&path).await.data()["status"], "ringing");
    twilio_status(&s, &sid, "in-progress", 2).await;
    assert_eq!(s.get(&path).await.data()["status"], "in-progress");
    assert_eq!(hits_misses(&s, "callDetails").await, (1, 3));
}

#[tokio::test]
async fn dashboard_and_analytics_answers_follow_twilio_callbacks() {
    let s = server().await;
    let sid = new_call(&s, 3, json!({})).await;
    let details = format!("/api/db/dashboard/call/{sid}");
    let overview = "/api/db/dashboard/overview";
    let realtime = "/api/db/dashboard/realtime";
    let outcomes = "/api/db/analytics/call-outcomes";
    // The second read of each is served from the cache: a hit, no new miss. (The live
    // feed's dashboard_update reads the realtime entry too, so count differences.)
    type Fresh<'a> = &'a dyn Fn(&Value) -> bool;
    let reads: [(&str, &str, Fresh); 4] = [
        ("callDetails", &details, &|d| {
            d["call"]["status"] == "initiated"
        }),
        ("overview", overview, &|d| d["activeCalls"] == 1),
        ("realtime", realtime, &|d| d["activeCount"] == 1),
        ("analytics", outcomes, &|d| d["byStatus"]["initiated"] == 1),
    ];
    for (route, path, fresh) in reads {
        let first = s.get(path).await;
        assert!(fresh(first.data()), "{route}: {first:?}");
        let (hits, misses) = hits_misses(&s, route).await;
        let second = s.get(path).await;
        assert!(fresh(second.data()), "{route}: {second:?}");
        let (hits2, misses2) = hits_misses(&s, route).await;
        assert!(hits2 > hits, "{route}: second read is a hit");
        assert_eq!(misses2, misses, "{route}: second read computes nothing");
    }
    twilio_status(&s, &sid, "in-progress", 1).await;
    assert_eq!(
        s.get(&details).await.data()["call"]["status"],
        "in-progress"
    );
    twilio_status(&s, &sid, "completed", 2).await;
    assert_eq!(s.get(&details).await.data()["call"]["status"], "completed");
    assert_eq!(s.get(overview).await.data()["activeCalls"], 0);
    assert_eq!(s.get(realtime).await.data()["activeCount"], 0);
    assert_eq!(s.get(outcomes).await.data()["byStatus"]["completed"], 1);
}

#[tokio::test]
async fn a_transcript_from_elevenlabs_refreshes_the_calls_details() {
    let s = server().await;
    let sid = new_call(&s, 2, json!({})).await;
    let path = format!("/api/db/calls/{sid}");
    assert!(s.get(&path).await.data().get("conversationId").is_none());
    let body = json!({
        "type": "post_call_transcription",
        "event_timestamp": chrono::Utc::now().timestamp(),
        "data": {
            "agent_id": "agent_1",
            "conversation_id": "conv_cache",
            "status": "done",
            "transcript": [{"role": "agent", "message": "Hi!", "time_in_call_secs": 0}],
            "metadata": {},
            "conversation_initiation_client_data": {"dynamic_variables": {"call_sid": sid}}
        }
    })
    .to_string();
    let signature = outcall_elevenlabs::signature::sign(
        body.as_bytes(),
        EL_SECRET,
        chrono::Utc::now().timestamp(),
    );
    let res = s
        .client
        .post(format!("{}/webhooks/elevenlabs", s.base))
        .header("content-type", "application/json")
        .header("elevenlabs-signature", signature)
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(s.get(&path).await.data()["conversationId"], "conv_cache");
}

#[tokio::test]
async fn a_contacts_details_and_call_history_follow_its_changes() {
    let s = server().await;
    let created = s
        .post(
            "/api/db/contacts",
            json!({"phoneNumber": "+14155550100", "name": "Ada"}),
        )
        .await;
    let id = created.data()["_id"].as_str().expect("id").to_string();
    let (details, history) = (
        format!("/api/db/contacts/{id}"),
        format!("/api/db/contacts/{id}/calls"),
    );
    assert_eq!(s.get(&history).await.pagination().2, 0);
    // `page=1&limit=20` is the default query: the same entry.
    assert_eq!(
        s.get(&format!("{history}?limit=20&page=1"))
            .await
            .pagination()
            .2,
        0
    );
    assert_eq!(hits_misses(&s, "contact").await, (1, 1));

    // A call of this contact is added: the history shows it at once.
    let sid = new_call(&s, 3, json!({"contactId": id})).await;
    assert_eq!(s.get(&history).await.column("callSid"), vec![sid.clone()]);
    // Its status changes through Twilio: the history follows.
    twilio_status(&s, &sid, "ringing", 1).await;
    assert_eq!(s.get(&history).await.column("status"), vec!["ringing"]);

    assert_eq!(s.get(&details).await.data()["name"], "Ada");
    s.post(&format!("{details}/tags"), json!({"tags": ["vip"]}))
        .await;
    assert_eq!(s.get(&details).await.data()["tags"], json!(["vip"]));
    assert_eq!(s.delete(&details).await.status, 200);
    s.get(&details).await.assert_error(404, "not_found");
    s.get(&history).await.assert_error(404, "not_found");
}

#[tokio::test]
async fn fifty_concurrent_identical_reads_compute_once() {
    let s = server().await;
    let created = s.post("/api/db/campaigns", json!({"name": "Burst"})).await;
    let path = format!(
        "/api/db/campaigns/{}",
        created.data()["_id"].as_str().expect("id")
    );
    let answers = futures::future::join_all((0..50).map(|_| s.get(&path))).await;
    assert!(answers.iter().all(|a| a.data()["name"] == "Burst"));
    // However the 50 interleave (joined in flight or served from the entry), one
    // computation answered them all.
    assert_eq!(hits_misses(&s, "campaign").await, (49, 1));
}

#[tokio::test]
async fn stats_count_exactly_and_clear_empties() {
    let s = server().await;
    let a = new_call(&s, 10, json!({})).await;
    let b = new_call(&s, 11, json!({})).await;
    for sid in [&a, &a, &a, &b] {
        s.get(&format!("/api/db/calls/{sid}")).await;
    }
    // An unknown call is an error: counted as a computation, never cached.
    let missing = format!("/api/db/calls/{}", call_sid(99));
    s.get(&missing).await.assert_error(404, "not_found");
    s.get(&missing).await.assert_error(404, "not_found");
    let stats = s.get("/api/cache/stats").await;
    let data = stats.data();
    assert_eq!(data["enabled"], true);
    assert_eq!(
        (data["hits"].as_u64(), data["misses"].as_u64()),
        (Some(2), Some(4))
    );
    assert_eq!(data["entries"], 2);
    assert!((data["hitRatio"].as_f64().expect("ratio") - 2.0 / 6.0).abs() < 1e-9);
    let calls = route_stats(&s, "callDetails").await;
    assert_eq!(
        (calls["entries"].as_u64(), calls["ttlSecs"].as_f64()),
        (Some(2), Some(30.0))
    );

    let cleared = s.post("/api/cache/clear", json!({})).await;
    assert_eq!(cleared.data()["cleared"], 2);
    assert_eq!(s.get("/api/cache/stats").await.data()["entries"], 0);
    s.get(&format!("/api/db/calls/{a}")).await;
    assert_eq!(
        hits_misses(&s, "callDetails").await,
        (2, 5),
        "a miss after clear"
    );
}

#[tokio::test]
async fn cache_routes_need_the_key_and_refuse_bad_input() {
    let s = server().await;
    s.send(Method::GET, "/api/cache/stats", None, None)
        .await
        .assert_error(401, "unauthorized");
    s.send(Method::POST, "/api/cache/clear", Some("wrong"), None)
        .await
        .assert_error(401, "unauthorized");
    s.get("/api/cache/stats?route=x")
        .await
        .assert_error(400, "validation_error");
    s.send(Method::DELETE, "/api/cache/stats", Some(KEY), None)
        .await
        .assert_error(405, "method_not_allowed");
}

/// moka keeps its own clock (Tokio's paused clock does not reach it), so this test
/// shortens the TTL and waits for real.
#[tokio::test]
async fn an_answer_nothing_invalidated_ends_with_its_ttl() {
    // Long enough that a loaded CI machine still reads twice within it.
    let s = TestServer::start_with(&["--cache-ttl-ms=2000"]).await;
    let sid = new_call(&s, 20, json!({})).await;
    let path = format!("/api/db/calls/{sid}");
    assert_eq!(s.get(&path).await.data()["status"], "initiated");
    // A write the bus never hears of (another process, a direct store write).
    let update = outcall_domain::call::StatusUpdate {
        status: outcall_domain::CallStatus::Ringing,
        ..Default::default()
    };
    s.store
        .update_call_status(&sid, &update)
        .await
        .expect("update")
        .expect("call");
    assert_eq!(s.get(&path).await.data()["status"], "initiated", "cached");
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert_eq!(s.get(&path).await.data()["status"], "ringing");
}

#[tokio::test]
async fn a_disabled_cache_serves_every_read_from_the_store() {
    let s = TestServer::start_with(&["--cache-enabled=false"]).await;
    let sid = new_call(&s, 21, json!({})).await;
    let path = format!("/api/db/calls/{sid}");
    s.get(&path).await;
    s.get(&path).await;
    let stats = s.get("/api/cache/stats").await;
    assert_eq!(stats.data()["enabled"], false);
    assert_eq!(hits_misses(&s, "callDetails").await, (0, 2));
    assert_eq!(stats.data()["entries"], 0);
}

/// A measurement, not a check: 50 clients polling a campaign, a call and a contact's
/// history (each every 100 ms, as a dashboard would) while the call moves through its
/// statuses by signed webhooks; prints the hit ratio and request rate. Each change is
/// read back at once and must be fresh.
/// `cargo test -p outcall-server --test api measure_polling -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run it with --ignored --nocapture"]
async fn measure_polling_hit_ratio() {
    const CLIENTS: usize = 50;
    const RUN: Duration = Duration::from_secs(10);
    let s = std::sync::Arc::new(server().await);
    let campaign = s.post("/api/db/campaigns", json!({"name": "Poll"})).await;
    let campaign = campaign.data()["_id"].as_str().expect("id").to_string();
    let contact = s
        .post("/api/db/contacts", json!({"phoneNumber": "+14155550199"}))
        .await;
    let contact = contact.data()["_id"].as_str().expect("id").to_string();
    let paths = std::sync::Arc::new(vec![
        format!("/api/db/campaigns/{campaign}"),
        format!("/api/db/campaigns/{campaign}/stats"),
        format!("/api/db/contacts/{contact}/calls"),
    ]);
    let started = std::time::Instant::now();
    let pollers: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (s, paths) = (s.clone(), paths.clone());
            tokio::spawn(async move {
                let mut n = 0u64;
                let mut tick = tokio::time::interval(Duration::from_millis(100));
                while started.elapsed() < RUN {
                    tick.tick().await;
                    let path = &paths[(i + n as usize) % paths.len()];
                    assert_eq!(s.get(path).await.status, 200);
                    n += 1;
                }
                n
            })
        })
        .collect();
    // One change a second: a new call of the contact, then its statuses.
    let mut changes = 0;
    for n in 0..(RUN.as_secs() as u32 / 2) {
        let sid = new_call(&s, 100 + n, json!({"contactId": contact})).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        twilio_status(&s, &sid, "ringing", 1).await;
        let history = s.get(&paths[2]).await;
        assert_eq!(
            history.column("status")[0],
            "ringing",
            "stale after a change"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        changes += 2;
    }
    let mut reads = 0;
    for p in pollers {
        reads += p.await.expect("poller");
    }
    let stats = s.get("/api/cache/stats").await;
    let d = stats.data();
    println!(
        "{CLIENTS} clients, {reads} polls in {:.1} s ({:.0}/s), {changes} changes: hits {}, misses {}, hit ratio {:.3}",
        started.elapsed().as_secs_f64(),
        reads as f64 / started.elapsed().as_secs_f64(),
        d["hits"],
        d["misses"],
        d["hitRatio"].as_f64().unwrap_or(0.0),
    );
    for r in d["routes"].as_array().into_iter().flatten() {
        if r["hits"].as_u64().unwrap_or(0) + r["misses"].as_u64().unwrap_or(0) > 0 {
            println!(
                "  {}: hits {}, misses {}, ratio {:.3}",
                r["route"], r["hits"], r["misses"], r["hitRatio"]
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_call_details_follow_a_live_call_turn_by_turn() {
    use crate::conversation::{place, world};
    let w = world(
        outcall_sim::twilio::Scenario::Human,
        Duration::from_secs(60),
    )
    .await;
    let sid = place(&w.server).await;
    let path = format!("/api/db/dashboard/call/{sid}");
    // Read all along, so an answer is always cached; the turns must still show up as the
    // bridge stores them, long before the 30 s TTL would end a stale answer.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut seen = 0;
    while seen < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "call details showed {seen} turns; the live transcript has more"
        );
        let details = w.server.get(&path).await;
        seen = details.data()["transcript"]["transcript"]
            .as_array()
            .map_or(0, Vec::len);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // And the route was cached all along: once the call is quiet, reads are hits.
    let quiet = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        w.server.get(&path).await;
        let stats = w.server.get("/api/cache/stats").await;
        if stats.data()["hits"].as_u64() > Some(0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < quiet,
            "never a hit: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
