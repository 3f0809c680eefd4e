//! Graceful shutdown of a process with live calls, and the start-up check that
//! settles calls a crash left open.
//!
//! Three phases: *serving*; *draining* (the first SIGTERM: no new call is placed, by
//! the API or the campaign engine, while live calls go on for `SHUTDOWN_GRACE_SECS`);
//! *ending* (the grace is over, or a second SIGTERM came: every live call is hung up
//! through Twilio with `terminatedBy: "system"`, `terminationReason: "shutdown"`).
//! The HTTP server keeps serving until the calls it ended are recorded as ended, so
//! Twilio's last status callbacks still find it.
//!
//! This module decides when; the media bridge's sessions watch [`Drain::ending`] and
//! end their own call, so the closing of a call stays in one place.

use std::sync::Arc;
use std::time::Duration;

use outcall_domain::call::{CallPatch, CallStatus, StatusUpdate, TerminatedBy};
use outcall_domain::page::Sort;
use outcall_store::CallFilter;
use tokio::sync::watch;

use crate::AppState;

/// `terminationReason` of calls ended by a shutdown.
pub const SHUTDOWN_REASON: &str = "shutdown";
/// `terminationReason` of calls found ended at Twilio after outcall stopped mid-call.
pub const RECONCILED_REASON: &str = "outcall stopped during the call; settled from Twilio";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Serving,
    Draining,
    Ending,
}

/// The process's shutdown phase and its count of live calls.
#[derive(Debug)]
pub struct Drain {
    phase: watch::Sender<Phase>,
    live: watch::Sender<usize>,
}

impl Default for Drain {
    fn default() -> Self {
        Self {
            phase: watch::Sender::new(Phase::Serving),
            live: watch::Sender::new(0),
        }
    }
}

/// Held by a media session from its handshake to the end of its clean-up.
#[derive(Debug)]
pub struct LiveCall(Arc<Drain>);

