//! Checks of the campaign engine's atomic operations: the claim of the next contact,
//! attempt steps guarded by their lease, take-over of expired leases, dial counts,
//! cancellation, and the campaign's runner lease. These are what make "never call a
//! contact twice" hold across restarts and processes.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::TimeDelta;
use outcall_domain::ObjectId;
use outcall_domain::attempt::{Attempt, Event, Next};
use outcall_domain::campaign::CampaignSettings;
use outcall_domain::campaign::{Campaign, CampaignAction};
use outcall_domain::campaign_contact::{CampaignContact, Claim, DialStatus, SkipReason, Stage};
use outcall_domain::time::{self, Timestamp};

use super::{Check, DynStore};
use crate::error::StoreError;

pub(super) fn checks() -> Vec<Check> {
    vec![
        crate::check!(claims_take_priority_then_due_time_then_age),
        crate::check!(contacts_not_yet_due_are_not_claimed),
        crate::check!(concurrent_claims_never_share_a_contact),
        crate::check!(an_attempt_step_needs_the_attempts_lease),
        crate::check!(a_stalled_owners_step_loses_to_the_take_over),
        crate::check!(a_step_needs_the_stage_it_was_decided_in),
        crate::check!(a_new_claim_forgets_the_previous_attempts_call),
        crate::check!(an_expired_attempt_is_taken_over_once),
        crate::check!(dial_counts_count_each_status_and_live_leases),
        crate::check!(cancel_moves_only_what_waits_to_be_dialled),
        crate::check!(a_contact_being_dialled_cannot_be_removed),
        crate::check!(one_runner_at_a_time_while_active),
    ]
}

fn claim(attempt: &str, now: Timestamp) -> Claim {
    Claim {
        owner: "owner-a".into(),
        attempt_id: attempt.into(),
        now,
        expires_at: now + TimeDelta::seconds(60),
    }
}

async fn enroll(store: &DynStore, campaign: ObjectId, n: usize, priority: i64) -> Vec<ObjectId> {
    let mut ids = Vec::new();
    for i in 0..n {
        let mut cc = CampaignContact::new(campaign, ObjectId::new(), format!("+1415555{i:04}"));
        cc.priority = priority;
        ids.push(cc.contact_id);
        let (_, created) = store.upsert_campaign_contact(cc).await.expect("upsert");
        assert!(created);
    }
    ids
}

async fn claim_ok(store: &DynStore, campaign: ObjectId, c: &Claim) -> Option<CampaignContact> {
    store
        .claim_campaign_contact(campaign, c)
        .await
        .expect("claim_campaign_contact")
}

