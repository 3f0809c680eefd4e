//! Call-event timeline: `POST /api/db/events`, `GET /api/db/calls/:callSid/events`.

use outcall_domain::PageRequest;
use outcall_domain::page::Sort;
use outcall_store::EventFilter;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestServer, call_sid, time};

async fn stored_events(s: &TestServer, call: &str) -> u64 {
    let page = PageRequest::new(None, None, Sort::asc("timestamp")).expect("page");
    s.store
        .list_events(call, &EventFilter::default(), &page)
        .await
        .expect("store")
        .total
}

#[tokio::test]
async fn create_an_event_with_and_without_timestamp() {
    let s = TestServer::start().await;
    let call = call_sid(1);
    s.create_call(&call, json!({})).await;
    let created = s
        .post(
            "/api/db/events",
            json!({
                "callSid": call,
                "eventType": "dtmf",
                "timestamp": "2020-02-03T04:05:06.789Z",
                "data": {"digits": "1#", "nested": {"a": [1, 2]}}
            }),
        )
        .await;
    assert_eq!(created.status.as_u16(), 201, "{created:?}");
    let d = created.data();
    assert_eq!(d["callSid"], call);
    assert_eq!(d["eventType"], "dtmf");
    assert_eq!(d["data"], json!({"digits": "1#", "nested": {"a": [1, 2]}}));
    assert_eq!(
        time(&d["timestamp"]),
        time(&json!("2020-02-03T04:05:06.789Z"))
    );
    assert!(d["_id"].is_string() && d["createdAt"].is_string());

    let now = s
        .post(
            "/api/db/events",
            json!({"callSid": call, "eventType": "status-change"}),
        )
        .await;
    assert_eq!(now.status.as_u16(), 201, "{now:?}");
    assert_eq!(now.data()["data"], json!({}));
    // Without a timestamp the event happened when it was recorded.
    assert_eq!(
        time(&now.data()["timestamp"]),
        time(&now.data()["createdAt"])
    );

    let list = s.get(&format!("/api/db/calls/{call}/events")).await;
    assert_eq!(list.pagination(), (1, 20, 2, 1));
    assert_eq!(list.items()[0], *d);
    assert_eq!(list.items()[1], *now.data());
}

#[tokio::test]
async fn timeline_is_sorted_by_timestamp_and_filters_by_type() {
    let s = TestServer::start().await;
    let call = call_sid(1);
    let other = call_sid(2);
    s.create_call(&call, json!({})).await;
    s.create_call(&other, json!({})).await;
    // Recorded out of order.
    for (minute, event_type) in [
        (3, "status-change"),
        (1, "status-change"),
        (4, "dtmf"),
        (2, "machine-detection"),
        (5, "status-change"),
    ] {
        let answer = s
            .post(
                "/api/db/events",
                json!({
                    "callSid": call,
                    "eventType": event_type,
                    "timestamp": format!("2026-01-01T10:0{minute}:00Z"),
                    "data": {"minute": minute}
                }),
            )
            .await;
        assert_eq!(answer.status.as_u16(), 201, "{answer:?}");
    }
    let other_event = s
        .post(
            "/api/db/events",
            json!({"callSid": other, "eventType": "status-change", "timestamp": "2026-01-01T10:00:00Z"}),
        )
        .await;
    assert_eq!(other_event.status.as_u16(), 201, "{other_event:?}");
    let minutes = |a: &crate::support::Answer| -> Vec<i64> {
        a.items()
            .iter()
            .map(|e| e["data"]["minute"].as_i64().expect("minute"))
            .collect()
    };
    let path = format!("/api/db/calls/{call}/events");

    let all = s.get(&path).await;
    assert_eq!(all.status.as_u16(), 200, "{all:?}");
    assert_eq!(all.pagination(), (1, 20, 5, 1));
    assert_eq!(minutes(&all), [1, 2, 3, 4, 5]);
    assert!(all.items().iter().all(|e| e["callSid"] == call));

    let desc = s.get(&format!("{path}?sort=-timestamp")).await;
    assert_eq!(minutes(&desc), [5, 4, 3, 2, 1]);

    let page2 = s.get(&format!("{path}?limit=2&page=2")).await;
    assert_eq!(page2.pagination(), (2, 2, 5, 3));
    assert_eq!(minutes(&page2), [3, 4]);

    let status_changes = s.get(&format!("{path}?eventType=status-change")).await;
    assert_eq!(status_changes.pagination().2, 3);
    assert_eq!(minutes(&status_changes), [1, 3, 5]);
    assert_eq!(
        s.total(&format!("{path}?eventType=hangup")).await,
        0,
        "unknown types match nothing"
    );

    let projected = s.get(&format!("{path}?fields=eventType&limit=1")).await;
    let item = projected.items().first().expect("item");
    let mut keys: Vec<&String> = item.as_object().expect("object").keys().collect();
    keys.sort_unstable();
    assert_eq!(keys, ["_id", "eventType"]);
    assert_eq!(item["eventType"], "status-change");
}

