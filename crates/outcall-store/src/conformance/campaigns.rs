//! Checks of [`CampaignStore`](crate::port::CampaignStore): round trip, lists, the state
//! machine as compare-and-set (exactly one winner under concurrency), conditional edits
//! and exact stats counters under concurrent increments.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use outcall_domain::ObjectId;
use outcall_domain::campaign::{
    CallingWindow, Campaign, CampaignAction, CampaignPatch, CampaignSettings, CampaignStats,
    CampaignStatus, SheetInfo, StatsDelta, VoicemailSettings,
};
use outcall_domain::page::{PageRequest, Sort};
use outcall_domain::time;
use tokio::sync::Barrier;

use super::{Check, DynStore};
use crate::filter::CampaignFilter;
use crate::port::Transition;

pub(super) fn checks() -> Vec<Check> {
    vec![
        crate::check!(insert_then_get_returns_the_campaign_with_store_timestamps),
        crate::check!(get_unknown_campaign_is_none),
        crate::check!(campaigns_filter_by_status_and_exact_name),
        crate::check!(campaigns_paginate_with_totals),
        crate::check!(campaigns_sort_by_name),
        crate::check!(update_campaign_applies_the_patch_while_status_allowed),
        crate::check!(update_campaign_outside_only_if_is_refused_and_changes_nothing),
        crate::check!(unknown_campaign_is_not_found_for_every_write),
        crate::check!(transitions_follow_the_state_machine),
        crate::check!(complete_and_stop_from_their_allowed_statuses),
        crate::check!(concurrent_starts_have_exactly_one_winner),
        crate::check!(add_campaign_stats_adds_every_counter),
        crate::check!(concurrent_stats_increments_are_exact),
        crate::check!(recount_sets_call_counters_from_the_stored_calls),
        crate::check!(delete_campaign_removes_it_once),
        crate::check!(reopen_only_a_completed_campaign),
        crate::check!(a_dial_opens_only_while_active_under_the_runner_lease),
        crate::check!(dial_marks_are_renewed_by_their_owner_and_closed),
        crate::check!(a_dial_closed_counting_its_call_loses_its_mark_and_counts_once),
        crate::check!(concurrent_dial_openings_of_two_processes_have_one_winner),
        crate::check!(an_expired_mark_is_not_in_flight_and_goes_at_the_next_dial),
    ]
}

fn page(n: i64, limit: i64, sort: Sort) -> PageRequest {
    PageRequest::new(Some(n), Some(limit), sort).expect("BUG: the check asks for a valid page")
}

/// Sleeps long enough that a store-set timestamp taken next is a later millisecond.
async fn next_millisecond() {
    tokio::time::sleep(Duration::from_millis(3)).await;
}

async fn insert(store: &DynStore, campaign: Campaign) -> Campaign {
    store
        .insert_campaign(campaign)
        .await
        .expect("insert_campaign")
}

async fn get(store: &DynStore, id: ObjectId) -> Campaign {
    store
        .get_campaign(id)
        .await
        .expect("get_campaign")
        .expect("the campaign was inserted, so get_campaign finds it")
}

fn with_status(name: &str, status: CampaignStatus) -> Campaign {
    let mut c = Campaign::new(name);
    c.status = status;
    c
}

