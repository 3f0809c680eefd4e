//! One dial attempt of a campaign contact, from its claim to its end: the checks
//! before the dial (do-not-call, number, calling window), the dial, the end of the
//! call (retry or done, with the campaign's stats), and the check on an attempt whose
//! lease expired because its process died.

use outcall_domain::call::{Call, StatusUpdate};
use outcall_domain::campaign::{Campaign, StatsDelta};
use outcall_domain::campaign_contact::{
    AttemptGuard, AttemptStep, CampaignContact, DialStatus, LeaseStep, SkipReason,
};
use outcall_domain::contact::{Contact, ContactStatus};
use outcall_domain::dialing::{AfterCall, WindowVerdict, after_call, window_verdict};
use outcall_domain::phone::PhoneNumber;
use outcall_domain::time::now;
use outcall_domain::{ObjectId, PageRequest};
use outcall_store::{CallFilter, StoreResult};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::dialer::{PlaceError, Placement};

/// How many expired attempts one look checks.
const EXPIRED_BATCH: i64 = 20;

fn waiting_status(cc: &CampaignContact) -> DialStatus {
    if cc.attempts > 0 {
        DialStatus::Retry
    } else {
        DialStatus::Pending
    }
}

/// Moves the attempt on and, when it moved, tells the subscribers (the campaign's
/// dial-state counts changed).
async fn step(
    state: &AppState,
    cc: &CampaignContact,
    attempt_id: &str,
    step: AttemptStep,
) -> StoreResult<Option<CampaignContact>> {
    let moved = state
        .store
        .step_attempt(
            cc.campaign_id,
            cc.contact_id,
            &AttemptGuard::of(attempt_id),
            &step,
        )
        .await?;
    if let Some(cc) = &moved {
        progress(state, cc.campaign_id, cc);
    }
    Ok(moved)
}

fn progress(state: &AppState, campaign_id: ObjectId, cc: &CampaignContact) {
    state.bus.campaign(
        "progress_update",
        &campaign_id.to_hex(),
        json!({"contactId": cc.contact_id, "status": cc.status, "lastResult": cc.last_result}),
    );
}

/// The contact, and why it must not be called, if it must not.
async fn vet(
    state: &AppState,
    cc: &CampaignContact,
) -> StoreResult<(Option<Contact>, Option<SkipReason>)> {
    let contact = state.store.get_contact(cc.contact_id).await?;
    let number = contact
        .as_ref()
        .map_or(cc.phone_number.clone(), |c| c.phone_number.clone());
    if PhoneNumber::parse(&number, state.region).is_err() {
        return Ok((contact, Some(SkipReason::InvalidNumber)));
    }
    // Do-not-call holds for the number: the list, or any contact record carrying it.
    let dnc = contact
        .as_ref()
        .is_some_and(|c| c.status == ContactStatus::DoNotCall)
        || crate::dnc::blocked(state, &number).await?.is_some();
    Ok((contact, dnc.then_some(SkipReason::DoNotCall)))
}

/// Where the contact's calling window stands now (open when the campaign has none;
/// a stored window that cannot be read fails closed).
fn window(campaign: &Campaign, contact: Option<&Contact>) -> WindowVerdict {
    let tz = contact.and_then(|c| c.timezone.as_deref());
    window_verdict(campaign.settings.calling_window.as_ref(), tz, now())
}

/// The agent's dynamic variables for this contact: its name, number and custom fields
/// (never one the call itself sets, such as `call_sid`).
fn variables(contact: Option<&Contact>, cc: &CampaignContact) -> Map<String, Value> {
    outcall_domain::contact::dynamic_variables(contact, &cc.phone_number)
}

