//! Transcript API: create, get, partial update.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestServer, call_sid, time};

fn full_body(call: &str) -> Value {
    json!({
        "callSid": call,
        "conversationId": "conv_abc123",
        "transcript": [
            {"role": "agent", "message": "Hello, is this Ada?", "timeInCallSecs": 0.5},
            {"role": "user", "message": "Speaking.", "timeInCallSecs": 2.25}
        ],
        "summary": "Ada confirmed her appointment.",
        "sentiment": {"label": "positive", "score": 0.8},
        "analysis": {"callSuccessful": "success"},
        "status": "done"
    })
}

#[tokio::test]
async fn create_then_get_a_transcript() {
    let s = TestServer::start().await;
    let call = call_sid(1);
    s.create_call(&call, json!({})).await;
    let body = full_body(&call);
    let created = s.post("/api/db/transcripts", body.clone()).await;
    assert_eq!(created.status.as_u16(), 201, "{created:?}");
    let d = created.data();
    for (k, v) in body.as_object().expect("object") {
        assert_eq!(&d[k], v, "field {k}");
    }
    assert!(d["_id"].is_string() && d["createdAt"].is_string() && d["updatedAt"].is_string());
    let got = s.get(&format!("/api/db/transcripts/{call}")).await;
    assert_eq!(got.status.as_u16(), 200, "{got:?}");
    assert_eq!(got.data(), d);
}

#[tokio::test]
async fn minimal_transcript_gets_defaults() {
    let s = TestServer::start().await;
    s.create_call(&call_sid(1), json!({})).await;
    let created = s
        .post("/api/db/transcripts", json!({"callSid": call_sid(1)}))
        .await;
    assert_eq!(created.status.as_u16(), 201, "{created:?}");
    assert_eq!(created.data()["transcript"], json!([]));
    assert_eq!(created.data()["status"], "done");
    assert!(created.data().get("summary").is_none());
}

#[tokio::test]
async fn get_unknown_transcript_is_404_and_bad_sid_is_400() {
    let s = TestServer::start().await;
    // No transcript, whether or not the call exists.
    s.get(&format!("/api/db/transcripts/{}", call_sid(1)))
        .await
        .assert_error(404, "not_found");
    s.create_call(&call_sid(1), json!({})).await;
    s.get(&format!("/api/db/transcripts/{}", call_sid(1)))
        .await
        .assert_error(404, "not_found");
    s.get("/api/db/transcripts/CA%20x")
        .await
        .assert_field_error("callSid");
    s.get(&format!("/api/db/transcripts/{}", "C".repeat(65)))
        .await
        .assert_field_error("callSid");
}

#[tokio::test]
async fn second_transcript_for_a_call_is_409_and_keeps_the_first() {
    let s = TestServer::start().await;
    let call = call_sid(1);
    s.create_call(&call, json!({})).await;
    let first = s.post("/api/db/transcripts", full_body(&call)).await;
    assert_eq!(first.status.as_u16(), 201, "{first:?}");
    let again = s
        .post(
            "/api/db/transcripts",
            json!({"callSid": call, "summary": "another"}),
        )
        .await;
    again.assert_error(409, "conflict");
    assert!(again.message().contains("callSid"), "{again:?}");
    let got = s.get(&format!("/api/db/transcripts/{call}")).await;
    assert_eq!(got.data(), first.data());
}

#[tokio::test]
async fn transcript_for_a_missing_call_is_400_and_not_stored() {
    let s = TestServer::start().await;
    s.post("/api/db/transcripts", full_body(&call_sid(404)))
        .await
        .assert_field_error("callSid");
    assert!(
        s.store
            .get_transcript(&call_sid(404))
            .await
            .expect("store")
            .is_none()
    );
}

