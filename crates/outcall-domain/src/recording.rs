//! Recording metadata (`recordings`), one document per Twilio `RecordingSid`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::id::ObjectId;
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recording {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub recording_sid: String,
    pub call_sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    /// Twilio's `RecordingStatus`: `in-progress`, `completed`, `absent`, `failed`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Fields outcall does not name (e.g. the Node.js system's `format`, `mp3Url`),
    /// kept and written back as stored.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The recording statuses Twilio reports.
pub const RECORDING_STATUSES: [&str; 4] = ["in-progress", "completed", "absent", "failed"];

/// `in-progress` comes first; the others are final.
pub fn recording_status_is_final(status: &str) -> bool {
    status != "in-progress"
}

impl Recording {
    pub fn new(
        recording_sid: impl Into<String>,
        call_sid: impl Into<String>,
        status: impl Into<String>,
    ) -> Self {
        let now = crate::time::now();
        Self {
            id: ObjectId::new(),
            recording_sid: recording_sid.into(),
            call_sid: call_sid.into(),
            url: None,
            duration: None,
            status: status.into(),
            channels: None,
            start_time: None,
            created_at: now,
            updated_at: now,
            extra: Map::new(),
        }
    }
}

impl Recording {
    /// Merges a later report of the same recording (Twilio sends `in-progress`, then a
    /// final status). A final status is never replaced; returns whether anything changed.
    pub fn merge(&mut self, later: &Recording) -> bool {
        if recording_status_is_final(&self.status) {
            return false;
        }
        let before = self.clone();
        self.status.clone_from(&later.status);
        if later.url.is_some() {
            self.url.clone_from(&later.url);
        }
        if later.duration.is_some() {
            self.duration = later.duration;
        }
        if later.channels.is_some() {
            self.channels = later.channels;
        }
        if later.start_time.is_some() {
            self.start_time = later.start_time;
        }
        *self != before
    }
}

/// The fields [`Recording::merge`] may write (for compare-and-set filters).
pub const RECORDING_MERGE_FIELDS: [&str; 5] =
    ["status", "url", "duration", "channels", "startTime"];

impl crate::time::MillisecondTimes for Recording {
    fn truncate_times(&mut self) {
        crate::time::truncate_opt(&mut self.start_time);
        crate::time::truncate(&mut self.created_at);
        crate::time::truncate(&mut self.updated_at);
    }
}
