//! Checks of [`CallStore`](crate::port::CallStore): round trips, the unique `callSid`
//! and `attemptId`, lists (filters, sorts, pages), the status precedence rules applied
//! atomically under concurrency, and the store-set timestamps.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Timelike, Utc};
use outcall_domain::ObjectId;
use outcall_domain::call::{
    Call, CallOutcome, CallPatch, CallStatus, RefusalReason, StatusChange, StatusUpdate,
    TerminatedBy,
};
use outcall_domain::page::{PageRequest, Sort};
use outcall_domain::time::{self, Timestamp};
use serde_json::{Map, Value, json};
use tokio::sync::Barrier;

use super::{Check, DynStore};
use crate::filter::CallFilter;

pub(super) fn checks() -> Vec<Check> {
    vec![
        crate::check!(insert_then_get_returns_the_same_call),
        crate::check!(duplicate_call_sid_conflicts),
        crate::check!(duplicate_attempt_id_conflicts),
        crate::check!(calls_without_attempt_id_do_not_conflict),
        crate::check!(get_unknown_call_is_none),
        crate::check!(calls_paginate_with_totals),
        crate::check!(calls_filter_by_each_field),
        crate::check!(calls_date_filters_are_inclusive_start_exclusive_end),
        crate::check!(calls_sort_by_created_at_both_ways),
        crate::check!(calls_sort_by_status),
        crate::check!(calls_sort_by_start_time),
        crate::check!(status_updates_move_forward_by_the_domain_rule),
        crate::check!(status_update_moving_backwards_is_refused),
        crate::check!(status_update_with_stale_sequence_is_refused),
        crate::check!(status_update_after_terminal_is_refused),
        crate::check!(late_answer_after_the_end_is_merged_and_stored),
        crate::check!(status_update_without_sequence_number_keeps_the_stored_one),
        crate::check!(status_update_of_unknown_call_is_none),
        crate::check!(concurrent_identical_terminal_updates_apply_once),
        crate::check!(concurrent_sequenced_updates_end_at_the_highest),
        crate::check!(store_sets_timestamps_on_insert_ignoring_given_ones),
        crate::check!(status_change_advances_updated_at_and_keeps_created_at),
        crate::check!(call_timestamps_have_millisecond_precision),
        crate::check!(caller_supplied_timestamps_are_kept_to_the_millisecond),
        crate::check!(delete_call_removes_it_once),
        crate::check!(call_patch_applies_the_domain_rule_and_keeps_first_answers),
        crate::check!(unchanged_call_patch_writes_nothing),
        crate::check!(concurrent_terminators_have_exactly_one_winner),
        crate::check!(call_patch_of_unknown_call_is_none),
    ]
}

const FROM: &str = "+15005550006";
const TO: &str = "+14155552671";

fn page(n: i64, limit: i64, sort: Sort) -> PageRequest {
    PageRequest::new(Some(n), Some(limit), sort).expect("BUG: the check asks for a valid page")
}

fn everything(sort: Sort) -> PageRequest {
    page(1, 100, sort)
}

/// `expected` as the store should give it back: the same data with the store's timestamps.
fn with_times_of(mut expected: Call, stored: &Call) -> Call {
    expected.created_at = stored.created_at;
    expected.updated_at = stored.updated_at;
    expected
}

async fn insert(store: &DynStore, call: Call) -> Call {
    store.insert_call(call).await.expect("insert_call")
}

async fn get(store: &DynStore, sid: &str) -> Call {
    store
        .get_call(sid)
        .await
        .expect("get_call")
        .expect("the call was inserted, so get_call finds it")
}

async fn update(store: &DynStore, sid: &str, update: &StatusUpdate) -> (Call, StatusChange) {
    store
        .update_call_status(sid, update)
        .await
        .expect("update_call_status")
        .expect("the call exists, so update_call_status answers Some")
}

async fn listed_sids(store: &DynStore, filter: &CallFilter, sort: Sort) -> Vec<String> {
    let page = store
        .list_calls(filter, &everything(sort))
        .await
        .expect("list_calls");
    assert_eq!(
        page.total as usize,
        page.items.len(),
        "total must count every match (filter {filter:?})"
    );
    page.items.into_iter().map(|c| c.call_sid).collect()
}

/// Sleeps long enough that the next store-set timestamp is a later millisecond.
async fn next_millisecond() {
    tokio::time::sleep(Duration::from_millis(3)).await;
}

fn map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => panic!("BUG: the check builds maps from JSON objects"),
    }
}

