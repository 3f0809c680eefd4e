//! What every route shares: API keys, the envelope, unknown routes and methods,
//! body limits and content types, health checks.

use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use serde_json::{Value, json};

use crate::support::{KEY, SECOND_KEY, TestServer, call_sid, recording_sid};

/// Every `/api` route of the seed, with a body that would be accepted.
fn api_routes() -> Vec<(Method, String, Option<Value>)> {
    let call = call_sid(1);
    let rec = recording_sid(1);
    vec![
        (Method::GET, "/api/db/calls".into(), None),
        (
            Method::POST,
            "/api/db/calls".into(),
            Some(json!({"callSid": call_sid(2), "from": "+15005550006", "to": "+14155552671"})),
        ),
        (Method::GET, format!("/api/db/calls/{call}"), None),
        (
            Method::PUT,
            format!("/api/db/calls/{call}/status"),
            Some(json!({"status": "ringing"})),
        ),
        (Method::GET, "/api/db/recordings".into(), None),
        (
            Method::POST,
            "/api/db/recordings".into(),
            Some(json!({"recordingSid": recording_sid(2), "callSid": call})),
        ),
        (Method::GET, format!("/api/db/recordings/{rec}"), None),
        (
            Method::GET,
            format!("/api/db/calls/{call}/recordings"),
            None,
        ),
        (Method::GET, format!("/api/db/transcripts/{call}"), None),
        (
            Method::PUT,
            format!("/api/db/transcripts/{call}"),
            Some(json!({"summary": "changed"})),
        ),
        (
            Method::POST,
            "/api/db/transcripts".into(),
            Some(json!({"callSid": call_sid(2)})),
        ),
        (Method::GET, format!("/api/db/calls/{call}/events"), None),
        (
            Method::POST,
            "/api/db/events".into(),
            Some(json!({"callSid": call, "eventType": "dtmf"})),
        ),
        // Deletes last, so the routes before them find what they need.
        (Method::DELETE, format!("/api/db/recordings/{rec}"), None),
        (Method::DELETE, format!("/api/db/calls/{call}"), None),
    ]
}

/// A call, a recording, a transcript and an event to point the routes at.
async fn seed(s: &TestServer) {
    s.create_call(&call_sid(1), json!({})).await;
    s.create_recording(&recording_sid(1), &call_sid(1), json!({}))
        .await;
    let t = s
        .post(
            "/api/db/transcripts",
            json!({"callSid": call_sid(1), "summary": "original"}),
        )
        .await;
    assert_eq!(t.status.as_u16(), 201, "{t:?}");
}

#[tokio::test]
async fn every_api_route_needs_a_valid_key_and_writes_nothing_without_one() {
    let s = TestServer::start().await;
    seed(&s).await;
    let bad_keys = [None, Some(""), Some("wrong-key"), Some("test-key-1x")];
    for (method, path, body) in api_routes() {
        for key in bad_keys {
            let answer = s
                .send(
                    method.clone(),
                    &path,
                    key,
                    body.as_ref().map(|b| ("application/json", b.to_string())),
                )
                .await;
            answer.assert_error(401, "unauthorized");
            assert_eq!(
                answer
                    .headers
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok()),
                Some("Bearer"),
                "{method} {path}: {answer:?}"
            );
        }
    }
    // Nothing was created, changed or deleted.
    assert_eq!(s.total("/api/db/calls").await, 1);
    let call = s
        .store
        .get_call(&call_sid(1))
        .await
        .expect("store")
        .expect("call kept");
    assert_eq!(call.status.as_str(), "initiated");
    assert_eq!(s.total("/api/db/recordings").await, 1);
    let t = s.get(&format!("/api/db/transcripts/{}", call_sid(1))).await;
    assert_eq!(t.data()["summary"], "original");
    assert_eq!(
        s.total(&format!("/api/db/calls/{}/events", call_sid(1)))
            .await,
        0
    );
}