fn full_campaign() -> Campaign {
    let t = time::now();
    let mut c = Campaign::new("Spring reminders");
    c.description = Some("Appointment reminders for April".into());
    c.prompt = Some("Remind {{name}} of the appointment.".into());
    c.first_message = Some("Hi {{name}}!".into());
    c.caller_id = Some("+15005550006".into());
    c.region = Some("ie1".into());
    c.sheet_info = Some(SheetInfo {
        spreadsheet_id: "1AbCdEf".into(),
        sheet_name: Some("April".into()),
        phone_column: Some("Phone".into()),
        name_column: Some("Name".into()),
        email_column: Some("E-mail".into()),
        status_column: Some("Call status".into()),
        result_column: Some("Result".into()),
        custom_message_column: None,
    });
    c.stats = CampaignStats {
        total_contacts: 12,
        calls_placed: 5,
        calls_completed: 4,
        calls_answered: 2,
        calls_failed: 1,
        average_duration: 12.5,
        total_duration: 25,
    };
    c.settings = CampaignSettings {
        call_delay: 10.0,
        max_concurrent_calls: 3,
        retry_count: 2,
        retry_delay: 600.0,
        calling_window: Some(CallingWindow {
            start: "09:00".into(),
            end: "20:00".into(),
            days: vec!["mon".into(), "wed".into(), "fri".into()],
            timezone: "America/New_York".into(),
        }),
        retry_on: vec!["busy".into(), "no-answer".into()],
        voicemail: Some(VoicemailSettings {
            action: "leave-message".into(),
            message: Some("Please call us back.".into()),
        }),
        agent_id: Some("agent_7".into()),
    };
    c.last_executed = Some(t - TimeDelta::hours(1));
    c.next_execution = Some(t + TimeDelta::hours(1));
    c.contact_ids = vec![ObjectId::new(), ObjectId::new()];
    c.call_ids = vec![ObjectId::new()];
    c
}

async fn insert_then_get_returns_the_campaign_with_store_timestamps(store: DynStore) {
    let mut c = full_campaign();
    c.created_at -= TimeDelta::days(400);
    c.updated_at -= TimeDelta::days(400);
    let before = time::now();
    let inserted = insert(&store, c.clone()).await;
    assert!(
        inserted.created_at >= before && inserted.created_at <= inserted.updated_at,
        "the store sets createdAt <= updatedAt at insert, ignoring the given ones"
    );
    let expected = Campaign {
        created_at: inserted.created_at,
        updated_at: inserted.updated_at,
        ..c
    };
    assert_eq!(
        inserted, expected,
        "insert_campaign returns the campaign as given"
    );
    assert_eq!(
        get(&store, inserted.id).await,
        inserted,
        "get_campaign returns it"
    );

    let minimal = insert(&store, Campaign::new("Bare")).await;
    assert_eq!(
        get(&store, minimal.id).await,
        minimal,
        "a campaign with defaults round-trips"
    );
}

async fn get_unknown_campaign_is_none(store: DynStore) {
    insert(&store, Campaign::new("Known")).await;
    let got = store
        .get_campaign(ObjectId::new())
        .await
        .expect("get_campaign");
    assert_eq!(got, None);
}

async fn listed_ids(store: &DynStore, filter: &CampaignFilter) -> HashSet<ObjectId> {
    let got = store
        .list_campaigns(filter, &page(1, 100, Sort::desc("createdAt")))
        .await
        .expect("list_campaigns");
    assert_eq!(
        got.total as usize,
        got.items.len(),
        "total counts every match of {filter:?}"
    );
    got.items.iter().map(|c| c.id).collect()
}

async fn campaigns_filter_by_status_and_exact_name(store: DynStore) {
    use CampaignStatus::*;
    let mut all = Vec::new();
    for (name, status) in [
        ("Spring drive", Draft),
        ("Summer drive", Active),
        ("Spring drive", Paused),
        ("Autumn", Active),
        ("Spring", Draft),
        ("Winter", Cancelled),
    ] {
        all.push(insert(&store, with_status(name, status)).await);
    }
    let ids = |pred: &dyn Fn(&Campaign) -> bool| -> HashSet<ObjectId> {
        all.iter().filter(|c| pred(c)).map(|c| c.id).collect()
    };
    let f = CampaignFilter::default;
    let active = CampaignFilter {
        status: Some(Active),
        ..f()
    };
    assert_eq!(
        listed_ids(&store, &active).await,
        ids(&|c| c.status == Active),
        "by status"
    );
    let spring_drive = CampaignFilter {
        name: Some("Spring drive".into()),
        ..f()
    };
    assert_eq!(
        listed_ids(&store, &spring_drive).await,
        ids(&|c| c.name == "Spring drive"),
        "by name"
    );
    let spring = CampaignFilter {
        name: Some("Spring".into()),
        ..f()
    };
    assert_eq!(
        listed_ids(&store, &spring).await,
        ids(&|c| c.name == "Spring"),
        "the name filter is exact: \"Spring\" does not match \"Spring drive\""
    );
    let both = CampaignFilter {
        status: Some(Paused),
        name: Some("Spring drive".into()),
    };
    assert_eq!(
        listed_ids(&store, &both).await,
        ids(&|c| c.status == Paused && c.name == "Spring drive"),
        "filters combine with AND"
    );
    assert_eq!(
        listed_ids(&store, &f()).await.len(),
        all.len(),
        "no filter lists all"
    );
}

