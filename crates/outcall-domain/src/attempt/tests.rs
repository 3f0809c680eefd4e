//! Every transition of the attempt machine: a table of stage × event, the rules of
//! each move, and properties over random interleavings of stale and live writers.

use std::collections::{HashMap, HashSet};

use chrono::TimeDelta;
use proptest::prelude::*;

use super::*;
use crate::id::ObjectId;

fn t0() -> Timestamp {
    "2026-03-01T12:00:00Z".parse().expect("RFC 3339")
}

fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

fn settings(retry_on: &[&str], retry_count: i64) -> CampaignSettings {
    CampaignSettings {
        retry_on: retry_on.iter().map(|s| s.to_string()).collect(),
        retry_count,
        retry_delay: 60.0,
        ..CampaignSettings::default()
    }
}

fn claim(owner: &str, attempt: &str, now: Timestamp) -> Claim {
    Claim {
        owner: owner.into(),
        attempt_id: attempt.into(),
        now,
        expires_at: now + secs(30),
    }
}

/// Applies a transition as a store does: only when its guard admits.
fn write(cc: &mut CampaignContact, next: &Next) -> bool {
    if !next.guard.admits(cc) {
        return false;
    }
    next.step.apply(cc);
    true
}

fn go(cc: &mut CampaignContact, event: Event<'_>) -> Next {
    let next = Attempt::of(cc)
        .transition(event.clone())
        .unwrap_or_else(|e| panic!("{}: {e}", event.name()));
    assert!(
        write(cc, &next),
        "{}: the guard admits its own read",
        event.name()
    );
    next
}

fn contact() -> CampaignContact {
    CampaignContact::new(ObjectId::new(), ObjectId::new(), "+14155550100")
}

/// A contact in each stage.
fn in_stage(stage: Stage) -> CampaignContact {
    let mut cc = contact();
    let s = settings(&[], 0);
    if stage == Stage::Waiting {
        return cc;
    }
    go(&mut cc, Event::Claim(&claim("a", "A1", t0())));
    match stage {
        Stage::Claimed => {}
        Stage::Sent => {
            go(&mut cc, Event::Send { at: t0() });
        }
        Stage::Placed => {
            go(&mut cc, Event::Send { at: t0() });
            go(&mut cc, Event::Placed { call_sid: "CA1" });
        }
        Stage::Final => {
            go(&mut cc, Event::Send { at: t0() });
            go(
                &mut cc,
                Event::Ended {
                    call_sid: "CA1",
                    outcome: "held",
                    now: t0(),
                    settings: &s,
                },
            );
        }
        Stage::Waiting => unreachable!(),
    }
    assert_eq!(Stage::of(&cc), stage);
    cc
}

const STAGES: [Stage; 5] = [
    Stage::Waiting,
    Stage::Claimed,
    Stage::Sent,
    Stage::Placed,
    Stage::Final,
];

#[test]
fn every_stage_and_event_has_one_answer() {
    use Stage::*;
    let s = settings(&["busy"], 1);
    let c = claim("b", "A2", t0());
    let late = t0() + secs(60);
    // Each event with the stage it leads to from each stage (None: refused).
    let table: Vec<(Event<'_>, [Option<Stage>; 5])> = vec![
        (Event::Claim(&c), [Some(Claimed), None, None, None, None]),
        (
            Event::Skip(SkipReason::DoNotCall),
            [None, Some(Final), None, None, None],
        ),
        (
            Event::Defer { until: late },
            [None, Some(Waiting), None, None, None],
        ),
        (Event::Release, [None, Some(Waiting), None, None, None]),
        (
            Event::Send { at: t0() },
            [None, Some(Sent), None, None, None],
        ),
        (
            Event::NotSent {
                now: t0(),
                retry_after: None,
            },
            [None, None, Some(Waiting), None, None],
        ),
        (
            Event::Refused {
                now: t0(),
                settings: &s,
            },
            [None, None, Some(Final), None, None],
        ),
        (
            Event::Placed { call_sid: "CA9" },
            [None, None, Some(Placed), None, None],
        ),
        (
            Event::Ended {
                call_sid: "CA1",
                outcome: "busy",
                now: t0(),
                settings: &s,
            },
            [None, None, Some(Waiting), Some(Waiting), None],
        ),
        (Event::Unconfirmed, [None, None, Some(Final), None, None]),
        (
            Event::NotItsCall { call_sid: "CA1" },
            [None, None, None, Some(Sent), None],
        ),
        (
            Event::TakeOver {
                owner: "b",
                now: late,
                expires_at: late + secs(30),
            },
            [None, Some(Claimed), Some(Sent), Some(Placed), None],
        ),
        (
            Event::Renew { expires_at: late },
            [None, Some(Claimed), Some(Sent), Some(Placed), None],
        ),
    ];
    for (event, row) in &table {
        for (stage, expected) in STAGES.iter().zip(row) {
            let cc = in_stage(*stage);
            let got = Attempt::of(&cc).transition(event.clone());
            match (expected, got) {
                (Some(to), Ok(next)) => {
                    assert_eq!(next.stage, *to, "{} from {stage:?}", event.name());
                    let mut after = cc.clone();
                    assert!(write(&mut after, &next), "{} from {stage:?}", event.name());
                    assert_eq!(Stage::of(&after), *to, "{} from {stage:?}", event.name());
                    assert_eq!(after.lease.is_some(), to.is_leased());
                }
                (None, Err(_)) => {}
                (want, got) => panic!(
                    "{} from {stage:?}: want {want:?}, got {got:?}",
                    event.name()
                ),
            }
        }
    }
}

