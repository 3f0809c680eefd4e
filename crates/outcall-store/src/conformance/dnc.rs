//! Checks of [`DncStore`](crate::dnc::DncStore): one entry per number, adding is
//! idempotent and keeps the first entry, paged lists with a digits filter, removal.

use std::collections::HashSet;
use std::sync::Arc;

use outcall_domain::dnc::DncEntry;
use outcall_domain::page::{PageRequest, Sort};
use tokio::sync::Barrier;

use super::{Check, DynStore};

pub(super) fn checks() -> Vec<Check> {
    vec![
        crate::check!(added_numbers_are_found_with_their_reason),
        crate::check!(adding_a_listed_number_keeps_its_entry),
        crate::check!(concurrent_adds_of_one_number_list_it_once),
        crate::check!(dnc_list_pages_sorts_and_filters_by_digits),
        crate::check!(removed_numbers_are_no_longer_listed),
    ]
}

fn page(n: i64, limit: i64, sort: Sort) -> PageRequest {
    PageRequest::new(Some(n), Some(limit), sort).expect("BUG: the check asks for a valid page")
}

fn entry(n: &str, reason: Option<&str>) -> DncEntry {
    DncEntry::new(n, reason.map(String::from))
}

async fn get(store: &DynStore, n: &str) -> Option<DncEntry> {
    store.get_dnc(n).await.expect("get_dnc")
}

async fn added_numbers_are_found_with_their_reason(store: DynStore) {
    let added = store
        .add_dnc(vec![
            entry("+14155550100", Some("asked on the phone")),
            entry("+14155550101", None),
        ])
        .await
        .expect("add_dnc");
    assert_eq!(added, 2);
    let got = get(&store, "+14155550100").await.expect("listed");
    assert_eq!(got.reason.as_deref(), Some("asked on the phone"));
    assert_eq!(got.phone_number, "+14155550100");
    assert!(got.created_at <= outcall_domain::time::now());
    assert_eq!(
        get(&store, "+14155550101").await.expect("listed").reason,
        None
    );
    assert_eq!(get(&store, "+14155550102").await, None, "never listed");
}

async fn adding_a_listed_number_keeps_its_entry(store: DynStore) {
    store
        .add_dnc(vec![entry("+14155550100", Some("first"))])
        .await
        .expect("add_dnc");
    let first = get(&store, "+14155550100").await.expect("listed");
    let added = store
        .add_dnc(vec![
            entry("+14155550100", Some("second")),
            entry("+14155550101", None),
        ])
        .await
        .expect("add_dnc");
    assert_eq!(added, 1, "only the new number counts");
    assert_eq!(get(&store, "+14155550100").await, Some(first));
}

async fn concurrent_adds_of_one_number_list_it_once(store: DynStore) {
    const N: usize = 8;
    let barrier = Arc::new(Barrier::new(N));
    let mut tasks = Vec::new();
    for _ in 0..N {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.add_dnc(vec![entry("+14155550100", None)]).await
        }));
    }
    let mut added = 0;
    for t in tasks {
        added += t
            .await
            .expect("task")
            .expect("add_dnc never fails on a race");
    }
    assert_eq!(added, 1, "one add wins");
    let listed = store
        .list_dnc(None, &page(1, 10, Sort::desc("createdAt")))
        .await
        .expect("list_dnc");
    assert_eq!(listed.total, 1);
}

async fn dnc_list_pages_sorts_and_filters_by_digits(store: DynStore) {
    let numbers: Vec<String> = (0..5).map(|i| format!("+1415555030{i}")).collect();
    for n in &numbers {
        // One at a time, so createdAt orders them.
        store.add_dnc(vec![entry(n, None)]).await.expect("add_dnc");
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    store
        .add_dnc(vec![entry("+442071838750", None)])
        .await
        .expect("add_dnc");
    let first = store
        .list_dnc(None, &page(1, 2, Sort::asc("phoneNumber")))
        .await
        .expect("list_dnc");
    assert_eq!(first.total, 6);
    let got: Vec<&str> = first
        .items
        .iter()
        .map(|e| e.phone_number.as_str())
        .collect();
    assert_eq!(got, vec!["+14155550300", "+14155550301"]);
    let newest = store
        .list_dnc(None, &page(1, 1, Sort::desc("createdAt")))
        .await
        .expect("list_dnc");
    assert_eq!(newest.items[0].phone_number, "+442071838750");
    let mut seen = HashSet::new();
    for p in 1..=3 {
        let page = store
            .list_dnc(None, &page(p, 2, Sort::desc("createdAt")))
            .await
            .expect("list_dnc");
        seen.extend(page.items.into_iter().map(|e| e.phone_number));
    }
    assert_eq!(seen.len(), 6, "the pages cover the list once");
    let filtered = store
        .list_dnc(Some("415555030"), &page(1, 10, Sort::asc("phoneNumber")))
        .await
        .expect("list_dnc");
    assert_eq!(filtered.total, 5, "only the numbers with those digits");
}

async fn removed_numbers_are_no_longer_listed(store: DynStore) {
    store
        .add_dnc(vec![
            entry("+14155550100", None),
            entry("+14155550101", None),
            entry("+14155550102", None),
        ])
        .await
        .expect("add_dnc");
    let removed = store
        .remove_dnc(&[
            "+14155550100".into(),
            "+14155550101".into(),
            "+14155550199".into(),
        ])
        .await
        .expect("remove_dnc");
    assert_eq!(removed, 2, "only listed numbers count");
    assert_eq!(get(&store, "+14155550100").await, None);
    assert!(get(&store, "+14155550102").await.is_some(), "others stay");
    // A removed number can be listed again.
    assert_eq!(
        store
            .add_dnc(vec![entry("+14155550100", None)])
            .await
            .expect("add_dnc"),
        1
    );
}
