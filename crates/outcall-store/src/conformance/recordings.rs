//! Checks of [`RecordingStore`](crate::port::RecordingStore): round trip, the unique
//! `recordingSid`, filters, pages and delete.

use std::collections::HashSet;
use std::time::Duration;

use chrono::TimeDelta;
use outcall_domain::page::{PageRequest, Sort};
use outcall_domain::recording::Recording;
use outcall_domain::time::{self, Timestamp};

use super::{Check, DynStore};
use crate::filter::RecordingFilter;

pub(super) fn checks() -> Vec<Check> {
    vec![
        crate::check!(insert_then_get_returns_the_recording_with_store_timestamps),
        crate::check!(duplicate_recording_sid_conflicts),
        crate::check!(get_unknown_recording_is_none),
        crate::check!(recordings_filter_by_call_sid_and_status),
        crate::check!(recordings_date_filters_are_inclusive_start_exclusive_end),
        crate::check!(recordings_paginate_with_totals),
        crate::check!(delete_recording_removes_it_once),
        crate::check!(upsert_recording_inserts_then_merges_to_a_final_status),
        crate::check!(concurrent_first_reports_of_a_recording_insert_once),
    ]
}

fn page(n: i64, limit: i64) -> PageRequest {
    PageRequest::new(Some(n), Some(limit), Sort::desc("createdAt"))
        .expect("BUG: the check asks for a valid page")
}

async fn insert(store: &DynStore, recording: Recording) -> Recording {
    store
        .insert_recording(recording)
        .await
        .expect("insert_recording")
}

async fn listed_sids(store: &DynStore, filter: &RecordingFilter) -> HashSet<String> {
    let got = store
        .list_recordings(filter, &page(1, 100))
        .await
        .expect("list_recordings");
    assert_eq!(
        got.total as usize,
        got.items.len(),
        "total counts every match of {filter:?}"
    );
    let sids: HashSet<String> = got.items.iter().map(|r| r.recording_sid.clone()).collect();
    assert_eq!(
        sids.len(),
        got.items.len(),
        "{filter:?} listed a recording twice"
    );
    sids
}

async fn insert_then_get_returns_the_recording_with_store_timestamps(store: DynStore) {
    let mut rec = Recording::new("REroundtrip", "CAroundtrip", "completed");
    rec.url = Some("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/REroundtrip".into());
    rec.duration = Some(93);
    rec.channels = Some(2);
    rec.start_time = Some(time::now() - TimeDelta::seconds(93));
    rec.created_at -= TimeDelta::days(400);
    rec.updated_at -= TimeDelta::days(400);
    let before = time::now();
    let inserted = insert(&store, rec.clone()).await;
    assert!(
        inserted.created_at >= before && inserted.created_at <= inserted.updated_at,
        "the store sets createdAt <= updatedAt at insert, ignoring the given ones"
    );
    let expected = Recording {
        created_at: inserted.created_at,
        updated_at: inserted.updated_at,
        ..rec
    };
    assert_eq!(
        inserted, expected,
        "insert_recording returns the recording as given"
    );
    let got = store
        .get_recording("REroundtrip")
        .await
        .expect("get_recording")
        .expect("the recording was inserted");
    assert_eq!(
        got, inserted,
        "get_recording returns what insert_recording returned"
    );

    let minimal = insert(
        &store,
        Recording::new("REminimal", "CAroundtrip", "in-progress"),
    )
    .await;
    let got = store
        .get_recording("REminimal")
        .await
        .expect("get_recording");
    assert_eq!(
        got,
        Some(minimal),
        "a recording with no optional field round-trips"
    );
}

async fn duplicate_recording_sid_conflicts(store: DynStore) {
    let original = insert(&store, Recording::new("REdup", "CA1", "in-progress")).await;
    let err = store
        .insert_recording(Recording::new("REdup", "CA2", "completed"))
        .await
        .expect_err("a second recording with the same recordingSid is refused");
    assert!(
        err.is_conflict(),
        "a duplicate recordingSid is a Conflict, got: {err}"
    );
    let got = store.get_recording("REdup").await.expect("get_recording");
    assert_eq!(got, Some(original), "the original recording is unchanged");
    assert_eq!(
        listed_sids(&store, &RecordingFilter::default()).await.len(),
        1
    );
}

async fn get_unknown_recording_is_none(store: DynStore) {
    insert(&store, Recording::new("REknown", "CA1", "completed")).await;
    let got = store
        .get_recording("REunknown")
        .await
        .expect("get_recording");
    assert_eq!(got, None);
}

async fn recordings_filter_by_call_sid_and_status(store: DynStore) {
    let statuses = ["in-progress", "completed", "absent", "failed"];
    let mut all = Vec::new();
    for i in 0..10 {
        let rec = Recording::new(
            format!("REfilter{i}"),
            format!("CA{}", i % 3),
            statuses[i % 4],
        );
        all.push(insert(&store, rec).await);
    }
    let expect = |pred: &dyn Fn(&Recording) -> bool| -> HashSet<String> {
        all.iter()
            .filter(|r| pred(r))
            .map(|r| r.recording_sid.clone())
            .collect()
    };
    let by_call = RecordingFilter {
        call_sid: Some("CA1".into()),
        ..RecordingFilter::default()
    };
    assert_eq!(
        listed_sids(&store, &by_call).await,
        expect(&|r| r.call_sid == "CA1"),
        "filter by callSid"
    );
    let by_status = RecordingFilter {
        status: Some("completed".into()),
        ..RecordingFilter::default()
    };
    assert_eq!(
        listed_sids(&store, &by_status).await,
        expect(&|r| r.status == "completed"),
        "filter by status"
    );
    let both = RecordingFilter {
        call_sid: Some("CA0".into()),
        status: Some("in-progress".into()),
        ..RecordingFilter::default()
    };
    assert_eq!(
        listed_sids(&store, &both).await,
        expect(&|r| r.call_sid == "CA0" && r.status == "in-progress"),
        "filters combine with AND"
    );
    let nothing = RecordingFilter {
        call_sid: Some("CAnone".into()),
        ..RecordingFilter::default()
    };
    assert!(
        listed_sids(&store, &nothing).await.is_empty(),
        "an unknown callSid has no recordings"
    );
}

