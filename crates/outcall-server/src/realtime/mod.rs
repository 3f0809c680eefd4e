//! Live events for clients: Socket.IO at `/socket.io/` ([`socketio`]) and Server-Sent
//! Events at `GET /api/events` ([`sse`]), both fed by one [`Hub`].
//!
//! The hub's feed task is the only subscriber of the event bus here: it turns bus
//! events into the wire events of api.md, keeps the set of live calls (`active_calls`)
//! and coalesces `dashboard_update`, so the work is done once however many clients
//! listen. The [`relay`] carries bus events between processes sharing one database.
//!
//! # Layout
//! - [`wire`]: the outgoing events, their names, payloads and topics.
//! - [`hub`]: the feed task and the channel clients read.
//! - [`live_calls`]: the set of live calls behind `active_calls`.
//! - [`dashboard`]: the `dashboard_update` payload.
//! - [`socketio`], [`sse`]: the two transports.
//! - [`relay`]: the cross-process relay over the store.

pub mod dashboard;
pub mod hub;
pub mod live_calls;
pub mod relay;
pub mod socketio;
pub mod sse;
pub mod wire;

use std::sync::{Arc, OnceLock};

pub use hub::Hub;

use crate::AppState;
use crate::config::RealtimeSettings;

/// The live-event machinery of one process. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Realtime {
    pub hub: Hub,
    /// This process's name in the relay log (random per start).
    pub origin: Arc<str>,
    relay: Option<relay::RelaySettings>,
    started: Arc<OnceLock<()>>,
}

impl Realtime {
    /// `on_mongodb` decides `EVENT_RELAY=auto`.
    pub fn new(settings: &RealtimeSettings, on_mongodb: bool) -> Self {
        Self {
            hub: Hub::default(),
            origin: outcall_domain::ObjectId::new().to_hex().into(),
            relay: relay::RelaySettings::from_config(settings, on_mongodb),
            started: Arc::default(),
        }
    }

    /// Whether events are relayed to and from other processes.
    pub fn relays(&self) -> bool {
        self.relay.is_some()
    }

    /// Starts the feed and, when on, the relay; later calls do nothing.
    pub fn start(&self, state: &AppState) {
        if self.started.set(()).is_err() {
            return;
        }
        tokio::spawn(hub::feed(state.clone(), self.hub.clone()));
        if let Some(settings) = &self.relay {
            relay::spawn(state, self.origin.clone(), settings.clone());
        }
    }
}
