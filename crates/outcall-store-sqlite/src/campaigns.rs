//! `campaigns`: compare-and-set transitions and exact stats counters.

use async_trait::async_trait;
use outcall_domain::campaign::{
    CallTally, Campaign, CampaignAction, CampaignPatch, CampaignStatus, RunnerLease, StatsDelta,
};
use outcall_domain::time::{MillisecondTimes, Timestamp, now};
use outcall_domain::{ObjectId, Page, PageRequest};
use outcall_store::{CampaignFilter, CampaignStore, StoreResult, Transition};

use crate::SqliteStore;
use crate::rows::{db_err, decode, encode, list_page, millis, opt_millis};

const LOAD: &str = "SELECT doc FROM campaigns WHERE id = ?";
/// The table's name among the remembered documents.
const TABLE: &str = "campaigns";

async fn write_campaign(
    conn: &mut sqlx::SqliteConnection,
    c: &Campaign,
    insert: bool,
) -> StoreResult<()> {
    let sql = if insert {
        "INSERT INTO campaigns (id, name, status, created_at, next_execution, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    } else {
        "UPDATE campaigns SET name = ?2, status = ?3, created_at = ?4, next_execution = ?5, doc = ?6 WHERE id = ?1"
    };
    campaign_row(sqlx::query(sql), c, encode(c)?)
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Binds a campaign's columns and its encoded document `doc`, `?1` to `?6`.
fn campaign_row<'q>(
    q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    c: &Campaign,
    doc: String,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    q.bind(c.id.to_hex())
        .bind(c.name.clone())
        .bind(c.status.as_str())
        .bind(millis(c.created_at))
        .bind(opt_millis(c.next_execution))
        .bind(doc)
}

impl SqliteStore {
    /// Loads a campaign, lets `change` edit it, and writes it back if it says so, as a
    /// compare-and-set on the whole document: the `UPDATE` applies only if the stored
    /// document is still the one decided on (`doc = ?`). That is the one this store
    /// last wrote, when it remembers it (`known`): the runner's lease, the dial fence
    /// and the stats then take one statement per dial, with no read. A write of
    /// another process since (the CLI, a second server) makes the `UPDATE` miss, and
    /// the campaign is read and decided again; so is a refusal decided on the
    /// remembered document. The writer connection is held from the read to the write,
    /// so no write of this process comes in between. A single autocommit `UPDATE`
    /// never meets a stale snapshot (its read and write lock are taken together,
    /// waiting out the busy timeout), so another process's writer is waited for, not
    /// answered with "database is locked".
    async fn modify_campaign(
        &self,
        id: ObjectId,
        mut change: impl FnMut(&mut Campaign) -> bool,
    ) -> StoreResult<Option<(Campaign, bool)>> {
        let key = id.to_hex();
        let mut conn = self.writer.acquire().await.map_err(db_err)?;
        let mut remembered = self.known.get(TABLE, &key);
        loop {
            let load = sqlx::query_scalar(LOAD)
                .bind(&key)
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
            let mut c: Campaign = decode(&read)?;
            let columns = indexed(&c);
            if !change(&mut c) {
                if guessed {
                    continue; // refused on a remembered document: decided on a read
                }
                self.known.put(TABLE, key, read);
                return Ok(Some((c, false)));
            }
            c.updated_at = now();
            c.truncate_times();
            let doc = encode(&c)?;
            // Only the document when no indexed column changed (the runner's lease, the
            // dial marks, the stats): SQLite rewrites the entries of every index whose
            // column is SET, same value or not, and each page it dirties is one more
            // frame appended to the WAL.
            let sql = if indexed(&c) == columns {
                "UPDATE campaigns SET doc = ?6 WHERE id = ?1 AND doc = ?7"
            } else {
                "UPDATE campaigns SET name = ?2, status = ?3, created_at = ?4, \
                 next_execution = ?5, doc = ?6 WHERE id = ?1 AND doc = ?7"
            };
            let written = campaign_row(sqlx::query(sql), &c, doc.clone())
                .bind(read)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?
                .rows_affected();
            if written > 0 {
                self.known.put(TABLE, key, doc);
                return Ok(Some((c, true)));
            }
        }
    }
}

/// The campaign's fields that are also indexed columns.
fn indexed(c: &Campaign) -> (String, CampaignStatus, Timestamp, Option<Timestamp>) {
    (c.name.clone(), c.status, c.created_at, c.next_execution)
}

fn transition_of(result: Option<(Campaign, bool)>) -> Transition {
    match result {
        None => Transition::NotFound,
        Some((c, true)) => Transition::Applied(Box::new(c)),
        Some((c, false)) => Transition::Refused(c.status),
    }
}

#[async_trait]
impl CampaignStore for SqliteStore {
    async fn insert_campaign(&self, mut c: Campaign) -> StoreResult<Campaign> {
        c.created_at = now();
        c.updated_at = c.created_at;
        c.truncate_times();
        let mut conn = self.writer.acquire().await.map_err(db_err)?;
        write_campaign(&mut conn, &c, true).await?;
        Ok(c)
    }