#[test]
fn a_claim_clears_the_previous_attempts_call_and_dial() {
    let s = settings(&["busy"], 2);
    let mut cc = in_stage(Stage::Placed);
    go(
        &mut cc,
        Event::Ended {
            call_sid: "CA1",
            outcome: "busy",
            now: t0(),
            settings: &s,
        },
    );
    assert_eq!(
        (cc.status, cc.last_call_sid.as_deref()),
        (DialStatus::Retry, Some("CA1"))
    );
    let due = cc.next_attempt_at.expect("a retry is scheduled");
    assert_eq!(
        Attempt::of(&cc).transition(Event::Claim(&claim("a", "A2", due - secs(1)))),
        Err(Refused::NotDue)
    );
    go(&mut cc, Event::Claim(&claim("a", "A2", due)));
    assert_eq!(Stage::of(&cc), Stage::Claimed);
    assert_eq!((cc.last_call_sid.clone(), cc.dialled_at), (None, None));
    go(&mut cc, Event::Send { at: due });
    assert_eq!(
        Stage::of(&cc),
        Stage::Sent,
        "the retry's dial is not mistaken for the previous call"
    );
    assert_eq!(cc.attempts, 1);
}

#[test]
fn a_stalled_owner_loses_to_the_one_that_took_over() {
    let mut cc = in_stage(Stage::Claimed);
    let stale = cc.clone();
    let later = t0() + secs(30);
    go(
        &mut cc,
        Event::TakeOver {
            owner: "b",
            now: later,
            expires_at: later + secs(30),
        },
    );
    // The stalled owner's "sent" still reads its old lease: its guard names owner a.
    let send = Attempt::of(&stale)
        .transition(Event::Send { at: later })
        .expect("applies to what a read");
    assert_eq!(
        send.guard.lease.as_ref().map(|k| k.owner.as_str()),
        Some("a")
    );
    assert!(
        !write(&mut cc, &send),
        "owner a's dial is refused after b took over"
    );
    // The new owner releases the never-dialled attempt.
    go(&mut cc, Event::Release);
    assert_eq!((cc.status, cc.attempts), (DialStatus::Pending, 0));
}

#[test]
fn take_over_needs_an_expired_lease_and_happens_once() {
    let mut cc = in_stage(Stage::Sent);
    let expiry = cc.lease.as_ref().expect("leased").expires_at;
    let early = Event::TakeOver {
        owner: "b",
        now: expiry - secs(1),
        expires_at: expiry + secs(30),
    };
    assert_eq!(Attempt::of(&cc).transition(early), Err(Refused::LeaseLive));
    let b = Attempt::of(&cc)
        .transition(Event::TakeOver {
            owner: "b",
            now: expiry,
            expires_at: expiry + secs(30),
        })
        .expect("expired");
    let c = Attempt::of(&cc)
        .transition(Event::TakeOver {
            owner: "c",
            now: expiry,
            expires_at: expiry + secs(30),
        })
        .expect("expired");
    assert!(write(&mut cc, &b));
    assert!(
        !write(&mut cc, &c),
        "the second take-over of one read loses"
    );
    assert_eq!(cc.lease.as_ref().map(|l| l.owner.as_str()), Some("b"));
    assert_eq!(Stage::of(&cc), Stage::Sent, "a take-over keeps the stage");
}