async fn campaigns_paginate_with_totals(store: DynStore) {
    let mut all = HashSet::new();
    for i in 0..7 {
        all.insert(
            insert(&store, Campaign::new(format!("Campaign {i}")))
                .await
                .id,
        );
    }
    let mut seen = HashSet::new();
    for (n, len) in [(1, 3), (2, 3), (3, 1), (4, 0)] {
        let got = store
            .list_campaigns(
                &CampaignFilter::default(),
                &page(n, 3, Sort::desc("createdAt")),
            )
            .await
            .expect("list_campaigns");
        assert_eq!(got.total, 7, "page {n}: total counts every campaign");
        assert_eq!(
            (got.page, got.limit),
            (n as u32, 3),
            "page {n}: echoes page and limit"
        );
        assert_eq!(got.items.len(), len, "page {n}: number of items");
        for c in got.items {
            assert!(
                seen.insert(c.id),
                "page {n}: {} was on an earlier page",
                c.name
            );
        }
    }
    assert_eq!(seen, all, "the pages hold every campaign exactly once");
}

async fn campaigns_sort_by_name(store: DynStore) {
    let names = ["Delta", "alpha", "Charlie", "Bravo", "Echo"];
    for name in names {
        insert(&store, Campaign::new(name)).await;
    }
    // Byte order, as MongoDB compares strings without a collation: upper case first.
    let mut expected: Vec<&str> = names.to_vec();
    expected.sort_unstable();
    for (sort, what) in [(Sort::asc("name"), "name"), (Sort::desc("name"), "-name")] {
        let got = store
            .list_campaigns(&CampaignFilter::default(), &page(1, 100, sort))
            .await
            .expect("list_campaigns");
        let got: Vec<&str> = got.items.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(got, expected, "sorted by {what}");
        expected.reverse();
    }
}

fn a_patch() -> CampaignPatch {
    CampaignPatch {
        name: Some("Renamed".into()),
        description: Some("New description".into()),
        settings: Some(CampaignSettings {
            max_concurrent_calls: 5,
            retry_on: vec!["failed".into()],
            ..CampaignSettings::default()
        }),
        next_execution: Some(time::now() + TimeDelta::minutes(10)),
        ..CampaignPatch::default()
    }
}

async fn update_campaign_applies_the_patch_while_status_allowed(store: DynStore) {
    let original = insert(&store, full_campaign()).await;
    let other = insert(&store, Campaign::new("Other")).await;
    let patch = a_patch();
    let got = store
        .update_campaign(
            original.id,
            &patch,
            &[CampaignStatus::Draft, CampaignStatus::Paused],
        )
        .await
        .expect("update_campaign");
    let Transition::Applied(updated) = got else {
        panic!("a draft campaign may be edited when only_if holds draft: got {got:?}");
    };
    let updated = *updated;
    let mut expected = original.clone();
    patch.apply(&mut expected);
    expected.updated_at = updated.updated_at;
    assert_eq!(updated, expected, "exactly the patch's fields change");
    assert!(
        updated.updated_at >= original.updated_at,
        "updatedAt does not go back"
    );
    assert_eq!(
        get(&store, original.id).await,
        updated,
        "stored as returned"
    );
    assert_eq!(get(&store, other.id).await, other, "other campaigns stay");
}

