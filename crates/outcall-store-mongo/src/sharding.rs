//! `outcall mongo shard`: shards `calls`, `campaigns` and `contacts` on a sharded cluster,
//! through a mongos. The README section "Scaling out on MongoDB" gives the reasoning.
//!
//! - `calls` by `{callSid: "hashed"}`: every write and single read names the `callSid`
//!   (the compare-and-set filters pin it too), and hashing spreads inserts evenly.
//!   The unique `callSid_1` stays enforced across the cluster: MongoDB accepts a unique
//!   index whose fields start with the shard key's fields, hashed or not. The unique
//!   sparse `attemptId_1` does not start with `callSid`, so MongoDB refuses to shard the
//!   collection while it is unique: it is recreated non-unique first, and said so.
//! - `campaigns` by `{_id: "hashed"}`: every campaign write names `_id`; ObjectIds grow
//!   with time, so a ranged key would put every new (and usually every active) campaign
//!   on the last chunk's shard, while a hashed one spreads them.
//! - `contacts` by `{phoneNumber: 1}`, as the seed says: the unique
//!   `{phoneNumber: 1, campaignIds: 1}` starts with it, so it stays enforced. outcall
//!   writes contacts by `_id` with `findAndModify`, which MongoDB routes without the
//!   shard key only from 7.1, so older servers keep `contacts` unsharded.
//!
//! The rest (`recordings`, `transcripts`, `callevents`, `campaigncontacts`, `callstats`)
//! stays unsharded, on the database's primary shard.
//!
//! Every command document is built by a pure function here, so tests pin what is sent.

use std::fmt;

use bson::{Bson, Document, doc};
use mongodb::{Client, Database};

use crate::indexes::{self, IndexSpec};
use crate::{ConnectError, MongoOptions, error_code};

/// A collection outcall shards, its key, and the index that must exist first.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardTarget {
    pub collection: &'static str,
    pub key: Document,
    /// The index supporting the key: `shardCollection` needs one on a non-empty collection.
    pub index_name: &'static str,
    /// The oldest server (major, minor) that can route outcall's writes on this key.
    pub min_version: (u32, u32),
}

/// The three collections outcall shards, in the order they are sharded.
pub fn targets() -> Vec<ShardTarget> {
    vec![
        ShardTarget {
            collection: "calls",
            key: doc! {"callSid": "hashed"},
            index_name: "callSid_hashed",
            min_version: (0, 0),
        },
        ShardTarget {
            collection: "campaigns",
            key: doc! {"_id": "hashed"},
            index_name: "_id_hashed",
            min_version: (0, 0),
        },
        ShardTarget {
            collection: "contacts",
            key: doc! {"phoneNumber": 1},
            index_name: "phoneNumber_1",
            // findAndModify by `_id` without the shard key ("write without shard key").
            min_version: (7, 1),
        },
    ]
}

pub fn hello_command() -> Document {
    doc! {"hello": 1}
}

pub fn build_info_command() -> Document {
    doc! {"buildInfo": 1}
}

/// Run on `admin`. Implicit from MongoDB 6.0, still accepted.
pub fn enable_sharding_command(db: &str) -> Document {
    doc! {"enableSharding": db}
}

/// Whether outcall's own index on the shard key is unique (`contacts.phoneNumber_1`:
/// one contact per number); the shard key's index and the sharding keep that.
fn unique_key(target: &ShardTarget) -> bool {
    indexes::all_indexes(None)
        .iter()
        .any(|i| i.collection == target.collection && i.keys == target.key && i.unique)
}

/// Run on `admin`.
pub fn shard_collection_command(db: &str, target: &ShardTarget) -> Document {
    let mut command = doc! {
        "shardCollection": format!("{db}.{}", target.collection),
        "key": target.key.clone(),
    };
    if unique_key(target) {
        command.insert("unique", true);
    }
    command
}

/// The index a shard key needs, created before `shardCollection`.
pub fn shard_key_index_command(target: &ShardTarget) -> Document {
    let mut index = doc! {"key": target.key.clone(), "name": target.index_name};
    if unique_key(target) {
        index.insert("unique", true);
    }
    doc! {
        "createIndexes": target.collection,
        "indexes": [index],
    }
}

