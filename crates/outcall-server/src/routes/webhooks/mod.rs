//! Provider-facing routes. No API key: each request is authenticated by its
//! provider's signature, applied idempotently to the store, then answered 2xx.

use axum::Router;

use crate::AppState;

mod elevenlabs;
mod twilio;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(twilio::router())
        .merge(elevenlabs::router())
}