async fn update_campaign_outside_only_if_is_refused_and_changes_nothing(store: DynStore) {
    let draft = insert(&store, Campaign::new("Draft")).await;
    let active = insert(&store, with_status("Active", CampaignStatus::Active)).await;
    next_millisecond().await;
    let got = store
        .update_campaign(draft.id, &a_patch(), &[CampaignStatus::Paused])
        .await
        .expect("update_campaign");
    assert_eq!(
        got,
        Transition::Refused(CampaignStatus::Draft),
        "draft is not in only_if"
    );
    assert_eq!(
        get(&store, draft.id).await,
        draft,
        "a refused edit changes nothing"
    );

    let got = store
        .update_campaign(
            active.id,
            &a_patch(),
            &[CampaignStatus::Draft, CampaignStatus::Paused],
        )
        .await
        .expect("update_campaign");
    assert_eq!(
        got,
        Transition::Refused(CampaignStatus::Active),
        "active is not in only_if"
    );
    assert_eq!(
        get(&store, active.id).await,
        active,
        "a refused edit changes nothing"
    );

    let got = store
        .update_campaign(draft.id, &a_patch(), &[])
        .await
        .expect("update_campaign");
    assert_eq!(
        got,
        Transition::Refused(CampaignStatus::Draft),
        "an empty only_if allows nothing"
    );
    assert_eq!(get(&store, draft.id).await, draft);
}

async fn unknown_campaign_is_not_found_for_every_write(store: DynStore) {
    let known = insert(&store, Campaign::new("Known")).await;
    let unknown = ObjectId::new();
    let got = store
        .update_campaign(unknown, &a_patch(), &CampaignStatus::ALL)
        .await
        .expect("update_campaign");
    assert_eq!(
        got,
        Transition::NotFound,
        "update_campaign of an unknown id"
    );
    for action in [
        CampaignAction::Start,
        CampaignAction::Pause,
        CampaignAction::Resume,
        CampaignAction::Stop,
        CampaignAction::Complete,
    ] {
        let got = store
            .transition_campaign(unknown, action)
            .await
            .expect("transition_campaign");
        assert_eq!(got, Transition::NotFound, "{action:?} of an unknown id");
    }
    let got = store
        .add_campaign_stats(
            unknown,
            &StatsDelta {
                calls_placed: 1,
                ..StatsDelta::default()
            },
        )
        .await
        .expect("add_campaign_stats");
    assert_eq!(got, None, "add_campaign_stats of an unknown id");
    assert_eq!(
        store.get_campaign(unknown).await.expect("get_campaign"),
        None,
        "nothing was created"
    );
    assert_eq!(get(&store, known.id).await, known, "other campaigns stay");
}

/// Applies `action`, expecting it to move the campaign to the action's target status
/// and change nothing else but `updatedAt`.
async fn assert_applies(store: &DynStore, id: ObjectId, action: CampaignAction) -> Campaign {
    let before = get(store, id).await;
    let got = store
        .transition_campaign(id, action)
        .await
        .expect("transition_campaign");
    let Transition::Applied(after) = got else {
        panic!("{action:?} from {} applies: got {got:?}", before.status);
    };
    let after = *after;
    let mut expected = before.clone();
    expected.status = action.target();
    expected.updated_at = after.updated_at;
    assert_eq!(
        after, expected,
        "{action:?} from {} changes the status only",
        before.status
    );
    assert!(
        after.updated_at >= before.updated_at,
        "updatedAt does not go back"
    );
    assert_eq!(get(store, id).await, after, "stored as returned");
    after
}

/// Applies `action`, expecting it refused with the current status and nothing changed.
async fn assert_refused(store: &DynStore, id: ObjectId, action: CampaignAction) {
    let before = get(store, id).await;
    // A later millisecond, so a refused transition that still touched updatedAt shows.
    next_millisecond().await;
    let got = store
        .transition_campaign(id, action)
        .await
        .expect("transition_campaign");
    assert_eq!(
        got,
        Transition::Refused(before.status),
        "{action:?} from {}",
        before.status
    );
    assert_eq!(
        get(store, id).await,
        before,
        "a refused {action:?} changes nothing"
    );
}

