//! Conversation transcripts (`transcripts`), one per call.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::id::ObjectId;
use crate::time::Timestamp;

/// Who spoke a turn. Another value (a stored `tool` or `system` turn) is kept as
/// [`Other`](Self::Other): it is shown as stored and left out of the callee's
/// sentiment, which reads `user` turns only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Agent,
    User,
    /// A value another system stored, kept as it was.
    Other(String),
}

impl Role {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Agent => "agent",
            Self::User => "user",
            Self::Other(s) => s,
        }
    }

    pub fn from_stored(s: &str) -> Self {
        match s {
            "agent" => Self::Agent,
            "user" => Self::User,
            _ => Self::Other(s.to_string()),
        }
    }

    pub fn is_known(&self) -> bool {
        !matches!(self, Self::Other(_))
    }
}

crate::stored::open_enum!(Role);

/// One spoken turn. The Node.js system the seed documents wrote ElevenLabs' own
/// snake_case `time_in_call_secs`, which reads as `timeInCallSecs`; its turns may hold a
/// `null` message (a tool call) and other fields, kept in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Turn {
    pub role: Role,
    #[serde(default, deserialize_with = "crate::stored::null_as_default")]
    pub message: String,
    #[serde(
        default,
        alias = "time_in_call_secs",
        deserialize_with = "crate::stored::null_as_default"
    )]
    pub time_in_call_secs: f64,
    /// Fields outcall does not name, kept and written back as stored.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Turn {
    pub fn new(role: Role, message: impl Into<String>, time_in_call_secs: f64) -> Self {
        Self {
            role,
            message: message.into(),
            time_in_call_secs,
            extra: Map::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SentimentLabel {
    Positive,
    Neutral,
    Negative,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sentiment {
    pub label: SentimentLabel,
    /// From -1 (negative) to 1 (positive).
    pub score: f64,
}

/// A transcript's status. The Node.js system the seed documents wrote `processing`,
/// `done` and `failed`: `done` is outcall's; the others (and any other value) are kept
/// as [`Other`](Self::Other). Only `done` with a conversation counts as finished, so an
/// `Other` transcript is never final: the post-call webhook may still complete it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TranscriptStatus {
    Live,
    #[default]
    Done,
    /// A value another system stored, kept as it was.
    Other(String),
}

impl TranscriptStatus {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Live => "live",
            Self::Done => "done",
            Self::Other(s) => s,
        }
    }

    pub fn from_stored(s: &str) -> Self {
        match s {
            "live" => Self::Live,
            "done" => Self::Done,
            _ => Self::Other(s.to_string()),
        }
    }

    pub fn is_known(&self) -> bool {
        !matches!(self, Self::Other(_))
    }
}

crate::stored::open_enum!(TranscriptStatus);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transcript {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub call_sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(default)]
    pub transcript: Vec<Turn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment: Option<Sentiment>,
    /// The agent platform's analysis, kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Map<String, Value>>,
    #[serde(default)]
    pub status: TranscriptStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Fields outcall does not name (e.g. the Node.js system's `agent_id`), kept and
    /// written back as stored.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Transcript {
    pub fn new(call_sid: impl Into<String>) -> Self {
        let now = crate::time::now();
        Self {
            id: ObjectId::new(),
            call_sid: call_sid.into(),
            conversation_id: None,
            transcript: Vec::new(),
            summary: None,
            sentiment: None,
            analysis: None,
            status: TranscriptStatus::Done,
            created_at: now,
            updated_at: now,
            extra: Map::new(),
        }
    }
}

/// A partial update of a transcript: only the fields given change.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TranscriptPatch {
    #[serde(default)]
    pub conversation_id: Option<String>,
    #[serde(default)]
    pub transcript: Option<Vec<Turn>>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub sentiment: Option<Sentiment>,
    #[serde(default)]
    pub analysis: Option<Map<String, Value>>,
    #[serde(default)]
    pub status: Option<TranscriptStatus>,
    /// Set by the media bridge for the turns it saves as the call goes: once the
    /// post-call webhook finished the transcript (`done`, with its conversation), the
    /// bridge's copy must not replace it, whichever write comes last.
    #[serde(skip)]
    pub unless_finished: bool,
}

impl TranscriptPatch {
    /// Whether the patch may be applied to `t` (see `unless_finished`).
    pub fn applies_to(&self, t: &Transcript) -> bool {
        !(self.unless_finished && t.is_finished())
    }

    pub fn apply(&self, t: &mut Transcript) {
        if !self.applies_to(t) {
            return;
        }
        if let Some(v) = &self.conversation_id {
            t.conversation_id = Some(v.clone());
        }
        if let Some(v) = &self.transcript {
            t.transcript = v.clone();
        }
        if let Some(v) = &self.summary {
            t.summary = Some(v.clone());
        }
        if let Some(v) = &self.sentiment {
            t.sentiment = Some(v.clone());
        }
        if let Some(v) = &self.analysis {
            t.analysis = Some(v.clone());
        }
        if let Some(v) = &self.status {
            t.status = v.clone();
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl Transcript {
    /// Finished by the post-call webhook: `done`, with its conversation.
    pub fn is_finished(&self) -> bool {
        self.status == TranscriptStatus::Done && self.conversation_id.is_some()
    }
}

impl crate::time::MillisecondTimes for Transcript {
    fn truncate_times(&mut self) {
        crate::time::truncate(&mut self.created_at);
        crate::time::truncate(&mut self.updated_at);
    }
}
