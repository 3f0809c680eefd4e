//! Runs `TwilioClient` against a minimal loopback stand-in for Twilio's REST
//! API (axum on 127.0.0.1:0) that checks Basic auth and the exact form
//! parameters, and answers 201, 200, 429 with `Retry-After`, 400 and 404 the
//! way Twilio does. The full simulator lives in `outcall-sim`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use outcall_twilio::{
    CallStatus, CreateCall, MachineDetection, MachineDetectionMode, RecordingChannels,
    RecordingEvent, RetryPolicy, StatusCallbackEvent, TwilioClient, TwilioConfig, TwilioError,
    with_retry,
};
use serde_json::json;

const ACCOUNT: &str = "AC00000000000000000000000000000001";
const TOKEN: &str = "test-auth-token";
const CALL_SID: &str = "CA0123456789abcdef0123456789abcdef";
const INVALID_TO: &str = "+15005550001";
const RATE_LIMITED_TO: &str = "+15005550009";

#[derive(Default)]
struct Fake {
    requests: AtomicU32,
    /// How many more create requests to `RATE_LIMITED_TO` answer 429.
    rate_limited: AtomicU32,
}

type Shared = Arc<Fake>;

fn twilio_error(status: StatusCode, code: u32, message: &str) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    (status, axum::Json(body)).into_response()
}

fn call_json(to: &str, status: &str) -> serde_json::Value {
    json!({
        "sid": CALL_SID,
        "account_sid": ACCOUNT,
        "to": to,
        "from": "+15557650000",
        "status": status,
        "direction": "outbound-api",
        "start_time": null,
        "end_time": null,
        "date_created": "Wed, 01 May 2024 10:00:00 +0000",
        "date_updated": "Wed, 01 May 2024 10:00:00 +0000",
        "duration": null,
        "price": null,
        "price_unit": "USD",
        "answered_by": null,
        "uri": format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/{CALL_SID}.json"),
    })
}

