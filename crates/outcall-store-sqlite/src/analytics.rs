//! Analytics queries: one aggregate statement each, over the indexed `created_at`,
//! `campaign_id` and `agent_id` columns and the generated columns of migration 0040
//! (`answered`, `duration_secs`, `outcome`, `answered_by`), which one covering index
//! holds, so a report reads the index, not the documents.

use async_trait::async_trait;
use outcall_domain::analytics::{
    CallCounts, DURATION_BUCKETS, DurationSummary, OutcomeCounts, SentimentCounts, SlotGrain,
};
use outcall_domain::call::{Call, CallStatus};
use outcall_domain::event::CallEvent;
use outcall_domain::time::Timestamp;
use outcall_domain::{ObjectId, Page, PageRequest};
use outcall_store::undecodable::decode_items;
use outcall_store::{AnalyticsFilter, AnalyticsStore, EventWithCall, StoreResult};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::SqliteStore;
use crate::rows::{db_err, decode, millis};

/// The answered test of `Call::is_answered`, on a `calls` row aliased `c`.
const ANSWERED: &str = "c.answered";
/// The duration of an answered call that has one, else NULL.
const DURATION: &str = "c.duration_secs";

fn push_filter(filter: &AnalyticsFilter, q: &mut QueryBuilder<'_, Sqlite>) {
    if let Some(t) = filter.start {
        q.push(" AND c.created_at >= ").push_bind(millis(t));
    }
    if let Some(t) = filter.end {
        q.push(" AND c.created_at < ").push_bind(millis(t));
    }
    if let Some(id) = filter.campaign_id {
        q.push(" AND c.campaign_id = ").push_bind(id.to_hex());
    }
    if let Some(a) = &filter.agent_id {
        q.push(" AND c.agent_id = ").push_bind(a.clone());
    }
}

/// `calls c`, steered to the covering report index when nothing narrows the calls but
/// their creation time: SQLite's planner does not count an index of virtual columns
/// as covering, and left alone scans the documents (2 s instead of 0.2 s over 10^6
/// calls, dashboard-bench). A campaign or agent filter keeps its own index.
fn report_calls(filter: &AnalyticsFilter) -> &'static str {
    if filter.campaign_id.is_none() && filter.agent_id.is_none() {
        "calls c INDEXED BY calls_created_report"
    } else {
        "calls c"
    }
}

/// [`push_filter`], plus an always-true lower bound on `created_at` without a start, so
/// the report index is searched by its first column.
fn push_report_filter(filter: &AnalyticsFilter, q: &mut QueryBuilder<'_, Sqlite>) {
    if filter.start.is_none() && filter.campaign_id.is_none() && filter.agent_id.is_none() {
        q.push(" AND c.created_at >= ").push_bind(i64::MIN);
    }
    push_filter(filter, q);
}

fn counts_columns() -> String {
    format!(
        "COUNT(*), COALESCE(SUM(c.status = 'completed'), 0), COALESCE(SUM({ANSWERED}), 0), \
         COALESCE(SUM(c.status = 'failed'), 0), COALESCE(SUM(c.status = 'busy'), 0), \
         COALESCE(SUM(c.status = 'no-answer'), 0), COALESCE(SUM(c.status = 'canceled'), 0), \
         COALESCE(SUM({DURATION}), 0), COUNT({DURATION})"
    )
}

fn read_counts(row: &sqlx::sqlite::SqliteRow, from: usize) -> StoreResult<CallCounts> {
    let n = |i: usize| -> StoreResult<i64> { row.try_get::<i64, _>(from + i).map_err(db_err) };
    Ok(CallCounts {
        total: n(0)? as u64,
        completed: n(1)? as u64,
        answered: n(2)? as u64,
        failed: n(3)? as u64,
        busy: n(4)? as u64,
        no_answer: n(5)? as u64,
        canceled: n(6)? as u64,
        duration_total: n(7)?,
        duration_count: n(8)? as u64,
    })
}

fn slot_time(ms: i64) -> StoreResult<Timestamp> {
    chrono::DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| outcall_store::StoreError::Internal(format!("bad slot {ms}")))
}

