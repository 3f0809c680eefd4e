//! The signed-URL client against a tiny axum server on loopback: the request
//! it sends (path, `agent_id` query, `xi-api-key` header) and how each kind
//! of answer maps to a result or an `ElevenLabsError`.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use outcall_elevenlabs::{ElevenLabsClient, ElevenLabsError};

const KEY: &str = "sk_test_key";
const PATH: &str = "/v1/convai/conversation/get-signed-url";

/// Answers like ElevenLabs: 401 for a wrong key, and per agent id a success,
/// a 500, a 429, a 2xx with a bad body, or a 404.
async fn signed_url(headers: HeaderMap, Query(query): Query<HashMap<String, String>>) -> Response {
    if headers.get("xi-api-key").and_then(|v| v.to_str().ok()) != Some(KEY) {
        let body = r#"{"detail":{"status":"invalid_api_key","message":"Invalid API key"}}"#;
        return (
            StatusCode::UNAUTHORIZED,
            [("content-type", "application/json")],
            body,
        )
            .into_response();
    }
    let Some(agent_id) = query.get("agent_id") else {
        let body = r#"{"detail":[{"loc":["query","agent_id"],"msg":"field required","type":"value_error.missing"}]}"#;
        return (StatusCode::UNPROCESSABLE_ENTITY, body).into_response();
    };
    match agent_id.as_str() {
        "agent_boom" => {
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
        }
        "agent_busy" => (
            StatusCode::TOO_MANY_REQUESTS,
            r#"{"detail":{"status":"too_many_concurrent_requests","message":"Too many requests"}}"#,
        )
            .into_response(),
        "agent_garbled" => (StatusCode::OK, r#"{"url":"wss://x"}"#).into_response(),
        "agent_http" => {
            (StatusCode::OK, r#"{"signed_url":"https://not-a-socket"}"#).into_response()
        }
        "agent_missing" => {
            (StatusCode::NOT_FOUND, r#"{"detail":"Agent not found"}"#).into_response()
        }
        other => {
            // Echo the agent id so the test sees it arrived decoded.
            let url = format!(
                "wss://api.elevenlabs.io/v1/convai/conversation?agent_id={}&conversation_signature=sig",
                other.replace('&', "%26").replace(' ', "%20")
            );
            axum::Json(serde_json::json!({ "signed_url": url, "extra": 1 })).into_response()
        }
    }
}

async fn start() -> SocketAddr {
    let app = Router::new().route(PATH, get(signed_url));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    addr
}

fn client(addr: SocketAddr, key: &str) -> ElevenLabsClient {
    ElevenLabsClient::new(format!("http://{addr}"), key).expect("client")
}

#[tokio::test]
async fn fetches_a_signed_url_with_key_and_agent_id() {
    let addr = start().await;
    let url = client(addr, KEY)
        .signed_url("agent_123")
        .await
        .expect("signed url");
    assert_eq!(
        url,
        "wss://api.elevenlabs.io/v1/convai/conversation?agent_id=agent_123&conversation_signature=sig"
    );
}

#[tokio::test]
async fn agent_id_is_query_encoded() {
    let addr = start().await;
    let url = client(addr, KEY)
        .signed_url("a b&c=d")
        .await
        .expect("signed url");
    assert!(url.contains("agent_id=a%20b%26c=d&"), "{url}");
}

#[tokio::test]
async fn base_url_with_trailing_slash_works() {
    let addr = start().await;
    let client = ElevenLabsClient::new(format!("http://{addr}/"), KEY).expect("client");
    assert!(client.signed_url("agent_1").await.is_ok());
}

#[tokio::test]
async fn wrong_key_is_a_final_401() {
    let addr = start().await;
    let err = client(addr, "sk_wrong")
        .signed_url("agent_123")
        .await
        .expect_err("401");
    match &err {
        ElevenLabsError::Api {
            status,
            code,
            message,
        } => {
            assert_eq!(*status, 401);
            assert_eq!(code.as_deref(), Some("invalid_api_key"));
            assert_eq!(message, "Invalid API key");
        }
        other => panic!("expected Api, got {other:?}"),
    }
    assert!(!err.is_retryable());
    assert_eq!(err.http_status(), Some(401));
}

#[tokio::test]
async fn server_error_is_retryable() {
    let addr = start().await;
    let err = client(addr, KEY)
        .signed_url("agent_boom")
        .await
        .expect_err("500");
    assert!(
        matches!(&err, ElevenLabsError::Api { status: 500, code: None, message } if message == "Internal Server Error"),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn rate_limit_is_retryable_and_not_found_is_not() {
    let addr = start().await;
    let c = client(addr, KEY);
    let busy = c.signed_url("agent_busy").await.expect_err("429");
    assert_eq!(busy.http_status(), Some(429));
    assert!(busy.is_retryable());
    let missing = c.signed_url("agent_missing").await.expect_err("404");
    assert!(
        matches!(&missing, ElevenLabsError::Api { status: 404, message, .. } if message == "Agent not found"),
        "{missing:?}"
    );
    assert!(!missing.is_retryable());
}

#[tokio::test]
async fn unexpected_success_bodies_are_bad_responses() {
    let addr = start().await;
    let c = client(addr, KEY);
    for agent in ["agent_garbled", "agent_http"] {
        let err = c.signed_url(agent).await.expect_err("bad body");
        assert!(
            matches!(err, ElevenLabsError::BadResponse { status: 200, .. }),
            "{agent}: {err:?}"
        );
        assert!(!err.is_retryable());
    }
}

#[tokio::test]
async fn connection_refused_is_a_retryable_transport_error() {
    // Bind then drop a listener so the port is (almost certainly) closed.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    let err = client(addr, KEY)
        .signed_url("agent_1")
        .await
        .expect_err("refused");
    assert!(matches!(err, ElevenLabsError::Transport(_)), "{err:?}");
    assert!(err.is_retryable());
}