/// Dials a claimed contact, unless it must be skipped or its window is closed.
pub(super) async fn dial(
    state: &AppState,
    campaign: &Campaign,
    cc: CampaignContact,
    attempt_id: &str,
) -> StoreResult<()> {
    let Some(tel) = state.telephony.clone() else {
        return Ok(());
    };
    let (contact, skip) = vet(state, &cc).await?;
    let verdict = window(campaign, contact.as_ref());
    let invalid = matches!(verdict, WindowVerdict::Invalid(_));
    let skip = skip.or(invalid.then_some(SkipReason::InvalidWindow));
    if let Some(reason) = skip {
        let skipped = AttemptStep {
            skip_reason: Some(reason),
            ..AttemptStep::to(DialStatus::Skipped, LeaseStep::Release)
        };
        if let Some(cc) = step(state, &cc, attempt_id, skipped).await? {
            tracing::info!(campaign = %campaign.id, contact = %cc.contact_id, ?reason, "contact skipped");
        }
        return Ok(());
    }
    if let WindowVerdict::OpensAt(at) = verdict {
        let later = AttemptStep {
            next_attempt_at: Some(at),
            ..AttemptStep::to(waiting_status(&cc), LeaseStep::Release)
        };
        step(state, &cc, attempt_id, later).await?;
        return Ok(());
    }
    // Marks the dial as sent before sending it: a claim without this mark was never
    // dialled and may be released if its process dies; one with it may have rung.
    let sent = AttemptStep {
        dialled_at: Some(now()),
        ..AttemptStep::to(DialStatus::Dialing, LeaseStep::Keep)
    };
    let Some(cc) = step(state, &cc, attempt_id, sent).await? else {
        return Ok(());
    };
    let placement = Placement {
        to: contact
            .as_ref()
            .map_or(cc.phone_number.clone(), |c| c.phone_number.clone()),
        from: campaign
            .caller_id
            .clone()
            .unwrap_or_else(|| tel.from.clone()),
        prompt: campaign.prompt.clone(),
        first_message: campaign.first_message.clone(),
        dynamic_variables: Some(variables(contact.as_ref(), &cc)),
        agent_id: campaign.settings.agent_id.clone(),
        contact_name: contact.as_ref().and_then(|c| c.name.clone()),
        campaign_id: Some(campaign.id),
        contact_id: Some(cc.contact_id),
        attempt_id: Some(attempt_id.to_string()),
        record: None,
    };
    match crate::dialer::place(state, &tel, placement).await {
        Ok(call) => placed(state, campaign.id, &cc, attempt_id, &call).await,
        Err(e) if e.is_refusal() => {
            tracing::warn!(campaign = %campaign.id, contact = %cc.contact_id, "Twilio refused the call: {e}");
            let (status, next) =
                match after_call("failed", cc.attempts + 1, &campaign.settings, now()) {
                    AfterCall::Retry { at } => (DialStatus::Retry, Some(at)),
                    AfterCall::Done { .. } => (DialStatus::Failed, None),
                };
            let refused = AttemptStep {
                attempts_inc: 1,
                next_attempt_at: next,
                last_result: Some("failed".into()),
                ..AttemptStep::to(status, LeaseStep::Release)
            };
            step(state, &cc, attempt_id, refused).await?;
            state.engine.wake();
            Ok(())
        }
        // Twilio may or may not have placed it: the attempt stays marked as sent, and
        // when its lease expires the check below looks for its call.
        Err(PlaceError::Twilio(e)) => {
            tracing::warn!(campaign = %campaign.id, contact = %cc.contact_id, "dial unconfirmed: {e}");
            Ok(())
        }
        Err(PlaceError::Store(e)) => Err(e),
    }
}

/// Adds to the campaign's stats and tells the subscribers.
async fn add_stats(state: &AppState, campaign_id: ObjectId, delta: &StatsDelta) -> StoreResult<()> {
    if let Some(c) = state.store.add_campaign_stats(campaign_id, delta).await? {
        state.bus.campaign(
            "progress_update",
            &campaign_id.to_hex(),
            json!({"stats": c.stats}),
        );
    }
    Ok(())
}

/// Records a placed call on its attempt (first), then counts it.
async fn placed(
    state: &AppState,
    campaign_id: ObjectId,
    cc: &CampaignContact,
    attempt_id: &str,
    call: &Call,
) -> StoreResult<()> {
    let mine = AttemptStep {
        attempts_inc: 1,
        last_call_sid: Some(call.call_sid.clone()),
        ..AttemptStep::to(DialStatus::Dialing, LeaseStep::Keep)
    };
    // Moves nothing when the call already ended and its callback finished the attempt.
    step(state, cc, attempt_id, mine).await?;
    let delta = StatsDelta {
        calls_placed: 1,
        ..Default::default()
    };
    add_stats(state, campaign_id, &delta).await?;
    if let Some(contact) = state
        .store
        .record_contact_call(cc.contact_id, call.id, now())
        .await?
    {
        state.bus.contact("updated", &contact.id.to_hex(), &contact);
    }
    Ok(())
}

/// A campaign call reached a final status: its attempt ends (retry or done) and the
/// campaign's stats count it, once, whoever sees it first (the status callback or
/// the check on an expired lease).
pub async fn on_call_ended(state: &AppState, call: &Call) -> StoreResult<()> {
    let (Some(attempt_id), Some(campaign_id), Some(contact_id)) =
        (&call.attempt_id, call.campaign_id, call.contact_id)
    else {
        return Ok(());
    };
    if !call.status.is_terminal() {
        return Ok(());
    }
    let Some(cc) = state
        .store
        .get_campaign_contact(campaign_id, contact_id)
        .await?
    else {
        return Ok(());
    };
    if !AttemptGuard::of(attempt_id.as_str()).admits(&cc) {
        return Ok(());
    }
    let Some(campaign) = state.store.get_campaign(campaign_id).await? else {
        return Ok(());
    };
    let outcome = call
        .outcome
        .and_then(|o| serde_json::to_value(o).ok())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    // The callback can overtake the step that records the dial: count it here then.
    let counted = cc.last_call_sid.as_deref() == Some(call.call_sid.as_str());
    let attempts = cc.attempts + i64::from(!counted);
    let after = after_call(&outcome, attempts, &campaign.settings, now());
    let (status, next) = match after {
        AfterCall::Retry { at } => (DialStatus::Retry, Some(at)),
        AfterCall::Done { answered: true } => (DialStatus::Completed, None),
        AfterCall::Done { answered: false } => (DialStatus::Failed, None),
    };
    let end = AttemptStep {
        attempts_inc: i64::from(!counted),
        next_attempt_at: next,
        last_call_sid: Some(call.call_sid.clone()),
        last_result: Some(outcome.clone()),
        ..AttemptStep::to(status, LeaseStep::Release)
    };
    if step(state, &cc, attempt_id, end).await?.is_none() {
        return Ok(());
    }
    let held = outcome == "held";
    let completed = call.status == outcall_domain::CallStatus::Completed;
    let delta = StatsDelta {
        calls_completed: i64::from(completed),
        calls_failed: i64::from(!completed),
        calls_answered: i64::from(held),
        answered_duration: if held { call.duration.unwrap_or(0) } else { 0 },
        ..Default::default()
    };
    add_stats(state, campaign_id, &delta).await?;
    state.engine.wake();
    Ok(())
}

