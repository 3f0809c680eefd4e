//! The SQLite adapter against the shared conformance suite, and its query plans.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use outcall_domain::page::{PageRequest, Sort};
use outcall_domain::{CallStatus, ObjectId};
use outcall_store::CallFilter;
use outcall_store::conformance::{self, DynStore};
use outcall_store_sqlite::SqliteStore;

async fn open_in(dir: &std::path::Path, n: usize) -> SqliteStore {
    let url = format!("sqlite://{}", dir.join(format!("outcall-{n}.db")).display());
    SqliteStore::open(&url).await.expect("open sqlite store")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let counter = AtomicUsize::new(0);
    conformance::run(
        || async {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            Arc::new(open_in(dir.path(), n).await) as DynStore
        },
        &[],
    )
    .await;
}

#[tokio::test]
async fn reopening_keeps_data_and_migrations_are_idempotent() {
    use outcall_store::CallStore;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_in(dir.path(), 0).await;
    let call = outcall_domain::Call::new("CAkeep", "+15005550006", "+14155552671");
    store.insert_call(call).await.expect("insert");
    store.close().await;
    let store = open_in(dir.path(), 0).await;
    assert!(store.get_call("CAkeep").await.expect("get").is_some());
}

fn page(sort: Sort) -> PageRequest {
    PageRequest::new(Some(1), Some(20), sort).expect("page")
}

fn uses_index(plan: &[String], index: &str) -> bool {
    plan.iter().any(|l| l.contains(&format!("INDEX {index}")))
}

/// The hot queries are served by indexes: no full scan, no sort of the whole table.
#[tokio::test]
async fn hot_queries_use_indexes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_in(dir.path(), 0).await;

    let by_status = CallFilter {
        status: Some(CallStatus::Completed),
        ..Default::default()
    };
    let (select, count) = store
        .plan_list_calls(&by_status, &page(Sort::desc("createdAt")))
        .await
        .expect("plan");
    assert!(uses_index(&select, "calls_status_created"), "{select:?}");
    assert!(
        !select.iter().any(|l| l.contains("TEMP B-TREE")),
        "sorts in memory: {select:?}"
    );
    assert!(
        count
            .iter()
            .any(|l| l.contains("COVERING INDEX calls_status")),
        "{count:?}"
    );

    let (select, _) = store
        .plan_list_calls(&CallFilter::default(), &page(Sort::desc("createdAt")))
        .await
        .expect("plan");
    assert!(uses_index(&select, "calls_created_at"), "{select:?}");

    let (select, _) = store
        .plan_list_calls(&CallFilter::default(), &page(Sort::desc("startTime")))
        .await
        .expect("plan");
    assert!(uses_index(&select, "calls_start_time"), "{select:?}");

    let by_contact = CallFilter {
        contact_id: Some(ObjectId::new()),
        ..Default::default()
    };
    let (select, _) = store
        .plan_list_calls(&by_contact, &page(Sort::desc("createdAt")))
        .await
        .expect("plan");
    assert!(uses_index(&select, "calls_contact_created"), "{select:?}");
    assert!(
        !select.iter().any(|l| l.contains("TEMP B-TREE")),
        "{select:?}"
    );

    let by_campaign = CallFilter {
        campaign_id: Some(ObjectId::new()),
        status: Some(CallStatus::InProgress),
        ..Default::default()
    };
    let (_, count) = store
        .plan_list_calls(&by_campaign, &page(Sort::desc("createdAt")))
        .await
        .expect("plan");
    assert!(
        count.iter().any(|l| l.contains("calls_campaign_status")),
        "{count:?}"
    );

    let (select, count) = store
        .plan_list_events(&page(Sort::asc("timestamp")))
        .await
        .expect("plan");
    assert!(
        uses_index(&select, "callevents_call_timestamp"),
        "{select:?}"
    );
    assert!(
        !select.iter().any(|l| l.contains("TEMP B-TREE")),
        "{select:?}"
    );
    assert!(
        count
            .iter()
            .any(|l| l.contains("callevents_call_timestamp")),
        "{count:?}"
    );

    let (select, _) = store
        .plan_list_recordings_for_call(&page(Sort::asc("createdAt")))
        .await
        .expect("plan");
    assert!(uses_index(&select, "recordings_call_sid"), "{select:?}");
    assert!(
        !select.iter().any(|l| l.contains("TEMP B-TREE")),
        "{select:?}"
    );

    for (sql, index) in [
        (
            "SELECT doc FROM calls WHERE call_sid = 'CA1'",
            "calls_call_sid",
        ),
        (
            "SELECT doc FROM recordings WHERE recording_sid = 'RE1'",
            "recordings_recording_sid",
        ),
        (
            "SELECT doc FROM transcripts WHERE call_sid = 'CA1'",
            "transcripts_call_sid",
        ),
        (
            "SELECT doc FROM contacts WHERE phone_number = '+1' ORDER BY created_at, rowid LIMIT 1",
            "contacts_phone",
        ),
        (
            "SELECT contact_id FROM contact_tags WHERE tag = 'vip'",
            "contact_tags_tag",
        ),
        (
            "SELECT doc FROM campaigncontacts WHERE campaign_id = 'x' AND status = 'pending' ORDER BY next_attempt_at, priority DESC",
            "campaigncontacts_due",
        ),
    ] {
        let plan = store.plan_sql(sql).await.expect("plan");
        assert!(uses_index(&plan, index), "{sql}: {plan:?}");
    }
}

