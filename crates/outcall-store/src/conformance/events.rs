//! Checks of [`CallEventStore`](crate::port::CallEventStore): a call's timeline, only
//! its own events, in `timestamp` order whatever the order of insertion.

use std::collections::HashSet;

use chrono::TimeDelta;
use outcall_domain::event::CallEvent;
use outcall_domain::page::{PageRequest, Sort};
use outcall_domain::time::{self, Timestamp};
use serde_json::{Map, Value, json};

use super::{Check, DynStore};
use crate::filter::EventFilter;

pub(super) fn checks() -> Vec<Check> {
    vec![
        crate::check!(inserted_events_are_listed_as_given_with_store_timestamps),
        crate::check!(list_events_returns_one_calls_timeline_in_timestamp_order),
        crate::check!(list_events_honours_a_descending_sort),
        crate::check!(list_events_filters_by_event_type),
        crate::check!(list_events_paginate_with_totals),
        crate::check!(purge_deletes_exactly_the_events_stored_before_the_cutoff),
    ]
}

fn page(n: i64, limit: i64, sort: Sort) -> PageRequest {
    PageRequest::new(Some(n), Some(limit), sort).expect("BUG: the check asks for a valid page")
}

fn map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => panic!("BUG: the check builds maps from JSON objects"),
    }
}

fn event(call_sid: &str, event_type: &str, at: Timestamp, n: usize) -> CallEvent {
    let mut e = CallEvent::new(
        call_sid,
        event_type,
        map(json!({"n": n, "note": format!("event {n}")})),
    );
    e.timestamp = at;
    e
}

/// Inserts, for each of `CAev1` and `CAev2`, events whose timestamps are out of order,
/// and returns them all as stored.
async fn seed(store: &DynStore) -> Vec<CallEvent> {
    let t0 = time::now() - TimeDelta::minutes(5);
    let types = [
        "status-change",
        "dtmf",
        "status-change",
        "machine-detection",
        "recording",
    ];
    // Seconds after t0, deliberately shuffled.
    let offsets = [30, 5, 50, 0, 20, 40, 10];
    let mut stored = Vec::new();
    for (n, secs) in offsets.iter().enumerate() {
        for sid in ["CAev1", "CAev2"] {
            // CAev2's events sit half a second later, so the two timelines interleave.
            let half = if sid == "CAev2" { 500 } else { 0 };
            let at = t0 + TimeDelta::seconds(*secs) + TimeDelta::milliseconds(half);
            let e = event(sid, types[n % types.len()], at, n);
            stored.push(store.insert_event(e).await.expect("insert_event"));
        }
    }
    stored
}

fn timeline(
    all: &[CallEvent],
    call_sid: &str,
    keep: impl Fn(&CallEvent) -> bool,
) -> Vec<CallEvent> {
    let mut events: Vec<CallEvent> = all
        .iter()
        .filter(|e| e.call_sid == call_sid && keep(e))
        .cloned()
        .collect();
    events.sort_by_key(|e| e.timestamp);
    events
}

async fn inserted_events_are_listed_as_given_with_store_timestamps(store: DynStore) {
    let at = time::now() - TimeDelta::hours(1);
    let mut e = event("CAone", "status-change", at, 1);
    e.created_at -= TimeDelta::days(400);
    e.updated_at -= TimeDelta::days(400);
    let before = time::now();
    let inserted = store.insert_event(e.clone()).await.expect("insert_event");
    assert!(
        inserted.created_at >= before && inserted.created_at <= inserted.updated_at,
        "the store sets createdAt <= updatedAt at insert, ignoring the given ones"
    );
    assert_eq!(
        inserted.timestamp, at,
        "timestamp is the caller's, not the store's"
    );
    let expected = CallEvent {
        created_at: inserted.created_at,
        updated_at: inserted.updated_at,
        ..e
    };
    assert_eq!(
        inserted, expected,
        "insert_event returns the event as given"
    );
    let listed = store
        .list_events(
            "CAone",
            &EventFilter::default(),
            &page(1, 100, Sort::asc("timestamp")),
        )
        .await
        .expect("list_events");
    assert_eq!(
        listed.items,
        vec![inserted],
        "list_events returns the stored event"
    );
    assert_eq!(listed.total, 1);
}