async fn transitions_follow_the_state_machine(store: DynStore) {
    use CampaignAction::*;
    let id = insert(&store, Campaign::new("Lifecycle")).await.id;
    assert_refused(&store, id, Pause).await;
    assert_refused(&store, id, Resume).await;
    assert_applies(&store, id, Start).await;
    assert_refused(&store, id, Start).await;
    assert_refused(&store, id, Resume).await;
    assert_applies(&store, id, Pause).await;
    assert_refused(&store, id, Pause).await;
    assert_refused(&store, id, Complete).await;
    assert_applies(&store, id, Resume).await;
    let stopped = assert_applies(&store, id, Stop).await;
    assert_eq!(stopped.status, CampaignStatus::Cancelled, "stop cancels");
    for action in [Start, Pause, Resume, Stop, Complete, Reopen] {
        assert_refused(&store, id, action).await;
    }
}

async fn complete_and_stop_from_their_allowed_statuses(store: DynStore) {
    use CampaignAction::*;
    let id = insert(&store, Campaign::new("Completes")).await.id;
    assert_refused(&store, id, Complete).await;
    assert_applies(&store, id, Start).await;
    let done = assert_applies(&store, id, Complete).await;
    assert_eq!(done.status, CampaignStatus::Completed);
    for action in [Start, Pause, Resume, Stop, Complete] {
        assert_refused(&store, id, action).await;
    }

    let draft = insert(&store, Campaign::new("Stopped as draft")).await.id;
    assert_eq!(
        assert_applies(&store, draft, Stop).await.status,
        CampaignStatus::Cancelled
    );
    let paused = insert(&store, Campaign::new("Stopped while paused"))
        .await
        .id;
    assert_applies(&store, paused, Start).await;
    assert_applies(&store, paused, Pause).await;
    assert_eq!(
        assert_applies(&store, paused, Stop).await.status,
        CampaignStatus::Cancelled
    );
}

async fn concurrent_starts_have_exactly_one_winner(store: DynStore) {
    let id = insert(&store, Campaign::new("Race")).await.id;
    let barrier = Arc::new(Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.transition_campaign(id, CampaignAction::Start).await
            })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        match task.await.expect("task ran").expect("transition_campaign") {
            Transition::Applied(c) => {
                winners += 1;
                assert_eq!(c.status, CampaignStatus::Active);
            }
            Transition::Refused(status) => {
                assert_eq!(
                    status,
                    CampaignStatus::Active,
                    "losers see the winner's status"
                )
            }
            Transition::NotFound => panic!("the campaign exists"),
        }
    }
    assert_eq!(winners, 1, "of 20 concurrent starts exactly one wins");
    assert_eq!(get(&store, id).await.status, CampaignStatus::Active);
}

fn assert_stats(got: &CampaignStats, expected: &CampaignStats, what: &str) {
    let ints = |s: &CampaignStats| {
        (
            s.total_contacts,
            s.calls_placed,
            s.calls_completed,
            s.calls_answered,
            s.calls_failed,
            s.total_duration,
        )
    };
    assert_eq!(
        ints(got),
        ints(expected),
        "{what}: (totalContacts, callsPlaced, callsCompleted, callsAnswered, callsFailed, totalDuration)"
    );
    assert!(
        (got.average_duration - expected.average_duration).abs() < 1e-9,
        "{what}: averageDuration {} is the exact mean {}",
        got.average_duration,
        expected.average_duration
    );
}

async fn add_campaign_stats_adds_every_counter(store: DynStore) {
    // Start from counters already there (as in a database the seed's app filled).
    let mut c = Campaign::new("Counters");
    c.stats = CampaignStats {
        total_contacts: 4,
        calls_placed: 2,
        calls_completed: 2,
        calls_answered: 2,
        calls_failed: 0,
        average_duration: 15.0,
        total_duration: 30,
    };
    let c = insert(&store, c).await;
    let mut expected = c.stats.clone();
    for delta in [
        StatsDelta {
            total_contacts: 10,
            calls_placed: 3,
            calls_completed: 2,
            calls_answered: 1,
            calls_failed: 1,
            answered_duration: 91,
        },
        StatsDelta {
            calls_placed: 1,
            calls_failed: 1,
            ..StatsDelta::default()
        },
        StatsDelta {
            calls_placed: 1,
            calls_completed: 1,
            calls_answered: 1,
            answered_duration: 4,
            ..StatsDelta::default()
        },
    ] {
        expected.add(&delta);
        let got = store
            .add_campaign_stats(c.id, &delta)
            .await
            .expect("add_campaign_stats")
            .expect("the campaign exists");
        assert_stats(&got.stats, &expected, &format!("after {delta:?}"));
        assert_eq!(get(&store, c.id).await, got, "stored as returned");
        assert_eq!(
            (got.name.as_str(), got.status),
            ("Counters", CampaignStatus::Draft),
            "only stats change"
        );
    }
}

