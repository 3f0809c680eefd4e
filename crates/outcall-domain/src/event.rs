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
    /// `status-change`, `dtmf`, `machine-detection`, `recording`, … (free form, kebab-case).
    pub event_type: String,
    pub timestamp: Timestamp,
    #[serde(default)]
    pub data: Map<String, Value>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
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
        }
    }
}

impl crate::time::MillisecondTimes for CallEvent {
    fn truncate_times(&mut self) {
        crate::time::truncate(&mut self.timestamp);
        crate::time::truncate(&mut self.created_at);
        crate::time::truncate(&mut self.updated_at);
    }
}
