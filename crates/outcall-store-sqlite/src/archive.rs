//! `callstats` rollups and whole-call deletion, for `outcall archive`.

use async_trait::async_trait;
use chrono::NaiveDate;
use outcall_domain::callstats::DailyCallStats;
use outcall_domain::time::{MillisecondTimes, now};
use outcall_store::{ArchiveStore, StoreResult};

use crate::SqliteStore;
use crate::rows::{db_err, decode, encode, load_for_update};

#[async_trait]
impl ArchiveStore for SqliteStore {
    async fn put_daily_stats(
        &self,
        mut stats: DailyCallStats,
    ) -> StoreResult<(DailyCallStats, bool)> {
        let day = stats.day.to_string();
        let mut tx = crate::rows::write_tx(&self.writer).await?;
        let stored: Option<DailyCallStats> =
            load_for_update(&mut tx, "SELECT doc FROM callstats WHERE day = ?", &day).await?;
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
        sqlx::query(
            "INSERT INTO callstats (id, day, sealed, doc) VALUES (?, ?, ?, ?) \
             ON CONFLICT (day) DO UPDATE SET sealed = excluded.sealed, doc = excluded.doc",
        )
        .bind(stats.id.to_hex())
        .bind(&day)
        .bind(stats.sealed)
        .bind(encode(&stats)?)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok((stats, true))
    }

    async fn get_daily_stats(&self, day: NaiveDate) -> StoreResult<Option<DailyCallStats>> {
        let doc: Option<String> = sqlx::query_scalar("SELECT doc FROM callstats WHERE day = ?")
            .bind(day.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?;
        doc.as_deref().map(decode).transpose()
    }

    async fn list_daily_stats(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreResult<Vec<DailyCallStats>> {
        // `YYYY-MM-DD` text sorts as the dates do.
        let docs: Vec<String> =
            sqlx::query_scalar("SELECT doc FROM callstats WHERE day >= ? AND day < ? ORDER BY day")
                .bind(from.to_string())
                .bind(to.to_string())
                .fetch_all(&self.reader)
                .await
                .map_err(db_err)?;
        docs.iter().map(|d| decode(d)).collect()
    }

    async fn delete_call_records(&self, call_sid: &str) -> StoreResult<bool> {
        // One transaction: the call and its records go together or not at all.
        let mut tx = crate::rows::write_tx(&self.writer).await?;
        for table in ["callevents", "recordings", "transcripts"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE call_sid = ?"))
                .bind(call_sid)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        let done = sqlx::query("DELETE FROM calls WHERE call_sid = ?")
            .bind(call_sid)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }
}
