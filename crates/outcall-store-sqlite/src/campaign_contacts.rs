//! `campaigncontacts`: per-campaign dial state, unique per (campaign, contact).

use async_trait::async_trait;
use outcall_domain::campaign_contact::{CampaignContact, DialStatus};
use outcall_domain::time::MillisecondTimes;
use outcall_domain::time::now;
use outcall_domain::{ObjectId, Page, PageRequest};
use outcall_store::{CampaignContactStore, StoreResult};

use crate::SqliteStore;
use crate::rows::{db_err, decode, encode, list_page, millis, opt_millis};

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
}