#[tokio::test]
async fn other_authorization_schemes_are_refused() {
    let s = TestServer::start().await;
    for header in [
        format!("Basic {KEY}"),
        KEY.to_string(),
        format!("Token {KEY}"),
        "Bearer".to_string(),
    ] {
        let res = s
            .client
            .get(format!("{}/api/db/calls", s.base))
            .header("authorization", header.as_str())
            .send()
            .await
            .expect("request");
        assert_eq!(res.status().as_u16(), 401, "{header}");
        assert_eq!(
            res.headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok()),
            Some("Bearer"),
            "{header}"
        );
    }
}

#[tokio::test]
async fn the_bearer_scheme_name_is_case_insensitive() {
    let s = TestServer::start().await;
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let res = s
            .client
            .get(format!("{}/api/db/calls", s.base))
            .header("authorization", format!("{scheme} {KEY}"))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status().as_u16(), 200, "{scheme}");
    }
}

#[tokio::test]
async fn both_configured_keys_work() {
    let s = TestServer::start().await;
    for (n, key) in [(1, KEY), (2, SECOND_KEY)] {
        let created = s
            .send(
                Method::POST,
                "/api/db/calls",
                Some(key),
                Some((
                    "application/json",
                    json!({"callSid": call_sid(n), "from": "+15005550006", "to": "+14155552671"})
                        .to_string(),
                )),
            )
            .await;
        assert_eq!(created.status.as_u16(), 201, "key {key}: {created:?}");
        let listed = s.send(Method::GET, "/api/db/calls", Some(key), None).await;
        assert_eq!(listed.status.as_u16(), 200, "key {key}: {listed:?}");
        assert_eq!(listed.pagination().2, n as u64);
    }
}

