//! The campaign engine: one per process. For each active campaign it holds, one runner
//! task claims due contacts (a lease with expiry and a unique attempt id, atomically in
//! the store), paces them (`callDelay`, the account's calls per second), caps live
//! calls (`maxConcurrentCalls`), honours calling windows, do-not-call and retries, and
//! re-reads the campaign's status before every dial. State lives in the store; a
//! restart (even `kill -9`) resumes without dialling an attempt twice.

mod attempt;
mod runner;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use outcall_domain::ObjectId;
use outcall_domain::campaign::CampaignStatus;
use outcall_domain::dialing::seconds;
use outcall_store::CampaignFilter;
use tokio::sync::{Notify, RwLock};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::AppState;
use crate::config::EngineSettings;

pub use attempt::on_call_ended;

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
    /// Wakes the engine and its runners (a campaign started, a call ended).
    wake: Notify,
    /// Per-campaign dial gates: a runner holds one shared from its status check until
    /// its dial request is answered; pause and stop take it exclusively before they
    /// answer, so no call of this process starts after they answered.
    gates: Mutex<HashMap<ObjectId, Arc<RwLock<()>>>>,
}

impl Engine {
    pub fn new(s: &EngineSettings) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "outcall".into());
        let cps = if s.calls_per_second.is_finite() && s.calls_per_second > 0.0 {
            s.calls_per_second
        } else {
            1.0
        };
        Self {
            owner: format!("{host}:{}:{}", std::process::id(), ObjectId::new()),
            enabled: s.campaign_engine,
            attempt_lease: seconds(s.attempt_lease_secs.max(1.0)),
            runner_lease: seconds(s.runner_lease_secs.max(1.0)),
            tick: Duration::from_millis(s.engine_tick_ms.max(10)),
            call_interval: Duration::from_secs_f64(1.0 / cps),
            next_call_slot: tokio::sync::Mutex::new(None),
            wake: Notify::new(),
            gates: Mutex::new(HashMap::new()),
        }
    }

    /// Wakes every runner and the scheduler to look again now.
    pub fn wake(&self) {
        self.wake.notify_waiters();
    }

    async fn woken_or(&self, wait: Duration) {
        let _ = tokio::time::timeout(wait, self.wake.notified()).await;
    }

    pub fn gate(&self, campaign: ObjectId) -> Arc<RwLock<()>> {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        gates.entry(campaign).or_default().clone()
    }

    /// Waits until every dial of the campaign that passed its status check in this
    /// process has been answered by Twilio.
    pub async fn barrier(&self, campaign: ObjectId) {
        let gate = self.gate(campaign);
        drop(gate.write().await);
        self.wake();
    }

    /// Waits for the account's next call slot (`CALLS_PER_SECOND`, across campaigns).
    async fn call_slot(&self) {
        let mut next = self.next_call_slot.lock().await;
        let now = Instant::now();
        let at = next.map_or(now, |t| t.max(now));
        *next = Some(at + self.call_interval);
        drop(next);
        tokio::time::sleep_until(at).await;
    }
}

/// Starts the engine's scheduler: it starts scheduled campaigns (`nextExecution`) and
/// runs a runner for every active campaign this process can hold.
pub fn spawn(state: AppState) -> Option<JoinHandle<()>> {
    if !state.engine.enabled || state.telephony.is_none() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut runners: HashMap<ObjectId, JoinHandle<()>> = HashMap::new();
        loop {
            runners.retain(|_, r| !r.is_finished());
            // Draining: no runner starts (and running ones stop before their next dial).
            if !state.drain.is_draining()
                && let Err(e) = schedule(&state, &mut runners).await
            {
                tracing::warn!("campaign engine: {e}");
            }
            state.engine.woken_or(state.engine.tick).await;
        }
    }))
}

async fn schedule(
    state: &AppState,
    runners: &mut HashMap<ObjectId, JoinHandle<()>>,
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