#[tokio::test]
async fn event_for_a_missing_call_is_400_and_not_stored() {
    let s = TestServer::start().await;
    let call = call_sid(404);
    s.post(
        "/api/db/events",
        json!({"callSid": call, "eventType": "dtmf"}),
    )
    .await
    .assert_field_error("callSid");
    assert_eq!(stored_events(&s, &call).await, 0);
}

#[tokio::test]
async fn bad_event_bodies_are_400_and_write_nothing() {
    let s = TestServer::start().await;
    let call = call_sid(1);
    s.create_call(&call, json!({})).await;
    let with = |k: &str, v: Value| {
        let mut b = json!({"callSid": call, "eventType": "dtmf"});
        b[k] = v;
        b
    };
    for (what, body) in [
        ("missing eventType", json!({"callSid": call})),
        ("missing callSid", json!({"eventType": "dtmf"})),
        ("unknown field", with("level", json!("info"))),
        ("data not an object", with("data", json!([1, 2]))),
        ("wrong type: eventType", with("eventType", json!(5))),
        ("bad timestamp", with("timestamp", json!("noon"))),
    ] {
        let answer = s.post("/api/db/events", body).await;
        assert_eq!(answer.status.as_u16(), 400, "{what}: {answer:?}");
        answer.assert_error(400, "validation_error");
    }
    for (field, body) in [
        ("eventType", with("eventType", json!("  "))),
        ("eventType", with("eventType", json!("x".repeat(201)))),
        ("callSid", with("callSid", json!("CA 1"))),
    ] {
        s.post("/api/db/events", body)
            .await
            .assert_field_error(field);
    }
    s.send_raw(Method::POST, "/api/db/events", "application/json", "{,}")
        .await
        .assert_error(400, "validation_error");
    s.send_raw(
        Method::POST,
        "/api/db/events",
        "text/plain",
        json!({"callSid": call, "eventType": "dtmf"}).to_string(),
    )
    .await
    .assert_error(415, "unsupported_media_type");
    assert_eq!(stored_events(&s, &call).await, 0);
    assert_eq!(s.total(&format!("/api/db/calls/{call}/events")).await, 0);
}

#[tokio::test]
async fn bad_timeline_requests_are_rejected() {
    let s = TestServer::start().await;
    let call = call_sid(1);
    s.create_call(&call, json!({})).await;
    let path = format!("/api/db/calls/{call}/events");
    for (query, field) in [
        ("page=0", "page"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("sort=createdAt", "sort"),
        ("sort=eventType", "sort"),
        ("eventType=dtmf&eventType=hangup", "eventType"),
        ("fields=data.minute", "fields"),
    ] {
        s.get(&format!("{path}?{query}"))
            .await
            .assert_field_error(field);
    }
    let unknown = s.get(&format!("{path}?type=dtmf")).await;
    unknown.assert_error(400, "validation_error");
    assert!(unknown.message().contains("type"), "{unknown:?}");

    s.get("/api/db/calls/CA%20x/events")
        .await
        .assert_field_error("callSid");
    s.get(&format!("/api/db/calls/{}/events", call_sid(404)))
        .await
        .assert_error(404, "not_found");
}
