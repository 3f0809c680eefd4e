//! `relay`: the event relay's log, appended in one transaction per batch.

use async_trait::async_trait;
use outcall_domain::time::{Timestamp, now};
use outcall_store::{RelayEntry, RelayStore, StoreError, StoreResult};
use sqlx::Row;

use crate::SqliteStore;
use crate::rows::{db_err, millis};

#[async_trait]
impl RelayStore for SqliteStore {
    async fn append_relay(&self, entries: Vec<RelayEntry>) -> StoreResult<()> {
        let at = millis(now());
        let mut tx = crate::rows::write_tx(&self.writer).await?;
        for e in &entries {
            sqlx::query("INSERT INTO relay (id, origin, at, event) VALUES (?, ?, ?, ?)")
                .bind(e.id.to_hex())
                .bind(&e.origin)
                .bind(at)
                .bind(&e.event)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn relay_since(
        &self,
        since: Timestamp,
        exclude_origin: &str,
        limit: i64,
    ) -> StoreResult<Vec<RelayEntry>> {
        let rows = sqlx::query(
            "SELECT id, origin, at, event FROM relay WHERE at >= ? AND origin != ? ORDER BY at, seq LIMIT ?",
        )
        .bind(millis(since))
        .bind(exclude_origin)
        .bind(limit)
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                let id: String = row.get("id");
                let at: i64 = row.get("at");
                Ok(RelayEntry {
                    id: id
                        .parse()
                        .map_err(|_| StoreError::Internal(format!("bad relay id {id:?}")))?,
                    origin: row.get("origin"),
                    at: chrono::DateTime::from_timestamp_millis(at)
                        .ok_or_else(|| StoreError::Internal(format!("bad relay time {at}")))?,
                    event: row.get("event"),
                })
            })
            .collect()
    }

    async fn purge_relay_before(&self, cutoff: Timestamp) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM relay WHERE at < ?")
            .bind(millis(cutoff))
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected())
    }
}
