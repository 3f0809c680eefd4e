//! Checks of [`ContactStore`](crate::port::ContactStore) and
//! [`CampaignContactStore`](crate::port::CampaignContactStore): one contact per
//! number in a store, the do-not-call lookup by number, set-like array edits, exact
//! call counters under concurrency, and one dial state per (campaign, contact).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use outcall_domain::ObjectId;
use outcall_domain::campaign_contact::{CampaignContact, DialStatus, Lease};
use outcall_domain::contact::{Contact, ContactPatch, ContactSheetInfo, ContactStatus};
use outcall_domain::page::{PageRequest, Sort};
use outcall_domain::time;
use serde_json::{Map, Value, json};
use tokio::sync::Barrier;

use super::{Check, DynStore};
use crate::filter::ContactFilter;

pub(super) fn checks() -> Vec<Check> {
    vec![
        crate::check!(insert_then_get_returns_the_contact_with_store_timestamps),
        crate::check!(get_unknown_contact_is_none),
        crate::check!(get_contact_by_phone_finds_the_number),
        crate::check!(same_phone_conflicts_whatever_the_campaigns),
        crate::check!(concurrent_inserts_of_one_number_store_one),
        crate::check!(campaign_edits_never_conflict),
        crate::check!(do_not_call_contact_is_found_by_number),
        crate::check!(contact_campaigns_are_set_like),
        crate::check!(contact_tags_are_set_like),
        crate::check!(contacts_filter_by_status_tag_campaign_and_email),
        crate::check!(contact_name_filter_is_exact),
        crate::check!(contacts_q_searches_name_email_and_phone),
        crate::check!(contacts_paginate_with_totals),
        crate::check!(contacts_sort_by_phone_number),
        crate::check!(update_contact_changes_only_the_given_fields),
        crate::check!(record_contact_call_counts_and_appends),
        crate::check!(concurrent_record_contact_call_loses_nothing),
        crate::check!(delete_contact_removes_it_once),
        crate::check!(upsert_campaign_contact_creates_once_and_keeps_the_original),
        crate::check!(concurrent_upserts_of_one_pair_create_once),
        crate::check!(one_contact_in_two_campaigns_has_two_dial_states),
        crate::check!(get_campaign_contact_finds_only_its_pair),
        crate::check!(campaign_contacts_list_by_campaign_and_status_with_pages),
        crate::check!(campaign_contacts_sort_by_priority),
    ]
}

const PHONE: &str = "+14155550100";

fn page(n: i64, limit: i64, sort: Sort) -> PageRequest {
    PageRequest::new(Some(n), Some(limit), sort).expect("BUG: the check asks for a valid page")
}

fn newest_first(n: i64, limit: i64) -> PageRequest {
    page(n, limit, Sort::desc("createdAt"))
}

fn map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => panic!("BUG: the check builds maps from JSON objects"),
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn contact_in(phone: &str, campaigns: &[ObjectId]) -> Contact {
    let mut c = Contact::new(phone);
    c.campaign_ids = campaigns.to_vec();
    c
}

async fn insert(store: &DynStore, contact: Contact) -> Contact {
    store.insert_contact(contact).await.expect("insert_contact")
}

async fn get(store: &DynStore, id: ObjectId) -> Contact {
    store
        .get_contact(id)
        .await
        .expect("get_contact")
        .expect("the contact was inserted, so get_contact finds it")
}

async fn count_contacts(store: &DynStore) -> u64 {
    store
        .list_contacts(&ContactFilter::default(), &newest_first(1, 100))
        .await
        .expect("list_contacts")
        .total
}

async fn expect_conflict(store: &DynStore, contact: Contact, what: &str) {
    let id = contact.id;
    let err = store.insert_contact(contact).await.expect_err(what);
    assert!(err.is_conflict(), "{what}: expected a Conflict, got: {err}");
    assert_eq!(
        store.get_contact(id).await.expect("get_contact"),
        None,
        "{what}: the refused contact was not stored"
    );
}

fn full_contact() -> Contact {
    let mut c = Contact::new(PHONE);
    c.name = Some("Ada Lovelace".into());
    c.email = Some("ada@example.com".into());
    c.tags = strings(&["vip", "london"]);
    c.notes = Some("Prefers mornings".into());
    c.last_contacted = Some(time::now() - TimeDelta::days(2));
    c.call_count = 3;
    c.call_ids = vec![ObjectId::new(), ObjectId::new(), ObjectId::new()];
    c.campaign_ids = vec![ObjectId::new(), ObjectId::new()];
    c.sheet_info = Some(ContactSheetInfo {
        spreadsheet_id: "1AbCdEf".into(),
        sheet_name: Some("Leads".into()),
        row_index: Some(17),
    });
    c.custom_fields = map(json!({"company": "Analytical Engines", "seats": 4, "trial": true}));
    c.status = ContactStatus::Inactive;
    c.priority = 7;
    c.timezone = Some("Europe/London".into());
    c
}

