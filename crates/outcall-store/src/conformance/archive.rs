//! Checks of [`ArchiveStore`](crate::archive::ArchiveStore): daily rollups that a seal
//! makes permanent, and deleting a call with everything stored for it.

use chrono::NaiveDate;
use outcall_domain::call::Call;
use outcall_domain::callstats::DailyCallStats;
use outcall_domain::event::CallEvent;
use outcall_domain::page::{PageRequest, Sort};
use outcall_domain::recording::Recording;
use outcall_domain::transcript::Transcript;

use super::{Check, DynStore};
use crate::filter::{EventFilter, RecordingFilter};

pub(super) fn checks() -> Vec<Check> {
    vec![
        crate::check!(daily_stats_are_stored_and_listed_by_day),
        crate::check!(an_unsealed_rollup_is_replaced_and_a_sealed_one_never),
        crate::check!(concurrent_seals_of_one_day_have_exactly_one_winner),
        crate::check!(delete_call_records_removes_the_call_and_only_its_records),
    ]
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, d).expect("BUG: the check uses valid dates")
}

fn rollup(d: u32, calls: u64, sealed: bool) -> DailyCallStats {
    let mut s = DailyCallStats::empty(day(d));
    s.calls = calls;
    s.answered = calls / 2;
    s.total_duration = 30 * (calls / 2) as i64;
    s.by_status.insert("completed".into(), calls / 2);
    s.by_status.insert("no-answer".into(), calls - calls / 2);
    s.by_outcome.insert("held".into(), calls / 2);
    s.by_answered_by.insert("human".into(), calls / 2);
    s.sealed = sealed;
    s
}

/// The fields a caller sets (the store sets `_id` on first write and the times).
fn counts(s: &DailyCallStats) -> impl PartialEq + std::fmt::Debug + use<> {
    (
        s.day,
        s.calls,
        s.answered,
        s.total_duration,
        s.by_status.clone(),
        s.by_outcome.clone(),
        s.by_answered_by.clone(),
        s.sealed,
    )
}

async fn daily_stats_are_stored_and_listed_by_day(store: DynStore) {
    for d in [3, 1, 2, 5] {
        let (stored, wrote) = store
            .put_daily_stats(rollup(d, d as u64 * 10, false))
            .await
            .expect("put");
        assert!(wrote);
        assert_eq!(counts(&stored), counts(&rollup(d, d as u64 * 10, false)));
    }
    let got = store
        .get_daily_stats(day(2))
        .await
        .expect("get")
        .expect("day 2 is stored");
    assert_eq!(counts(&got), counts(&rollup(2, 20, false)));
    assert!(store.get_daily_stats(day(4)).await.expect("get").is_none());
    let listed = store.list_daily_stats(day(2), day(5)).await.expect("list");
    assert_eq!(
        listed.iter().map(|s| s.day).collect::<Vec<_>>(),
        vec![day(2), day(3)],
        "[from, to) in day order"
    );
}

async fn an_unsealed_rollup_is_replaced_and_a_sealed_one_never(store: DynStore) {
    let (first, _) = store
        .put_daily_stats(rollup(7, 10, false))
        .await
        .expect("put");
    let (second, wrote) = store
        .put_daily_stats(rollup(7, 12, false))
        .await
        .expect("put");
    assert!(wrote, "an unsealed rollup is recomputed");
    assert_eq!(second.calls, 12);
    assert_eq!(
        (second.id, second.created_at),
        (first.id, first.created_at),
        "same document"
    );
    let (sealed, wrote) = store
        .put_daily_stats(rollup(7, 15, true))
        .await
        .expect("seal");
    assert!(wrote && sealed.sealed);
    let (after, wrote) = store
        .put_daily_stats(rollup(7, 3, false))
        .await
        .expect("put");
    assert!(!wrote, "a sealed rollup is never replaced");
    assert_eq!(counts(&after), counts(&rollup(7, 15, true)));
    let (after, wrote) = store
        .put_daily_stats(rollup(7, 99, true))
        .await
        .expect("reseal");
    assert!(!wrote, "not even by another seal");
    assert_eq!(after.calls, 15);
    assert_eq!(
        store
            .get_daily_stats(day(7))
            .await
            .expect("get")
            .map(|s| s.calls),
        Some(15)
    );
    assert_eq!(
        store
            .list_daily_stats(day(1), day(31))
            .await
            .expect("list")
            .len(),
        1,
        "one per day"
    );
}

async fn concurrent_seals_of_one_day_have_exactly_one_winner(store: DynStore) {
    let tasks: Vec<_> = (1..=10u64)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move { store.put_daily_stats(rollup(9, n, true)).await })
        })
        .collect();
    let mut winners = Vec::new();
    let mut seen = Vec::new();
    for t in tasks {
        let (stored, wrote) = t.await.expect("task").expect("put");
        if wrote {
            winners.push(stored.calls);
        }
        seen.push(stored.calls);
    }
    assert_eq!(winners.len(), 1, "exactly one seal wins: {winners:?}");
    let kept = store
        .get_daily_stats(day(9))
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(kept.calls, winners[0]);
    assert!(
        seen.iter().all(|c| *c == kept.calls),
        "every loser is told the winner: {seen:?}"
    );
}

async fn delete_call_records_removes_the_call_and_only_its_records(store: DynStore) {
    for sid in ["CAarch1", "CAarch2"] {
        store
            .insert_call(Call::new(sid, "+15005550006", "+14155552671"))
            .await
            .expect("call");
        for n in 0..3 {
            let e = CallEvent::new(
                sid,
                "status-change",
                serde_json::Map::from_iter([("n".to_string(), n.into())]),
            );
            store.insert_event(e).await.expect("event");
        }
        store
            .insert_recording(Recording::new(format!("RE{sid}"), sid, "completed"))
            .await
            .expect("recording");
        store
            .insert_transcript(Transcript::new(sid))
            .await
            .expect("transcript");
    }
    assert!(store.delete_call_records("CAarch1").await.expect("delete"));
    assert!(
        !store.delete_call_records("CAarch1").await.expect("again"),
        "a second delete finds nothing"
    );

    let page = PageRequest::new(Some(1), Some(100), Sort::asc("timestamp")).expect("page");
    let rec_page = PageRequest::new(Some(1), Some(100), Sort::desc("createdAt")).expect("page");
    assert!(store.get_call("CAarch1").await.expect("get").is_none());
    assert_eq!(
        store
            .list_events("CAarch1", &EventFilter::default(), &page)
            .await
            .expect("events")
            .total,
        0
    );
    assert!(
        store
            .get_recording("RECAarch1")
            .await
            .expect("rec")
            .is_none()
    );
    assert!(store.get_transcript("CAarch1").await.expect("tr").is_none());
    let by_call = RecordingFilter {
        call_sid: Some("CAarch1".into()),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_recordings(&by_call, &rec_page)
            .await
            .expect("recs")
            .total,
        0
    );

    assert!(
        store.get_call("CAarch2").await.expect("get").is_some(),
        "the other call stays"
    );
    assert_eq!(
        store
            .list_events("CAarch2", &EventFilter::default(), &page)
            .await
            .expect("events")
            .total,
        3
    );
    assert!(
        store
            .get_recording("RECAarch2")
            .await
            .expect("rec")
            .is_some()
    );
    assert!(store.get_transcript("CAarch2").await.expect("tr").is_some());
}