/// The filter of `config.collections` that finds a collection's sharding entry.
pub fn sharded_lookup_filter(db: &str, collection: &str) -> Document {
    doc! {"_id": format!("{db}.{collection}")}
}

pub fn drop_index_command(collection: &str, name: &str) -> Document {
    doc! {"dropIndexes": collection, "index": name}
}

/// `spec` recreated without `unique` (keeping `sparse`): what a sharded collection can
/// hold of a unique index that does not start with the shard key.
pub fn relaxed_index_command(spec: &IndexSpec) -> Document {
    index_command(spec, false)
}

/// `spec` as outcall creates it, uniqueness included.
pub fn index_command(spec: &IndexSpec, unique: bool) -> Document {
    let mut index = doc! {"key": spec.keys.clone(), "name": spec.name()};
    if unique {
        index.insert("unique", true);
    }
    if spec.sparse {
        index.insert("sparse", true);
    }
    doc! {"createIndexes": spec.collection, "indexes": [index]}
}

/// Whether MongoDB can enforce a unique index with keys `index` on a collection sharded
/// by `shard_key`: the index's field names must start with the shard key's (the key's
/// values, `1` or `"hashed"`, do not matter), or with `_id`.
pub fn unique_index_compatible(shard_key: &Document, index: &Document) -> bool {
    if index.keys().next().is_some_and(|k| k == "_id") {
        return true;
    }
    let mut fields = index.keys();
    shard_key.keys().all(|k| fields.next() == Some(k))
}

/// Whether two shard key patterns are the same: the same fields in the same order, each
/// `"hashed"` in both or ranged in both (the server may store `1` as a double).
pub fn same_key(a: &Document, b: &Document) -> bool {
    let kind = |v: &Bson| match v {
        Bson::String(s) => Some(s.clone()),
        other => other
            .as_f64()
            .or_else(|| other.as_i32().map(f64::from))
            .or_else(|| other.as_i64().map(|n| n as f64))
            .map(|n| n.to_string()),
    };
    a.len() == b.len()
        && a.iter()
            .zip(b.iter())
            .all(|((ka, va), (kb, vb))| ka == kb && kind(va).is_some() && kind(va) == kind(vb))
}

/// What `hello` says the server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerKind {
    Mongos,
    ReplicaSetMember(String),
    Standalone,
}

impl ServerKind {
    pub fn from_hello(hello: &Document) -> Self {
        if hello.get_str("msg").is_ok_and(|m| m == "isdbgrid") {
            Self::Mongos
        } else if let Ok(set) = hello.get_str("setName") {
            Self::ReplicaSetMember(set.to_string())
        } else {
            Self::Standalone
        }
    }
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Mongos => f.write_str("a mongos router"),
            Self::ReplicaSetMember(set) => write!(f, "a member of replica set {set:?}"),
            Self::Standalone => f.write_str("a standalone server"),
        }
    }
}

/// `"8.0.4"` → `(8, 0)`; `None` if it does not start with two numbers.
pub fn parse_version(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The shard key of a `config.collections` entry, unless the entry is of a dropped
/// collection (MongoDB before 5.0 kept those with `dropped: true`).
pub fn current_key(entry: &Document) -> Option<Document> {
    if entry.get_bool("dropped").unwrap_or(false) {
        return None;
    }
    entry.get_document("key").ok().cloned()
}

#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(
        "sharding needs a mongos router of a sharded cluster, and this server is {0}: \
         point MONGODB_URI at a mongos"
    )]
    NotMongos(ServerKind),
    #[error("{step}: {message}")]
    Command { step: String, message: String },
}

fn command_error(step: impl Into<String>, e: &mongodb::error::Error) -> ShardError {
    ShardError::Command {
        step: step.into(),
        message: e.to_string(),
    }
}

/// What happened to one collection.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Sharded,
    AlreadySharded,
    /// Sharded before, by another key: left alone (changing it is `reshardCollection`).
    ShardedByOtherKey(Document),
    /// Left unsharded, and why.
    Skipped(String),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CollectionReport {
    pub collection: &'static str,
    pub key: Document,
    pub outcome: Outcome,
    /// Things done on the way, or consequences to know (an index made non-unique).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ShardReport {
    pub database: String,
    pub version: String,
    pub enable_sharding: String,
    pub collections: Vec<CollectionReport>,
}

