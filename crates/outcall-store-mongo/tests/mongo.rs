//! The MongoDB adapter against the shared conformance suite, plus what is specific to
//! MongoDB: the stored BSON types, indexes, and reading a database the original wrote.
//!
//! Needs a server: `OUTCALL_TEST_MONGODB_URI=mongodb://127.0.0.1:27017`. Without it
//! every test here says it is skipped and passes. Each check gets a fresh database.
//!
//! With `OUTCALL_TEST_MONGODB_STANDIN=nx-27017` (the wire-protocol stand-in that
//! `scripts/mongo-standin` starts) the checks in [`STANDIN_SKIPS`] are skipped: each is
//! a place where that stand-in departs from documented MongoDB behaviour. Against a
//! real MongoDB nothing is skipped.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bson::{Bson, Document, doc};
use futures::FutureExt;
use futures::stream::TryStreamExt;
use outcall_domain::campaign::StatsDelta;
use outcall_domain::{Call, ObjectId};
use outcall_store::conformance::{self, DynStore};
use outcall_store::{CallStore, CampaignStore, ContactStore, Store};
use std::time::Duration;

use outcall_store_mongo::{ConnectError, MongoOptions, MongoStore, Unreachable, sharding};

/// Checks the nx-27017 stand-in (0.8.1) cannot pass, grouped by the documented MongoDB
/// behaviour it lacks. Each was confirmed against the stand-in with pymongo as well, so
/// it is the server, not this adapter. (Its bugs with ObjectIds outside `_id`, Dates in
/// `$set`, dotted `$inc`, `$ne: null`, arrays under an index and `$group` by a document
/// are fixed at start-up by scripts/standin/nx_27017_fixed.py, so those checks run.)
const STANDIN_SKIPS: &[&str] = &[
    // `$gte`/`$lt` on Dates select by BSON comparison order
    // (https://www.mongodb.com/docs/manual/reference/operator/query/gte/,
    // https://www.mongodb.com/docs/manual/reference/bson-type-comparison-order/#dates-and-timestamps).
    // nx-27017's `find` (and `deleteMany`) match nothing for a range of UTC Dates with
    // milliseconds that its `count` counts (confirmed with pymongo, `tz_aware=True`).
    "calls::calls_date_filters_are_inclusive_start_exclusive_end",
    "events::purge_deletes_exactly_the_events_stored_before_the_cutoff",
    "recordings::recordings_date_filters_are_inclusive_start_exclusive_end",
    // `$replaceRoot` replaces every field of the document, `_id` included
    // (https://www.mongodb.com/docs/manual/reference/operator/aggregation/replaceRoot/).
    // nx-27017 keeps the input's `_id`, so a campaign's events (each call's events
    // raised to the root) share their call's `_id` and its `$facet` then fails with
    // "UNIQUE constraint failed: _facet_batch_…._id" (confirmed with pymongo).
    "analytics::recent_events_of_a_campaign",
];

fn uri() -> Option<String> {
    std::env::var("OUTCALL_TEST_MONGODB_URI")
        .ok()
        .filter(|u| !u.is_empty())
}

fn standin() -> bool {
    std::env::var("OUTCALL_TEST_MONGODB_STANDIN").is_ok_and(|s| s == "nx-27017")
}

fn skipped(test: &str) -> bool {
    if uri().is_none() {
        eprintln!("{test}: skipped: OUTCALL_TEST_MONGODB_URI is not set");
        return true;
    }
    false
}

static DB_COUNTER: AtomicUsize = AtomicUsize::new(0);