#[async_trait]
impl AnalyticsStore for SqliteStore {
    async fn call_counts(&self, filter: &AnalyticsFilter) -> StoreResult<CallCounts> {
        let mut q = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {} FROM {} WHERE 1=1",
            counts_columns(),
            report_calls(filter)
        ));
        push_report_filter(filter, &mut q);
        let row = q.build().fetch_one(&self.reader).await.map_err(db_err)?;
        read_counts(&row, 0)
    }

    async fn call_counts_by_slot(
        &self,
        filter: &AnalyticsFilter,
        grain: SlotGrain,
    ) -> StoreResult<Vec<(Timestamp, CallCounts)>> {
        let g = grain.millis();
        let mut q = QueryBuilder::<Sqlite>::new(format!(
            "SELECT (c.created_at / {g}) * {g} AS slot, {} FROM {} WHERE 1=1",
            counts_columns(),
            report_calls(filter)
        ));
        push_report_filter(filter, &mut q);
        q.push(" GROUP BY slot ORDER BY slot");
        let rows = q.build().fetch_all(&self.reader).await.map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok((
                    slot_time(r.try_get(0).map_err(db_err)?)?,
                    read_counts(r, 1)?,
                ))
            })
            .collect()
    }

    async fn duration_summary(&self, filter: &AnalyticsFilter) -> StoreResult<DurationSummary> {
        let buckets: Vec<String> = DURATION_BUCKETS
            .iter()
            .map(|(_, lo, hi)| match hi {
                Some(hi) => format!("COALESCE(SUM(d >= {lo} AND d < {hi}), 0)"),
                None => format!("COALESCE(SUM(d >= {lo}), 0)"),
            })
            .collect();
        let mut q = QueryBuilder::<Sqlite>::new(format!(
            "SELECT COUNT(d), COALESCE(SUM(d), 0), MIN(d), MAX(d), {} FROM \
             (SELECT {DURATION} AS d FROM {} WHERE 1=1",
            buckets.join(", "),
            report_calls(filter)
        ));
        push_report_filter(filter, &mut q);
        q.push(") WHERE d IS NOT NULL");
        let row = q.build().fetch_one(&self.reader).await.map_err(db_err)?;
        let mut summary = DurationSummary {
            count: row.try_get::<i64, _>(0).map_err(db_err)? as u64,
            total: row.try_get(1).map_err(db_err)?,
            min: row.try_get(2).map_err(db_err)?,
            max: row.try_get(3).map_err(db_err)?,
            buckets: [0; 6],
        };
        for (i, b) in summary.buckets.iter_mut().enumerate() {
            *b = row.try_get::<i64, _>(4 + i).map_err(db_err)? as u64;
        }
        Ok(summary)
    }

    async fn duration_at_rank(
        &self,
        filter: &AnalyticsFilter,
        rank: u64,
    ) -> StoreResult<Option<i64>> {
        if rank == 0 {
            return Ok(None);
        }
        let mut q = QueryBuilder::<Sqlite>::new(format!(
            "SELECT d FROM (SELECT {DURATION} AS d FROM calls c WHERE 1=1"
        ));
        push_filter(filter, &mut q);
        q.push(") WHERE d IS NOT NULL ORDER BY d LIMIT 1 OFFSET ")
            .push_bind((rank - 1) as i64);
        q.build_query_scalar::<i64>()
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)
    }

    async fn outcome_counts(&self, filter: &AnalyticsFilter) -> StoreResult<OutcomeCounts> {
        // One pass over the report index (it holds all three fields), folded here.
        let mut q = QueryBuilder::<Sqlite>::new(format!(
            "SELECT c.status, c.outcome, c.answered_by, COUNT(*) FROM {} WHERE 1=1",
            report_calls(filter)
        ));
        push_report_filter(filter, &mut q);
        q.push(" GROUP BY 1, 2, 3");
        let rows: Vec<(String, Option<String>, Option<String>, i64)> = q
            .build_query_as()
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        let mut counts = OutcomeCounts::default();
        for (status, outcome, answered_by, n) in rows {
            let n = n as u64;
            counts.total += n;
            *counts.by_status.entry(status).or_default() += n;
            if let Some(o) = outcome {
                *counts.by_outcome.entry(o).or_default() += n;
            }
            if let Some(a) = answered_by {
                *counts.by_answered_by.entry(a).or_default() += n;
            }
        }
        Ok(counts)
    }

    async fn sentiment_by_slot(
        &self,
        filter: &AnalyticsFilter,
        grain: SlotGrain,
    ) -> StoreResult<Vec<(Timestamp, SentimentCounts)>> {
        let g = grain.millis();
        let label = "json_extract(t.doc, '$.sentiment.label')";
        let mut q = QueryBuilder::<Sqlite>::new(format!(
            "SELECT (c.created_at / {g}) * {g} AS slot, COUNT(*), \
             TOTAL(json_extract(t.doc, '$.sentiment.score')), \
             COALESCE(SUM({label} = 'positive'), 0), COALESCE(SUM({label} = 'neutral'), 0), \
             COALESCE(SUM({label} = 'negative'), 0) \
             FROM calls c JOIN transcripts t ON t.call_sid = c.call_sid \
             WHERE {label} IS NOT NULL"
        ));
        push_filter(filter, &mut q);
        q.push(" GROUP BY slot ORDER BY slot");
        let rows = q.build().fetch_all(&self.reader).await.map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let n = |i: usize| -> StoreResult<u64> {
                    Ok(r.try_get::<i64, _>(i).map_err(db_err)? as u64)
                };
                Ok((
                    slot_time(r.try_get(0).map_err(db_err)?)?,
                    SentimentCounts {
                        count: n(1)?,
                        score_total: r.try_get(2).map_err(db_err)?,
                        positive: n(3)?,
                        neutral: n(4)?,
                        negative: n(5)?,
                    },
                ))
            })
            .collect()
    }

    async fn live_calls(
        &self,
        filter: &AnalyticsFilter,
        limit: u32,
    ) -> StoreResult<(Vec<Call>, u64)> {
        let undated = AnalyticsFilter {
            start: None,
            end: None,
            ..filter.clone()
        };
        let live = CallStatus::ALL
            .iter()
            .filter(|s| s.is_live())
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let mut count = QueryBuilder::<Sqlite>::new(format!(
            "SELECT COUNT(*) FROM calls c WHERE c.status IN ({live})"
        ));
        push_filter(&undated, &mut count);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.reader)
            .await
            .map_err(db_err)?;
        let mut select = QueryBuilder::<Sqlite>::new(format!(
            "SELECT c.id, c.doc FROM calls c WHERE c.status IN ({live})"
        ));
        push_filter(&undated, &mut select);
        select
            .push(" ORDER BY c.created_at DESC, c.rowid DESC LIMIT ")
            .push_bind(i64::from(limit));
        let docs: Vec<(String, String)> = select
            .build_query_as()
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        let (calls, _) = decode_items("calls", docs, |d| decode(&d));
        Ok((calls, total as u64))
    }

    async fn recent_events(
        &self,
        campaign_id: Option<ObjectId>,
        page: &PageRequest,
    ) -> StoreResult<Page<EventWithCall>> {
        let campaign = campaign_id.map(|id| id.to_hex());
        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM callevents e");
        if let Some(id) = &campaign {
            count
                .push(" JOIN calls c ON c.call_sid = e.call_sid WHERE c.campaign_id = ")
                .push_bind(id.clone());
        }
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.reader)
            .await
            .map_err(db_err)?;
        let mut select = QueryBuilder::<Sqlite>::new(
            "SELECT e.id, e.doc, c.id, c.doc FROM callevents e LEFT JOIN calls c ON c.call_sid = e.call_sid",
        );
        if let Some(id) = &campaign {
            select.push(" WHERE c.campaign_id = ").push_bind(id.clone());
        }
        select
            .push(" ORDER BY e.timestamp DESC, e.rowid DESC LIMIT ")
            .push_bind(i64::from(page.limit))
            .push(" OFFSET ")
            .push_bind(page.offset() as i64);
        type EventRow = (String, String, Option<String>, Option<String>);
        let rows: Vec<EventRow> = select
            .build_query_as()
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        let (items, skipped) = decode_items(
            "callevents",
            rows.into_iter().map(|(id, e, cid, c)| (id, (e, cid, c))),
            |(e, cid, c)| {
                // An unreadable call leaves its event in the feed, without the call.
                let call = match (cid, c) {
                    (Some(id), Some(c)) => decode_items("calls", [(id, c)], |c| decode::<Call>(&c))
                        .0
                        .pop(),
                    _ => None,
                };
                Ok(EventWithCall {
                    event: decode::<CallEvent>(&e)?,
                    call,
                })
            },
        );
        Ok(Page {
            items,
            page: page.page,
            limit: page.limit,
            total: total as u64,
            skipped,
        })
    }
}