#[tokio::test]
async fn every_api_route_answers_with_the_envelope() {
    let s = TestServer::start().await;
    seed(&s).await;
    for (method, path, body) in api_routes() {
        let answer = s.call(method.clone(), &path, body).await;
        assert!(answer.status.is_success(), "{method} {path}: {answer:?}");
        let content_type = answer
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(
            content_type.starts_with("application/json"),
            "{method} {path}: {content_type}"
        );
        let obj = answer.body.as_object().expect("JSON object");
        assert_eq!(obj.get("success"), Some(&Value::Bool(true)));
        assert!(obj.contains_key("data"), "{method} {path}: {answer:?}");
        let is_list = method == Method::GET
            && (path.ends_with("/calls")
                || path.ends_with("/recordings")
                || path.ends_with("/events"));
        if is_list {
            assert!(answer.body["data"].is_array(), "{method} {path}");
            let (page, limit, total, pages) = answer.pagination();
            assert_eq!((page, limit), (1, 20), "{method} {path}");
            assert_eq!(pages, total.div_ceil(limit), "{method} {path}");
            assert_eq!(obj.len(), 3, "{method} {path}: {answer:?}");
        } else {
            assert!(answer.body["data"].is_object(), "{method} {path}");
            assert_eq!(obj.len(), 2, "{method} {path}: {answer:?}");
        }
        assert!(
            answer.headers.contains_key("x-request-id"),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn errors_have_exactly_success_and_error() {
    let s = TestServer::start().await;
    let answer = s.get(&format!("/api/db/calls/{}", call_sid(1))).await;
    answer.assert_error(404, "not_found");
    let obj = answer.body.as_object().expect("JSON object");
    assert_eq!(obj.len(), 2, "{answer:?}");
    let content_type = answer
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
}

#[tokio::test]
async fn unknown_routes_are_404_envelopes() {
    let s = TestServer::start().await;
    // Other paths outside the API are the dashboard's (tests/api/web.rs).
    for path in [
        "/webhooks/nope",
        "/api",
        "/api/nope",
        "/api/db/nope",
        "/api/db/calls/CA1/unknown",
        "/api/db/calls/CA1/status/extra",
    ] {
        let answer = s.get(path).await;
        answer.assert_error(404, "not_found");
    }
    let post = s.post("/api/db/nope", json!({})).await;
    post.assert_error(404, "not_found");
}

/// Without a key, nothing under `/api` tells which routes exist.
#[tokio::test]
async fn unknown_api_routes_need_a_key_too() {
    let s = TestServer::start().await;
    for path in ["/api/nope", "/api/db/nope", "/api/db/calls/CA1/unknown"] {
        let answer = s.send(Method::GET, path, None, None).await;
        answer.assert_error(401, "unauthorized");
        let wrong = s.send(Method::GET, path, Some("wrong-key"), None).await;
        wrong.assert_error(401, "unauthorized");
    }
    let wrong_method = s.send(Method::PATCH, "/api/db/calls", None, None).await;
    wrong_method.assert_error(401, "unauthorized");
    // Outside `/api` an unknown server path is simply not found.
    s.send(Method::GET, "/webhooks/nope", None, None)
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn wrong_methods_are_405_envelopes_and_change_nothing() {
    let s = TestServer::start().await;
    seed(&s).await;
    for (method, path) in [
        (Method::PATCH, "/api/db/calls".to_string()),
        (Method::DELETE, "/api/db/calls".to_string()),
        (Method::POST, format!("/api/db/calls/{}", call_sid(1))),
        (Method::PUT, format!("/api/db/calls/{}", call_sid(1))),
        (Method::GET, format!("/api/db/calls/{}/status", call_sid(1))),
        (Method::PUT, "/api/db/recordings".to_string()),
        (
            Method::PUT,
            format!("/api/db/recordings/{}", recording_sid(1)),
        ),
        (
            Method::POST,
            format!("/api/db/calls/{}/recordings", call_sid(1)),
        ),
        (
            Method::DELETE,
            format!("/api/db/transcripts/{}", call_sid(1)),
        ),
        (Method::POST, format!("/api/db/transcripts/{}", call_sid(1))),
        (Method::GET, "/api/db/events".to_string()),
        (Method::GET, "/api/db/transcripts".to_string()),
        (
            Method::POST,
            format!("/api/db/calls/{}/events", call_sid(1)),
        ),
        (Method::POST, "/healthz".to_string()),
        (Method::DELETE, "/readyz".to_string()),
    ] {
        let answer = s
            .call(method.clone(), &path, Some(json!({"summary": "changed"})))
            .await;
        assert_eq!(answer.status.as_u16(), 405, "{method} {path}: {answer:?}");
        answer.assert_error(405, "method_not_allowed");
        assert!(
            answer.headers.contains_key("allow"),
            "{method} {path}: no Allow header: {answer:?}"
        );
    }
    assert_eq!(s.total("/api/db/calls").await, 1);
    assert_eq!(s.total("/api/db/recordings").await, 1);
    let t = s.get(&format!("/api/db/transcripts/{}", call_sid(1))).await;
    assert_eq!(t.data()["summary"], "original");
}

#[tokio::test]
async fn oversized_bodies_are_413_and_write_nothing() {
    let s = TestServer::start_with(&["--body-limit-bytes=2048"]).await;
    seed(&s).await;
    let padding = "x".repeat(3000);
    let bodies = [
        (
            Method::POST,
            "/api/db/calls".to_string(),
            json!({"callSid": call_sid(2), "from": "+15005550006", "to": "+14155552671", "contactName": "A", "metadata": {"pad": padding}}),
        ),
        (
            Method::POST,
            "/api/db/recordings".to_string(),
            json!({"recordingSid": recording_sid(2), "callSid": call_sid(1), "url": format!("https://example.com/{padding}")}),
        ),
        (
            Method::POST,
            "/api/db/transcripts".to_string(),
            json!({"callSid": call_sid(1), "summary": padding}),
        ),
        (
            Method::PUT,
            format!("/api/db/transcripts/{}", call_sid(1)),
            json!({"summary": padding}),
        ),
        (
            Method::PUT,
            format!("/api/db/calls/{}/status", call_sid(1)),
            json!({"status": "ringing", "errorMessage": padding}),
        ),
        (
            Method::POST,
            "/api/db/events".to_string(),
            json!({"callSid": call_sid(1), "eventType": "dtmf", "data": {"pad": padding}}),
        ),
    ];
    for (method, path, body) in bodies {
        let answer = s.call(method.clone(), &path, Some(body)).await;
        answer.assert_error(413, "payload_too_large");
    }
    assert_eq!(s.total("/api/db/calls").await, 1);
    assert_eq!(s.total("/api/db/recordings").await, 1);
    let call = s
        .store
        .get_call(&call_sid(1))
        .await
        .expect("store")
        .expect("call");
    assert_eq!(call.status.as_str(), "initiated");
    let t = s.get(&format!("/api/db/transcripts/{}", call_sid(1))).await;
    assert_eq!(t.data()["summary"], "original");
    assert_eq!(
        s.total(&format!("/api/db/calls/{}/events", call_sid(1)))
            .await,
        0
    );
    // A body under the limit is still accepted.
    let small = s
        .post(
            "/api/db/events",
            json!({"callSid": call_sid(1), "eventType": "dtmf", "data": {"pad": "x".repeat(1000)}}),
        )
        .await;
    assert_eq!(small.status.as_u16(), 201, "{small:?}");
}

#[tokio::test]
async fn bodies_must_be_json() {
    let s = TestServer::start().await;
    let body =
        json!({"callSid": call_sid(1), "from": "+15005550006", "to": "+14155552671"}).to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "text/json-ish",
        "application/xml",
    ] {
        s.send_raw(Method::POST, "/api/db/calls", content_type, body.clone())
            .await
            .assert_error(415, "unsupported_media_type");
    }
    // No content type at all.
    let res = s
        .client
        .post(format!("{}/api/db/calls", s.base))
        .bearer_auth(KEY)
        .body(body.clone())
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 415);
    assert_eq!(s.total("/api/db/calls").await, 0);
    // JSON with a charset is JSON.
    let ok = s
        .send_raw(
            Method::POST,
            "/api/db/calls",
            "application/json; charset=utf-8",
            body,
        )
        .await;
    assert_eq!(ok.status.as_u16(), 201, "{ok:?}");
}

#[tokio::test]
async fn health_checks_need_no_key() {
    let s = TestServer::start().await;
    for key in [None, Some("wrong-key"), Some(KEY)] {
        let healthz = s.send(Method::GET, "/healthz", key, None).await;
        assert_eq!(healthz.status.as_u16(), 200, "{healthz:?}");
        assert_eq!(healthz.data()["status"], "ok");
        let readyz = s.send(Method::GET, "/readyz", key, None).await;
        assert_eq!(readyz.status.as_u16(), 200, "{readyz:?}");
        assert_eq!(readyz.data()["status"], "ready");
        assert_eq!(readyz.data()["store"], "sqlite");
    }
}

#[tokio::test]
async fn metrics_need_no_key_and_speak_prometheus() {
    let s = TestServer::start().await;
    s.get("/api/db/calls").await;
    let res = s
        .client
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 200);
    let content_type = res.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap_or_default()
        .to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = res.text().await.expect("body");
    assert!(
        text.contains("# TYPE outcall_http_requests_total counter"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with(
            "outcall_http_requests_total{method=\"GET\",route=\"/api/db/calls\",status=\"200\"}"
        )),
        "{text}"
    );
}

/// Made-up methods and ids in paths never add series: the method label is a known
/// method or `other`, the route label the route's template.
#[tokio::test]
async fn metrics_labels_stay_bounded_whatever_clients_send() {
    let s = TestServer::start().await;
    for i in 0..30 {
        let method = reqwest::Method::from_bytes(format!("MADEUP{i}").as_bytes()).expect("token");
        s.client
            .request(method, format!("{}/api/db/calls", s.base))
            .bearer_auth(crate::support::KEY)
            .send()
            .await
            .expect("request");
        s.get(&format!("/api/db/calls/CAlabel{i:030}")).await;
    }
    let text = s
        .client
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("outcall_http_requests_total{"))
        .collect();
    assert!(
        !text.contains("MADEUP") && !text.contains("CAlabel"),
        "{series:#?}"
    );
    assert!(
        series.iter().any(|l| l.contains("method=\"other\"")),
        "{series:#?}"
    );
    assert!(
        series
            .iter()
            .any(|l| l.contains("route=\"/api/db/calls/{callSid}\"")),
        "{series:#?}"
    );
}