async fn concurrent_stats_increments_are_exact(store: DynStore) {
    let id = insert(&store, Campaign::new("Busy counters")).await.id;
    let barrier = Arc::new(Barrier::new(50));
    let tasks: Vec<_> = (1..=50i64)
        .map(|i| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let delta = StatsDelta {
                    calls_placed: 1,
                    calls_answered: 1,
                    answered_duration: i,
                    ..StatsDelta::default()
                };
                store.add_campaign_stats(id, &delta).await
            })
        })
        .collect();
    for task in tasks {
        let got = task.await.expect("task ran").expect("add_campaign_stats");
        assert!(got.is_some(), "the campaign exists");
    }
    let expected = CampaignStats {
        calls_placed: 50,
        calls_answered: 50,
        total_duration: 1275,
        average_duration: 25.5,
        ..CampaignStats::default()
    };
    assert_stats(
        &get(&store, id).await.stats,
        &expected,
        "after 50 concurrent increments",
    );
}

async fn recount_sets_call_counters_from_the_stored_calls(store: DynStore) {
    use outcall_domain::CallStatus;
    use outcall_domain::call::{Call, CallOutcome};
    let c = insert(&store, Campaign::new("Recount")).await;
    let other = insert(&store, Campaign::new("Other")).await;
    // Counters a crash left one short, and totalContacts, which a recount keeps.
    let drifted = StatsDelta {
        total_contacts: 7,
        calls_placed: 4,
        calls_completed: 1,
        calls_answered: 1,
        calls_failed: 2,
        answered_duration: 60,
    };
    store
        .add_campaign_stats(c.id, &drifted)
        .await
        .expect("add_campaign_stats");
    let calls = [
        (
            c.id,
            CallStatus::Completed,
            Some(CallOutcome::Held),
            Some(60),
        ),
        (
            c.id,
            CallStatus::Completed,
            Some(CallOutcome::Held),
            Some(90),
        ),
        (
            c.id,
            CallStatus::Completed,
            Some(CallOutcome::Voicemail),
            Some(20),
        ),
        (c.id, CallStatus::Busy, Some(CallOutcome::Busy), None),
        (c.id, CallStatus::NoAnswer, None, None),
        (c.id, CallStatus::InProgress, None, None),
        (
            other.id,
            CallStatus::Completed,
            Some(CallOutcome::Held),
            Some(500),
        ),
    ];
    for (i, (campaign, status, outcome, duration)) in calls.into_iter().enumerate() {
        let mut call = Call::new(format!("CArecount{i:026}"), "+15550000000", "+15551230000");
        call.campaign_id = Some(campaign);
        call.status = status;
        call.outcome = outcome;
        call.duration = duration;
        store.insert_call(call).await.expect("insert_call");
    }
    let got = store
        .recount_campaign_calls(c.id)
        .await
        .expect("recount_campaign_calls")
        .expect("the campaign exists");
    let want = CampaignStats {
        total_contacts: 7,
        calls_placed: 6,
        calls_completed: 3,
        calls_answered: 2,
        calls_failed: 2,
        average_duration: 75.0,
        total_duration: 150,
    };
    assert_eq!(got.stats, want, "the answer");
    assert_eq!(get(&store, c.id).await.stats, want, "as stored");
    assert!(
        store
            .recount_campaign_calls(ObjectId::new())
            .await
            .expect("recount_campaign_calls")
            .is_none(),
        "an unknown campaign is None"
    );
}