/// Decides `event` on `cc` with the attempt machine.
fn decide(cc: &CampaignContact, event: Event<'_>) -> Next {
    let name = event.name();
    Attempt::of(cc)
        .transition(event)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Persists a decided transition; `None` when its compare-and-set lost.
async fn persist(store: &DynStore, cc: &CampaignContact, next: &Next) -> Option<CampaignContact> {
    store
        .step_attempt(cc.campaign_id, cc.contact_id, &next.guard, &next.step)
        .await
        .expect("step_attempt")
}

async fn claims_take_priority_then_due_time_then_age(store: DynStore) {
    let campaign = ObjectId::new();
    let now = time::now();
    let low = enroll(&store, campaign, 1, 1).await[0];
    let high_older = enroll(&store, campaign, 1, 9).await[0];
    let high_newer = enroll(&store, campaign, 1, 9).await[0];
    // A retry of high priority that became due a minute ago goes after the pending
    // (never-scheduled) ones of the same priority, which are due since they were added.
    let mut retry = CampaignContact::new(campaign, ObjectId::new(), "+14155559999");
    retry.priority = 9;
    retry.status = DialStatus::Retry;
    retry.next_attempt_at = Some(now - TimeDelta::seconds(60));
    store
        .upsert_campaign_contact(retry.clone())
        .await
        .expect("upsert");
    let other_campaign = ObjectId::new();
    enroll(&store, other_campaign, 3, 10).await;

    let mut order = Vec::new();
    for i in 0..5 {
        match claim_ok(&store, campaign, &claim(&format!("A{i}"), now)).await {
            Some(cc) => {
                assert_eq!(cc.status, DialStatus::Dialing);
                let lease = cc.lease.clone().expect("a claimed contact holds a lease");
                assert_eq!(lease.attempt_id, format!("A{i}"));
                assert_eq!(lease.owner, "owner-a");
                assert_eq!(cc.campaign_id, campaign, "only this campaign's contacts");
                order.push(cc.contact_id);
            }
            None => break,
        }
    }
    assert_eq!(
        order,
        [high_older, high_newer, retry.contact_id, low],
        "priority first, then due time (never-scheduled first), then age"
    );
}

async fn contacts_not_yet_due_are_not_claimed(store: DynStore) {
    let campaign = ObjectId::new();
    let now = time::now();
    let mut later = CampaignContact::new(campaign, ObjectId::new(), "+14155550001");
    later.status = DialStatus::Retry;
    later.next_attempt_at = Some(now + TimeDelta::seconds(30));
    store
        .upsert_campaign_contact(later.clone())
        .await
        .expect("upsert");
    let mut done = CampaignContact::new(campaign, ObjectId::new(), "+14155550002");
    done.status = DialStatus::Completed;
    store.upsert_campaign_contact(done).await.expect("upsert");
    assert!(
        claim_ok(&store, campaign, &claim("A1", now))
            .await
            .is_none()
    );
    let at_due = claim_ok(&store, campaign, &claim("A2", now + TimeDelta::seconds(30))).await;
    assert_eq!(at_due.map(|c| c.contact_id), Some(later.contact_id));
}

async fn concurrent_claims_never_share_a_contact(store: DynStore) {
    let campaign = ObjectId::new();
    let contacts: HashSet<ObjectId> = enroll(&store, campaign, 24, 0).await.into_iter().collect();
    let now = time::now();
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for w in 0..6 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0.. {
                let c = Claim {
                    owner: format!("w{w}"),
                    ..claim(&format!("w{w}-{i}"), now)
                };
                match store.claim_campaign_contact(campaign, &c).await {
                    Ok(Some(cc)) => got.push(cc.contact_id),
                    Ok(None) => break,
                    Err(StoreError::Unavailable(_)) => continue,
                    Err(e) => panic!("claim: {e}"),
                }
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("claimer"));
    }
    assert_eq!(
        all.len(),
        contacts.len(),
        "every contact claimed exactly once"
    );
    assert_eq!(all.into_iter().collect::<HashSet<_>>(), contacts);
}

async fn an_attempt_step_needs_the_attempts_lease(store: DynStore) {
    let campaign = ObjectId::new();
    let contact = enroll(&store, campaign, 1, 0).await[0];
    let now = time::now();
    let waiting = store
        .get_campaign_contact(campaign, contact)
        .await
        .expect("get")
        .expect("exists");
    // A step decided on a claimed copy of a contact nobody claimed: no lease, no write.
    let mut imagined = waiting.clone();
    imagined.claim(&claim("A1", now));
    let send = decide(&imagined, Event::Send { at: now });
    assert!(
        persist(&store, &waiting, &send).await.is_none(),
        "no lease yet: nothing to step"
    );
    let claimed = claim_ok(&store, campaign, &claim("A1", now))
        .await
        .expect("claimed");
    let mut other = claimed.clone();
    if let Some(l) = &mut other.lease {
        l.attempt_id = "A0".into();
    }
    let wrong = decide(&other, Event::Send { at: now });
    assert!(
        persist(&store, &claimed, &wrong).await.is_none(),
        "another attempt's step changes nothing"
    );
    let sent = persist(&store, &claimed, &decide(&claimed, Event::Send { at: now }))
        .await
        .expect("the lease holder's step applies");
    assert_eq!(Stage::of(&sent), Stage::Sent);
    let placed = persist(
        &store,
        &sent,
        &decide(&sent, Event::Placed { call_sid: "CA0001" }),
    )
    .await
    .expect("applies");
    assert_eq!(
        (placed.attempts, placed.last_call_sid.as_deref()),
        (1, Some("CA0001"))
    );
    let settings = CampaignSettings {
        retry_on: vec!["busy".into()],
        retry_count: 1,
        retry_delay: 600.0,
        ..CampaignSettings::default()
    };
    let finish = decide(
        &placed,
        Event::Ended {
            call_sid: "CA0001",
            outcome: "busy",
            now,
            settings: &settings,
        },
    );
    let done = persist(&store, &placed, &finish).await.expect("applies");
    assert_eq!(done.status, DialStatus::Retry);
    assert_eq!(done.lease, None);
    assert_eq!(done.dialled_at, None);
    assert_eq!(
        done.next_attempt_at,
        Some(time::to_millis(now + TimeDelta::seconds(600)))
    );
    assert_eq!(done.last_result.as_deref(), Some("busy"));
    assert_eq!(done.attempts, 1);
    assert!(
        persist(&store, &placed, &finish).await.is_none(),
        "a finished attempt cannot be finished twice"
    );
    let stored = store
        .get_campaign_contact(campaign, contact)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(stored, done);
}

