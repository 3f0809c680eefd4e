//! `relay`: the event relay's log. Each entry is one small document; a batch is one
//! `insertMany`. `at` is stored as milliseconds since the epoch (an Int64), not a Date:
//! the collection is outcall's own, only read by range, and integer ranges behave the
//! same on every server (the nx-27017 stand-in mismatches Date ranges).

use async_trait::async_trait;
use bson::{Document, doc};
use futures::TryStreamExt;
use mongodb::options::FindOptions;
use outcall_domain::ObjectId;
use outcall_domain::time::{Timestamp, now};
use outcall_store::{RelayEntry, RelayStore, StoreError, StoreResult};

use crate::mapping::oid;
use crate::{MongoStore, db_err};

const RELAY: &str = "relay";

#[async_trait]
impl RelayStore for MongoStore {
    async fn append_relay(&self, entries: Vec<RelayEntry>) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let at = now().timestamp_millis();
        let docs = entries.iter().map(|e| {
            doc! {"_id": oid(e.id), "origin": &e.origin, "at": at, "event": &e.event}
        });
        self.db
            .collection::<Document>(RELAY)
            .insert_many(docs)
            .ordered(true)
            .await
            .map_err(|e| db_err(e, &[]))?;
        Ok(())
    }

    async fn relay_since(
        &self,
        since: Timestamp,
        exclude_origin: &str,
        limit: i64,
    ) -> StoreResult<Vec<RelayEntry>> {
        let options = FindOptions::builder()
            .sort(doc! {"at": 1, "_id": 1})
            .limit(limit)
            .build();
        let docs: Vec<Document> = self
            .db
            .collection::<Document>(RELAY)
            .find(
                doc! {"at": {"$gte": since.timestamp_millis()}, "origin": {"$ne": exclude_origin}},
            )
            .with_options(options)
            .await
            .map_err(|e| db_err(e, &[]))?
            .try_collect()
            .await
            .map_err(|e| db_err(e, &[]))?;
        docs.iter().map(entry).collect()
    }

    async fn purge_relay_before(&self, cutoff: Timestamp) -> StoreResult<u64> {
        let done = self
            .db
            .collection::<Document>(RELAY)
            .delete_many(doc! {"at": {"$lt": cutoff.timestamp_millis()}})
            .await
            .map_err(|e| db_err(e, &[]))?;
        Ok(done.deleted_count)
    }
}

fn entry(d: &Document) -> StoreResult<RelayEntry> {
    let bad = |what: &str| StoreError::Internal(format!("bad relay document: {what}"));
    let id = d.get_object_id("_id").map_err(|_| bad("_id"))?;
    let at = d.get_i64("at").map_err(|_| bad("at"))?;
    Ok(RelayEntry {
        id: ObjectId::from_bytes(id.bytes()),
        origin: d.get_str("origin").map_err(|_| bad("origin"))?.to_string(),
        at: chrono::DateTime::from_timestamp_millis(at).ok_or_else(|| bad("at"))?,
        event: d.get_str("event").map_err(|_| bad("event"))?.to_string(),
    })
}
