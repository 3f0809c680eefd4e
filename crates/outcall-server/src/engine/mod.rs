//! The campaign engine: one per process. For each active campaign it holds, one runner
//! task claims due contacts (a lease with expiry and a unique attempt id, atomically in
//! the store), vets them (do-not-call, calling window), paces the ones it dials
//! (`callDelay`, the account's calls per second), caps live calls
//! (`maxConcurrentCalls`), retries, and re-reads the campaign's status right before
//! every request to Twilio, marking the dial in flight in the store (the dial fence that
//! pause and stop wait out, whichever process answers them). State lives in the store;
//! a restart (even `kill -9`) resumes without dialling an attempt twice.

mod attempt;
mod gate;
mod runner;
mod stopped;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use outcall_domain::ObjectId;
use outcall_domain::campaign::CampaignStatus;
use outcall_domain::dialing::seconds;
use outcall_store::CampaignFilter;
use outcall_store::{Store, StoreResult, Transition};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::AppState;
use crate::config::EngineSettings;

pub use attempt::on_call_ended;
pub(crate) use gate::{DialGate, OpenMarks};

/// The engine's settings and the few things its tasks share in this process.
#[derive(Debug)]
pub struct Engine {
    /// This process's name in leases: host and process id.
    pub owner: String,
    pub enabled: bool,
    pub attempt_lease: chrono::Duration,
    pub runner_lease: chrono::Duration,
    pub tick: Duration,
    call_interval: Duration,
    next_call_slot: tokio::sync::Mutex<Option<Instant>>,
    /// Attempt ids this process is dialling now (from the claim until the dial task is
    /// over): theirs to settle, never taken over by this process's own lease check.
    dialling: Mutex<HashSet<String>>,
    /// Wakes the engine and its runners (a campaign started, a call ended).
    wake: Notify,
}

/// How often the scheduler looks at the campaigns when nothing wakes it (a start, a
/// call's end and the API's changes do): it lists them by status, four queries a
/// look per process, which a short `ENGINE_TICK_MS` would repeat for nothing. The
/// runners keep the tick.
const SCHEDULE_EVERY: Duration = Duration::from_millis(500);

/// The least time between two looks of the scheduler, however often it is woken.
const SCHEDULE_GAP: Duration = Duration::from_millis(200);

/// How often pause and stop look again for dials in flight.
const FENCE_POLL: Duration = Duration::from_millis(20);

impl Engine {
    pub fn new(s: &EngineSettings) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "outcall".into());
        // `serve` refuses a bad CALLS_PER_SECOND at start; settings built in code may
        // still hold one, which must not panic here.
        let call_interval = Duration::try_from_secs_f64(1.0 / s.calls_per_second)
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1000));
        Self {
            owner: format!("{host}:{}:{}", std::process::id(), ObjectId::new()),
            enabled: s.campaign_engine,
            attempt_lease: seconds(s.attempt_lease_secs.max(1.0)),
            runner_lease: seconds(s.runner_lease_secs.max(1.0)),
            tick: Duration::from_millis(s.engine_tick_ms.max(10)),
            call_interval,
            next_call_slot: tokio::sync::Mutex::new(None),
            dialling: Mutex::new(HashSet::new()),
            wake: Notify::new(),
        }
    }

    /// Wakes every runner and the scheduler to look again now.
    pub fn wake(&self) {
        self.wake.notify_waiters();
    }

    async fn woken_or(&self, wait: Duration) {
        let _ = tokio::time::timeout(wait, self.wake.notified()).await;
    }

    fn dialling(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.dialling.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a task of this process is dialling the attempt now.
    fn is_dialling(&self, attempt_id: &str) -> bool {
        self.dialling().contains(attempt_id)
    }

    /// Holds the account's next call slot back for `wait` from now (Twilio unreachable,
    /// or a 429 with its `Retry-After`), whichever campaign dials next.
    async fn hold_calls(&self, wait: Duration) {
        let mut next = self.next_call_slot.lock().await;
        let until = Instant::now() + wait;
        *next = Some(next.map_or(until, |t| t.max(until)));
    }

    /// Waits for the account's next call slot (`CALLS_PER_SECOND`, across campaigns).
    /// Taken only for a due contact that passed its checks, right before its dial.
    async fn call_slot(&self) {
        let mut next = self.next_call_slot.lock().await;
        let now = Instant::now();
        let at = next.map_or(now, |t| t.max(now));
        *next = Some(at + self.call_interval);
        drop(next);
        // A slot that is due now is taken without a timer: Tokio rounds a deadline up
        // to its next millisecond tick, so even `sleep_until(now)` waits up to 1 ms,
        // which every dial paid under a high `CALLS_PER_SECOND`.
        if at > now {
            tokio::time::sleep_until(at).await;
        }
    }
}

/// Counts an attempt as dialled by this process while it lives (a dial task holds it,
/// so an aborted task lets go too).
pub(crate) struct Dialling {
    state: AppState,
    attempt_id: String,
}

