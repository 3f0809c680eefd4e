//! The last step before a campaign's request to Twilio, for a contact that is due and
//! passed its checks: the account's call slot, then the status re-read that marks the
//! dial in flight in the store (the dial fence), and the mark's removal once Twilio
//! answered. A contact skipped or deferred never reaches it, so it takes no slot and
//! does not move `lastExecuted` (`callDelay`).
//!
//! The runner waits for its dial only up to the gate ([`DialGate::passed`]): what
//! follows (Twilio's answer, a timeout, settling a dial that may have been sent) runs
//! beside the campaign's next dials, so one slow answer never holds the campaign up.

use std::sync::{Arc, Mutex};

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
    /// Told once the dial is past the gate (opened or refused) or over before it.
    passed: tokio::sync::Notify,
    /// The runner's open marks, renewed with its lease while they stay open.
    marks: OpenMarks,
}

/// The dial ids whose marks a runner holds open, renewed together with its lease.
#[derive(Debug, Clone, Default)]
pub(crate) struct OpenMarks(Arc<Mutex<Vec<String>>>);

impl OpenMarks {
    fn set(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn list(&self) -> Vec<String> {
        self.set().clone()
    }

    fn add(&self, dial_id: &str) {
        self.set().push(dial_id.to_string());
    }

    fn remove(&self, dial_id: &str) {
        self.set().retain(|d| d != dial_id);
    }
}

impl DialGate {
    pub(super) fn new(
        state: &AppState,
        campaign: ObjectId,
        attempt_id: &str,
        marks: OpenMarks,
    ) -> Self {
        Self {
            state: state.clone(),
            campaign,
            dial_id: attempt_id.to_string(),
            passage: Mutex::new(Passage::Before),
            opened: Mutex::new(None),
            passed: tokio::sync::Notify::new(),
            marks,
        }
    }

    /// Waits until the dial is past the gate or over: the runner may then go on to the
    /// campaign's next contact, its call slot and `lastExecuted` taken by this one.
    pub(super) async fn passed(&self) {
        self.passed.notified().await;
    }

    /// The dial is over (whether or not it reached the gate).
    pub(super) fn finished(&self) {
        self.passed.notify_one();
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
        if opened.is_some() {
            self.marks.add(&self.dial_id);
            self.set(Passage::Open);
        } else {
            self.set(Passage::Refused);
        }
        *self.opened.lock().unwrap_or_else(|p| p.into_inner()) = opened.clone().map(|c| (c, at));
        self.passed.notify_one();
        Ok(opened)
    }

    /// The campaign as the gate opened it (runner lease renewed), and when.
    pub(super) fn opened(&self) -> Option<(Campaign, std::time::Instant)> {
        self.opened.lock().unwrap_or_else(|p| p.into_inner()).take()
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
        self.marks.remove(&self.dial_id);
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
        self.marks.remove(&self.dial_id);
        self.set(Passage::Closed);
    }
}