impl ShardReport {
    pub fn failed(&self) -> bool {
        self.collections
            .iter()
            .any(|c| matches!(c.outcome, Outcome::Failed(_)))
    }
}

impl fmt::Display for ShardReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "database {} on mongos {}: enableSharding {}",
            self.database, self.version, self.enable_sharding
        )?;
        for c in &self.collections {
            let what = match &c.outcome {
                Outcome::Sharded => format!("sharded by {}", c.key),
                Outcome::AlreadySharded => format!("already sharded by {}", c.key),
                Outcome::ShardedByOtherKey(other) => format!(
                    "already sharded by {other}, not {}: left as it is (reshardCollection changes it)",
                    c.key
                ),
                Outcome::Skipped(why) => format!("not sharded: {why}"),
                Outcome::Failed(why) => format!("FAILED: {why}"),
            };
            writeln!(f, "  {}: {what}", c.collection)?;
            for note in &c.notes {
                writeln!(f, "    {note}")?;
            }
        }
        Ok(())
    }
}

/// Connects to `uri` (which must be a mongos), creates outcall's indexes, enables
/// sharding on `db_name` and shards each of [`targets`]. Idempotent: a collection sharded
/// already is reported as such. A collection that cannot be sharded is reported in the
/// result (`Outcome::Failed`); a server that is not a mongos is an error before anything
/// is written.
pub async fn shard(
    uri: &str,
    db_name: &str,
    options: MongoOptions,
) -> Result<ShardReport, ShardError> {
    let client_options = crate::client_options(uri, &options).await?;
    let client =
        Client::with_options(client_options).map_err(|e| ConnectError::BadUri(e.to_string()))?;
    let admin = client.database("admin");
    let hello = admin
        .run_command(hello_command())
        .await
        .map_err(|e| crate::classify(&e))?;
    let kind = ServerKind::from_hello(&hello);
    if kind != ServerKind::Mongos {
        return Err(ShardError::NotMongos(kind));
    }
    let info = admin
        .run_command(build_info_command())
        .await
        .map_err(|e| command_error("buildInfo", &e))?;
    let version = info.get_str("version").unwrap_or("unknown").to_string();
    let parsed = parse_version(&version).unwrap_or((0, 0));

    let db = client.database(db_name);
    let specs = indexes::all_indexes(options.event_retention);
    // The seed's indexes first: contacts' shard key index is one of them.
    indexes::ensure(&db, &specs)
        .await
        .map_err(|e| ShardError::Command {
            step: "creating outcall's indexes".into(),
            message: e.to_string(),
        })?;

    let enable_sharding = match admin.run_command(enable_sharding_command(db_name)).await {
        Ok(_) => "done".to_string(),
        // 23 AlreadyInitialized: enabled before (MongoDB before 6.0 says so).
        Err(e) if error_code(&e) == Some(23) => "already done".to_string(),
        Err(e) if parsed >= (6, 0) => format!("not needed from MongoDB 6.0 (server said: {e})"),
        Err(e) => return Err(command_error("enableSharding", &e)),
    };

    let mut collections = Vec::new();
    for target in targets() {
        let report = shard_one(&client, &db, &target, &specs, parsed, &version).await;
        collections.push(report);
    }
    Ok(ShardReport {
        database: db_name.to_string(),
        version,
        enable_sharding,
        collections,
    })
}

