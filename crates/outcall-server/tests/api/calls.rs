//! Call API: create, get, list (pagination, sort, filters, projection), status, delete.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestServer, call_sid, with_query};

const SID: &str = "CA0123456789abcdef0123456789abcdef";
const CAMPAIGN_A: &str = "65a1b2c3d4e5f60718293a4b";
const CAMPAIGN_B: &str = "65a1b2c3d4e5f60718293a4c";

#[tokio::test]
async fn create_then_get_a_call_with_normalised_numbers() {
    let s = TestServer::start().await;
    let created = s
        .post(
            "/api/db/calls",
            json!({"callSid": SID, "from": "+1 500-555-0006", "to": "(415) 555-2671"}),
        )
        .await;
    assert_eq!(created.status.as_u16(), 201, "{created:?}");
    assert_eq!(created.data()["to"], "+14155552671");
    assert_eq!(created.data()["from"], "+15005550006");
    assert_eq!(created.data()["status"], "initiated");
    let got = s.get(&format!("/api/db/calls/{SID}")).await;
    assert_eq!(got.status.as_u16(), 200, "{got:?}");
    assert_eq!(got.data(), created.data());
}

#[tokio::test]
async fn create_keeps_every_given_field() {
    let s = TestServer::start().await;
    let body = json!({
        "callSid": SID,
        "from": "+15005550006",
        "to": "+14155552671",
        "status": "ringing",
        "direction": "outbound-api",
        "conversationId": "conv_123",
        "startTime": "2026-01-02T03:04:05Z",
        "endTime": "2026-01-02T03:05:05Z",
        "duration": 60,
        "answeredBy": "human",
        "machineBehavior": "DetectMessageEnd",
        "agentId": "agent_1",
        "contactName": "Ada Lovelace",
        "campaignId": CAMPAIGN_A,
        "contactId": CAMPAIGN_B,
        "metadata": {"source": "test", "n": 1},
        "prompt": "Be brief.",
        "firstMessage": "Hello!",
        "dynamicVariables": {"name": "Ada"},
        "region": "US"
    });
    let created = s.post("/api/db/calls", body.clone()).await;
    assert_eq!(created.status.as_u16(), 201, "{created:?}");
    let d = created.data();
    for (k, v) in body.as_object().expect("object") {
        if k == "startTime" || k == "endTime" {
            continue;
        }
        assert_eq!(&d[k], v, "field {k}");
    }
    assert!(
        d["startTime"]
            .as_str()
            .is_some_and(|t| t.starts_with("2026-01-02T03:04:05"))
    );
    assert!(
        d["_id"]
            .as_str()
            .is_some_and(|id| id.len() == 24 && id.chars().all(|c| c.is_ascii_hexdigit())),
        "{d}"
    );
    assert!(d["createdAt"].is_string() && d["updatedAt"].is_string());
    let stored = s
        .store
        .get_call(SID)
        .await
        .expect("store")
        .expect("call stored");
    assert_eq!(stored.contact_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(stored.duration, Some(60));
}

#[tokio::test]
async fn get_unknown_call_is_404_and_bad_sid_is_400() {
    let s = TestServer::start().await;
    s.get(&format!("/api/db/calls/{SID}"))
        .await
        .assert_error(404, "not_found");
    s.get("/api/db/calls/CA%20with%20spaces")
        .await
        .assert_field_error("callSid");
    s.get("/api/db/calls/CA%FF")
        .await
        .assert_error(400, "validation_error");
    let long = "C".repeat(65);
    s.get(&format!("/api/db/calls/{long}"))
        .await
        .assert_field_error("callSid");
    // 64 characters is still a well-formed sid.
    let max = "C".repeat(64);
    s.get(&format!("/api/db/calls/{max}"))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn duplicate_call_sid_is_409_and_keeps_the_first() {
    let s = TestServer::start().await;
    let first = s.create_call(SID, json!({"contactName": "First"})).await;
    let again = s
        .post(
            "/api/db/calls",
            json!({"callSid": SID, "from": "+15005550006", "to": "+14155550100", "contactName": "Second"}),
        )
        .await;
    again.assert_error(409, "conflict");
    assert!(again.message().contains("callSid"), "{again:?}");
    let got = s.get(&format!("/api/db/calls/{SID}")).await;
    assert_eq!(got.data(), &first);
    assert_eq!(s.total("/api/db/calls").await, 1);
}

/// Every malformed create is refused with a 400 envelope and writes nothing.
#[tokio::test]
async fn bad_create_bodies_are_400_and_write_nothing() {
    let s = TestServer::start().await;
    let ok = || json!({"callSid": SID, "from": "+15005550006", "to": "+14155552671"});
    let with = |k: &str, v: Value| {
        let mut b = ok();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = ok();
        b.as_object_mut().expect("object").remove(k);
        b
    };
    let cases: Vec<(&str, Value)> = vec![
        ("wrong type: duration", with("duration", json!("ten"))),
        ("wrong type: metadata", with("metadata", json!("x"))),
        ("wrong type: callSid", with("callSid", json!(42))),
        ("unknown field", with("colour", json!("blue"))),
        ("unknown status", with("status", json!("exploded"))),
        ("bad startTime", with("startTime", json!("yesterday"))),
        ("missing callSid", without("callSid")),
        ("missing from", without("from")),
        ("missing to", without("to")),
        ("campaignId not hex", with("campaignId", json!("not-an-id"))),
        (
            "campaignId too short",
            with("campaignId", json!("65a1b2c3d4e5f60718293a4")),
        ),
        ("not an object", json!([ok()])),
    ];
    for (what, body) in cases {
        let answer = s.post("/api/db/calls", body).await;
        assert_eq!(answer.status.as_u16(), 400, "{what}: {answer:?}");
        answer.assert_error(400, "validation_error");
    }
    let field_cases: Vec<(&str, Value)> = vec![
        ("callSid", with("callSid", json!("CA has spaces"))),
        ("callSid", with("callSid", json!("C".repeat(65)))),
        ("callSid", with("callSid", json!(""))),
        ("to", with("to", json!("hello"))),
        ("to", with("to", json!("123"))),
        ("from", with("from", json!("+1 555"))),
        ("duration", with("duration", json!(-1))),
        ("contactName", with("contactName", json!("x".repeat(201)))),
        ("agentId", with("agentId", json!("agent 1"))),
        ("endTime", {
            let mut b = with("startTime", json!("2026-01-02T03:04:05Z"));
            b["endTime"] = json!("2026-01-02T03:00:00Z");
            b
        }),
    ];
    for (field, body) in field_cases {
        s.post("/api/db/calls", body)
            .await
            .assert_field_error(field);
    }
    assert_eq!(s.total("/api/db/calls").await, 0);
    assert!(s.store.get_call(SID).await.expect("store").is_none());
}

#[tokio::test]
async fn every_bad_field_is_reported_at_once() {
    let s = TestServer::start().await;
    let answer = s
        .post(
            "/api/db/calls",
            json!({"callSid": SID, "from": "nope", "to": "also nope", "duration": -5}),
        )
        .await;
    answer.assert_field_error("from");
    answer.assert_field_error("to");
    answer.assert_field_error("duration");
    assert_eq!(s.total("/api/db/calls").await, 0);
}

#[tokio::test]
async fn malformed_json_is_400_and_writes_nothing() {
    let s = TestServer::start().await;
    for raw in [
        "{\"callSid\": ",
        "{callSid: 'x'}",
        "",
        "null",
        "{\"callSid\": \"CA1\", \"from\": \"+15005550006\", \"to\": \"+14155552671\",}",
        "{\"callSid\": \"CA1\", \"callSid\": \"CA2\", \"from\": \"+15005550006\", \"to\": \"+14155552671\"}",
    ] {
        let answer = s
            .send_raw(Method::POST, "/api/db/calls", "application/json", raw)
            .await;
        answer.assert_error(400, "validation_error");
    }
    assert_eq!(s.total("/api/db/calls").await, 0);
}

#[tokio::test]
async fn list_pages_newest_first_with_correct_totals() {
    let s = TestServer::start().await;
    let sids: Vec<String> = (1..=5).map(call_sid).collect();
    for sid in &sids {
        s.create_call(sid, json!({})).await;
    }
    let newest_first: Vec<String> = sids.iter().rev().cloned().collect();

    let all = s.get("/api/db/calls").await;
    assert_eq!(all.status.as_u16(), 200, "{all:?}");
    assert_eq!(all.pagination(), (1, 20, 5, 1));
    assert_eq!(all.column("callSid"), newest_first);

    let mut seen = Vec::new();
    for page in 1..=3u64 {
        let answer = s.get(&format!("/api/db/calls?limit=2&page={page}")).await;
        assert_eq!(answer.pagination(), (page, 2, 5, 3), "page {page}");
        assert_eq!(answer.items().len(), if page < 3 { 2 } else { 1 });
        seen.extend(answer.column("callSid"));
    }
    assert_eq!(seen, newest_first);

    let past_end = s.get("/api/db/calls?limit=2&page=4").await;
    assert_eq!(past_end.pagination(), (4, 2, 5, 3));
    assert!(past_end.items().is_empty());

    let oldest_first = s.get("/api/db/calls?sort=createdAt").await;
    assert_eq!(oldest_first.column("callSid"), sids);
    let explicit_desc = s.get("/api/db/calls?sort=-createdAt").await;
    assert_eq!(explicit_desc.column("callSid"), newest_first);

    let max = s.get("/api/db/calls?limit=100").await;
    assert_eq!(max.pagination(), (1, 100, 5, 1));
}

#[tokio::test]
async fn empty_list_has_zero_pages() {
    let s = TestServer::start().await;
    let answer = s.get("/api/db/calls").await;
    assert_eq!(answer.pagination(), (1, 20, 0, 0));
    assert!(answer.items().is_empty());
}

#[tokio::test]
async fn list_sorts_by_status() {
    let s = TestServer::start().await;
    s.create_call(&call_sid(1), json!({"status": "ringing"}))
        .await;
    s.create_call(&call_sid(2), json!({"status": "completed"}))
        .await;
    s.create_call(&call_sid(3), json!({"status": "busy"})).await;
    let asc = s.get("/api/db/calls?sort=status").await;
    assert_eq!(asc.column("status"), ["busy", "completed", "ringing"]);
    let desc = s.get("/api/db/calls?sort=-status").await;
    assert_eq!(desc.column("status"), ["ringing", "completed", "busy"]);
}

#[tokio::test]
async fn list_filters_by_status_and_campaign() {
    let s = TestServer::start().await;
    s.create_call(
        &call_sid(1),
        json!({"status": "completed", "campaignId": CAMPAIGN_A}),
    )
    .await;
    s.create_call(
        &call_sid(2),
        json!({"status": "busy", "campaignId": CAMPAIGN_A}),
    )
    .await;
    s.create_call(
        &call_sid(3),
        json!({"status": "completed", "campaignId": CAMPAIGN_B}),
    )
    .await;
    s.create_call(&call_sid(4), json!({})).await;

    let completed = s.get("/api/db/calls?status=completed").await;
    assert_eq!(completed.pagination().2, 2);
    assert_eq!(completed.column("callSid"), [call_sid(3), call_sid(1)]);

    let in_a = s
        .get(&format!("/api/db/calls?campaignId={CAMPAIGN_A}"))
        .await;
    assert_eq!(in_a.column("callSid"), [call_sid(2), call_sid(1)]);

    let both = s
        .get(&format!(
            "/api/db/calls?campaignId={CAMPAIGN_A}&status=completed"
        ))
        .await;
    assert_eq!(both.column("callSid"), [call_sid(1)]);

    let none = s.get("/api/db/calls?status=no-answer").await;
    assert_eq!(none.pagination().2, 0);
}

#[tokio::test]
async fn list_filters_by_numbers_given_in_national_format() {
    let s = TestServer::start().await;
    s.create_call(
        &call_sid(1),
        json!({"from": "+15005550006", "to": "+14155552671"}),
    )
    .await;
    s.create_call(
        &call_sid(2),
        json!({"from": "+15005550006", "to": "+12125550123"}),
    )
    .await;
    s.create_call(
        &call_sid(3),
        json!({"from": "+14155552671", "to": "+12125550123"}),
    )
    .await;

    let to = s
        .get(&with_query("/api/db/calls", &[("to", "(415) 555-2671")]))
        .await;
    assert_eq!(to.column("callSid"), [call_sid(1)]);
    let to_e164 = s
        .get(&with_query("/api/db/calls", &[("to", "+12125550123")]))
        .await;
    assert_eq!(to_e164.column("callSid"), [call_sid(3), call_sid(2)]);
    let from = s
        .get(&with_query("/api/db/calls", &[("from", "500.555.0006")]))
        .await;
    assert_eq!(from.column("callSid"), [call_sid(2), call_sid(1)]);
    let both = s
        .get(&with_query(
            "/api/db/calls",
            &[("from", "415 555 2671"), ("to", "212-555-0123")],
        ))
        .await;
    assert_eq!(both.column("callSid"), [call_sid(3)]);

    s.get(&with_query("/api/db/calls", &[("to", "not a number")]))
        .await
        .assert_field_error("to");
    s.get(&with_query("/api/db/calls", &[("from", "123")]))
        .await
        .assert_field_error("from");
}

#[tokio::test]
async fn list_filters_by_creation_date() {
    let s = TestServer::start().await;
    let first = s.create_call(&call_sid(1), json!({})).await;
    let mut second = s.create_call(&call_sid(2), json!({})).await;
    // Both in the same millisecond: make a later one.
    let mut n = 3;
    while second["createdAt"] == first["createdAt"] {
        tokio::time::sleep(Duration::from_millis(2)).await;
        second = s.create_call(&call_sid(n), json!({})).await;
        n += 1;
    }
    let second_sid = second["callSid"].as_str().expect("sid").to_string();
    let second_at = second["createdAt"].as_str().expect("createdAt");
    let total = s.total("/api/db/calls").await;

    // startDate is inclusive, endDate exclusive.
    let from_second = s
        .get(&with_query("/api/db/calls", &[("startDate", second_at)]))
        .await;
    assert_eq!(
        from_second.column("callSid"),
        std::slice::from_ref(&second_sid)
    );
    let before_second = s
        .get(&with_query("/api/db/calls", &[("endDate", second_at)]))
        .await;
    assert_eq!(before_second.pagination().2, total - 1);
    assert!(!before_second.column("callSid").contains(&second_sid));

    // Bare dates mean midnight UTC.
    assert_eq!(s.total("/api/db/calls?startDate=2000-01-01").await, total);
    assert_eq!(s.total("/api/db/calls?endDate=2000-01-01").await, 0);
    assert_eq!(
        s.total("/api/db/calls?startDate=2000-01-01&endDate=2999-01-01")
            .await,
        total
    );

    // Offsets are honoured: 09:00+09:00 is midnight UTC.
    let offset = with_query(
        "/api/db/calls",
        &[("startDate", "2000-01-01T09:00:00+09:00")],
    );
    assert_eq!(s.total(&offset).await, total);
    let offset_end = with_query("/api/db/calls", &[("endDate", "2000-01-01T09:00:00+09:00")]);
    assert_eq!(s.total(&offset_end).await, 0);

    s.get("/api/db/calls?startDate=yesterday")
        .await
        .assert_field_error("startDate");
    s.get("/api/db/calls?endDate=2026-13-01")
        .await
        .assert_field_error("endDate");
    // A range that ends before it starts is a mistake, not an empty answer.
    s.get("/api/db/calls?startDate=2026-02-01&endDate=2026-01-01")
        .await
        .assert_field_error("endDate");
    s.get("/api/db/recordings?startDate=2026-02-01&endDate=2026-01-01")
        .await
        .assert_field_error("endDate");
}

#[tokio::test]
async fn fields_projection_keeps_only_those_fields_and_id() {
    let s = TestServer::start().await;
    s.create_call(&call_sid(1), json!({"contactName": "Ada"}))
        .await;
    let answer = s.get("/api/db/calls?fields=callSid,status").await;
    let item = answer.items().first().expect("one call");
    let mut keys: Vec<&str> = item
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["_id", "callSid", "status"]);
    assert_eq!(item["callSid"], call_sid(1));
    assert_eq!(answer.pagination().2, 1);

    s.get("/api/db/calls?fields=call.sid")
        .await
        .assert_field_error("fields");
    s.get("/api/db/calls?fields=,,")
        .await
        .assert_field_error("fields");
}

#[tokio::test]
async fn bad_list_parameters_are_400() {
    let s = TestServer::start().await;
    s.create_call(&call_sid(1), json!({})).await;
    for (query, field) in [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("limit=1.5", "limit"),
        ("sort=to", "sort"),
        ("sort=-duration", "sort"),
        ("status=exploded", "status"),
        ("campaignId=123", "campaignId"),
        ("campaignId=zzzzzzzzzzzzzzzzzzzzzzzz", "campaignId"),
        ("contactId=65a1b2c3", "contactId"),
        ("status=completed&status=busy", "status"),
        ("page=1&page=2", "page"),
    ] {
        s.get(&format!("/api/db/calls?{query}"))
            .await
            .assert_field_error(field);
    }
    for query in ["colour=blue", "Status=completed", "callSid=CA1", "tag=vip"] {
        let answer = s.get(&format!("/api/db/calls?{query}")).await;
        answer.assert_error(400, "validation_error");
        let name = query.split('=').next().expect("name");
        assert!(answer.message().contains(name), "{answer:?}");
    }
}

#[tokio::test]
async fn status_moves_forward_and_sets_times() {
    let s = TestServer::start().await;
    s.create_call(SID, json!({})).await;
    let path = format!("/api/db/calls/{SID}/status");

    let ringing = s
        .put(&path, json!({"status": "ringing", "sequenceNumber": 1}))
        .await;
    assert_eq!(ringing.status.as_u16(), 200, "{ringing:?}");
    assert_eq!(ringing.data()["status"], "ringing");
    assert_eq!(ringing.data()["sequenceNumber"], 1);
    assert!(ringing.data().get("answerTime").is_none());

    let answered = s
        .put(
            &path,
            json!({"status": "in-progress", "sequenceNumber": 2, "timestamp": "2026-03-04T10:00:00Z", "answeredBy": "human"}),
        )
        .await;
    assert_eq!(answered.status.as_u16(), 200, "{answered:?}");
    let d = answered.data();
    assert_eq!(d["status"], "in-progress");
    assert_eq!(d["answeredBy"], "human");
    assert!(
        d["answerTime"]
            .as_str()
            .is_some_and(|t| t.starts_with("2026-03-04T10:00:00")),
        "{d}"
    );
    assert!(d.get("endTime").is_none(), "{d}");

    let completed = s
        .put(
            &path,
            json!({"status": "completed", "sequenceNumber": 3, "timestamp": "2026-03-04T10:01:30Z", "duration": 90}),
        )
        .await;
    assert_eq!(completed.status.as_u16(), 200, "{completed:?}");
    let d = completed.data();
    assert_eq!(d["status"], "completed");
    assert_eq!(d["duration"], 90);
    assert!(
        d["endTime"]
            .as_str()
            .is_some_and(|t| t.starts_with("2026-03-04T10:01:30")),
        "{d}"
    );
    assert_eq!(d["outcome"], "held");

    let got = s.get(&format!("/api/db/calls/{SID}")).await;
    assert_eq!(got.data(), completed.data());
}

#[tokio::test]
async fn status_without_sequence_numbers_still_moves_forward_only() {
    let s = TestServer::start().await;
    s.create_call(SID, json!({})).await;
    let path = format!("/api/db/calls/{SID}/status");
    let answered = s.put(&path, json!({"status": "in-progress"})).await;
    assert_eq!(answered.status.as_u16(), 200, "{answered:?}");
    assert!(answered.data()["answerTime"].is_string());
    let back = s.put(&path, json!({"status": "ringing"})).await;
    back.assert_error(409, "conflict");
    assert_eq!(
        back.body["error"]["details"]["currentStatus"],
        "in-progress"
    );
    assert_eq!(back.body["error"]["details"]["reason"], "backwards");
}

#[tokio::test]
async fn a_call_that_ends_unanswered_gets_an_end_time_only() {
    let s = TestServer::start().await;
    s.create_call(SID, json!({})).await;
    let ended = s
        .put(
            &format!("/api/db/calls/{SID}/status"),
            json!({"status": "no-answer", "sequenceNumber": 1, "timestamp": "2026-03-04T10:00:30Z"}),
        )
        .await;
    assert_eq!(ended.status.as_u16(), 200, "{ended:?}");
    let d = ended.data();
    assert_eq!(d["status"], "no-answer");
    assert_eq!(d["outcome"], "no-answer");
    assert!(d.get("answerTime").is_none(), "{d}");
    assert!(
        d["endTime"]
            .as_str()
            .is_some_and(|t| t.starts_with("2026-03-04T10:00:30")),
        "{d}"
    );
    let filtered = s.get("/api/db/calls?status=no-answer").await;
    assert_eq!(filtered.column("callSid"), [SID]);
}

#[tokio::test]
async fn backwards_stale_and_final_status_updates_are_409_and_change_nothing() {
    let s = TestServer::start().await;
    s.create_call(SID, json!({})).await;
    let path = format!("/api/db/calls/{SID}/status");
    let answered = s
        .put(&path, json!({"status": "in-progress", "sequenceNumber": 5}))
        .await;
    assert_eq!(answered.status.as_u16(), 200, "{answered:?}");
    let before = s.get(&format!("/api/db/calls/{SID}")).await.data().clone();

    // Backwards (with a newer sequence number).
    let back = s
        .put(&path, json!({"status": "ringing", "sequenceNumber": 6}))
        .await;
    back.assert_error(409, "conflict");
    assert_eq!(
        back.body["error"]["details"]["currentStatus"],
        "in-progress"
    );
    assert_eq!(back.body["error"]["details"]["reason"], "backwards");

    // Stale: forward, but an equal or older sequence number.
    for seq in [5, 4] {
        let stale = s
            .put(&path, json!({"status": "completed", "sequenceNumber": seq}))
            .await;
        stale.assert_error(409, "conflict");
        assert_eq!(
            stale.body["error"]["details"]["currentStatus"],
            "in-progress"
        );
        assert_eq!(stale.body["error"]["details"]["reason"], "stale-sequence");
    }
    let after = s.get(&format!("/api/db/calls/{SID}")).await;
    assert_eq!(after.data(), &before, "a refused update changed the call");

    // Terminal is final.
    let busy = s
        .put(&path, json!({"status": "busy", "sequenceNumber": 7}))
        .await;
    assert_eq!(busy.status.as_u16(), 200, "{busy:?}");
    let ended = busy.data().clone();
    for (status, seq) in [("completed", 8), ("in-progress", 9), ("busy", 10)] {
        let late = s
            .put(&path, json!({"status": status, "sequenceNumber": seq}))
            .await;
        late.assert_error(409, "conflict");
        assert_eq!(late.body["error"]["details"]["currentStatus"], "busy");
        assert_eq!(late.body["error"]["details"]["reason"], "already-final");
    }
    let stored = s.store.get_call(SID).await.expect("store").expect("call");
    assert_eq!(stored.status.as_str(), "busy");
    assert_eq!(stored.sequence_number, Some(7));
    assert_eq!(s.get(&format!("/api/db/calls/{SID}")).await.data(), &ended);
}

#[tokio::test]
async fn bad_status_updates_are_rejected_without_writing() {
    let s = TestServer::start().await;
    s.create_call(SID, json!({})).await;
    let path = format!("/api/db/calls/{SID}/status");
    for (what, body) in [
        ("unknown status", json!({"status": "exploded"})),
        ("missing status", json!({"sequenceNumber": 1})),
        (
            "unknown field",
            json!({"status": "ringing", "colour": "red"}),
        ),
        (
            "wrong type",
            json!({"status": "ringing", "sequenceNumber": "one"}),
        ),
        (
            "bad time",
            json!({"status": "ringing", "timestamp": "soon"}),
        ),
    ] {
        let answer = s.put(&path, body).await;
        assert_eq!(answer.status.as_u16(), 400, "{what}: {answer:?}");
        answer.assert_error(400, "validation_error");
    }
    s.put(&path, json!({"status": "ringing", "sequenceNumber": -1}))
        .await
        .assert_field_error("sequenceNumber");
    s.put(&path, json!({"status": "completed", "duration": -3}))
        .await
        .assert_field_error("duration");
    s.send_raw(Method::PUT, &path, "application/json", "{\"status\":")
        .await
        .assert_error(400, "validation_error");
    s.send_raw(Method::PUT, &path, "text/plain", "status=ringing")
        .await
        .assert_error(415, "unsupported_media_type");
    let stored = s.store.get_call(SID).await.expect("store").expect("call");
    assert_eq!(stored.status.as_str(), "initiated");
    assert_eq!(stored.sequence_number, None);
    assert_eq!(stored.duration, None);

    s.put(
        &format!("/api/db/calls/{}/status", call_sid(99)),
        json!({"status": "ringing"}),
    )
    .await
    .assert_error(404, "not_found");
    s.put(
        "/api/db/calls/bad%20sid/status",
        json!({"status": "ringing"}),
    )
    .await
    .assert_field_error("callSid");
}

#[tokio::test]
async fn delete_then_get_is_404_and_delete_again_is_404() {
    let s = TestServer::start().await;
    s.create_call(SID, json!({})).await;
    s.create_call(&call_sid(2), json!({})).await;
    let deleted = s.delete(&format!("/api/db/calls/{SID}")).await;
    assert_eq!(deleted.status.as_u16(), 200, "{deleted:?}");
    assert_eq!(deleted.data()["deleted"], true);
    assert_eq!(deleted.data()["callSid"], SID);
    s.get(&format!("/api/db/calls/{SID}"))
        .await
        .assert_error(404, "not_found");
    s.delete(&format!("/api/db/calls/{SID}"))
        .await
        .assert_error(404, "not_found");
    s.put(
        &format!("/api/db/calls/{SID}/status"),
        json!({"status": "ringing"}),
    )
    .await
    .assert_error(404, "not_found");
    // The other call is untouched.
    let rest = s.get("/api/db/calls").await;
    assert_eq!(rest.column("callSid"), [call_sid(2)]);
    s.delete("/api/db/calls/bad%20sid")
        .await
        .assert_field_error("callSid");
    // The sid is free again.
    s.create_call(SID, json!({})).await;
}

#[tokio::test]
async fn call_changes_are_published_on_the_bus_once() {
    use outcall_server::bus::BusEvent;
    let s = TestServer::start().await;
    let mut rx = s.bus.subscribe();
    let sid = call_sid(1);
    s.create_call(&sid, json!({})).await;
    for (seq, status) in [(1, "ringing"), (2, "completed")] {
        let answer = s
            .put(
                &format!("/api/db/calls/{sid}/status"),
                json!({"status": status, "sequenceNumber": seq}),
            )
            .await;
        assert_eq!(answer.status.as_u16(), 200, "{answer:?}");
    }
    // A refused update publishes nothing.
    let refused = s
        .put(
            &format!("/api/db/calls/{sid}/status"),
            json!({"status": "ringing", "sequenceNumber": 1}),
        )
        .await;
    assert_eq!(refused.status.as_u16(), 409);

    let mut seen = Vec::new();
    while let Ok(event) = rx.try_recv() {
        let BusEvent::Call(update) = event.as_ref() else {
            continue;
        };
        assert_eq!(update.call_sid, sid);
        seen.push((
            update.kind,
            update.data["status"].as_str().unwrap_or("").to_string(),
        ));
    }
    assert_eq!(
        seen,
        vec![
            ("new_call", "initiated".to_string()),
            ("status_update", "ringing".to_string()),
            ("status_update", "completed".to_string()),
            ("call_ended", "completed".to_string()),
        ]
    );
}
