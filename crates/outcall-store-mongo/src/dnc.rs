//! `donotcall`: the number-level do-not-call list, unique on `phoneNumber`.

use async_trait::async_trait;
use bson::{Document, doc};
use outcall_domain::dnc::DncEntry;
use outcall_domain::time::{MillisecondTimes, now};
use outcall_domain::{Page, PageRequest};
use outcall_store::{DNC_SORT_FIELDS, DncStore, StoreResult};

use crate::mapping::{self, DNC};
use crate::{MongoStore, db_err};

#[async_trait]
impl DncStore for MongoStore {
    async fn add_dnc(&self, entries: Vec<DncEntry>) -> StoreResult<u64> {
        let coll = self.db.collection::<Document>(DNC.name);
        let mut added = 0;
        for mut e in entries {
            e.created_at = now();
            e.updated_at = e.created_at;
            e.truncate_times();
            let on_insert = mapping::to_document(&e, &DNC)?;
            let filter = doc! {"phoneNumber": &e.phone_number};
            // Two upserts of one new number can race; the loser's duplicate-key error
            // means the number is listed, which is all an add promises.
            match coll
                .update_one(filter, doc! {"$setOnInsert": on_insert})
                .upsert(true)
                .await
            {
                Ok(r) => added += u64::from(r.upserted_id.is_some()),
                Err(err) if crate::error_code(&err) == Some(11000) => {}
                Err(err) => return Err(db_err(err, &[])),
            }
        }
        Ok(added)
    }

    async fn get_dnc(&self, phone_number: &str) -> StoreResult<Option<DncEntry>> {
        self.db
            .collection::<Document>(DNC.name)
            .find_one(doc! {"phoneNumber": phone_number})
            .await
            .map_err(|e| db_err(e, &[]))?
            .map(|d| mapping::from_document(d, &DNC))
            .transpose()
    }

    async fn list_dnc(&self, q: Option<&str>, page: &PageRequest) -> StoreResult<Page<DncEntry>> {
        let mut filter = Document::new();
        let digits: String = q
            .unwrap_or_default()
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        if !digits.is_empty() {
            // Digits only: nothing in the pattern is a regex metacharacter.
            filter.insert("phoneNumber", doc! {"$regex": digits});
        }
        let sort = if DNC_SORT_FIELDS.contains(&page.sort.field) {
            page.sort.field
        } else {
            "createdAt"
        };
        self.list(&DNC, filter, page, sort).await
    }

    async fn remove_dnc(&self, phone_numbers: &[String]) -> StoreResult<u64> {
        let done = self
            .db
            .collection::<Document>(DNC.name)
            .delete_many(doc! {"phoneNumber": {"$in": phone_numbers}})
            .await
            .map_err(|e| db_err(e, &[]))?;
        Ok(done.deleted_count)
    }
}
