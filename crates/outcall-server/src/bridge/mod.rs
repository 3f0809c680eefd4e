//! The media bridge: `GET /media-stream`, where Twilio connects each answered call,
//! relayed to an ElevenLabs Conversational AI conversation.
//!
//! The agent side is made ready while the phone rings ([`prewarm`]), so when the
//! callee answers only the client data is left to send. A stream is set up by
//! [`setup`] from what its signed [`token`] carries (no store read on that path),
//! and then one [`session::Session`] per call owns both sockets and `select!`s
//! between them and the shutdown; the audio payloads pass through unchanged (both
//! sides speak μ-law 8 kHz). Anything slower than a socket write (the store, the
//! event bus) goes through the [`recorder`]'s bounded channel, so the audio path
//! never waits on it. Every write to either socket is bounded in time.
//!
//! # Layout
//! - [`settings`]: `AGENT_PREWARM` and the timeouts.
//! - [`token`]: the per-call token in the TwiML that authenticates the stream.
//! - [`prewarm`]: per-call warmers holding the signed URL and pre-opened socket.
//! - [`link`]: opening the agent socket, the client data, bounded writes.
//! - [`setup`]: the handshake, returning a session whose agent is ready.
//! - [`session`]: the relay loop and the end of the call.
//! - [`recorder`]: live transcript, conversation notes and events to the store.

pub mod link;
pub mod prewarm;
pub mod recorder;
pub mod session;
pub mod settings;
pub mod setup;
pub mod token;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;
use axum::routing::get;
use outcall_domain::call::{Call, CallStatus};

use crate::AppState;
use settings::BridgeSettings;

/// Media-stream messages (20 ms of μ-law, base64 in JSON) are ~350 bytes: a small
/// read buffer instead of the 128 KiB default saves memory per call and the
/// zero-filling of a large buffer per read. Each socket's buffer lives as long as the
/// call, and reading frees the start of it only once a message is handled, so it
/// grows to a few times this; a larger message grows it to fit.
const READ_BUFFER: usize = 1024;
/// No Twilio message comes near this; anything bigger is not Twilio.
const MAX_MESSAGE: usize = 64 * 1024;

/// The bridge's shared part: settings, the warmers, and the calls the shutdown ended.
#[derive(Debug)]
pub struct Bridge {
    pub settings: BridgeSettings,
    pub warmers: Arc<prewarm::Warmers>,
    shutdown_ended: Mutex<Vec<String>>,
}

impl Bridge {
    pub fn new(settings: BridgeSettings) -> Self {
        Self {
            warmers: Arc::new(prewarm::Warmers::new(settings.clone())),
            settings,
            shutdown_ended: Mutex::new(Vec::new()),
        }
    }

    /// The hook of the dialer: Twilio accepted `call`; start making its agent ready.
    pub fn placed(&self, state: &AppState, call: &Call) {
        self.warmers.placed(state.agent.clone(), call.clone());
    }

    /// The hook of the status callback: `ringing` opens the pre-warmed socket; a
    /// final status closes whatever was prepared for a call that was never answered.
    pub fn status(&self, call_sid: &str, status: CallStatus) {
        if status == CallStatus::Ringing {
            self.warmers.ringing(call_sid);
        } else if status.is_terminal() {
            self.warmers.ended(call_sid);
        }
    }

    pub fn call_ended(&self, call_sid: &str) {
        self.warmers.ended(call_sid);
    }

    /// Calls this process placed that no stream has taken yet.
    pub fn unanswered_calls(&self) -> Vec<String> {
        self.warmers.unanswered()
    }

    /// Notes a call the shutdown ended, to wait for its final status.
    pub fn note_shutdown_ended(&self, call_sid: &str) {
        self.shutdown_ended
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(call_sid.to_string());
    }

    /// The calls ended by the shutdown so far (emptied).
    pub fn take_shutdown_ended(&self) -> Vec<String> {
        std::mem::take(
            &mut *self
                .shutdown_ended
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        )
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route("/media-stream", get(upgrade))
}

async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    ws.read_buffer_size(READ_BUFFER)
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| session::run(state, socket))
}
