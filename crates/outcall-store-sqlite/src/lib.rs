//! SQLite adapter of the outcall Store port: the embedded default.
//!
//! Each collection is a table holding the whole document as JSON (`doc`), plus
//! the fields that are filtered, sorted on or unique as plain indexed columns,
//! which this adapter writes together with the document.
//!
//! Writes go through one dedicated writer connection, reads through a pool of
//! read-only connections (WAL mode lets them run beside the writer). With a single
//! writer, a read-modify-write inside one transaction is atomic, so the domain's
//! pure rules (status precedence, campaign transitions) run in Rust on the loaded
//! document and no two writers can interleave. SQLite takes one writer at a time
//! anyway; queueing in the pool is cheaper than `SQLITE_BUSY` retries. Every write
//! transaction begins `IMMEDIATE` (`rows::write_tx`), so a writer in another process
//! (the CLI, a second server) is waited for, not answered with "database is locked".
//! The campaign engine's writes of every dial (campaign, attempt) skip the
//! transaction: one autocommit `UPDATE … AND doc = ?` that applies only if the stored
//! document is still the one expected, decided again on a read when a writer of
//! another process changed it in between. The document expected is the one this store
//! last wrote (`known`), so a dial's later writes need no read first: one round trip
//! to the connection's thread each, where a transaction took four. The contact's call
//! count is one `UPDATE` of its document's fields, as MongoDB's `$inc` and `$push`.
//!
//! Durability: WAL with `synchronous = NORMAL`. A commit is appended to the WAL
//! without an fsync; the WAL is synced at each checkpoint, which a task of the store
//! runs beside the writer every 50 ms (`checkpoint`), not inside a write. A committed write survives
//! the process crashing (`kill -9`: the OS holds the written pages); only losing
//! power or the OS may drop the last commits, never corrupting the database. An fsync
//! per commit (`FULL`) would cost every dial several syncs for that case alone.
//!
//! # Layout
//! - [`SqliteStore`]: opening, migrations, health.
//! - `rows`: encoding documents and mapping errors.
//! - one module per collection: `calls`, `recordings`, `transcripts`, `events`,
//!   `campaigns`, `contacts`, `campaign_contacts`, `dnc`.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use outcall_store::{Store, StoreError, StoreResult};
use sqlx::ConnectOptions;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

mod analytics;
mod archive;
mod bulk;
mod calls;
mod campaign_contacts;
mod campaigns;
mod checkpoint;
mod contacts;
mod dnc;
mod events;
mod known;
mod raw;
mod recordings;
mod relay;
mod rows;
mod transcripts;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub use bulk::Bulk;

/// The embedded store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// The engine's hot documents as last written, for writes without a read first.
    known: std::sync::Arc<known::Known>,
    /// The WAL's checkpoints, run beside the writer while any clone is alive.
    _checkpoints: checkpoint::Checkpoints,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("bad DATABASE_URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot create the database directory {dir}: {source}")]
    Directory { dir: String, source: std::io::Error },
    #[error("cannot open the SQLite database: {0}")]
    Open(#[from] sqlx::Error),
    #[error("cannot migrate the SQLite database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot merge the contacts that share a number: {0}")]
    Duplicates(#[from] StoreError),
}

/// How to open, beyond the URL.
#[derive(Debug, Clone, Default)]
pub struct SqliteOptions {
    /// `SLOW_QUERY_MS`: statements slower than this are logged at `warn` by sqlx (the SQL
    /// text, whose values are bound parameters, never inlined).
    pub slow_query: Option<Duration>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at a `sqlite://path` URL, in WAL mode,
    /// and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        Self::open_with(url, SqliteOptions::default()).await
    }

    pub async fn open_with(url: &str, settings: SqliteOptions) -> Result<Self, OpenError> {
        let mut options = SqliteConnectOptions::from_str(url)
            .map_err(|e| OpenError::BadUrl {
                url: url.to_string(),
                reason: e.to_string(),
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Durable against a process crash, no fsync per commit (see the module doc).
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("temp_store", "memory");
        options = match settings.slow_query {
            Some(threshold) => options.log_slow_statements(log::LevelFilter::Warn, threshold),
            None => options.log_slow_statements(log::LevelFilter::Off, Duration::MAX),
        };
        if let Some(dir) = Path::new(options.get_filename()).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|source| OpenError::Directory {
                dir: dir.display().to_string(),
                source,
            })?;
        }
        // No ping before handing out a connection (`test_before_acquire`): a SQLite
        // connection is a file handle in this process, never dropped by a peer, and the
        // ping is one more round trip to the connection's worker thread on every query.
        let checkpoints = checkpoint::start(&options).await?;
        // The writer checkpoints only as a backstop: the task above does (`checkpoint`).
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(false)
            .connect_with(
                options
                    .clone()
                    .pragma("wal_autocheckpoint", checkpoint::BACKSTOP_PAGES.to_string()),
            )
            .await?;
        MIGRATOR.run(&writer).await?;
        // Every reader is opened here, not on first use: a burst of requests after
        // start-up waits for no connection to open.
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(4)
            .test_before_acquire(false)
            .connect_with(options.read_only(true))
            .await?;
        let store = Self {
            writer,
            reader,
            known: Default::default(),
            _checkpoints: checkpoints,
        };
        store.merge_duplicate_contacts().await?;
        Ok(store)
    }

    /// Closes both pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }
}

/// Query plans of the hot list queries, for the index test (`EXPLAIN QUERY PLAN`).
/// Each entry names the query and gives SQLite's plan lines for its page statement
/// and its count statement.
#[doc(hidden)]
pub mod plans {
    use outcall_domain::PageRequest;
    use outcall_store::{CallFilter, StoreResult};

    use crate::SqliteStore;
    use crate::rows::{list_statements, query_plan};

    impl SqliteStore {
        /// Plans (page, count) for `list_calls` with `filter` and `page`.
        pub async fn plan_list_calls(
            &self,
            filter: &CallFilter,
            page: &PageRequest,
        ) -> StoreResult<(Vec<String>, Vec<String>)> {
            let (count, select) = crate::calls::statements(filter, page);
            Ok((
                query_plan(&self.reader, select).await?,
                query_plan(&self.reader, count).await?,
            ))
        }

        /// Plans (page, count) for `list_events` of one call.
        pub async fn plan_list_events(
            &self,
            page: &PageRequest,
        ) -> StoreResult<(Vec<String>, Vec<String>)> {
            let (count, select) = list_statements("callevents", page, "timestamp", &|q| {
                q.push(" AND call_sid = ").push_bind("CA1".to_string());
            });
            Ok((
                query_plan(&self.reader, select).await?,
                query_plan(&self.reader, count).await?,
            ))
        }

        /// Plans (page, count) for `list_recordings` of one call.
        pub async fn plan_list_recordings_for_call(
            &self,
            page: &PageRequest,
        ) -> StoreResult<(Vec<String>, Vec<String>)> {
            let (count, select) = list_statements("recordings", page, "created_at", &|q| {
                q.push(" AND call_sid = ").push_bind("CA1".to_string());
            });
            Ok((
                query_plan(&self.reader, select).await?,
                query_plan(&self.reader, count).await?,
            ))
        }

        /// Plan of a single-statement lookup, e.g. by `callSid`.
        pub async fn plan_sql(&self, sql: &str) -> StoreResult<Vec<String>> {
            query_plan(&self.reader, sqlx::QueryBuilder::new(sql)).await
        }
    }
}