async fn delete_campaign_removes_it_once(store: DynStore) {
    let gone = insert(&store, Campaign::new("Gone")).await.id;
    let kept = insert(&store, Campaign::new("Kept")).await;
    assert!(
        store.delete_campaign(gone).await.expect("delete_campaign"),
        "the first delete removes it"
    );
    assert!(
        !store.delete_campaign(gone).await.expect("delete_campaign"),
        "the second finds nothing"
    );
    assert_eq!(store.get_campaign(gone).await.expect("get_campaign"), None);
    assert_eq!(get(&store, kept.id).await, kept, "other campaigns stay");
}

async fn reopen_only_a_completed_campaign(store: DynStore) {
    use CampaignAction::*;
    let id = insert(&store, Campaign::new("Reopens")).await.id;
    assert_refused(&store, id, Reopen).await;
    assert_applies(&store, id, Start).await;
    assert_refused(&store, id, Reopen).await;
    assert_applies(&store, id, Complete).await;
    let again = assert_applies(&store, id, Reopen).await;
    assert_eq!(again.status, CampaignStatus::Active);
}

async fn started(store: &DynStore, name: &str) -> ObjectId {
    let id = insert(store, Campaign::new(name)).await.id;
    store
        .transition_campaign(id, CampaignAction::Start)
        .await
        .expect("start");
    id
}

async fn open(
    store: &DynStore,
    id: ObjectId,
    owner: &str,
    dial: &str,
    now: time::Timestamp,
) -> Option<Campaign> {
    store
        .open_campaign_dial(id, owner, dial, now, now + TimeDelta::seconds(15))
        .await
        .expect("open_campaign_dial")
}

async fn a_dial_opens_only_while_active_under_the_runner_lease(store: DynStore) {
    let now = time::now();
    let draft = insert(&store, Campaign::new("Draft")).await;
    assert!(open(&store, draft.id, "a", "d0", now).await.is_none());
    assert_eq!(
        get(&store, draft.id).await,
        draft,
        "a refused dial changes nothing"
    );

    let id = started(&store, "Dials").await;
    let c = open(&store, id, "a", "d1", now)
        .await
        .expect("a opens a dial");
    assert_eq!(c.last_executed, Some(time::to_millis(now)), "lastExecuted");
    assert_eq!(c.runner.as_ref().map(|r| r.owner.as_str()), Some("a"));
    assert!(c.dialling(now), "the dial is in flight");
    assert_eq!(get(&store, id).await, c, "stored as returned");

    let before = get(&store, id).await;
    assert!(
        open(&store, id, "b", "d2", now).await.is_none(),
        "b may not dial while a holds the campaign"
    );
    assert_eq!(
        get(&store, id).await,
        before,
        "b's refused dial changes nothing"
    );

    store
        .transition_campaign(id, CampaignAction::Pause)
        .await
        .expect("pause");
    assert!(
        open(&store, id, "a", "d3", now).await.is_none(),
        "no dial opens once paused"
    );
    let paused = get(&store, id).await;
    assert!(
        paused.dialling(now),
        "the dial opened before the pause is still in flight"
    );
    assert_eq!(paused.dials.len(), 1);
}

async fn dial_marks_are_renewed_by_their_owner_and_closed(store: DynStore) {
    let now = time::now();
    let id = started(&store, "Renewals").await;
    open(&store, id, "a", "d1", now).await.expect("open");
    store
        .transition_campaign(id, CampaignAction::Pause)
        .await
        .expect("pause");
    let later = now + TimeDelta::seconds(60);
    assert!(
        !store
            .renew_campaign_runner(id, "b", &["d1".into()], later)
            .await
            .expect("renew"),
        "b holds nothing"
    );
    assert!(
        store
            .renew_campaign_runner(id, "a", &["d1".into()], later)
            .await
            .expect("renew"),
        "a renews its lease and mark, paused or not"
    );
    let c = get(&store, id).await;
    let until = time::to_millis(later);
    assert_eq!(c.runner.as_ref().map(|r| r.expires_at), Some(until));
    assert_eq!(c.dials.get("d1").map(|m| m.expires_at), Some(until));
    assert!(c.dialling(now + TimeDelta::seconds(30)));

    store.close_campaign_dial(id, "d1").await.expect("close");
    store
        .close_campaign_dial(id, "d1")
        .await
        .expect("close twice");
    let c = get(&store, id).await;
    assert!(
        c.dials.is_empty() && !c.dialling(now),
        "closed: {:?}",
        c.dials
    );
    assert!(
        store
            .renew_campaign_runner(id, "a", &["d1".into()], later)
            .await
            .expect("renew"),
        "the lease alone is still a's"
    );
    assert!(
        get(&store, id).await.dials.is_empty(),
        "a closed mark is not renewed back"
    );
}

