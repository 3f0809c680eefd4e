//! Filters for each list, already validated and typed. The sortable fields of each
//! list are the indexed ones, so every sort can be served by an index.

use outcall_domain::ObjectId;
use outcall_domain::call::CallStatus;
use outcall_domain::campaign::CampaignStatus;
use outcall_domain::contact::ContactStatus;
use outcall_domain::time::Timestamp;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallFilter {
    pub status: Option<CallStatus>,
    pub campaign_id: Option<ObjectId>,
    pub contact_id: Option<ObjectId>,
    /// The campaign attempt that placed the call (unique).
    pub attempt_id: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// Inclusive lower bound on `createdAt`.
    pub start_date: Option<Timestamp>,
    /// Exclusive upper bound on `createdAt`.
    pub end_date: Option<Timestamp>,
}

pub const CALL_SORT_FIELDS: &[&str] = &["createdAt", "startTime", "status"];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordingFilter {
    pub call_sid: Option<String>,
    pub status: Option<String>,
    pub start_date: Option<Timestamp>,
    pub end_date: Option<Timestamp>,
}

pub const RECORDING_SORT_FIELDS: &[&str] = &["createdAt"];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    pub event_type: Option<String>,
}

pub const EVENT_SORT_FIELDS: &[&str] = &["timestamp"];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CampaignFilter {
    pub status: Option<CampaignStatus>,
    /// Exact campaign name.
    pub name: Option<String>,
}

pub const CAMPAIGN_SORT_FIELDS: &[&str] = &["createdAt", "name", "status"];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactFilter {
    pub status: Option<ContactStatus>,
    pub tag: Option<String>,
    pub campaign_id: Option<ObjectId>,
    pub email: Option<String>,
    pub name: Option<String>,
    /// Free-text search: a contact matches when its name or email contains `q`
    /// (ignoring ASCII case), or, when `q` looks like part of a phone number (digits,
    /// spaces, `+-.()`), when its phoneNumber contains `q`'s digits. See [`ContactSearch`].
    pub q: Option<String>,
}

/// How both adapters read [`ContactFilter::q`], so they agree on what matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactSearch {
    /// Matched as a substring of `name` and `email`, ignoring ASCII case.
    pub text: String,
    /// Matched as a substring of `phoneNumber`; `None` when `q` is not phone-like.
    pub digits: Option<String>,
}

impl ContactSearch {
    /// `None` for a blank `q`, which filters nothing.
    pub fn parse(q: &str) -> Option<Self> {
        let text = q.trim();
        if text.is_empty() {
            return None;
        }
        let phone_like = text
            .chars()
            .all(|c| c.is_ascii_digit() || " +-.()".contains(c));
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        Some(Self {
            text: text.to_string(),
            digits: (phone_like && !digits.is_empty()).then_some(digits),
        })
    }
}

pub const CONTACT_SORT_FIELDS: &[&str] = &["createdAt", "name", "phoneNumber"];