async fn insert_then_get_returns_the_contact_with_store_timestamps(store: DynStore) {
    let mut c = full_contact();
    c.created_at -= TimeDelta::days(400);
    c.updated_at -= TimeDelta::days(400);
    let before = time::now();
    let inserted = insert(&store, c.clone()).await;
    assert!(
        inserted.created_at >= before && inserted.created_at <= inserted.updated_at,
        "the store sets createdAt <= updatedAt at insert, ignoring the given ones"
    );
    let expected = Contact {
        created_at: inserted.created_at,
        updated_at: inserted.updated_at,
        ..c
    };
    assert_eq!(
        inserted, expected,
        "insert_contact returns the contact as given"
    );
    assert_eq!(
        get(&store, inserted.id).await,
        inserted,
        "get_contact returns it"
    );

    let minimal = insert(&store, Contact::new("+14155550199")).await;
    assert_eq!(
        get(&store, minimal.id).await,
        minimal,
        "a contact with defaults round-trips"
    );
}

async fn get_unknown_contact_is_none(store: DynStore) {
    insert(&store, Contact::new(PHONE)).await;
    assert_eq!(
        store
            .get_contact(ObjectId::new())
            .await
            .expect("get_contact"),
        None
    );
}

async fn get_contact_by_phone_finds_the_number(store: DynStore) {
    let stored = insert(&store, contact_in(PHONE, &[ObjectId::new()])).await;
    insert(&store, Contact::new("+14155550101")).await;
    let got = store
        .get_contact_by_phone(PHONE)
        .await
        .expect("get_contact_by_phone");
    assert_eq!(got, Some(stored), "the contact with the number");
    let got = store
        .get_contact_by_phone("+14155550102")
        .await
        .expect("get_contact_by_phone");
    assert_eq!(got, None, "no contact has this number");
}

async fn same_phone_conflicts_whatever_the_campaigns(store: DynStore) {
    let (a, b) = (ObjectId::new(), ObjectId::new());
    let first = insert(&store, contact_in(PHONE, &[a])).await;
    for (campaigns, what) in [
        (vec![], "a campaign-less twin"),
        (vec![b], "a twin in another campaign"),
        (vec![a], "a twin in the same campaign"),
        (vec![b, a], "a twin sharing a campaign"),
    ] {
        expect_conflict(&store, contact_in(PHONE, &campaigns), what).await;
    }
    assert_eq!(
        get(&store, first.id).await,
        first,
        "the first contact is unchanged"
    );
    insert(&store, contact_in("+14155550101", &[a])).await;
    assert_eq!(count_contacts(&store).await, 2, "other numbers are fine");
}

async fn concurrent_inserts_of_one_number_store_one(store: DynStore) {
    const N: usize = 8;
    let barrier = Arc::new(Barrier::new(N));
    let mut tasks = Vec::new();
    for _ in 0..N {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store
                .insert_contact(contact_in(PHONE, &[ObjectId::new()]))
                .await
        }));
    }
    let mut stored = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(_) => stored += 1,
            Err(e) => assert!(e.is_conflict(), "expected a Conflict, got: {e}"),
        }
    }
    assert_eq!(stored, 1, "exactly one insert of the number wins");
    assert_eq!(count_contacts(&store).await, 1);
}

async fn campaign_edits_never_conflict(store: DynStore) {
    let (a, b) = (ObjectId::new(), ObjectId::new());
    let c = insert(&store, contact_in(PHONE, &[a])).await;
    insert(&store, Contact::new("+14155550101")).await;
    let added = store
        .add_contact_campaign(c.id, b)
        .await
        .expect("add_contact_campaign")
        .expect("found");
    assert_eq!(added.campaign_ids, vec![a, b]);
    for campaign in [a, b] {
        store
            .remove_contact_campaign(c.id, campaign)
            .await
            .expect("removing even the last campaign is fine")
            .expect("found");
    }
    assert!(get(&store, c.id).await.campaign_ids.is_empty());
}

