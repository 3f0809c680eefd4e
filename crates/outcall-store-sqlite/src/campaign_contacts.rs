//! `campaigncontacts`: per-campaign dial state, unique per (campaign, contact).

use async_trait::async_trait;
use outcall_domain::campaign_contact::{
    AttemptGuard, AttemptStep, CampaignContact, Claim, DialCounts, DialStatus,
};
use outcall_domain::time::{MillisecondTimes, Timestamp, now};
use outcall_domain::{ObjectId, Page, PageRequest};
use outcall_store::{CampaignContactStore, StoreError, StoreResult};

use crate::SqliteStore;
use crate::rows::{db_err, decode, encode, list_page, millis, opt_millis};

const LOAD_PAIR: &str =
    "SELECT doc FROM campaigncontacts WHERE campaign_id = ?1 AND contact_id = ?2";

/// Rewrites a stored pair: its indexed columns and its document.
async fn write_pair(conn: &mut sqlx::SqliteConnection, cc: &CampaignContact) -> StoreResult<()> {
    sqlx::query(
        "UPDATE campaigncontacts SET status = ?2, next_attempt_at = ?3, priority = ?4, \
         lease_expires_at = ?5, doc = ?6 WHERE id = ?1",
    )
    .bind(cc.id.to_hex())
    .bind(dial_status(cc.status)?)
    .bind(opt_millis(cc.next_attempt_at))
    .bind(cc.priority)
    .bind(opt_millis(cc.lease.as_ref().map(|l| l.expires_at)))
    .bind(encode(cc)?)
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Stamps and writes a pair changed inside `tx`, and commits.
async fn save(
    mut tx: sqlx::Transaction<'_, sqlx::Sqlite>,
    mut cc: CampaignContact,
) -> StoreResult<CampaignContact> {
    cc.updated_at = now();
    cc.truncate_times();
    write_pair(&mut tx, &cc).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(cc)
}

/// The JSON text of a timestamp as serde writes it in documents.
fn json_time(t: Timestamp) -> StoreResult<String> {
    Ok(encode(&t)?.trim_matches('"').to_string())
}

fn dial_status(s: DialStatus) -> StoreResult<String> {
    Ok(encode(&s)?.trim_matches('"').to_string())
}

#[async_trait]
impl CampaignContactStore for SqliteStore {
    async fn upsert_campaign_contact(
        &self,
        mut cc: CampaignContact,
    ) -> StoreResult<(CampaignContact, bool)> {
        cc.created_at = now();
        cc.updated_at = cc.created_at;
        cc.truncate_times();
        // ON CONFLICT DO NOTHING is MongoDB's $setOnInsert: the first writer's document stays.
        let inserted = sqlx::query(
            "INSERT INTO campaigncontacts (id, campaign_id, contact_id, status, next_attempt_at, priority, \
             lease_expires_at, created_at, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (campaign_id, contact_id) DO NOTHING",
        )
        .bind(cc.id.to_hex())
        .bind(cc.campaign_id.to_hex())
        .bind(cc.contact_id.to_hex())
        .bind(dial_status(cc.status)?)
        .bind(opt_millis(cc.next_attempt_at))
        .bind(cc.priority)
        .bind(opt_millis(cc.lease.as_ref().map(|l| l.expires_at)))
        .bind(millis(cc.created_at))
        .bind(encode(&cc)?)
        .execute(&self.writer)
        .await
        .map_err(db_err)?
        .rows_affected()
            > 0;
        if inserted {
            return Ok((cc, true));
        }
        let existing = self
            .get_campaign_contact(cc.campaign_id, cc.contact_id)
            .await?
            .ok_or_else(|| outcall_store::StoreError::Internal("upserted row vanished".into()))?;
        Ok((existing, false))
    }

    async fn get_campaign_contact(
        &self,
        campaign_id: ObjectId,
        contact_id: ObjectId,
    ) -> StoreResult<Option<CampaignContact>> {
        let doc: Option<String> = sqlx::query_scalar(
            "SELECT doc FROM campaigncontacts WHERE campaign_id = ? AND contact_id = ?",
        )
        .bind(campaign_id.to_hex())
        .bind(contact_id.to_hex())
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?;
        doc.as_deref().map(decode).transpose()
    }

    async fn list_campaign_contacts(
        &self,
        campaign_id: ObjectId,
        status: Option<DialStatus>,
        page: &PageRequest,
    ) -> StoreResult<Page<CampaignContact>> {
        let sort_column = match page.sort.field {
            "priority" => "priority",
            "nextAttemptAt" => "next_attempt_at",
            _ => "created_at",
        };
        let status = status.map(dial_status).transpose()?;
        list_page(&self.reader, "campaigncontacts", page, sort_column, |q| {
            q.push(" AND campaign_id = ")
                .push_bind(campaign_id.to_hex());
            if let Some(s) = &status {
                q.push(" AND status = ").push_bind(s.clone());
            }
        })
        .await
    }

    async fn claim_campaign_contact(
        &self,
        campaign_id: ObjectId,
        claim: &Claim,
    ) -> StoreResult<Option<CampaignContact>> {
        // One writer connection: the select and the update cannot interleave with
        // another claim.
        let mut tx = crate::rows::write_tx(&self.writer).await?;
        let doc: Option<String> = sqlx::query_scalar(
            "SELECT doc FROM campaigncontacts WHERE campaign_id = ?1 \
             AND status IN ('pending', 'retry') \
             AND (next_attempt_at IS NULL OR next_attempt_at <= ?2) \
             ORDER BY priority DESC, next_attempt_at ASC, created_at ASC, rowid ASC LIMIT 1",
        )
        .bind(campaign_id.to_hex())
        .bind(millis(claim.now))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(mut cc) = doc.as_deref().map(decode::<CampaignContact>).transpose()? else {
            return Ok(None);
        };
        cc.claim(claim);
        save(tx, cc).await.map(Some)
    }

    async fn step_attempt(
        &self,
        campaign_id: ObjectId,
        contact_id: ObjectId,
        guard: &AttemptGuard,
        step: &AttemptStep,
    ) -> StoreResult<Option<CampaignContact>> {
        let mut tx = crate::rows::write_tx(&self.writer).await?;
        let doc: Option<String> = sqlx::query_scalar(LOAD_PAIR)
            .bind(campaign_id.to_hex())
            .bind(contact_id.to_hex())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let Some(mut cc) = doc.as_deref().map(decode::<CampaignContact>).transpose()? else {
            return Ok(None);
        };
        if !guard.admits(&cc) {
            return Ok(None);
        }
        step.apply(&mut cc);
        save(tx, cc).await.map(Some)
    }

    async fn expired_attempts(
        &self,
        campaign_id: ObjectId,
        now: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<CampaignContact>> {
        let docs: Vec<String> = sqlx::query_scalar(
            "SELECT doc FROM campaigncontacts WHERE campaign_id = ?1 AND status = 'dialing' \
             AND lease_expires_at <= ?2 ORDER BY lease_expires_at ASC, rowid ASC LIMIT ?3",
        )
        .bind(campaign_id.to_hex())
        .bind(millis(now))
        .bind(limit.max(0))
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        docs.iter().map(|d| decode(d)).collect()
    }

    async fn count_campaign_contacts(
        &self,
        campaign_id: ObjectId,
        now: Timestamp,
    ) -> StoreResult<DialCounts> {
        let id = campaign_id.to_hex();
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, COUNT(*) FROM campaigncontacts WHERE campaign_id = ? GROUP BY status",
        )
        .bind(&id)
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        let mut counts = DialCounts::default();
        for (status, n) in rows {
            let status: DialStatus = decode(&format!("\"{status}\""))?;
            counts.add(status, n);
        }
        let (live, next_due): (i64, Option<i64>) = sqlx::query_as(
            "SELECT \
               (SELECT COUNT(*) FROM campaigncontacts WHERE campaign_id = ?1 \
                  AND status = 'dialing' AND lease_expires_at > ?2), \
               (SELECT MIN(next_attempt_at) FROM campaigncontacts WHERE campaign_id = ?1 \
                  AND status IN ('pending', 'retry'))",
        )
        .bind(&id)
        .bind(millis(now))
        .fetch_one(&self.reader)
        .await
        .map_err(db_err)?;
        counts.live = live;
        counts.next_due = next_due.and_then(chrono::DateTime::from_timestamp_millis);
        Ok(counts)
    }

    async fn cancel_campaign_contacts(&self, campaign_id: ObjectId) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE campaigncontacts SET status = 'cancelled', \
             doc = json_set(doc, '$.status', 'cancelled', '$.updatedAt', ?2) \
             WHERE campaign_id = ?1 AND status IN ('pending', 'retry')",
        )
        .bind(campaign_id.to_hex())
        .bind(json_time(now())?)
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn remove_campaign_contact(
        &self,
        campaign_id: ObjectId,
        contact_id: ObjectId,
    ) -> StoreResult<bool> {
        let mut tx = crate::rows::write_tx(&self.writer).await?;
        let doc: Option<String> = sqlx::query_scalar(LOAD_PAIR)
            .bind(campaign_id.to_hex())
            .bind(contact_id.to_hex())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let Some(cc) = doc.as_deref().map(decode::<CampaignContact>).transpose()? else {
            return Ok(false);
        };
        if cc.status == DialStatus::Dialing {
            return Err(StoreError::Conflict {
                what: "the contact is being called in this campaign".into(),
            });
        }
        sqlx::query("DELETE FROM campaigncontacts WHERE id = ?")
            .bind(cc.id.to_hex())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn delete_campaign_contacts(&self, campaign_id: ObjectId) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM campaigncontacts WHERE campaign_id = ?")
            .bind(campaign_id.to_hex())
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected())
    }
}
