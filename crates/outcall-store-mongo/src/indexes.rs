//! The indexes of every collection: the seed's ("Indexing Strategies", keys and options
//! as Mongoose declares them, so the default names match an existing deployment's) plus
//! data-model.md's additions. Creating them is idempotent.

use std::time::Duration;

use bson::{Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Database, IndexModel};

/// One index: collection, keys, and options.
#[derive(Debug, Clone)]
pub struct IndexSpec {
    pub collection: &'static str,
    pub keys: Document,
    pub unique: bool,
    pub sparse: bool,
    /// A TTL index: documents expire this long after the indexed date.
    pub expire_after: Option<Duration>,
    /// Unique only while the collection is unsharded: it does not start with the shard
    /// key, so `outcall mongo shard` recreates it non-unique (MongoDB cannot enforce it
    /// across shards) and start-up accepts that on a mongos.
    pub unique_unless_sharded: bool,
    /// What is lost when it is not unique, said when that happens.
    pub unique_unless_sharded_because: Option<&'static str>,
}

impl IndexSpec {
    fn new(collection: &'static str, keys: Document) -> Self {
        Self {
            collection,
            keys,
            unique: false,
            sparse: false,
            expire_after: None,
            unique_unless_sharded: false,
            unique_unless_sharded_because: None,
        }
    }

    fn unique(mut self) -> Self {
        self.unique = true;
        self
    }

    fn sparse(mut self) -> Self {
        self.sparse = true;
        self
    }

    fn unique_unless_sharded(mut self, because: &'static str) -> Self {
        self.unique_unless_sharded = true;
        self.unique_unless_sharded_because = Some(because);
        self
    }

    /// MongoDB's default name, `field_1_other_-1`, as Mongoose and the shell give it.
    pub fn name(&self) -> String {
        self.keys
            .iter()
            .map(|(k, v)| format!("{k}_{v}"))
            .collect::<Vec<_>>()
            .join("_")
    }

    pub(crate) fn model(&self) -> IndexModel {
        let mut options = IndexOptions::builder().name(self.name()).build();
        if self.unique {
            options.unique = Some(true);
        }
        if self.sparse {
            options.sparse = Some(true);
        }
        options.expire_after = self.expire_after;
        IndexModel::builder()
            .keys(self.keys.clone())
            .options(options)
            .build()
    }
}

/// The consequence of a non-unique `calls.attemptId_1` (on a sharded `calls`).
pub const ATTEMPT_ID_NOT_UNIQUE: &str = "The database no longer refuses a second call with \
    the same attemptId; the campaign engine's lease on the unsharded campaigncontacts is \
    what keeps an attempt from being dialled twice.";

/// The consequence of a non-unique `contacts.phoneNumber_1` (kept as a shard key's index).
pub const PHONE_NOT_UNIQUE: &str = "The database no longer refuses a second contact with \
    the same phoneNumber; imports still update the contact they find by number, and \
    do-not-call is checked on every record of a number.";