impl Dialling {
    fn new(state: &AppState, attempt_id: &str) -> Self {
        state.engine.dialling().insert(attempt_id.to_string());
        Self {
            state: state.clone(),
            attempt_id: attempt_id.to_string(),
        }
    }
}

impl Drop for Dialling {
    fn drop(&mut self) {
        self.state.engine.dialling().remove(&self.attempt_id);
    }
}

/// Waits until no dial of the campaign is in flight in any process: each opened its
/// mark after re-reading the status, so once the status changed (pause, stop) and the
/// marks are gone, no call of the campaign can start. A mark of a process that died
/// expires after `RUNNER_LEASE_SECS`.
pub async fn await_dials(store: &dyn Store, campaign: ObjectId) -> StoreResult<()> {
    while let Some(c) = store.get_campaign(campaign).await?
        && c.dialling(outcall_domain::time::now())
    {
        tokio::time::sleep(FENCE_POLL).await;
    }
    Ok(())
}

/// Contacts were added to the campaign: if it completed meanwhile (its runner found
/// nothing left just before they came), it is reopened to dial them. Whether it was.
pub async fn reopen_if_completed(store: &dyn Store, campaign: ObjectId) -> StoreResult<bool> {
    let done = store
        .get_campaign(campaign)
        .await?
        .is_some_and(|c| c.status == CampaignStatus::Completed);
    if !done || !runner::has_contacts_to_dial(store, campaign).await? {
        return Ok(false);
    }
    let reopened = matches!(
        store
            .transition_campaign(campaign, outcall_domain::CampaignAction::Reopen)
            .await?,
        Transition::Applied(_)
    );
    if reopened {
        tracing::info!(campaign = %campaign, "contacts added as the campaign completed: reopened");
    }
    Ok(reopened)
}

/// Starts the engine's scheduler: it starts scheduled campaigns (`nextExecution`) and
/// runs a runner for every active campaign this process can hold.
pub fn spawn(state: AppState) -> Option<JoinHandle<()>> {
    if !state.engine.enabled || state.telephony.is_none() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut runners: HashMap<ObjectId, JoinHandle<()>> = HashMap::new();
        let mut stopped = stopped::StoppedStats::default();
        loop {
            let pass = Instant::now();
            runners.retain(|_, r| !r.is_finished());
            // Draining: no runner starts (and running ones stop before their next dial).
            if !state.drain.is_draining()
                && let Err(e) = schedule(&state, &mut runners, &mut stopped).await
            {
                tracing::warn!("campaign engine: {e}");
            }
            state
                .engine
                .woken_or(state.engine.tick.max(SCHEDULE_EVERY))
                .await;
            // Woken by every call's end: at most one look per `SCHEDULE_GAP` still.
            tokio::time::sleep_until(pass + SCHEDULE_GAP).await;
        }
    }))
}

async fn schedule(
    state: &AppState,
    runners: &mut HashMap<ObjectId, JoinHandle<()>>,
    stopped: &mut stopped::StoppedStats,
) -> outcall_store::StoreResult<()> {
    let now = outcall_domain::time::now();
    for c in campaigns_with(state, CampaignStatus::Draft).await? {
        if c.next_execution.is_some_and(|t| t <= now)
            && let outcall_store::Transition::Applied(c) = state
                .store
                .transition_campaign(c.id, outcall_domain::CampaignAction::Start)
                .await?
        {
            tracing::info!(campaign = %c.id, "scheduled campaign started");
            state.bus.campaign("status_update", &c.id.to_hex(), &*c);
        }
    }
    // A paused or stopped campaign has no runner, but a dial of it may still be in
    // flight when its process dies: its expired attempts are settled here, so none
    // stays `dialing` for good (a stopped one's contact then ends cancelled).
    for status in [CampaignStatus::Paused, CampaignStatus::Cancelled] {
        for c in campaigns_with(state, status).await? {
            attempt::check_expired(state, &c).await?;
            if status == CampaignStatus::Cancelled {
                stopped.check(state, &c).await?;
            }
        }
    }
    for c in campaigns_with(state, CampaignStatus::Active).await? {
        if runners.contains_key(&c.id) || !c.runnable_by(&state.engine.owner, now) {
            continue;
        }
        let (state, id) = (state.clone(), c.id);
        runners.insert(id, tokio::spawn(runner::run(state, id)));
    }
    Ok(())
}

async fn campaigns_with(
    state: &AppState,
    status: CampaignStatus,
) -> outcall_store::StoreResult<Vec<outcall_domain::Campaign>> {
    let mut all = Vec::new();
    for n in 1.. {
        let page = outcall_domain::PageRequest::new(
            Some(n),
            Some(100),
            outcall_domain::page::Sort::asc("createdAt"),
        )
        .map_err(|e| outcall_store::StoreError::Internal(e.to_string()))?;
        let filter = CampaignFilter {
            status: Some(status),
            ..Default::default()
        };
        let got = state.store.list_campaigns(&filter, &page).await?;
        let done = got.items.len() < 100;
        all.extend(got.items);
        if done {
            break;
        }
    }
    Ok(all)
}
