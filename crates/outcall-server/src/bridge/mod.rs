//! The media bridge: `GET /media-stream`, where Twilio connects each answered call,
//! relayed to an ElevenLabs Conversational AI conversation.
//!
//! One [`relay::MediaBridge`] per call owns both sockets and `select!`s between them;
//! the audio payloads pass through unchanged (both sides speak μ-law 8 kHz). Anything
//! slower than a socket write (the store, the event bus) goes through the
//! [`recorder`]'s bounded channel, so the audio path never waits on it.
//!
//! # Layout
//! - [`token`]: the per-call token in the TwiML that authenticates the stream.
//! - [`relay`]: the handshake and the relay loop.
//! - [`recorder`]: live transcript and conversation notes to the store.

pub mod recorder;
pub mod relay;
pub mod token;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;
use axum::routing::get;

use crate::AppState;

/// Media-stream messages are ~300 bytes: a small read buffer instead of the 128 KiB
/// default saves memory per call and the zero-filling of a large buffer per read.
const READ_BUFFER: usize = 4096;
/// No Twilio message comes near this; anything bigger is not Twilio.
const MAX_MESSAGE: usize = 64 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/media-stream", get(upgrade))
}

async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    ws.read_buffer_size(READ_BUFFER)
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| relay::MediaBridge::run(state, socket))
}