/// A call with every optional field set, all timestamps at millisecond precision.
fn full_call(sid: &str) -> Call {
    let t = time::now();
    let mut c = Call::new(sid, FROM, TO);
    c.conversation_id = Some("conv_0123".into());
    c.status = CallStatus::InProgress;
    c.direction = "outbound-api".into();
    c.start_time = Some(t - TimeDelta::seconds(30));
    c.end_time = Some(t);
    c.duration = Some(30);
    c.answered_by = Some("human".into());
    c.machine_behavior = Some("DetectMessageEnd".into());
    c.agent_id = Some("agent_42".into());
    c.contact_name = Some("Ada Lovelace".into());
    c.campaign_id = Some(ObjectId::new());
    c.contact_id = Some(ObjectId::new());
    c.metadata = map(
        json!({"source": "api", "attempt": 2, "score": 0.5, "nested": {"ok": true, "list": [1, "two", null]}}),
    );
    c.sequence_number = Some(3);
    c.answer_time = Some(t - TimeDelta::seconds(25));
    c.outcome = Some(CallOutcome::Held);
    c.terminated_by = Some(TerminatedBy::Agent);
    c.termination_reason = Some("goal reached".into());
    c.amd_result = Some("human".into());
    c.prompt = Some("You are a polite assistant.".into());
    c.first_message = Some("Hello, {{name}}!".into());
    c.dynamic_variables = Some(map(json!({"name": "Ada", "balance": 12})));
    c.attempt_id = Some(format!("attempt-{sid}"));
    c.region = Some("us1".into());
    c.error_code = Some("31005".into());
    c.error_message = Some("Connection error".into());
    c
}

async fn insert_then_get_returns_the_same_call(store: DynStore) {
    let call = full_call("CAroundtrip");
    let inserted = insert(&store, call.clone()).await;
    assert_eq!(
        inserted,
        with_times_of(call, &inserted),
        "insert_call returns the call as given, with the store's timestamps"
    );
    assert_eq!(
        get(&store, "CAroundtrip").await,
        inserted,
        "get_call returns what insert_call returned"
    );

    let minimal = Call::new("CAminimal", FROM, TO);
    let inserted = insert(&store, minimal.clone()).await;
    assert_eq!(inserted, with_times_of(minimal, &inserted));
    assert_eq!(
        get(&store, "CAminimal").await,
        inserted,
        "a call with no optional field round-trips"
    );
}

async fn duplicate_call_sid_conflicts(store: DynStore) {
    let original = insert(&store, Call::new("CAdup", FROM, TO)).await;
    let mut second = Call::new("CAdup", "+15005550001", "+14155550000");
    second.status = CallStatus::Ringing;
    let err = store
        .insert_call(second)
        .await
        .expect_err("a second call with the same callSid is refused");
    assert!(
        err.is_conflict(),
        "a duplicate callSid is a Conflict, got: {err}"
    );
    assert_eq!(
        get(&store, "CAdup").await,
        original,
        "the original call is unchanged"
    );
    let all = store
        .list_calls(&CallFilter::default(), &everything(Sort::desc("createdAt")))
        .await
        .expect("list_calls");
    assert_eq!(all.total, 1, "the refused call was not stored");
}

async fn duplicate_attempt_id_conflicts(store: DynStore) {
    let mut first = Call::new("CAattempt1", FROM, TO);
    first.attempt_id = Some("attempt-1".into());
    let original = insert(&store, first).await;
    let mut second = Call::new("CAattempt2", FROM, TO);
    second.attempt_id = Some("attempt-1".into());
    let err = store
        .insert_call(second)
        .await
        .expect_err("a second call with the same attemptId is refused");
    assert!(
        err.is_conflict(),
        "a duplicate attemptId is a Conflict, got: {err}"
    );
    assert_eq!(
        get(&store, "CAattempt1").await,
        original,
        "the original call is unchanged"
    );
    assert_eq!(
        store.get_call("CAattempt2").await.expect("get_call"),
        None,
        "the refused call was not stored"
    );
}

async fn calls_without_attempt_id_do_not_conflict(store: DynStore) {
    // `{attemptId: 1}` is unique but sparse: calls without one never collide.
    for sid in ["CAnoattempt1", "CAnoattempt2", "CAnoattempt3"] {
        insert(&store, Call::new(sid, FROM, TO)).await;
    }
    let mut with = Call::new("CAwithattempt", FROM, TO);
    with.attempt_id = Some("attempt-9".into());
    insert(&store, with).await;
    for sid in ["CAnoattempt1", "CAnoattempt2", "CAnoattempt3"] {
        assert_eq!(get(&store, sid).await.attempt_id, None);
    }
}

async fn get_unknown_call_is_none(store: DynStore) {
    insert(&store, Call::new("CAknown", FROM, TO)).await;
    assert_eq!(store.get_call("CAunknown").await.expect("get_call"), None);
    assert_eq!(store.get_call("").await.expect("get_call"), None);
}

