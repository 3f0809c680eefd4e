//! `transcripts`: one per call, partially updated.

use async_trait::async_trait;
use outcall_domain::time::MillisecondTimes;
use outcall_domain::time::now;
use outcall_domain::transcript::{Transcript, TranscriptPatch};
use outcall_store::{StoreResult, TranscriptStore};

use crate::SqliteStore;
use crate::rows::{db_err, decode, encode, load_for_update, millis};

pub(crate) async fn write_transcript(
    conn: &mut sqlx::SqliteConnection,
    t: &Transcript,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO transcripts (id, call_sid, conversation_id, created_at, doc) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(t.id.to_hex())
    .bind(&t.call_sid)
    .bind(&t.conversation_id)
    .bind(millis(t.created_at))
    .bind(encode(t)?)
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl TranscriptStore for SqliteStore {
    async fn insert_transcript(&self, mut t: Transcript) -> StoreResult<Transcript> {
        t.created_at = now();
        t.updated_at = t.created_at;
        t.truncate_times();
        let mut conn = self.writer.acquire().await.map_err(db_err)?;
        write_transcript(&mut conn, &t).await?;
        Ok(t)
    }

    async fn get_transcript(&self, call_sid: &str) -> StoreResult<Option<Transcript>> {
        let doc: Option<String> =
            sqlx::query_scalar("SELECT doc FROM transcripts WHERE call_sid = ?")
                .bind(call_sid)
                .fetch_optional(&self.reader)
                .await
                .map_err(db_err)?;
        doc.as_deref().map(decode).transpose()
    }

    async fn transcript_of_conversation(
        &self,
        conversation_id: &str,
    ) -> StoreResult<Option<Transcript>> {
        let doc: Option<String> =
            sqlx::query_scalar("SELECT doc FROM transcripts WHERE conversation_id = ? LIMIT 1")
                .bind(conversation_id)
                .fetch_optional(&self.reader)
                .await
                .map_err(db_err)?;
        doc.as_deref().map(decode).transpose()
    }

    async fn update_transcript(
        &self,
        call_sid: &str,
        patch: &TranscriptPatch,
    ) -> StoreResult<Option<Transcript>> {
        let mut tx = crate::rows::write_tx(&self.writer).await?;
        let Some(mut t): Option<Transcript> = load_for_update(
            &mut tx,
            "SELECT doc FROM transcripts WHERE call_sid = ?",
            call_sid,
        )
        .await?
        else {
            return Ok(None);
        };
        if !patch.applies_to(&t) {
            return Ok(Some(t));
        }
        patch.apply(&mut t);
        t.updated_at = now();
        t.truncate_times();
        sqlx::query("UPDATE transcripts SET conversation_id = ?, doc = ? WHERE id = ?")
            .bind(&t.conversation_id)
            .bind(encode(&t)?)
            .bind(t.id.to_hex())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(Some(t))
    }
}
