//! Analytics as aggregation pipelines over `calls` (with `$lookup` of `transcripts` and
//! `callevents` where a query needs them), grouped in the server, never read whole.
//!
//! Written with operators the test stand-in (nx-27017) also evaluates correctly, where
//! MongoDB offers a choice: a date range is two `$and` conditions (nx-27017 ignores a
//! `$lt` on a Date beside `$gte`), time slots are `$dateToString` keys in UTC (its
//! `$dateTrunc` answers a string, and its `$subtract` of Dates is wrong), numbers are
//! tested with `$isNumber` (its `$type` answers "unknown"), and every `$group` has a
//! single-value `_id` (it does not evaluate a document `_id`).

use std::collections::BTreeMap;

use async_trait::async_trait;
use bson::{Bson, Document, doc};
use chrono::{NaiveDate, NaiveDateTime};
use futures::stream::TryStreamExt;
use outcall_domain::analytics::{
    CallCounts, DURATION_BUCKETS, DurationSummary, OutcomeCounts, SentimentCounts, SlotGrain,
};
use outcall_domain::call::{Call, CallStatus};
use outcall_domain::time::Timestamp;
use outcall_domain::{ObjectId, Page, PageRequest};
use outcall_store::undecodable::decode_items;
use outcall_store::{AnalyticsFilter, AnalyticsStore, EventWithCall, StoreError, StoreResult};

use crate::mapping::{self, CALLS, EVENTS, TRANSCRIPTS, date};
use crate::reads::Read;
use crate::{MongoStore, db_err};

/// `$match` of the filtered calls.
fn matching(filter: &AnalyticsFilter) -> Document {
    let mut all = Vec::<Bson>::new();
    if let Some(t) = filter.start {
        all.push(doc! {"createdAt": {"$gte": date(t)}}.into());
    }
    if let Some(t) = filter.end {
        all.push(doc! {"createdAt": {"$lt": date(t)}}.into());
    }
    if let Some(id) = filter.campaign_id {
        all.push(doc! {"campaignId": mapping::call_campaign(id)}.into());
    }
    if let Some(a) = &filter.agent_id {
        all.push(doc! {"agentId": a}.into());
    }
    if all.is_empty() {
        doc! {"$match": {}}
    } else {
        doc! {"$match": {"$and": all}}
    }
}

/// `Call::is_answered`: an `answerTime` (missing and null alike count as none), or `completed`.
fn answered() -> Bson {
    doc! {"$or": [
        {"$ne": [{"$ifNull": ["$answerTime", Bson::Null]}, Bson::Null]},
        {"$eq": ["$status", "completed"]},
    ]}
    .into()
}

/// The duration of an answered call that has one (0 or more), else null.
fn duration() -> Bson {
    doc! {"$cond": [
        {"$and": [answered(), {"$isNumber": "$duration"}, {"$gte": ["$duration", 0]}]},
        "$duration",
        Bson::Null,
    ]}
    .into()
}

fn count_if(condition: impl Into<Bson>) -> Document {
    doc! {"$sum": {"$cond": [condition.into(), 1, 0]}}
}

fn status_is(s: &str) -> Document {
    doc! {"$eq": ["$status", s]}
}

fn counts_group(key: impl Into<Bson>) -> Document {
    doc! {"$group": {
        "_id": key.into(),
        "total": {"$sum": 1},
        "completed": count_if(status_is("completed")),
        "answered": count_if(answered()),
        "failed": count_if(status_is("failed")),
        "busy": count_if(status_is("busy")),
        "noAnswer": count_if(status_is("no-answer")),
        "canceled": count_if(status_is("canceled")),
        "durationTotal": {"$sum": duration()},
        "durationCount": count_if(doc! {"$ne": [duration(), Bson::Null]}),
    }}
}

fn read_counts(d: &Document) -> CallCounts {
    CallCounts {
        total: count(d, "total"),
        completed: count(d, "completed"),
        answered: count(d, "answered"),
        failed: count(d, "failed"),
        busy: count(d, "busy"),
        no_answer: count(d, "noAnswer"),
        canceled: count(d, "canceled"),
        duration_total: int(d, "durationTotal").unwrap_or(0),
        duration_count: count(d, "durationCount"),
    }
}