async fn do_not_call_contact_is_found_by_number(store: DynStore) {
    let c = insert(&store, Contact::new(PHONE)).await;
    let mut dnc = Contact::new("+14155550101");
    dnc.status = ContactStatus::DoNotCall;
    let dnc = insert(&store, dnc).await;
    let find = |n: &'static str| {
        let store = store.clone();
        async move {
            store
                .do_not_call_contact(n)
                .await
                .expect("do_not_call_contact")
        }
    };
    assert_eq!(find("+14155550101").await, Some(dnc.id));
    assert_eq!(find(PHONE).await, None, "an active contact is no block");
    assert_eq!(find("+14155550199").await, None, "an unknown number");
    let patch = ContactPatch {
        status: Some(ContactStatus::DoNotCall),
        ..Default::default()
    };
    store
        .update_contact(c.id, &patch)
        .await
        .expect("update_contact")
        .expect("found");
    assert_eq!(find(PHONE).await, Some(c.id), "marked do-not-call later");
}

async fn contact_campaigns_are_set_like(store: DynStore) {
    let (a, b, c) = (ObjectId::new(), ObjectId::new(), ObjectId::new());
    let contact = insert(&store, contact_in(PHONE, &[a])).await.id;
    let add = |id| {
        let store = store.clone();
        async move {
            store
                .add_contact_campaign(contact, id)
                .await
                .expect("add_contact_campaign")
                .expect("the contact exists")
        }
    };
    assert_eq!(
        add(b).await.campaign_ids,
        vec![a, b],
        "a new campaign is appended"
    );
    assert_eq!(
        add(a).await.campaign_ids,
        vec![a, b],
        "a campaign already there is not added twice"
    );
    assert_eq!(add(c).await.campaign_ids, vec![a, b, c]);
    let removed = store
        .remove_contact_campaign(contact, b)
        .await
        .expect("remove_contact_campaign")
        .expect("the contact exists");
    assert_eq!(
        removed.campaign_ids,
        vec![a, c],
        "remove takes the campaign out"
    );
    let again = store
        .remove_contact_campaign(contact, b)
        .await
        .expect("remove_contact_campaign")
        .expect("the contact exists");
    assert_eq!(
        again.campaign_ids,
        vec![a, c],
        "removing an absent campaign changes nothing"
    );
    assert_eq!(
        get(&store, contact).await.campaign_ids,
        vec![a, c],
        "stored as returned"
    );
    let unknown = ObjectId::new();
    assert_eq!(
        store
            .add_contact_campaign(unknown, a)
            .await
            .expect("add_contact_campaign"),
        None,
        "add to an unknown contact"
    );
    assert_eq!(
        store
            .remove_contact_campaign(unknown, a)
            .await
            .expect("remove_contact_campaign"),
        None,
        "remove from an unknown contact"
    );
}

async fn contact_tags_are_set_like(store: DynStore) {
    let mut c = Contact::new(PHONE);
    c.tags = strings(&["a", "b"]);
    let c = insert(&store, c).await;
    let added = store
        .add_contact_tags(c.id, &strings(&["b", "c", "c", "a", "d"]))
        .await
        .expect("add_contact_tags")
        .expect("the contact exists");
    assert_eq!(
        added.tags,
        strings(&["a", "b", "c", "d"]),
        "only absent tags are added, once each, in order of first appearance"
    );
    assert_eq!(get(&store, c.id).await, added, "stored as returned");
    let removed = store
        .remove_contact_tags(c.id, &strings(&["a", "x", "c"]))
        .await
        .expect("remove_contact_tags")
        .expect("the contact exists");
    assert_eq!(
        removed.tags,
        strings(&["b", "d"]),
        "the given tags are removed, absent ones ignored"
    );
    assert_eq!(get(&store, c.id).await, removed, "stored as returned");
    let unknown = ObjectId::new();
    assert_eq!(
        store
            .add_contact_tags(unknown, &strings(&["a"]))
            .await
            .expect("add_contact_tags"),
        None
    );
    assert_eq!(
        store
            .remove_contact_tags(unknown, &strings(&["a"]))
            .await
            .expect("remove_contact_tags"),
        None
    );
}

async fn listed_ids(store: &DynStore, filter: &ContactFilter) -> HashSet<ObjectId> {
    let got = store
        .list_contacts(filter, &newest_first(1, 100))
        .await
        .expect("list_contacts");
    assert_eq!(
        got.total as usize,
        got.items.len(),
        "total counts every match of {filter:?}"
    );
    let ids: HashSet<ObjectId> = got.items.iter().map(|c| c.id).collect();
    assert_eq!(
        ids.len(),
        got.items.len(),
        "{filter:?} listed a contact twice"
    );
    ids
}

