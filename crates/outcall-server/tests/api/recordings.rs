//! Recording API: create, get, list (all and per call), delete.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestServer, call_sid, recording_sid, with_query};

#[tokio::test]
async fn create_then_get_and_list_a_recording() {
    let s = TestServer::start().await;
    let call = call_sid(1);
    s.create_call(&call, json!({})).await;
    let rec = recording_sid(1);
    let created = s
        .post(
            "/api/db/recordings",
            json!({
                "recordingSid": rec,
                "callSid": call,
                "url": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
                "duration": 42,
                "status": "in-progress",
                "channels": 2,
                "startTime": "2026-05-06T07:08:09Z"
            }),
        )
        .await;
    assert_eq!(created.status.as_u16(), 201, "{created:?}");
    let d = created.data();
    assert_eq!(d["recordingSid"], rec);
    assert_eq!(d["callSid"], call);
    assert_eq!(
        d["url"],
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"
    );
    assert_eq!(d["duration"], 42);
    assert_eq!(d["status"], "in-progress");
    assert_eq!(d["channels"], 2);
    assert!(
        d["startTime"]
            .as_str()
            .is_some_and(|t| t.starts_with("2026-05-06T07:08:09")),
        "{d}"
    );
    assert!(d["_id"].is_string() && d["createdAt"].is_string());

    let got = s.get(&format!("/api/db/recordings/{rec}")).await;
    assert_eq!(got.status.as_u16(), 200, "{got:?}");
    assert_eq!(got.data(), d);

    let list = s.get("/api/db/recordings").await;
    assert_eq!(list.pagination(), (1, 20, 1, 1));
    assert_eq!(list.items(), &vec![d.clone()]);
}

#[tokio::test]
async fn status_defaults_to_completed() {
    let s = TestServer::start().await;
    s.create_call(&call_sid(1), json!({})).await;
    let rec = s
        .create_recording(&recording_sid(1), &call_sid(1), json!({}))
        .await;
    assert_eq!(rec["status"], "completed");
    assert!(rec.get("url").is_none(), "{rec}");
}

#[tokio::test]
async fn get_unknown_recording_is_404_and_bad_sid_is_400() {
    let s = TestServer::start().await;
    s.get(&format!("/api/db/recordings/{}", recording_sid(1)))
        .await
        .assert_error(404, "not_found");
    s.get("/api/db/recordings/RE%20bad")
        .await
        .assert_field_error("recordingSid");
    s.get(&format!("/api/db/recordings/{}", "R".repeat(65)))
        .await
        .assert_field_error("recordingSid");
}

#[tokio::test]
async fn recording_for_a_missing_call_is_400_and_not_stored() {
    let s = TestServer::start().await;
    let answer = s
        .post(
            "/api/db/recordings",
            json!({"recordingSid": recording_sid(1), "callSid": call_sid(404)}),
        )
        .await;
    answer.assert_field_error("callSid");
    assert!(
        s.store
            .get_recording(&recording_sid(1))
            .await
            .expect("store")
            .is_none()
    );
    assert_eq!(s.total("/api/db/recordings").await, 0);
}

#[tokio::test]
async fn duplicate_recording_sid_is_409_and_keeps_the_first() {
    let s = TestServer::start().await;
    s.create_call(&call_sid(1), json!({})).await;
    s.create_call(&call_sid(2), json!({})).await;
    let first = s
        .create_recording(&recording_sid(1), &call_sid(1), json!({"duration": 5}))
        .await;
    let again = s
        .post(
            "/api/db/recordings",
            json!({"recordingSid": recording_sid(1), "callSid": call_sid(2), "duration": 9}),
        )
        .await;
    again.assert_error(409, "conflict");
    assert!(again.message().contains("recordingSid"), "{again:?}");
    let got = s
        .get(&format!("/api/db/recordings/{}", recording_sid(1)))
        .await;
    assert_eq!(got.data(), &first);
    assert_eq!(s.total("/api/db/recordings").await, 1);
}

