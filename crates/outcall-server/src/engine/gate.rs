//! The last step before a campaign's request to Twilio, for a contact that is due and
//! passed its checks: the account's call slot, then the status re-read that marks the
//! dial in flight in the store (the dial fence), and the mark's removal once Twilio
//! answered. A contact skipped or deferred never reaches it, so it takes no slot and
//! does not move `lastExecuted` (`callDelay`).

use std::sync::Mutex;

use outcall_domain::ObjectId;
use outcall_domain::campaign::{Campaign, StatsDelta};
use outcall_domain::time::now;
use outcall_store::StoreResult;

use crate::AppState;

/// Where one dial stands at the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Passage {
    /// Not at the gate yet (still being vetted), or turned back by its checks.
    Before,
    /// Marked in flight: the request to Twilio may go.
    Open,
    /// The campaign was no longer active (or no longer this process's) at the re-read.
    Refused,
    /// The mark is gone: the request was answered.
    Closed,
}

/// One claimed attempt's passage through the gate; the attempt id names its mark.
pub(crate) struct DialGate {
    state: AppState,
    campaign: ObjectId,
    dial_id: String,
    passage: Mutex<Passage>,
    /// The campaign as the gate's compare-and-set left it, and when: the runner's
    /// lease was renewed then.
    opened: Mutex<Option<(Campaign, std::time::Instant)>>,
}

impl DialGate {
    pub(super) fn new(state: &AppState, campaign: ObjectId, attempt_id: &str) -> Self {
        Self {
            state: state.clone(),
            campaign,
            dial_id: attempt_id.to_string(),
            passage: Mutex::new(Passage::Before),
            opened: Mutex::new(None),
        }
    }

    fn passage(&self) -> Passage {
        *self.passage.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, p: Passage) {
        *self.passage.lock().unwrap_or_else(|e| e.into_inner()) = p;
    }

    /// Call right before the request to Twilio: waits for the account's call slot, then
    /// re-reads the campaign's status and marks this dial in flight, in one
    /// compare-and-set. The campaign as it stands, or `None` when it was paused,
    /// stopped or taken over meanwhile: then the attempt must not be sent.
    pub(crate) async fn open(&self) -> StoreResult<Option<Campaign>> {
        let engine = &self.state.engine;
        engine.call_slot().await;
        // A draining process places no new call (SIGTERM): the dial goes back untouched.
        if self.state.drain.is_draining() {
            self.set(Passage::Refused);
            return Ok(None);
        }
        let t = now();
        let at = std::time::Instant::now();
        let opened = self
            .state
            .store
            .open_campaign_dial(
                self.campaign,
                &engine.owner,
                &self.dial_id,
                t,
                t + engine.runner_lease,
            )
            .await?;
        self.set(if opened.is_some() {
            Passage::Open
        } else {
            Passage::Refused
        });
        *self.opened.lock().unwrap_or_else(|p| p.into_inner()) = opened.clone().map(|c| (c, at));
        Ok(opened)
    }

    /// The campaign as the gate opened it (runner lease renewed), and when.
    pub(super) fn opened(&self) -> Option<(Campaign, std::time::Instant)> {
        self.opened.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// The mark to renew while the dial waits, if it is in flight.
    pub(super) fn in_flight(&self) -> Option<&str> {
        (self.passage() == Passage::Open).then_some(self.dial_id.as_str())
    }

    /// Whether the status re-read turned the dial back.
    pub(super) fn refused(&self) -> bool {
        self.passage() == Passage::Refused
    }

    /// Removes the mark of a dial that placed its call and counts the call in the
    /// campaign's stats, in one write. The campaign as written (`None` if it is gone);
    /// a dial not in flight only counts.
    pub(super) async fn close_counting(&self, delta: &StatsDelta) -> StoreResult<Option<Campaign>> {
        if self.passage() != Passage::Open {
            return self
                .state
                .store
                .add_campaign_stats(self.campaign, delta)
                .await;
        }
        let written = self
            .state
            .store
            .close_campaign_dial_counting(self.campaign, &self.dial_id, delta)
            .await?;
        self.set(Passage::Closed);
        Ok(written)
    }

    /// Removes the mark once the request was answered (or failed). A mark that cannot
    /// be removed expires on its own after `RUNNER_LEASE_SECS`.
    pub(super) async fn close(&self) {
        if self.passage() != Passage::Open {
            return;
        }
        if let Err(e) = self
            .state
            .store
            .close_campaign_dial(self.campaign, &self.dial_id)
            .await
        {
            tracing::warn!(campaign = %self.campaign, "could not clear a dial's in-flight mark: {e}");
        }
        self.set(Passage::Closed);
    }
}
