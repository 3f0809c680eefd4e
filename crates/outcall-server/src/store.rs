//! Picks and opens the store adapter: MongoDB when `MONGODB_URI` is set (or
//! `DATABASE_URL` is a `mongodb://` URL), otherwise SQLite from `DATABASE_URL`.

use std::sync::Arc;

use anyhow::Context;
use outcall_store::Store;
use outcall_store_mongo::MongoStore;
use outcall_store_sqlite::SqliteStore;

use crate::config::{StoreConfig, redact_url};

pub async fn open(config: &StoreConfig) -> anyhow::Result<Arc<dyn Store>> {
    let url = config
        .mongodb_uri
        .as_deref()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or(&config.database_url)
        .trim();
    if url.starts_with("mongodb://") || url.starts_with("mongodb+srv://") {
        let store = MongoStore::connect(url, &config.mongodb_db)
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
        let store = SqliteStore::open(url)
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
