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

/// The compare half of an attempt's compare-and-set: a step applies only while the
/// contact is still in the [`Stage`] it was read in, under the same lease (attempt id
/// **and** owner), so a late, repeated, overtaken or taken-over step changes nothing.
/// Built by [`crate::attempt::Attempt::transition`], never by hand.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptGuard {
    pub stage: Stage,
    /// The lease the contact must hold; `None`: it must hold none.
    pub lease: Option<LeaseKey>,
    /// Also require the lease to have expired by then: how a dead owner's attempt is
    /// taken over without racing a live one.
    pub expired_by: Option<Timestamp>,
}

/// Who holds an attempt: its id and the process that owns its lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseKey {
    pub attempt_id: String,
    pub owner: String,
}

impl LeaseKey {
    pub fn of(lease: &Lease) -> Self {
        Self {
            attempt_id: lease.attempt_id.clone(),
            owner: lease.owner.clone(),
        }
    }
}

impl AttemptGuard {
    pub fn admits(&self, cc: &CampaignContact) -> bool {
        let lease_matches = match (&self.lease, &cc.lease) {
            (None, None) => true,
            (Some(k), Some(l)) => {
                k.attempt_id == l.attempt_id
                    && k.owner == l.owner
                    && self.expired_by.is_none_or(|t| l.expires_at <= t)
            }
            _ => false,
        };
        lease_matches && Stage::of(cc) == self.stage
    }
}

/// Where a contact's current attempt stands, read from its stored fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// `pending` or `retry`: no attempt holds it.
    Waiting,
    /// `dialing`, leased, the dial not sent yet (`dialledAt` unset).
    Claimed,
    /// `dialing`, the dial request sent (`dialledAt`), no call known yet: it may have
    /// rung, so it is never sent again under this attempt.
    Sent,
    /// `dialing` with the attempt's call (`lastCallSid`, cleared by every claim).
    Placed,
    /// `completed`, `failed`, `skipped` or `cancelled`.
    Final,
}

impl Stage {
    pub fn of(cc: &CampaignContact) -> Self {
        match cc.status {
            DialStatus::Pending | DialStatus::Retry => Self::Waiting,
            DialStatus::Dialing if cc.dialled_at.is_none() => Self::Claimed,
            DialStatus::Dialing if cc.last_call_sid.is_none() => Self::Sent,
            DialStatus::Dialing => Self::Placed,
            DialStatus::Completed
            | DialStatus::Failed
            | DialStatus::Skipped
            | DialStatus::Cancelled => Self::Final,
        }
    }

    /// Whether a contact in this stage holds a lease.
    pub fn is_leased(self) -> bool {
        matches!(self, Self::Claimed | Self::Sent | Self::Placed)
    }
}

/// What happens to the lease in a step.
#[derive(Debug, Clone, PartialEq)]
pub enum LeaseStep {
    Keep,
    /// A new attempt's lease (a claim).
    Take(Lease),
    /// Moves the lease to `owner` until `expires_at` (same attempt).
    Renew {
        owner: String,
        expires_at: Timestamp,
    },
    /// The attempt is over: the contact is free for its next one.
    Release,
}

/// What a step does to one optional field.
#[derive(Debug, Clone, PartialEq)]
pub enum Field<T> {
    Keep,
    Set(T),
    Clear,
}

impl<T: Clone> Field<T> {
    fn apply(&self, to: &mut Option<T>) {
        match self {
            Self::Keep => {}
            Self::Set(v) => *to = Some(v.clone()),
            Self::Clear => *to = None,
        }
    }
}

/// The set half of a compare-and-set: the write of one transition. The store applies
/// exactly this ([`AttemptStep::apply`]), atomically, when its guard admits.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptStep {
    pub status: DialStatus,
    pub lease: LeaseStep,
    pub attempts_inc: i64,
    pub next_attempt_at: Option<Timestamp>,
    pub last_call_sid: Field<String>,
    pub last_result: Option<String>,
    pub skip_reason: Option<SkipReason>,
    pub dialled_at: Field<Timestamp>,
}

impl AttemptStep {
    pub fn to(status: DialStatus, lease: LeaseStep) -> Self {
        Self {
            status,
            lease,
            attempts_inc: 0,
            next_attempt_at: None,
            last_call_sid: Field::Keep,
            last_result: None,
            skip_reason: None,
            dialled_at: Field::Keep,
        }
    }

    /// The step's effect on a stored contact.
    pub fn apply(&self, cc: &mut CampaignContact) {
        cc.status = self.status;
        match &self.lease {
            LeaseStep::Keep => {}
            LeaseStep::Take(lease) => cc.lease = Some(lease.clone()),
            LeaseStep::Renew { owner, expires_at } => {
                if let Some(l) = &mut cc.lease {
                    l.owner.clone_from(owner);
                    l.expires_at = *expires_at;
                }
            }
            LeaseStep::Release => cc.lease = None,
        }
        cc.attempts += self.attempts_inc;
        if self.next_attempt_at.is_some() {
            cc.next_attempt_at = self.next_attempt_at;
        }
        self.last_call_sid.apply(&mut cc.last_call_sid);
        if self.last_result.is_some() {
            cc.last_result.clone_from(&self.last_result);
        }
        if self.skip_reason.is_some() {
            cc.skip_reason = self.skip_reason;
        }
        self.dialled_at.apply(&mut cc.dialled_at);
    }
}

impl CampaignContact {
    /// Whether a claim made at `now` may take this contact.
    pub fn is_claimable(&self, now: Timestamp) -> bool {
        matches!(self.status, DialStatus::Pending | DialStatus::Retry)
            && self.next_attempt_at.is_none_or(|t| t <= now)
    }

    /// The step a claim writes ([`crate::attempt::claim_step`]): the contact becomes
    /// `dialing` under the new lease, with no trace of the previous attempt's dial.
    pub fn claim(&mut self, claim: &Claim) {
        crate::attempt::claim_step(claim).apply(self);
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

    /// Why a draft with these contacts must not start, if it must not: with no
    /// contacts it would complete at once, for good, having called no one.
    pub fn refuses_start(&self) -> Option<&'static str> {
        (self.total() == 0)
            .then_some("the campaign has no contacts; add contacts before starting it")
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