/// Every index outcall needs. `event_retention` adds the TTL index on
/// `callevents.createdAt` (`EVENT_RETENTION_DAYS`).
pub fn all_indexes(event_retention: Option<Duration>) -> Vec<IndexSpec> {
    use IndexSpec as I;
    let mut all = vec![
        // calls (seed)
        I::new("calls", doc! {"callSid": 1}).unique(),
        I::new("calls", doc! {"status": 1}),
        I::new("calls", doc! {"createdAt": -1}),
        I::new("calls", doc! {"startTime": -1}),
        I::new("calls", doc! {"campaignId": 1, "status": 1}),
        I::new("calls", doc! {"contactId": 1, "createdAt": -1}),
        // calls (data-model.md)
        I::new("calls", doc! {"attemptId": 1})
            .unique()
            .sparse()
            .unique_unless_sharded(ATTEMPT_ID_NOT_UNIQUE),
        I::new("calls", doc! {"status": 1, "createdAt": -1}),
        // calls (analytics: a date range of one campaign or one agent)
        I::new("calls", doc! {"campaignId": 1, "createdAt": -1}),
        I::new("calls", doc! {"agentId": 1, "createdAt": -1}),
        // recordings
        I::new("recordings", doc! {"recordingSid": 1}).unique(),
        I::new("recordings", doc! {"callSid": 1}),
        // transcripts
        I::new("transcripts", doc! {"callSid": 1}).unique(),
        I::new("transcripts", doc! {"conversationId": 1}),
        // callevents
        I::new("callevents", doc! {"callSid": 1, "timestamp": 1}),
        I::new("callevents", doc! {"eventType": 1}),
        // callevents (the dashboard's activity feed, newest first)
        I::new("callevents", doc! {"timestamp": -1}),
        // campaigns
        I::new("campaigns", doc! {"name": 1}),
        I::new("campaigns", doc! {"status": 1}),
        I::new("campaigns", doc! {"createdAt": -1}),
        I::new("campaigns", doc! {"status": 1, "nextExecution": 1}),
        // contacts
        // One contact per number (numbers unique per store).
        I::new("contacts", doc! {"phoneNumber": 1})
            .unique()
            .unique_unless_sharded(PHONE_NOT_UNIQUE),
        I::new("contacts", doc! {"name": 1}),
        I::new("contacts", doc! {"email": 1}),
        I::new("contacts", doc! {"tags": 1}),
        I::new("contacts", doc! {"campaignIds": 1, "status": 1}),
        I::new("contacts", doc! {"phoneNumber": 1, "campaignIds": 1}).unique(),
        // callstats (data-model.md: daily rollups kept when calls are archived)
        I::new("callstats", doc! {"day": 1}).unique(),
        // campaigncontacts (data-model.md)
        I::new("campaigncontacts", doc! {"campaignId": 1, "contactId": 1}).unique(),
        I::new(
            "campaigncontacts",
            doc! {"campaignId": 1, "status": 1, "nextAttemptAt": 1, "priority": -1},
        ),
        I::new("campaigncontacts", doc! {"lease.expiresAt": 1}),
        // donotcall (the number-level do-not-call list)
        I::new("donotcall", doc! {"phoneNumber": 1}).unique(),
        I::new("donotcall", doc! {"createdAt": -1}),
        // relay (the event relay's short-lived log, read by time)
        I::new("relay", doc! {"at": 1}),
    ];
    if let Some(ttl) = event_retention {
        let mut spec = I::new("callevents", doc! {"createdAt": 1});
        spec.expire_after = Some(ttl);
        all.push(spec);
    }
    all
}

/// An index could not be created, typically because one of the same name or keys
/// but another shape already exists.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot create index {name} {keys} on {collection}: {reason} \
     (an existing index of another shape must be dropped or changed by hand)"
)]
pub struct IndexError {
    pub collection: &'static str,
    pub name: String,
    pub keys: String,
    pub reason: String,
}

/// Creates each index, one by one so a failure names the index. Existing identical
/// indexes are left alone (MongoDB's `createIndexes` is idempotent). A TTL index whose
/// expiry changed is updated in place with `collMod`.
pub(crate) async fn ensure(db: &Database, specs: &[IndexSpec]) -> Result<(), IndexError> {
    for spec in specs {
        let coll = db.collection::<Document>(spec.collection);
        let created = coll.create_index(spec.model()).await;
        let Err(e) = created else { continue };
        let code = crate::error_code(&e);
        // 85 IndexOptionsConflict: only the TTL's expireAfterSeconds may be changed in place.
        if code == Some(85)
            && let Some(ttl) = spec.expire_after
        {
            let changed = db
                .run_command(doc! {
                    "collMod": spec.collection,
                    "index": {"keyPattern": spec.keys.clone(), "expireAfterSeconds": ttl.as_secs() as i64},
                })
                .await;
            if changed.is_ok() {
                continue;
            }
        }
        // On a collection sharded by another key MongoDB refuses this unique index
        // (67 CannotCreateIndex) or finds the non-unique one `outcall mongo shard` left
        // (85/86): accept the non-unique index there, and say what it means.
        if matches!(code, Some(67 | 85 | 86))
            && spec.unique_unless_sharded
            && crate::sharding::is_mongos(db).await
            && accept_non_unique(db, spec).await
        {
            tracing::warn!(
                "{}.{} is not unique: {} is sharded by another key, and MongoDB enforces a \
                 unique index on a sharded collection only when it starts with the shard key. {}",
                spec.collection,
                spec.name(),
                spec.collection,
                spec.unique_unless_sharded_because.unwrap_or_default()
            );
            continue;
        }
        return Err(IndexError {
            collection: spec.collection,
            name: spec.name(),
            keys: spec.keys.to_string(),
            reason: match code {
                Some(85 | 86) => {
                    format!("an existing index with this name or these keys has another shape: {e}")
                }
                Some(11000) => format!("existing documents break its uniqueness: {e}"),
                _ => e.to_string(),
            },
        });
    }
    Ok(())
}