async fn contacts_filter_by_status_tag_campaign_and_email(store: DynStore) {
    use ContactStatus::*;
    let (a, b) = (ObjectId::new(), ObjectId::new());
    let row =
        |status, tags: &[&str], campaigns: &[ObjectId], email: Option<&str>, name: Option<&str>| {
            let mut c = contact_in("", campaigns);
            c.status = status;
            c.tags = strings(tags);
            c.email = email.map(String::from);
            c.name = name.map(String::from);
            c
        };
    let rows = [
        row(
            Active,
            &["vip", "west"],
            &[a],
            Some("ada@example.com"),
            Some("Ada Lovelace"),
        ),
        row(
            Inactive,
            &["west"],
            &[a, b],
            Some("grace@example.com"),
            Some("Grace Hopper"),
        ),
        row(DoNotCall, &["vip"], &[b], None, None),
        row(
            Active,
            &[],
            &[],
            Some("alan@example.com"),
            Some("Alan Turing"),
        ),
        row(
            Active,
            &["east"],
            &[a],
            Some("grace@example.org"),
            Some("Grace Hopper"),
        ),
        row(
            Inactive,
            &["vip", "east"],
            &[],
            Some("kat@example.com"),
            Some("Katherine Johnson"),
        ),
    ];
    let mut all = Vec::new();
    for (i, mut c) in rows.into_iter().enumerate() {
        c.phone_number = format!("+1415555020{i}");
        all.push(insert(&store, c).await);
    }
    let ids = |pred: &dyn Fn(&Contact) -> bool| -> HashSet<ObjectId> {
        all.iter().filter(|c| pred(c)).map(|c| c.id).collect()
    };
    let f = ContactFilter::default;
    for status in [Active, Inactive, DoNotCall] {
        let filter = ContactFilter {
            status: Some(status.clone()),
            ..f()
        };
        assert_eq!(
            listed_ids(&store, &filter).await,
            ids(&|c| c.status == status),
            "status {status}"
        );
    }
    for tag in ["vip", "west", "east", "none"] {
        let filter = ContactFilter {
            tag: Some(tag.into()),
            ..f()
        };
        assert_eq!(
            listed_ids(&store, &filter).await,
            ids(&|c| c.tags.iter().any(|t| t == tag)),
            "tag {tag}: contacts whose tags include it"
        );
    }
    for campaign in [a, b, ObjectId::new()] {
        let filter = ContactFilter {
            campaign_id: Some(campaign),
            ..f()
        };
        assert_eq!(
            listed_ids(&store, &filter).await,
            ids(&|c| c.campaign_ids.contains(&campaign)),
            "campaign {campaign}: contacts whose campaignIds include it"
        );
    }
    let email = ContactFilter {
        email: Some("grace@example.com".into()),
        ..f()
    };
    assert_eq!(
        listed_ids(&store, &email).await,
        ids(&|c| c.email.as_deref() == Some("grace@example.com")),
        "email"
    );
    let name = ContactFilter {
        name: Some("Grace Hopper".into()),
        ..f()
    };
    assert_eq!(
        listed_ids(&store, &name).await,
        ids(&|c| c.name.as_deref() == Some("Grace Hopper")),
        "name"
    );
    let combined = ContactFilter {
        status: Some(Active),
        campaign_id: Some(a),
        tag: Some("east".into()),
        ..f()
    };
    assert_eq!(
        listed_ids(&store, &combined).await,
        ids(&|c| c.status == Active
            && c.campaign_ids.contains(&a)
            && c.tags.iter().any(|t| t == "east")),
        "filters combine with AND"
    );
    assert_eq!(
        listed_ids(&store, &f()).await.len(),
        all.len(),
        "no filter lists all"
    );
}

async fn contact_name_filter_is_exact(store: DynStore) {
    let mut ids = Vec::new();
    for (i, name) in ["Ann", "Anna", "ann", "Joanne Ann"].iter().enumerate() {
        let mut c = Contact::new(format!("+1415555030{i}"));
        c.name = Some(name.to_string());
        ids.push(insert(&store, c).await.id);
    }
    let filter = ContactFilter {
        name: Some("Ann".into()),
        ..ContactFilter::default()
    };
    assert_eq!(
        listed_ids(&store, &filter).await,
        HashSet::from([ids[0]]),
        "the name filter matches the whole name, case-sensitively"
    );
}

