//! One call's status callbacks in every arrival order, duplicated or not, end in one
//! call and one timeline; a `SequenceNumber` Twilio would never send changes nothing.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use outcall_domain::call::Call;
use serde_json::{Value, json};

use super::{ACCOUNT, TOKEN, form_body, post_form, status_params, stored};
use crate::support::{Backend, TestServer, on_each_backend};

async fn server_on(backend: Backend) -> TestServer {
    TestServer::start_on_backend(
        backend,
        &[
            &format!("--twilio-account-sid={ACCOUNT}"),
            &format!("--twilio-auth-token={TOKEN}"),
            "--twilio-from-number=+15005550006",
            "--twilio-api-base=http://127.0.0.1:9",
        ],
    )
    .await
}

const LIFE: [&str; 4] = ["initiated", "ringing", "in-progress", "completed"];

/// When Twilio says callback `seq` of the call happened (whole seconds, as it sends).
fn twilio_time(seq: usize) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0)
        .single()
        .expect("a valid time")
        + TimeDelta::seconds(10 * seq as i64)
}

fn callback(sid: &str, seq: usize) -> Vec<(String, String)> {
    let mut p = status_params(sid, LIFE[seq], seq as u64);
    p.push(("Timestamp".into(), twilio_time(seq).to_rfc2822()));
    p
}

/// All orders of `0..n`.
fn orders(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut all = Vec::new();
    for rest in orders(n - 1) {
        for at in 0..=rest.len() {
            let mut o = rest.clone();
            o.insert(at, n - 1);
            all.push(o);
        }
    }
    all
}

