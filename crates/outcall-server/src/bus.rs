//! The one event bus: every state change (call, recording, transcript, campaign,
//! contact) is published here once; Socket.IO, cache invalidation, Sheets write-back
//! and outbound webhooks subscribe.
//!
//! A Tokio broadcast channel: publishing never waits, so a handler or the media bridge
//! is never slowed by a subscriber. A subscriber that falls more than `capacity`
//! events behind loses the oldest ones and is told how many (`Lagged`), which it
//! must treat as "refresh from the store".
//!
//! Events published here may also be copied to an outbox (the cross-process relay,
//! see `realtime::relay`); events that came from another process are republished with
//! [`EventBus::publish_relayed`], which skips the outbox so nothing echoes back.
//!
//! One listener is not a subscriber: the response cache's invalidation runs inside
//! `publish` (a hook), so an answer a write made wrong is gone before the write's
//! handler answers, and it can never lag. Relayed events run it too, so another
//! process's changes drop this process's stale answers.

use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};

/// What changed, in the shape the Socket.IO `call_update` event carries.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallUpdate {
    /// `new_call`, `status_update`, `machine_detection`, `recording_update`,
    /// `call_ended`, `conversation_started`, `conversation_completed` (api.md's
    /// Socket.IO types); and, for internal listeners only (caches), changes Socket.IO
    /// has no type for: `call_updated` (other fields of the call; `data` is the call),
    /// `call_deleted`, `transcript_saved` (through the API), `event_added`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub call_sid: String,
    pub timestamp: outcall_domain::time::Timestamp,
    pub data: Value,
}

/// One utterance, live from the media bridge (Socket.IO `transcript_update`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptUpdate {
    pub call_sid: String,
    pub role: outcall_domain::transcript::Role,
    pub message: String,
    pub time_in_call_secs: f64,
    pub is_final: bool,
}

/// A campaign change (Socket.IO `campaign_update`): `status_update` when its status or
/// settings changed, `progress_update` when its stats or contacts' dial states moved.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CampaignUpdate {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub campaign_id: String,
    pub data: Value,
}

/// A contact change: `created`, `updated`, `deleted`, or `imported` (many at once;
/// `contact_id` is then empty and `data` carries the counts). Nothing on Socket.IO
/// carries it; caches and Sheets write-back listen.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactUpdate {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub contact_id: String,
    pub data: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BusEvent {
    Call(CallUpdate),
    Transcript(TranscriptUpdate),
    Campaign(CampaignUpdate),
    Contact(ContactUpdate),
}

/// The `call_update` types api.md gives Socket.IO clients.
pub const CLIENT_CALL_KINDS: [&str; 7] = [
    "new_call",
    "status_update",
    "machine_detection",
    "recording_update",
    "call_ended",
    "conversation_started",
    "conversation_completed",
];

/// Call changes only internal listeners (caches) get: never sent to clients.
pub const INTERNAL_CALL_KINDS: [&str; 4] = [
    "call_updated",
    "call_deleted",
    "transcript_saved",
    "event_added",
];

/// Runs synchronously on every published event, before subscribers get it; must not
/// block.
pub type PublishHook = Arc<dyn Fn(&BusEvent) + Send + Sync>;

#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<BusEvent>>,
    /// Where events originated here are also copied (the relay), once set.
    outbox: Arc<OnceLock<mpsc::Sender<Arc<BusEvent>>>>,
    hook: Option<PublishHook>,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("subscribers", &self.tx.receiver_count())
            .field("hook", &self.hook.is_some())
            .field("relayed", &self.outbox.get().is_some())
            .finish()
    }
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity);
        Self {
            tx,
            outbox: Arc::default(),
            hook: None,
        }
    }

    /// A bus that runs `hook` on each event inside `publish`.
    pub fn with_hook(capacity: usize, hook: PublishHook) -> Self {
        Self {
            hook: Some(hook),
            ..Self::new(capacity)
        }
    }

    /// Publishes to whoever listens now; nobody listening is fine. Publish after the
    /// store write: the hook drops cached answers the write made wrong. Never waits: a
    /// full outbox drops the relay's copy (the relay says so in its log).
    pub fn publish(&self, event: BusEvent) {
        if let Some(hook) = &self.hook {
            hook(&event);
        }
        let event = Arc::new(event);
        if let Some(outbox) = self.outbox.get()
            && outbox.try_send(event.clone()).is_err()
        {
            tracing::warn!("event relay outbox full: an event reaches this process's clients only");
        }
        let _ = self.tx.send(event);
    }

    /// Publishes an event another process originated: to local subscribers only.
    pub fn publish_relayed(&self, event: BusEvent) {
        if let Some(hook) = &self.hook {
            hook(&event);
        }
        let _ = self.tx.send(Arc::new(event));
    }

    /// Copies every event published from now on to `outbox`. `false` if one is set already.
    pub fn set_outbox(&self, outbox: mpsc::Sender<Arc<BusEvent>>) -> bool {
        self.outbox.set(outbox).is_ok()
    }

    /// A call change of `kind` with `data` (usually the stored call).
    pub fn call(&self, kind: &'static str, call_sid: &str, data: impl Serialize) {
        self.publish(BusEvent::Call(CallUpdate {
            kind,
            call_sid: call_sid.to_string(),
            timestamp: outcall_domain::time::now(),
            data: serde_json::to_value(data).unwrap_or(Value::Null),
        }));
    }

    /// A campaign change of `kind` (`status_update`, `progress_update`).
    pub fn campaign(&self, kind: &'static str, campaign_id: &str, data: impl Serialize) {
        self.publish(BusEvent::Campaign(CampaignUpdate {
            kind,
            campaign_id: campaign_id.to_string(),
            data: serde_json::to_value(data).unwrap_or(Value::Null),
        }));
    }

    /// A contact change of `kind` (`created`, `updated`, `deleted`, `imported`).
    pub fn contact(&self, kind: &'static str, contact_id: &str, data: impl Serialize) {
        self.publish(BusEvent::Contact(ContactUpdate {
            kind,
            contact_id: contact_id.to_string(),
            data: serde_json::to_value(data).unwrap_or(Value::Null),
        }));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<BusEvent>> {
        self.tx.subscribe()
    }
}

/// How many events a subscriber may fall behind before it is told it lagged.
pub const DEFAULT_CAPACITY: usize = 1024;

impl Default for EventBus {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}