async fn contacts_q_searches_name_email_and_phone(store: DynStore) {
    let rows = [
        (
            "+14155550400",
            Some("Ada Lovelace"),
            Some("ada@example.com"),
        ),
        (
            "+14155550401",
            Some("Grace Hopper"),
            Some("grace@navy.example"),
        ),
        ("+442079460958", None, Some("alan_t@example.org")),
        ("+14155550403", Some("50% off (sale)"), None),
        ("+14155550404", None, None),
    ];
    let mut ids = Vec::new();
    for (phone, name, email) in rows {
        let mut c = Contact::new(phone);
        c.name = name.map(String::from);
        c.email = email.map(String::from);
        ids.push(insert(&store, c).await.id);
    }
    let search = |q: &str| {
        let store = store.clone();
        let filter = ContactFilter {
            q: Some(q.to_string()),
            ..ContactFilter::default()
        };
        async move { listed_ids(&store, &filter).await }
    };
    let set = |idx: &[usize]| idx.iter().map(|&i| ids[i]).collect::<HashSet<_>>();
    assert_eq!(search("lovelace").await, set(&[0]), "name, any case");
    assert_eq!(search("NAVY").await, set(&[1]), "email, any case");
    assert_eq!(search("example").await, set(&[0, 1, 2]), "several");
    assert_eq!(search("alan_t").await, set(&[2]), "'_' is literal");
    assert_eq!(search("alan%").await, set(&[]), "'%' is literal");
    assert_eq!(
        search("50% off (").await,
        set(&[3]),
        "regex-like text is literal"
    );
    assert_eq!(search("a.a").await, set(&[]), "'.' is literal");
    assert_eq!(
        search("(415) 555-0401").await,
        set(&[1]),
        "a written phone number matches by its digits"
    );
    assert_eq!(search("5550").await, set(&[0, 1, 3, 4]), "part of a number");
    assert_eq!(search("2079").await, set(&[2]), "another country");
    assert_eq!(search("nobody").await, set(&[]), "no match");
    assert_eq!(
        search("  ").await.len(),
        ids.len(),
        "blank q filters nothing"
    );
    let combined = ContactFilter {
        q: Some("example".into()),
        email: Some("ada@example.com".into()),
        ..ContactFilter::default()
    };
    assert_eq!(
        listed_ids(&store, &combined).await,
        set(&[0]),
        "q combines with the other filters"
    );
}

async fn contacts_paginate_with_totals(store: DynStore) {
    let campaign = ObjectId::new();
    let mut members = HashSet::new();
    for i in 0..12 {
        let campaigns: &[ObjectId] = if i < 8 { &[campaign] } else { &[] };
        let c = insert(&store, contact_in(&format!("+141555504{i:02}"), campaigns)).await;
        if i < 8 {
            members.insert(c.id);
        }
    }
    let filter = ContactFilter {
        campaign_id: Some(campaign),
        ..ContactFilter::default()
    };
    let mut seen = HashSet::new();
    for (n, len) in [(1, 3), (2, 3), (3, 2), (4, 0)] {
        let got = store
            .list_contacts(&filter, &newest_first(n, 3))
            .await
            .expect("list_contacts");
        assert_eq!(
            got.total, 8,
            "page {n}: total counts every match, not just the page"
        );
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
                c.phone_number
            );
        }
    }
    assert_eq!(seen, members, "the pages hold every match exactly once");
    assert_eq!(count_contacts(&store).await, 12);
}

async fn contacts_sort_by_phone_number(store: DynStore) {
    let phones = [
        "+442079460958",
        "+14155550100",
        "+61412345678",
        "+14155550099",
    ];
    for p in phones {
        insert(&store, Contact::new(p)).await;
    }
    let mut expected: Vec<&str> = phones.to_vec();
    expected.sort_unstable();
    for (sort, what) in [
        (Sort::asc("phoneNumber"), "phoneNumber"),
        (Sort::desc("phoneNumber"), "-phoneNumber"),
    ] {
        let got = store
            .list_contacts(&ContactFilter::default(), &page(1, 100, sort))
            .await
            .expect("list_contacts");
        let got: Vec<&str> = got.items.iter().map(|c| c.phone_number.as_str()).collect();
        assert_eq!(got, expected, "sorted by {what}");
        expected.reverse();
    }
}