async fn recordings_date_filters_are_inclusive_start_exclusive_end(store: DynStore) {
    let mut all = Vec::new();
    for i in 0..5 {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        all.push(
            insert(
                &store,
                Recording::new(format!("REdate{i}"), "CA1", "completed"),
            )
            .await,
        );
    }
    let created: Vec<Timestamp> = all.iter().map(|r| r.created_at).collect();
    assert!(
        created.windows(2).all(|w| w[0] < w[1]),
        "recordings inserted milliseconds apart get increasing createdAt: {created:?}"
    );
    let filter = RecordingFilter {
        start_date: Some(created[1]),
        end_date: Some(created[3]),
        ..RecordingFilter::default()
    };
    let expected: HashSet<String> = ["REdate1", "REdate2"].map(String::from).into();
    assert_eq!(
        listed_sids(&store, &filter).await,
        expected,
        "startDate is inclusive, endDate exclusive (on createdAt)"
    );
}

async fn recordings_paginate_with_totals(store: DynStore) {
    let mut all = HashSet::new();
    for i in 0..7 {
        let rec = insert(
            &store,
            Recording::new(format!("REpage{i}"), "CApage", "completed"),
        )
        .await;
        all.insert(rec.recording_sid);
    }
    let mut seen = HashSet::new();
    for (n, len) in [(1, 3), (2, 3), (3, 1), (4, 0)] {
        let got = store
            .list_recordings(&RecordingFilter::default(), &page(n, 3))
            .await
            .expect("list_recordings");
        assert_eq!(got.total, 7, "page {n}: total counts every recording");
        assert_eq!(
            (got.page, got.limit),
            (n as u32, 3),
            "page {n}: echoes page and limit"
        );
        assert_eq!(got.items.len(), len, "page {n}: number of items");
        for r in got.items {
            assert!(
                seen.insert(r.recording_sid.clone()),
                "page {n}: {} was on an earlier page",
                r.recording_sid
            );
        }
    }
    assert_eq!(seen, all, "the pages hold every recording exactly once");
}

async fn delete_recording_removes_it_once(store: DynStore) {
    insert(&store, Recording::new("REgone", "CA1", "completed")).await;
    let kept = insert(&store, Recording::new("REkept", "CA1", "completed")).await;
    assert!(
        store
            .delete_recording("REgone")
            .await
            .expect("delete_recording"),
        "the first delete removes it"
    );
    assert!(
        !store
            .delete_recording("REgone")
            .await
            .expect("delete_recording"),
        "the second finds nothing"
    );
    assert_eq!(
        store.get_recording("REgone").await.expect("get_recording"),
        None
    );
    assert_eq!(
        store.get_recording("REkept").await.expect("get_recording"),
        Some(kept),
        "others stay"
    );
}

async fn upsert_recording_inserts_then_merges_to_a_final_status(store: DynStore) {
    let started = Recording::new("REup", "CAup", "in-progress");
    let (first, written) = store
        .upsert_recording(started)
        .await
        .expect("upsert_recording");
    assert!(written);
    assert_eq!(first.status, "in-progress");

    let mut done = Recording::new("REup", "CAup", "completed");
    done.url = Some("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/REup".into());
    done.duration = Some(42);
    tokio::time::sleep(Duration::from_millis(3)).await;
    let (merged, written) = store
        .upsert_recording(done)
        .await
        .expect("upsert_recording");
    assert!(written);
    assert_eq!(merged.id, first.id, "the same document");
    assert_eq!(merged.created_at, first.created_at);
    assert!(merged.updated_at > first.updated_at);
    assert_eq!(
        (merged.status.as_str(), merged.duration),
        ("completed", Some(42))
    );
    assert!(merged.url.is_some());

    // A late in-progress report, or a second final one, changes nothing.
    for late in ["in-progress", "failed"] {
        let (kept, written) = store
            .upsert_recording(Recording::new("REup", "CAup", late))
            .await
            .expect("upsert_recording");
        assert!(!written, "{late} after completed");
        assert_eq!(kept, merged);
    }
    assert_eq!(
        store.get_recording("REup").await.expect("get_recording"),
        Some(merged)
    );
}

async fn concurrent_first_reports_of_a_recording_insert_once(store: DynStore) {
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .upsert_recording(Recording::new("RErace", "CArace", "completed"))
                    .await
                    .expect("upsert_recording")
            })
        })
        .collect();
    let mut ids = HashSet::new();
    let mut writes = 0;
    for t in tasks {
        let (rec, written) = t.await.expect("task");
        ids.insert(rec.id);
        writes += usize::from(written);
    }
    assert_eq!(ids.len(), 1, "every caller sees the one stored recording");
    assert_eq!(writes, 1, "only the first report writes");
    let all = store
        .list_recordings(
            &RecordingFilter {
                call_sid: Some("CArace".into()),
                ..Default::default()
            },
            &page(1, 100),
        )
        .await
        .expect("list_recordings");
    assert_eq!(all.total, 1);
}
