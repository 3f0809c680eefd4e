//! One campaign's runner: while this process holds the campaign's runner lease, it
//! checks on expired attempts, then dials the next due contact when a slot is free
//! and the pacing allows, until nothing is left (the campaign completes) or the
//! campaign is no longer active.

use std::time::Duration;

use outcall_domain::campaign::Campaign;
use outcall_domain::campaign_contact::{AttemptGuard, AttemptStep, Claim, DialStatus, LeaseStep};
use outcall_domain::dialing::next_start;
use outcall_domain::time::{Timestamp, now};
use outcall_domain::{CampaignAction, ObjectId};
use outcall_store::{StoreResult, Transition};

use super::attempt;
use crate::AppState;

/// What the runner does after one look at its campaign.
enum Next {
    /// Look again at once (something was dialled or changed).
    Again,
    /// Wait for a wake-up, at most this long.
    Wait(Duration),
    /// The campaign is not ours to run any more.
    Stop,
}

pub(super) async fn run(state: AppState, id: ObjectId) {
    tracing::info!(campaign = %id, owner = %state.engine.owner, "campaign runner started");
    loop {
        match step(&state, id).await {
            Ok(Next::Again) => {}
            Ok(Next::Wait(d)) => state.engine.woken_or(d).await,
            Ok(Next::Stop) => break,
            Err(e) => {
                tracing::warn!(campaign = %id, "campaign runner: {e}");
                state.engine.woken_or(state.engine.tick).await;
            }
        }
    }
    if let Err(e) = state
        .store
        .release_campaign_runner(id, &state.engine.owner)
        .await
    {
        tracing::warn!(campaign = %id, "could not release the campaign: {e}");
    }
    tracing::info!(campaign = %id, "campaign runner stopped");
}

fn until(t: Timestamp, cap: Duration) -> Duration {
    (t - now()).to_std().unwrap_or(Duration::ZERO).min(cap)
}

async fn hold(
    state: &AppState,
    id: ObjectId,
    dialled: Option<Timestamp>,
) -> StoreResult<Option<Campaign>> {
    let t = now();
    let engine = &state.engine;
    state
        .store
        .hold_campaign_runner(id, &engine.owner, t, t + engine.runner_lease, dialled)
        .await
}

async fn step(state: &AppState, id: ObjectId) -> StoreResult<Next> {
    let engine = &state.engine;
    let Some(campaign) = hold(state, id, None).await? else {
        return Ok(Next::Stop);
    };
    attempt::check_expired(state, &campaign).await?;
    let counts = state.store.count_campaign_contacts(id, now()).await?;
    if counts.is_done() {
        // No call is live now: recount the stats from the stored calls (an increment
        // lost to a crash between an attempt's end and its count comes back), before
        // the status says completed, so whoever sees `completed` sees exact stats.
        state.store.recount_campaign_calls(id).await?;
        if let Transition::Applied(c) = state
            .store
            .transition_campaign(id, CampaignAction::Complete)
            .await?
        {
            tracing::info!(campaign = %id, "campaign completed");
            state.bus.campaign("status_update", &id.to_hex(), &*c);
        }
        return Ok(Next::Stop);
    }
    if counts.live >= campaign.settings.max_concurrent_calls.max(1) {
        return Ok(Next::Wait(engine.tick));
    }
    let start_at = next_start(campaign.last_executed, campaign.settings.call_delay, now());
    if start_at > now() {
        return Ok(Next::Wait(until(start_at, engine.tick)));
    }
    engine.call_slot().await;
    // A draining process places no new call (the media bridge's shutdown hook).
    if state.drain.is_draining() {
        return Ok(Next::Stop);
    }

    // From the status check to Twilio's answer, pause and stop wait for this dial.
    let gate = engine.gate(id);
    let _open = gate.read().await;
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
    // The status re-read right before the dial: a campaign paused or stopped since
    // the claim gets its contact back untouched.
    let Some(campaign) = hold(state, id, Some(t)).await? else {
        let back = if cc.attempts > 0 {
            DialStatus::Retry
        } else {
            DialStatus::Pending
        };
        let released = state
            .store
            .step_attempt(
                id,
                cc.contact_id,
                &AttemptGuard::of(&claim.attempt_id),
                &AttemptStep::to(back, LeaseStep::Release),
            )
            .await?;
        if let Some(cc) = released {
            state.bus.campaign(
                "progress_update",
                &id.to_hex(),
                serde_json::json!({"contactId": cc.contact_id, "status": cc.status}),
            );
        }
        return Ok(Next::Stop);
    };
    attempt::dial(state, &campaign, cc, &claim.attempt_id).await?;
    Ok(Next::Again)
}
