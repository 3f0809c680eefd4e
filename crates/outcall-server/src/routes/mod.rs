//! Route modules, one per resource, merged here. Everything under `/api` needs an API key.

use axum::Router;
use axum::middleware::from_fn_with_state;

use crate::AppState;
use crate::error::ApiError;

mod analytics;
mod cache;
mod calling;
pub(crate) mod calls;
mod campaign_input;
pub(crate) mod campaigns;
mod contacts;
pub(crate) mod dashboard;
mod dnc;
mod events;
mod health;
mod recordings;
pub(crate) mod sheets;
mod transcripts;
pub(crate) mod validate;
mod webhooks;

pub fn router(state: AppState) -> Router<AppState> {
    let webhooks = webhooks::router(&state);
    let api = Router::new()
        .merge(cache::router())
        .merge(calls::router())
        .merge(contacts::router())
        .merge(dnc::router())
        .merge(calling::router())
        .merge(campaigns::router())
        .merge(recordings::router())
        .merge(sheets::router())
        .merge(transcripts::router())
        .merge(events::router())
        .merge(analytics::router())
        .merge(dashboard::router())
        .fallback(|| async { ApiError::not_found("no such API route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(from_fn_with_state(state, crate::auth::require_api_key));
    Router::new()
        .merge(health::router())
        .merge(webhooks)
        // Outside the API-key layer: it also takes the key as `?token=` (EventSource).
        .merge(crate::realtime::sse::router())
        .nest("/api", api)
        // The dashboard answers every other GET (crate::web); the rest stays JSON.
        .fallback(crate::web::fallback)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
}
