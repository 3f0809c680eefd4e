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
//! - `store`: the port's traits; `dnc`: the do-not-call list; `contacts`: merging
//!   contact records that share a number, before the unique index is built.

use std::time::Duration;

use async_trait::async_trait;
use bson::{Document, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{
    Acknowledgment, ClientOptions, ReadPreference, ReadPreferenceOptions, SelectionCriteria,
    WriteConcern,
};
use mongodb::{Client, Collection, Database};
use outcall_store::{Store, StoreError, StoreResult};

mod analytics;
mod archive;
mod contacts;
mod dialing;
mod dnc;
mod fence;
pub mod indexes;
mod mapping;
mod monitor;
mod raw;
mod reads;
mod relay;
pub mod sharding;
mod store;
mod updates;

pub use indexes::{IndexError, IndexSpec};

/// The MongoDB store. Cheap to clone (the driver's client is a shared pool).
#[derive(Debug, Clone)]
pub struct MongoStore {
    client: Client,
    /// Reads that feed a write (compare-and-set), and all writes: always the primary
    /// (set explicitly, see `reads`).
    db: Database,
    /// List and count queries: with the configured read preference, so dashboards may
    /// read from secondaries while every decision reads the primary.
    list_db: Database,
    event_retention: Option<Duration>,
}

/// How to connect, beyond the URI. A setting given here overrides the URI's own.
#[derive(Debug, Clone, Default)]
pub struct MongoOptions {
    /// How long an operation waits for a usable server (default 5 s).
    pub server_selection_timeout: Option<Duration>,
    /// How long opening one connection may take.
    pub connect_timeout: Option<Duration>,
    pub max_pool_size: Option<u32>,
    pub min_pool_size: Option<u32>,
    /// Shown in the server's logs and `currentOp` (default `outcall`).
    pub app_name: Option<String>,
    /// `majority`, or a number of nodes (`1`, `2`, …).
    pub write_concern: Option<String>,
    /// For lists and counts: `primary`, `primaryPreferred`, `secondary`,
    /// `secondaryPreferred` or `nearest`.
    pub read_preference: Option<String>,
    /// `EVENT_RETENTION_DAYS`: adds a TTL index expiring call events this long after `createdAt`.
    pub event_retention: Option<Duration>,
    /// `SLOW_QUERY_MS`: operations slower than this are logged (collection, filter shape).
    pub slow_query: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("bad MONGODB_URI: {0}")]
    BadUri(String),
    #[error("bad MongoDB setting: {0}")]
    BadOption(String),
    #[error("MongoDB refused the credentials: {0}")]
    Auth(String),
    #[error("cannot reach MongoDB ({reason}): {detail}")]
    Unreachable { reason: Unreachable, detail: String },
    #[error(
        "no MongoDB servers found for {record} in DNS: check the host name in the \
         mongodb+srv:// URI ({detail})"
    )]
    SrvNotFound { record: String, detail: String },
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// Why a server could not be reached, as a person would check it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreachable {
    /// The host name does not resolve.
    Dns,
    /// Nothing listens at the address.
    Refused,
    /// No usable server answered in time.
    Timeout,
    Other,
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Dns => "the host name does not resolve",
            Self::Refused => "connection refused: is mongod running at that address?",
            Self::Timeout => "no server answered in time",
            Self::Other => "network error",
        })
    }
}

impl ConnectError {
    /// Whether waiting can help: an unreachable server may come up; a bad URI or bad
    /// credentials will not fix themselves.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }
}

impl MongoStore {
    /// Connects to `uri` (`mongodb://…` or `mongodb+srv://…`), uses database `db_name`,
    /// checks the server answers and creates the indexes.
    pub async fn connect(uri: &str, db_name: &str) -> Result<Self, ConnectError> {
        Self::connect_with(uri, db_name, MongoOptions::default()).await
    }

    pub async fn connect_with(
        uri: &str,
        db_name: &str,
        options: MongoOptions,
    ) -> Result<Self, ConnectError> {
        let mut store = Self::from_client_options(client_options(uri, &options).await?, db_name)?;
        store.event_retention = options.event_retention;
        if let Err(e) = store.db.run_command(doc! {"ping": 1}).await {
            return Err(classify(&e));
        }
        store.ensure_indexes().await?;
        Ok(store)
    }

    /// The store on a client built from `options` (which connects nothing yet): their
    /// selection criteria for lists and analytics only, the primary for the rest.
    fn from_client_options(options: ClientOptions, db_name: &str) -> Result<Self, ConnectError> {
        let list_criteria = options.selection_criteria.clone();
        let mut primary = options;
        primary.selection_criteria = Some(reads::primary());
        let client =
            Client::with_options(primary).map_err(|e| ConnectError::BadUri(e.to_string()))?;
        let with = |criteria| {
            client.database_with_options(
                db_name,
                mongodb::options::DatabaseOptions::builder()
                    .selection_criteria(criteria)
                    .build(),
            )
        };
        Ok(Self {
            db: with(Some(reads::primary())),
            list_db: with(list_criteria),
            client,
            event_retention: None,
        })
    }

