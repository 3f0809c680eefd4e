//! One dial attempt of a campaign contact, from its claim to its end, as the engine
//! drives it: the checks before the dial (do-not-call, number, calling window), the
//! dial and the classification of its failure, the end of the call (with the
//! campaign's stats), and the check on an attempt whose lease expired.
//!
//! What each event does to the attempt is decided by `outcall_domain::attempt`; this
//! module only feeds it events, persists the decision through the store's
//! compare-and-set, and acts on the outcome (counts, wake-ups) when its write won.

use std::time::Duration;

use futures::StreamExt;
use outcall_domain::attempt::{Attempt, Effect, Event, MAX_NOT_SENT_BACKOFF, NOT_SENT_BACKOFF};
use outcall_domain::call::{Call, StatusUpdate};
use outcall_domain::campaign::CampaignStatus;
use outcall_domain::campaign::{Campaign, StatsDelta};
use outcall_domain::campaign_contact::{CampaignContact, DialStatus, SkipReason, Stage};
use outcall_domain::contact::{Contact, ContactStatus};
use outcall_domain::dialing::{WindowVerdict, window_verdict};
use outcall_domain::phone::PhoneNumber;
use outcall_domain::time::{Timestamp, now};
use outcall_domain::{ObjectId, PageRequest};
use outcall_store::{CallFilter, StoreResult};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::dialer::{DialFailure, PlaceError, Placement};

/// How many expired attempts one look checks.
const EXPIRED_BATCH: i64 = 20;
/// How many expired attempts are settled at once.
const SETTLE_CONCURRENCY: usize = 4;
/// How long a maybe-sent dial is left to settle before Twilio's call list is read
/// (twice, this far apart): a call created late shows up by then.
const SETTLE_DELAY: Duration = Duration::from_secs(2);
/// Calls created this long before the dial was marked sent still count as its call
/// (clocks of Twilio and this host differ a little).
const CLOCK_SLACK: chrono::Duration = chrono::Duration::seconds(60);
/// A sent attempt whose call Twilio could not be asked about for this long ends
/// `unconfirmed`: it may have rung, and it is not dialled again.
const UNCONFIRMED_AFTER: chrono::Duration = chrono::Duration::hours(1);
/// How many times a transition is re-decided after its compare-and-set lost to a
/// concurrent one (a callback and the owner racing).
const RACE_RETRIES: usize = 3;

/// Decides `event` on `cc` and persists it (compare-and-set); the contact as written
/// and what to do about it, or `None` when the event does not apply to the attempt
/// or another write won. Subscribers hear about every move.
async fn apply(
    state: &AppState,
    cc: &CampaignContact,
    event: Event<'_>,
) -> StoreResult<Option<(CampaignContact, Effect)>> {
    let name = event.name();
    let next = match Attempt::of(cc).transition(event) {
        Ok(next) => next,
        Err(refused) => {
            tracing::debug!(contact = %cc.contact_id, "attempt {name}: {refused}");
            return Ok(None);
        }
    };
    let moved = state
        .store
        .step_attempt(cc.campaign_id, cc.contact_id, &next.guard, &next.step)
        .await?;
    if let Some(cc) = &moved {
        progress(state, cc.campaign_id, cc);
        cancel_if_stopped(state, cc).await?;
    }
    Ok(moved.map(|cc| (cc, next.effect)))
}

/// A stop cancels the contacts waiting at that moment; one that was being dialled
/// comes back to waiting only later (its call ended with a retry, its dial was turned
/// back or never sent). It is cancelled then, so a stopped campaign ends with every
/// contact final.
async fn cancel_if_stopped(state: &AppState, cc: &CampaignContact) -> StoreResult<()> {
    if !matches!(cc.status, DialStatus::Pending | DialStatus::Retry) {
        return Ok(());
    }
    let stopped = state
        .store
        .get_campaign(cc.campaign_id)
        .await?
        .is_some_and(|c| c.status == CampaignStatus::Cancelled);
    if stopped && state.store.cancel_campaign_contacts(cc.campaign_id).await? > 0 {
        state.bus.campaign(
            "progress_update",
            &cc.campaign_id.to_hex(),
            json!({"contactId": cc.contact_id, "status": DialStatus::Cancelled}),
        );
    }
    Ok(())
}

fn progress(state: &AppState, campaign_id: ObjectId, cc: &CampaignContact) {
    state.bus.campaign(
        "progress_update",
        &campaign_id.to_hex(),
        json!({"contactId": cc.contact_id, "status": cc.status, "lastResult": cc.last_result}),
    );
}

