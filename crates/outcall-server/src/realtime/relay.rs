//! The cross-process relay: every process appends the bus events it originated to the
//! store's `relay` log, and polls the log for other processes' events, which it
//! republishes on its own bus (never appending them again), so Socket.IO and SSE
//! clients of every process see every event.
//!
//! Why a polled log in the store rather than a socketioxide adapter: MongoDB's
//! change streams (socketioxide-mongodb) need a replica set, Redis would be one more
//! service to run, and the log works the same on SQLite (several processes on one
//! file) and on a standalone MongoDB. The price is a poll every `EVENT_RELAY_POLL_MS`.
//!
//! Readers re-read the last [`LOOKBACK`] of the log each poll and skip entries they
//! have seen: on MongoDB an entry written a moment earlier by another process may
//! become visible after a later one, and the lookback catches it (process clocks must
//! agree to well within it, as NTP keeps them).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use outcall_domain::ObjectId;
use outcall_domain::time::Timestamp;
use outcall_domain::transcript::Role;
use outcall_store::{RelayEntry, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::AppState;
use crate::bus::{BusEvent, CallUpdate, CampaignUpdate, ContactUpdate, EventBus, TranscriptUpdate};
use crate::config::{RealtimeSettings, RelayMode};

/// How far back each poll re-reads.
pub const LOOKBACK: TimeDelta = TimeDelta::seconds(2);
/// Entries older than this are purged.
const RETENTION: TimeDelta = TimeDelta::seconds(60);
const PURGE_EVERY: Duration = Duration::from_secs(10);
/// Most entries read per poll, and appended per write.
const BATCH: usize = 500;
/// Events waiting to be appended; a publisher never waits on a full outbox.
const OUTBOX: usize = 4096;

#[derive(Debug, Clone)]
pub struct RelaySettings {
    pub poll: Duration,
}

impl RelaySettings {
    /// `None` when the relay is off (`EVENT_RELAY=off`, or `auto` on SQLite).
    pub fn from_config(config: &RealtimeSettings, on_mongodb: bool) -> Option<Self> {
        let on = match config.event_relay {
            RelayMode::On => true,
            RelayMode::Off => false,
            RelayMode::Auto => on_mongodb,
        };
        on.then(|| Self {
            poll: Duration::from_millis(config.event_relay_poll_ms.max(10)),
        })
    }
}

/// Starts the writer (outbox → log) and the reader (log → bus).
pub fn spawn(state: &AppState, origin: Arc<str>, settings: RelaySettings) {
    let (tx, rx) = mpsc::channel(OUTBOX);
    if !state.bus.set_outbox(tx) {
        tracing::warn!("the event bus already has a relay; not starting another");
        return;
    }
    tracing::info!(
        poll_ms = settings.poll.as_millis() as u64,
        "event relay on: live events are shared with other outcall processes on this database"
    );
    tokio::spawn(write(state.store.clone(), origin.clone(), rx));
    tokio::spawn(read(
        state.store.clone(),
        state.bus.clone(),
        origin,
        settings.poll,
    ));
}

/// Appends what this process publishes, in batches of what is waiting.
async fn write(store: Arc<dyn Store>, origin: Arc<str>, mut rx: mpsc::Receiver<Arc<BusEvent>>) {
    let mut events = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut events, BATCH).await > 0 {
        let entries: Vec<RelayEntry> = events
            .drain(..)
            .filter_map(|e| encode(&e))
            .map(|json| RelayEntry::new(&origin, json))
            .collect();
        let count = entries.len();
        if let Err(e) = store.append_relay(entries).await {
            tracing::warn!(count, "relaying events to other processes failed: {e}");
        }
    }
}

/// Polls the log for other processes' events and republishes them here.
async fn read(store: Arc<dyn Store>, bus: EventBus, origin: Arc<str>, poll: Duration) {
    let mut since = outcall_domain::time::now();
    let mut seen: HashMap<ObjectId, Timestamp> = HashMap::new();
    let mut every = tokio::time::interval(poll);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut purge = tokio::time::interval(PURGE_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = purge.tick() => {
                let cutoff = outcall_domain::time::now() - RETENTION;
                if let Err(e) = store.purge_relay_before(cutoff).await {
                    tracing::warn!("purging the relay log failed: {e}");
                }
                continue;
            }
        }
        let entries = match store
            .relay_since(since - LOOKBACK, &origin, BATCH as i64)
            .await
        {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!("reading the relay log failed: {e}");
                continue;
            }
        };
        for entry in &entries {
            if seen.insert(entry.id, entry.at).is_some() {
                continue;
            }
            match decode(&entry.event) {
                Some(event) => bus.publish_relayed(event),
                None => {
                    tracing::debug!(id = %entry.id.to_hex(), "skipping a relayed event this version does not know")
                }
            }
        }
        if let Some(newest) = entries.iter().map(|e| e.at).max() {
            since = since.max(newest);
        }
        seen.retain(|_, at| *at >= since - LOOKBACK);
    }
}