#[tokio::test]
async fn bad_create_bodies_are_400_and_write_nothing() {
    let s = TestServer::start().await;
    s.create_call(&call_sid(1), json!({})).await;
    let with = |k: &str, v: Value| {
        let mut b = json!({"recordingSid": recording_sid(1), "callSid": call_sid(1)});
        b[k] = v;
        b
    };
    for (what, body) in [
        ("wrong type: duration", with("duration", json!("ten"))),
        ("wrong type: channels", with("channels", json!(true))),
        ("unknown field", with("format", json!("mp3"))),
        ("bad startTime", with("startTime", json!(12))),
        ("missing recordingSid", json!({"callSid": call_sid(1)})),
        ("missing callSid", json!({"recordingSid": recording_sid(1)})),
    ] {
        let answer = s.post("/api/db/recordings", body).await;
        assert_eq!(answer.status.as_u16(), 400, "{what}: {answer:?}");
        answer.assert_error(400, "validation_error");
    }
    for (field, body) in [
        ("recordingSid", with("recordingSid", json!("RE has spaces"))),
        ("recordingSid", with("recordingSid", json!("R".repeat(65)))),
        ("callSid", with("callSid", json!("CA/1"))),
        ("status", with("status", json!("done"))),
        ("url", with("url", json!("ftp://example.com/r.wav"))),
        ("url", with("url", json!("not a url"))),
        ("duration", with("duration", json!(-1))),
        ("channels", with("channels", json!(3))),
        ("channels", with("channels", json!(0))),
    ] {
        s.post("/api/db/recordings", body)
            .await
            .assert_field_error(field);
    }
    s.send_raw(
        Method::POST,
        "/api/db/recordings",
        "application/json",
        "{\"recordingSid\": [",
    )
    .await
    .assert_error(400, "validation_error");
    s.send_raw(
        Method::POST,
        "/api/db/recordings",
        "application/x-www-form-urlencoded",
        format!("recordingSid={}&callSid={}", recording_sid(1), call_sid(1)),
    )
    .await
    .assert_error(415, "unsupported_media_type");
    assert_eq!(s.total("/api/db/recordings").await, 0);
}

#[tokio::test]
async fn list_pages_sorts_and_filters() {
    let s = TestServer::start().await;
    s.create_call(&call_sid(1), json!({})).await;
    s.create_call(&call_sid(2), json!({})).await;
    // Three recordings of call 1 (completed, failed, completed), two of call 2 (completed).
    let plan = [
        (1, 1, "completed"),
        (2, 2, "completed"),
        (3, 1, "failed"),
        (4, 2, "completed"),
        (5, 1, "completed"),
    ];
    for (rec, call, status) in plan {
        s.create_recording(
            &recording_sid(rec),
            &call_sid(call),
            json!({"status": status}),
        )
        .await;
    }
    let sids = |ns: &[u32]| ns.iter().map(|n| recording_sid(*n)).collect::<Vec<_>>();

    let all = s.get("/api/db/recordings").await;
    assert_eq!(all.pagination(), (1, 20, 5, 1));
    assert_eq!(all.column("recordingSid"), sids(&[5, 4, 3, 2, 1]));

    let page2 = s.get("/api/db/recordings?limit=2&page=2").await;
    assert_eq!(page2.pagination(), (2, 2, 5, 3));
    assert_eq!(page2.column("recordingSid"), sids(&[3, 2]));

    let asc = s.get("/api/db/recordings?sort=createdAt&limit=3").await;
    assert_eq!(asc.pagination(), (1, 3, 5, 2));
    assert_eq!(asc.column("recordingSid"), sids(&[1, 2, 3]));

    let of_call = s
        .get(&format!("/api/db/recordings?callSid={}", call_sid(2)))
        .await;
    assert_eq!(of_call.column("recordingSid"), sids(&[4, 2]));

    let failed = s.get("/api/db/recordings?status=failed").await;
    assert_eq!(failed.column("recordingSid"), sids(&[3]));

    let both = s
        .get(&format!(
            "/api/db/recordings?callSid={}&status=completed",
            call_sid(1)
        ))
        .await;
    assert_eq!(both.column("recordingSid"), sids(&[5, 1]));

    assert_eq!(s.total("/api/db/recordings?startDate=2000-01-01").await, 5);
    assert_eq!(s.total("/api/db/recordings?endDate=2000-01-01").await, 0);
    let newest_at = all.items()[0]["createdAt"].as_str().expect("createdAt");
    let since_newest = s
        .get(&with_query(
            "/api/db/recordings",
            &[("startDate", newest_at)],
        ))
        .await;
    assert!(
        since_newest
            .column("recordingSid")
            .contains(&recording_sid(5))
    );
    let before_newest = s
        .get(&with_query("/api/db/recordings", &[("endDate", newest_at)]))
        .await;
    assert!(
        !before_newest
            .column("recordingSid")
            .contains(&recording_sid(5))
    );

    let projected = s
        .get("/api/db/recordings?fields=recordingSid&limit=1")
        .await;
    let item = projected.items().first().expect("item");
    let mut keys: Vec<&String> = item.as_object().expect("object").keys().collect();
    keys.sort_unstable();
    assert_eq!(keys, ["_id", "recordingSid"]);
}