#[test]
fn a_call_ending_before_its_placement_is_counted_once() {
    let s = settings(&[], 0);
    let mut cc = in_stage(Stage::Sent);
    let owner_view = cc.clone();
    let ended = go(
        &mut cc,
        Event::Ended {
            call_sid: "CA7",
            outcome: "held",
            now: t0(),
            settings: &s,
        },
    );
    assert_eq!(
        ended.effect,
        Effect {
            call_placed: Some("CA7".into()),
            call_ended: true
        }
    );
    assert_eq!((cc.status, cc.attempts), (DialStatus::Completed, 1));
    let placed = Attempt::of(&owner_view)
        .transition(Event::Placed { call_sid: "CA7" })
        .expect("applies to the owner's read");
    assert!(
        !write(&mut cc, &placed),
        "the late placement changes nothing"
    );
    assert_eq!(cc.attempts, 1);
}

#[test]
fn an_end_names_the_attempts_own_call() {
    let s = settings(&[], 0);
    let cc = in_stage(Stage::Placed);
    let other = Event::Ended {
        call_sid: "CAother",
        outcome: "held",
        now: t0(),
        settings: &s,
    };
    assert_eq!(Attempt::of(&cc).transition(other), Err(Refused::OtherCall));
    let mut cc = cc;
    let own = go(
        &mut cc,
        Event::Ended {
            call_sid: "CA1",
            outcome: "voicemail",
            now: t0(),
            settings: &s,
        },
    );
    assert_eq!(own.effect.call_placed, None, "counted when it was placed");
    assert!(own.effect.call_ended);
    assert_eq!(
        (cc.status, cc.attempts, cc.lease.clone()),
        (DialStatus::Completed, 1, None)
    );
}

#[test]
fn not_sent_counts_no_attempt_and_backs_off() {
    let mut cc = in_stage(Stage::Sent);
    go(
        &mut cc,
        Event::NotSent {
            now: t0(),
            retry_after: None,
        },
    );
    assert_eq!(
        (cc.status, cc.attempts, cc.dialled_at),
        (DialStatus::Pending, 0, None)
    );
    assert_eq!(cc.next_attempt_at, Some(t0() + secs(2)));
    assert_eq!(cc.last_result.as_deref(), Some(NOT_SENT));
    go(&mut cc, Event::Claim(&claim("a", "A2", t0() + secs(2))));
    go(&mut cc, Event::Send { at: t0() });
    go(
        &mut cc,
        Event::NotSent {
            now: t0(),
            retry_after: Some(Duration::from_secs(86_400)),
        },
    );
    assert_eq!(
        cc.next_attempt_at,
        Some(t0() + secs(300)),
        "a huge Retry-After is capped"
    );
}

#[test]
fn a_refusal_follows_the_retry_rules() {
    let retrying = settings(&["failed"], 1);
    let mut cc = in_stage(Stage::Sent);
    go(
        &mut cc,
        Event::Refused {
            now: t0(),
            settings: &retrying,
        },
    );
    assert_eq!((cc.status, cc.attempts), (DialStatus::Retry, 1));
    assert_eq!(cc.next_attempt_at, Some(t0() + secs(60)));
    go(&mut cc, Event::Claim(&claim("a", "A2", t0() + secs(60))));
    go(&mut cc, Event::Send { at: t0() });
    go(
        &mut cc,
        Event::Refused {
            now: t0(),
            settings: &retrying,
        },
    );
    assert_eq!((cc.status, cc.attempts), (DialStatus::Failed, 2));
    assert_eq!(cc.last_result.as_deref(), Some("failed"));
}

#[test]
fn unconfirmed_is_final_and_counts_the_attempt() {
    let mut cc = in_stage(Stage::Sent);
    let next = go(&mut cc, Event::Unconfirmed);
    assert_eq!(next.effect, Effect::default());
    assert_eq!((cc.status, cc.attempts), (DialStatus::Failed, 1));
    assert_eq!(cc.last_result.as_deref(), Some(UNCONFIRMED));
}

