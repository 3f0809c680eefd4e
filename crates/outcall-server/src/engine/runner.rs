//! One campaign's runner: while this process holds the campaign's runner lease, it
//! checks on expired attempts, then claims the next due contact when a slot is free and
//! `callDelay` allows, and hands it to the attempt (vetted, then dialled through the
//! [`DialGate`]), a task renewing the lease and its dials' marks meanwhile; until a
//! read of the
//! campaign's contacts finds none left (the campaign completes) or the campaign is no
//! longer active.

use std::sync::Arc;
use std::time::Duration;

use outcall_domain::campaign::Campaign;
use outcall_domain::campaign_contact::{Claim, DialCounts, DialStatus};
use outcall_domain::dialing::next_start;
use outcall_domain::time::{Timestamp, now};
use outcall_domain::{CampaignAction, ObjectId, PageRequest};
use outcall_store::{Store, StoreResult, Transition};
use tokio::task::JoinSet;

use super::{DialGate, OpenMarks, attempt};
use crate::AppState;

/// What the runner does after one look at its campaign.
enum Next {
    /// Look again at once (something was dialled or changed), with the campaign as its
    /// dial's gate left it, if it opened.
    Again(Option<Box<Held>>),
    /// Wait for a wake-up, at most this long.
    Wait(Duration),
    /// The campaign is not ours to run any more.
    Stop,
}

/// The campaign as the last compare-and-set that renewed this process's runner lease
/// returned it (a dial's gate), and when that was.
struct Held {
    campaign: Campaign,
    at: std::time::Instant,
}

pub(super) async fn run(state: AppState, id: ObjectId) {
    tracing::info!(campaign = %id, owner = %state.engine.owner, "campaign runner started");
    let mut held = None;
    // Dials past their gate, waiting for Twilio's answer or settling: dropped (the
    // runner aborted) they are aborted too.
    let mut dials = JoinSet::new();
    let marks = OpenMarks::default();
    // Dropped with the runner (aborted or done), it stops renewing.
    let mut renewer = JoinSet::new();
    renewer.spawn(renew(state.clone(), id, marks.clone()));
    loop {
        // A dial that failed on the store: a tick's pause, as a failed step gets.
        if reap(&mut dials).is_err() {
            state.engine.woken_or(state.engine.tick).await;
        }
        match step(&state, id, held.take(), &mut dials, &marks).await {
            Ok(Next::Again(h)) => held = h,
            Ok(Next::Wait(d)) => state.engine.woken_or(d).await,
            Ok(Next::Stop) => break,
            Err(e) => {
                tracing::warn!(campaign = %id, "campaign runner: {e}");
                state.engine.woken_or(state.engine.tick).await;
            }
        }
    }
    // The lease is let go only once no dial of this runner can still reach Twilio.
    while let Some(done) = dials.join_next().await {
        log_dial_ok(done);
    }
    renewer.abort_all();
    if let Err(e) = state
        .store
        .release_campaign_runner(id, &state.engine.owner)
        .await
    {
        tracing::warn!(campaign = %id, "could not release the campaign: {e}");
    }
    tracing::info!(campaign = %id, "campaign runner stopped");
}

/// Collects the dials that are over; `Err` if one failed.
fn reap(dials: &mut JoinSet<(ObjectId, StoreResult<()>)>) -> Result<(), ()> {
    let mut ok = Ok(());
    while let Some(done) = dials.try_join_next() {
        if !log_dial_ok(done) {
            ok = Err(());
        }
    }
    ok
}

/// Logs a dial that failed; whether it went well.
fn log_dial_ok(done: Result<(ObjectId, StoreResult<()>), tokio::task::JoinError>) -> bool {
    match done {
        Ok((_, Ok(()))) => true,
        Ok((campaign, Err(e))) => {
            tracing::warn!(campaign = %campaign, "campaign dial: {e}");
            false
        }
        Err(e) if e.is_cancelled() => true,
        Err(e) => {
            tracing::error!("campaign dial task failed: {e}");
            false
        }
    }
}