async fn a_stalled_owners_step_loses_to_the_take_over(store: DynStore) {
    let campaign = ObjectId::new();
    let contact = enroll(&store, campaign, 1, 0).await[0];
    let now = time::now();
    let c = claim("A1", now);
    let claimed = claim_ok(&store, campaign, &c).await.expect("claimed");
    // owner-a stalls before its dial; its lease expires and owner-b takes the attempt.
    let take = decide(
        &claimed,
        Event::TakeOver {
            owner: "owner-b",
            now: c.expires_at,
            expires_at: c.expires_at + TimeDelta::seconds(60),
        },
    );
    let taken = persist(&store, &claimed, &take).await.expect("taken over");
    // owner-a wakes up and marks its dial as sent: same attempt id, but not its lease.
    let late = decide(&claimed, Event::Send { at: c.expires_at });
    assert!(
        persist(&store, &claimed, &late).await.is_none(),
        "the stalled owner's dial is refused: no double dial"
    );
    let stored = store
        .get_campaign_contact(campaign, contact)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(stored, taken);
    assert_eq!(stored.dialled_at, None);
    // The new owner releases the never-dialled attempt.
    let back = persist(&store, &taken, &decide(&taken, Event::Release))
        .await
        .expect("released");
    assert_eq!(
        (back.status, back.attempts, back.lease),
        (DialStatus::Pending, 0, None)
    );
}

async fn a_step_needs_the_stage_it_was_decided_in(store: DynStore) {
    let campaign = ObjectId::new();
    enroll(&store, campaign, 1, 0).await;
    let now = time::now();
    let claimed = claim_ok(&store, campaign, &claim("A1", now))
        .await
        .expect("claimed");
    let sent = persist(&store, &claimed, &decide(&claimed, Event::Send { at: now }))
        .await
        .expect("sent");
    let settings = CampaignSettings::default();
    // The call's end overtakes the owner's record of the placement.
    let ended = decide(
        &sent,
        Event::Ended {
            call_sid: "CA0002",
            outcome: "held",
            now,
            settings: &settings,
        },
    );
    let placed = decide(&sent, Event::Placed { call_sid: "CA0002" });
    let done = persist(&store, &sent, &ended).await.expect("ended");
    assert_eq!((done.status, done.attempts), (DialStatus::Completed, 1));
    assert!(
        persist(&store, &sent, &placed).await.is_none(),
        "the placement decided on the sent stage lands nowhere once it ended"
    );
    let resend = decide(&claimed, Event::Send { at: now });
    assert!(
        persist(&store, &claimed, &resend).await.is_none(),
        "a sent attempt is never sent again"
    );
}

async fn a_new_claim_forgets_the_previous_attempts_call(store: DynStore) {
    let campaign = ObjectId::new();
    enroll(&store, campaign, 1, 0).await;
    let now = time::now();
    let first = claim_ok(&store, campaign, &claim("A1", now))
        .await
        .expect("claimed");
    let sent = persist(&store, &first, &decide(&first, Event::Send { at: now }))
        .await
        .expect("sent");
    let placed = persist(
        &store,
        &sent,
        &decide(&sent, Event::Placed { call_sid: "CAold" }),
    )
    .await
    .expect("placed");
    let settings = CampaignSettings {
        retry_on: vec!["busy".into()],
        retry_count: 2,
        retry_delay: 0.0,
        ..CampaignSettings::default()
    };
    let ended = decide(
        &placed,
        Event::Ended {
            call_sid: "CAold",
            outcome: "busy",
            now,
            settings: &settings,
        },
    );
    let retry = persist(&store, &placed, &ended).await.expect("ended");
    assert_eq!(retry.last_call_sid.as_deref(), Some("CAold"));
    let second = claim_ok(&store, campaign, &claim("A2", now + TimeDelta::seconds(1)))
        .await
        .expect("the retry is claimed");
    assert_eq!(
        (second.last_call_sid.clone(), second.dialled_at),
        (None, None)
    );
    let sent = persist(&store, &second, &decide(&second, Event::Send { at: now }))
        .await
        .expect("sent");
    assert_eq!(
        Stage::of(&sent),
        Stage::Sent,
        "the retry's dial is not mistaken for the old call"
    );
    assert_eq!(sent.last_call_sid, None);
}