async fn shard_one(
    client: &Client,
    db: &Database,
    target: &ShardTarget,
    specs: &[IndexSpec],
    version: (u32, u32),
    version_text: &str,
) -> CollectionReport {
    let mut report = CollectionReport {
        collection: target.collection,
        key: target.key.clone(),
        outcome: Outcome::Sharded,
        notes: Vec::new(),
    };
    // Reading config.collections needs a cluster role; without one, shardCollection
    // itself answers (it accepts a collection sharded already by the same key).
    let entry = client
        .database("config")
        .collection::<Document>("collections")
        .find_one(sharded_lookup_filter(db.name(), target.collection))
        .await;
    match entry {
        Ok(Some(entry)) => match current_key(&entry) {
            Some(key) if same_key(&key, &target.key) => {
                report.outcome = Outcome::AlreadySharded;
                return report;
            }
            Some(other) => {
                report.outcome = Outcome::ShardedByOtherKey(other);
                return report;
            }
            None => {}
        },
        Ok(None) => {}
        Err(e) => report.notes.push(format!(
            "could not read config.collections ({e}); asking shardCollection directly"
        )),
    }
    if version < target.min_version {
        let (major, minor) = target.min_version;
        report.outcome = Outcome::Skipped(format!(
            "outcall updates {} by _id with findAndModify, which MongoDB routes without the \
             shard key only from {major}.{minor} (this cluster runs {version_text})",
            target.collection
        ));
        return report;
    }

    let admin = client.database("admin");
    if let Err(e) = db.run_command(shard_key_index_command(target)).await {
        report.outcome = Outcome::Failed(format!("creating index {}: {e}", target.index_name));
        return report;
    }

    // Unique indexes that do not start with the shard key make shardCollection fail.
    let relaxed = match relax_unique_indexes(db, target, specs, &mut report).await {
        Ok(relaxed) => relaxed,
        Err(why) => {
            report.outcome = why;
            return report;
        }
    };

    match admin
        .run_command(shard_collection_command(db.name(), target))
        .await
    {
        Ok(_) => report,
        Err(e) => {
            report.outcome = Outcome::Failed(format!("shardCollection: {e}"));
            // Not sharded after all: give the relaxed indexes their uniqueness back.
            for spec in relaxed {
                let restored = restore_unique(db, &spec).await;
                report.notes.push(match restored {
                    Ok(()) => format!("{} is unique again", spec.name()),
                    Err(e) => format!(
                        "{} could not be made unique again ({e}): recreate it with {}",
                        spec.name(),
                        index_command(&spec, true)
                    ),
                });
            }
            report
        }
    }
}

/// Recreates without `unique` each unique index of the collection that does not start
/// with the shard key, if outcall knows it may (see [`IndexSpec::unique_unless_sharded`]);
/// any other such index stops the collection from being sharded. Returns the specs relaxed.
async fn relax_unique_indexes(
    db: &Database,
    target: &ShardTarget,
    specs: &[IndexSpec],
    report: &mut CollectionReport,
) -> Result<Vec<IndexSpec>, Outcome> {
    use futures::stream::TryStreamExt;
    let coll = db.collection::<Document>(target.collection);
    let existing: Vec<mongodb::IndexModel> = match coll.list_indexes().await {
        Ok(cursor) => cursor.try_collect().await,
        Err(e) => Err(e),
    }
    .map_err(|e| Outcome::Failed(format!("listing indexes: {e}")))?;
    let mut relaxed = Vec::new();
    for index in existing {
        let unique = index.options.as_ref().and_then(|o| o.unique) == Some(true);
        if !unique || unique_index_compatible(&target.key, &index.keys) {
            continue;
        }
        let name = index
            .options
            .as_ref()
            .and_then(|o| o.name.clone())
            .unwrap_or_default();
        let Some(spec) = specs.iter().find(|s| {
            s.collection == target.collection
                && s.name() == name
                && s.keys == index.keys
                && s.unique_unless_sharded
        }) else {
            return Err(Outcome::Skipped(format!(
                "its unique index {name} {} does not start with the shard key, so MongoDB \
                 cannot keep it unique across shards; outcall does not drop it for you",
                index.keys
            )));
        };
        db.run_command(drop_index_command(target.collection, &name))
            .await
            .map_err(|e| Outcome::Failed(format!("dropping {name} to recreate it: {e}")))?;
        if let Err(e) = db.run_command(relaxed_index_command(spec)).await {
            let _ = restore_unique(db, spec).await;
            return Err(Outcome::Failed(format!(
                "recreating {name} non-unique: {e}"
            )));
        }
        report.notes.push(format!(
            "{name} {} is no longer unique: MongoDB enforces a unique index on a sharded \
             collection only when it starts with the shard key. {}",
            spec.keys,
            spec.unique_unless_sharded_because.unwrap_or_default()
        ));
        relaxed.push(spec.clone());
    }
    Ok(relaxed)
}

