//! The four analytics reports: call volume, call duration, call outcomes and
//! conversation sentiment.

use outcall_domain::analytics::{
    CallCounts, DURATION_BUCKETS, GroupBy, OutcomeCounts, SentimentCounts, nearest_rank,
};
use outcall_domain::time::Timestamp;
use outcall_store::{Store, StoreResult};
use serde::Serialize;

use super::query::AnalyticsQuery;
use crate::error::ApiResult;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallVolume {
    pub group_by: GroupBy,
    /// The IANA name the buckets are local to.
    pub tz: String,
    pub buckets: Vec<VolumeBucket>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeBucket {
    /// When the bucket starts (local hour, day or Monday in `tz`), as a UTC instant.
    pub start: Timestamp,
    #[serde(flatten)]
    pub counts: CallCounts,
}

/// Calls per local hour, day or week, every bucket of the range included.
pub async fn call_volume(
    store: &dyn Store,
    query: &AnalyticsQuery,
    now: Timestamp,
) -> ApiResult<CallVolume> {
    let (grid, filter) = query.series(now)?;
    let slots = store
        .call_counts_by_slot(&filter, grid.slot_grain())
        .await?;
    let buckets = grid
        .starts()
        .iter()
        .zip(grid.fold(&slots))
        .map(|(start, counts)| VolumeBucket {
            start: *start,
            counts,
        })
        .collect();
    Ok(CallVolume {
        group_by: query.group_by,
        tz: query.tz.name().to_string(),
        buckets,
    })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallDuration {
    pub count: u64,
    /// Seconds.
    pub total: i64,
    pub mean: f64,
    /// Nearest-rank percentiles: always one of the durations; `null` when none.
    pub median: Option<i64>,
    pub p90: Option<i64>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub buckets: Vec<DurationBucket>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DurationBucket {
    pub label: &'static str,
    pub min_secs: i64,
    /// Exclusive; `null` for the last, open-ended bucket.
    pub max_secs: Option<i64>,
    pub count: u64,
}

/// Durations of the answered calls that have one.
pub async fn call_duration(store: &dyn Store, query: &AnalyticsQuery) -> StoreResult<CallDuration> {
    let filter = query.filter();
    let summary = store.duration_summary(&filter).await?;
    let at = |p: f64| {
        let filter = filter.clone();
        async move {
            match nearest_rank(p, summary.count) {
                Some(rank) => store.duration_at_rank(&filter, rank).await,
                None => Ok(None),
            }
        }
    };
    let median = at(0.5).await?;
    let p90 = at(0.9).await?;
    Ok(CallDuration {
        count: summary.count,
        total: summary.total,
        mean: if summary.count == 0 {
            0.0
        } else {
            summary.total as f64 / summary.count as f64
        },
        median,
        p90,
        min: summary.min,
        max: summary.max,
        buckets: DURATION_BUCKETS
            .iter()
            .zip(summary.buckets)
            .map(|((label, min_secs, max_secs), count)| DurationBucket {
                label,
                min_secs: *min_secs,
                max_secs: *max_secs,
                count,
            })
            .collect(),
    })
}

/// Calls by status, outcome and `answeredBy`.
pub async fn call_outcomes(
    store: &dyn Store,
    query: &AnalyticsQuery,
) -> StoreResult<OutcomeCounts> {
    store.outcome_counts(&query.filter()).await
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationSentiment {
    pub total: u64,
    pub average_score: f64,
    pub distribution: Distribution,
    pub trend: Vec<SentimentBucket>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Distribution {
    pub positive: u64,
    pub neutral: u64,
    pub negative: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SentimentBucket {
    pub start: Timestamp,
    pub count: u64,
    pub average_score: f64,
    pub positive: u64,
    pub neutral: u64,
    pub negative: u64,
}

/// Sentiments of the conversations of the calls in the range, overall and per bucket.
pub async fn conversation_sentiment(
    store: &dyn Store,
    query: &AnalyticsQuery,
    now: Timestamp,
) -> ApiResult<ConversationSentiment> {
    let (grid, filter) = query.series(now)?;
    let slots = store.sentiment_by_slot(&filter, grid.slot_grain()).await?;
    let buckets = grid.fold(&slots);
    let mut all = SentimentCounts::default();
    for b in &buckets {
        all += b;
    }
    Ok(ConversationSentiment {
        total: all.count,
        average_score: all.average_score(),
        distribution: Distribution {
            positive: all.positive,
            neutral: all.neutral,
            negative: all.negative,
        },
        trend: grid
            .starts()
            .iter()
            .zip(buckets)
            .map(|(start, s)| SentimentBucket {
                start: *start,
                count: s.count,
                average_score: s.average_score(),
                positive: s.positive,
                neutral: s.neutral,
                negative: s.negative,
            })
            .collect(),
    })
}