/// Puts a claimed, never-dialled contact back as it was (the campaign was paused or
/// stopped between the claim and the dial).
pub(super) async fn release(state: &AppState, cc: &CampaignContact) -> StoreResult<()> {
    apply(state, cc, Event::Release).await.map(drop)
}

/// The contact, and why it must not be called, if it must not.
async fn vet(
    state: &AppState,
    cc: &CampaignContact,
) -> StoreResult<(Option<Contact>, Option<SkipReason>)> {
    // The contact and the do-not-call checks of the number enrolled (the list, and
    // a do-not-call contact record with it) are read side by side, on the store's
    // read connections; the number dialled is the contact's, checked again if it
    // changed since.
    let (contact, on_list, dnc_contact) = tokio::try_join!(
        state.store.get_contact(cc.contact_id),
        state.store.get_dnc(&cc.phone_number),
        state.store.do_not_call_contact(&cc.phone_number),
    )?;
    let number = contact
        .as_ref()
        .map_or(cc.phone_number.clone(), |c| c.phone_number.clone());
    if PhoneNumber::parse(&number, state.region).is_err() {
        return Ok((contact, Some(SkipReason::InvalidNumber)));
    }
    let listed = if number == cc.phone_number {
        on_list.is_some() || dnc_contact.is_some()
    } else {
        crate::dnc::blocked(state, &number).await?.is_some()
    };
    // Do-not-call holds for the number: the list, or any contact record carrying it.
    let dnc = contact
        .as_ref()
        .is_some_and(|c| c.status == ContactStatus::DoNotCall)
        || listed;
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

/// What the engine dials for this attempt.
fn placement(
    state: &AppState,
    campaign: &Campaign,
    contact: Option<&Contact>,
    cc: &CampaignContact,
    attempt_id: &str,
) -> Option<Placement> {
    let tel = state.telephony.as_ref()?;
    Some(Placement {
        to: contact.map_or(cc.phone_number.clone(), |c| c.phone_number.clone()),
        from: campaign
            .caller_id
            .clone()
            .unwrap_or_else(|| tel.from.clone()),
        prompt: campaign.prompt.clone(),
        first_message: campaign.first_message.clone(),
        dynamic_variables: Some(variables(contact, cc)),
        agent_id: campaign.settings.agent_id.clone(),
        contact_name: contact.and_then(|c| c.name.clone()),
        campaign_id: Some(campaign.id),
        contact_id: Some(cc.contact_id),
        attempt_id: Some(attempt_id.to_string()),
        record: None,
    })
}

/// Dials a claimed contact, unless it must be skipped or its window is closed.
pub(super) async fn dial(
    state: &AppState,
    campaign: &Campaign,
    cc: CampaignContact,
    attempt_id: &str,
    gate: &super::DialGate,
) -> StoreResult<()> {
    let Some(tel) = state.telephony.clone() else {
        return Ok(());
    };
    let (contact, skip) = vet(state, &cc).await?;
    let verdict = window(campaign, contact.as_ref());
    let invalid = matches!(verdict, WindowVerdict::Invalid(_));
    let skip = skip.or(invalid.then_some(SkipReason::InvalidWindow));
    if let Some(reason) = skip {
        if let Some((cc, _)) = apply(state, &cc, Event::Skip(reason)).await? {
            tracing::info!(campaign = %campaign.id, contact = %cc.contact_id, ?reason, "contact skipped");
        }
        return Ok(());
    }
    if let WindowVerdict::OpensAt(until) = verdict {
        apply(state, &cc, Event::Defer { until }).await?;
        return Ok(());
    }
    // The call slot, then the status re-read that marks the dial in flight: a campaign
    // paused or stopped since the claim gets its contact back untouched.
    let Some(opened) = gate.open().await? else {
        release(state, &cc).await?;
        return Ok(());
    };
    // The contact was vetted under the settings the runner held; settings change only
    // while the campaign is not active, so these differ only after a pause, an edit and
    // a resume since: the contact goes back, to be vetted again under the new ones.
    if opened.settings != campaign.settings {
        release(state, &cc).await?;
        return Ok(());
    }
    let campaign = &opened;
    let Some(placement) = placement(state, campaign, contact.as_ref(), &cc, attempt_id) else {
        return Ok(());
    };
    // Marks the dial as sent before sending it: a claim without this mark was never
    // dialled and may be released if its process dies; one with it may have rung.
    // The write compares the lease's owner too, so a process that stalled here while
    // another took the attempt over never dials it.
    let Some((cc, _)) = apply(state, &cc, Event::Send { at: now() }).await? else {
        return Ok(());
    };
    match crate::dialer::place(state, &tel, placement.clone()).await {
        Ok(call) => placed(state, &cc, &call, Some(gate)).await,
        Err(e) => match e.failure() {
            Some(DialFailure::NotSent { retry_after }) => {
                tracing::warn!(campaign = %campaign.id, contact = %cc.contact_id, "dial not sent, back to the queue: {e}");
                // Twilio out of reach or rate limiting the account: every campaign's
                // next dial would meet the same, so the account's calls wait too.
                state
                    .engine
                    .hold_calls(
                        retry_after
                            .unwrap_or(NOT_SENT_BACKOFF)
                            .min(MAX_NOT_SENT_BACKOFF),
                    )
                    .await;
                let event = Event::NotSent {
                    now: now(),
                    retry_after,
                };
                apply(state, &cc, event).await?;
                state.engine.wake();
                Ok(())
            }
            Some(DialFailure::Refused) => {
                tracing::warn!(campaign = %campaign.id, contact = %cc.contact_id, "Twilio refused the call: {e}");
                let event = Event::Refused {
                    now: now(),
                    settings: &campaign.settings,
                };
                apply(state, &cc, event).await?;
                state.engine.wake();
                Ok(())
            }
            Some(DialFailure::MaybeSent) => {
                tracing::warn!(campaign = %campaign.id, contact = %cc.contact_id, "dial maybe sent, asking Twilio: {e}");
                settle_sent(state, campaign, cc, &placement).await
            }
            // Twilio created the call but its record was not written: the attempt
            // stays sent, and the check on its lease finds the call.
            None => match e {
                PlaceError::Store(e) => Err(e),
                PlaceError::Twilio(_) => Ok(()),
            },
        },
    }
}

/// Adds to the campaign's stats and tells the subscribers.
async fn add_stats(state: &AppState, campaign_id: ObjectId, delta: &StatsDelta) -> StoreResult<()> {
    let written = state.store.add_campaign_stats(campaign_id, delta).await?;
    stats_changed(state, campaign_id, written);
    Ok(())
}

/// Tells the subscribers the stats of the campaign as written.
fn stats_changed(state: &AppState, campaign_id: ObjectId, written: Option<Campaign>) {
    if let Some(c) = written {
        state.bus.campaign(
            "progress_update",
            &campaign_id.to_hex(),
            json!({"stats": c.stats}),
        );
    }
}

/// Counts a call placed for an attempt (once: only the write that recorded it counts).
/// The dial's own gate, when it is still open, is closed by the same write.
async fn count_placed(
    state: &AppState,
    cc: &CampaignContact,
    call: &Call,
    gate: Option<&super::DialGate>,
) -> StoreResult<()> {
    let delta = StatsDelta {
        calls_placed: 1,
        ..Default::default()
    };
    let stats = async {
        let written = match gate {
            Some(gate) => gate.close_counting(&delta).await?,
            None => {
                state
                    .store
                    .add_campaign_stats(cc.campaign_id, &delta)
                    .await?
            }
        };
        stats_changed(state, cc.campaign_id, written);
        Ok(())
    };
    // Two independent writes, sent together.
    let (_, contact) = tokio::try_join!(
        stats,
        state
            .store
            .record_contact_call(cc.contact_id, call.id, now()),
    )?;
    if let Some(contact) = contact {
        state.bus.contact("updated", &contact.id.to_hex(), &contact);
    }
    Ok(())
}

/// Records a placed call on its attempt, and counts it if this write recorded it
/// (closing the dial's gate with the count, when given). Nothing moves when the
/// call's end was recorded first (it counted the call).
async fn placed(
    state: &AppState,
    cc: &CampaignContact,
    call: &Call,
    gate: Option<&super::DialGate>,
) -> StoreResult<()> {
    let event = Event::Placed {
        call_sid: &call.call_sid,
    };
    if let Some((cc, effect)) = apply(state, cc, event).await?
        && effect.call_placed.is_some()
    {
        count_placed(state, &cc, call, gate).await?;
    }
    Ok(())
}

/// The outcome name the retry rules use (`held`, `busy`, …; `unknown` if none).
fn outcome_of(call: &Call) -> String {
    call.outcome
        .and_then(|o| serde_json::to_value(o).ok())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// A campaign call reached a final status: its attempt ends (retry or done) and the
/// campaign's stats count it, once, whoever sees it first (the status callback or
/// the check on an expired lease), in whichever process.
pub async fn on_call_ended(state: &AppState, call: &Call) -> StoreResult<()> {
    let (Some(attempt_id), Some(campaign_id), Some(contact_id)) =
        (&call.attempt_id, call.campaign_id, call.contact_id)
    else {
        return Ok(());
    };
    if !call.status.is_terminal() {
        return Ok(());
    }
    let Some(campaign) = state.store.get_campaign(campaign_id).await? else {
        return Ok(());
    };
    let outcome = outcome_of(call);
    for _ in 0..RACE_RETRIES {
        let Some(cc) = state
            .store
            .get_campaign_contact(campaign_id, contact_id)
            .await?
        else {
            return Ok(());
        };
        if cc
            .lease
            .as_ref()
            .is_none_or(|l| &l.attempt_id != attempt_id)
        {
            return Ok(()); // another attempt's call, or this one already ended
        }
        let event = Event::Ended {
            call_sid: &call.call_sid,
            outcome: &outcome,
            now: now(),
            settings: &campaign.settings,
        };
        if Attempt::of(&cc).transition(event.clone()).is_err() {
            return Ok(());
        }
        // The write loses when the owner recorded the placement (or took the attempt
        // over) since the read: read again and decide again.
        let Some((cc, effect)) = apply(state, &cc, event).await? else {
            continue;
        };
        if effect.call_placed.is_some() {
            count_placed(state, &cc, call, None).await?;
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
        return Ok(());
    }
    tracing::warn!(call_sid = %call.call_sid, "attempt end kept losing races; the lease check settles it");
    Ok(())
}

/// How long a settling process holds an attempt's lease: one look at Twilio (a
/// settling delay and a request) and the usual lease after it. With less, a short
/// lease (`ATTEMPT_LEASE_SECS`) expires while Twilio is asked, another process takes
/// the attempt over, and the two keep taking it from each other: it never settles.
fn settle_hold(state: &AppState) -> chrono::Duration {
    let request = state
        .telephony
        .as_ref()
        .map_or(Duration::ZERO, |t| t.client.request_timeout());
    let look = chrono::Duration::from_std(SETTLE_DELAY + request).unwrap_or_default();
    state.engine.attempt_lease + look
}

/// Checks on attempts whose lease expired: their process died or stalled, their
/// dial's outcome was unknown, or their call's last callback never came. Each is
/// taken over (one process wins; the old owner's late writes then lose), then
/// settled from what the store and Twilio know; an attempt is never dialled again.
pub(super) async fn check_expired(state: &AppState, campaign: &Campaign) -> StoreResult<()> {
    let t = now();
    let expired = state
        .store
        .expired_attempts(campaign.id, t, EXPIRED_BATCH)
        .await?;
    // Side by side: settling one can take a few seconds (a look at Twilio, a settling
    // delay), and a process that died with a full campaign's dials in flight would
    // otherwise hold the campaign up for all of them in turn.
    // An attempt this process is still dialling is settled by its own dial task (its
    // lease may lapse while Twilio is slow to answer); two settlers under one owner
    // could not tell each other's writes apart.
    let expired = expired.into_iter().filter(|cc| {
        cc.lease
            .as_ref()
            .is_none_or(|l| !state.engine.is_dialling(&l.attempt_id))
    });
    let settled = futures::stream::iter(expired)
        .map(|cc| async move {
            let take = Event::TakeOver {
                owner: &state.engine.owner,
                now: t,
                expires_at: t + settle_hold(state),
            };
            match apply(state, &cc, take).await? {
                Some((cc, _)) => settle(state, campaign, cc).await,
                None => Ok(()),
            }
        })
        .buffer_unordered(SETTLE_CONCURRENCY)
        .collect::<Vec<StoreResult<()>>>()
        .await;
    settled.into_iter().collect()
}

/// A placed attempt whose recorded call is another attempt's (left by a claim made
/// before claims cleared `lastCallSid`): it is only sent, and is settled as such.
async fn forget_stale_call(state: &AppState, cc: CampaignContact) -> StoreResult<CampaignContact> {
    let Some(sid) = cc
        .last_call_sid
        .clone()
        .filter(|_| Stage::of(&cc) == Stage::Placed)
    else {
        return Ok(cc);
    };
    let Some(call) = state.store.get_call(&sid).await? else {
        return Ok(cc);
    };
    let attempt = cc.lease.as_ref().map(|l| l.attempt_id.as_str());
    if call.attempt_id.is_none() || call.attempt_id.as_deref() == attempt {
        return Ok(cc);
    }
    tracing::warn!(contact = %cc.contact_id, call_sid = %sid, "forgot a previous attempt's call on this attempt");
    Ok(apply(state, &cc, Event::NotItsCall { call_sid: &sid })
        .await?
        .map_or(cc, |(cc, _)| cc))
}

async fn settle(state: &AppState, campaign: &Campaign, cc: CampaignContact) -> StoreResult<()> {
    let Some(attempt_id) = cc.lease.as_ref().map(|l| l.attempt_id.clone()) else {
        return Ok(());
    };
    let cc = forget_stale_call(state, cc).await?;
    match Stage::of(&cc) {
        Stage::Claimed => {
            tracing::info!(campaign = %campaign.id, contact = %cc.contact_id, "released an attempt that was never dialled");
            release(state, &cc).await
        }
        Stage::Sent => {
            let contact = state.store.get_contact(cc.contact_id).await?;
            let Some(p) = placement(state, campaign, contact.as_ref(), &cc, &attempt_id) else {
                return Ok(());
            };
            settle_sent(state, campaign, cc, &p).await
        }
        Stage::Placed => settle_placed(state, &cc).await,
        Stage::Waiting | Stage::Final => Ok(()),
    }
}

/// The call of an attempt, if the store knows one (a status callback records a call
/// it did not know, with the attempt id from its URL).
async fn stored_call(state: &AppState, attempt_id: &str) -> StoreResult<Option<Call>> {
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
    Ok(state
        .store
        .list_calls(&filter, &page)
        .await?
        .items
        .into_iter()
        .next())
}

/// What Twilio's call list says about a sent attempt.
enum Found {
    Call(Box<outcall_twilio::CallResource>),
    None,
    /// Several calls that could each be this attempt's: cannot be told apart.
    Ambiguous,
}

/// Looks in Twilio's calls to the number since the dial for this attempt's call: one
/// from our caller id, created since the dial, that no other record claims.
async fn find_in_twilio(
    state: &AppState,
    p: &Placement,
    attempt_id: &str,
    dialled_at: Timestamp,
) -> Result<Found, outcall_twilio::TwilioError> {
    let Some(tel) = state.telephony.as_ref() else {
        return Ok(Found::None);
    };
    let since = dialled_at - CLOCK_SLACK;
    let calls = tel.client.list_calls(&p.to, since, 100, 5).await?;
    let mut candidates = Vec::new();
    for c in calls {
        let created = c
            .date_created
            .as_deref()
            .and_then(outcall_twilio::webhook::parse_rfc2822);
        if c.from != p.from || created.is_some_and(|t| t < since) {
            continue;
        }
        match state.store.get_call(&c.sid).await {
            Ok(Some(known)) if known.attempt_id.as_deref() != Some(attempt_id) => continue,
            Ok(Some(_)) => return Ok(Found::Call(Box::new(c))),
            Ok(None) => candidates.push(c),
            // The store is asked only to rule calls out; a failure rules nothing out.
            Err(_) => candidates.push(c),
        }
    }
    Ok(match candidates.len() {
        0 => Found::None,
        1 => Found::Call(Box::new(candidates.remove(0))),
        _ => Found::Ambiguous,
    })
}

/// Settles a dial that may have reached Twilio, before anything else happens to its
/// contact: a call the store or Twilio knows is adopted as placed; a call list that
/// shows none twice, a settling delay apart, puts the contact back as not sent;
/// Twilio unreachable leaves the attempt leased, to be checked again when its lease
/// expires; only a call that cannot be told apart, or Twilio out of reach for
/// [`UNCONFIRMED_AFTER`], ends the attempt `unconfirmed`.
async fn settle_sent(
    state: &AppState,
    campaign: &Campaign,
    cc: CampaignContact,
    p: &Placement,
) -> StoreResult<()> {
    let Some(attempt_id) = cc.lease.as_ref().map(|l| l.attempt_id.clone()) else {
        return Ok(());
    };
    let dialled_at = cc.dialled_at.unwrap_or_else(now);
    let mut cc = cc;
    for look in 0..2 {
        if look > 0 {
            // Held for the next look; a process that took the attempt over since
            // settles it instead.
            let hold = Event::Renew {
                expires_at: now() + settle_hold(state),
            };
            let Some((held, _)) = apply(state, &cc, hold).await? else {
                return Ok(());
            };
            cc = held;
        }
        if let Some(call) = stored_call(state, &attempt_id).await? {
            return adopt(state, &cc, call).await;
        }
        tokio::time::sleep(SETTLE_DELAY).await;
        match find_in_twilio(state, p, &attempt_id, dialled_at).await {
            Ok(Found::Call(resource)) => {
                tracing::info!(campaign = %campaign.id, contact = %cc.contact_id, call_sid = %resource.sid, "found the maybe-sent dial's call in Twilio");
                let call = crate::dialer::record(state, p, &resource).await?;
                let call = sync_status(state, call, &resource).await?;
                return adopt(state, &cc, call).await;
            }
            Ok(Found::None) if look == 0 => continue,
            Ok(Found::None) => {
                // A call created by a late request would show by now: there is none.
                if stored_call(state, &attempt_id).await?.is_none() {
                    tracing::info!(campaign = %campaign.id, contact = %cc.contact_id, "Twilio has no call for the dial: back to the queue");
                    let event = Event::NotSent {
                        now: now(),
                        retry_after: None,
                    };
                    apply(state, &cc, event).await?;
                    state.engine.wake();
                    return Ok(());
                }
            }
            Ok(Found::Ambiguous) => {
                tracing::warn!(campaign = %campaign.id, contact = %cc.contact_id, attempt = %attempt_id, "several calls could be the dial's: unconfirmed, not dialled again");
                apply(state, &cc, Event::Unconfirmed).await?;
                state.engine.wake();
                return Ok(());
            }
            Err(e) => {
                if now() - dialled_at >= UNCONFIRMED_AFTER {
                    tracing::warn!(campaign = %campaign.id, contact = %cc.contact_id, attempt = %attempt_id, "Twilio unreachable for too long: unconfirmed, not dialled again ({e})");
                    apply(state, &cc, Event::Unconfirmed).await?;
                    state.engine.wake();
                } else {
                    // Its call may be live: the renewed lease keeps its slot taken.
                    tracing::warn!(campaign = %campaign.id, contact = %cc.contact_id, "cannot ask Twilio about the dial yet, checking again when its lease expires: {e}");
                    let renew = Event::Renew {
                        expires_at: now() + state.engine.attempt_lease,
                    };
                    apply(state, &cc, renew).await?;
                }
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Adopts a call found for a sent attempt: placed, and ended if it already ended.
async fn adopt(state: &AppState, cc: &CampaignContact, call: Call) -> StoreResult<()> {
    placed(state, cc, &call, None).await?;
    if call.status.is_terminal() {
        on_call_ended(state, &call).await?;
    }
    Ok(())
}

/// Brings the stored call to Twilio's status when Twilio says it ended.
async fn sync_status(
    state: &AppState,
    call: Call,
    resource: &outcall_twilio::CallResource,
) -> StoreResult<Call> {
    let Ok(status) = resource
        .status
        .as_str()
        .parse::<outcall_domain::CallStatus>()
    else {
        return Ok(call);
    };
    if !status.is_terminal() || call.status.is_terminal() {
        return Ok(call);
    }
    let update = StatusUpdate {
        duration: resource.duration_secs().map(|d| d as i64),
        ..StatusUpdate::to(status)
    };
    match state
        .store
        .update_call_status(&call.call_sid, &update)
        .await?
    {
        Some((call, _)) => {
            crate::routes::calls::publish_status(state, &call);
            Ok(call)
        }
        None => Ok(call),
    }
}

/// A placed attempt whose lease expired: its call ended without a callback reaching
/// us, or is still live (the renewed lease then holds its slot).
async fn settle_placed(state: &AppState, cc: &CampaignContact) -> StoreResult<()> {
    let Some(sid) = cc.last_call_sid.as_deref() else {
        return Ok(());
    };
    let Some(call) = state.store.get_call(sid).await? else {
        return Ok(());
    };
    if call.status.is_terminal() {
        return on_call_ended(state, &call).await;
    }
    let Some(tel) = state.telephony.clone() else {
        return Ok(());
    };
    match tel.client.fetch_call(&call.call_sid).await {
        Ok(resource) => {
            let call = sync_status(state, call, &resource).await?;
            if call.status.is_terminal() {
                on_call_ended(state, &call).await?;
            }
        }
        Err(e) => {
            tracing::warn!(call_sid = %call.call_sid, "could not fetch the call from Twilio: {e}")
        }
    }
    Ok(())
}
