//! The WAL is copied into the database file by the store's own checkpoints, beside the
//! writes (the writer's threshold is far above what this test writes), so it does not
//! grow for good and no write of a dial pays for a checkpoint.

use std::time::{Duration, Instant};

use outcall_domain::contact::Contact;
use outcall_store::ContactStore;
use outcall_store_sqlite::SqliteStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_reach_the_database_file_without_a_checkpoint_in_a_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ckpt.db");
    let store = SqliteStore::open(&format!("sqlite://{}", path.display()))
        .await
        .expect("open");
    let size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    // Whatever opening wrote (the schema) is checkpointed first.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut before = size();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = size();
        if now == before && now > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the schema never reached the file"
        );
        before = now;
    }
    for i in 0..300 {
        let mut c = Contact::new(format!("+1415555{i:04}"));
        c.name = Some("x".repeat(200));
        store.insert_contact(c).await.expect("insert");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while size() <= before + 64 * 1024 {
        assert!(
            Instant::now() < deadline,
            "the WAL was not checkpointed into the database file ({} bytes, {before} before)",
            size()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
