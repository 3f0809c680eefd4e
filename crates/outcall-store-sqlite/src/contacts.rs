//! `contacts`, with their array fields (`campaignIds`, `tags`) mirrored into side
//! tables so they can be indexed. The number is unique (`contacts_phone_unique`);
//! a database from before that rule has its duplicates merged when it is opened
//! ([`SqliteStore::merge_duplicate_contacts`]).

use async_trait::async_trait;
use outcall_domain::contact::{Contact, ContactPatch, ContactStatus, merge_duplicates};
use outcall_domain::time::MillisecondTimes;
use outcall_domain::time::{Timestamp, now};
use outcall_domain::{ObjectId, Page, PageRequest};
use outcall_store::{ContactFilter, ContactSearch, ContactStore, StoreError, StoreResult};

use crate::SqliteStore;
use crate::rows::{db_err, decode, encode, json_time, list_page, load_for_update, millis};

const LOAD: &str = "SELECT doc FROM contacts WHERE id = ?";

/// Writes the contact row and rebuilds its side-table rows, in the caller's transaction.
async fn write_contact(
    conn: &mut sqlx::SqliteConnection,
    c: &Contact,
    insert: bool,
) -> StoreResult<()> {
    let id = c.id.to_hex();
    let sql = if insert {
        "INSERT INTO contacts (id, phone_number, name, email, status, created_at, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    } else {
        "UPDATE contacts SET phone_number = ?2, name = ?3, email = ?4, status = ?5, created_at = ?6, doc = ?7 WHERE id = ?1"
    };
    sqlx::query(sql)
        .bind(&id)
        .bind(&c.phone_number)
        .bind(&c.name)
        .bind(&c.email)
        .bind(c.status.as_str())
        .bind(millis(c.created_at))
        .bind(encode(c)?)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    if !insert {
        for table in ["contact_campaigns", "contact_tags"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE contact_id = ?"))
                .bind(&id)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
        }
    }
    // An empty array is indexed once, as '' (MongoDB indexes it as undefined).
    let campaigns: Vec<String> = if c.campaign_ids.is_empty() {
        vec![String::new()]
    } else {
        c.campaign_ids.iter().map(|i| i.to_hex()).collect()
    };
    for campaign in campaigns {
        sqlx::query("INSERT INTO contact_campaigns (contact_id, phone_number, campaign_id, status) VALUES (?, ?, ?, ?)")
            .bind(&id)
            .bind(&c.phone_number)
            .bind(campaign)
            .bind(c.status.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    for tag in &c.tags {
        sqlx::query("INSERT OR IGNORE INTO contact_tags (contact_id, tag) VALUES (?, ?)")
            .bind(&id)
            .bind(tag)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

/// Moves a merged-away contact's campaign places and calls to the kept contact. A
/// campaign holding both keeps the kept contact's place and counts one contact less.
async fn repoint(conn: &mut sqlx::SqliteConnection, gone: &str, keep: &str) -> StoreResult<()> {
    let both: Vec<String> = sqlx::query_scalar(
        "SELECT campaign_id FROM campaigncontacts WHERE contact_id = ?1 \
         AND campaign_id IN (SELECT campaign_id FROM campaigncontacts WHERE contact_id = ?2)",
    )
    .bind(gone)
    .bind(keep)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    for campaign in both {
        sqlx::query("DELETE FROM campaigncontacts WHERE contact_id = ? AND campaign_id = ?")
            .bind(gone)
            .bind(&campaign)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        sqlx::query(
            "UPDATE campaigns SET doc = json_set(doc, '$.stats.totalContacts', \
             MAX(COALESCE(json_extract(doc, '$.stats.totalContacts'), 1) - 1, 0)) WHERE id = ?",
        )
        .bind(&campaign)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    }
    for table in ["campaigncontacts", "calls"] {
        sqlx::query(&format!(
            "UPDATE {table} SET contact_id = ?1, doc = json_set(doc, '$.contactId', ?1) WHERE contact_id = ?2"
        ))
        .bind(keep)
        .bind(gone)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

/// `%text%` with LIKE's wildcards in `text` escaped by a backslash, so they match themselves.
fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

const UNIQUE_INDEX: &str = "contacts_phone_unique";

impl SqliteStore {
    /// Makes contact numbers unique: folds the records of each number held more than
    /// once into the oldest ([`merge_duplicates`]), moves the others' campaign places
    /// and calls to it, then creates the unique index. Nothing to do once the index
    /// exists. Returns how many records were merged away.
    pub(crate) async fn merge_duplicate_contacts(&self) -> StoreResult<u64> {
        let exists: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?",
        )
        .bind(UNIQUE_INDEX)
        .fetch_one(&self.writer)
        .await
        .map_err(db_err)?;
        if exists > 0 {
            return Ok(0);
        }
        let mut tx = crate::rows::write_tx(&self.writer).await?;
        let numbers: Vec<String> = sqlx::query_scalar(
            "SELECT phone_number FROM contacts GROUP BY phone_number HAVING COUNT(*) > 1",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let mut merged = 0;
        for number in numbers {
            let docs: Vec<String> =
                sqlx::query_scalar("SELECT doc FROM contacts WHERE phone_number = ?")
                    .bind(&number)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_err)?;
            let records = docs
                .iter()
                .map(|d| decode::<Contact>(d))
                .collect::<StoreResult<Vec<_>>>()?;
            let Some((mut keep, gone)) = merge_duplicates(records) else {
                continue;
            };
            let keep_id = keep.id.to_hex();
            for id in &gone {
                let id = id.to_hex();
                repoint(&mut tx, &id, &keep_id).await?;
                // Its side-table rows go with it (ON DELETE CASCADE).
                sqlx::query("DELETE FROM contacts WHERE id = ?")
                    .bind(&id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            keep.truncate_times();
            write_contact(&mut tx, &keep, false).await?;
            merged += gone.len() as u64;
            tracing::warn!(
                phone = %number,
                kept = %keep_id,
                merged = gone.len(),
                "merged contact records sharing a number into the oldest"
            );
        }
        sqlx::query(&format!(
            "CREATE UNIQUE INDEX {UNIQUE_INDEX} ON contacts (phone_number)"
        ))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(merged)
    }

    /// Loads a contact, applies `change`, writes it back, in one write transaction.
    async fn modify_contact(
        &self,
        id: ObjectId,
        change: impl FnOnce(&mut Contact),
    ) -> StoreResult<Option<Contact>> {
        let mut tx = crate::rows::write_tx(&self.writer).await?;
        let Some(mut c): Option<Contact> = load_for_update(&mut tx, LOAD, &id.to_hex()).await?
        else {
            return Ok(None);
        };
        change(&mut c);
        c.updated_at = now();
        c.truncate_times();
        write_contact(&mut tx, &c, false).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(Some(c))
    }
}

#[async_trait]
impl ContactStore for SqliteStore {
    async fn insert_contact(&self, mut c: Contact) -> StoreResult<Contact> {
        c.created_at = now();
        c.updated_at = c.created_at;
        c.truncate_times();
        let mut tx = crate::rows::write_tx(&self.writer).await?;
        write_contact(&mut tx, &c, true).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(c)
    }

    async fn get_contact(&self, id: ObjectId) -> StoreResult<Option<Contact>> {
        let doc: Option<String> = sqlx::query_scalar(LOAD)
            .bind(id.to_hex())
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?;
        doc.as_deref().map(decode).transpose()
    }

    async fn get_contact_by_phone(&self, phone_number: &str) -> StoreResult<Option<Contact>> {
        let doc: Option<String> = sqlx::query_scalar(
            "SELECT doc FROM contacts WHERE phone_number = ? ORDER BY created_at, rowid LIMIT 1",
        )
        .bind(phone_number)
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?;
        doc.as_deref().map(decode).transpose()
    }

    async fn do_not_call_contact(&self, phone_number: &str) -> StoreResult<Option<ObjectId>> {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT id FROM contacts WHERE phone_number = ? AND status = ? LIMIT 1",
        )
        .bind(phone_number)
        .bind(ContactStatus::DoNotCall.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?;
        id.map(|i| {
            i.parse()
                .map_err(|_| StoreError::Internal(format!("stored contact id {i:?} is malformed")))
        })
        .transpose()
    }

    async fn list_contacts(
        &self,
        filter: &ContactFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Contact>> {
        let sort_column = match page.sort.field {
            "name" => "name",
            "phoneNumber" => "phone_number",
            _ => "created_at",
        };
        list_page(&self.reader, "contacts", page, sort_column, |q| {
            if let Some(s) = &filter.status {
                // Every stored name of the status (`active` also finds `pending`).
                q.push(" AND status IN (");
                let mut names = q.separated(", ");
                for name in s.stored_names() {
                    names.push_bind(name.to_string());
                }
                q.push(")");
            }
            if let Some(e) = &filter.email {
                q.push(" AND email = ").push_bind(e.clone());
            }
            if let Some(n) = &filter.name {
                q.push(" AND name = ").push_bind(n.clone());
            }
            if let Some(t) = &filter.tag {
                q.push(" AND id IN (SELECT contact_id FROM contact_tags WHERE tag = ")
                    .push_bind(t.clone())
                    .push(")");
            }
            if let Some(c) = filter.campaign_id {
                q.push(" AND id IN (SELECT contact_id FROM contact_campaigns WHERE campaign_id = ")
                    .push_bind(c.to_hex())
                    .push(")");
            }
            if let Some(search) = filter.q.as_deref().and_then(ContactSearch::parse) {
                // LIKE ignores ASCII case, as the MongoDB adapter's `$regex` with `i` does.
                let text = like_pattern(&search.text);
                q.push(" AND (name LIKE ")
                    .push_bind(text.clone())
                    .push(" ESCAPE '\\' OR email LIKE ")
                    .push_bind(text)
                    .push(" ESCAPE '\\'");
                if let Some(digits) = search.digits {
                    q.push(" OR phone_number LIKE ")
                        .push_bind(like_pattern(&digits))
                        .push(" ESCAPE '\\'");
                }
                q.push(")");
            }
        })
        .await
    }

    async fn update_contact(
        &self,
        id: ObjectId,
        patch: &ContactPatch,
    ) -> StoreResult<Option<Contact>> {
        self.modify_contact(id, |c| patch.apply(c)).await
    }

    async fn delete_contact(&self, id: ObjectId) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM contacts WHERE id = ?")
            .bind(id.to_hex())
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn add_contact_tags(
        &self,
        id: ObjectId,
        tags: &[String],
    ) -> StoreResult<Option<Contact>> {
        self.modify_contact(id, |c| {
            for t in tags {
                if !c.tags.contains(t) {
                    c.tags.push(t.clone());
                }
            }
        })
        .await
    }

    async fn remove_contact_tags(
        &self,
        id: ObjectId,
        tags: &[String],
    ) -> StoreResult<Option<Contact>> {
        self.modify_contact(id, |c| c.tags.retain(|t| !tags.contains(t)))
            .await
    }

    async fn add_contact_campaign(
        &self,
        id: ObjectId,
        campaign_id: ObjectId,
    ) -> StoreResult<Option<Contact>> {
        self.modify_contact(id, |c| {
            if !c.campaign_ids.contains(&campaign_id) {
                c.campaign_ids.push(campaign_id);
            }
        })
        .await
    }

    async fn remove_contact_campaign(
        &self,
        id: ObjectId,
        campaign_id: ObjectId,
    ) -> StoreResult<Option<Contact>> {
        self.modify_contact(id, |c| c.campaign_ids.retain(|x| *x != campaign_id))
            .await
    }

    async fn record_contact_call(
        &self,
        id: ObjectId,
        call_id: ObjectId,
        at: Timestamp,
    ) -> StoreResult<Option<Contact>> {
        // Once per placed call: one statement that changes the three fields in the
        // document, as MongoDB's `$inc`, `$push` and `$set` (the indexed columns and
        // the campaign and tag rows do not change), where a read and a write took two
        // round trips to the connection's thread and `modify_contact`'s transaction four.
        let doc: Option<String> = sqlx::query_scalar(
            "UPDATE contacts SET doc = json_set(doc, \
               '$.callCount', COALESCE(json_extract(doc, '$.callCount'), 0) + 1, \
               '$.callIds', json_insert(COALESCE(json_extract(doc, '$.callIds'), '[]'), '$[#]', ?2), \
               '$.lastContacted', ?3, '$.updatedAt', ?4) \
             WHERE id = ?1 RETURNING doc",
        )
        .bind(id.to_hex())
        .bind(call_id.to_hex())
        .bind(json_time(outcall_domain::time::to_millis(at))?)
        .bind(json_time(outcall_domain::time::to_millis(now()))?)
        .fetch_optional(&self.writer)
        .await
        .map_err(db_err)?;
        doc.as_deref().map(decode).transpose()
    }
}
