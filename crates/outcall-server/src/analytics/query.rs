//! Query parameters of the analytics and dashboard routes, checked once here.

use chrono_tz::Tz;
use outcall_domain::analytics::{BucketGrid, GridError, GroupBy};
use outcall_domain::time::Timestamp;
use outcall_store::AnalyticsFilter;

use crate::error::{ApiError, ApiResult};
use crate::extract::Params;
use crate::routes::validate::sid;

/// `startDate`, `endDate`, `tz`, `groupBy`, `campaignId`, `agentId`.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyticsQuery {
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub tz: Tz,
    pub group_by: GroupBy,
    pub campaign_id: Option<outcall_domain::ObjectId>,
    pub agent_id: Option<String>,
}

impl AnalyticsQuery {
    /// Takes the analytics parameters from `params`; the caller calls `finish`.
    pub fn take(params: &mut Params) -> ApiResult<Self> {
        let (start, end) = params.date_range()?;
        let tz = take_tz(params)?;
        let group_by = params
            .text("groupBy")
            .map(|g| {
                g.parse::<GroupBy>()
                    .map_err(|e| ApiError::field("groupBy", e))
            })
            .transpose()?
            .unwrap_or(GroupBy::Day);
        let campaign_id = params.object_id("campaignId")?;
        let agent_id = take_agent(params)?;
        Ok(Self {
            start,
            end,
            tz,
            group_by,
            campaign_id,
            agent_id,
        })
    }

    /// The calls asked about: the dates as given.
    pub fn filter(&self) -> AnalyticsFilter {
        AnalyticsFilter {
            start: self.start,
            end: self.end,
            campaign_id: self.campaign_id,
            agent_id: self.agent_id.clone(),
        }
    }

    /// A time series needs a range: `endDate` defaults to `now`, `startDate` to one
    /// default span of `groupBy` before it (24 hours, 30 days, 12 weeks). Returns the
    /// bucket grid and the filter of that range.
    pub fn series(&self, now: Timestamp) -> ApiResult<(BucketGrid, AnalyticsFilter)> {
        let end = self.end.unwrap_or(now);
        let start = self.start.unwrap_or(end - self.group_by.default_span());
        let grid = BucketGrid::new(start, end, self.tz, self.group_by).map_err(|e| match e {
            GridError::Empty => ApiError::field("endDate", "must be after startDate"),
            GridError::TooManyBuckets(_) => ApiError::field(
                "groupBy",
                format!("{e}: use a shorter range or a wider groupBy"),
            ),
        })?;
        let filter = AnalyticsFilter {
            start: Some(start),
            end: Some(end),
            ..self.filter()
        };
        Ok((grid, filter))
    }
}

/// `tz`, `campaignId`, `agentId` of the dashboard overview.
#[derive(Debug, Clone, PartialEq)]
pub struct OverviewQuery {
    pub tz: Tz,
    pub campaign_id: Option<outcall_domain::ObjectId>,
    pub agent_id: Option<String>,
}

impl OverviewQuery {
    pub fn take(params: &mut Params) -> ApiResult<Self> {
        Ok(Self {
            tz: take_tz(params)?,
            campaign_id: params.object_id("campaignId")?,
            agent_id: take_agent(params)?,
        })
    }

    pub fn filter(&self, start: Option<Timestamp>, end: Option<Timestamp>) -> AnalyticsFilter {
        AnalyticsFilter {
            start,
            end,
            campaign_id: self.campaign_id,
            agent_id: self.agent_id.clone(),
        }
    }
}

/// An IANA time zone name; UTC when absent.
fn take_tz(params: &mut Params) -> ApiResult<Tz> {
    match params.text("tz") {
        None => Ok(Tz::UTC),
        Some(name) => name.parse::<Tz>().map_err(|_| {
            ApiError::field(
                "tz",
                format!("unknown time zone {name:?}: use an IANA name such as America/New_York"),
            )
        }),
    }
}

fn take_agent(params: &mut Params) -> ApiResult<Option<String>> {
    let agent = params.text("agentId");
    if let Some(a) = &agent {
        sid("agentId", a)?;
    }
    Ok(agent)
}

impl AnalyticsQuery {
    /// What a cached answer of `report` for this query is keyed on: every field,
    /// defaults filled in.
    pub fn cache_key(&self, report: &str) -> serde_json::Value {
        serde_json::json!({
            "report": report,
            "startDate": self.start,
            "endDate": self.end,
            "tz": self.tz.name(),
            "groupBy": self.group_by.as_str(),
            "campaignId": self.campaign_id.map(|id| id.to_hex()),
            "agentId": self.agent_id,
        })
    }
}

impl OverviewQuery {
    /// What a cached overview for this query is keyed on.
    pub fn cache_key(&self) -> serde_json::Value {
        serde_json::json!({
            "tz": self.tz.name(),
            "campaignId": self.campaign_id.map(|id| id.to_hex()),
            "agentId": self.agent_id,
        })
    }
}