async fn an_expired_attempt_is_taken_over_once(store: DynStore) {
    let campaign = ObjectId::new();
    let contact = enroll(&store, campaign, 1, 0).await[0];
    let now = time::now();
    let c = claim("A1", now);
    let claimed = claim_ok(&store, campaign, &c).await.expect("claimed");
    let takeover = |cc: &CampaignContact, by: Timestamp, owner: &str| {
        Attempt::of(cc).transition(Event::TakeOver {
            owner,
            now: by,
            expires_at: by + TimeDelta::seconds(60),
        })
    };
    assert!(
        takeover(&claimed, now, "owner-b").is_err(),
        "a live lease is not taken over"
    );
    assert!(
        store
            .expired_attempts(campaign, now, 10)
            .await
            .expect("expired_attempts")
            .is_empty()
    );
    let after = c.expires_at;
    let expired = store
        .expired_attempts(campaign, after, 10)
        .await
        .expect("expired_attempts");
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].contact_id, contact);
    let b = takeover(&expired[0], after, "owner-b").expect("expired");
    let c2 = takeover(&expired[0], after, "owner-c").expect("expired");
    let taken = persist(&store, &expired[0], &b)
        .await
        .expect("an expired lease is taken over");
    let lease = taken.lease.expect("renewed");
    assert_eq!(
        (lease.owner.as_str(), lease.attempt_id.as_str()),
        ("owner-b", "A1")
    );
    assert!(
        persist(&store, &expired[0], &c2).await.is_none(),
        "the lease moved on: one take-over"
    );
}

async fn dial_counts_count_each_status_and_live_leases(store: DynStore) {
    let campaign = ObjectId::new();
    let now = time::now();
    enroll(&store, campaign, 3, 0).await;
    let due = now + TimeDelta::seconds(90);
    for (i, status) in [
        DialStatus::Retry,
        DialStatus::Completed,
        DialStatus::Skipped,
    ]
    .into_iter()
    .enumerate()
    {
        let mut cc = CampaignContact::new(campaign, ObjectId::new(), format!("+1415556000{i}"));
        cc.status = status;
        if status == DialStatus::Retry {
            cc.next_attempt_at = Some(due);
        }
        store.upsert_campaign_contact(cc).await.expect("upsert");
    }
    enroll(&store, ObjectId::new(), 2, 0).await;
    let short = Claim {
        expires_at: now + TimeDelta::seconds(5),
        ..claim("A1", now)
    };
    claim_ok(&store, campaign, &short).await.expect("claimed");
    claim_ok(&store, campaign, &claim("A2", now))
        .await
        .expect("claimed");
    let counts = store
        .count_campaign_contacts(campaign, now)
        .await
        .expect("count");
    assert_eq!(
        (
            counts.pending,
            counts.dialing,
            counts.retry,
            counts.completed,
            counts.skipped
        ),
        (1, 2, 1, 1, 1)
    );
    assert_eq!((counts.failed, counts.cancelled, counts.total()), (0, 0, 6));
    assert_eq!(counts.live, 2);
    assert_eq!(counts.next_due, Some(time::to_millis(due)));
    let later = store
        .count_campaign_contacts(campaign, now + TimeDelta::seconds(5))
        .await
        .expect("count");
    assert_eq!(later.live, 1, "an expired lease holds no slot");
    assert!(!later.is_done());
}

