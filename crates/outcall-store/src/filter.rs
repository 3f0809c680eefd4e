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
}

pub const CONTACT_SORT_FIELDS: &[&str] = &["createdAt", "name", "phoneNumber"];