async fn update_contact_changes_only_the_given_fields(store: DynStore) {
    let original = insert(&store, full_contact()).await;
    let other = insert(&store, Contact::new("+14155550101")).await;
    tokio::time::sleep(Duration::from_millis(3)).await;
    let patch = ContactPatch {
        name: Some("Ada King".into()),
        status: Some(ContactStatus::DoNotCall),
        priority: Some(10),
        tags: Some(strings(&["countess"])),
        custom_fields: Some(map(json!({"company": "none"}))),
        sheet_info: Some(ContactSheetInfo {
            spreadsheet_id: "2XyZ".into(),
            sheet_name: Some("May".into()),
            row_index: Some(42),
        }),
        ..ContactPatch::default()
    };
    let updated = store
        .update_contact(original.id, &patch)
        .await
        .expect("update_contact")
        .expect("the contact exists");
    let mut expected = original.clone();
    patch.apply(&mut expected);
    expected.updated_at = updated.updated_at;
    assert_eq!(updated, expected, "exactly the patch's fields change");
    assert_eq!(
        updated.created_at, original.created_at,
        "createdAt never changes"
    );
    assert!(
        updated.updated_at > original.updated_at,
        "updatedAt moves on an update"
    );
    assert_eq!(
        get(&store, original.id).await,
        updated,
        "stored as returned"
    );
    assert_eq!(get(&store, other.id).await, other, "other contacts stay");
    let got = store
        .update_contact(ObjectId::new(), &patch)
        .await
        .expect("update_contact");
    assert_eq!(got, None, "an unknown contact");
}

async fn record_contact_call_counts_and_appends(store: DynStore) {
    let c = insert(&store, Contact::new(PHONE)).await;
    let (call1, call2) = (ObjectId::new(), ObjectId::new());
    let t1 = time::now() - TimeDelta::minutes(10);
    let t2 = time::now();
    let first = store
        .record_contact_call(c.id, call1, t1)
        .await
        .expect("record_contact_call")
        .expect("the contact exists");
    assert_eq!(
        (
            first.call_count,
            first.call_ids.clone(),
            first.last_contacted
        ),
        (1, vec![call1], Some(t1))
    );
    let second = store
        .record_contact_call(c.id, call2, t2)
        .await
        .expect("record_contact_call")
        .expect("the contact exists");
    assert_eq!(
        (
            second.call_count,
            second.call_ids.clone(),
            second.last_contacted
        ),
        (2, vec![call1, call2], Some(t2)),
        "callCount +1, the call id appended, lastContacted set"
    );
    let mut expected = c.clone();
    expected.call_count = 2;
    expected.call_ids = vec![call1, call2];
    expected.last_contacted = Some(t2);
    expected.updated_at = second.updated_at;
    assert_eq!(second, expected, "nothing else changes");
    assert_eq!(get(&store, c.id).await, second, "stored as returned");
    let got = store
        .record_contact_call(ObjectId::new(), call1, t1)
        .await
        .expect("record_contact_call");
    assert_eq!(got, None, "an unknown contact");
}

async fn concurrent_record_contact_call_loses_nothing(store: DynStore) {
    let id = insert(&store, Contact::new(PHONE)).await.id;
    let base = time::now();
    let barrier = Arc::new(Barrier::new(20));
    let mut calls = HashSet::new();
    let mut times = HashSet::new();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (store, barrier) = (store.clone(), barrier.clone());
        let (call, at) = (ObjectId::new(), base + TimeDelta::milliseconds(i));
        calls.insert(call);
        times.insert(at);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.record_contact_call(id, call, at).await
        }));
    }
    for task in tasks {
        let got = task.await.expect("task ran").expect("record_contact_call");
        assert!(got.is_some(), "the contact exists");
    }
    let stored = get(&store, id).await;
    assert_eq!(stored.call_count, 20, "every concurrent call counted");
    assert_eq!(stored.call_ids.len(), 20, "every call id appended once");
    assert_eq!(
        stored.call_ids.iter().copied().collect::<HashSet<_>>(),
        calls,
        "the ids are the calls recorded"
    );
    let last = stored.last_contacted.expect("lastContacted is set");
    assert!(
        times.contains(&last),
        "lastContacted is one of the recorded times"
    );
}

async fn delete_contact_removes_it_once(store: DynStore) {
    let gone = insert(&store, Contact::new(PHONE)).await.id;
    let kept = insert(&store, Contact::new("+14155550101")).await;
    assert!(
        store.delete_contact(gone).await.expect("delete_contact"),
        "the first delete removes it"
    );
    assert!(
        !store.delete_contact(gone).await.expect("delete_contact"),
        "the second finds nothing"
    );
    assert_eq!(store.get_contact(gone).await.expect("get_contact"), None);
    assert_eq!(
        store
            .get_contact_by_phone(PHONE)
            .await
            .expect("get_contact_by_phone"),
        None
    );
    assert_eq!(get(&store, kept.id).await, kept, "other contacts stay");
    // The deleted contact's number is free again.
    insert(&store, Contact::new(PHONE)).await;
}

// ---- campaign contacts ----

async fn upsert(store: &DynStore, cc: CampaignContact) -> (CampaignContact, bool) {
    store
        .upsert_campaign_contact(cc)
        .await
        .expect("upsert_campaign_contact")
}