    /// The collection handle a read goes through (see `reads`).
    fn reads(&self, schema: &mapping::Schema, read: reads::Read) -> Collection<Document> {
        self.reads_named(schema.name, read)
    }

    fn reads_named(&self, collection: &str, read: reads::Read) -> Collection<Document> {
        match read.server() {
            reads::Server::Primary => self.db.collection(collection),
            reads::Server::Configured => self.list_db.collection(collection),
        }
    }

    /// [`connect_with`](Self::connect_with), waiting up to `patience` for a server that
    /// is not reachable yet (it may still be starting), with backoff from 1 s to 10 s.
    /// Each failed attempt is logged as one line saying why. A bad URI or refused
    /// credentials fail at once.
    pub async fn connect_waiting(
        uri: &str,
        db_name: &str,
        options: MongoOptions,
        patience: Duration,
    ) -> Result<Self, ConnectError> {
        let started = tokio::time::Instant::now();
        let mut delay = Duration::from_secs(1);
        loop {
            match Self::connect_with(uri, db_name, options.clone()).await {
                Ok(store) => return Ok(store),
                Err(e) if e.is_transient() && started.elapsed() + delay < patience => {
                    tracing::warn!(
                        "{e}; retrying in {}s (waited {}s of {}s)",
                        delay.as_secs(),
                        started.elapsed().as_secs(),
                        patience.as_secs()
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Creates every index (see [`indexes::all_indexes`]); idempotent. Contacts that
    /// share a number are merged first, so the unique number index can be built.
    pub async fn ensure_indexes(&self) -> Result<(), IndexError> {
        contacts::unique_numbers(&self.db)
            .await
            .map_err(|e| IndexError {
                collection: "contacts",
                name: "phoneNumber_1".into(),
                keys: "{ \"phoneNumber\": 1 }".into(),
                reason: format!("merging the contacts that share a number failed: {e}"),
            })?;
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

/// The URI's options with `options` applied over them, plus the monitoring handlers.
async fn client_options(uri: &str, options: &MongoOptions) -> Result<ClientOptions, ConnectError> {
    let mut o = ClientOptions::parse(uri)
        .await
        .map_err(|e| classify_parse(uri, &e))?;
    if let Some(t) = options.server_selection_timeout {
        o.server_selection_timeout = Some(t);
    } else if o.server_selection_timeout.is_none() {
        o.server_selection_timeout = Some(Duration::from_secs(5));
    }
    if options.connect_timeout.is_some() {
        o.connect_timeout = options.connect_timeout;
    }
    if options.max_pool_size.is_some() {
        o.max_pool_size = options.max_pool_size;
    }
    if options.min_pool_size.is_some() {
        o.min_pool_size = options.min_pool_size;
    }
    if let (Some(min), Some(max)) = (o.min_pool_size, o.max_pool_size)
        && max > 0
        && min > max
    {
        return Err(ConnectError::BadOption(format!(
            "the minimum pool size ({min}) is larger than the maximum ({max})"
        )));
    }
    match &options.app_name {
        Some(name) => o.app_name = Some(name.clone()),
        None if o.app_name.is_none() => o.app_name = Some("outcall".to_string()),
        None => {}
    }
    if let Some(w) = &options.write_concern {
        o.write_concern = Some(write_concern(w)?);
    }
    if let Some(r) = &options.read_preference {
        o.selection_criteria = Some(SelectionCriteria::ReadPreference(read_preference(r)?));
    }
    o.cmap_event_handler = Some(monitor::pool_metrics());
    if let Some(threshold) = options.slow_query {
        o.command_event_handler = Some(monitor::slow_query_log(threshold));
    }
    Ok(o)
}

fn write_concern(w: &str) -> Result<WriteConcern, ConnectError> {
    let w = w.trim();
    let ack = if w.eq_ignore_ascii_case("majority") {
        Acknowledgment::Majority
    } else if let Ok(n) = w.parse::<u32>() {
        Acknowledgment::Nodes(n)
    } else {
        return Err(ConnectError::BadOption(format!(
            "write concern {w:?}: use `majority` or a number of nodes such as `1`"
        )));
    };
    Ok(WriteConcern::builder().w(ack).build())
}

fn read_preference(r: &str) -> Result<ReadPreference, ConnectError> {
    let options = || Some(ReadPreferenceOptions::default());
    Ok(match r.trim() {
        "primary" => ReadPreference::Primary,
        "primaryPreferred" => ReadPreference::PrimaryPreferred { options: options() },
        "secondary" => ReadPreference::Secondary { options: options() },
        "secondaryPreferred" => ReadPreference::SecondaryPreferred { options: options() },
        "nearest" => ReadPreference::Nearest { options: options() },
        other => {
            return Err(ConnectError::BadOption(format!(
                "read preference {other:?}: use primary, primaryPreferred, secondary, secondaryPreferred or nearest"
            )));
        }
    })
}

/// A URI the driver cannot use. With `mongodb+srv://` the driver resolves DNS while
/// parsing, so an unknown host shows up here.
fn classify_parse(uri: &str, e: &mongodb::error::Error) -> ConnectError {
    match e.kind.as_ref() {
        ErrorKind::DnsResolve { message, .. } => classify_dns(uri, message),
        _ => ConnectError::BadUri(e.to_string()),
    }
}

/// A failed SRV lookup: a name with no record will not get one by waiting, while a DNS
/// server that does not answer may come back.
fn classify_dns(uri: &str, message: &str) -> ConnectError {
    let lower = message.to_ascii_lowercase();
    let missing = [
        "no records found",
        "no record found",
        "nxdomain",
        "returned no records",
        "does not match domain name",
    ]
    .iter()
    .any(|m| lower.contains(m));
    match srv_host(uri) {
        Some(host) if missing => ConnectError::SrvNotFound {
            record: format!("_mongodb._tcp.{host}"),
            detail: message.to_string(),
        },
        _ => ConnectError::Unreachable {
            reason: Unreachable::Dns,
            detail: message.to_string(),
        },
    }
}

/// The host of a `mongodb+srv://[user:pass@]host[/db][?options]` URI (never the credentials).
fn srv_host(uri: &str) -> Option<&str> {
    let rest = uri.trim().strip_prefix("mongodb+srv://")?;
    let authority = rest.split(['/', '?']).next()?;
    let host = authority.rsplit('@').next()?;
    (!host.is_empty()).then_some(host)
}

/// Sorts a failed first contact into what a person would check next.
fn classify(e: &mongodb::error::Error) -> ConnectError {
    let text = e.to_string();
    match e.kind.as_ref() {
        ErrorKind::Authentication { message, .. } => return ConnectError::Auth(message.clone()),
        _ if error_code(e) == Some(18) => return ConnectError::Auth(error_message(e)),
        ErrorKind::DnsResolve { message, .. } => {
            return ConnectError::Unreachable {
                reason: Unreachable::Dns,
                detail: message.clone(),
            };
        }
        _ => {}
    }
    // Server selection wraps the per-server errors in its message.
    let lower = text.to_ascii_lowercase();
    let reason = if lower.contains("authentication failed") || lower.contains("auth error") {
        return ConnectError::Auth(text);
    } else if lower.contains("lookup")
        || lower.contains("name or service not known")
        || lower.contains("dns")
    {
        Unreachable::Dns
    } else if lower.contains("connection refused") {
        Unreachable::Refused
    } else if matches!(e.kind.as_ref(), ErrorKind::ServerSelection { .. })
        || lower.contains("timed out")
    {
        Unreachable::Timeout
    } else {
        Unreachable::Other
    };
    ConnectError::Unreachable {
        reason,
        detail: text,
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
    fn an_srv_name_without_records_is_a_clear_error_not_worth_waiting_for() {
        let uri = "mongodb+srv://bob:secret@cluster0.example.invalid/outcall?retryWrites=true";
        assert_eq!(srv_host(uri), Some("cluster0.example.invalid"));
        assert_eq!(srv_host("mongodb://localhost"), None);
        let e = classify_dns(
            uri,
            "no records found for Query { name: Name(\"_mongodb._tcp.cluster0.example.invalid.\"), query_type: SRV, query_class: IN }",
        );
        assert!(!e.is_transient());
        let text = e.to_string();
        assert!(
            text.starts_with(
                "no MongoDB servers found for _mongodb._tcp.cluster0.example.invalid in DNS: \
                 check the host name in the mongodb+srv:// URI"
            ),
            "{text}"
        );
        assert!(!text.contains("secret") && !text.contains('\n'), "{text}");
        let mismatch = classify_dns(
            uri,
            "SRV lookup for cluster0.example.invalid returned result a.other.net, which does not match domain name example.invalid",
        );
        assert!(matches!(mismatch, ConnectError::SrvNotFound { .. }));
    }

    #[test]
    fn a_dns_server_that_does_not_answer_is_worth_waiting_for() {
        let e = classify_dns("mongodb+srv://cluster0.example.net", "request timed out");
        assert!(e.is_transient());
        assert_eq!(
            e.to_string(),
            "cannot reach MongoDB (the host name does not resolve): request timed out"
        );
    }

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
