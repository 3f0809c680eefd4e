//! The dashboard: overview numbers, the activity feed, one call with everything stored
//! for it, and the realtime view.

use chrono::Duration;
use outcall_domain::analytics::{BucketGrid, CallCounts, SlotGrain, local_midnight};
use outcall_domain::call::{Call, CallStatus};
use outcall_domain::campaign::CampaignStatus;
use outcall_domain::event::CallEvent;
use outcall_domain::page::Sort;
use outcall_domain::recording::Recording;
use outcall_domain::time::Timestamp;
use outcall_domain::transcript::Transcript;
use outcall_domain::{ObjectId, Page, PageRequest};
use outcall_store::{
    AnalyticsFilter, CampaignFilter, EventFilter, RecordingFilter, Store, StoreResult,
};
use serde::Serialize;
use serde_json::{Map, Value};

use super::query::OverviewQuery;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    pub totals: Totals,
    /// Answered calls over all calls, 0..1.
    pub answer_rate: f64,
    /// Mean seconds of the answered calls that have a duration.
    pub average_duration: f64,
    pub active_calls: u64,
    pub active_campaigns: u64,
    pub today: DaySummary,
    pub yesterday: DaySummary,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    pub calls: u64,
    pub completed: u64,
    pub answered: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DaySummary {
    pub calls: u64,
    pub answered: u64,
    pub completed: u64,
    pub failed: u64,
    pub average_duration: f64,
}

impl From<&CallCounts> for DaySummary {
    fn from(c: &CallCounts) -> Self {
        Self {
            calls: c.total,
            answered: c.answered,
            completed: c.completed,
            failed: c.failed,
            average_duration: c.average_duration(),
        }
    }
}

/// All-time totals, what is live now, and today against yesterday (calendar days in `tz`).
pub async fn overview(
    store: &dyn Store,
    query: &OverviewQuery,
    now: Timestamp,
) -> StoreResult<Overview> {
    let totals = store.call_counts(&query.filter(None, None)).await?;
    let today_date = now.with_timezone(&query.tz).date_naive();
    let today_start = local_midnight(today_date, query.tz);
    let yesterday_start = today_date
        .pred_opt()
        .map_or(today_start - Duration::days(1), |d| {
            local_midnight(d, query.tz)
        });
    let today = store
        .call_counts(&query.filter(Some(today_start), None))
        .await?;
    let yesterday = store
        .call_counts(&query.filter(Some(yesterday_start), Some(today_start)))
        .await?;
    let (_, active_calls) = store.live_calls(&query.filter(None, None), 0).await?;
    Ok(Overview {
        totals: Totals {
            calls: totals.total,
            completed: totals.completed,
            answered: totals.answered,
            failed: totals.failed,
        },
        answer_rate: totals.answer_rate(),
        average_duration: totals.average_duration(),
        active_calls,
        active_campaigns: active_campaigns(store, query.campaign_id).await?,
        today: DaySummary::from(&today),
        yesterday: DaySummary::from(&yesterday),
    })
}