/// Checks on attempts whose lease expired: their process died or their call's last
/// callback never came. Each is taken over (one process wins), then settled from what
/// the store and Twilio know; an attempt is never dialled again.
pub(super) async fn check_expired(state: &AppState, campaign: &Campaign) -> StoreResult<()> {
    let t = now();
    let expired = state
        .store
        .expired_attempts(campaign.id, t, EXPIRED_BATCH)
        .await?;
    for cc in expired {
        let Some(lease) = &cc.lease else { continue };
        let attempt_id = lease.attempt_id.clone();
        let guard = AttemptGuard {
            attempt_id: attempt_id.clone(),
            expired_by: Some(t),
        };
        let take = AttemptStep::to(
            DialStatus::Dialing,
            LeaseStep::Renew {
                owner: state.engine.owner.clone(),
                expires_at: t + state.engine.attempt_lease,
            },
        );
        let Some(cc) = state
            .store
            .step_attempt(campaign.id, cc.contact_id, &guard, &take)
            .await?
        else {
            continue;
        };
        settle(state, campaign, cc, &attempt_id).await?;
    }
    Ok(())
}

async fn settle(
    state: &AppState,
    campaign: &Campaign,
    cc: CampaignContact,
    attempt_id: &str,
) -> StoreResult<()> {
    if cc.dialled_at.is_none() {
        // Claimed but never dialled: the contact waits for a new attempt.
        tracing::info!(campaign = %campaign.id, contact = %cc.contact_id, "released an attempt that was never dialled");
        let back = AttemptStep::to(waiting_status(&cc), LeaseStep::Release);
        step(state, &cc, attempt_id, back).await?;
        return Ok(());
    }
    let call = match &cc.last_call_sid {
        Some(sid) => state.store.get_call(sid).await?,
        None => {
            let filter = CallFilter {
                attempt_id: Some(attempt_id.to_string()),
                ..Default::default()
            };
            let page = PageRequest::new(
                Some(1),
                Some(1),
                outcall_domain::page::Sort::desc("createdAt"),
            )
            .map_err(|e| outcall_store::StoreError::Internal(e.to_string()))?;
            state
                .store
                .list_calls(&filter, &page)
                .await?
                .items
                .into_iter()
                .next()
        }
    };
    let Some(call) = call else {
        // Sent, but no call is known: it may have rung, so it is not dialled again.
        tracing::warn!(campaign = %campaign.id, contact = %cc.contact_id, attempt = attempt_id, "dial unconfirmed; not dialling this attempt again");
        let unconfirmed = AttemptStep {
            attempts_inc: 1,
            last_result: Some("unconfirmed".into()),
            ..AttemptStep::to(DialStatus::Failed, LeaseStep::Release)
        };
        step(state, &cc, attempt_id, unconfirmed).await?;
        return Ok(());
    };
    if cc.last_call_sid.is_none() {
        // The process died between Twilio's answer and recording it: adopt the call.
        placed(state, campaign.id, &cc, attempt_id, &call).await?;
    }
    if call.status.is_terminal() {
        return on_call_ended(state, &call).await;
    }
    let Some(tel) = state.telephony.clone() else {
        return Ok(());
    };
    match tel.client.fetch_call(&call.call_sid).await {
        Ok(resource) => {
            let Ok(status) = resource
                .status
                .as_str()
                .parse::<outcall_domain::CallStatus>()
            else {
                return Ok(());
            };
            if !status.is_terminal() {
                return Ok(()); // still live: the renewed lease holds its slot
            }
            let update = StatusUpdate {
                duration: resource.duration_secs().map(|d| d as i64),
                ..StatusUpdate::to(status)
            };
            if let Some((call, _)) = state
                .store
                .update_call_status(&call.call_sid, &update)
                .await?
            {
                crate::routes::calls::publish_status(state, &call);
                on_call_ended(state, &call).await?;
            }
        }
        Err(e) => {
            tracing::warn!(call_sid = %call.call_sid, "could not fetch the call from Twilio: {e}")
        }
    }
    Ok(())
}
