//! One contact per number: before the indexes are ensured, contact records that share
//! a number (written before the rule, or by another system) are merged into the
//! oldest ([`merge_duplicates`]: do-not-call wins), their campaign places and calls
//! moved to it, and a non-unique `phoneNumber_1` left by an earlier version is dropped
//! so the unique one can be built. A mongos keeps its shard key's index (see
//! [`crate::indexes`]). Idempotent; each step is one single-document or `updateMany`
//! write, in an order where a crash part-way leaves every record reachable.

use bson::{Document, doc};
use futures::stream::TryStreamExt;
use mongodb::{Database, IndexModel};
use outcall_domain::contact::{Contact, merge_duplicates};
use outcall_domain::time::MillisecondTimes;
use outcall_store::StoreResult;

use crate::db_err;
use crate::mapping::{self, CALLS, CAMPAIGN_CONTACTS, CAMPAIGNS, CONTACTS, oid};

/// Merges the duplicates, then drops the non-unique number index if there is one.
/// Returns how many records were merged away.
pub(crate) async fn unique_numbers(db: &Database) -> StoreResult<u64> {
    let contacts = db.collection::<Document>(CONTACTS.name);
    let groups: Vec<Document> = contacts
        .aggregate(vec![
            doc! {"$group": {"_id": "$phoneNumber", "n": {"$sum": 1}}},
            doc! {"$match": {"n": {"$gt": 1}}},
        ])
        .await
        .map_err(|e| db_err(e, &[]))?
        .try_collect()
        .await
        .map_err(|e| db_err(e, &[]))?;
    let mut merged = 0;
    for group in groups {
        let Ok(number) = group.get_str("_id") else {
            continue;
        };
        merged += merge_number(db, number).await?;
    }
    drop_non_unique_phone_index(db).await?;
    Ok(merged)
}

async fn merge_number(db: &Database, number: &str) -> StoreResult<u64> {
    let contacts = db.collection::<Document>(CONTACTS.name);
    let docs: Vec<Document> = contacts
        .find(doc! {"phoneNumber": number})
        .await
        .map_err(|e| db_err(e, &[]))?
        .try_collect()
        .await
        .map_err(|e| db_err(e, &[]))?;
    let records = docs
        .into_iter()
        .map(|d| mapping::from_document::<Contact>(d, &CONTACTS))
        .collect::<StoreResult<Vec<_>>>()?;
    let Some((mut keep, gone)) = merge_duplicates(records) else {
        return Ok(0);
    };
    keep.truncate_times();
    // The kept record first: from here on it holds everything the others had.
    contacts
        .replace_one(
            doc! {"_id": oid(keep.id)},
            mapping::to_document(&keep, &CONTACTS)?,
        )
        .await
        .map_err(|e| db_err(e, &[]))?;
    let places = db.collection::<Document>(CAMPAIGN_CONTACTS.name);
    for id in &gone {
        // A campaign holding both keeps the kept contact's place, one contact less.
        for campaign in &keep.campaign_ids {
            let both = places
                .find_one(doc! {"campaignId": oid(*campaign), "contactId": oid(keep.id)})
                .await
                .map_err(|e| db_err(e, &[]))?
                .is_some();
            if !both {
                continue;
            }
            let removed = places
                .delete_one(doc! {"campaignId": oid(*campaign), "contactId": oid(*id)})
                .await
                .map_err(|e| db_err(e, &[]))?;
            if removed.deleted_count > 0 {
                db.collection::<Document>(CAMPAIGNS.name)
                    .update_one(
                        doc! {"_id": oid(*campaign)},
                        doc! {"$inc": {"stats.totalContacts": -1_i64}},
                    )
                    .await
                    .map_err(|e| db_err(e, &[]))?;
            }
        }
        for coll in [CAMPAIGN_CONTACTS.name, CALLS.name] {
            db.collection::<Document>(coll)
                .update_many(
                    doc! {"contactId": oid(*id)},
                    doc! {"$set": {"contactId": oid(keep.id)}},
                )
                .await
                .map_err(|e| db_err(e, &[]))?;
        }
        contacts
            .delete_one(doc! {"_id": oid(*id)})
            .await
            .map_err(|e| db_err(e, &[]))?;
    }
    tracing::warn!(
        phone = number,
        kept = %keep.id,
        merged = gone.len(),
        "merged contact records sharing a number into the oldest"
    );
    Ok(gone.len() as u64)
}

/// Drops the `{phoneNumber: 1}` index when it exists without `unique`, except on a mongos (where
/// it may back the shard key; the index check accepts it there, with a warning).
async fn drop_non_unique_phone_index(db: &Database) -> StoreResult<()> {
    let contacts = db.collection::<Document>(CONTACTS.name);
    let existing: Vec<IndexModel> = match contacts.list_indexes().await {
        Ok(cursor) => cursor.try_collect().await.map_err(|e| db_err(e, &[]))?,
        // No collection yet: nothing to drop.
        Err(_) => return Ok(()),
    };
    // Found by its keys: servers and stand-ins do not all keep the default name.
    let stale = existing.iter().find(|i| {
        i.keys == doc! {"phoneNumber": 1} && i.options.as_ref().and_then(|o| o.unique) != Some(true)
    });
    let Some(name) = stale.and_then(|i| i.options.as_ref()?.name.clone()) else {
        return Ok(());
    };
    if !crate::sharding::is_mongos(db).await {
        contacts
            .drop_index(name)
            .await
            .map_err(|e| db_err(e, &[]))?;
    }
    Ok(())
}