/// A bus event as it travels between processes.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "bus", rename_all = "camelCase")]
enum Relayed {
    #[serde(rename_all = "camelCase")]
    Call {
        kind: String,
        call_sid: String,
        timestamp: Timestamp,
        data: Value,
    },
    #[serde(rename_all = "camelCase")]
    Transcript {
        call_sid: String,
        role: Role,
        message: String,
        time_in_call_secs: f64,
        is_final: bool,
    },
    #[serde(rename_all = "camelCase")]
    Campaign {
        kind: String,
        campaign_id: String,
        data: Value,
    },
    #[serde(rename_all = "camelCase")]
    Contact {
        kind: String,
        contact_id: String,
        data: Value,
    },
}

fn encode(event: &BusEvent) -> Option<String> {
    let relayed = match event.clone() {
        BusEvent::Call(u) => Relayed::Call {
            kind: u.kind.to_string(),
            call_sid: u.call_sid,
            timestamp: u.timestamp,
            data: u.data,
        },
        BusEvent::Transcript(t) => Relayed::Transcript {
            call_sid: t.call_sid,
            role: t.role,
            message: t.message,
            time_in_call_secs: t.time_in_call_secs,
            is_final: t.is_final,
        },
        BusEvent::Campaign(c) => Relayed::Campaign {
            kind: c.kind.to_string(),
            campaign_id: c.campaign_id,
            data: c.data,
        },
        BusEvent::Contact(c) => Relayed::Contact {
            kind: c.kind.to_string(),
            contact_id: c.contact_id,
            data: c.data,
        },
    };
    serde_json::to_string(&relayed).ok()
}

fn decode(json: &str) -> Option<BusEvent> {
    Some(match serde_json::from_str::<Relayed>(json).ok()? {
        Relayed::Call {
            kind,
            call_sid,
            timestamp,
            data,
        } => BusEvent::Call(CallUpdate {
            kind: known_kind(&kind)?,
            call_sid,
            timestamp,
            data,
        }),
        Relayed::Transcript {
            call_sid,
            role,
            message,
            time_in_call_secs,
            is_final,
        } => BusEvent::Transcript(TranscriptUpdate {
            call_sid,
            role,
            message,
            time_in_call_secs,
            is_final,
        }),
        Relayed::Campaign {
            kind,
            campaign_id,
            data,
        } => BusEvent::Campaign(CampaignUpdate {
            kind: known_kind(&kind)?,
            campaign_id,
            data,
        }),
        Relayed::Contact {
            kind,
            contact_id,
            data,
        } => BusEvent::Contact(ContactUpdate {
            kind: known_kind(&kind)?,
            contact_id,
            data,
        }),
    })
}

/// The bus names event kinds with static strings; a relayed kind maps back to one of
/// those. A kind this version does not publish itself is dropped.
fn known_kind(kind: &str) -> Option<&'static str> {
    // Internal call kinds travel too: other processes' caches drop what they made wrong.
    const OTHERS: [&str; 5] = [
        "progress_update",
        "created",
        "updated",
        "deleted",
        "imported",
    ];
    crate::bus::CLIENT_CALL_KINDS
        .into_iter()
        .chain(crate::bus::INTERNAL_CALL_KINDS)
        .chain(OTHERS)
        .find(|k| *k == kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_bus_event_survives_the_trip() {
        let events = [
            BusEvent::Call(CallUpdate {
                kind: "status_update",
                call_sid: "CA1".into(),
                timestamp: outcall_domain::time::now(),
                data: json!({"status": "ringing"}),
            }),
            BusEvent::Transcript(TranscriptUpdate {
                call_sid: "CA1".into(),
                role: Role::User,
                message: "hello \"there\"".into(),
                time_in_call_secs: 1.5,
                is_final: true,
            }),
            BusEvent::Campaign(CampaignUpdate {
                kind: "progress_update",
                campaign_id: "c1".into(),
                data: json!({"n": 1}),
            }),
            BusEvent::Contact(ContactUpdate {
                kind: "imported",
                contact_id: String::new(),
                data: json!({"created": 3}),
            }),
        ];
        for e in events {
            let json = encode(&e).expect("encodes");
            assert_eq!(decode(&json), Some(e));
        }
    }

    #[test]
    fn an_unknown_kind_is_dropped() {
        let json = r#"{"bus":"call","kind":"teleported","callSid":"CA1","timestamp":"2026-01-01T00:00:00Z","data":{}}"#;
        assert_eq!(decode(json), None);
        assert_eq!(decode("not json"), None);
    }
}
