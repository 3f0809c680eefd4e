//! Per-campaign dial state (`campaigncontacts`): one document per (campaign, contact).
//! Dialling decisions read only this, so a contact's state in one campaign never
//! leaks into another.

use serde::{Deserialize, Serialize};

use crate::id::ObjectId;
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DialStatus {
    #[default]
    Pending,
    Dialing,
    Retry,
    Completed,
    Failed,
    Skipped,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    DoNotCall,
    InvalidNumber,
    Duplicate,
}

/// A claim on one dial attempt; it expires so a dead process's claim is reclaimed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    pub owner: String,
    pub attempt_id: String,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CampaignContact {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub campaign_id: ObjectId,
    pub contact_id: ObjectId,
    pub phone_number: String,
    #[serde(default)]
    pub status: DialStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<SkipReason>,
    #[serde(default)]
    pub attempts: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_call_sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_result: Option<String>,
    #[serde(default)]
    pub priority: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl CampaignContact {
    pub fn new(
        campaign_id: ObjectId,
        contact_id: ObjectId,
        phone_number: impl Into<String>,
    ) -> Self {
        let now = crate::time::now();
        Self {
            id: ObjectId::new(),
            campaign_id,
            contact_id,
            phone_number: phone_number.into(),
            status: DialStatus::Pending,
            skip_reason: None,
            attempts: 0,
            next_attempt_at: None,
            lease: None,
            last_call_sid: None,
            last_result: None,
            priority: 0,
            created_at: now,
            updated_at: now,
        }
    }
}

impl crate::time::MillisecondTimes for CampaignContact {
    fn truncate_times(&mut self) {
        crate::time::truncate_opt(&mut self.next_attempt_at);
        if let Some(lease) = &mut self.lease {
            crate::time::truncate(&mut lease.expires_at);
        }
        crate::time::truncate(&mut self.created_at);
        crate::time::truncate(&mut self.updated_at);
    }
}
