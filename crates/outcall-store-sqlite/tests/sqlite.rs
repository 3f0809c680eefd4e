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