/// With `METRICS_TOKEN`, `/metrics` answers that token only (not an API key).
#[tokio::test]
async fn metrics_token_guards_metrics_when_set() {
    let s = TestServer::start_with(&["--metrics-token=scrape-secret"]).await;
    let get = |token: Option<&str>| {
        let mut req = s.client.get(format!("{}/metrics", s.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    for (token, want) in [
        (None, 401),
        (Some(crate::support::KEY), 401),
        (Some("scrape-secret"), 200),
    ] {
        let res = get(token).await.expect("request");
        assert_eq!(res.status().as_u16(), want, "{token:?}");
    }
}

#[tokio::test]
async fn request_ids_are_echoed() {
    let s = TestServer::start().await;
    let res = s
        .client
        .get(format!("{}/healthz", s.base))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .expect("request");
    assert_eq!(
        res.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("trace-me-123")
    );
}

/// `CORS_ORIGINS`: a listed origin's preflight is answered without a key and its
/// requests carry the allow header; any other origin gets none; the real request
/// still needs the key. Without the setting no origin is allowed.
#[tokio::test]
async fn cors_allows_only_the_listed_origins_and_preflights_need_no_key() {
    let allowed = "https://app.example.com";
    let s =
        TestServer::start_with(&[&format!("--cors-origins={allowed},http://localhost:5173")]).await;
    let plain = TestServer::start().await;
    let preflight = |base: &str, origin: &str| {
        s.client
            .request(reqwest::Method::OPTIONS, format!("{base}/api/db/calls"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let allow = |res: &reqwest::Response| {
        res.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let res = preflight(&s.base, allowed).await.expect("preflight");
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(allow(&res).as_deref(), Some(allowed));
    let methods = res.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap_or_default()
        .to_string();
    assert!(methods.contains("DELETE"), "{methods}");

    for (base, origin) in [
        (&s.base, "https://evil.example.com"),
        (&plain.base, allowed),
    ] {
        let res = preflight(base, origin).await.expect("preflight");
        assert_eq!(allow(&res), None, "{base} {origin}");
    }

    let get = |key: Option<&str>| {
        let mut req = s
            .client
            .get(format!("{}/api/db/calls", s.base))
            .header("origin", allowed);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        req.send()
    };
    let res = get(Some(crate::support::KEY)).await.expect("get");
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(allow(&res).as_deref(), Some(allowed));
    assert_eq!(get(None).await.expect("get").status().as_u16(), 401);
}

#[tokio::test]
async fn cors_origins_that_are_not_origins_stop_the_server_at_start() {
    use clap::Parser;
    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        config: outcall_server::config::ServerConfig,
    }
    let s = TestServer::start().await;
    for bad in ["*", "https://app.example.com/", "app.example.com"] {
        let flags = ["outcall", "--api-key=k", &format!("--cors-origins={bad}")];
        let config = Flags::try_parse_from(flags).expect("flags").config;
        let err = outcall_server::AppState::new(s.store.clone(), &config)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("CORS_ORIGINS"), "{bad}: {err:?}");
    }
}

/// A body that does not fit a route's shape names the field in `details`, by its
/// path, without serde's line and column; malformed JSON says so.
#[tokio::test]
async fn body_errors_name_the_field_in_details() {
    let s = TestServer::start().await;
    let cases = [
        (
            "/api/outbound-call",
            json!({"to": "+14155552671", "colour": "red"}),
            "colour",
            "unknown field",
        ),
        (
            "/api/db/campaigns",
            json!({"name": "X", "settings": {"callDelay": "soon"}}),
            "settings.callDelay",
            "invalid type",
        ),
        (
            "/api/db/campaigns",
            json!({"name": 7}),
            "name",
            "invalid type",
        ),
        ("/api/db/campaigns", json!("hello"), "body", "invalid type"),
    ];
    for (path, body, field, says) in cases {
        let answer = s.post(path, body.clone()).await;
        answer.assert_error(400, "validation_error");
        let details = answer.body["error"]["details"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let message = details
            .iter()
            .find(|d| d["field"] == json!(field))
            .and_then(|d| d["message"].as_str())
            .unwrap_or_default();
        assert!(message.contains(says), "{path} {body}: {answer:?}");
        assert!(!message.contains("line 1"), "{path} {body}: {message}");
    }
    let malformed = s
        .send_raw(
            reqwest::Method::POST,
            "/api/db/campaigns",
            "application/json",
            "{\"name\": ".to_string(),
        )
        .await;
    malformed.assert_error(400, "validation_error");
    let message = malformed.body["error"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.starts_with("malformed JSON"), "{message}");
}