async fn cancel_moves_only_what_waits_to_be_dialled(store: DynStore) {
    let campaign = ObjectId::new();
    let now = time::now();
    enroll(&store, campaign, 3, 0).await;
    let dialling = claim_ok(&store, campaign, &claim("A1", now))
        .await
        .expect("claimed");
    let mut retry = CampaignContact::new(campaign, ObjectId::new(), "+14155557000");
    retry.status = DialStatus::Retry;
    store.upsert_campaign_contact(retry).await.expect("upsert");
    let other = ObjectId::new();
    enroll(&store, other, 1, 0).await;
    let moved = store
        .cancel_campaign_contacts(campaign)
        .await
        .expect("cancel");
    assert_eq!(moved, 3, "two pending and one retry");
    let counts = store
        .count_campaign_contacts(campaign, now)
        .await
        .expect("count");
    assert_eq!(
        (counts.cancelled, counts.dialing, counts.pending),
        (3, 1, 0)
    );
    let kept = store
        .get_campaign_contact(campaign, dialling.contact_id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(kept.status, DialStatus::Dialing, "a live attempt finishes");
    let untouched = store
        .count_campaign_contacts(other, now)
        .await
        .expect("count");
    assert_eq!(untouched.pending, 1, "other campaigns keep their contacts");
    assert!(
        claim_ok(&store, campaign, &claim("A2", now))
            .await
            .is_none(),
        "nothing left to claim"
    );
}

async fn a_contact_being_dialled_cannot_be_removed(store: DynStore) {
    let campaign = ObjectId::new();
    let now = time::now();
    let ids = enroll(&store, campaign, 2, 0).await;
    let dialling = claim_ok(&store, campaign, &claim("A1", now))
        .await
        .expect("claimed");
    let waiting = if ids[0] == dialling.contact_id {
        ids[1]
    } else {
        ids[0]
    };
    let refused = store
        .remove_campaign_contact(campaign, dialling.contact_id)
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict { .. })),
        "{refused:?}"
    );
    assert!(
        store
            .remove_campaign_contact(campaign, waiting)
            .await
            .expect("remove")
    );
    assert!(
        !store
            .remove_campaign_contact(campaign, waiting)
            .await
            .expect("remove")
    );
    let skip = decide(&dialling, Event::Skip(SkipReason::DoNotCall));
    let skipped = persist(&store, &dialling, &skip).await.expect("applies");
    assert_eq!(skipped.skip_reason, Some(SkipReason::DoNotCall));
    assert_eq!(
        store
            .delete_campaign_contacts(campaign)
            .await
            .expect("delete"),
        1
    );
    assert_eq!(
        store
            .count_campaign_contacts(campaign, now)
            .await
            .expect("count")
            .total(),
        0
    );
}

async fn one_runner_at_a_time_while_active(store: DynStore) {
    let c = store
        .insert_campaign(Campaign::new("runner"))
        .await
        .expect("insert");
    let now = time::now();
    let until = now + TimeDelta::seconds(10);
    let held = store
        .hold_campaign_runner(c.id, "a", now, until, None)
        .await
        .expect("hold");
    assert!(held.is_none(), "a draft campaign has no runner");
    store
        .transition_campaign(c.id, CampaignAction::Start)
        .await
        .expect("start");
    let a = store
        .hold_campaign_runner(c.id, "a", now, until, Some(now))
        .await
        .expect("hold")
        .expect("a takes the free lease");
    assert_eq!(a.runner.as_ref().map(|r| r.owner.as_str()), Some("a"));
    assert_eq!(a.last_executed, Some(time::to_millis(now)));
    let b = store
        .hold_campaign_runner(c.id, "b", now, until, None)
        .await
        .expect("hold");
    assert!(b.is_none(), "b waits while a's lease lives");
    let renewed = store
        .hold_campaign_runner(c.id, "a", now, until, None)
        .await
        .expect("hold");
    assert!(renewed.is_some(), "a renews its own lease");
    let b = store
        .hold_campaign_runner(c.id, "b", until, until, None)
        .await
        .expect("hold");
    assert!(b.is_some(), "b takes over an expired lease");
    store
        .release_campaign_runner(c.id, "a")
        .await
        .expect("release");
    let stored = store
        .get_campaign(c.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        stored.runner.map(|r| r.owner),
        Some("b".into()),
        "only the holder releases"
    );
    store
        .release_campaign_runner(c.id, "b")
        .await
        .expect("release");
    store
        .transition_campaign(c.id, CampaignAction::Pause)
        .await
        .expect("pause");
    let paused = store
        .hold_campaign_runner(c.id, "a", until, until, None)
        .await
        .expect("hold");
    assert!(paused.is_none(), "a paused campaign has no runner");
    let stored = store
        .get_campaign(c.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(stored.runner, None);
}