async fn calls_paginate_with_totals(store: DynStore) {
    // Inserted back to back, so many calls share a createdAt: pages must still not overlap.
    let mut all = HashSet::new();
    for i in 0..25 {
        let sid = format!("CApage{i:02}");
        insert(&store, Call::new(sid.clone(), FROM, TO)).await;
        all.insert(sid);
    }
    let mut seen = HashSet::new();
    for (n, expected_len) in [(1, 10), (2, 10), (3, 5)] {
        let got = store
            .list_calls(
                &CallFilter::default(),
                &page(n, 10, Sort::desc("createdAt")),
            )
            .await
            .expect("list_calls");
        assert_eq!(got.total, 25, "page {n}: total counts every call");
        assert_eq!(
            (got.page, got.limit),
            (n as u32, 10),
            "page {n}: echoes page and limit"
        );
        assert_eq!(got.items.len(), expected_len, "page {n}: number of items");
        for c in got.items {
            assert!(
                seen.insert(c.call_sid.clone()),
                "page {n}: {} already on an earlier page",
                c.call_sid
            );
        }
    }
    assert_eq!(seen, all, "the three pages hold every call exactly once");
    let past_the_end = store
        .list_calls(
            &CallFilter::default(),
            &page(4, 10, Sort::desc("createdAt")),
        )
        .await
        .expect("list_calls");
    assert!(
        past_the_end.items.is_empty(),
        "page 4 of 25 calls by 10 is empty"
    );
    assert_eq!(
        past_the_end.total, 25,
        "an empty page still reports the total"
    );
}

/// Asserts that `filter` lists exactly the calls `matches` selects among `calls`.
async fn assert_filter(
    store: &DynStore,
    calls: &[Call],
    filter: CallFilter,
    matches: impl Fn(&Call) -> bool,
) {
    let expected: HashSet<String> = calls
        .iter()
        .filter(|c| matches(c))
        .map(|c| c.call_sid.clone())
        .collect();
    assert!(
        !expected.is_empty() && expected.len() < calls.len(),
        "BUG: the check's data must make {filter:?} select some calls but not all"
    );
    let got = listed_sids(store, &filter, Sort::desc("createdAt")).await;
    let got_set: HashSet<String> = got.iter().cloned().collect();
    assert_eq!(
        got.len(),
        got_set.len(),
        "{filter:?} listed a call twice: {got:?}"
    );
    assert_eq!(
        got_set, expected,
        "{filter:?} lists exactly the matching calls"
    );
}

async fn calls_filter_by_each_field(store: DynStore) {
    let (camp_a, camp_b) = (ObjectId::new(), ObjectId::new());
    let (contact_x, contact_y) = (ObjectId::new(), ObjectId::new());
    let froms = ["+15005550006", "+15005550007"];
    let tos = ["+14155550001", "+14155550002", "+14155550003"];
    let statuses = [
        CallStatus::Initiated,
        CallStatus::Ringing,
        CallStatus::InProgress,
        CallStatus::Completed,
    ];
    let mut calls = Vec::new();
    for i in 0..12 {
        let mut c = Call::new(format!("CAfilter{i:02}"), froms[i % 2], tos[i % 3]);
        c.status = statuses[i % 4];
        c.campaign_id = match i % 3 {
            0 => Some(camp_a),
            1 => Some(camp_b),
            _ => None,
        };
        c.contact_id = match i {
            0..=4 => Some(contact_x),
            5..=7 => Some(contact_y),
            _ => None,
        };
        calls.push(insert(&store, c).await);
    }

    let f = CallFilter::default;
    assert_filter(
        &store,
        &calls,
        CallFilter {
            status: Some(CallStatus::Ringing),
            ..f()
        },
        |c| c.status == CallStatus::Ringing,
    )
    .await;
    assert_filter(
        &store,
        &calls,
        CallFilter {
            campaign_id: Some(camp_a),
            ..f()
        },
        |c| c.campaign_id == Some(camp_a),
    )
    .await;
    assert_filter(
        &store,
        &calls,
        CallFilter {
            contact_id: Some(contact_y),
            ..f()
        },
        |c| c.contact_id == Some(contact_y),
    )
    .await;
    assert_filter(
        &store,
        &calls,
        CallFilter {
            to: Some(tos[1].into()),
            ..f()
        },
        |c| c.to == tos[1],
    )
    .await;
    assert_filter(
        &store,
        &calls,
        CallFilter {
            from: Some(froms[1].into()),
            ..f()
        },
        |c| c.from == froms[1],
    )
    .await;
    // Filters combine with AND.
    assert_filter(
        &store,
        &calls,
        CallFilter {
            campaign_id: Some(camp_b),
            from: Some(froms[0].into()),
            ..f()
        },
        |c| c.campaign_id == Some(camp_b) && c.from == froms[0],
    )
    .await;
    let none = CallFilter {
        status: Some(CallStatus::Busy),
        ..f()
    };
    assert!(
        listed_sids(&store, &none, Sort::desc("createdAt"))
            .await
            .is_empty(),
        "no call is busy"
    );
    assert_eq!(
        listed_sids(&store, &f(), Sort::desc("createdAt"))
            .await
            .len(),
        calls.len(),
        "the empty filter lists every call"
    );
}