/// Whether `spec`'s index exists non-unique with the same keys and sparseness, after
/// creating it so if it is missing.
async fn accept_non_unique(db: &Database, spec: &IndexSpec) -> bool {
    use futures::stream::TryStreamExt;
    let coll = db.collection::<Document>(spec.collection);
    let existing: Vec<IndexModel> = match coll.list_indexes().await {
        Ok(cursor) => cursor.try_collect().await.unwrap_or_default(),
        Err(_) => return false,
    };
    let name = spec.name();
    let same = existing
        .iter()
        .find(|i| i.options.as_ref().and_then(|o| o.name.as_deref()) == Some(name.as_str()));
    match same {
        Some(index) => {
            let options = index.options.as_ref();
            index.keys == spec.keys
                && options.and_then(|o| o.unique) != Some(true)
                && options.and_then(|o| o.sparse).unwrap_or(false) == spec.sparse
        }
        None => db
            .run_command(crate::sharding::relaxed_index_command(spec))
            .await
            .is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_mongodb_defaults() {
        let names: Vec<String> = all_indexes(None).iter().map(|i| i.name()).collect();
        for n in [
            "callSid_1",
            "status_1_createdAt_-1",
            "contactId_1_createdAt_-1",
            "phoneNumber_1_campaignIds_1",
            "campaignId_1_status_1_nextAttemptAt_1_priority_-1",
            "lease.expiresAt_1",
        ] {
            assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
        }
    }

    #[test]
    fn unique_and_sparse_where_the_specs_say() {
        let all = all_indexes(None);
        let find = |c: &str, n: &str| {
            all.iter()
                .find(|i| i.collection == c && i.name() == n)
                .unwrap_or_else(|| panic!("{c}.{n}"))
        };
        let unique = [
            ("calls", "callSid_1"),
            ("calls", "attemptId_1"),
            ("recordings", "recordingSid_1"),
            ("transcripts", "callSid_1"),
            ("contacts", "phoneNumber_1_campaignIds_1"),
            ("contacts", "phoneNumber_1"),
            ("donotcall", "phoneNumber_1"),
            ("campaigncontacts", "campaignId_1_contactId_1"),
            ("callstats", "day_1"),
        ];
        for i in &all {
            assert_eq!(
                i.unique,
                unique.contains(&(i.collection, i.name().as_str())),
                "{}.{}",
                i.collection,
                i.name()
            );
        }
        assert!(find("calls", "attemptId_1").sparse);
        assert_eq!(all.iter().filter(|i| i.sparse).count(), 1);
        let model = find("calls", "attemptId_1").model();
        let options = model.options.expect("options");
        assert_eq!(
            (options.unique, options.sparse, options.name.as_deref()),
            (Some(true), Some(true), Some("attemptId_1"))
        );
    }

    #[test]
    fn event_retention_adds_a_ttl_index() {
        assert!(!all_indexes(None).iter().any(|i| i.expire_after.is_some()));
        let with = all_indexes(Some(Duration::from_secs(86_400 * 30)));
        let ttl: Vec<_> = with.iter().filter(|i| i.expire_after.is_some()).collect();
        assert_eq!(ttl.len(), 1);
        assert_eq!(
            (ttl[0].collection, ttl[0].name().as_str()),
            ("callevents", "createdAt_1")
        );
    }
}
