//! `recordings`: unique `recordingSid`, listed by call and status.

use async_trait::async_trait;
use outcall_domain::recording::Recording;
use outcall_domain::time::MillisecondTimes;
use outcall_domain::time::now;
use outcall_domain::{Page, PageRequest};
use outcall_store::{RecordingFilter, RecordingStore, StoreResult};

use crate::SqliteStore;
use crate::rows::{db_err, decode, encode, list_page, load_for_update, millis};

async fn write_recording(
    conn: &mut sqlx::SqliteConnection,
    rec: &Recording,
    insert: bool,
) -> StoreResult<()> {
    let sql = if insert {
        "INSERT INTO recordings (id, recording_sid, call_sid, status, created_at, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    } else {
        "UPDATE recordings SET recording_sid = ?2, call_sid = ?3, status = ?4, created_at = ?5, doc = ?6 WHERE id = ?1"
    };
    sqlx::query(sql)
        .bind(rec.id.to_hex())
        .bind(&rec.recording_sid)
        .bind(&rec.call_sid)
        .bind(&rec.status)
        .bind(millis(rec.created_at))
        .bind(encode(rec)?)
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl RecordingStore for SqliteStore {
    async fn insert_recording(&self, mut rec: Recording) -> StoreResult<Recording> {
        rec.created_at = now();
        rec.updated_at = rec.created_at;
        rec.truncate_times();
        let mut conn = self.writer.acquire().await.map_err(db_err)?;
        write_recording(&mut conn, &rec, true).await?;
        Ok(rec)
    }

    async fn upsert_recording(&self, mut rec: Recording) -> StoreResult<(Recording, bool)> {
        let mut tx = crate::rows::write_tx(&self.writer).await?;
        let stored: Option<Recording> = load_for_update(
            &mut tx,
            "SELECT doc FROM recordings WHERE recording_sid = ?",
            &rec.recording_sid,
        )
        .await?;
        let (rec, insert) = match stored {
            None => {
                rec.created_at = now();
                rec.updated_at = rec.created_at;
                (rec, true)
            }
            Some(mut stored) => {
                if !stored.merge(&rec) {
                    return Ok((stored, false));
                }
                stored.updated_at = now();
                (stored, false)
            }
        };
        let mut rec = rec;
        rec.truncate_times();
        write_recording(&mut tx, &rec, insert).await?;
        tx.commit().await.map_err(db_err)?;
        Ok((rec, true))
    }

    async fn get_recording(&self, recording_sid: &str) -> StoreResult<Option<Recording>> {
        let doc: Option<String> =
            sqlx::query_scalar("SELECT doc FROM recordings WHERE recording_sid = ?")
                .bind(recording_sid)
                .fetch_optional(&self.reader)
                .await
                .map_err(db_err)?;
        doc.as_deref().map(decode).transpose()
    }

    async fn list_recordings(
        &self,
        filter: &RecordingFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Recording>> {
        list_page(&self.reader, "recordings", page, "created_at", |q| {
            if let Some(sid) = &filter.call_sid {
                q.push(" AND call_sid = ").push_bind(sid.clone());
            }
            if let Some(s) = &filter.status {
                q.push(" AND status = ").push_bind(s.clone());
            }
            if let Some(t) = filter.start_date {
                q.push(" AND created_at >= ").push_bind(millis(t));
            }
            if let Some(t) = filter.end_date {
                q.push(" AND created_at < ").push_bind(millis(t));
            }
        })
        .await
    }

    async fn delete_recording(&self, recording_sid: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM recordings WHERE recording_sid = ?")
            .bind(recording_sid)
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }
}
