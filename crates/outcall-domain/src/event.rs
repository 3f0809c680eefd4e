//! Call events (`callevents`): the timeline of everything that happened to a call.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::id::ObjectId;
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallEvent {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub call_sid: String,
    /// `status-change`, `dtmf`, `machine-detection`, `recording`, … (free form, kebab-case;
    /// another system's names, e.g. `status_change`, are kept as stored).
    pub event_type: String,
    pub timestamp: Timestamp,
    #[serde(default)]
    pub data: Map<String, Value>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Fields outcall does not name (e.g. the Node.js system's `source`), kept and
    /// written back as stored.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CallEvent {
    pub fn new(
        call_sid: impl Into<String>,
        event_type: impl Into<String>,
        data: Map<String, Value>,
    ) -> Self {
        let now = crate::time::now();
        Self {
            id: ObjectId::new(),
            call_sid: call_sid.into(),
            event_type: event_type.into(),
            timestamp: now,
            data,
            created_at: now,
            updated_at: now,
            extra: Map::new(),
        }
    }
}

impl CallEvent {
    /// An event that happens once per call and `key` (a status, a failure): its id is
    /// derived from `(call_sid, event_type, key)`, so a redelivered webhook's second
    /// insert is a conflict on the id and the timeline keeps one entry, on every store.
    pub fn once(
        call_sid: impl Into<String>,
        event_type: impl Into<String>,
        key: &str,
        data: Map<String, Value>,
    ) -> Self {
        let mut event = Self::new(call_sid, event_type, data);
        event.id = once_id(&event.call_sid, &event.event_type, key);
        event
    }

    /// Sets when it happened (the provider's time, rather than when it arrived).
    pub fn at(mut self, timestamp: Timestamp) -> Self {
        self.timestamp = timestamp;
        self
    }
}

/// The id of [`CallEvent::once`]: the first 12 bytes of a SHA-256 over the
/// length-prefixed parts (so no two part lists share an input).
fn once_id(call_sid: &str, event_type: &str, key: &str) -> ObjectId {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [call_sid, event_type, key] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    let digest = h.finalize();
    let mut bytes = [0u8; 12];
    bytes.copy_from_slice(&digest[..12]);
    ObjectId::from_bytes(bytes)
}

impl crate::time::MillisecondTimes for CallEvent {
    fn truncate_times(&mut self) {
        crate::time::truncate(&mut self.timestamp);
        crate::time::truncate(&mut self.created_at);
        crate::time::truncate(&mut self.updated_at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_ids_depend_on_call_type_and_key_only() {
        let a = CallEvent::once("CA1", "status-change", "ringing", Map::new());
        let again = CallEvent::once("CA1", "status-change", "ringing", Map::new());
        assert_eq!(a.id, again.id, "a redelivery gets the same id");
        for other in [
            CallEvent::once("CA2", "status-change", "ringing", Map::new()),
            CallEvent::once("CA1", "status-change", "completed", Map::new()),
            CallEvent::once("CA1", "status-changer", "inging", Map::new()),
        ] {
            assert_ne!(a.id, other.id, "{other:?}");
        }
    }
}
