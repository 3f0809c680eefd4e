//! The database a CLI subcommand (`outcall contacts`, `outcall campaign`) works on:
//! the one `outcall serve` opens with the same environment, `.env` and flags, or with
//! `--demo` the one `outcall demo` runs on. The flags are global, so they may come
//! before or after the subcommand's own words, and every error names the database.

use std::sync::Arc;

use outcall_store::Store;

use crate::config::StoreConfig;

#[derive(Debug, Clone, clap::Args)]
pub struct CliStore {
    #[command(flatten)]
    store: StoreConfig,

    /// Work on the database of `outcall demo` (`sqlite://./data/demo.db`, relative to
    /// the directory the demo was started in), whatever DATABASE_URL or MONGODB_URI say.
    #[arg(long, global = true)]
    demo: bool,
}

impl CliStore {
    /// The settings in use, `--demo` applied.
    pub fn config(&self) -> StoreConfig {
        let mut config = self.store.clone();
        if self.demo {
            config.database_url = crate::demo::DEMO_DATABASE_URL.to_string();
            config.mongodb_uri = None;
        }
        config
    }

    /// The database, as errors and reports name it.
    pub fn describe(&self) -> String {
        crate::store::describe(&self.config())
    }

    pub async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        crate::store::open(&self.config()).await
    }

    /// `result`, with any error saying which database it happened on: a "no campaign"
    /// from the wrong database must say so.
    pub fn name_in<T>(&self, result: anyhow::Result<T>) -> anyhow::Result<T> {
        result.map_err(|e| anyhow::anyhow!("{e:#} (database: {})", self.describe()))
    }
}
