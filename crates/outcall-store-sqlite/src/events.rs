//! `callevents`: a call's timeline, read in timestamp order.

use async_trait::async_trait;
use outcall_domain::event::CallEvent;
use outcall_domain::time::MillisecondTimes;
use outcall_domain::time::{Timestamp, now};
use outcall_domain::{Page, PageRequest};
use outcall_store::{CallEventStore, EventFilter, StoreResult};

use crate::SqliteStore;
use crate::rows::{db_err, encode, list_page, millis};

pub(crate) async fn write_event(
    conn: &mut sqlx::SqliteConnection,
    e: &CallEvent,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO callevents (id, call_sid, event_type, timestamp, created_at, doc) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(e.id.to_hex())
    .bind(&e.call_sid)
    .bind(&e.event_type)
    .bind(millis(e.timestamp))
    .bind(millis(e.created_at))
    .bind(encode(e)?)
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl CallEventStore for SqliteStore {
    async fn insert_event(&self, mut e: CallEvent) -> StoreResult<CallEvent> {
        e.created_at = now();
        e.updated_at = e.created_at;
        e.truncate_times();
        let mut conn = self.writer.acquire().await.map_err(db_err)?;
        write_event(&mut conn, &e).await?;
        Ok(e)
    }

    async fn list_events(
        &self,
        call_sid: &str,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<CallEvent>> {
        list_page(&self.reader, "callevents", page, "timestamp", |q| {
            q.push(" AND call_sid = ").push_bind(call_sid.to_string());
            if let Some(t) = &filter.event_type {
                q.push(" AND event_type = ").push_bind(t.clone());
            }
        })
        .await
    }

    async fn purge_events_before(&self, cutoff: Timestamp) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM callevents WHERE created_at < ?")
            .bind(millis(cutoff))
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected())
    }
}