#[test]
fn skip_and_defer_release_without_an_attempt() {
    let mut cc = in_stage(Stage::Claimed);
    go(&mut cc, Event::Skip(SkipReason::InvalidNumber));
    assert_eq!(
        (cc.status, cc.skip_reason, cc.attempts),
        (DialStatus::Skipped, Some(SkipReason::InvalidNumber), 0)
    );
    let mut cc = in_stage(Stage::Claimed);
    let until = t0() + secs(3600);
    go(&mut cc, Event::Defer { until });
    assert_eq!(
        (cc.status, cc.next_attempt_at),
        (DialStatus::Pending, Some(until))
    );
}

#[test]
fn a_previous_attempts_call_left_on_old_data_is_forgotten() {
    // Written before claims cleared `lastCallSid`: a retry's claim kept the old call.
    let mut cc = in_stage(Stage::Sent);
    cc.last_call_sid = Some("CAold".into());
    assert_eq!(Stage::of(&cc), Stage::Placed);
    assert_eq!(
        Attempt::of(&cc).transition(Event::NotItsCall { call_sid: "CAnew" }),
        Err(Refused::OtherCall)
    );
    let attempts = cc.attempts;
    go(&mut cc, Event::NotItsCall { call_sid: "CAold" });
    assert_eq!((Stage::of(&cc), cc.attempts), (Stage::Sent, attempts));
    assert_eq!(cc.last_call_sid, None);
}

#[test]
fn renew_keeps_the_owner_and_moves_the_expiry() {
    let mut cc = in_stage(Stage::Sent);
    let later = t0() + secs(600);
    go(&mut cc, Event::Renew { expires_at: later });
    let lease = cc.lease.expect("leased");
    assert_eq!((lease.owner.as_str(), lease.expires_at), ("a", later));
}

// --- Properties over random histories ------------------------------------------

/// Every event but `NotItsCall`: a repair for old data the machine never writes
/// (a previous attempt's call on a new attempt), covered by its own tests.
#[derive(Debug, Clone)]
enum Op {
    Claim,
    Skip,
    Defer,
    Release,
    Send,
    NotSent,
    Refused,
    Placed,
    Ended(u8),
    Unconfirmed,
    TakeOver,
    Renew,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Claim),
        Just(Op::Skip),
        Just(Op::Defer),
        Just(Op::Release),
        Just(Op::Send),
        Just(Op::NotSent),
        Just(Op::Refused),
        Just(Op::Placed),
        (0u8..4).prop_map(Op::Ended),
        Just(Op::Unconfirmed),
        Just(Op::TakeOver),
        Just(Op::Renew),
    ]
}

/// One step of a history: what happened, by which process, from which read (0: the
/// current state; n: the n-th most recent earlier state, a stalled process's view).
type Move = (Op, u8, usize, i64);

fn history() -> impl Strategy<Value = Vec<Move>> {
    prop::collection::vec((op(), 0u8..3, 0usize..4, 0i64..90), 1..60)
}