async fn calls_date_filters_are_inclusive_start_exclusive_end(store: DynStore) {
    let mut calls = Vec::new();
    for i in 0..6 {
        if i > 0 {
            next_millisecond().await;
        }
        calls.push(insert(&store, Call::new(format!("CAdate{i}"), FROM, TO)).await);
    }
    // The bounds are createdAt values the store assigned, read back.
    let created: Vec<Timestamp> = calls.iter().map(|c| c.created_at).collect();
    assert!(
        created.windows(2).all(|w| w[0] < w[1]),
        "calls inserted milliseconds apart get increasing createdAt: {created:?}"
    );
    let (start, end) = (created[1], created[4]);
    let sids_between = |lo: Option<Timestamp>, hi: Option<Timestamp>| -> HashSet<String> {
        calls
            .iter()
            .filter(|c| {
                lo.is_none_or(|lo| c.created_at >= lo) && hi.is_none_or(|hi| c.created_at < hi)
            })
            .map(|c| c.call_sid.clone())
            .collect()
    };
    for (lo, hi, what) in [
        (Some(start), None, "startDate alone"),
        (None, Some(end), "endDate alone"),
        (Some(start), Some(end), "startDate and endDate"),
        (Some(start), Some(start), "an empty range"),
    ] {
        let filter = CallFilter {
            start_date: lo,
            end_date: hi,
            ..CallFilter::default()
        };
        let got: HashSet<String> = listed_sids(&store, &filter, Sort::asc("createdAt"))
            .await
            .into_iter()
            .collect();
        assert_eq!(
            got,
            sids_between(lo, hi),
            "{what}: startDate is inclusive, endDate exclusive"
        );
    }
    let both = CallFilter {
        start_date: Some(start),
        end_date: Some(end),
        ..CallFilter::default()
    };
    let got = listed_sids(&store, &both, Sort::asc("createdAt")).await;
    assert_eq!(
        got,
        ["CAdate1", "CAdate2", "CAdate3"],
        "the call at startDate is in, the one at endDate out"
    );
}

async fn calls_sort_by_created_at_both_ways(store: DynStore) {
    let mut order = Vec::new();
    for i in 0..5 {
        if i > 0 {
            next_millisecond().await;
        }
        // Sids deliberately not in creation order, so an adapter sorting by sid fails.
        let sid = format!("CAsort{}", (i * 3) % 5);
        insert(&store, Call::new(sid.clone(), FROM, TO)).await;
        order.push(sid);
    }
    let got = listed_sids(&store, &CallFilter::default(), Sort::asc("createdAt")).await;
    assert_eq!(got, order, "createdAt ascending is the order of insertion");
    order.reverse();
    let got = listed_sids(&store, &CallFilter::default(), Sort::desc("createdAt")).await;
    assert_eq!(got, order, "-createdAt is the reverse order of insertion");
}

async fn calls_sort_by_status(store: DynStore) {
    // The status is stored as its name, so it sorts by name (as MongoDB sorts strings).
    let statuses = [
        CallStatus::Ringing,
        CallStatus::Completed,
        CallStatus::Initiated,
        CallStatus::NoAnswer,
        CallStatus::Busy,
        CallStatus::InProgress,
        CallStatus::Ringing,
    ];
    for (i, s) in statuses.iter().enumerate() {
        let mut c = Call::new(format!("CAstatus{i}"), FROM, TO);
        c.status = *s;
        insert(&store, c).await;
    }
    let mut names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    names.sort_unstable();
    for (sort, what) in [
        (Sort::asc("status"), "status"),
        (Sort::desc("status"), "-status"),
    ] {
        let page = store
            .list_calls(&CallFilter::default(), &everything(sort))
            .await
            .expect("list_calls");
        let got: Vec<&str> = page.items.iter().map(|c| c.status.as_str()).collect();
        assert_eq!(got, names, "sorted by {what}");
        names.reverse();
    }
}

async fn calls_sort_by_start_time(store: DynStore) {
    let base = time::now();
    let offsets = [40, 10, 30, 0, 20];
    for (i, secs) in offsets.iter().enumerate() {
        let mut c = Call::new(format!("CAstart{i}"), FROM, TO);
        c.start_time = Some(base + TimeDelta::seconds(*secs));
        insert(&store, c).await;
    }
    let expected = ["CAstart3", "CAstart1", "CAstart4", "CAstart2", "CAstart0"];
    let got = listed_sids(&store, &CallFilter::default(), Sort::asc("startTime")).await;
    assert_eq!(got, expected, "sorted by startTime");
    let got = listed_sids(&store, &CallFilter::default(), Sort::desc("startTime")).await;
    let mut reversed = expected;
    reversed.reverse();
    assert_eq!(got, reversed, "sorted by -startTime");
}

