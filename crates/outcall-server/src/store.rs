//! Picks and opens the store adapter: MongoDB when `MONGODB_URI` is set (or
//! `DATABASE_URL` is a `mongodb://` URL), otherwise SQLite from `DATABASE_URL`.

use std::sync::Arc;

use anyhow::Context;
use outcall_store::Store;
use std::time::Duration;

use outcall_store_mongo::{MongoOptions, MongoStore};
use outcall_store_sqlite::{SqliteOptions, SqliteStore};

use crate::config::{StoreConfig, redact_url};

/// The database URL in use: `MONGODB_URI` when set, else `DATABASE_URL`.
pub fn selected_url(config: &StoreConfig) -> &str {
    config
        .mongodb_uri
        .as_deref()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or(&config.database_url)
        .trim()
}

/// The database `config` selects, as a person would look for it: MongoDB's URL (its
/// password hidden) and database name, or SQLite's file as an absolute path.
pub fn describe(config: &StoreConfig) -> String {
    let url = selected_url(config);
    if is_mongodb(url) {
        return format!("MongoDB {} database {}", redact_url(url), config.mongodb_db);
    }
    let Some(path) = url
        .strip_prefix("sqlite://")
        .or(url.strip_prefix("sqlite:"))
    else {
        return redact_url(url);
    };
    let path = path.split('?').next().unwrap_or(path);
    match std::path::absolute(path) {
        Ok(abs) => format!("SQLite {}", abs.display()),
        Err(_) => format!("SQLite {path}"),
    }
}

pub fn is_mongodb(url: &str) -> bool {
    url.starts_with("mongodb://") || url.starts_with("mongodb+srv://")
}

pub async fn open(config: &StoreConfig) -> anyhow::Result<Arc<dyn Store>> {
    let url = selected_url(config);
    if is_mongodb(url) {
        let patience = Duration::from_secs(config.mongodb_startup_timeout_secs);
        let store =
            MongoStore::connect_waiting(url, &config.mongodb_db, mongo_options(config), patience)
                .await
                .with_context(|| {
                    format!(
                        "opening MongoDB at {} (database {})",
                        redact_url(url),
                        config.mongodb_db
                    )
                })?;
        Ok(Arc::new(store))
    } else if url.starts_with("sqlite:") {
        let options = SqliteOptions {
            slow_query: config.slow_query(),
        };
        let store = SqliteStore::open_with(url, options)
            .await
            .with_context(|| format!("opening {}", redact_url(url)))?;
        Ok(Arc::new(store))
    } else {
        anyhow::bail!(
            "database URL {:?} is not supported: use sqlite://PATH (e.g. sqlite://./data/outcall.db) or mongodb://HOST:PORT",
            redact_url(url)
        )
    }
}

pub(crate) fn mongo_options(config: &StoreConfig) -> MongoOptions {
    MongoOptions {
        server_selection_timeout: config
            .mongodb_server_selection_timeout_ms
            .map(Duration::from_millis),
        connect_timeout: config.mongodb_connect_timeout_ms.map(Duration::from_millis),
        max_pool_size: config.mongodb_max_pool_size,
        min_pool_size: config.mongodb_min_pool_size,
        app_name: config.mongodb_app_name.clone(),
        write_concern: config.mongodb_write_concern.clone(),
        read_preference: config.mongodb_read_preference.clone(),
        event_retention: config.event_retention(),
        slow_query: config.slow_query(),
    }
}