#[tokio::test]
async fn bad_create_bodies_are_400_and_write_nothing() {
    let s = TestServer::start().await;
    let call = call_sid(1);
    s.create_call(&call, json!({})).await;
    let with = |k: &str, v: Value| {
        let mut b = full_body(&call);
        b[k] = v;
        b
    };
    for (what, body) in [
        ("unknown field", with("language", json!("en"))),
        ("transcript not a list", with("transcript", json!("hello"))),
        (
            "unknown role",
            with("transcript", json!([{"role": "robot", "message": "beep"}])),
        ),
        (
            "unknown turn field",
            with(
                "transcript",
                json!([{"role": "agent", "message": "hi", "volume": 3}]),
            ),
        ),
        (
            "turn without message",
            with("transcript", json!([{"role": "agent"}])),
        ),
        (
            "unknown sentiment label",
            with("sentiment", json!({"label": "ecstatic", "score": 1})),
        ),
        ("unknown status", with("status", json!("pending"))),
        ("wrong type: summary", with("summary", json!(7))),
        ("missing callSid", json!({"summary": "x"})),
    ] {
        let answer = s.post("/api/db/transcripts", body).await;
        assert_eq!(answer.status.as_u16(), 400, "{what}: {answer:?}");
        answer.assert_error(400, "validation_error");
    }
    for (field, body) in [
        (
            "sentiment.score",
            with("sentiment", json!({"label": "positive", "score": 2.0})),
        ),
        (
            "transcript[1].timeInCallSecs",
            with(
                "transcript",
                json!([
                    {"role": "agent", "message": "hi", "timeInCallSecs": 0},
                    {"role": "user", "message": "hey", "timeInCallSecs": -1}
                ]),
            ),
        ),
        (
            "transcript[0].message",
            with(
                "transcript",
                json!([{"role": "agent", "message": "x".repeat(20_001)}]),
            ),
        ),
        ("summary", with("summary", json!("x".repeat(20_001)))),
        ("conversationId", with("conversationId", json!("conv abc"))),
        ("callSid", with("callSid", json!("CA 1"))),
    ] {
        s.post("/api/db/transcripts", body)
            .await
            .assert_field_error(field);
    }
    s.send_raw(
        Method::POST,
        "/api/db/transcripts",
        "application/json",
        "{\"callSid\": \"CA1\"",
    )
    .await
    .assert_error(400, "validation_error");
    s.send_raw(
        Method::POST,
        "/api/db/transcripts",
        "text/plain",
        full_body(&call).to_string(),
    )
    .await
    .assert_error(415, "unsupported_media_type");
    s.get(&format!("/api/db/transcripts/{call}"))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn update_changes_only_the_given_fields() {
    let s = TestServer::start().await;
    let call = call_sid(1);
    s.create_call(&call, json!({})).await;
    let created = s
        .post("/api/db/transcripts", full_body(&call))
        .await
        .data()
        .clone();
    let path = format!("/api/db/transcripts/{call}");

    let summary = s
        .put(&path, json!({"summary": "Rescheduled to Friday."}))
        .await;
    assert_eq!(summary.status.as_u16(), 200, "{summary:?}");
    let d = summary.data();
    assert_eq!(d["summary"], "Rescheduled to Friday.");
    for k in [
        "_id",
        "callSid",
        "conversationId",
        "transcript",
        "sentiment",
        "analysis",
        "status",
        "createdAt",
    ] {
        assert_eq!(d[k], created[k], "{k} changed");
    }
    assert!(time(&d["updatedAt"]) >= time(&created["updatedAt"]), "{d}");

    let turns = json!([{"role": "user", "message": "Call me later.", "timeInCallSecs": 1.0}]);
    let replaced = s
        .put(&path, json!({"transcript": turns, "status": "live"}))
        .await;
    assert_eq!(replaced.status.as_u16(), 200, "{replaced:?}");
    let d = replaced.data();
    assert_eq!(d["transcript"], turns);
    assert_eq!(d["status"], "live");
    assert_eq!(d["summary"], "Rescheduled to Friday.");
    assert_eq!(d["sentiment"], created["sentiment"]);

    let got = s.get(&path).await;
    assert_eq!(got.data(), d);
}

#[tokio::test]
async fn bad_updates_are_rejected_and_change_nothing() {
    let s = TestServer::start().await;
    let call = call_sid(1);
    s.create_call(&call, json!({})).await;
    let created = s
        .post("/api/db/transcripts", full_body(&call))
        .await
        .data()
        .clone();
    let path = format!("/api/db/transcripts/{call}");

    for (what, body) in [
        ("empty object", json!({})),
        ("only nulls", json!({"summary": null})),
        ("unknown field", json!({"summary": "x", "colour": "red"})),
        ("callSid is not updatable", json!({"callSid": call_sid(2)})),
        ("wrong type", json!({"transcript": {"role": "agent"}})),
    ] {
        let answer = s.put(&path, body).await;
        assert_eq!(answer.status.as_u16(), 400, "{what}: {answer:?}");
        answer.assert_error(400, "validation_error");
    }
    s.put(
        &path,
        json!({"sentiment": {"label": "negative", "score": -1.5}}),
    )
    .await
    .assert_field_error("sentiment.score");
    s.put(&path, json!({"summary": "x".repeat(20_001)}))
        .await
        .assert_field_error("summary");
    for raw in ["", "{", "[]"] {
        s.send_raw(Method::PUT, &path, "application/json", raw)
            .await
            .assert_error(400, "validation_error");
    }
    s.send_raw(Method::PUT, &path, "text/plain", "{\"summary\":\"x\"}")
        .await
        .assert_error(415, "unsupported_media_type");
    let got = s.get(&path).await;
    assert_eq!(got.data(), &created);
}

#[tokio::test]
async fn update_of_a_missing_transcript_is_404_and_creates_nothing() {
    let s = TestServer::start().await;
    s.create_call(&call_sid(1), json!({})).await;
    let path = format!("/api/db/transcripts/{}", call_sid(1));
    s.put(&path, json!({"summary": "x"}))
        .await
        .assert_error(404, "not_found");
    s.get(&path).await.assert_error(404, "not_found");
    s.put("/api/db/transcripts/CA%20x", json!({"summary": "x"}))
        .await
        .assert_field_error("callSid");
}
