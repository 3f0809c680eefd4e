//! Picks and opens the store adapter from `DATABASE_URL`'s scheme.

use std::sync::Arc;

use anyhow::Context;
use outcall_store::Store;
use outcall_store_sqlite::SqliteStore;

use crate::config::{StoreConfig, redact_url};

pub async fn open(config: &StoreConfig) -> anyhow::Result<Arc<dyn Store>> {
    let url = config.database_url.trim();
    if url.starts_with("sqlite:") {
        let store = SqliteStore::open(url)
            .await
            .with_context(|| format!("opening {}", redact_url(url)))?;
        Ok(Arc::new(store))
    } else if url.starts_with("mongodb://") || url.starts_with("mongodb+srv://") {
        anyhow::bail!("MongoDB is not supported by this build yet; use DATABASE_URL=sqlite://PATH")
    } else {
        anyhow::bail!(
            "DATABASE_URL {:?} is not supported: use sqlite://PATH (for example sqlite://./data/outcall.db)",
            redact_url(url)
        )
    }
}