async fn status_updates_move_forward_by_the_domain_rule(store: DynStore) {
    let mut expected = insert(&store, Call::new("CAforward", FROM, TO)).await;
    let t0 = time::now();
    let steps = [
        (CallStatus::Ringing, 1, TimeDelta::seconds(1), None),
        (CallStatus::InProgress, 2, TimeDelta::seconds(5), None),
        (CallStatus::Completed, 3, TimeDelta::seconds(65), Some(60)),
    ];
    for (status, seq, after, duration) in steps {
        let u = StatusUpdate {
            status,
            sequence_number: Some(seq),
            timestamp: Some(t0 + after),
            duration,
            answered_by: (status == CallStatus::InProgress).then(|| "human".to_string()),
            ..StatusUpdate::default()
        };
        let from = expected.status;
        assert!(
            expected.apply_status(&u).applied(),
            "BUG: the domain applies each step"
        );
        let (returned, change) = update(&store, "CAforward", &u).await;
        assert_eq!(
            change,
            StatusChange::Applied { from, to: status },
            "{from} -> {status} applies"
        );
        expected.updated_at = returned.updated_at;
        assert_eq!(
            returned, expected,
            "{from} -> {status}: the call is as Call::apply_status leaves it"
        );
        assert_eq!(
            get(&store, "CAforward").await,
            returned,
            "{from} -> {status}: stored as returned"
        );
    }
    let done = get(&store, "CAforward").await;
    assert_eq!(done.status, CallStatus::Completed);
    assert_eq!(done.sequence_number, Some(3));
    assert_eq!(done.answer_time, Some(t0 + TimeDelta::seconds(5)));
    assert_eq!(done.end_time, Some(t0 + TimeDelta::seconds(65)));
    assert_eq!(done.duration, Some(60));
    assert_eq!(done.outcome, Some(CallOutcome::Held));
}

/// Applies `u`, expecting it refused for `reason` with the stored call unchanged.
async fn assert_refused(store: &DynStore, sid: &str, u: &StatusUpdate, reason: RefusalReason) {
    let before = get(store, sid).await;
    // A later millisecond, so a refused update that still touched updatedAt shows.
    next_millisecond().await;
    let (returned, change) = update(store, sid, u).await;
    assert_eq!(
        change,
        StatusChange::Refused {
            current: before.status,
            reason
        },
        "{u:?} over {} (sequence {:?})",
        before.status,
        before.sequence_number
    );
    assert_eq!(returned, before, "a refused update returns the stored call");
    assert_eq!(
        get(store, sid).await,
        before,
        "a refused update changes nothing, updatedAt included"
    );
}

async fn status_update_moving_backwards_is_refused(store: DynStore) {
    insert(&store, Call::new("CAback", FROM, TO)).await;
    update(
        &store,
        "CAback",
        &StatusUpdate::to(CallStatus::InProgress).with_sequence(2),
    )
    .await;
    let ringing = StatusUpdate::to(CallStatus::Ringing);
    assert_refused(
        &store,
        "CAback",
        &ringing.clone().with_sequence(3),
        RefusalReason::Backwards,
    )
    .await;
    assert_refused(&store, "CAback", &ringing, RefusalReason::Backwards).await;
    assert_refused(
        &store,
        "CAback",
        &StatusUpdate::to(CallStatus::Queued).with_sequence(4),
        RefusalReason::Backwards,
    )
    .await;
}

async fn status_update_with_stale_sequence_is_refused(store: DynStore) {
    insert(&store, Call::new("CAstale", FROM, TO)).await;
    update(
        &store,
        "CAstale",
        &StatusUpdate::to(CallStatus::Ringing).with_sequence(5),
    )
    .await;
    let answered = StatusUpdate::to(CallStatus::InProgress);
    assert_refused(
        &store,
        "CAstale",
        &answered.clone().with_sequence(5),
        RefusalReason::StaleSequence,
    )
    .await;
    assert_refused(
        &store,
        "CAstale",
        &answered.clone().with_sequence(4),
        RefusalReason::StaleSequence,
    )
    .await;
    let (call, change) = update(&store, "CAstale", &answered.with_sequence(6)).await;
    assert!(change.applied(), "a higher sequence number applies");
    assert_eq!(
        (call.status, call.sequence_number),
        (CallStatus::InProgress, Some(6))
    );
}

async fn status_update_after_terminal_is_refused(store: DynStore) {
    insert(&store, Call::new("CAfinal", FROM, TO)).await;
    update(
        &store,
        "CAfinal",
        &StatusUpdate::to(CallStatus::Busy).with_sequence(3),
    )
    .await;
    for u in [
        StatusUpdate::to(CallStatus::Completed).with_sequence(9),
        StatusUpdate::to(CallStatus::Failed),
        StatusUpdate::to(CallStatus::InProgress).with_sequence(10),
        StatusUpdate::to(CallStatus::Busy).with_sequence(11),
    ] {
        assert_refused(&store, "CAfinal", &u, RefusalReason::AlreadyFinal).await;
    }
    assert_eq!(get(&store, "CAfinal").await.status, CallStatus::Busy);
}