fn authorized(headers: &HeaderMap) -> bool {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT}:{TOKEN}"))
    );
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str())
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn expected_full_form() -> Vec<(String, String)> {
    let mut expected: Vec<(String, String)> = [
        ("To", "+15551230000"),
        ("From", "+15557650000"),
        ("Url", "https://outcall.example.com/twiml?call=1&x=a b"),
        ("Method", "POST"),
        (
            "StatusCallback",
            "https://outcall.example.com/webhooks/status",
        ),
        ("StatusCallbackMethod", "POST"),
        ("StatusCallbackEvent", "initiated"),
        ("StatusCallbackEvent", "ringing"),
        ("StatusCallbackEvent", "answered"),
        ("StatusCallbackEvent", "completed"),
        ("Timeout", "30"),
        ("TimeLimit", "600"),
        ("Record", "true"),
        (
            "RecordingStatusCallback",
            "https://outcall.example.com/webhooks/recording",
        ),
        ("RecordingStatusCallbackMethod", "POST"),
        (
            "RecordingStatusCallbackEvent",
            "in-progress completed absent",
        ),
        ("RecordingChannels", "dual"),
        ("MachineDetection", "Enable"),
        ("MachineDetectionTimeout", "30"),
        ("MachineDetectionSpeechThreshold", "2400"),
        ("MachineDetectionSpeechEndThreshold", "1200"),
        ("MachineDetectionSilenceTimeout", "5000"),
        ("AsyncAmd", "true"),
        (
            "AsyncAmdStatusCallback",
            "https://outcall.example.com/webhooks/amd",
        ),
        ("AsyncAmdStatusCallbackMethod", "POST"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    expected.sort();
    expected
}

async fn create(
    State(fake): State<Shared>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fake.requests.fetch_add(1, Ordering::SeqCst);
    if account != ACCOUNT || !authorized(&headers) {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let mut params = form(&body);
    let to = params
        .iter()
        .find(|(k, _)| k == "To")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    match to.as_str() {
        INVALID_TO => {
            return twilio_error(
                StatusCode::BAD_REQUEST,
                21211,
                "The 'To' number +15005550001 is not a valid phone number.",
            );
        }
        RATE_LIMITED_TO => {
            let left = fake.rate_limited.load(Ordering::SeqCst);
            if left > 0 {
                fake.rate_limited.store(left - 1, Ordering::SeqCst);
                let mut response =
                    twilio_error(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests");
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, "1".parse().expect("header value"));
                return response;
            }
        }
        _ => {
            params.sort();
            if params != expected_full_form() {
                let detail = format!("unexpected form: {params:?}");
                return (StatusCode::UNPROCESSABLE_ENTITY, detail).into_response();
            }
        }
    }
    (StatusCode::CREATED, axum::Json(call_json(&to, "queued"))).into_response()
}

async fn update(
    State(fake): State<Shared>,
    Path((account, file)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fake.requests.fetch_add(1, Ordering::SeqCst);
    if account != ACCOUNT || !authorized(&headers) {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    if file != format!("{CALL_SID}.json") {
        return twilio_error(
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        );
    }
    let params = form(&body);
    let status = match params.as_slice() {
        [(k, v)] if k == "Status" && (v == "completed" || v == "canceled") => v.clone(),
        [(k, v)] if k == "Twiml" && v.starts_with("<?xml") => "in-progress".to_string(),
        _ => return (StatusCode::UNPROCESSABLE_ENTITY, format!("{params:?}")).into_response(),
    };
    (
        StatusCode::OK,
        axum::Json(call_json("+15551230000", &status)),
    )
        .into_response()
}

async fn fetch(
    State(fake): State<Shared>,
    Path((account, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    fake.requests.fetch_add(1, Ordering::SeqCst);
    if account != ACCOUNT || !authorized(&headers) {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    if file != format!("{CALL_SID}.json") {
        return twilio_error(
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        );
    }
    (
        StatusCode::OK,
        axum::Json(call_json("+15551230000", "in-progress")),
    )
        .into_response()
}

async fn start(fake: Shared) -> String {
    let app = Router::new()
        .route("/2010-04-01/Accounts/{account}/Calls.json", post(create))
        .route(
            "/2010-04-01/Accounts/{account}/Calls/{file}",
            post(update).get(fetch),
        )
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    format!("http://{addr}")
}

fn client(base: &str, token: &str) -> TwilioClient {
    TwilioClient::new(TwilioConfig::new(base, ACCOUNT, token)).expect("client")
}

fn full_request() -> CreateCall {
    let mut amd = MachineDetection::new(MachineDetectionMode::Enable);
    amd.timeout_secs = Some(30);
    amd.speech_threshold_ms = Some(2400);
    amd.speech_end_threshold_ms = Some(1200);
    amd.silence_timeout_ms = Some(5000);
    amd.async_callback = Some("https://outcall.example.com/webhooks/amd".into());
    CreateCall {
        status_callback: Some("https://outcall.example.com/webhooks/status".into()),
        status_callback_events: StatusCallbackEvent::ALL.to_vec(),
        timeout_secs: Some(30),
        time_limit_secs: Some(600),
        record: true,
        recording_status_callback: Some("https://outcall.example.com/webhooks/recording".into()),
        recording_status_callback_events: RecordingEvent::ALL.to_vec(),
        recording_channels: Some(RecordingChannels::Dual),
        machine_detection: Some(amd),
        ..CreateCall::new(
            "+15551230000",
            "+15557650000",
            "https://outcall.example.com/twiml?call=1&x=a b",
        )
    }
}

/// Short waits so the retry path runs on the real clock in milliseconds: a
/// paused clock would also fast-forward the HTTP client's own timeouts while
/// it waits on real sockets.
fn quick_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_retry_after: Duration::from_millis(20),
    }
}

#[tokio::test]
async fn create_call_sends_exact_form_and_parses_201() {
    let fake = Shared::default();
    let base = start(Arc::clone(&fake)).await;
    let call = client(&base, TOKEN)
        .create_call(&full_request())
        .await
        .expect("201 with a Call");
    assert_eq!(call.sid, CALL_SID);
    assert_eq!(call.status, CallStatus::Queued);
    assert_eq!(call.to, "+15551230000");
    assert_eq!(call.direction.as_deref(), Some("outbound-api"));
    assert_eq!(fake.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn wrong_token_is_a_final_401() {
    let fake = Shared::default();
    let base = start(Arc::clone(&fake)).await;
    let bad = client(&base, "wrong");
    let request = full_request();
    let err = with_retry(&quick_policy(), || bad.create_call(&request))
        .await
        .expect_err("401");
    assert_eq!(err.code(), Some(20003));
    assert_eq!(err.http_status(), Some(401));
    assert!(!err.is_retryable());
    assert_eq!(fake.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn rate_limit_is_retried_after_retry_after() {
    let fake = Shared::default();
    fake.rate_limited.store(2, Ordering::SeqCst);
    let base = start(Arc::clone(&fake)).await;
    let twilio = client(&base, TOKEN);
    let request = CreateCall::new(RATE_LIMITED_TO, "+15557650000", "https://x/twiml");

    // One bare attempt shows what the retry loop sees.
    let err = twilio.create_call(&request).await.expect_err("429");
    assert_eq!(err.code(), Some(20429));
    assert_eq!(err.http_status(), Some(429));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    assert!(err.is_retryable());

    // Then the loop: one more 429 (Retry-After honoured up to the cap), then 201.
    let started = std::time::Instant::now();
    let call = with_retry(&quick_policy(), || twilio.create_call(&request))
        .await
        .expect("succeeds after the 429");
    assert!(started.elapsed() >= Duration::from_millis(20));
    assert_eq!(call.to, RATE_LIMITED_TO);
    assert_eq!(fake.requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn invalid_number_is_a_typed_400_not_retried() {
    let fake = Shared::default();
    let base = start(Arc::clone(&fake)).await;
    let twilio = client(&base, TOKEN);
    let request = CreateCall::new(INVALID_TO, "+15557650000", "https://x/twiml");
    let err = with_retry(&quick_policy(), || twilio.create_call(&request))
        .await
        .expect_err("400");
    match &err {
        TwilioError::Api { status, error, .. } => {
            assert_eq!(*status, 400);
            assert_eq!(error.code, Some(21211));
            assert_eq!(
                error.more_info.as_deref(),
                Some("https://www.twilio.com/docs/errors/21211")
            );
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert!(!err.is_retryable());
    assert_eq!(fake.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn hangup_and_fetch() {
    let fake = Shared::default();
    let base = start(Arc::clone(&fake)).await;
    let twilio = client(&base, TOKEN);
    let live = twilio.hangup(CALL_SID, true).await.expect("hang up");
    assert_eq!(live.status, CallStatus::Completed);
    let ringing = twilio.hangup(CALL_SID, false).await.expect("cancel");
    assert_eq!(ringing.status, CallStatus::Canceled);
    let fetched = twilio.fetch_call(CALL_SID).await.expect("fetch");
    assert_eq!(fetched.status, CallStatus::InProgress);
    let missing = twilio
        .fetch_call("CAffffffffffffffffffffffffffffffff")
        .await
        .expect_err("404");
    assert_eq!(missing.code(), Some(20404));
    assert!(!missing.is_retryable());
}

#[tokio::test]
async fn update_twiml_sends_only_the_twiml_and_refuses_oversized_documents() {
    let fake = Shared::default();
    let base = start(Arc::clone(&fake)).await;
    let twilio = client(&base, TOKEN);
    let twiml = outcall_twilio::twiml::say_then_hangup("Hi, it's Acme <& Co>. Call us back!");
    let call = twilio.update_twiml(CALL_SID, &twiml).await.expect("update");
    assert_eq!(call.status, CallStatus::InProgress);
    let before = fake.requests.load(Ordering::SeqCst);
    let huge = "x".repeat(4001);
    assert!(twilio.update_twiml(CALL_SID, &huge).await.is_err());
    assert_eq!(fake.requests.load(Ordering::SeqCst), before, "nothing sent");
}

#[tokio::test]
async fn connection_refused_is_a_retryable_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let twilio = client(&format!("http://{addr}"), TOKEN);
    let err = twilio.fetch_call(CALL_SID).await.expect_err("refused");
    assert!(matches!(err, TwilioError::Transport(_)), "{err:?}");
    assert!(err.is_retryable());
    assert!(err.is_connect());
}
