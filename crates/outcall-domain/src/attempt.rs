//! The life of one dial attempt of a campaign contact, decided in one place.
//!
//! ```text
//!  Waiting ──Claim──▶ Claimed ──Send──▶ Sent ──Placed──▶ Placed ──Ended──▶ Waiting (retry)
//!     ▲                 │  │              │ │ └──Ended──────────────────────▶ Final
//!     └──Release/Defer──┘  └──Skip──▶ Final │ ├──Refused (4xx)──▶ Waiting (retry) / Final
//!     ▲                                     │ └──Unconfirmed──▶ Final
//!     └───────────NotSent (never reached Twilio, or Twilio has no call)──┘
//!  Placed ──NotItsCall (a previous attempt's call, from old data)──▶ Sent
//!  any leased stage ──TakeOver (lease expired)──▶ same stage, new owner
//!  any leased stage ──Renew──▶ same stage, later expiry
//! ```
//!
//! [`Attempt::transition`] turns an event into a [`Next`]: the compare-and-set the
//! store runs (a guard on the stage read and the lease's attempt id **and** owner,
//! and the write), the stage it leads to, and what the engine must count when the
//! write wins. It reads no clock and touches no store: the engine feeds events, the
//! stores persist the write if the guard still admits, and nothing else decides.

use std::time::Duration;

use crate::campaign::CampaignSettings;
use crate::campaign_contact::{
    AttemptGuard, AttemptStep, CampaignContact, Claim, DialStatus, Field, Lease, LeaseKey,
    LeaseStep, SkipReason, Stage,
};
use crate::dialing::{AfterCall, after_call};
use crate::time::Timestamp;

/// How long a dial that never reached Twilio waits before its next try, when Twilio
/// gave no `Retry-After`.
pub const NOT_SENT_BACKOFF: Duration = Duration::from_secs(2);
/// The longest `Retry-After` honoured for a dial that was not sent.
pub const MAX_NOT_SENT_BACKOFF: Duration = Duration::from_secs(300);

/// `lastResult` of an attempt that was put back because no call was created.
pub const NOT_SENT: &str = "not-sent";
/// `lastResult` of an attempt whose call may exist but could not be found.
pub const UNCONFIRMED: &str = "unconfirmed";

/// What happened to an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<'a> {
    /// A claim takes a waiting, due contact for a new attempt.
    Claim(&'a Claim),
    /// Vetting found it must never be called (do-not-call, bad number).
    Skip(SkipReason),
    /// Its calling window is closed until `until`: back to waiting, no attempt spent.
    Defer { until: Timestamp },
    /// Never dialled (campaign paused or stopped before the dial, or its process died
    /// before sending): back to waiting as it was.
    Release,
    /// The dial request is about to leave: from here on it may ring.
    Send { at: Timestamp },
    /// No call was created: the request never left (connect refused, DNS, TLS), Twilio
    /// answered 429, or Twilio's call list proves there is none. Back to the queue
    /// after a backoff; it counts as no attempt.
    NotSent {
        now: Timestamp,
        retry_after: Option<Duration>,
    },
    /// Twilio refused the request itself (4xx other than 429): no call, and the same
    /// request fails the same way; a failed attempt under the campaign's retry rules.
    Refused {
        now: Timestamp,
        settings: &'a CampaignSettings,
    },
    /// Twilio created the attempt's call (its answer, or the call found afterwards).
    Placed { call_sid: &'a str },
    /// The attempt's call reached a final status with this outcome (`held`, `busy`, …).
    Ended {
        call_sid: &'a str,
        outcome: &'a str,
        now: Timestamp,
        settings: &'a CampaignSettings,
    },
    /// Sent, and whether a call exists cannot be known: never dialled again.
    Unconfirmed,
    /// The call recorded on the attempt is another attempt's (written before claims
    /// cleared `lastCallSid`): the attempt is only sent, and is settled as such.
    NotItsCall { call_sid: &'a str },
    /// Another process takes over an attempt whose lease expired by `now`.
    TakeOver {
        owner: &'a str,
        now: Timestamp,
        expires_at: Timestamp,
    },
    /// The owner keeps its lease alive (e.g. while Twilio cannot be asked yet).
    Renew { expires_at: Timestamp },
}

impl Event<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Claim(_) => "claim",
            Self::Skip(_) => "skip",
            Self::Defer { .. } => "defer",
            Self::Release => "release",
            Self::Send { .. } => "send",
            Self::NotSent { .. } => "not-sent",
            Self::Refused { .. } => "refused",
            Self::Placed { .. } => "placed",
            Self::Ended { .. } => "ended",
            Self::Unconfirmed => "unconfirmed",
            Self::NotItsCall { .. } => "not-its-call",
            Self::TakeOver { .. } => "take-over",
            Self::Renew { .. } => "renew",
        }
    }
}