/// The `in-progress` callback that arrives after `completed` cannot move the call, but
/// its answer time is kept, as `Call::apply_status` leaves it, and a copy adds nothing.
async fn late_answer_after_the_end_is_merged_and_stored(store: DynStore) {
    let mut expected = insert(&store, Call::new("CAlate", FROM, TO)).await;
    let t0 = time::to_millis(time::now());
    let completed = StatusUpdate {
        timestamp: Some(t0 + TimeDelta::seconds(60)),
        duration: Some(50),
        ..StatusUpdate::to(CallStatus::Completed).with_sequence(3)
    };
    let answered = StatusUpdate {
        timestamp: Some(t0 + TimeDelta::seconds(10)),
        ..StatusUpdate::to(CallStatus::InProgress).with_sequence(2)
    };
    expected.apply_status(&completed);
    assert!(
        expected.apply_status(&answered).changed(),
        "BUG: the domain merges the late answer"
    );
    update(&store, "CAlate", &completed).await;
    next_millisecond().await;
    let (returned, change) = update(&store, "CAlate", &answered).await;
    assert_eq!(
        change,
        StatusChange::Merged {
            current: CallStatus::Completed,
            reason: RefusalReason::AlreadyFinal
        }
    );
    expected.updated_at = returned.updated_at;
    assert_eq!(returned, expected, "as Call::apply_status leaves it");
    let stored = get(&store, "CAlate").await;
    assert_eq!(stored, returned, "stored as returned");
    assert_eq!(stored.answer_time, Some(t0 + TimeDelta::seconds(10)));
    assert_eq!(stored.start_time, Some(t0 + TimeDelta::seconds(10)));
    assert_eq!(
        (stored.status, stored.sequence_number),
        (CallStatus::Completed, Some(3))
    );
    assert_refused(&store, "CAlate", &answered, RefusalReason::AlreadyFinal).await;
}

async fn status_update_without_sequence_number_keeps_the_stored_one(store: DynStore) {
    insert(&store, Call::new("CAnoseq", FROM, TO)).await;
    update(
        &store,
        "CAnoseq",
        &StatusUpdate::to(CallStatus::Ringing).with_sequence(4),
    )
    .await;
    let (call, change) = update(&store, "CAnoseq", &StatusUpdate::to(CallStatus::InProgress)).await;
    assert_eq!(
        change,
        StatusChange::Applied {
            from: CallStatus::Ringing,
            to: CallStatus::InProgress
        },
        "a forward update without a sequence number applies"
    );
    assert_eq!(
        call.sequence_number,
        Some(4),
        "and keeps the last applied sequence number"
    );
    assert_eq!(get(&store, "CAnoseq").await, call);
}

async fn status_update_of_unknown_call_is_none(store: DynStore) {
    insert(&store, Call::new("CAexists", FROM, TO)).await;
    let got = store
        .update_call_status(
            "CAmissing",
            &StatusUpdate::to(CallStatus::Ringing).with_sequence(1),
        )
        .await
        .expect("update_call_status");
    assert_eq!(got, None, "no such call");
    assert_eq!(
        store.get_call("CAmissing").await.expect("get_call"),
        None,
        "and none was created"
    );
}

async fn concurrent_identical_terminal_updates_apply_once(store: DynStore) {
    insert(&store, Call::new("CArace", FROM, TO)).await;
    let barrier = Arc::new(Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .update_call_status(
                        "CArace",
                        &StatusUpdate::to(CallStatus::Completed).with_sequence(7),
                    )
                    .await
            })
        })
        .collect();
    let mut applied = 0;
    for task in tasks {
        let (call, change) = task
            .await
            .expect("task ran")
            .expect("update_call_status")
            .expect("the call exists");
        match change {
            StatusChange::Applied { from, to } => {
                applied += 1;
                assert_eq!((from, to), (CallStatus::Initiated, CallStatus::Completed));
            }
            StatusChange::Refused { current, .. } | StatusChange::Merged { current, .. } => {
                assert_eq!(current, CallStatus::Completed)
            }
        }
        assert_eq!(call.status, CallStatus::Completed);
    }
    assert_eq!(
        applied, 1,
        "of 20 identical updates racing, exactly one applies"
    );
    let stored = get(&store, "CArace").await;
    assert_eq!(
        (stored.status, stored.sequence_number),
        (CallStatus::Completed, Some(7))
    );
}

async fn concurrent_sequenced_updates_end_at_the_highest(store: DynStore) {
    insert(&store, Call::new("CAseqrace", FROM, TO)).await;
    let t0 = time::now();
    let barrier = Arc::new(Barrier::new(20));
    let tasks: Vec<_> = (1..=20i64)
        .map(|seq| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let u = StatusUpdate {
                    timestamp: Some(t0 + TimeDelta::milliseconds(seq)),
                    ..StatusUpdate::to(CallStatus::InProgress).with_sequence(seq)
                };
                (seq, store.update_call_status("CAseqrace", &u).await)
            })
        })
        .collect();
    let mut applied = Vec::new();
    let mut first_answers = 0;
    let mut answer_times = HashSet::new();
    for task in tasks {
        let (seq, result) = task.await.expect("task ran");
        let (call, change) = result
            .expect("update_call_status")
            .expect("the call exists");
        if let StatusChange::Applied { from, .. } = change {
            applied.push(seq);
            assert_eq!(
                call.sequence_number,
                Some(seq),
                "an applied update records its sequence number"
            );
            if from == CallStatus::Initiated {
                first_answers += 1;
            }
            answer_times.insert(call.answer_time);
        }
    }
    let stored = get(&store, "CAseqrace").await;
    let highest = applied
        .iter()
        .copied()
        .max()
        .expect("at least one update applies");
    assert_eq!(highest, 20, "the highest sequence number always applies");
    assert_eq!(
        stored.sequence_number,
        Some(highest),
        "the stored sequence number is the highest applied"
    );
    assert_eq!(stored.status, CallStatus::InProgress);
    assert_eq!(
        first_answers, 1,
        "exactly one applied update saw the call before it was answered"
    );
    assert_eq!(
        answer_times.into_iter().collect::<Vec<_>>(),
        vec![stored.answer_time],
        "every applied update saw the answerTime the first one set (updates are serialised)"
    );
}

