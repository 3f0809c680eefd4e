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
    /// The campaign's stored calling window cannot be evaluated: no dial (fail closed).
    InvalidWindow,
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
    /// When the current attempt's dial request was sent. A claim without it was never
    /// dialled, so a dead owner's claim can be released; one with it may have rung.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialled_at: Option<Timestamp>,
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
            dialled_at: None,
            priority: 0,
            created_at: now,
            updated_at: now,
        }
    }
}

impl crate::time::MillisecondTimes for CampaignContact {
    fn truncate_times(&mut self) {
        crate::time::truncate_opt(&mut self.next_attempt_at);
        crate::time::truncate_opt(&mut self.dialled_at);
        if let Some(lease) = &mut self.lease {
            crate::time::truncate(&mut lease.expires_at);
        }
        crate::time::truncate(&mut self.created_at);
        crate::time::truncate(&mut self.updated_at);
    }
}

/// The engine's request for the next contact to dial: the one it gets is leased to
/// `owner` under `attempt_id` until `expires_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub owner: String,
    pub attempt_id: String,
    pub now: Timestamp,
    pub expires_at: Timestamp,
}

/// Which attempt a step belongs to. A step applies only while the contact still holds
/// that attempt's lease, so a late, repeated or overtaken step changes nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptGuard {
    pub attempt_id: String,
    /// Also require the lease to have expired by then: how a dead owner's attempt is
    /// taken over without racing a live one.
    pub expired_by: Option<Timestamp>,
}

impl AttemptGuard {
    pub fn of(attempt_id: impl Into<String>) -> Self {
        Self {
            attempt_id: attempt_id.into(),
            expired_by: None,
        }
    }

    pub fn admits(&self, cc: &CampaignContact) -> bool {
        cc.lease.as_ref().is_some_and(|l| {
            l.attempt_id == self.attempt_id && self.expired_by.is_none_or(|t| l.expires_at <= t)
        })
    }
}

/// What happens to the lease in a step.
#[derive(Debug, Clone, PartialEq)]
pub enum LeaseStep {
    Keep,
    /// Moves the lease to `owner` until `expires_at` (same attempt).
    Renew {
        owner: String,
        expires_at: Timestamp,
    },
    /// The attempt is over: the contact is free for its next one.
    Release,
}

/// One step of an attempt: dialled, deferred, skipped, finished.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptStep {
    pub status: DialStatus,
    pub lease: LeaseStep,
    pub attempts_inc: i64,
    pub next_attempt_at: Option<Timestamp>,
    pub last_call_sid: Option<String>,
    pub last_result: Option<String>,
    pub skip_reason: Option<SkipReason>,
    pub dialled_at: Option<Timestamp>,
}

impl AttemptStep {
    pub fn to(status: DialStatus, lease: LeaseStep) -> Self {
        Self {
            status,
            lease,
            attempts_inc: 0,
            next_attempt_at: None,
            last_call_sid: None,
            last_result: None,
            skip_reason: None,
            dialled_at: None,
        }
    }

    /// The step's effect; the store applies exactly this, atomically.
    pub fn apply(&self, cc: &mut CampaignContact) {
        cc.status = self.status;
        match &self.lease {
            LeaseStep::Keep => {}
            LeaseStep::Renew { owner, expires_at } => {
                if let Some(l) = &mut cc.lease {
                    l.owner = owner.clone();
                    l.expires_at = *expires_at;
                }
            }
            LeaseStep::Release => cc.lease = None,
        }
        cc.attempts += self.attempts_inc;
        if self.next_attempt_at.is_some() {
            cc.next_attempt_at = self.next_attempt_at;
        }
        if self.last_call_sid.is_some() {
            cc.last_call_sid.clone_from(&self.last_call_sid);
        }
        if self.last_result.is_some() {
            cc.last_result.clone_from(&self.last_result);
        }
        if self.skip_reason.is_some() {
            cc.skip_reason = self.skip_reason;
        }
        if self.dialled_at.is_some() {
            cc.dialled_at = self.dialled_at;
        }
    }
}

impl CampaignContact {
    /// Whether a claim made at `now` may take this contact.
    pub fn is_claimable(&self, now: Timestamp) -> bool {
        matches!(self.status, DialStatus::Pending | DialStatus::Retry)
            && self.next_attempt_at.is_none_or(|t| t <= now)
    }

    /// What a claim does to the contact.
    pub fn claim(&mut self, claim: &Claim) {
        self.status = DialStatus::Dialing;
        self.dialled_at = None;
        self.lease = Some(Lease {
            owner: claim.owner.clone(),
            attempt_id: claim.attempt_id.clone(),
            expires_at: claim.expires_at,
        });
    }
}

/// How many contacts of a campaign are in each dial state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DialCounts {
    pub pending: i64,
    pub dialing: i64,
    pub retry: i64,
    pub completed: i64,
    pub failed: i64,
    pub skipped: i64,
    pub cancelled: i64,
    /// `dialing` with a lease that has not expired: the live calls the cap counts.
    pub live: i64,
    /// The earliest `nextAttemptAt` among `pending` and `retry` contacts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_due: Option<Timestamp>,
}

impl DialCounts {
    pub fn total(&self) -> i64 {
        self.pending
            + self.dialing
            + self.retry
            + self.completed
            + self.failed
            + self.skipped
            + self.cancelled
    }

    /// Nothing left to dial and nothing being dialled.
    pub fn is_done(&self) -> bool {
        self.pending + self.retry + self.dialing == 0
    }

    pub fn add(&mut self, status: DialStatus, n: i64) {
        let slot = match status {
            DialStatus::Pending => &mut self.pending,
            DialStatus::Dialing => &mut self.dialing,
            DialStatus::Retry => &mut self.retry,
            DialStatus::Completed => &mut self.completed,
            DialStatus::Failed => &mut self.failed,
            DialStatus::Skipped => &mut self.skipped,
            DialStatus::Cancelled => &mut self.cancelled,
        };
        *slot += n;
    }
}
