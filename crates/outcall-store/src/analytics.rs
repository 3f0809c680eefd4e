//! What the analytics and dashboard computations need from a store: counts aggregated
//! in the database (SQL `GROUP BY`, MongoDB aggregation pipelines), never whole
//! collections read into memory. Time series come back as UTC slots
//! ([`SlotGrain`]); local-time buckets are folded from them by the caller
//! (`outcall_domain::analytics`), so no store needs a time-zone database.
//!
//! "Answered" is [`Call::is_answered`]: an `answerTime`, or status `completed`.
//! Durations count only answered calls with a `duration` of 0 or more.

use async_trait::async_trait;
use outcall_domain::analytics::{
    CallCounts, DurationSummary, OutcomeCounts, SentimentCounts, SlotGrain,
};
use outcall_domain::call::Call;
use outcall_domain::event::CallEvent;
use outcall_domain::time::Timestamp;
use outcall_domain::{ObjectId, Page, PageRequest};

use crate::error::StoreResult;

/// Which calls an analytics query covers. Times are on the call's `createdAt`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnalyticsFilter {
    /// Inclusive.
    pub start: Option<Timestamp>,
    /// Exclusive.
    pub end: Option<Timestamp>,
    pub campaign_id: Option<ObjectId>,
    pub agent_id: Option<String>,
}

/// An event of the activity feed, with its call when the call is still stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EventWithCall {
    pub event: CallEvent,
    pub call: Option<Call>,
}

#[async_trait]
pub trait AnalyticsStore: Send + Sync {
    /// The filtered calls counted by status.
    async fn call_counts(&self, filter: &AnalyticsFilter) -> StoreResult<CallCounts>;
    /// [`call_counts`](Self::call_counts) per UTC slot of `createdAt`, slots without
    /// calls left out, in slot order.
    async fn call_counts_by_slot(
        &self,
        filter: &AnalyticsFilter,
        grain: SlotGrain,
    ) -> StoreResult<Vec<(Timestamp, CallCounts)>>;
    /// Count, sum, extremes and fixed buckets of the answered calls' durations.
    async fn duration_summary(&self, filter: &AnalyticsFilter) -> StoreResult<DurationSummary>;
    /// The duration at 1-based `rank` among the answered calls' durations sorted
    /// ascending; `None` past the last.
    async fn duration_at_rank(
        &self,
        filter: &AnalyticsFilter,
        rank: u64,
    ) -> StoreResult<Option<i64>>;
    async fn outcome_counts(&self, filter: &AnalyticsFilter) -> StoreResult<OutcomeCounts>;
    /// Sentiments of the filtered calls' transcripts (those that have one), per UTC
    /// slot of the call's `createdAt`, in slot order.
    async fn sentiment_by_slot(
        &self,
        filter: &AnalyticsFilter,
        grain: SlotGrain,
    ) -> StoreResult<Vec<(Timestamp, SentimentCounts)>>;
    /// Calls still holding a line (`queued`, `initiated`, `ringing`, `in-progress`),
    /// newest first, at most `limit`, and how many there are. Dates are ignored.
    async fn live_calls(
        &self,
        filter: &AnalyticsFilter,
        limit: u32,
    ) -> StoreResult<(Vec<Call>, u64)>;
    /// Call events of every call, newest `timestamp` first; with `campaign_id`, only
    /// events of that campaign's calls.
    async fn recent_events(
        &self,
        campaign_id: Option<ObjectId>,
        page: &PageRequest,
    ) -> StoreResult<Page<EventWithCall>>;
}
