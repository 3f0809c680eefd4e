//! What `outcall archive` and the daily rollups need from a store: the `callstats`
//! rollups, and deleting a call together with everything stored for it.

use async_trait::async_trait;
use chrono::NaiveDate;
use outcall_domain::callstats::DailyCallStats;

use crate::error::StoreResult;

#[async_trait]
pub trait ArchiveStore: Send + Sync {
    /// Stores a day's rollup, replacing an unsealed rollup of the same day (keeping its
    /// `_id` and `createdAt`). A sealed rollup is never replaced: its calls may be gone.
    /// Returns the stored rollup and whether this call wrote it.
    async fn put_daily_stats(&self, stats: DailyCallStats) -> StoreResult<(DailyCallStats, bool)>;
    async fn get_daily_stats(&self, day: NaiveDate) -> StoreResult<Option<DailyCallStats>>;
    /// The rollups of the days in `[from, to)`, by day.
    async fn list_daily_stats(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreResult<Vec<DailyCallStats>>;
    /// Deletes a call with its events, recordings and transcript. `false` if there was no
    /// such call (its other records, if any, are deleted all the same).
    async fn delete_call_records(&self, call_sid: &str) -> StoreResult<bool>;
}
