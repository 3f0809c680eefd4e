//! `callstats` rollups and whole-call deletion, for `outcall archive`.
//!
//! Deleting a call's records spans four collections. Without a transaction (a
//! standalone server has none) the order makes it safe to repeat: events, recordings
//! and transcript first, the call last, so an interrupted run leaves the call in
//! place and the next run archives and deletes it again; nothing is left orphaned.

use async_trait::async_trait;
use bson::doc;
use chrono::NaiveDate;
use futures::TryStreamExt;
use outcall_domain::callstats::DailyCallStats;
use outcall_domain::time::{MillisecondTimes, now};
use outcall_store::{ArchiveStore, StoreResult};

use crate::mapping::{self, Kind, Schema};
use crate::{MongoStore, db_err, error_code};

pub(crate) const CALLSTATS: Schema = Schema {
    name: "callstats",
    paths: &[
        ("_id", Kind::Oid),
        ("createdAt", Kind::Date),
        ("updatedAt", Kind::Date),
        ("calls", Kind::Int),
        ("answered", Kind::Int),
        ("totalDuration", Kind::Int),
    ],
};

impl MongoStore {
    async fn stored_stats(&self, day: NaiveDate) -> StoreResult<Option<DailyCallStats>> {
        self.db
            .collection::<bson::Document>(CALLSTATS.name)
            .find_one(doc! {"day": day.to_string()})
            .await
            .map_err(|e| db_err(e, &[]))?
            .map(|d| mapping::from_document(d, &CALLSTATS))
            .transpose()
    }
}

#[async_trait]
impl ArchiveStore for MongoStore {
    async fn put_daily_stats(
        &self,
        mut stats: DailyCallStats,
    ) -> StoreResult<(DailyCallStats, bool)> {
        let stored = self.stored_stats(stats.day).await?;
        if let Some(stored) = &stored {
            if stored.sealed {
                return Ok((stored.clone(), false));
            }
            stats.id = stored.id;
            stats.created_at = stored.created_at;
        } else {
            stats.created_at = now();
        }
        stats.updated_at = now();
        stats.truncate_times();
        let replacement = mapping::to_document(&stats, &CALLSTATS)?;
        // Only an unsealed rollup is replaced; if one was sealed meanwhile, the upsert
        // meets the unique `day` index and the sealed one stands.
        let written = self
            .db
            .collection::<bson::Document>(CALLSTATS.name)
            .replace_one(
                doc! {"day": stats.day.to_string(), "sealed": {"$ne": true}},
                replacement,
            )
            .upsert(true)
            .await;
        match written {
            Ok(_) => Ok((stats, true)),
            Err(e) if error_code(&e) == Some(11000) => match self.stored_stats(stats.day).await? {
                Some(sealed) => Ok((sealed, false)),
                None => Err(db_err(e, &[])),
            },
            Err(e) => Err(db_err(e, &[])),
        }
    }

    async fn get_daily_stats(&self, day: NaiveDate) -> StoreResult<Option<DailyCallStats>> {
        self.stored_stats(day).await
    }

    async fn list_daily_stats(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreResult<Vec<DailyCallStats>> {
        // `YYYY-MM-DD` strings order as the dates do.
        let docs: Vec<bson::Document> = self
            .db
            .collection::<bson::Document>(CALLSTATS.name)
            .find(doc! {"day": {"$gte": from.to_string(), "$lt": to.to_string()}})
            .sort(doc! {"day": 1})
            .await
            .map_err(|e| db_err(e, &[]))?
            .try_collect()
            .await
            .map_err(|e| db_err(e, &[]))?;
        docs.into_iter()
            .map(|d| mapping::from_document(d, &CALLSTATS))
            .collect()
    }

    async fn delete_call_records(&self, call_sid: &str) -> StoreResult<bool> {
        for collection in ["callevents", "recordings", "transcripts"] {
            self.db
                .collection::<bson::Document>(collection)
                .delete_many(doc! {"callSid": call_sid})
                .await
                .map_err(|e| db_err(e, &[]))?;
        }
        let done = self
            .db
            .collection::<bson::Document>("calls")
            .delete_one(doc! {"callSid": call_sid})
            .await
            .map_err(|e| db_err(e, &[]))?;
        Ok(done.deleted_count > 0)
    }
}