fn until(t: Timestamp, cap: Duration) -> Duration {
    (t - now()).to_std().unwrap_or(Duration::ZERO).min(cap)
}

async fn hold(state: &AppState, id: ObjectId) -> StoreResult<Option<Campaign>> {
    let t = now();
    let engine = &state.engine;
    state
        .store
        .hold_campaign_runner(id, &engine.owner, t, t + engine.runner_lease, None)
        .await
}

/// The campaign with this process's runner lease held: the one the last dial's gate
/// renewed it with, while that renewal is fresh (dials back to back: a third of the
/// lease, the cadence `renew` keeps), otherwise a new hold. Every dial's gate
/// re-reads the status and the settings anyway, right before the request.
async fn held(
    state: &AppState,
    id: ObjectId,
    last: Option<Box<Held>>,
) -> StoreResult<Option<Campaign>> {
    let fresh = (state.engine.runner_lease / 3).to_std().unwrap_or_default();
    match last {
        Some(h) if h.at.elapsed() < fresh => Ok(Some(h.campaign)),
        _ => hold(state, id).await,
    }
}

/// The campaign's dial counts, its expired attempts checked first when there are any
/// (taken over, their lease renewed, they count as live again before the cap is
/// looked at).
async fn counts(state: &AppState, campaign: &Campaign) -> StoreResult<DialCounts> {
    let counts = state
        .store
        .count_campaign_contacts(campaign.id, now())
        .await?;
    if counts.dialing <= counts.live {
        return Ok(counts);
    }
    attempt::check_expired(state, campaign).await?;
    state
        .store
        .count_campaign_contacts(campaign.id, now())
        .await
}

async fn step(
    state: &AppState,
    id: ObjectId,
    last: Option<Box<Held>>,
    dials: &mut JoinSet<(ObjectId, StoreResult<()>)>,
    marks: &OpenMarks,
) -> StoreResult<Next> {
    let engine = &state.engine;
    let Some(mut campaign) = held(state, id, last).await? else {
        return Ok(Next::Stop);
    };
    let counts = counts(state, &campaign).await?;
    if counts.is_done() {
        // Completing reads the enrolled total: from a campaign held just now.
        let Some(c) = hold(state, id).await? else {
            return Ok(Next::Stop);
        };
        campaign = c;
        return complete(state, &campaign).await;
    }
    if counts.live >= campaign.settings.max_concurrent_calls.max(1) {
        return Ok(Next::Wait(engine.tick));
    }
    let start_at = next_start(campaign.last_executed, campaign.settings.call_delay, now());
    if start_at > now() {
        return Ok(Next::Wait(until(start_at, engine.tick)));
    }
    // A draining process places no new call (the media bridge's shutdown hook).
    if state.drain.is_draining() {
        return Ok(Next::Stop);
    }
    let t = now();
    let claim = Claim {
        owner: engine.owner.clone(),
        attempt_id: ObjectId::new().to_hex(),
        now: t,
        expires_at: t + engine.attempt_lease,
    };
    let Some(cc) = state.store.claim_campaign_contact(id, &claim).await? else {
        let wait = counts
            .next_due
            .map_or(engine.tick, |d| until(d, engine.tick));
        return Ok(Next::Wait(wait.max(Duration::from_millis(10))));
    };
    // The attempt vets the contact, and only a contact it will dial passes the gate
    // (slot, status re-read, in-flight mark) right before the request to Twilio. The
    // runner waits for it up to the gate, so dials keep their order, their slots and
    // `callDelay`; Twilio's answer (or its timeout, and settling) is waited for beside
    // the campaign's next dials.
    let gate = Arc::new(DialGate::new(state, id, &claim.attempt_id, marks.clone()));
    let dialling = super::Dialling::new(state, &claim.attempt_id);
    let task = {
        let (state, gate, campaign) = (state.clone(), gate.clone(), campaign.clone());
        let attempt_id = claim.attempt_id.clone();
        async move {
            let _dialling = dialling;
            let dialled = attempt::dial(&state, &campaign, cc, &attempt_id, &gate).await;
            gate.close().await;
            gate.finished();
            (id, dialled)
        }
    };
    dials.spawn(task);
    gate.passed().await;
    if gate.refused() {
        return Ok(Next::Stop);
    }
    Ok(Next::Again(
        gate.opened()
            .map(|(campaign, at)| Box::new(Held { campaign, at })),
    ))
}