/// A database from before numbers were unique, holding two records of one number:
/// opening it merges them into the oldest (do-not-call wins), moves the newer one's
/// campaign place and calls to it, and from then on refuses a second record.
#[tokio::test]
async fn opening_merges_contacts_that_share_a_number() {
    use outcall_domain::campaign_contact::CampaignContact;
    use outcall_domain::contact::{Contact, ContactStatus};
    use outcall_store::{CallStore, CampaignContactStore, ContactStore};
    use sqlx::Connection;

    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_in(dir.path(), 0).await;
    let (x, y) = (ObjectId::new(), ObjectId::new());
    let mut older = Contact::new("+14155550100");
    older.campaign_ids = vec![x];
    older.tags = vec!["a".into()];
    let older = store.insert_contact(older).await.expect("insert");
    store
        .upsert_campaign_contact(CampaignContact::new(x, older.id, "+14155550100"))
        .await
        .expect("enroll older");
    let mut newer = Contact::new("+14155550100");
    let mut call = outcall_domain::Call::new("CAtwin", "+15005550006", "+14155550100");
    call.contact_id = Some(newer.id);
    store.insert_call(call).await.expect("a call of the twin");
    store.close().await;

    // Take the database back to before the rule and add the newer twin by hand.
    let url = format!("sqlite://{}", dir.path().join("outcall-0.db").display());
    let mut raw = sqlx::SqliteConnection::connect(&url).await.expect("raw");
    sqlx::query("DROP INDEX contacts_phone_unique")
        .execute(&mut raw)
        .await
        .expect("drop the unique index");
    newer.created_at = older.created_at + chrono::Duration::seconds(1);
    newer.status = ContactStatus::DoNotCall;
    newer.name = Some("Ada".into());
    newer.campaign_ids = vec![y];
    newer.tags = vec!["b".into()];
    let doc = serde_json::to_string(&newer).expect("json");
    for sql in [
        "INSERT INTO contacts (id, phone_number, name, email, status, created_at, doc) VALUES (?1, ?2, 'Ada', NULL, 'do-not-call', ?3, ?4)",
        "INSERT INTO contact_campaigns (contact_id, phone_number, campaign_id, status) VALUES (?1, ?2, ?5, 'do-not-call')",
    ] {
        sqlx::query(sql)
            .bind(newer.id.to_hex())
            .bind("+14155550100")
            .bind(newer.created_at.timestamp_millis())
            .bind(&doc)
            .bind(y.to_hex())
            .execute(&mut raw)
            .await
            .expect("insert the twin");
    }
    let cc = CampaignContact::new(y, newer.id, "+14155550100");
    sqlx::query("INSERT INTO campaigncontacts (id, campaign_id, contact_id, status, priority, created_at, doc) VALUES (?, ?, ?, 'pending', 0, 0, ?)")
        .bind(cc.id.to_hex())
        .bind(y.to_hex())
        .bind(newer.id.to_hex())
        .bind(serde_json::to_string(&cc).expect("json"))
        .execute(&mut raw)
        .await
        .expect("enroll the twin");
    raw.close().await.expect("close");
    let store = open_in(dir.path(), 0).await;
    let kept = store
        .get_contact_by_phone("+14155550100")
        .await
        .expect("get")
        .expect("one contact");
    assert_eq!(kept.id, older.id, "the oldest record stays");
    assert_eq!(kept.status, ContactStatus::DoNotCall, "do-not-call wins");
    assert_eq!(kept.name.as_deref(), Some("Ada"));
    assert_eq!(kept.campaign_ids, vec![x, y]);
    assert_eq!(kept.tags, vec!["a".to_string(), "b".to_string()]);
    assert_eq!(store.get_contact(newer.id).await.expect("get"), None);
    let moved = store
        .get_campaign_contact(y, older.id)
        .await
        .expect("get")
        .expect("the twin's campaign place moved to the kept contact");
    assert_eq!(moved.contact_id, older.id);
    let calls = store
        .list_calls(
            &CallFilter {
                contact_id: Some(older.id),
                ..Default::default()
            },
            &page(Sort::desc("createdAt")),
        )
        .await
        .expect("calls");
    assert_eq!(
        calls.items.len(),
        1,
        "the twin's call is the kept contact's"
    );
    assert_eq!(calls.items[0].contact_id, Some(older.id));
    assert_eq!(
        store
            .do_not_call_contact("+14155550100")
            .await
            .expect("dnc"),
        Some(older.id)
    );
    let err = store
        .insert_contact(Contact::new("+14155550100"))
        .await
        .expect_err("the number is unique now");
    assert!(err.is_conflict(), "{err}");
}
