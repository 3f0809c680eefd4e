//! MongoDB adapter of the outcall Store port, with the official `mongodb` driver.
//!
//! It reads and writes the collections a Node.js/Mongoose deployment of the original
//! system has (`calls`, `recordings`, `transcripts`, `callevents`, `campaigns`,
//! `contacts`) plus `campaigncontacts`, with the seed's field names, `_id` and references
//! as `ObjectId` and times as `Date` (see `mapping`).
//!
//! Every write is one single-document atomic operation; there are no multi-document
//! transactions, so a standalone server works. Rules that need the document first
//! (status precedence) run as an optimistic compare-and-set (see `updates`); counters
//! use `$inc`, set-like arrays `$addToSet`/`$pull`, campaign contacts a `$setOnInsert`
//! upsert.
//!
//! # Layout
//! - [`MongoStore`]: connecting, indexes, health.
//! - `mapping`: domain struct ⇄ BSON document.
//! - `updates`: the filter and update documents of conditional writes (pure, tested).
//! - [`indexes`]: the index list and its idempotent creation.
//! - `store`: the port's traits.

use std::time::Duration;

use async_trait::async_trait;
use bson::doc;
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::ClientOptions;
use mongodb::{Client, Database};
use outcall_store::{Store, StoreError, StoreResult};

pub mod indexes;
mod mapping;
mod store;
mod updates;

pub use indexes::{IndexError, IndexSpec};

/// The MongoDB store. Cheap to clone (the driver's client is a shared pool).
#[derive(Debug, Clone)]
pub struct MongoStore {
    client: Client,
    db: Database,
    event_retention: Option<Duration>,
}

/// How to connect, beyond the URI.
#[derive(Debug, Clone)]
pub struct MongoOptions {
    /// How long an operation waits for a usable server before failing (unless the URI
    /// sets `serverSelectionTimeoutMS`).
    pub server_selection_timeout: Duration,
    /// `EVENT_RETENTION_DAYS`: adds a TTL index expiring call events this long after `createdAt`.
    pub event_retention: Option<Duration>,
}

impl Default for MongoOptions {
    fn default() -> Self {
        Self {
            server_selection_timeout: Duration::from_secs(5),
            event_retention: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("bad MONGODB_URI: {0}")]
    BadUri(String),
    #[error("cannot reach MongoDB: {0}")]
    Unreachable(String),
    #[error(transparent)]
    Index(#[from] IndexError),
}

impl MongoStore {
    /// Connects to `uri` (`mongodb://…`), uses database `db_name`, checks the server
    /// answers and creates the indexes.
    pub async fn connect(uri: &str, db_name: &str) -> Result<Self, ConnectError> {
        Self::connect_with(uri, db_name, MongoOptions::default()).await
    }

    pub async fn connect_with(
        uri: &str,
        db_name: &str,
        options: MongoOptions,
    ) -> Result<Self, ConnectError> {
        let mut client_options = ClientOptions::parse(uri)
            .await
            .map_err(|e| ConnectError::BadUri(e.to_string()))?;
        if client_options.server_selection_timeout.is_none() {
            client_options.server_selection_timeout = Some(options.server_selection_timeout);
        }
        if client_options.app_name.is_none() {
            client_options.app_name = Some("outcall".to_string());
        }
        let client = Client::with_options(client_options)
            .map_err(|e| ConnectError::BadUri(e.to_string()))?;
        let store = Self {
            db: client.database(db_name),
            client,
            event_retention: options.event_retention,
        };
        store
            .ping()
            .await
            .map_err(|e| ConnectError::Unreachable(e.to_string()))?;
        store.ensure_indexes().await?;
        Ok(store)
    }

    /// Creates every index (see [`indexes::all_indexes`]); idempotent.
    pub async fn ensure_indexes(&self) -> Result<(), IndexError> {
        indexes::ensure(&self.db, &indexes::all_indexes(self.event_retention)).await
    }

    /// The database in use.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Closes the client's connections.
    pub async fn close(self) {
        self.client.shutdown().await;
    }
}

#[async_trait]
impl Store for MongoStore {
    fn backend(&self) -> &'static str {
        "mongodb"
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db
            .run_command(doc! {"ping": 1})
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }
}

/// The server's error code, if the error carries one.
pub(crate) fn error_code(e: &mongodb::error::Error) -> Option<i32> {
    match e.kind.as_ref() {
        ErrorKind::Command(c) => Some(c.code),
        ErrorKind::Write(WriteFailure::WriteError(w)) => Some(w.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => Some(w.code),
        _ => None,
    }
}

fn error_message(e: &mongodb::error::Error) -> String {
    match e.kind.as_ref() {
        ErrorKind::Command(c) => c.message.clone(),
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.message.clone(),
        _ => e.to_string(),
    }
}

/// Maps a driver error: duplicate keys (11000) become `Conflict` naming the broken rule
/// of `rules` (index-name fragment → rule), lost servers `Unavailable`, the rest `Internal`.
pub(crate) fn db_err(e: mongodb::error::Error, rules: &[(&str, &str)]) -> StoreError {
    if error_code(&e) == Some(11000) {
        let message = error_message(&e);
        let index = index_name(&message).unwrap_or_default();
        let rule = rules
            .iter()
            .find(|(fragment, _)| index.contains(fragment))
            .map(|(_, rule)| *rule)
            .unwrap_or("a document with the same unique key");
        return StoreError::conflict(rule);
    }
    match e.kind.as_ref() {
        ErrorKind::ServerSelection { .. }
        | ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. } => StoreError::Unavailable(e.to_string()),
        _ if e.contains_label("RetryableWriteError") => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Internal(e.to_string()),
    }
}

/// The index named in a duplicate-key message: MongoDB's
/// `E11000 duplicate key error collection: db.calls index: callSid_1 dup key: …`,
/// or a bare `index 'name'` as some servers word it.
fn index_name(message: &str) -> Option<String> {
    if let Some(rest) = message.split("index: ").nth(1) {
        return rest.split_whitespace().next().map(str::to_string);
    }
    let rest = message.split("index '").nth(1)?;
    rest.split('\'').next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_index_in_duplicate_key_messages() {
        assert_eq!(
            index_name(
                "E11000 duplicate key error collection: t.calls index: attemptId_1 dup key: { attemptId: \"a\" }"
            )
            .as_deref(),
            Some("attemptId_1")
        );
        assert_eq!(
            index_name("UNIQUE constraint failed: index 'idx_calls_callSid'").as_deref(),
            Some("idx_calls_callSid")
        );
        assert_eq!(index_name("something else"), None);
    }
}