/// Renews this process's runner lease and the marks of the runner's dials in flight,
/// in one write every third of the lease, for as long as the runner lives: a dial may
/// wait for a call slot or for Twilio (minutes, with `Retry-After`), and no other
/// process may run the campaign meanwhile, nor may a pause answer while a request can
/// still reach Twilio.
async fn renew(state: AppState, id: ObjectId, marks: OpenMarks) {
    let engine = &state.engine;
    let every = (engine.runner_lease / 3)
        .to_std()
        .unwrap_or(Duration::from_secs(1))
        .max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        let until = now() + engine.runner_lease;
        let dials = marks.list();
        match state
            .store
            .renew_campaign_runner(id, &engine.owner, &dials, until)
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(campaign = %id, "lost the campaign's runner lease"),
            Err(e) => tracing::warn!(campaign = %id, "could not renew the runner lease: {e}"),
        }
    }
}

/// The counts say nothing is left: the campaign completes if a read of its contacts
/// agrees (never on the counts alone: a query that silently misses documents reads
/// zero), then looks again, reopening it if contacts came in meanwhile.
async fn complete(state: &AppState, campaign: &Campaign) -> StoreResult<Next> {
    let id = campaign.id;
    let store = state.store.as_ref();
    if has_contacts_to_dial(store, id).await? {
        return Ok(Next::Again(None));
    }
    let found = contacts_found(store, id).await?;
    if found < campaign.stats.total_contacts {
        tracing::warn!(
            campaign = %id,
            enrolled = campaign.stats.total_contacts,
            found,
            "the campaign's contacts read fewer than it enrolled; not completing it"
        );
        return Ok(Next::Wait(state.engine.tick));
    }
    // No call is live now: recount the stats from the stored calls (an increment
    // lost to a crash between an attempt's end and its count comes back), before
    // the status says completed, so whoever sees `completed` sees exact stats.
    store.recount_campaign_calls(id).await?;
    if let Transition::Applied(c) = store
        .transition_campaign(id, CampaignAction::Complete)
        .await?
    {
        tracing::info!(campaign = %id, "campaign completed");
        state.bus.campaign("status_update", &id.to_hex(), &*c);
    }
    // Contacts added between the read above and the status change.
    if super::reopen_if_completed(store, id).await? {
        if let Some(c) = store.get_campaign(id).await? {
            state.bus.campaign("status_update", &id.to_hex(), &c);
        }
        return Ok(Next::Again(None));
    }
    Ok(Next::Stop)
}

fn first_of(limit: i64) -> StoreResult<PageRequest> {
    PageRequest::new(
        Some(1),
        Some(limit),
        outcall_domain::page::Sort::asc("createdAt"),
    )
    .map_err(|e| outcall_store::StoreError::Internal(e.to_string()))
}

/// Whether a read of the campaign's contacts finds one waiting or being dialled.
pub(super) async fn has_contacts_to_dial(store: &dyn Store, id: ObjectId) -> StoreResult<bool> {
    let one = first_of(1)?;
    for status in [DialStatus::Pending, DialStatus::Retry, DialStatus::Dialing] {
        let got = store.list_campaign_contacts(id, Some(status), &one).await?;
        if !got.items.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// How many of the campaign's contacts a read finds.
async fn contacts_found(store: &dyn Store, id: ObjectId) -> StoreResult<i64> {
    let got = store
        .list_campaign_contacts(id, None, &first_of(1)?)
        .await?;
    let total = i64::try_from(got.total).unwrap_or(i64::MAX);
    Ok(total.max(got.items.len() as i64))
}