/// The attempt id a view holds, if any.
fn attempt_of(cc: &CampaignContact) -> Option<String> {
    cc.lease.as_ref().map(|l| l.attempt_id.clone())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn histories_keep_every_promise(moves in history()) {
        let s = settings(&["busy", "no-answer", "failed"], 2);
        let outcomes = ["held", "busy", "no-answer", "voicemail"];
        let mut cc = contact();
        let mut views: Vec<CampaignContact> = vec![cc.clone()];
        let mut now = t0();
        let (mut sends, mut placed): (HashMap<String, u32>, HashMap<String, u32>) = Default::default();
        let mut claimed: HashSet<String> = HashSet::new();
        let mut counted_attempts = 0i64;
        let mut calls = 0u32;
        for (n, (op, process, age, dt)) in moves.into_iter().enumerate() {
            now += secs(dt);
            let owner = ["p0", "p1", "p2"][usize::from(process)];
            let view = views[views.len().saturating_sub(1 + age)].clone();
            let attempt_id = format!("A{n}");
            let c = claim(owner, &attempt_id, now);
            let call_sid = format!("CA{calls}");
            let event = match &op {
                Op::Claim => Event::Claim(&c),
                Op::Skip => Event::Skip(SkipReason::DoNotCall),
                Op::Defer => Event::Defer { until: now + secs(5) },
                Op::Release => Event::Release,
                Op::Send => Event::Send { at: now },
                Op::NotSent => Event::NotSent { now, retry_after: None },
                Op::Refused => Event::Refused { now, settings: &s },
                Op::Placed => Event::Placed { call_sid: &call_sid },
                Op::Ended(i) => Event::Ended {
                    call_sid: view.last_call_sid.as_deref().unwrap_or(&call_sid),
                    outcome: outcomes[usize::from(*i)],
                    now,
                    settings: &s,
                },
                Op::Unconfirmed => Event::Unconfirmed,
                Op::TakeOver => Event::TakeOver { owner, now, expires_at: now + secs(30) },
                Op::Renew => Event::Renew { expires_at: now + secs(30) },
            };
            let Ok(next) = Attempt::of(&view).transition(event) else { continue };
            // What the machine promises about its own write, on the state it read.
            let mut on_view = view.clone();
            prop_assert!(next.guard.admits(&on_view));
            next.step.apply(&mut on_view);
            prop_assert_eq!(Stage::of(&on_view), next.stage);
            prop_assert_eq!(on_view.lease.is_some(), next.stage.is_leased());
            prop_assert!((0..=1).contains(&next.step.attempts_inc));
            if Stage::of(&view) == Stage::Final {
                prop_assert!(false, "a final contact moved: {:?}", op);
            }
            // The store's compare-and-set on the current state.
            let before = cc.clone();
            if !write(&mut cc, &next) {
                continue;
            }
            prop_assert!(cc.attempts >= before.attempts);
            // Only the process holding the lease, as stored, writes under it.
            if let (Some(read), Some(held)) = (&view.lease, &before.lease) {
                prop_assert_eq!((&read.attempt_id, &read.owner), (&held.attempt_id, &held.owner));
            }
            let id = attempt_of(&before).or_else(|| attempt_of(&cc)).unwrap_or_default();
            match op {
                Op::Claim => {
                    prop_assert!(claimed.insert(id.clone()), "attempt {} claimed twice", id);
                    prop_assert_eq!(cc.last_call_sid.clone(), None);
                }
                Op::Send => {
                    let n = sends.entry(id.clone()).or_default();
                    *n += 1;
                    prop_assert_eq!(*n, 1, "attempt {} dialled twice", id);
                }
                _ => {}
            }
            if let Some(sid) = &next.effect.call_placed {
                calls += 1;
                let n = placed.entry(id.clone()).or_default();
                *n += 1;
                prop_assert_eq!(*n, 1, "attempt {} counted {} twice", id, sid);
            }
            counted_attempts += next.step.attempts_inc;
            prop_assert_eq!(cc.attempts, counted_attempts);
            // An attempt is only counted once it was sent.
            if next.step.attempts_inc == 1 {
                prop_assert_eq!(sends.get(&id).copied(), Some(1));
            }
            // A write that changed the stage or the lease's holder cannot land twice.
            let mut again = cc.clone();
            if write(&mut again, &next) {
                prop_assert_eq!(Stage::of(&before), Stage::of(&cc));
                prop_assert_eq!(&before.lease.as_ref().map(|l| &l.attempt_id), &cc.lease.as_ref().map(|l| &l.attempt_id));
                prop_assert_eq!(next.step.attempts_inc, 0);
            }
            views.push(cc.clone());
        }
        prop_assert!(cc.attempts <= i64::try_from(sends.len()).unwrap_or(i64::MAX));
    }

    #[test]
    fn a_waiting_contact_is_claimed_only_when_due(offset in -120i64..120) {
        let mut cc = contact();
        cc.status = DialStatus::Retry;
        cc.next_attempt_at = Some(t0());
        let got = Attempt::of(&cc).transition(Event::Claim(&claim("a", "A1", t0() + secs(offset))));
        prop_assert_eq!(got.is_ok(), offset >= 0);
    }

    #[test]
    fn not_sent_waits_at_least_the_backoff_and_at_most_the_cap(after in proptest::option::of(0u64..100_000)) {
        let mut cc = in_stage(Stage::Sent);
        go(&mut cc, Event::NotSent { now: t0(), retry_after: after.map(Duration::from_secs) });
        let wait = cc.next_attempt_at.expect("scheduled") - t0();
        let want = after.map_or(2, |a| a.min(300));
        prop_assert_eq!(wait, secs(i64::try_from(want).unwrap_or(300)));
        prop_assert_eq!(cc.attempts, 0);
    }
}