#[tokio::test]
async fn bad_list_parameters_are_400() {
    let s = TestServer::start().await;
    for (query, field) in [
        ("page=0", "page"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("sort=status", "sort"),
        ("sort=-recordingSid", "sort"),
        ("status=done", "status"),
        ("callSid=CA%201", "callSid"),
        ("startDate=tomorrow", "startDate"),
        ("limit=1&limit=2", "limit"),
    ] {
        s.get(&format!("/api/db/recordings?{query}"))
            .await
            .assert_field_error(field);
    }
    let unknown = s.get("/api/db/recordings?recordingSid=RE1").await;
    unknown.assert_error(400, "validation_error");
    assert!(unknown.message().contains("recordingSid"), "{unknown:?}");
}

#[tokio::test]
async fn list_for_a_call_shows_only_its_recordings_oldest_first() {
    let s = TestServer::start().await;
    s.create_call(&call_sid(1), json!({})).await;
    s.create_call(&call_sid(2), json!({})).await;
    s.create_recording(&recording_sid(1), &call_sid(1), json!({}))
        .await;
    s.create_recording(&recording_sid(2), &call_sid(2), json!({}))
        .await;
    s.create_recording(&recording_sid(3), &call_sid(1), json!({"status": "absent"}))
        .await;

    let path = format!("/api/db/calls/{}/recordings", call_sid(1));
    let answer = s.get(&path).await;
    assert_eq!(answer.status.as_u16(), 200, "{answer:?}");
    assert_eq!(answer.pagination(), (1, 20, 2, 1));
    assert_eq!(
        answer.column("recordingSid"),
        [recording_sid(1), recording_sid(3)]
    );
    assert!(
        answer.items().iter().all(|r| r["callSid"] == call_sid(1)),
        "{answer:?}"
    );

    let newest = s.get(&format!("{path}?sort=-createdAt&limit=1")).await;
    assert_eq!(newest.pagination(), (1, 1, 2, 2));
    assert_eq!(newest.column("recordingSid"), [recording_sid(3)]);

    let absent = s.get(&format!("{path}?status=absent")).await;
    assert_eq!(absent.column("recordingSid"), [recording_sid(3)]);

    s.get(&format!("{path}?status=done"))
        .await
        .assert_field_error("status");
    s.get(&format!("{path}?limit=0"))
        .await
        .assert_field_error("limit");
    s.get(&format!("{path}?callSid={}", call_sid(2)))
        .await
        .assert_error(400, "validation_error");

    // A call without recordings has an empty list; an unknown call has none at all.
    s.create_call(&call_sid(3), json!({})).await;
    let empty = s
        .get(&format!("/api/db/calls/{}/recordings", call_sid(3)))
        .await;
    assert_eq!(empty.pagination(), (1, 20, 0, 0));
    s.get(&format!("/api/db/calls/{}/recordings", call_sid(404)))
        .await
        .assert_error(404, "not_found");
    s.get("/api/db/calls/CA%20x/recordings")
        .await
        .assert_field_error("callSid");
}

#[tokio::test]
async fn delete_then_get_is_404_and_delete_again_is_404() {
    let s = TestServer::start().await;
    s.create_call(&call_sid(1), json!({})).await;
    s.create_recording(&recording_sid(1), &call_sid(1), json!({}))
        .await;
    s.create_recording(&recording_sid(2), &call_sid(1), json!({}))
        .await;
    let path = format!("/api/db/recordings/{}", recording_sid(1));
    let deleted = s.delete(&path).await;
    assert_eq!(deleted.status.as_u16(), 200, "{deleted:?}");
    assert_eq!(deleted.data()["deleted"], true);
    assert_eq!(deleted.data()["recordingSid"], recording_sid(1));
    s.get(&path).await.assert_error(404, "not_found");
    s.delete(&path).await.assert_error(404, "not_found");
    let rest = s
        .get(&format!("/api/db/calls/{}/recordings", call_sid(1)))
        .await;
    assert_eq!(rest.column("recordingSid"), [recording_sid(2)]);
    s.delete("/api/db/recordings/RE%20x")
        .await
        .assert_field_error("recordingSid");
}