/// A number as MongoDB may return it (int32, int64 or double).
fn int(d: &Document, key: &str) -> Option<i64> {
    match d.get(key)? {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        Bson::Double(n) => Some(n.round() as i64),
        _ => None,
    }
}

fn float(d: &Document, key: &str) -> f64 {
    match d.get(key) {
        Some(Bson::Int32(n)) => f64::from(*n),
        Some(Bson::Int64(n)) => *n as f64,
        Some(Bson::Double(n)) => *n,
        _ => 0.0,
    }
}

fn count(d: &Document, key: &str) -> u64 {
    int(d, key).unwrap_or(0).max(0) as u64
}

/// The UTC slot of `createdAt` as a `$dateToString` key.
fn slot_key(grain: SlotGrain) -> Document {
    doc! {"$dateToString": {"date": "$createdAt", "format": slot_format(grain)}}
}

fn slot_format(grain: SlotGrain) -> &'static str {
    match grain {
        SlotGrain::Minute => "%Y-%m-%dT%H:%M",
        SlotGrain::Hour => "%Y-%m-%dT%H",
        SlotGrain::Day => "%Y-%m-%d",
    }
}

fn parse_slot(d: &Document, grain: SlotGrain) -> StoreResult<Timestamp> {
    let key = d
        .get_str("_id")
        .map_err(|e| StoreError::Internal(format!("slot key: {e}")))?;
    let bad = |e: chrono::ParseError| StoreError::Internal(format!("slot key {key:?}: {e}"));
    let naive = match grain {
        SlotGrain::Day => NaiveDate::parse_from_str(key, "%Y-%m-%d")
            .map_err(bad)?
            .and_time(chrono::NaiveTime::MIN),
        SlotGrain::Hour => {
            NaiveDateTime::parse_from_str(&format!("{key}:00"), "%Y-%m-%dT%H:%M").map_err(bad)?
        }
        SlotGrain::Minute => NaiveDateTime::parse_from_str(key, "%Y-%m-%dT%H:%M").map_err(bad)?,
    };
    Ok(naive.and_utc())
}

fn live_statuses() -> Vec<&'static str> {
    CallStatus::ALL
        .iter()
        .filter(|s| s.is_live())
        .map(|s| s.as_str())
        .collect()
}

impl MongoStore {
    async fn aggregate_calls(&self, pipeline: Vec<Document>) -> StoreResult<Vec<Document>> {
        self.aggregate(CALLS.name, pipeline).await
    }

    async fn aggregate(
        &self,
        collection: &str,
        pipeline: Vec<Document>,
    ) -> StoreResult<Vec<Document>> {
        self.reads_named(collection, Read::Analytics)
            .aggregate(pipeline)
            .await
            .map_err(|e| db_err(e, &[]))?
            .try_collect()
            .await
            .map_err(|e| db_err(e, &[]))
    }

    /// The calls with these `callSid`s, by sid.
    async fn calls_by_sid(&self, sids: Vec<String>) -> StoreResult<BTreeMap<String, Call>> {
        if sids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let docs: Vec<Document> = self
            .reads(&CALLS, Read::Analytics)
            .find(doc! {"callSid": {"$in": sids}})
            .await
            .map_err(|e| db_err(e, &[]))?
            .try_collect()
            .await
            .map_err(|e| db_err(e, &[]))?;
        // An unreadable call is left out (its events show without it).
        let (calls, _) = decode_items(
            CALLS.name,
            docs.into_iter().map(|d| (mapping::doc_id(&d), d)),
            |d| mapping::from_document::<Call>(d, &CALLS),
        );
        Ok(calls.into_iter().map(|c| (c.call_sid.clone(), c)).collect())
    }
}

#[async_trait]
impl AnalyticsStore for MongoStore {
    async fn call_counts(&self, filter: &AnalyticsFilter) -> StoreResult<CallCounts> {
        let groups = self
            .aggregate_calls(vec![matching(filter), counts_group(Bson::Null)])
            .await?;
        Ok(groups.first().map(read_counts).unwrap_or_default())
    }

    async fn call_counts_by_slot(
        &self,
        filter: &AnalyticsFilter,
        grain: SlotGrain,
    ) -> StoreResult<Vec<(Timestamp, CallCounts)>> {
        let groups = self
            .aggregate_calls(vec![
                matching(filter),
                counts_group(slot_key(grain)),
                doc! {"$sort": {"_id": 1}},
            ])
            .await?;
        groups
            .iter()
            .map(|g| Ok((parse_slot(g, grain)?, read_counts(g))))
            .collect()
    }