async fn a_dial_closed_counting_its_call_loses_its_mark_and_counts_once(store: DynStore) {
    let now = time::now();
    let id = started(&store, "Counted").await;
    open(&store, id, "a", "d1", now).await.expect("open d1");
    open(&store, id, "a", "d2", now).await.expect("open d2");
    let placed = StatsDelta {
        calls_placed: 1,
        ..StatsDelta::default()
    };
    let written = store
        .close_campaign_dial_counting(id, "d1", &placed)
        .await
        .expect("close counting")
        .expect("the campaign exists");
    let stored = get(&store, id).await;
    assert_eq!(written, stored, "the campaign as written is the one stored");
    assert_eq!(stored.stats.calls_placed, 1, "the call counts once");
    assert!(
        !stored.dials.contains_key("d1") && stored.dials.contains_key("d2"),
        "only its own mark goes: {:?}",
        stored.dials
    );
    // Concurrent closings of different dials: every call counts, every mark goes.
    let mut tasks = Vec::new();
    for i in 0..6 {
        let dial = format!("c{i}");
        open(&store, id, "a", &dial, now).await.expect("open");
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.close_campaign_dial_counting(id, &dial, &placed).await
        }));
    }
    for task in tasks {
        task.await
            .expect("task ran")
            .expect("close counting")
            .expect("the campaign exists");
    }
    let stored = get(&store, id).await;
    assert_eq!(stored.stats.calls_placed, 7, "no count lost or doubled");
    assert_eq!(
        stored.dials.keys().collect::<Vec<_>>(),
        vec!["d2"],
        "the closed marks went"
    );
    let unknown = store
        .close_campaign_dial_counting(ObjectId::new(), "d1", &placed)
        .await
        .expect("close counting an unknown campaign");
    assert_eq!(unknown, None);
}

async fn concurrent_dial_openings_of_two_processes_have_one_winner(store: DynStore) {
    let id = started(&store, "Race").await;
    let now = time::now();
    let barrier = Arc::new(Barrier::new(8));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let owner = if i % 2 == 0 { "a" } else { "b" };
            let dial = format!("d{i}");
            open(&store, id, owner, &dial, now)
                .await
                .map(|_| owner.to_string())
        }));
    }
    let mut owners = HashSet::new();
    let mut opened = 0;
    for t in tasks {
        if let Some(owner) = t.await.expect("task") {
            owners.insert(owner);
            opened += 1;
        }
    }
    assert_eq!(
        owners.len(),
        1,
        "one process dials the campaign: {owners:?}"
    );
    let c = get(&store, id).await;
    assert_eq!(c.dials.len(), opened, "every opened dial is marked");
    assert!(c.dials.values().all(|m| owners.contains(&m.owner)));
}

async fn an_expired_mark_is_not_in_flight_and_goes_at_the_next_dial(store: DynStore) {
    let id = started(&store, "Expiry").await;
    let t0 = time::now() - TimeDelta::seconds(60);
    open(&store, id, "a", "dead", t0).await.expect("open");
    let now = time::now();
    assert!(!get(&store, id).await.dialling(now), "a's mark expired");
    let c = open(&store, id, "b", "live", now)
        .await
        .expect("b takes over the expired lease");
    assert_eq!(c.runner.as_ref().map(|r| r.owner.as_str()), Some("b"));
    let stored = get(&store, id).await;
    assert_eq!(
        stored.dials.keys().map(String::as_str).collect::<Vec<_>>(),
        ["live"],
        "the dead process's mark is gone"
    );
}