fn fresh_db_name() -> String {
    format!(
        "outcall_test_{}_{}",
        std::process::id(),
        DB_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

async fn connect(name: &str) -> MongoStore {
    let uri = uri().expect("checked by skipped()");
    MongoStore::connect(&uri, name)
        .await
        .expect("connect to OUTCALL_TEST_MONGODB_URI")
}

/// Drops the test databases (best effort: a real server should not keep them).
async fn drop_all(names: &[String]) {
    let Some(uri) = uri() else { return };
    let Ok(client) = mongodb::Client::with_uri_str(&uri).await else {
        return;
    };
    for name in names {
        let _ = client.database(name).drop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_passes_the_conformance_suite() {
    if skipped("mongodb_passes_the_conformance_suite") {
        return;
    }
    let skips: &[&str] = if standin() {
        eprintln!("conformance: against the nx-27017 stand-in, skipping {STANDIN_SKIPS:?}");
        STANDIN_SKIPS
    } else {
        &[]
    };
    let names = Arc::new(std::sync::Mutex::new(Vec::new()));
    let run = conformance::run(
        || {
            let names = names.clone();
            async move {
                let name = fresh_db_name();
                names.lock().expect("names lock").push(name.clone());
                Arc::new(connect(&name).await) as DynStore
            }
        },
        skips,
    );
    let result = std::panic::AssertUnwindSafe(run).catch_unwind().await;
    let names = names.lock().expect("names lock").clone();
    drop_all(&names).await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test]
async fn stores_object_ids_and_dates_as_bson_types() {
    if skipped("stores_object_ids_and_dates_as_bson_types") {
        return;
    }
    let name = fresh_db_name();
    let store = connect(&name).await;
    assert_eq!(store.backend(), "mongodb");
    store.ping().await.expect("ping");
    let mut call = Call::new("CAtypes", "+15005550006", "+14155552671");
    call.campaign_id = Some(ObjectId::new());
    let call = store.insert_call(call).await.expect("insert");
    let raw = store
        .database()
        .collection::<Document>("calls")
        .find_one(doc! {"callSid": "CAtypes"})
        .await
        .expect("find")
        .expect("stored");
    assert!(matches!(raw.get("_id"), Some(Bson::ObjectId(o)) if o.to_hex() == call.id.to_hex()));
    assert!(matches!(raw.get("campaignId"), Some(Bson::ObjectId(_))));
    assert!(
        matches!(raw.get("createdAt"), Some(Bson::DateTime(d)) if d.timestamp_millis() == call.created_at.timestamp_millis())
    );
    assert!(matches!(raw.get("updatedAt"), Some(Bson::DateTime(_))));
    assert_eq!(raw.get_str("status"), Ok("initiated"));

    // Date queries work on what was stored.
    let since = bson::DateTime::from_millis(call.created_at.timestamp_millis());
    let n = store
        .database()
        .collection::<Document>("calls")
        .count_documents(doc! {"createdAt": {"$gte": since}})
        .await
        .expect("count");
    assert_eq!(n, 1);
    drop_all(&[name]).await;
}

#[tokio::test]
async fn reads_and_updates_a_campaign_the_original_wrote() {
    if skipped("reads_and_updates_a_campaign_the_original_wrote") {
        return;
    }
    let name = fresh_db_name();
    let store = connect(&name).await;
    // As Mongoose writes it: numbers as doubles, __v, no totalDuration.
    let id = bson::oid::ObjectId::new();
    let now = bson::DateTime::now();
    store
        .database()
        .collection::<Document>("campaigns")
        .insert_one(doc! {
            "_id": id, "name": "Legacy", "status": "active",
            "stats": {"totalContacts": 4.0, "callsPlaced": 2.0, "callsCompleted": 2.0,
                      "callsAnswered": 2.0, "callsFailed": 0.0, "averageDuration": 15.0},
            "settings": {"callDelay": 5.0, "maxConcurrentCalls": 1.0, "retryCount": 0.0, "retryDelay": 3600.0},
            "contactIds": [], "callIds": [], "createdAt": now, "updatedAt": now, "__v": 0,
        })
        .await
        .expect("insert legacy");
    let oid: ObjectId = id.to_hex().parse().expect("id");
    let c = store.get_campaign(oid).await.expect("get").expect("found");
    assert_eq!((c.name.as_str(), c.stats.calls_answered), ("Legacy", 2));
    let c = store
        .add_campaign_stats(
            oid,
            &StatsDelta {
                calls_answered: 1,
                answered_duration: 60,
                ..StatsDelta::default()
            },
        )
        .await
        .expect("add stats")
        .expect("found");
    assert_eq!(c.stats.calls_answered, 3);
    assert_eq!(c.stats.total_duration, 90, "rebuilt from 15 × 2, plus 60");
    assert!((c.stats.average_duration - 30.0).abs() < 1e-9);
    drop_all(&[name]).await;
}

#[tokio::test]
async fn creates_the_indexes_idempotently() {
    if skipped("creates_the_indexes_idempotently") {
        return;
    }
    if standin() {
        // nx-27017 names indexes its own way and drops `sparse` and descending keys, where
        // MongoDB keeps the given name, keys and options as listed by `listIndexes`.
        // https://www.mongodb.com/docs/manual/reference/command/listIndexes/
        eprintln!("creates_the_indexes_idempotently: skipped for the nx-27017 stand-in");
        return;
    }
    let name = fresh_db_name();
    let store = connect(&name).await;
    store.ensure_indexes().await.expect("second run is a no-op");
    for spec in outcall_store_mongo::indexes::all_indexes(None) {
        let listed: Vec<Document> = store
            .database()
            .collection::<Document>(spec.collection)
            .list_indexes()
            .await
            .expect("list")
            .try_collect::<Vec<_>>()
            .await
            .expect("collect")
            .into_iter()
            .map(|m| bson::to_document(&m).expect("index model"))
            .collect();
        let found = listed
            .iter()
            .find(|i| i.get_document("key").ok() == Some(&spec.keys))
            .unwrap_or_else(|| panic!("{}: {} missing: {listed:?}", spec.collection, spec.name()));
        let flag = |k: &str| {
            found
                .get_document("options")
                .ok()
                .and_then(|o| o.get_bool(k).ok())
                .unwrap_or(false)
                || found.get_bool(k).unwrap_or(false)
        };
        assert_eq!(
            flag("unique"),
            spec.unique,
            "{}.{} unique",
            spec.collection,
            spec.name()
        );
        assert_eq!(
            flag("sparse"),
            spec.sparse,
            "{}.{} sparse",
            spec.collection,
            spec.name()
        );
    }
    drop_all(&[name]).await;
}

#[tokio::test]
async fn an_index_of_another_shape_is_a_clear_error() {
    if skipped("an_index_of_another_shape_is_a_clear_error") {
        return;
    }
    if standin() {
        // nx-27017 accepts createIndexes for an existing name with other options, where
        // MongoDB refuses with IndexOptionsConflict (85) / IndexKeySpecsConflict (86).
        // https://www.mongodb.com/docs/manual/reference/command/createIndexes/#considerations
        eprintln!("an_index_of_another_shape_is_a_clear_error: skipped for the nx-27017 stand-in");
        return;
    }
    let name = fresh_db_name();
    let client = mongodb::Client::with_uri_str(uri().expect("uri"))
        .await
        .expect("client");
    client
        .database(&name)
        .collection::<Document>("calls")
        .create_index(
            mongodb::IndexModel::builder()
                .keys(doc! {"attemptId": 1})
                .build(),
        )
        .await
        .expect("a plain attemptId_1 index");
    let err = match MongoStore::connect(&uri().expect("uri"), &name).await {
        Ok(_) => panic!("connect accepted a plain attemptId_1; it must be unique and sparse"),
        Err(e) => e,
    };
    let ConnectError::Index(e) = &err else {
        panic!("expected an index error, got {err}");
    };
    assert_eq!((e.collection, e.name.as_str()), ("calls", "attemptId_1"));
    assert!(err.to_string().contains("attemptId_1"), "{err}");
    drop_all(&[name]).await;
}

#[tokio::test]
async fn a_duplicate_phone_conflict_names_the_rule() {
    if skipped("a_duplicate_phone_conflict_names_the_rule") {
        return;
    }
    let name = fresh_db_name();
    let store = connect(&name).await;
    let c = outcall_domain::Contact::new("+14155552671");
    store.insert_contact(c.clone()).await.expect("first");
    let err = store
        .insert_contact(outcall_domain::Contact::new("+14155552671"))
        .await
        .expect_err("same phone, no campaigns");
    assert!(err.is_conflict(), "{err}");
    assert!(err.to_string().contains("phoneNumber"), "{err}");
    drop_all(&[name]).await;
}

#[tokio::test]
async fn sharding_refuses_a_server_that_is_not_a_mongos_before_writing() {
    if skipped("sharding_refuses_a_server_that_is_not_a_mongos_before_writing") {
        return;
    }
    let uri = uri().expect("checked by skipped()");
    let name = fresh_db_name();
    let err = sharding::shard(&uri, &name, MongoOptions::default())
        .await
        .expect_err("the stand-in (or a standalone/replica set) is no mongos");
    assert!(
        matches!(&err, sharding::ShardError::NotMongos(kind) if *kind != sharding::ServerKind::Mongos),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with(
            "sharding needs a mongos router of a sharded cluster, and this server is "
        ),
        "{text}"
    );
    assert!(!text.contains('\n'), "one line: {text}");
    // Refused before creating anything: no index, no collection.
    let client = mongodb::Client::with_uri_str(&uri).await.expect("client");
    let collections = client
        .database(&name)
        .list_collection_names()
        .await
        .expect("list collections");
    assert!(collections.is_empty(), "{collections:?}");
    drop_all(&[name]).await;
}

// Connecting: these need no server, they check what happens when there is none.

fn quick() -> MongoOptions {
    MongoOptions {
        server_selection_timeout: Some(Duration::from_millis(300)),
        ..MongoOptions::default()
    }
}

#[tokio::test]
async fn nothing_listening_is_reported_as_refused_and_worth_waiting_for() {
    let Err(err) = MongoStore::connect_with("mongodb://127.0.0.1:9", "x", quick()).await else {
        panic!("nothing listens on port 9, yet connect succeeded");
    };
    assert!(
        matches!(
            err,
            ConnectError::Unreachable {
                reason: Unreachable::Refused,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert!(err.to_string().contains("connection refused"), "{err}");
}

#[tokio::test]
async fn a_bad_uri_or_setting_fails_at_once_and_is_not_retried() {
    let started = std::time::Instant::now();
    let err = MongoStore::connect_waiting("mongo://nope", "x", quick(), Duration::from_secs(30))
        .await
        .expect_err("not a MongoDB URI");
    assert!(matches!(err, ConnectError::BadUri(_)), "{err:?}");
    assert!(!err.is_transient());
    for (options, word) in [
        (
            MongoOptions {
                write_concern: Some("most".into()),
                ..quick()
            },
            "write concern",
        ),
        (
            MongoOptions {
                read_preference: Some("fastest".into()),
                ..quick()
            },
            "read preference",
        ),
        (
            MongoOptions {
                min_pool_size: Some(20),
                max_pool_size: Some(5),
                ..quick()
            },
            "minimum pool size",
        ),
    ] {
        let err = MongoStore::connect_waiting(
            "mongodb://127.0.0.1:9",
            "x",
            options,
            Duration::from_secs(30),
        )
        .await
        .expect_err("a bad setting");
        assert!(matches!(err, ConnectError::BadOption(_)), "{err:?}");
        assert!(err.to_string().contains(word), "{err}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bad settings are not waited on"
    );
}

#[tokio::test]
async fn start_up_waits_with_backoff_then_gives_up_with_the_reason() {
    let started = std::time::Instant::now();
    let err = MongoStore::connect_waiting(
        "mongodb://127.0.0.1:9",
        "x",
        quick(),
        Duration::from_millis(2500),
    )
    .await
    .expect_err("nothing listens on port 9");
    let waited = started.elapsed();
    assert!(matches!(err, ConnectError::Unreachable { .. }), "{err:?}");
    // Tries at 0 s, after 1 s and after 2 s more would pass the 2.5 s patience: two tries.
    assert!(
        waited >= Duration::from_millis(1000),
        "it waited and retried ({waited:?})"
    );
    assert!(
        waited < Duration::from_secs(4),
        "it stopped at its patience ({waited:?})"
    );
}

#[tokio::test]
async fn configured_pool_concerns_and_read_preference_connect_and_work() {
    if skipped("configured_pool_concerns_and_read_preference_connect_and_work") {
        return;
    }
    let name = fresh_db_name();
    let options = MongoOptions {
        max_pool_size: Some(4),
        min_pool_size: Some(1),
        connect_timeout: Some(Duration::from_secs(2)),
        app_name: Some("outcall-test".into()),
        write_concern: Some("1".into()),
        read_preference: Some("secondaryPreferred".into()),
        ..MongoOptions::default()
    };
    let store = MongoStore::connect_with(&uri().expect("checked"), &name, options)
        .await
        .expect("connect with settings");
    store
        .insert_call(Call::new("CApool1", "+15005550006", "+14155552671"))
        .await
        .expect("insert");
    let page = store
        .list_calls(
            &Default::default(),
            &outcall_domain::PageRequest::new(
                None,
                None,
                outcall_domain::page::Sort::desc("createdAt"),
            )
            .expect("page"),
        )
        .await
        .expect("list through the read-preference handle");
    assert_eq!(page.total, 1);
    drop_all(&[name]).await;
}

#[tokio::test]
async fn pool_metrics_and_slow_queries_are_reported() {
    if skipped("pool_metrics_and_slow_queries_are_reported") {
        return;
    }
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("the only recorder of this test binary");
    let logs = CapturedLogs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let name = fresh_db_name();
    let options = MongoOptions {
        slow_query: Some(Duration::ZERO),
        ..MongoOptions::default()
    };
    let store = MongoStore::connect_with(&uri().expect("checked"), &name, options)
        .await
        .expect("connect");
    store
        .insert_call(Call::new("CAslow1", "+15005550006", "+14155552671"))
        .await
        .expect("insert");
    store.get_call("CAslow1").await.expect("get");

    let text = recorder.render();
    for metric in [
        "outcall_mongodb_connections_created_total",
        "outcall_mongodb_connections_open",
        "outcall_mongodb_connections_in_use",
        "outcall_mongodb_checkout_wait_seconds",
    ] {
        assert!(text.contains(metric), "{metric} missing from:\n{text}");
    }
    let logged = logs.text();
    let line = logged
        .lines()
        .find(|l| {
            l.contains("slow query") && l.contains("collection=calls") && l.contains("command=find")
        })
        .unwrap_or_else(|| panic!("no slow-query line for the find on calls in:\n{logged}"));
    assert!(line.contains("filter={callSid: ?}"), "{line}");
    assert!(
        !line.contains("CAslow1"),
        "values never reach the log: {line}"
    );
    assert!(line.contains("duration_ms="), "{line}");
    drop_all(&[name]).await;
}

/// A `tracing` writer into memory.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A database where contact records share a number (the seed's Node system, or an
/// outcall from before the rule) with the earlier non-unique `phoneNumber_1`:
/// connecting merges them into the oldest (do-not-call wins), moves the other's
/// campaign place to it, and then refuses a second record of the number.
#[tokio::test]
async fn connecting_merges_contacts_that_share_a_number() {
    use outcall_domain::contact::ContactStatus;
    use outcall_store::CampaignContactStore;
    if skipped("connecting_merges_contacts_that_share_a_number") {
        return;
    }
    let name = fresh_db_name();
    let client = mongodb::Client::with_uri_str(uri().expect("uri"))
        .await
        .expect("client");
    let db = client.database(&name);
    let (older, newer) = (bson::oid::ObjectId::new(), bson::oid::ObjectId::new());
    let (x, y) = (bson::oid::ObjectId::new(), bson::oid::ObjectId::new());
    let t = bson::DateTime::now();
    let later = bson::DateTime::from_millis(t.timestamp_millis() + 1000);
    db.collection::<Document>("contacts")
        .create_index(
            mongodb::IndexModel::builder()
                .keys(doc! {"phoneNumber": 1})
                .build(),
        )
        .await
        .expect("the earlier non-unique index");
    db.collection::<Document>("contacts")
        .insert_many(vec![
            doc! {"_id": older, "phoneNumber": "+14155550100", "status": "active",
            "tags": ["a"], "campaignIds": [x], "callIds": [], "callCount": 1.0,
            "customFields": {}, "priority": 0.0, "createdAt": t, "updatedAt": t},
            doc! {"_id": newer, "phoneNumber": "+14155550100", "status": "do-not-call",
            "name": "Ada", "tags": ["b"], "campaignIds": [y], "callIds": [],
            "callCount": 2.0, "customFields": {}, "priority": 0.0,
            "createdAt": later, "updatedAt": later},
        ])
        .await
        .expect("twins");
    db.collection::<Document>("campaigncontacts")
        .insert_one(doc! {"_id": bson::oid::ObjectId::new(), "campaignId": y,
        "contactId": newer, "phoneNumber": "+14155550100", "status": "pending",
        "attempts": 0, "priority": 0, "createdAt": t, "updatedAt": t})
        .await
        .expect("the twin's campaign place");

    let store = connect(&name).await;
    let oid = |o: bson::oid::ObjectId| -> ObjectId { o.to_hex().parse().expect("id") };
    let kept = store
        .get_contact_by_phone("+14155550100")
        .await
        .expect("get")
        .expect("one contact");
    assert_eq!(kept.id, oid(older), "the oldest record stays");
    assert_eq!(kept.status, ContactStatus::DoNotCall, "do-not-call wins");
    assert_eq!((kept.name.as_deref(), kept.call_count), (Some("Ada"), 3));
    assert_eq!(kept.campaign_ids, vec![oid(x), oid(y)]);
    assert_eq!(store.get_contact(oid(newer)).await.expect("get"), None);
    let moved = store
        .get_campaign_contact(oid(y), oid(older))
        .await
        .expect("get");
    assert!(
        moved.is_some(),
        "the twin's campaign place moved to the kept contact"
    );
    let err = store
        .insert_contact(outcall_domain::Contact::new("+14155550100"))
        .await
        .expect_err("the number is unique now");
    assert!(err.is_conflict(), "{err}");
    drop_all(&[name]).await;
}
