//! Checks of [`RelayStore`](crate::relay::RelayStore): other processes' entries, in
//! append order, from a given time on; purging by age.

use std::time::Duration;

use chrono::TimeDelta;
use outcall_domain::time;

use super::{Check, DynStore};
use crate::relay::RelayEntry;

pub(super) fn checks() -> Vec<Check> {
    vec![
        crate::check!(relay_lists_other_origins_entries_in_append_order),
        crate::check!(relay_since_skips_older_entries_and_honours_the_limit),
        crate::check!(relay_purge_deletes_only_entries_before_the_cutoff),
    ]
}

fn entry(origin: &str, n: usize) -> RelayEntry {
    RelayEntry::new(origin, format!(r#"{{"n":{n},"text":"é \"quoted\""}}"#))
}

async fn append(store: &DynStore, entries: Vec<RelayEntry>) {
    store.append_relay(entries).await.expect("append_relay");
}

async fn relay_lists_other_origins_entries_in_append_order(store: DynStore) {
    let start = time::now() - TimeDelta::seconds(1);
    let mine = entry("proc-a", 0);
    let theirs: Vec<RelayEntry> = (1..=3).map(|n| entry("proc-b", n)).collect();
    append(&store, vec![mine.clone()]).await;
    append(&store, theirs[..2].to_vec()).await;
    append(&store, theirs[2..].to_vec()).await;
    let read = store
        .relay_since(start, "proc-a", 100)
        .await
        .expect("relay_since");
    let ids: Vec<_> = read.iter().map(|e| e.id).collect();
    let want: Vec<_> = theirs.iter().map(|e| e.id).collect();
    assert_eq!(
        ids, want,
        "proc-b's entries, in append order, none of proc-a's"
    );
    assert_eq!(
        read[0].event, theirs[0].event,
        "the event text is kept exactly"
    );
    assert_eq!(read[0].origin, "proc-b");
    assert!(read.iter().all(|e| e.at >= start));
    let from_b = store.relay_since(start, "proc-b", 100).await.expect("read");
    assert_eq!(
        from_b.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![mine.id]
    );
}

async fn relay_since_skips_older_entries_and_honours_the_limit(store: DynStore) {
    let start = time::now() - TimeDelta::seconds(1);
    append(&store, vec![entry("b", 0)]).await;
    let old = store.relay_since(start, "a", 10).await.expect("read");
    assert_eq!(old.len(), 1);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let newer: Vec<RelayEntry> = (1..=4).map(|n| entry("b", n)).collect();
    append(&store, newer.clone()).await;
    let since = old[0].at + TimeDelta::milliseconds(1);
    let read = store.relay_since(since, "a", 10).await.expect("read");
    assert_eq!(
        read.iter().map(|e| e.id).collect::<Vec<_>>(),
        newer.iter().map(|e| e.id).collect::<Vec<_>>(),
        "only entries at or after `since`"
    );
    let limited = store.relay_since(since, "a", 2).await.expect("read");
    assert_eq!(
        limited.iter().map(|e| e.id).collect::<Vec<_>>(),
        newer[..2].iter().map(|e| e.id).collect::<Vec<_>>(),
        "the oldest `limit` entries"
    );
}

async fn relay_purge_deletes_only_entries_before_the_cutoff(store: DynStore) {
    let start = time::now() - TimeDelta::seconds(1);
    append(&store, vec![entry("b", 0), entry("b", 1)]).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let cutoff = time::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let kept = entry("b", 2);
    append(&store, vec![kept.clone()]).await;
    let purged = store.purge_relay_before(cutoff).await.expect("purge");
    assert_eq!(purged, 2);
    let left = store.relay_since(start, "a", 10).await.expect("read");
    assert_eq!(left.iter().map(|e| e.id).collect::<Vec<_>>(), vec![kept.id]);
}
