//! [`RawDocumentStore`]: a document as another system wrote it, with the index
//! columns read from the document itself (missing ones empty), so the adapter's
//! reads meet it exactly as they would meet a row of theirs.

use async_trait::async_trait;
use outcall_store::raw::{RawDocumentStore, plain_json};
use outcall_store::{StoreError, StoreResult};
use serde_json::{Map, Value};

use crate::SqliteStore;
use crate::rows::db_err;

/// A string field (`None` when absent or not a string).
fn text(doc: &Map<String, Value>, key: &str) -> Option<String> {
    doc.get(key).and_then(Value::as_str).map(str::to_string)
}

/// A time field as milliseconds since the epoch.
fn millis(doc: &Map<String, Value>, key: &str) -> Option<i64> {
    let t = doc.get(key)?.as_str()?;
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.timestamp_millis())
}

fn ids(doc: &Map<String, Value>, key: &str) -> Vec<String> {
    doc.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[async_trait]
impl RawDocumentStore for SqliteStore {
    async fn insert_raw(&self, collection: &str, doc: Map<String, Value>) -> StoreResult<()> {
        let Value::Object(d) = plain_json(Value::Object(doc)) else {
            return Err(StoreError::Internal(
                "BUG: a document stays an object".into(),
            ));
        };
        let json = Value::Object(d.clone()).to_string();
        let id = text(&d, "_id").unwrap_or_default();
        let created = millis(&d, "createdAt").unwrap_or(0);
        let s = |k: &str| text(&d, k);
        let mut conn = self.writer.acquire().await.map_err(db_err)?;
        let q = match collection {
            "calls" => sqlx::query(
                "INSERT INTO calls (id, call_sid, attempt_id, status, campaign_id, contact_id, \
                 from_number, to_number, created_at, start_time, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(id.clone())
            .bind(s("callSid").unwrap_or_default())
            .bind(s("attemptId"))
            .bind(s("status").unwrap_or_default())
            .bind(s("campaignId"))
            .bind(s("contactId"))
            .bind(s("from").unwrap_or_default())
            .bind(s("to").unwrap_or_default())
            .bind(created)
            .bind(millis(&d, "startTime")),
            "recordings" => sqlx::query(
                "INSERT INTO recordings (id, recording_sid, call_sid, status, created_at, doc) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(id.clone())
            .bind(s("recordingSid").unwrap_or_default())
            .bind(s("callSid").unwrap_or_default())
            .bind(s("status").unwrap_or_default())
            .bind(created),
            "transcripts" => sqlx::query(
                "INSERT INTO transcripts (id, call_sid, conversation_id, created_at, doc) \
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(id.clone())
            .bind(s("callSid").unwrap_or_default())
            .bind(s("conversationId"))
            .bind(created),
            "callevents" => sqlx::query(
                "INSERT INTO callevents (id, call_sid, event_type, timestamp, created_at, doc) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(id.clone())
            .bind(s("callSid").unwrap_or_default())
            .bind(s("eventType").unwrap_or_default())
            .bind(millis(&d, "timestamp").unwrap_or(created))
            .bind(created),
            "campaigns" => sqlx::query(
                "INSERT INTO campaigns (id, name, status, created_at, next_execution, doc) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(id.clone())
            .bind(s("name").unwrap_or_default())
            .bind(s("status").unwrap_or_default())
            .bind(created)
            .bind(millis(&d, "nextExecution")),
            "contacts" => sqlx::query(
                "INSERT INTO contacts (id, phone_number, name, email, status, created_at, doc) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(id.clone())
            .bind(s("phoneNumber").unwrap_or_default())
            .bind(s("name"))
            .bind(s("email"))
            .bind(s("status").unwrap_or_default())
            .bind(created),
            other => {
                return Err(StoreError::Internal(format!(
                    "raw documents of {other:?} are not supported"
                )));
            }
        };
        q.bind(json).execute(&mut *conn).await.map_err(db_err)?;
        if collection == "contacts" {
            // The multikey rows the adapter keeps beside a contact (see write_contact).
            let mut campaigns = ids(&d, "campaignIds");
            if campaigns.is_empty() {
                campaigns.push(String::new());
            }
            for campaign in campaigns {
                sqlx::query(
                    "INSERT INTO contact_campaigns (contact_id, phone_number, campaign_id, status) \
                     VALUES (?, ?, ?, ?)",
                )
                .bind(&id)
                .bind(s("phoneNumber").unwrap_or_default())
                .bind(campaign)
                .bind(s("status").unwrap_or_default())
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
            }
            for tag in ids(&d, "tags") {
                sqlx::query("INSERT OR IGNORE INTO contact_tags (contact_id, tag) VALUES (?, ?)")
                    .bind(&id)
                    .bind(tag)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
            }
        }
        Ok(())
    }
}