/// Why an event does not apply to the attempt as read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{event} does not apply to an attempt in stage {stage:?}")]
    Stage { stage: Stage, event: &'static str },
    #[error("the contact is not due yet")]
    NotDue,
    #[error("the lease has not expired")]
    LeaseLive,
    #[error("the call is not this attempt's call")]
    OtherCall,
}

/// What the engine must do once the write won (and only then), so each is done once
/// per attempt whoever wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effect {
    /// This call was placed for the attempt: count `callsPlaced` and the contact's call.
    pub call_placed: Option<String>,
    /// The attempt's call ended: count its end in the campaign's stats.
    pub call_ended: bool,
}

/// The outcome of a transition: the compare-and-set to run and what follows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Next {
    pub guard: AttemptGuard,
    pub step: AttemptStep,
    /// The stage the contact is in once the step is written.
    pub stage: Stage,
    pub effect: Effect,
}

/// An attempt as stored: the contact's dial state.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    cc: &'a CampaignContact,
}

/// The write of a claim (also what the stores' claim query sets).
pub fn claim_step(claim: &Claim) -> AttemptStep {
    AttemptStep {
        last_call_sid: Field::Clear,
        dialled_at: Field::Clear,
        ..AttemptStep::to(
            DialStatus::Dialing,
            LeaseStep::Take(Lease {
                owner: claim.owner.clone(),
                attempt_id: claim.attempt_id.clone(),
                expires_at: claim.expires_at,
            }),
        )
    }
}

impl<'a> Attempt<'a> {
    pub fn of(cc: &'a CampaignContact) -> Self {
        Self { cc }
    }

    pub fn stage(&self) -> Stage {
        Stage::of(self.cc)
    }

    /// The status a contact waits in: `retry` once a call was placed, else `pending`.
    fn waiting_status(&self) -> DialStatus {
        if self.cc.attempts > 0 {
            DialStatus::Retry
        } else {
            DialStatus::Pending
        }
    }

    fn guard(&self, stage: Stage, expired_by: Option<Timestamp>) -> AttemptGuard {
        AttemptGuard {
            stage,
            lease: self.cc.lease.as_ref().map(LeaseKey::of),
            expired_by,
        }
    }

