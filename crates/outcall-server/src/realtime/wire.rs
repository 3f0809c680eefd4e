//! The events clients receive, with the names and payloads of api.md, and what each
//! is about (for rooms and filters). Socket.IO and SSE send exactly these.

use serde_json::Value;

use crate::bus::BusEvent;

/// A group of events a client can ask for (`topics=` on SSE, rooms on Socket.IO).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Calls,
    Transcripts,
    Campaigns,
    Dashboard,
}

impl Topic {
    pub const ALL: [Topic; 4] = [
        Self::Calls,
        Self::Transcripts,
        Self::Campaigns,
        Self::Dashboard,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Calls => "calls",
            Self::Transcripts => "transcripts",
            Self::Campaigns => "campaigns",
            Self::Dashboard => "dashboard",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    CallUpdate,
    TranscriptUpdate,
    CampaignUpdate,
    ActiveCalls,
    DashboardUpdate,
}

impl Kind {
    /// The event name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::CallUpdate => "call_update",
            Self::TranscriptUpdate => "transcript_update",
            Self::CampaignUpdate => "campaign_update",
            Self::ActiveCalls => "active_calls",
            Self::DashboardUpdate => "dashboard_update",
        }
    }

    pub fn topic(self) -> Topic {
        match self {
            Self::CallUpdate | Self::ActiveCalls => Topic::Calls,
            Self::TranscriptUpdate => Topic::Transcripts,
            Self::CampaignUpdate => Topic::Campaigns,
            Self::DashboardUpdate => Topic::Dashboard,
        }
    }
}

/// One event for clients.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub kind: Kind,
    pub payload: Value,
    /// The call it is about, if any.
    pub call_sid: Option<String>,
    /// The campaign it is about, if any (a call's campaign too).
    pub campaign_id: Option<String>,
}

impl Outgoing {
    /// An event about nothing in particular (`active_calls`, `dashboard_update`).
    pub fn general(kind: Kind, payload: Value) -> Self {
        Self {
            kind,
            payload,
            call_sid: None,
            campaign_id: None,
        }
    }

    /// The client event of a bus event; `None` for what clients are not sent (contacts,
    /// internal call changes).
    pub fn from_bus(event: &BusEvent) -> Option<Self> {
        Some(match event {
            BusEvent::Call(u) if !crate::bus::CLIENT_CALL_KINDS.contains(&u.kind) => {
                return None;
            }
            BusEvent::Call(u) => Self {
                kind: Kind::CallUpdate,
                payload: json(u),
                call_sid: Some(u.call_sid.clone()),
                campaign_id: u.data["campaignId"].as_str().map(str::to_string),
            },
            BusEvent::Transcript(t) => Self {
                kind: Kind::TranscriptUpdate,
                payload: json(t),
                call_sid: Some(t.call_sid.clone()),
                campaign_id: None,
            },
            BusEvent::Campaign(c) => Self {
                kind: Kind::CampaignUpdate,
                payload: json(c),
                call_sid: None,
                campaign_id: Some(c.campaign_id.clone()),
            },
            BusEvent::Contact(_) => return None,
        })
    }
}

/// The bus's event structs as JSON; they hold strings, numbers and JSON, so this
/// cannot fail.
fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}