async fn store_sets_timestamps_on_insert_ignoring_given_ones(store: DynStore) {
    let mut call = Call::new("CAstamped", FROM, TO);
    let long_ago = Utc
        .with_ymd_and_hms(2001, 2, 3, 4, 5, 6)
        .single()
        .expect("BUG: a valid date");
    call.created_at = long_ago;
    call.updated_at = long_ago;
    let before = time::now();
    let inserted = insert(&store, call).await;
    let after = time::now();
    assert!(
        before <= inserted.created_at && inserted.created_at <= after,
        "createdAt is set by the store at insert: {before} <= {} <= {after}",
        inserted.created_at
    );
    assert!(
        inserted.created_at <= inserted.updated_at,
        "createdAt <= updatedAt"
    );
    assert!(
        inserted.updated_at <= after,
        "updatedAt is set by the store at insert"
    );
    let stored = get(&store, "CAstamped").await;
    assert_eq!(
        (stored.created_at, stored.updated_at),
        (inserted.created_at, inserted.updated_at)
    );
}

async fn status_change_advances_updated_at_and_keeps_created_at(store: DynStore) {
    let inserted = insert(&store, Call::new("CAtouch", FROM, TO)).await;
    let (ringing, _) = update(&store, "CAtouch", &StatusUpdate::to(CallStatus::Ringing)).await;
    assert_eq!(
        ringing.created_at, inserted.created_at,
        "createdAt never changes"
    );
    assert!(
        ringing.updated_at >= inserted.updated_at,
        "updatedAt does not go back"
    );
    next_millisecond().await;
    let (answered, _) = update(&store, "CAtouch", &StatusUpdate::to(CallStatus::InProgress)).await;
    assert_eq!(
        answered.created_at, inserted.created_at,
        "createdAt never changes"
    );
    assert!(
        answered.updated_at > ringing.updated_at,
        "updatedAt moves on a status change: {} > {}",
        answered.updated_at,
        ringing.updated_at
    );
    assert!(answered.created_at <= answered.updated_at);
    let stored = get(&store, "CAtouch").await;
    assert_eq!(
        (stored.created_at, stored.updated_at),
        (answered.created_at, answered.updated_at)
    );
}

fn assert_millis(what: &str, t: Option<Timestamp>) {
    if let Some(t) = t {
        assert_eq!(
            t.nanosecond() % 1_000_000,
            0,
            "{what} has millisecond precision: {t:?}"
        );
    }
}

fn assert_call_millis(where_: &str, c: &Call) {
    assert_millis(&format!("{where_}: createdAt"), Some(c.created_at));
    assert_millis(&format!("{where_}: updatedAt"), Some(c.updated_at));
    assert_millis(&format!("{where_}: startTime"), c.start_time);
    assert_millis(&format!("{where_}: answerTime"), c.answer_time);
    assert_millis(&format!("{where_}: endTime"), c.end_time);
}

async fn call_timestamps_have_millisecond_precision(store: DynStore) {
    // Several calls, so at least one lands on a non-zero sub-millisecond instant.
    for i in 0..5 {
        let sid = format!("CAms{i}");
        let inserted = insert(&store, Call::new(sid.clone(), FROM, TO)).await;
        assert_call_millis("insert_call", &inserted);
        assert_call_millis("get_call", &get(&store, &sid).await);
        let (updated, _) = update(&store, &sid, &StatusUpdate::to(CallStatus::InProgress)).await;
        assert_call_millis("update_call_status", &updated);
        assert_call_millis("get_call after update", &get(&store, &sid).await);
    }
    let listed = store
        .list_calls(&CallFilter::default(), &everything(Sort::desc("createdAt")))
        .await
        .expect("list_calls");
    for c in &listed.items {
        assert_call_millis("list_calls", c);
    }
}

async fn caller_supplied_timestamps_are_kept_to_the_millisecond(store: DynStore) {
    // Stores keep milliseconds (MongoDB's Date does), so finer input comes back truncated.
    let fine = Utc
        .with_ymd_and_hms(2024, 5, 6, 7, 8, 9)
        .single()
        .expect("BUG: a valid date")
        + TimeDelta::nanoseconds(123_456_789);
    let mut call = Call::new("CAfine", FROM, TO);
    call.start_time = Some(fine);
    insert(&store, call).await;
    assert_eq!(
        get(&store, "CAfine").await.start_time,
        Some(time::to_millis(fine))
    );

    let answered = StatusUpdate {
        timestamp: Some(fine + TimeDelta::seconds(2)),
        ..StatusUpdate::to(CallStatus::InProgress)
    };
    update(&store, "CAfine", &answered).await;
    assert_eq!(
        get(&store, "CAfine").await.answer_time,
        Some(time::to_millis(fine + TimeDelta::seconds(2))),
        "a status update's timestamp is kept to the millisecond"
    );
}

