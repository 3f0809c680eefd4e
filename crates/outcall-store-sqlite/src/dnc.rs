//! `donotcall`: the number-level do-not-call list, unique on `phone_number`.

use async_trait::async_trait;
use outcall_domain::dnc::DncEntry;
use outcall_domain::time::{MillisecondTimes, now};
use outcall_domain::{Page, PageRequest};
use outcall_store::{DncStore, StoreResult};

use crate::SqliteStore;
use crate::rows::{db_err, decode, encode, list_page, millis};

/// `%digits%` for a LIKE on the number: only digits are kept, so no wildcard gets in.
fn digits_pattern(q: &str) -> Option<String> {
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    (!digits.is_empty()).then(|| format!("%{digits}%"))
}

#[async_trait]
impl DncStore for SqliteStore {
    async fn add_dnc(&self, entries: Vec<DncEntry>) -> StoreResult<u64> {
        let mut tx = crate::rows::write_tx(&self.writer).await?;
        let mut added = 0;
        for mut e in entries {
            e.created_at = now();
            e.updated_at = e.created_at;
            e.truncate_times();
            let done = sqlx::query(
                "INSERT INTO donotcall (id, phone_number, created_at, doc) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (phone_number) DO NOTHING",
            )
            .bind(e.id.to_hex())
            .bind(&e.phone_number)
            .bind(millis(e.created_at))
            .bind(encode(&e)?)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            added += done.rows_affected();
        }
        tx.commit().await.map_err(db_err)?;
        Ok(added)
    }

    async fn get_dnc(&self, phone_number: &str) -> StoreResult<Option<DncEntry>> {
        let doc: Option<String> =
            sqlx::query_scalar("SELECT doc FROM donotcall WHERE phone_number = ?")
                .bind(phone_number)
                .fetch_optional(&self.reader)
                .await
                .map_err(db_err)?;
        doc.as_deref().map(decode).transpose()
    }

    async fn list_dnc(&self, q: Option<&str>, page: &PageRequest) -> StoreResult<Page<DncEntry>> {
        let sort_column = match page.sort.field {
            "phoneNumber" => "phone_number",
            _ => "created_at",
        };
        let pattern = q.and_then(digits_pattern);
        list_page(&self.reader, "donotcall", page, sort_column, |b| {
            if let Some(p) = &pattern {
                b.push(" AND phone_number LIKE ").push_bind(p.clone());
            }
        })
        .await
    }

    async fn remove_dnc(&self, phone_numbers: &[String]) -> StoreResult<u64> {
        let mut tx = crate::rows::write_tx(&self.writer).await?;
        let mut removed = 0;
        for n in phone_numbers {
            let done = sqlx::query("DELETE FROM donotcall WHERE phone_number = ?")
                .bind(n)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            removed += done.rows_affected();
        }
        tx.commit().await.map_err(db_err)?;
        Ok(removed)
    }
}