async fn list_events_returns_one_calls_timeline_in_timestamp_order(store: DynStore) {
    let all = seed(&store).await;
    for sid in ["CAev1", "CAev2"] {
        let got = store
            .list_events(
                sid,
                &EventFilter::default(),
                &page(1, 100, Sort::asc("timestamp")),
            )
            .await
            .expect("list_events");
        let expected = timeline(&all, sid, |_| true);
        assert_eq!(
            got.total,
            expected.len() as u64,
            "{sid}: total counts only its events"
        );
        assert_eq!(
            got.items, expected,
            "{sid}: only its events, by timestamp ascending"
        );
    }
    let none = store
        .list_events(
            "CAnone",
            &EventFilter::default(),
            &page(1, 100, Sort::asc("timestamp")),
        )
        .await
        .expect("list_events");
    assert!(
        none.items.is_empty() && none.total == 0,
        "a call without events has an empty timeline"
    );
}

async fn list_events_honours_a_descending_sort(store: DynStore) {
    let all = seed(&store).await;
    let got = store
        .list_events(
            "CAev1",
            &EventFilter::default(),
            &page(1, 100, Sort::desc("timestamp")),
        )
        .await
        .expect("list_events");
    let mut expected = timeline(&all, "CAev1", |_| true);
    expected.reverse();
    assert_eq!(
        got.items, expected,
        "-timestamp lists the newest event first"
    );
}

async fn list_events_filters_by_event_type(store: DynStore) {
    let all = seed(&store).await;
    for event_type in ["status-change", "dtmf", "recording"] {
        let filter = EventFilter {
            event_type: Some(event_type.into()),
        };
        let got = store
            .list_events("CAev2", &filter, &page(1, 100, Sort::asc("timestamp")))
            .await
            .expect("list_events");
        let expected = timeline(&all, "CAev2", |e| e.event_type == event_type);
        assert!(
            !expected.is_empty(),
            "BUG: the seed has {event_type} events"
        );
        assert_eq!(got.total, expected.len() as u64, "{event_type}: total");
        assert_eq!(
            got.items, expected,
            "{event_type}: only that call's events of that type, in order"
        );
    }
    let filter = EventFilter {
        event_type: Some("no-such-type".into()),
    };
    let got = store
        .list_events("CAev2", &filter, &page(1, 100, Sort::asc("timestamp")))
        .await
        .expect("list_events");
    assert!(got.items.is_empty() && got.total == 0);
}

async fn list_events_paginate_with_totals(store: DynStore) {
    let all = seed(&store).await;
    let expected = timeline(&all, "CAev1", |_| true);
    assert_eq!(expected.len(), 7, "BUG: the seed gives each call 7 events");
    let mut listed = Vec::new();
    for (n, len) in [(1, 3), (2, 3), (3, 1), (4, 0)] {
        let got = store
            .list_events(
                "CAev1",
                &EventFilter::default(),
                &page(n, 3, Sort::asc("timestamp")),
            )
            .await
            .expect("list_events");
        assert_eq!(
            got.total, 7,
            "page {n}: total counts the call's events only"
        );
        assert_eq!(
            (got.page, got.limit),
            (n as u32, 3),
            "page {n}: echoes page and limit"
        );
        assert_eq!(got.items.len(), len, "page {n}: number of items");
        listed.extend(got.items);
    }
    assert_eq!(
        listed, expected,
        "the pages concatenate to the whole timeline"
    );
    let ids: HashSet<_> = listed.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), 7, "no event on two pages");
}

async fn purge_deletes_exactly_the_events_stored_before_the_cutoff(store: DynStore) {
    let at = time::now();
    let mut old = Vec::new();
    for n in 0..3 {
        old.push(
            store
                .insert_event(event("CApurge", "old", at, n))
                .await
                .expect("insert_event"),
        );
    }
    // The store stamps `createdAt` itself; step past the last old one (millisecond times).
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let cutoff = time::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let mut kept = Vec::new();
    for n in 3..5 {
        kept.push(
            store
                .insert_event(event("CApurge", "new", at, n))
                .await
                .expect("insert_event"),
        );
    }
    assert!(
        old.iter().all(|e| e.created_at < cutoff) && kept.iter().all(|e| e.created_at >= cutoff)
    );

    let before_everything = old[0].created_at - TimeDelta::seconds(1);
    assert_eq!(
        store
            .purge_events_before(before_everything)
            .await
            .expect("purge"),
        0
    );
    assert_eq!(
        store.purge_events_before(cutoff).await.expect("purge"),
        3,
        "the three old events go"
    );
    assert_eq!(
        store.purge_events_before(cutoff).await.expect("purge"),
        0,
        "a second purge finds nothing"
    );
    let left = store
        .list_events(
            "CApurge",
            &EventFilter::default(),
            &page(1, 100, Sort::asc("timestamp")),
        )
        .await
        .expect("list_events");
    let ids: HashSet<_> = left.items.iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        kept.iter().map(|e| e.id).collect::<HashSet<_>>(),
        "only the new events are left"
    );
}