async fn delete_call_removes_it_once(store: DynStore) {
    insert(&store, Call::new("CAgone", FROM, TO)).await;
    let kept = insert(&store, Call::new("CAkept", FROM, TO)).await;
    assert!(
        store.delete_call("CAgone").await.expect("delete_call"),
        "the first delete removes it"
    );
    assert!(
        !store.delete_call("CAgone").await.expect("delete_call"),
        "the second finds nothing"
    );
    assert_eq!(store.get_call("CAgone").await.expect("get_call"), None);
    assert!(
        !store.delete_call("CAnever").await.expect("delete_call"),
        "an unknown sid deletes nothing"
    );
    assert_eq!(get(&store, "CAkept").await, kept, "other calls stay");
}

async fn call_patch_applies_the_domain_rule_and_keeps_first_answers(store: DynStore) {
    insert(&store, Call::new("CApatch", FROM, TO)).await;
    store
        .update_call_status(
            "CApatch",
            &StatusUpdate::to(CallStatus::InProgress).with_sequence(2),
        )
        .await
        .expect("update_call_status");
    let patch = CallPatch {
        conversation_id: Some("conv_1".into()),
        amd_result: Some("machine_end_beep".into()),
        terminated_by: Some(TerminatedBy::Agent),
        termination_reason: Some("voicemail".into()),
        ..Default::default()
    };
    let before = get(&store, "CApatch").await;
    let mut expected = before.clone();
    assert!(
        patch.apply(&mut expected),
        "BUG: the patch changes the call"
    );
    tokio::time::sleep(Duration::from_millis(3)).await;
    let (stored, changed) = store
        .update_call("CApatch", &patch)
        .await
        .expect("update_call")
        .expect("the call exists");
    assert!(changed);
    expected.updated_at = stored.updated_at;
    assert_eq!(stored, expected, "the store applies CallPatch::apply");
    assert!(stored.updated_at > before.updated_at, "updatedAt advances");
    assert_eq!(get(&store, "CApatch").await, stored, "stored as returned");

    let later = CallPatch {
        conversation_id: Some("conv_2".into()),
        terminated_by: Some(TerminatedBy::Callee),
        termination_reason: Some("hangup".into()),
        ..Default::default()
    };
    let (again, changed) = store
        .update_call("CApatch", &later)
        .await
        .expect("update_call")
        .expect("the call exists");
    assert!(!changed, "the first conversation and terminator stay");
    assert_eq!(again.conversation_id.as_deref(), Some("conv_1"));
    assert_eq!(again.terminated_by, Some(TerminatedBy::Agent));
    assert_eq!(again.outcome, Some(CallOutcome::Voicemail));
}

async fn unchanged_call_patch_writes_nothing(store: DynStore) {
    insert(&store, Call::new("CAsame", FROM, TO)).await;
    let before = get(&store, "CAsame").await;
    tokio::time::sleep(Duration::from_millis(3)).await;
    let (stored, changed) = store
        .update_call("CAsame", &CallPatch::default())
        .await
        .expect("update_call")
        .expect("the call exists");
    assert!(!changed);
    assert_eq!(stored, before);
    assert_eq!(get(&store, "CAsame").await, before, "updatedAt unchanged");
}

async fn concurrent_terminators_have_exactly_one_winner(store: DynStore) {
    insert(&store, Call::new("CArace", FROM, TO)).await;
    let barrier = Arc::new(Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let who = if i % 2 == 0 {
                    TerminatedBy::Agent
                } else {
                    TerminatedBy::Callee
                };
                let patch = CallPatch {
                    terminated_by: Some(who),
                    termination_reason: Some(format!("task {i}")),
                    ..Default::default()
                };
                barrier.wait().await;
                let (call, changed) = store
                    .update_call("CArace", &patch)
                    .await
                    .expect("update_call")
                    .expect("the call exists");
                (i, call, changed)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let (i, _, changed) = t.await.expect("task");
        if changed {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one terminator wins: {winners:?}");
    let stored = get(&store, "CArace").await;
    assert_eq!(
        stored.termination_reason,
        Some(format!("task {}", winners[0])),
        "the winner's reason is stored with its side"
    );
}

async fn call_patch_of_unknown_call_is_none(store: DynStore) {
    let patch = CallPatch {
        conversation_id: Some("c".into()),
        ..Default::default()
    };
    assert_eq!(
        store
            .update_call("CAnone", &patch)
            .await
            .expect("update_call"),
        None
    );
    assert_eq!(
        store.get_call("CAnone").await.expect("get_call"),
        None,
        "nothing created"
    );
}
