//! `outcall mongo …`: MongoDB administration. `outcall mongo shard` shards outcall's
//! collections on a sharded cluster (see `outcall_store_mongo::sharding` and the README
//! section "Scaling out on MongoDB").

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::config::{StoreConfig, redact_url};
use crate::store::{is_mongodb, mongo_options, selected_url};

#[derive(Debug, Subcommand)]
pub enum MongoCommand {
    /// Shard `calls` (hashed callSid), `campaigns` (hashed _id) and `contacts`
    /// (phoneNumber) through a mongos; idempotent. Makes `calls.attemptId_1` non-unique.
    Shard(StoreConfig),
}

pub async fn run(command: MongoCommand) -> anyhow::Result<()> {
    match command {
        MongoCommand::Shard(config) => shard(&config).await,
    }
}

async fn shard(config: &StoreConfig) -> anyhow::Result<()> {
    let url = selected_url(config);
    if !is_mongodb(url) {
        bail!(
            "outcall mongo shard works on MongoDB, and the database is {}: set MONGODB_URI to \
             the mongos of a sharded cluster",
            redact_url(url)
        );
    }
    let report =
        outcall_store_mongo::sharding::shard(url, &config.mongodb_db, mongo_options(config))
            .await
            .with_context(|| {
                format!(
                    "sharding database {} at {}",
                    config.mongodb_db,
                    redact_url(url)
                )
            })?;
    print!("{report}");
    if report.failed() {
        bail!("some collections could not be sharded (see above); running it again is safe");
    }
    Ok(())
}