/// Campaigns now `active` (with `campaignId`: 1 if that one is, else 0).
async fn active_campaigns(store: &dyn Store, campaign_id: Option<ObjectId>) -> StoreResult<u64> {
    if let Some(id) = campaign_id {
        let campaign = store.get_campaign(id).await?;
        return Ok(u64::from(
            campaign.is_some_and(|c| c.status == CampaignStatus::Active),
        ));
    }
    let filter = CampaignFilter {
        status: Some(CampaignStatus::Active),
        ..CampaignFilter::default()
    };
    let one = PageRequest {
        page: 1,
        limit: 1,
        sort: Sort::desc("createdAt"),
    };
    Ok(store.list_campaigns(&filter, &one).await?.total)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub event_type: String,
    pub call_sid: String,
    pub timestamp: Timestamp,
    pub data: Map<String, Value>,
    /// `null` when the call record was deleted.
    pub call: Option<ActivityCall>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityCall {
    pub to: String,
    pub from: String,
    pub status: CallStatus,
    pub campaign_id: Option<ObjectId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_name: Option<String>,
}

/// Call events of every call (or one campaign's), newest first.
pub async fn activity(
    store: &dyn Store,
    campaign_id: Option<ObjectId>,
    page: &PageRequest,
) -> StoreResult<Page<Activity>> {
    Ok(store
        .recent_events(campaign_id, page)
        .await?
        .map(|item| Activity {
            event_type: item.event.event_type,
            call_sid: item.event.call_sid,
            timestamp: item.event.timestamp,
            data: item.event.data,
            call: item.call.map(|c| ActivityCall {
                to: c.to,
                from: c.from,
                status: c.status,
                campaign_id: c.campaign_id,
                contact_name: c.contact_name,
            }),
        }))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallDetails {
    pub call: Call,
    pub recordings: Vec<Recording>,
    pub transcript: Option<Transcript>,
    /// Oldest first.
    pub events: Vec<CallEvent>,
}

/// Most events and recordings one call's details carry.
const DETAIL_LIMIT: u32 = 1000;

/// A call with its recordings, transcript and events; `None` for an unknown `callSid`.
pub async fn call_details(store: &dyn Store, call_sid: &str) -> StoreResult<Option<CallDetails>> {
    let Some(call) = store.get_call(call_sid).await? else {
        return Ok(None);
    };
    let all = |field| PageRequest {
        page: 1,
        limit: DETAIL_LIMIT,
        sort: Sort::asc(field),
    };
    let recordings = store
        .list_recordings(
            &RecordingFilter {
                call_sid: Some(call_sid.to_string()),
                ..RecordingFilter::default()
            },
            &all("createdAt"),
        )
        .await?
        .items;
    let transcript = store.get_transcript(call_sid).await?;
    let events = store
        .list_events(call_sid, &EventFilter::default(), &all("timestamp"))
        .await?
        .items;
    Ok(Some(CallDetails {
        call,
        recordings,
        transcript,
        events,
    }))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Realtime {
    /// Newest first, at most [`LIVE_LIMIT`].
    pub active_calls: Vec<Call>,
    pub active_count: u64,
    pub last5_minutes: Recent,
    /// The last 15 minutes (the current one included), oldest first.
    pub per_minute: Vec<Minute>,
    /// Mean calls a minute over the last 5 minutes.
    pub calls_per_minute: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recent {
    pub calls: u64,
    pub answered: u64,
    pub completed: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Minute {
    pub minute: Timestamp,
    pub count: u64,
}

pub const LIVE_LIMIT: u32 = 100;

/// Live calls, and calls placed in the last minutes (by `createdAt`).
pub async fn realtime(store: &dyn Store, now: Timestamp) -> StoreResult<Realtime> {
    let every = AnalyticsFilter::default();
    let (active_calls, active_count) = store.live_calls(&every, LIVE_LIMIT).await?;
    let recent = store
        .call_counts(&AnalyticsFilter {
            start: Some(now - Duration::minutes(5)),
            end: Some(now),
            ..AnalyticsFilter::default()
        })
        .await?;
    let grid = BucketGrid::last_minutes(now, 15);
    let slots = store
        .call_counts_by_slot(
            &AnalyticsFilter {
                start: Some(grid.start()),
                end: Some(grid.end()),
                ..AnalyticsFilter::default()
            },
            SlotGrain::Minute,
        )
        .await?;
    let per_minute = grid
        .starts()
        .iter()
        .zip(grid.fold(&slots))
        .map(|(minute, c)| Minute {
            minute: *minute,
            count: c.total,
        })
        .collect();
    Ok(Realtime {
        active_calls,
        active_count,
        last5_minutes: Recent {
            calls: recent.total,
            answered: recent.answered,
            completed: recent.completed,
            failed: recent.failed,
        },
        per_minute,
        calls_per_minute: recent.total as f64 / 5.0,
    })
}