async fn get_cc(
    store: &DynStore,
    campaign: ObjectId,
    contact: ObjectId,
) -> Option<CampaignContact> {
    store
        .get_campaign_contact(campaign, contact)
        .await
        .expect("get_campaign_contact")
}

async fn upsert_campaign_contact_creates_once_and_keeps_the_original(store: DynStore) {
    let (campaign, contact) = (ObjectId::new(), ObjectId::new());
    let mut cc = CampaignContact::new(campaign, contact, PHONE);
    cc.priority = 3;
    cc.status = DialStatus::Retry;
    cc.attempts = 1;
    cc.next_attempt_at = Some(time::now() + TimeDelta::hours(1));
    cc.lease = Some(Lease {
        owner: "host-1".into(),
        attempt_id: "attempt-1".into(),
        expires_at: time::now() + TimeDelta::minutes(2),
    });
    cc.last_call_sid = Some("CAlast".into());
    cc.last_result = Some("busy".into());
    cc.created_at -= TimeDelta::days(400);
    cc.updated_at -= TimeDelta::days(400);
    let before = time::now();
    let (created, was_created) = upsert(&store, cc.clone()).await;
    assert!(was_created, "the first upsert of a pair creates it");
    assert!(
        created.created_at >= before && created.created_at <= created.updated_at,
        "the store sets createdAt <= updatedAt at insert, ignoring the given ones"
    );
    let expected = CampaignContact {
        created_at: created.created_at,
        updated_at: created.updated_at,
        ..cc
    };
    assert_eq!(created, expected, "the created document is the one given");

    let mut again = CampaignContact::new(campaign, contact, "+14155550999");
    again.priority = 9;
    again.status = DialStatus::Pending;
    let (existing, was_created) = upsert(&store, again).await;
    assert!(
        !was_created,
        "a second upsert of the same pair creates nothing"
    );
    assert_eq!(
        existing, created,
        "it returns the original document, priority and status kept"
    );
    assert_eq!(
        get_cc(&store, campaign, contact).await,
        Some(created),
        "the stored one is the original"
    );
}

async fn concurrent_upserts_of_one_pair_create_once(store: DynStore) {
    let (campaign, contact) = (ObjectId::new(), ObjectId::new());
    let barrier = Arc::new(Barrier::new(10));
    let tasks: Vec<_> = (0..10i64)
        .map(|i| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let mut cc = CampaignContact::new(campaign, contact, PHONE);
                cc.priority = i;
                store.upsert_campaign_contact(cc).await
            })
        })
        .collect();
    let mut created = 0;
    let mut docs = HashSet::new();
    for task in tasks {
        let (cc, was_created) = task
            .await
            .expect("task ran")
            .expect("upsert_campaign_contact");
        created += usize::from(was_created);
        docs.insert((cc.id, cc.priority));
    }
    assert_eq!(
        created, 1,
        "of 10 concurrent upserts of one pair exactly one creates it"
    );
    assert_eq!(
        docs.len(),
        1,
        "every caller gets the same document back: {docs:?}"
    );
    let stored = get_cc(&store, campaign, contact)
        .await
        .expect("the pair exists");
    assert!(
        docs.contains(&(stored.id, stored.priority)),
        "the stored document is the one returned"
    );
    let listed = store
        .list_campaign_contacts(campaign, None, &newest_first(1, 100))
        .await
        .expect("list_campaign_contacts");
    assert_eq!(listed.total, 1, "one document for the pair");
}

async fn one_contact_in_two_campaigns_has_two_dial_states(store: DynStore) {
    let (a, b, contact) = (ObjectId::new(), ObjectId::new(), ObjectId::new());
    let (in_a, created_a) = upsert(&store, CampaignContact::new(a, contact, PHONE)).await;
    let mut cc = CampaignContact::new(b, contact, PHONE);
    cc.status = DialStatus::Completed;
    let (in_b, created_b) = upsert(&store, cc).await;
    assert!(
        created_a && created_b,
        "the pair, not the contact, is unique"
    );
    assert_ne!(in_a.id, in_b.id);
    assert_eq!(
        get_cc(&store, a, contact).await.map(|c| c.status),
        Some(DialStatus::Pending)
    );
    assert_eq!(
        get_cc(&store, b, contact).await.map(|c| c.status),
        Some(DialStatus::Completed)
    );
}

