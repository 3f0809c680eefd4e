//! `campaigns`: compare-and-set transitions and exact stats counters.

use async_trait::async_trait;
use outcall_domain::campaign::{
    CallTally, Campaign, CampaignAction, CampaignPatch, CampaignStatus, RunnerLease, StatsDelta,
};
use outcall_domain::time::{MillisecondTimes, Timestamp, now};
use outcall_domain::{ObjectId, Page, PageRequest};
use outcall_store::{CampaignFilter, CampaignStore, StoreResult, Transition};

use crate::SqliteStore;
use crate::rows::{db_err, decode, encode, list_page, load_for_update, millis, opt_millis};

const LOAD: &str = "SELECT doc FROM campaigns WHERE id = ?";

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
    sqlx::query(sql)
        .bind(c.id.to_hex())
        .bind(&c.name)
        .bind(c.status.as_str())
        .bind(millis(c.created_at))
        .bind(opt_millis(c.next_execution))
        .bind(encode(c)?)
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

impl SqliteStore {
    /// Loads a campaign, lets `change` edit it, and writes it back if it says so,
    /// all in one write transaction. `IMMEDIATE`: the write lock is taken before the
    /// read, so another process's write in between cannot fail this one with
    /// `database is locked` (a deferred transaction cannot upgrade past it), which the
    /// runner's lease renewals and the dial fence would otherwise meet under a second
    /// process answering pause or stop.
    async fn modify_campaign(
        &self,
        id: ObjectId,
        change: impl FnOnce(&mut Campaign) -> bool,
    ) -> StoreResult<Option<(Campaign, bool)>> {
        let mut tx = crate::rows::write_tx(&self.writer).await?;
        let Some(mut c): Option<Campaign> = load_for_update(&mut tx, LOAD, &id.to_hex()).await?
        else {
            return Ok(None);
        };
        let changed = change(&mut c);
        if changed {
            c.updated_at = now();
            c.truncate_times();
            write_campaign(&mut tx, &c, false).await?;
            tx.commit().await.map_err(db_err)?;
        }
        Ok(Some((c, changed)))
    }
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
        dial: Option<&str>,
        expires_at: Timestamp,
    ) -> StoreResult<bool> {
        let result = self
            .modify_campaign(id, |c| c.renew_runner(owner, dial, expires_at))
            .await?;
        Ok(result.is_some_and(|(_, held)| held))
    }

    async fn close_campaign_dial(&self, id: ObjectId, dial_id: &str) -> StoreResult<()> {
        self.modify_campaign(id, |c| c.close_dial(dial_id)).await?;
        Ok(())
    }
}