async fn restore_unique(db: &Database, spec: &IndexSpec) -> Result<(), mongodb::error::Error> {
    db.run_command(drop_index_command(spec.collection, &spec.name()))
        .await?;
    db.run_command(index_command(spec, true)).await?;
    Ok(())
}

/// Whether `hello` came from a mongos.
pub(crate) async fn is_mongos(db: &Database) -> bool {
    db.client()
        .database("admin")
        .run_command(hello_command())
        .await
        .is_ok_and(|h| ServerKind::from_hello(&h) == ServerKind::Mongos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str) -> ShardTarget {
        targets()
            .into_iter()
            .find(|t| t.collection == name)
            .unwrap_or_else(|| panic!("no target {name}"))
    }

    #[test]
    fn shards_the_three_collections_by_their_keys() {
        let db = "outcall";
        assert_eq!(
            enable_sharding_command(db),
            doc! {"enableSharding": "outcall"}
        );
        assert_eq!(
            shard_collection_command(db, &target("calls")),
            doc! {"shardCollection": "outcall.calls", "key": {"callSid": "hashed"}}
        );
        assert_eq!(
            shard_collection_command(db, &target("campaigns")),
            doc! {"shardCollection": "outcall.campaigns", "key": {"_id": "hashed"}}
        );
        assert_eq!(
            shard_collection_command(db, &target("contacts")),
            doc! {"shardCollection": "outcall.contacts", "key": {"phoneNumber": 1}, "unique": true}
        );
        let names: Vec<_> = targets().iter().map(|t| t.collection).collect();
        assert_eq!(names, ["calls", "campaigns", "contacts"]);
    }

    #[test]
    fn creates_each_shard_key_index_first() {
        assert_eq!(
            shard_key_index_command(&target("calls")),
            doc! {"createIndexes": "calls", "indexes": [{"key": {"callSid": "hashed"}, "name": "callSid_hashed"}]}
        );
        assert_eq!(
            shard_key_index_command(&target("campaigns")),
            doc! {"createIndexes": "campaigns", "indexes": [{"key": {"_id": "hashed"}, "name": "_id_hashed"}]}
        );
        // The same index as contacts.phoneNumber_1 (unique: one contact per number):
        // creating it again is a no-op.
        let contacts = target("contacts");
        assert_eq!(
            shard_key_index_command(&contacts),
            doc! {"createIndexes": "contacts", "indexes": [{"key": {"phoneNumber": 1}, "name": "phoneNumber_1", "unique": true}]}
        );
        assert!(
            indexes::all_indexes(None)
                .iter()
                .any(|i| i.collection == "contacts" && i.keys == contacts.key && i.unique)
        );
    }

    #[test]
    fn unique_indexes_must_start_with_the_shard_key() {
        let calls = target("calls").key;
        assert!(unique_index_compatible(&calls, &doc! {"callSid": 1}));
        assert!(!unique_index_compatible(&calls, &doc! {"attemptId": 1}));
        assert!(unique_index_compatible(&calls, &doc! {"_id": 1}));
        let contacts = target("contacts").key;
        assert!(unique_index_compatible(
            &contacts,
            &doc! {"phoneNumber": 1, "campaignIds": 1}
        ));
        assert!(!unique_index_compatible(
            &contacts,
            &doc! {"campaignIds": 1, "phoneNumber": 1}
        ));
        // Every unique index outcall creates on a sharded collection, checked: only
        // calls.attemptId_1 is incompatible, and it is the one marked to be relaxed.
        let keys: Vec<_> = targets()
            .into_iter()
            .map(|t| (t.collection, t.key))
            .collect();
        let mut incompatible = Vec::new();
        for spec in indexes::all_indexes(None).iter().filter(|s| s.unique) {
            if let Some((_, key)) = keys.iter().find(|(c, _)| *c == spec.collection)
                && !unique_index_compatible(key, &spec.keys)
            {
                assert!(spec.unique_unless_sharded, "{}", spec.name());
                incompatible.push(format!("{}.{}", spec.collection, spec.name()));
            }
        }
        assert_eq!(incompatible, ["calls.attemptId_1"]);
    }

    #[test]
    fn attempt_id_is_recreated_sparse_without_unique() {
        let spec = indexes::all_indexes(None)
            .into_iter()
            .find(|s| s.collection == "calls" && s.name() == "attemptId_1")
            .expect("attemptId_1");
        assert_eq!(
            drop_index_command("calls", "attemptId_1"),
            doc! {"dropIndexes": "calls", "index": "attemptId_1"}
        );
        assert_eq!(
            relaxed_index_command(&spec),
            doc! {"createIndexes": "calls", "indexes": [{"key": {"attemptId": 1}, "name": "attemptId_1", "sparse": true}]}
        );
        assert_eq!(
            index_command(&spec, true),
            doc! {"createIndexes": "calls", "indexes": [{"key": {"attemptId": 1}, "name": "attemptId_1", "unique": true, "sparse": true}]}
        );
    }

    #[test]
    fn tells_a_mongos_from_other_servers() {
        assert_eq!(hello_command(), doc! {"hello": 1});
        assert_eq!(
            ServerKind::from_hello(&doc! {"isWritablePrimary": true, "msg": "isdbgrid"}),
            ServerKind::Mongos
        );
        assert_eq!(
            ServerKind::from_hello(&doc! {"isWritablePrimary": true, "setName": "rs0"}),
            ServerKind::ReplicaSetMember("rs0".into())
        );
        assert_eq!(
            ServerKind::from_hello(&doc! {"ismaster": true}),
            ServerKind::Standalone
        );
        let e = ShardError::NotMongos(ServerKind::Standalone);
        assert_eq!(
            e.to_string(),
            "sharding needs a mongos router of a sharded cluster, and this server is a \
             standalone server: point MONGODB_URI at a mongos"
        );
    }

    #[test]
    fn reads_versions_and_sharding_entries() {
        assert_eq!(parse_version("8.0.4"), Some((8, 0)));
        assert_eq!(parse_version("7.1.0-rc2"), Some((7, 1)));
        assert_eq!(parse_version("x"), None);
        assert!(parse_version("7.0.12").unwrap_or_default() < target("contacts").min_version);
        assert!(parse_version("8.0.0").unwrap_or_default() >= target("contacts").min_version);
        assert_eq!(
            sharded_lookup_filter("outcall", "calls"),
            doc! {"_id": "outcall.calls"}
        );
        assert!(same_key(
            &doc! {"phoneNumber": 1.0},
            &doc! {"phoneNumber": 1}
        ));
        assert!(same_key(
            &doc! {"callSid": "hashed"},
            &doc! {"callSid": "hashed"}
        ));
        assert!(!same_key(&doc! {"callSid": 1}, &doc! {"callSid": "hashed"}));
        assert!(!same_key(&doc! {"_id": 1}, &doc! {"_id": 1, "x": 1}));
        assert!(!same_key(
            &doc! {"phoneNumber": -1},
            &doc! {"phoneNumber": 1}
        ));
        assert_eq!(
            current_key(&doc! {"_id": "outcall.calls", "key": {"callSid": "hashed"}}),
            Some(doc! {"callSid": "hashed"})
        );
        assert_eq!(
            current_key(
                &doc! {"_id": "outcall.calls", "key": {"callSid": "hashed"}, "dropped": true}
            ),
            None
        );
    }

    #[test]
    fn the_report_says_what_happened_to_each_collection() {
        let report = ShardReport {
            database: "outcall".into(),
            version: "8.0.4".into(),
            enable_sharding: "done".into(),
            collections: vec![
                CollectionReport {
                    collection: "calls",
                    key: doc! {"callSid": "hashed"},
                    outcome: Outcome::Sharded,
                    notes: vec!["attemptId_1 is no longer unique".into()],
                },
                CollectionReport {
                    collection: "campaigns",
                    key: doc! {"_id": "hashed"},
                    outcome: Outcome::AlreadySharded,
                    notes: vec![],
                },
            ],
        };
        assert!(!report.failed());
        let text = report.to_string();
        assert!(text.starts_with("database outcall on mongos 8.0.4: enableSharding done\n"));
        assert!(text.contains("  calls: sharded by { \"callSid\": \"hashed\" }\n    attemptId_1"));
        assert!(text.contains("  campaigns: already sharded by { \"_id\": \"hashed\" }"));
    }
}