/// The call as a user sees it, without what differs between two calls (ids, sid,
/// write times), and its timeline as the dashboard's call detail shows it.
async fn end_state(s: &TestServer, sid: &str) -> (Value, Vec<Value>) {
    let mut call = serde_json::to_value(stored(s, sid).await).expect("json");
    let map = call.as_object_mut().expect("object");
    for volatile in ["_id", "callSid", "createdAt", "updatedAt"] {
        map.remove(volatile);
    }
    let timeline = s
        .get(&format!("/api/db/calls/{sid}/events?limit=100"))
        .await
        .items()
        .iter()
        .map(|e| json!([e["eventType"], e["timestamp"], e["data"]]))
        .collect();
    (call, timeline)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_order_of_a_calls_callbacks_ends_in_one_state() {
    on_each_backend(every_order_of_a_calls_callbacks_ends_in_one_state_on).await;
}

async fn every_order_of_a_calls_callbacks_ends_in_one_state_on(backend: Backend) {
    let s = server_on(backend).await;
    // Each of the 24 orders as is, each callback twice in a row, and followed by the
    // same callbacks backwards (duplicates arriving late).
    let mut deliveries = Vec::new();
    for order in orders(LIFE.len()) {
        let doubled: Vec<usize> = order.iter().flat_map(|&i| [i, i]).collect();
        let echoed: Vec<usize> = order.iter().chain(order.iter().rev()).copied().collect();
        deliveries.extend([order, doubled, echoed]);
    }
    assert_eq!(deliveries.len(), 72);
    let mut ends = Vec::new();
    for (n, delivery) in deliveries.iter().enumerate() {
        let sid = format!("CA{n:032x}");
        s.store
            .insert_call(Call::new(&sid, "+15005550006", "+14155552671"))
            .await
            .expect("insert");
        for &seq in delivery {
            let code = post_form(&s, "/webhooks/twilio/status", &callback(&sid, seq), None).await;
            assert_eq!(code, 204, "{delivery:?}: callback {seq}");
        }
        ends.push((delivery, end_state(&s, &sid).await));
    }

    let (call, timeline) = &ends[0].1;
    let time = |seq: usize| json!(twilio_time(seq));
    assert_eq!(call["status"], "completed");
    assert_eq!(
        call["answerTime"],
        time(2),
        "answered at the in-progress time"
    );
    assert_eq!(call["startTime"], time(2));
    assert_eq!(call["endTime"], time(3));
    assert_eq!(call["duration"], 17);
    assert_eq!(call["sequenceNumber"], 3);
    assert_eq!(call["outcome"], "held");
    let statuses: Vec<&Value> = timeline.iter().map(|e| &e[2]["status"]).collect();
    assert_eq!(statuses, LIFE, "one event per status, in Twilio's order");
    for (seq, event) in timeline.iter().enumerate() {
        assert_eq!(event[0], "status-change");
        assert_eq!(event[2]["timestamp"], time(seq), "Twilio's time kept");
        assert_eq!(event[2]["sequenceNumber"], seq);
    }
    let differing: Vec<_> = ends
        .iter()
        .filter(|(_, end)| end != &ends[0].1)
        .map(|(delivery, end)| (delivery, end))
        .collect();
    assert!(
        differing.is_empty(),
        "{} of {} deliveries end elsewhere than {:?}, e.g. {:?}",
        differing.len(),
        ends.len(),
        ends[0].1,
        differing.first()
    );
}

/// POSTs a signed status callback, returning the status code and JSON body.
async fn post_status(s: &TestServer, params: &[(String, String)]) -> (u16, Value) {
    let url = format!("{}/webhooks/twilio/status", s.base);
    let res = s
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "x-twilio-signature",
            outcall_twilio::signature::sign_form(&url, params, TOKEN),
        )
        .body(form_body(params))
        .send()
        .await
        .expect("request");
    let code = res.status().as_u16();
    (code, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_sequence_number_twilio_never_sends_is_400_and_changes_nothing() {
    on_each_backend(a_sequence_number_twilio_never_sends_is_400_and_changes_nothing_on).await;
}

async fn a_sequence_number_twilio_never_sends_is_400_and_changes_nothing_on(backend: Backend) {
    let s = server_on(backend).await;
    let sid = "CAhugeseq";
    s.store
        .insert_call(Call::new(sid, "+15005550006", "+14155552671"))
        .await
        .expect("insert");
    let before = stored(&s, sid).await;
    for huge in ["9223372036854775807", "18446744073709551615", "1000001"] {
        let mut params = status_params(sid, "ringing", 0);
        params.retain(|(k, _)| k != "SequenceNumber");
        params.push(("SequenceNumber".into(), huge.into()));
        let (code, body) = post_status(&s, &params).await;
        assert_eq!(code, 400, "SequenceNumber {huge}: {body}");
        assert_eq!(body["error"]["code"], "validation_error", "{body}");
        let details = body["error"]["details"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            details.iter().any(|d| d["field"] == "SequenceNumber"),
            "SequenceNumber {huge}: details name the field: {body}"
        );
        assert_eq!(
            stored(&s, sid).await,
            before,
            "SequenceNumber {huge} changed the call"
        );
        assert_eq!(s.total(&format!("/api/db/calls/{sid}/events")).await, 0);
    }
    // The call is not frozen: Twilio's own callbacks still apply.
    for seq in 1..=3 {
        let code = post_form(&s, "/webhooks/twilio/status", &callback(sid, seq), None).await;
        assert_eq!(code, 204);
    }
    let call = stored(&s, sid).await;
    assert_eq!(call.status.as_str(), "completed");
    assert_eq!(call.sequence_number, Some(3));
    // The largest value a sane call could reach is still taken.
    let mut edge = status_params("CAedgeseq", "ringing", 1_000_000);
    edge.push(("Timestamp".into(), twilio_time(1).to_rfc2822()));
    s.store
        .insert_call(Call::new("CAedgeseq", "+15005550006", "+14155552671"))
        .await
        .expect("insert");
    assert_eq!(post_status(&s, &edge).await.0, 204);
    assert_eq!(
        stored(&s, "CAedgeseq").await.sequence_number,
        Some(1_000_000)
    );
}

#[tokio::test]
async fn a_status_update_through_the_api_is_bounded_the_same_way() {
    let s = server_on(Backend::Sqlite).await;
    s.store
        .insert_call(Call::new("CAapiseq", "+15005550006", "+14155552671"))
        .await
        .expect("insert");
    let answer = s
        .call(
            reqwest::Method::PUT,
            "/api/db/calls/CAapiseq/status",
            Some(json!({"status": "ringing", "sequenceNumber": i64::MAX})),
        )
        .await;
    answer.assert_field_error("sequenceNumber");
    assert_eq!(stored(&s, "CAapiseq").await.sequence_number, None);
}