impl Drop for LiveCall {
    fn drop(&mut self) {
        self.0.live.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Drain {
    /// Whether new calls are refused (draining or ending).
    pub fn is_draining(&self) -> bool {
        *self.phase.borrow() != Phase::Serving
    }

    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// The first SIGTERM: stop placing calls.
    pub fn begin(&self) {
        self.phase.send_if_modified(|p| {
            let was = *p == Phase::Serving;
            if was {
                *p = Phase::Draining;
            }
            was
        });
    }

    /// The grace is over: every live call ends now.
    pub fn end_calls(&self) {
        self.phase.send_replace(Phase::Ending);
    }

    /// Resolves once live calls must end.
    pub async fn ending(&self) {
        let mut rx = self.phase.subscribe();
        let _ = rx.wait_for(|p| *p == Phase::Ending).await;
    }

    pub fn live_call(self: &Arc<Self>) -> LiveCall {
        self.live.send_modify(|n| *n += 1);
        LiveCall(self.clone())
    }

    pub fn live_calls(&self) -> usize {
        *self.live.borrow()
    }

    /// Resolves when no call is live in this process.
    pub async fn no_live_calls(&self) {
        let mut rx = self.live.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

/// How long the calls ended by the shutdown may take to be recorded as ended.
const SETTLE_WAIT: Duration = Duration::from_secs(10);

/// The shutdown after the first signal: drain, end what is left after `grace` (or at
/// `again`, a second signal), and wait until those calls are recorded as ended.
pub async fn run(state: AppState, grace: Duration, again: impl Future<Output = ()>) {
    let drain = state.drain.clone();
    drain.begin();
    let live = drain.live_calls();
    tracing::info!(
        live,
        grace_secs = grace.as_secs(),
        "shutting down: no new calls; live calls may finish"
    );
    let mut again = std::pin::pin!(again);
    tokio::select! {
        () = drain.no_live_calls() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!(live = drain.live_calls(), "shutdown grace over: ending the remaining calls");
        }
        () = &mut again => {
            tracing::warn!(live = drain.live_calls(), "second signal: ending the remaining calls now");
        }
    }
    let ringing = state.bridge.unanswered_calls();
    drain.end_calls();
    for sid in &ringing {
        end_unanswered(&state, sid).await;
    }
    let _ = tokio::time::timeout(SETTLE_WAIT, drain.no_live_calls()).await;
    settle_ended(&state).await;
}

/// Cancels a call this process placed that has not been answered yet.
async fn end_unanswered(state: &AppState, call_sid: &str) {
    state.bridge.call_ended(call_sid);
    // Its warmer may outlive a call whose end was already recorded.
    if let Ok(Some(call)) = state.store.get_call(call_sid).await
        && call.status.is_terminal()
    {
        return;
    }
    let patch = CallPatch {
        terminated_by: Some(TerminatedBy::System),
        termination_reason: Some(SHUTDOWN_REASON.into()),
        ..Default::default()
    };
    if let Err(e) = state.store.update_call(call_sid, &patch).await {
        tracing::warn!(%call_sid, error = %e, "could not record the shutdown of a ringing call");
    }
    crate::bridge::session::hang_up_if_live(state, call_sid).await;
    state.bridge.note_shutdown_ended(call_sid);
}

/// Waits until every call ended by the shutdown has a terminal status (Twilio's
/// callback), and asks Twilio about the ones whose callback does not come in time.
async fn settle_ended(state: &AppState) {
    let sids = state.bridge.take_shutdown_ended();
    if sids.is_empty() {
        return;
    }
    let deadline = tokio::time::Instant::now() + SETTLE_WAIT;
    let mut open = sids;
    while !open.is_empty() && tokio::time::Instant::now() < deadline {
        let mut still = Vec::new();
        for sid in open {
            match state.store.get_call(&sid).await {
                Ok(Some(c)) if c.status.is_terminal() => {}
                _ => still.push(sid),
            }
        }
        open = still;
        if !open.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for sid in &open {
        settle_from_twilio(state, sid, Some(SHUTDOWN_REASON)).await;
    }
}

/// Start-up: calls left queued, ringing or in progress (by a crash, or a process
/// killed before its drain finished) are looked up at Twilio; the ones that ended
/// there are recorded as ended, so none stays live forever. Calls still live at
/// Twilio are left to their status callbacks (another process may be serving them).
pub async fn reconcile(state: &AppState) {
    let mut checked = 0;
    let mut settled = 0;
    for status in [
        CallStatus::Queued,
        CallStatus::Initiated,
        CallStatus::Ringing,
        CallStatus::InProgress,
    ] {
        // Only an answered call was ended by someone; a call that never connected
        // just gets its final status.
        let reason = (status == CallStatus::InProgress).then_some(RECONCILED_REASON);
        for sid in calls_with(state, status).await {
            checked += 1;
            if settle_from_twilio(state, &sid, reason).await {
                settled += 1;
            }
        }
    }
    if checked > 0 {
        tracing::info!(checked, settled, "start-up: open calls checked with Twilio");
    }
}

async fn calls_with(state: &AppState, status: CallStatus) -> Vec<String> {
    let mut sids = Vec::new();
    for n in 1.. {
        let Ok(page) = outcall_domain::PageRequest::new(Some(n), Some(100), Sort::asc("createdAt"))
        else {
            break;
        };
        let filter = CallFilter {
            status: Some(status),
            ..Default::default()
        };
        match state.store.list_calls(&filter, &page).await {
            Ok(got) => {
                let done = got.items.len() < 100;
                sids.extend(got.items.into_iter().map(|c| c.call_sid));
                if done {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "start-up: could not list open calls");
                break;
            }
        }
    }
    sids
}

/// Fetches the call from Twilio; if it ended there, records its final status (and,
/// with a `reason` and unless already known, that the system ended it). Returns
/// whether it was settled.
async fn settle_from_twilio(state: &AppState, call_sid: &str, reason: Option<&str>) -> bool {
    let Some(tel) = state.telephony.as_ref() else {
        return false;
    };
    let resource =
        match outcall_twilio::with_retry(&tel.retry, || tel.client.fetch_call(call_sid)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(%call_sid, error = %e, "could not fetch the call from Twilio");
                return false;
            }
        };
    let Ok(status) = resource.status.as_str().parse::<CallStatus>() else {
        return false;
    };
    if !status.is_terminal() {
        return false;
    }
    let update = StatusUpdate {
        status,
        timestamp: resource.ended_at(),
        duration: resource.duration_secs().map(|d| d as i64),
        ..StatusUpdate::default()
    };
    if let Some(reason) = reason {
        let patch = CallPatch {
            terminated_by: Some(TerminatedBy::System),
            termination_reason: Some(reason.into()),
            ..Default::default()
        };
        if let Err(e) = state.store.update_call(call_sid, &patch).await {
            tracing::warn!(%call_sid, error = %e, "could not record who ended the call");
        }
    }
    match state.store.update_call_status(call_sid, &update).await {
        Ok(Some((call, change))) => {
            if change.applied() {
                crate::routes::calls::publish_status(state, &call);
                if let Err(e) = crate::engine::on_call_ended(state, &call).await {
                    tracing::warn!(%call_sid, "campaign attempt not settled yet: {e}");
                }
            }
            true
        }
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(%call_sid, error = %e, "could not record the call's end");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn phases_and_live_calls() {
        let drain = Arc::new(Drain::default());
        assert!(!drain.is_draining());
        let a = drain.live_call();
        let b = drain.live_call();
        assert_eq!(drain.live_calls(), 2);
        drain.begin();
        assert!(drain.is_draining());
        assert_eq!(drain.phase(), Phase::Draining);
        // Calls are not told to end while draining.
        let ending = tokio::time::timeout(Duration::from_secs(60), drain.ending()).await;
        assert!(ending.is_err());
        drop(a);
        let waiting = tokio::spawn({
            let drain = drain.clone();
            async move { drain.no_live_calls().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "one call still live");
        drop(b);
        waiting.await.expect("no live calls");
        drain.end_calls();
        drain.ending().await;
        // begin after end does not go back.
        drain.begin();
        assert_eq!(drain.phase(), Phase::Ending);
    }
}