async fn get_campaign_contact_finds_only_its_pair(store: DynStore) {
    let (a, b, x, y) = (
        ObjectId::new(),
        ObjectId::new(),
        ObjectId::new(),
        ObjectId::new(),
    );
    let (ax, _) = upsert(&store, CampaignContact::new(a, x, PHONE)).await;
    let (by, _) = upsert(&store, CampaignContact::new(b, y, "+14155550101")).await;
    assert_eq!(get_cc(&store, a, x).await, Some(ax));
    assert_eq!(get_cc(&store, b, y).await, Some(by));
    assert_eq!(
        get_cc(&store, a, y).await,
        None,
        "a contact of another campaign"
    );
    assert_eq!(
        get_cc(&store, b, x).await,
        None,
        "a contact of another campaign"
    );
    assert_eq!(
        get_cc(&store, ObjectId::new(), x).await,
        None,
        "an unknown campaign"
    );
}

async fn campaign_contacts_list_by_campaign_and_status_with_pages(store: DynStore) {
    let (a, b) = (ObjectId::new(), ObjectId::new());
    let statuses = [
        DialStatus::Pending,
        DialStatus::Retry,
        DialStatus::Completed,
    ];
    let mut in_a = Vec::new();
    for i in 0..8 {
        let mut cc = CampaignContact::new(a, ObjectId::new(), format!("+141555506{i:02}"));
        cc.status = statuses[i % 3];
        in_a.push(upsert(&store, cc).await.0);
    }
    for i in 0..3 {
        let mut cc = CampaignContact::new(b, ObjectId::new(), format!("+141555507{i:02}"));
        cc.status = DialStatus::Pending;
        upsert(&store, cc).await;
    }
    let list = |status: Option<DialStatus>, n: i64, limit: i64| {
        let store = store.clone();
        async move {
            store
                .list_campaign_contacts(a, status, &newest_first(n, limit))
                .await
                .expect("list_campaign_contacts")
        }
    };

    let mut seen = HashSet::new();
    for (n, len) in [(1, 3), (2, 3), (3, 2), (4, 0)] {
        let got = list(None, n, 3).await;
        assert_eq!(got.total, 8, "page {n}: only campaign A's contacts count");
        assert_eq!(
            (got.page, got.limit),
            (n as u32, 3),
            "page {n}: echoes page and limit"
        );
        assert_eq!(got.items.len(), len, "page {n}: number of items");
        for cc in got.items {
            assert_eq!(cc.campaign_id, a, "page {n}: only campaign A's contacts");
            assert!(
                seen.insert(cc.id),
                "page {n}: {} was on an earlier page",
                cc.phone_number
            );
        }
    }
    assert_eq!(
        seen,
        in_a.iter().map(|cc| cc.id).collect(),
        "the pages hold campaign A exactly once"
    );

    for status in [
        DialStatus::Pending,
        DialStatus::Retry,
        DialStatus::Completed,
        DialStatus::Failed,
    ] {
        let got = list(Some(status), 1, 100).await;
        let expected: HashSet<ObjectId> = in_a
            .iter()
            .filter(|cc| cc.status == status)
            .map(|cc| cc.id)
            .collect();
        assert_eq!(got.total as usize, expected.len(), "{status:?}: total");
        assert_eq!(
            got.items.iter().map(|cc| cc.id).collect::<HashSet<_>>(),
            expected,
            "{status:?}: the set"
        );
    }
    let retry_pages: Vec<usize> = {
        let mut lens = Vec::new();
        for n in 1..=2 {
            let got = list(Some(DialStatus::Retry), n, 2).await;
            assert_eq!(
                got.total, 3,
                "retry page {n}: total counts the status's matches"
            );
            lens.push(got.items.len());
        }
        lens
    };
    assert_eq!(retry_pages, [2, 1], "status and pages combine");
}

async fn campaign_contacts_sort_by_priority(store: DynStore) {
    let campaign = ObjectId::new();
    let priorities = [3, 10, 0, 7, 5];
    for (i, p) in priorities.iter().enumerate() {
        let mut cc = CampaignContact::new(campaign, ObjectId::new(), format!("+141555508{i:02}"));
        cc.priority = *p;
        upsert(&store, cc).await;
    }
    let got = store
        .list_campaign_contacts(campaign, None, &page(1, 100, Sort::desc("priority")))
        .await
        .expect("list_campaign_contacts");
    let got: Vec<i64> = got.items.iter().map(|cc| cc.priority).collect();
    assert_eq!(got, [10, 7, 5, 3, 0], "sorted by -priority");
    let got = store
        .list_campaign_contacts(campaign, None, &page(1, 100, Sort::asc("priority")))
        .await
        .expect("list_campaign_contacts");
    let got: Vec<i64> = got.items.iter().map(|cc| cc.priority).collect();
    assert_eq!(got, [0, 3, 5, 7, 10], "sorted by priority");
}
