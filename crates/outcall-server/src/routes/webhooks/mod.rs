//! Provider-facing routes. No API key: each request is authenticated by its
//! provider's signature, applied idempotently to the store, then answered 2xx.

use axum::Router;

use crate::AppState;

mod elevenlabs;
mod twilio;

pub fn router(state: &AppState) -> Router<AppState> {
    let eleven_limit = state
        .agent
        .as_ref()
        .map_or(crate::agent::DEFAULT_WEBHOOK_MAX_BYTES, |a| {
            a.webhook_max_bytes
        });
    Router::new()
        .merge(twilio::router())
        .merge(elevenlabs::router(eleven_limit))
}
