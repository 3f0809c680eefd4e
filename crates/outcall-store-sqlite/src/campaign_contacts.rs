//! `campaigncontacts`: per-campaign dial state, unique per (campaign, contact).

use async_trait::async_trait;
use outcall_domain::campaign_contact::{
    AttemptGuard, AttemptStep, CampaignContact, Claim, DialCounts, DialStatus,
};
use outcall_domain::time::{MillisecondTimes, Timestamp, now};
use outcall_domain::{ObjectId, Page, PageRequest};
use outcall_store::{CampaignContactStore, StoreError, StoreResult};

use crate::SqliteStore;
use crate::rows::{db_err, decode, encode, json_time, list_page, millis, opt_millis};

const LOAD_PAIR: &str =
    "SELECT doc FROM campaigncontacts WHERE campaign_id = ?1 AND contact_id = ?2";

/// A pair's fields that are also indexed columns.
type Indexed = (DialStatus, Option<Timestamp>, i64, Option<Timestamp>);

fn indexed(cc: &CampaignContact) -> Indexed {
    (
        cc.status,
        cc.next_attempt_at,
        cc.priority,
        cc.lease.as_ref().map(|l| l.expires_at),
    )
}

/// The table's name among the remembered documents.
const TABLE: &str = "campaigncontacts";

/// A pair's key among the remembered documents.
fn pair_key(campaign_id: ObjectId, contact_id: ObjectId) -> String {
    format!("{campaign_id}:{contact_id}")
}

/// Stamps a pair changed from the stored document `read` and writes it if the stored
/// one is still `read` (compare-and-set on the whole document, one autocommit
/// statement); the pair and its document as written, or `None` when another process
/// wrote the pair since the read.
async fn save_if(
    conn: &mut sqlx::SqliteConnection,
    read: &str,
    columns: Indexed,
    mut cc: CampaignContact,
) -> StoreResult<Option<(CampaignContact, String)>> {
    cc.updated_at = now();
    cc.truncate_times();
    let doc = encode(&cc)?;
    // Only the document when no indexed column changed (SQLite rewrites the entries
    // of every index whose column is SET, same value or not).
    let sql = if indexed(&cc) == columns {
        "UPDATE campaigncontacts SET doc = ?6 WHERE id = ?1 AND doc = ?7"
    } else {
        "UPDATE campaigncontacts SET status = ?2, next_attempt_at = ?3, priority = ?4, \
         lease_expires_at = ?5, doc = ?6 WHERE id = ?1 AND doc = ?7"
    };
    let written = sqlx::query(sql)
        .bind(cc.id.to_hex())
        .bind(dial_status(cc.status)?)
        .bind(opt_millis(cc.next_attempt_at))
        .bind(cc.priority)
        .bind(opt_millis(cc.lease.as_ref().map(|l| l.expires_at)))
        .bind(doc.clone())
        .bind(read)
        .execute(conn)
        .await
        .map_err(db_err)?
        .rows_affected();
    Ok((written > 0).then_some((cc, doc)))
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
        // The writer connection is held from the read to the write, so no claim of this
        // process comes in between; the write compares the document read (see
        // `save_if`), so a claim of another process in between makes it miss, and the
        // next due contact is looked for again. Two statements, where a transaction
        // took four round trips to the connection's thread.
        let mut conn = self.writer.acquire().await.map_err(db_err)?;
        loop {
            let read: Option<String> = sqlx::query_scalar(
                "SELECT doc FROM campaigncontacts WHERE campaign_id = ?1 \
                 AND status IN ('pending', 'retry') \
                 AND (next_attempt_at IS NULL OR next_attempt_at <= ?2) \
                 ORDER BY priority DESC, next_attempt_at ASC, created_at ASC, rowid ASC LIMIT 1",
            )
            .bind(campaign_id.to_hex())
            .bind(millis(claim.now))
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
            let Some(read) = read else {
                return Ok(None);
            };
            let mut cc: CampaignContact = decode(&read)?;
            let columns = indexed(&cc);
            cc.claim(claim);
            if let Some((cc, doc)) = save_if(&mut conn, &read, columns, cc).await? {
                self.known
                    .put(TABLE, pair_key(cc.campaign_id, cc.contact_id), doc);
                return Ok(Some(cc));
            }
        }
    }

    async fn step_attempt(
        &self,
        campaign_id: ObjectId,
        contact_id: ObjectId,
        guard: &AttemptGuard,
        step: &AttemptStep,
    ) -> StoreResult<Option<CampaignContact>> {
        // Compare-and-set twice over: the guard on the pair as read, and the write on
        // the document being still the one read (`save_if`); when another process wrote
        // it in between, the guard is asked again on what it wrote. The pair as this
        // store last wrote it stands for the read when remembered (the attempt's
        // claim, its sent mark, its placement follow each other); a guard that refuses
        // the remembered pair is asked again on one read.
        let key = pair_key(campaign_id, contact_id);
        let mut conn = self.writer.acquire().await.map_err(db_err)?;
        let mut remembered = self.known.get(TABLE, &key);
        loop {
            let load = sqlx::query_scalar(LOAD_PAIR)
                .bind(campaign_id.to_hex())
                .bind(contact_id.to_hex())
                .fetch_optional(&mut *conn);
            let found = self
                .known
                .decide_on(TABLE, &key, &mut remembered, async {
                    load.await.map_err(db_err)
                })
                .await?;
            let Some((read, guessed)) = found else {
                return Ok(None);
            };
            let mut cc: CampaignContact = decode(&read)?;
            if !guard.admits(&cc) {
                if guessed {
                    continue;
                }
                return Ok(None);
            }
            let columns = indexed(&cc);
            step.apply(&mut cc);
            if let Some((cc, doc)) = save_if(&mut conn, &read, columns, cc).await? {
                self.known.put(TABLE, key, doc);
                return Ok(Some(cc));
            }
        }
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
        // One statement, so one snapshot: per status its count, how many have a live
        // lease (`dialing` ones are the live calls) and its earliest next attempt
        // (`pending` and `retry` ones give when the next is due).
        let rows: Vec<(String, i64, i64, Option<i64>)> = sqlx::query_as(
            "SELECT status, COUNT(*), COALESCE(SUM(lease_expires_at > ?2), 0), \
               MIN(next_attempt_at) \
             FROM campaigncontacts WHERE campaign_id = ?1 GROUP BY status",
        )
        .bind(campaign_id.to_hex())
        .bind(millis(now))
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        let mut counts = DialCounts::default();
        for (status, n, leased, next) in rows {
            let status: DialStatus = decode(&format!("\"{status}\""))?;
            counts.add(status, n);
            match status {
                DialStatus::Dialing => counts.live = leased,
                DialStatus::Pending | DialStatus::Retry => {
                    let next = next.and_then(chrono::DateTime::from_timestamp_millis);
                    counts.next_due = match (counts.next_due, next) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                _ => {}
            }
        }
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