    async fn get_campaign(&self, id: ObjectId) -> StoreResult<Option<Campaign>> {
        let doc: Option<String> = sqlx::query_scalar(LOAD)
            .bind(id.to_hex())
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?;
        doc.as_deref().map(decode).transpose()
    }

    async fn list_campaigns(
        &self,
        filter: &CampaignFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Campaign>> {
        let sort_column = match page.sort.field {
            "name" => "name",
            "status" => "status",
            _ => "created_at",
        };
        list_page(&self.reader, "campaigns", page, sort_column, |q| {
            if let Some(s) = filter.status {
                q.push(" AND status = ").push_bind(s.as_str());
            }
            if let Some(n) = &filter.name {
                q.push(" AND name = ").push_bind(n.clone());
            }
        })
        .await
    }

    async fn update_campaign(
        &self,
        id: ObjectId,
        patch: &CampaignPatch,
        only_if: &[CampaignStatus],
    ) -> StoreResult<Transition> {
        let result = self
            .modify_campaign(id, |c| {
                let allowed = only_if.contains(&c.status);
                if allowed {
                    patch.apply(c);
                }
                allowed
            })
            .await?;
        Ok(transition_of(result))
    }

    async fn delete_campaign(&self, id: ObjectId) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM campaigns WHERE id = ?")
            .bind(id.to_hex())
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn transition_campaign(
        &self,
        id: ObjectId,
        action: CampaignAction,
    ) -> StoreResult<Transition> {
        let result = self
            .modify_campaign(id, |c| match action.apply(c.status) {
                Ok(next) => {
                    c.status = next;
                    true
                }
                Err(_) => false,
            })
            .await?;
        Ok(transition_of(result))
    }

    async fn add_campaign_stats(
        &self,
        id: ObjectId,
        delta: &StatsDelta,
    ) -> StoreResult<Option<Campaign>> {
        let result = self
            .modify_campaign(id, |c| {
                c.stats.add(delta);
                true
            })
            .await?;
        Ok(result.map(|(c, _)| c))
    }

    async fn recount_campaign_calls(&self, id: ObjectId) -> StoreResult<Option<Campaign>> {
        let rows: Vec<(String, bool, i64, i64)> = sqlx::query_as(
            "SELECT status, COALESCE(json_extract(doc, '$.outcome'), '') = 'held', COUNT(*), \
               COALESCE(SUM(json_extract(doc, '$.duration')), 0) \
             FROM calls WHERE campaign_id = ? GROUP BY 1, 2",
        )
        .bind(id.to_hex())
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        let mut tally = CallTally::default();
        for (status, held, n, secs) in rows {
            tally.add_group(&status, held, n, secs);
        }
        let result = self
            .modify_campaign(id, |c| {
                c.stats.recount(&tally);
                true
            })
            .await?;
        Ok(result.map(|(c, _)| c))
    }

    async fn hold_campaign_runner(
        &self,
        id: ObjectId,
        owner: &str,
        now: Timestamp,
        expires_at: Timestamp,
        dialled_at: Option<Timestamp>,
    ) -> StoreResult<Option<Campaign>> {
        let result = self
            .modify_campaign(id, |c| {
                if !c.runnable_by(owner, now) {
                    return false;
                }
                c.runner = Some(RunnerLease {
                    owner: owner.to_string(),
                    expires_at,
                });
                if dialled_at.is_some() {
                    c.last_executed = dialled_at;
                }
                true
            })
            .await?;
        Ok(result.and_then(|(c, held)| held.then_some(c)))
    }

    async fn release_campaign_runner(&self, id: ObjectId, owner: &str) -> StoreResult<()> {
        self.modify_campaign(id, |c| {
            let mine = c.runner.as_ref().is_some_and(|r| r.owner == owner);
            if mine {
                c.runner = None;
            }
            mine
        })
        .await?;
        Ok(())
    }

    async fn open_campaign_dial(
        &self,
        id: ObjectId,
        owner: &str,
        dial_id: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<Option<Campaign>> {
        let result = self
            .modify_campaign(id, |c| c.open_dial(owner, dial_id, now, expires_at))
            .await?;
        Ok(result.and_then(|(c, opened)| opened.then_some(c)))
    }

    async fn renew_campaign_runner(
        &self,
        id: ObjectId,
        owner: &str,
        dials: &[String],
        expires_at: Timestamp,
    ) -> StoreResult<bool> {
        let result = self
            .modify_campaign(id, |c| c.renew_runner(owner, dials, expires_at))
            .await?;
        Ok(result.is_some_and(|(_, held)| held))
    }

    async fn close_campaign_dial(&self, id: ObjectId, dial_id: &str) -> StoreResult<()> {
        self.modify_campaign(id, |c| c.close_dial(dial_id)).await?;
        Ok(())
    }

    async fn close_campaign_dial_counting(
        &self,
        id: ObjectId,
        dial_id: &str,
        delta: &StatsDelta,
    ) -> StoreResult<Option<Campaign>> {
        // One write for both: the dial's last campaign write is one statement.
        let result = self
            .modify_campaign(id, |c| {
                c.close_dial(dial_id);
                c.stats.add(delta);
                true
            })
            .await?;
        Ok(result.map(|(c, _)| c))
    }
}