    /// Decides what `event` does to this attempt.
    pub fn transition(&self, event: Event<'_>) -> Result<Next, Refused> {
        let stage = self.stage();
        let refuse = || Refused::Stage {
            stage,
            event: event.name(),
        };
        // A leased stage without a lease cannot be written under a guard.
        if stage.is_leased() && self.cc.lease.is_none() {
            return Err(refuse());
        }
        let mut effect = Effect::default();
        let mut expired_by = None;
        let (to, step) = match (&event, stage) {
            (Event::Claim(claim), Stage::Waiting) => {
                if !self.cc.is_claimable(claim.now) {
                    return Err(Refused::NotDue);
                }
                (Stage::Claimed, claim_step(claim))
            }
            (Event::Skip(reason), Stage::Claimed) => (
                Stage::Final,
                AttemptStep {
                    skip_reason: Some(*reason),
                    ..self.release(DialStatus::Skipped)
                },
            ),
            (Event::Defer { until }, Stage::Claimed) => (
                Stage::Waiting,
                AttemptStep {
                    next_attempt_at: Some(*until),
                    ..self.release(self.waiting_status())
                },
            ),
            (Event::Release, Stage::Claimed) => {
                (Stage::Waiting, self.release(self.waiting_status()))
            }
            (Event::Send { at }, Stage::Claimed) => (
                Stage::Sent,
                AttemptStep {
                    dialled_at: Field::Set(*at),
                    ..AttemptStep::to(DialStatus::Dialing, LeaseStep::Keep)
                },
            ),
            (Event::NotSent { now, retry_after }, Stage::Sent) => {
                let wait = retry_after
                    .unwrap_or(NOT_SENT_BACKOFF)
                    .min(MAX_NOT_SENT_BACKOFF);
                let wait = chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::zero());
                (
                    Stage::Waiting,
                    AttemptStep {
                        next_attempt_at: Some(*now + wait),
                        last_result: Some(NOT_SENT.into()),
                        ..self.release(self.waiting_status())
                    },
                )
            }
            (Event::Refused { now, settings }, Stage::Sent) => {
                let (status, next) = self.after("failed", self.cc.attempts + 1, settings, *now);
                (
                    stage_of(status),
                    AttemptStep {
                        attempts_inc: 1,
                        next_attempt_at: next,
                        last_result: Some("failed".into()),
                        ..self.release(status)
                    },
                )
            }
            (Event::Placed { call_sid }, Stage::Sent) => {
                effect.call_placed = Some((*call_sid).to_string());
                (
                    Stage::Placed,
                    AttemptStep {
                        attempts_inc: 1,
                        last_call_sid: Field::Set((*call_sid).to_string()),
                        ..AttemptStep::to(DialStatus::Dialing, LeaseStep::Keep)
                    },
                )
            }
            (
                Event::Ended {
                    call_sid,
                    outcome,
                    now,
                    settings,
                },
                Stage::Sent | Stage::Placed,
            ) => {
                if stage == Stage::Placed && self.cc.last_call_sid.as_deref() != Some(call_sid) {
                    return Err(Refused::OtherCall);
                }
                // The call's end can overtake the step that records it: count it here.
                let counted = stage == Stage::Placed;
                if !counted {
                    effect.call_placed = Some((*call_sid).to_string());
                }
                effect.call_ended = true;
                let attempts = self.cc.attempts + i64::from(!counted);
                let (status, next) = self.after(outcome, attempts, settings, *now);
                (
                    stage_of(status),
                    AttemptStep {
                        attempts_inc: i64::from(!counted),
                        next_attempt_at: next,
                        last_call_sid: Field::Set((*call_sid).to_string()),
                        last_result: Some((*outcome).to_string()),
                        ..self.release(status)
                    },
                )
            }
            (Event::Unconfirmed, Stage::Sent) => (
                Stage::Final,
                AttemptStep {
                    attempts_inc: 1,
                    last_result: Some(UNCONFIRMED.into()),
                    ..self.release(DialStatus::Failed)
                },
            ),
            (Event::NotItsCall { call_sid }, Stage::Placed) => {
                if self.cc.last_call_sid.as_deref() != Some(call_sid) {
                    return Err(Refused::OtherCall);
                }
                (
                    Stage::Sent,
                    AttemptStep {
                        last_call_sid: Field::Clear,
                        ..AttemptStep::to(DialStatus::Dialing, LeaseStep::Keep)
                    },
                )
            }
            (
                Event::TakeOver {
                    owner,
                    now,
                    expires_at,
                },
                Stage::Claimed | Stage::Sent | Stage::Placed,
            ) => {
                if self.cc.lease.as_ref().is_some_and(|l| l.expires_at > *now) {
                    return Err(Refused::LeaseLive);
                }
                expired_by = Some(*now);
                (
                    stage,
                    AttemptStep::to(
                        DialStatus::Dialing,
                        LeaseStep::Renew {
                            owner: (*owner).to_string(),
                            expires_at: *expires_at,
                        },
                    ),
                )
            }
            (Event::Renew { expires_at }, Stage::Claimed | Stage::Sent | Stage::Placed) => {
                let owner = self
                    .cc
                    .lease
                    .as_ref()
                    .map(|l| l.owner.clone())
                    .unwrap_or_default();
                (
                    stage,
                    AttemptStep::to(
                        DialStatus::Dialing,
                        LeaseStep::Renew {
                            owner,
                            expires_at: *expires_at,
                        },
                    ),
                )
            }
            _ => return Err(refuse()),
        };
        Ok(Next {
            guard: self.guard(stage, expired_by),
            step,
            stage: to,
            effect,
        })
    }

    /// The end of the attempt: the lease goes, and with it the mark of its dial.
    fn release(&self, status: DialStatus) -> AttemptStep {
        AttemptStep {
            dialled_at: Field::Clear,
            ..AttemptStep::to(status, LeaseStep::Release)
        }
    }

    fn after(
        &self,
        outcome: &str,
        attempts: i64,
        settings: &CampaignSettings,
        now: Timestamp,
    ) -> (DialStatus, Option<Timestamp>) {
        match after_call(outcome, attempts, settings, now) {
            AfterCall::Retry { at } => (DialStatus::Retry, Some(at)),
            AfterCall::Done { answered: true } => (DialStatus::Completed, None),
            AfterCall::Done { answered: false } => (DialStatus::Failed, None),
        }
    }
}

fn stage_of(status: DialStatus) -> Stage {
    match status {
        DialStatus::Pending | DialStatus::Retry => Stage::Waiting,
        DialStatus::Dialing => Stage::Placed,
        _ => Stage::Final,
    }
}

#[cfg(test)]
mod tests;
