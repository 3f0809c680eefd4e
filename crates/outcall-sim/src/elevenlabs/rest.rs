//! The simulator's HTTP side: `GET /v1/convai/conversation/get-signed-url`
//! (checks `xi-api-key` and the agent, hands out a single-use signature) and
//! the WebSocket upgrade at `/v1/convai/conversation`, refused before the
//! upgrade when the signature is missing, unknown, used or expired.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use outcall_elevenlabs::client::{API_KEY_HEADER, SIGNED_URL_PATH};
use serde_json::json;

use super::{Shared, session};

/// The ConvAI WebSocket's path.
const CONVERSATION_PATH: &str = "/v1/convai/conversation";
/// Media-stream messages are small; see `protocols.md`, "Build notes".
const READ_BUFFER: usize = 4096;

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(SIGNED_URL_PATH, get(signed_url))
        .route(CONVERSATION_PATH, get(conversation))
        .with_state(shared)
}

/// An ElevenLabs (FastAPI) error answer: `{"detail":{"status","message"}}`.
fn api_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"detail": {"status": code, "message": message}});
    (status, Json(body)).into_response()
}

/// Signed-URL signatures not yet used: signature → (agent id, expiry).
#[derive(Debug, Default)]
pub(super) struct Tokens(Mutex<HashMap<String, (String, Instant)>>);

impl Tokens {
    fn issue(&self, agent_id: &str, ttl: Duration) -> String {
        let token =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>());
        let now = Instant::now();
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (_, expires)| *expires > now);
        map.insert(token.clone(), (agent_id.to_owned(), now + ttl));
        token
    }

    /// Consumes a signature; its agent id if it was valid.
    fn take(&self, token: &str) -> Option<String> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (agent_id, expires) = map.remove(token)?;
        (expires > Instant::now()).then_some(agent_id)
    }
}

async fn signed_url(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let key = headers.get(API_KEY_HEADER).and_then(|v| v.to_str().ok());
    if key != Some(shared.config.api_key.as_str()) {
        return api_error(
            StatusCode::UNAUTHORIZED,
            "invalid_api_key",
            "Invalid API key",
        );
    }
    tokio::time::sleep(shared.dice.delay(shared.config.faults.signed_url_delay)).await;
    if shared
        .dice
        .hit(shared.config.faults.signed_url_failure_rate)
    {
        return api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "Simulated outage of the signed-URL endpoint",
        );
    }
    let agent_id = query.get("agent_id").map(String::as_str).unwrap_or("");
    if agent_id != shared.config.agent_id {
        return api_error(
            StatusCode::NOT_FOUND,
            "agent_not_found",
            &format!("Agent {agent_id:?} not found"),
        );
    }
    let token = shared
        .tokens
        .issue(agent_id, shared.config.timings.signed_url_ttl);
    let ws_base = shared.base_url.replacen("http://", "ws://", 1);
    let url = reqwest::Url::parse_with_params(
        &format!("{ws_base}{CONVERSATION_PATH}"),
        [("agent_id", agent_id), ("conversation_signature", &token)],
    )
    .expect("BUG: the simulator's own URL parses");
    Json(json!({"signed_url": url.as_str()})).into_response()
}

async fn conversation(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(signature) = query.get("conversation_signature") else {
        return api_error(
            StatusCode::UNAUTHORIZED,
            "missing_signature",
            "conversation_signature is required",
        );
    };
    let Some(agent_id) = shared.tokens.take(signature) else {
        tracing::warn!("conversation refused: unknown, used or expired signature");
        return api_error(
            StatusCode::FORBIDDEN,
            "invalid_signature",
            "conversation_signature is invalid, used or expired",
        );
    };
    if query.get("agent_id") != Some(&agent_id) {
        return api_error(
            StatusCode::FORBIDDEN,
            "invalid_signature",
            "conversation_signature was issued for another agent",
        );
    }
    let faults = &shared.config.faults;
    tokio::time::sleep(shared.dice.delay(faults.connect_delay)).await;
    if shared.dice.hit(faults.connect_refuse_rate) {
        return api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "Simulated refusal of the conversation socket",
        );
    }
    if shared.dice.hit(faults.connect_hang_rate) {
        // Never answered: the client's own timeout has to end the wait.
        std::future::pending::<()>().await;
    }
    ws.read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| session::run(shared, socket, agent_id))
}