    async fn duration_summary(&self, filter: &AnalyticsFilter) -> StoreResult<DurationSummary> {
        let mut group = doc! {
            "_id": Bson::Null,
            "count": count_if(doc! {"$ne": ["$d", Bson::Null]}),
            "total": {"$sum": "$d"},
            "min": {"$min": "$d"},
            "max": {"$max": "$d"},
        };
        for (i, (_, lo, hi)) in DURATION_BUCKETS.iter().enumerate() {
            let mut within = vec![
                Bson::from(doc! {"$ne": ["$d", Bson::Null]}),
                doc! {"$gte": ["$d", lo]}.into(),
            ];
            if let Some(hi) = hi {
                within.push(doc! {"$lt": ["$d", hi]}.into());
            }
            group.insert(format!("b{i}"), count_if(doc! {"$and": within}));
        }
        let groups = self
            .aggregate_calls(vec![
                matching(filter),
                doc! {"$project": {"d": duration()}},
                doc! {"$group": group},
            ])
            .await?;
        let Some(g) = groups.first() else {
            return Ok(DurationSummary::default());
        };
        let mut summary = DurationSummary {
            count: count(g, "count"),
            total: int(g, "total").unwrap_or(0),
            min: int(g, "min"),
            max: int(g, "max"),
            buckets: [0; 6],
        };
        for (i, b) in summary.buckets.iter_mut().enumerate() {
            *b = count(g, &format!("b{i}"));
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
        let found = self
            .aggregate_calls(vec![
                matching(filter),
                doc! {"$project": {"d": duration()}},
                doc! {"$match": {"d": {"$ne": Bson::Null}}},
                doc! {"$sort": {"d": 1}},
                doc! {"$skip": (rank - 1) as i64},
                doc! {"$limit": 1},
            ])
            .await?;
        Ok(found.first().and_then(|d| int(d, "d")))
    }

    async fn outcome_counts(&self, filter: &AnalyticsFilter) -> StoreResult<OutcomeCounts> {
        let by =
            |field: &str| vec![doc! {"$group": {"_id": format!("${field}"), "n": {"$sum": 1}}}];
        let facets = self
            .aggregate_calls(vec![
                matching(filter),
                doc! {"$facet": {
                    "status": by("status"),
                    "outcome": by("outcome"),
                    "answeredBy": by("answeredBy"),
                }},
            ])
            .await?;
        let read = |name: &str| -> BTreeMap<String, u64> {
            facets
                .first()
                .and_then(|f| f.get_array(name).ok())
                .into_iter()
                .flatten()
                .filter_map(|g| g.as_document())
                .filter_map(|g| Some((g.get_str("_id").ok()?.to_string(), count(g, "n"))))
                .collect()
        };
        let by_status = read("status");
        Ok(OutcomeCounts {
            total: by_status.values().sum(),
            by_status,
            by_outcome: read("outcome"),
            by_answered_by: read("answeredBy"),
        })
    }

    async fn sentiment_by_slot(
        &self,
        filter: &AnalyticsFilter,
        grain: SlotGrain,
    ) -> StoreResult<Vec<(Timestamp, SentimentCounts)>> {
        let label = "$t.sentiment.label";
        let groups = self
            .aggregate_calls(vec![
                matching(filter),
                doc! {"$project": {"callSid": 1, "createdAt": 1}},
                doc! {"$lookup": {
                    "from": TRANSCRIPTS.name,
                    "localField": "callSid",
                    "foreignField": "callSid",
                    "as": "t",
                }},
                doc! {"$unwind": "$t"},
                doc! {"$group": {
                    "_id": slot_key(grain),
                    "count": count_if(doc! {"$in": [label, ["positive", "neutral", "negative"]]}),
                    "score": {"$sum": "$t.sentiment.score"},
                    "positive": count_if(doc! {"$eq": [label, "positive"]}),
                    "neutral": count_if(doc! {"$eq": [label, "neutral"]}),
                    "negative": count_if(doc! {"$eq": [label, "negative"]}),
                }},
                doc! {"$sort": {"_id": 1}},
            ])
            .await?;
        groups
            .iter()
            .filter(|g| count(g, "count") > 0)
            .map(|g| {
                Ok((
                    parse_slot(g, grain)?,
                    SentimentCounts {
                        count: count(g, "count"),
                        score_total: float(g, "score"),
                        positive: count(g, "positive"),
                        neutral: count(g, "neutral"),
                        negative: count(g, "negative"),
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
        let mut query = doc! {"status": {"$in": live_statuses()}};
        if let Some(id) = filter.campaign_id {
            query.insert("campaignId", mapping::call_campaign(id));
        }
        if let Some(a) = &filter.agent_id {
            query.insert("agentId", a);
        }
        let coll = self.reads(&CALLS, Read::Analytics);
        let total = coll
            .count_documents(query.clone())
            .await
            .map_err(|e| db_err(e, &[]))?;
        let docs: Vec<Document> = coll
            .find(query)
            .sort(doc! {"createdAt": -1, "_id": -1})
            .limit(i64::from(limit))
            .await
            .map_err(|e| db_err(e, &[]))?
            .try_collect()
            .await
            .map_err(|e| db_err(e, &[]))?;
        let (calls, _) = decode_items(
            CALLS.name,
            docs.into_iter().map(|d| (mapping::doc_id(&d), d)),
            |d| mapping::from_document(d, &CALLS),
        );
        Ok((calls, total))
    }

    async fn recent_events(
        &self,
        campaign_id: Option<ObjectId>,
        page: &PageRequest,
    ) -> StoreResult<Page<EventWithCall>> {
        let (docs, total) = match campaign_id {
            None => {
                let coll = self.reads(&EVENTS, Read::Analytics);
                let total = coll
                    .count_documents(doc! {})
                    .await
                    .map_err(|e| db_err(e, &[]))?;
                let docs: Vec<Document> = coll
                    .find(doc! {})
                    .sort(doc! {"timestamp": -1, "_id": -1})
                    .skip(page.offset())
                    .limit(i64::from(page.limit))
                    .await
                    .map_err(|e| db_err(e, &[]))?
                    .try_collect()
                    .await
                    .map_err(|e| db_err(e, &[]))?;
                (docs, total)
            }
            // The campaign is on the call: from the campaign's calls (index
            // campaignId_1_createdAt_-1) to their events (callSid_1_timestamp_1).
            Some(id) => {
                let facet = self
                    .aggregate_calls(vec![
                        doc! {"$match": {"campaignId": mapping::call_campaign(id)}},
                        doc! {"$project": {"callSid": 1}},
                        doc! {"$lookup": {
                            "from": EVENTS.name,
                            "localField": "callSid",
                            "foreignField": "callSid",
                            "as": "e",
                        }},
                        doc! {"$unwind": "$e"},
                        doc! {"$replaceRoot": {"newRoot": "$e"}},
                        doc! {"$sort": {"timestamp": -1, "_id": -1}},
                        doc! {"$facet": {
                            "total": [{"$count": "n"}],
                            "items": [{"$skip": page.offset() as i64}, {"$limit": i64::from(page.limit)}],
                        }},
                    ])
                    .await?;
                let first = facet.into_iter().next().unwrap_or_default();
                let total = first
                    .get_array("total")
                    .ok()
                    .and_then(|a| a.first())
                    .and_then(Bson::as_document)
                    .map_or(0, |d| count(d, "n"));
                let items = first
                    .get_array("items")
                    .map(|a| a.iter().filter_map(|b| b.as_document().cloned()).collect())
                    .unwrap_or_default();
                (items, total)
            }
        };
        let events = docs.into_iter().map(|d| (mapping::doc_id(&d), d));
        let (events, skipped) = decode_items(EVENTS.name, events, |d| {
            mapping::from_document::<outcall_domain::event::CallEvent>(d, &EVENTS)
        });
        let calls = self
            .calls_by_sid(events.iter().map(|e| e.call_sid.clone()).collect())
            .await?;
        let items = events
            .into_iter()
            .map(|event| EventWithCall {
                call: calls.get(&event.call_sid).cloned(),
                event,
            })
            .collect();
        Ok(Page {
            items,
            page: page.page,
            limit: page.limit,
            total,
            skipped,
        })
    }
}
