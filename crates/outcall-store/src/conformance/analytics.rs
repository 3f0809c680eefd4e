//! Checks of [`AnalyticsStore`](crate::analytics::AnalyticsStore) on one fixed data set
//! of fourteen calls (every status, answered with and without a duration, two agents,
//! one campaign), four sentiments and five events, with the exact expected answers.
//!
//! Stores stamp `createdAt` themselves, so slots are checked against the times the
//! store wrote; the local-time folding of slots (DST, weeks, half-hour zones) is pure
//! and checked with fixed times in `outcall_domain::analytics`.

use std::collections::BTreeMap;

use chrono::TimeDelta;
use outcall_domain::ObjectId;
use outcall_domain::analytics::{SentimentCounts, SlotGrain};
use outcall_domain::call::{Call, CallOutcome, CallStatus};
use outcall_domain::event::CallEvent;
use outcall_domain::page::{PageRequest, Sort};
use outcall_domain::time::{self, Timestamp};
use outcall_domain::transcript::{Sentiment, SentimentLabel, Transcript};
use serde_json::Map;

use super::{Check, DynStore};
use crate::analytics::AnalyticsFilter;

pub(super) fn checks() -> Vec<Check> {
    vec![
        crate::check!(call_counts_count_each_status_and_answered_durations),
        crate::check!(call_counts_by_slot_group_by_the_stored_created_at),
        crate::check!(analytics_dates_are_inclusive_start_exclusive_end),
        crate::check!(analytics_filter_by_agent),
        crate::check!(analytics_filter_by_campaign),
        crate::check!(duration_summary_and_nearest_ranks_are_exact),
        crate::check!(outcome_counts_key_by_stored_values),
        crate::check!(sentiment_by_slot_counts_labels_and_scores),
        crate::check!(live_calls_are_the_calls_still_on_a_line),
        crate::check!(recent_events_are_newest_first_with_their_calls),
        crate::check!(recent_events_of_a_campaign),
    ]
}

/// The campaign of the data set.
fn campaign() -> ObjectId {
    "65a000000000000000000001"
        .parse()
        .expect("BUG: a valid ObjectId")
}

/// (callSid, status, answered, duration, answeredBy, outcome, agentId, in the campaign)
type Row = (
    &'static str,
    CallStatus,
    bool,
    Option<i64>,
    Option<&'static str>,
    Option<CallOutcome>,
    Option<&'static str>,
    bool,
);

use CallOutcome as O;
use CallStatus as S;

const A: Option<&str> = Some("agent_a");
const B: Option<&str> = Some("agent_b");
const HUMAN: Option<&str> = Some("human");

#[rustfmt::skip]
const DATA: [Row; 14] = [
    ("CAan01", S::Completed, true, Some(30), HUMAN, Some(O::Held), A, true),
    ("CAan02", S::Completed, true, Some(0), HUMAN, Some(O::Held), A, false),
    ("CAan03", S::Completed, true, Some(600), Some("machine_start"), Some(O::Voicemail), B, true),
    ("CAan04", S::Completed, true, Some(59), HUMAN, Some(O::Held), B, false),
    ("CAan05", S::Completed, true, Some(125), HUMAN, Some(O::Held), A, true),
    ("CAan06", S::Completed, true, Some(125), HUMAN, Some(O::Held), A, false),
    ("CAan07", S::Completed, true, Some(599), HUMAN, Some(O::Held), B, false),
    // Answered and still talking: answered, but no duration yet.
    ("CAan08", S::InProgress, true, None, HUMAN, None, A, true),
    // Not answered: its duration does not count.
    ("CAan09", S::Busy, false, Some(0), None, Some(O::Busy), B, false),
    ("CAan10", S::NoAnswer, false, None, None, Some(O::NoAnswer), A, true),
    ("CAan11", S::Failed, false, None, None, Some(O::Failed), B, false),
    ("CAan12", S::Canceled, false, None, None, Some(O::Canceled), None, false),
    ("CAan13", S::Ringing, false, None, None, None, A, true),
    ("CAan14", S::Initiated, false, None, None, None, None, false),
];

/// Inserts the data set in order; returns the calls as stored.
async fn seed(store: &DynStore) -> Vec<Call> {
    let mut stored = Vec::new();
    for &(sid, status, answered, duration, answered_by, outcome, agent, in_campaign) in &DATA {
        let mut c = Call::new(sid, "+15005550006", "+14155552671");
        c.status = status;
        if answered {
            c.answer_time = Some(time::now());
        }
        c.duration = duration;
        c.answered_by = answered_by.map(str::to_string);
        c.outcome = outcome;
        c.agent_id = agent.map(str::to_string);
        c.campaign_id = in_campaign.then(campaign);
        stored.push(store.insert_call(c).await.expect("insert call"));
    }
    stored
}

fn all() -> AnalyticsFilter {
    AnalyticsFilter::default()
}

async fn call_counts_count_each_status_and_answered_durations(store: DynStore) {
    seed(&store).await;
    let c = store.call_counts(&all()).await.expect("counts");
    assert_eq!(
        (
            c.total,
            c.completed,
            c.answered,
            c.failed,
            c.busy,
            c.no_answer,
            c.canceled
        ),
        (14, 7, 8, 1, 1, 1, 1)
    );
    assert_eq!((c.duration_total, c.duration_count), (1538, 7));
}

async fn call_counts_by_slot_group_by_the_stored_created_at(store: DynStore) {
    let calls = seed(&store).await;
    for grain in [SlotGrain::Minute, SlotGrain::Hour, SlotGrain::Day] {
        let mut expected: BTreeMap<Timestamp, u64> = BTreeMap::new();
        for c in &calls {
            *expected.entry(grain.floor(c.created_at)).or_default() += 1;
        }
        let slots = store
            .call_counts_by_slot(&all(), grain)
            .await
            .expect("slots");
        let got: BTreeMap<Timestamp, u64> = slots.iter().map(|(t, c)| (*t, c.total)).collect();
        assert_eq!(got, expected, "{grain:?}");
        assert!(slots.windows(2).all(|w| w[0].0 < w[1].0), "in slot order");
        let completed: u64 = slots.iter().map(|(_, c)| c.completed).sum();
        let durations: i64 = slots.iter().map(|(_, c)| c.duration_total).sum();
        assert_eq!((completed, durations), (7, 1538), "{grain:?}");
    }
}

async fn analytics_dates_are_inclusive_start_exclusive_end(store: DynStore) {
    let calls = seed(&store).await;
    let first = calls.iter().map(|c| c.created_at).min().expect("calls");
    let last = calls.iter().map(|c| c.created_at).max().expect("calls");
    let between = |start: Option<Timestamp>, end: Option<Timestamp>| AnalyticsFilter {
        start,
        end,
        ..AnalyticsFilter::default()
    };
    let total = |f: AnalyticsFilter| {
        let store = store.clone();
        async move { store.call_counts(&f).await.expect("counts").total }
    };
    assert_eq!(
        total(between(Some(first), None)).await,
        14,
        "start inclusive"
    );
    assert_eq!(
        total(between(None, Some(last + TimeDelta::milliseconds(1)))).await,
        14
    );
    assert_eq!(total(between(None, Some(first))).await, 0, "end exclusive");
    assert_eq!(
        total(between(Some(last + TimeDelta::milliseconds(1)), None)).await,
        0
    );
    let expected_before_last = calls.iter().filter(|c| c.created_at < last).count() as u64;
    assert_eq!(
        total(between(Some(first), Some(last))).await,
        expected_before_last
    );
}

async fn analytics_filter_by_agent(store: DynStore) {
    seed(&store).await;
    let b = AnalyticsFilter {
        agent_id: Some("agent_b".into()),
        ..all()
    };
    let c = store.call_counts(&b).await.expect("counts");
    assert_eq!(
        (c.total, c.completed, c.answered, c.busy, c.failed),
        (5, 3, 3, 1, 1)
    );
    let d = store.duration_summary(&b).await.expect("durations");
    assert_eq!(
        (d.count, d.total, d.min, d.max),
        (3, 1258, Some(59), Some(600))
    );
    assert_eq!(
        store.duration_at_rank(&b, 2).await.expect("rank"),
        Some(599)
    );
    let o = store.outcome_counts(&b).await.expect("outcomes");
    assert_eq!(o.total, 5);
    assert_eq!(o.by_outcome.get("voicemail"), Some(&1));
    let none = AnalyticsFilter {
        agent_id: Some("agent_z".into()),
        ..all()
    };
    assert_eq!(store.call_counts(&none).await.expect("counts").total, 0);
}

async fn analytics_filter_by_campaign(store: DynStore) {
    seed(&store).await;
    seed_sentiments(&store).await;
    let a = AnalyticsFilter {
        campaign_id: Some(campaign()),
        ..all()
    };
    let c = store.call_counts(&a).await.expect("counts");
    assert_eq!(
        (
            c.total,
            c.completed,
            c.answered,
            c.no_answer,
            c.duration_total,
            c.duration_count
        ),
        (6, 3, 4, 1, 755, 3)
    );
    let (live, n) = store.live_calls(&a, 10).await.expect("live");
    assert_eq!(n, 2);
    let mut sids: Vec<&str> = live.iter().map(|c| c.call_sid.as_str()).collect();
    sids.sort();
    assert_eq!(sids, ["CAan08", "CAan13"]);
    let s = sentiment_total(&store, &a).await;
    assert_eq!((s.count, s.positive, s.neutral, s.negative), (3, 2, 1, 0));
    assert!((s.score_total - 1.3).abs() < 1e-9, "{}", s.score_total);
}

async fn duration_summary_and_nearest_ranks_are_exact(store: DynStore) {
    seed(&store).await;
    let d = store.duration_summary(&all()).await.expect("durations");
    assert_eq!(
        (d.count, d.total, d.min, d.max),
        (7, 1538, Some(0), Some(600))
    );
    // 0 | 30 59 | – | 125 125 | 599 | 600: edges belong to the bucket they start.
    assert_eq!(d.buckets, [1, 2, 0, 2, 1, 1]);
    // Sorted: 0 30 59 125 125 599 600.
    let mut ranks = Vec::new();
    for rank in [1, 2, 4, 7, 8] {
        ranks.push(store.duration_at_rank(&all(), rank).await.expect("rank"));
    }
    assert_eq!(ranks, [Some(0), Some(30), Some(125), Some(600), None]);

    let none = AnalyticsFilter {
        agent_id: Some("agent_z".into()),
        ..all()
    };
    let empty = store.duration_summary(&none).await.expect("empty");
    assert_eq!(
        (empty.count, empty.total, empty.min, empty.max),
        (0, 0, None, None)
    );
    assert_eq!(store.duration_at_rank(&none, 1).await.expect("rank"), None);
}

async fn outcome_counts_key_by_stored_values(store: DynStore) {
    seed(&store).await;
    let o = store.outcome_counts(&all()).await.expect("outcomes");
    let map = |pairs: &[(&str, u64)]| -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    };
    assert_eq!(o.total, 14);
    assert_eq!(
        o.by_status,
        map(&[
            ("busy", 1),
            ("canceled", 1),
            ("completed", 7),
            ("failed", 1),
            ("in-progress", 1),
            ("initiated", 1),
            ("no-answer", 1),
            ("ringing", 1),
        ])
    );
    assert_eq!(
        o.by_outcome,
        map(&[
            ("busy", 1),
            ("canceled", 1),
            ("failed", 1),
            ("held", 6),
            ("no-answer", 1),
            ("voicemail", 1),
        ])
    );
    assert_eq!(o.by_answered_by, map(&[("human", 7), ("machine_start", 1)]));
}

/// Sentiments on four transcripts, a transcript without one, and calls without any.
async fn seed_sentiments(store: &DynStore) {
    let with = |sid: &str, label: SentimentLabel, score: f64| {
        let mut t = Transcript::new(sid);
        t.sentiment = Some(Sentiment { label, score });
        t
    };
    for t in [
        with("CAan01", SentimentLabel::Positive, 0.8),
        with("CAan02", SentimentLabel::Negative, -0.6),
        with("CAan03", SentimentLabel::Neutral, 0.0),
        with("CAan05", SentimentLabel::Positive, 0.5),
        Transcript::new("CAan08"),
    ] {
        store.insert_transcript(t).await.expect("insert transcript");
    }
}

async fn sentiment_total(store: &DynStore, filter: &AnalyticsFilter) -> SentimentCounts {
    let mut total = SentimentCounts::default();
    for (_, s) in store
        .sentiment_by_slot(filter, SlotGrain::Day)
        .await
        .expect("sentiment")
    {
        total += &s;
    }
    total
}

async fn sentiment_by_slot_counts_labels_and_scores(store: DynStore) {
    let calls = seed(&store).await;
    seed_sentiments(&store).await;
    let s = sentiment_total(&store, &all()).await;
    assert_eq!((s.count, s.positive, s.neutral, s.negative), (4, 2, 1, 1));
    assert!((s.score_total - 0.7).abs() < 1e-9, "{}", s.score_total);
    // Slotted by the call's createdAt.
    let slots = store
        .sentiment_by_slot(&all(), SlotGrain::Minute)
        .await
        .expect("slots");
    let mut expected: BTreeMap<Timestamp, u64> = BTreeMap::new();
    for c in calls
        .iter()
        .filter(|c| ["CAan01", "CAan02", "CAan03", "CAan05"].contains(&c.call_sid.as_str()))
    {
        *expected
            .entry(SlotGrain::Minute.floor(c.created_at))
            .or_default() += 1;
    }
    let got: BTreeMap<Timestamp, u64> = slots.iter().map(|(t, s)| (*t, s.count)).collect();
    assert_eq!(got, expected);
}

async fn live_calls_are_the_calls_still_on_a_line(store: DynStore) {
    seed(&store).await;
    let (live, n) = store.live_calls(&all(), 10).await.expect("live");
    assert_eq!(n, 3);
    let mut sids: Vec<&str> = live.iter().map(|c| c.call_sid.as_str()).collect();
    sids.sort();
    assert_eq!(sids, ["CAan08", "CAan13", "CAan14"]);
    assert!(
        live.windows(2).all(|w| w[0].created_at >= w[1].created_at),
        "newest first"
    );
    let (two, n) = store.live_calls(&all(), 2).await.expect("live");
    assert_eq!((two.len(), n), (2, 3), "limited, with the full count");
    // Dates do not narrow the live calls: a call started long ago may still be on.
    let dated = AnalyticsFilter {
        start: Some(time::now() + TimeDelta::days(1)),
        ..all()
    };
    assert_eq!(store.live_calls(&dated, 10).await.expect("live").1, 3);
}

/// Events of three calls and of a call no longer stored, at given times.
async fn seed_events(store: &DynStore) -> Timestamp {
    let t0 = time::now() - TimeDelta::minutes(10);
    for (sid, secs, kind) in [
        ("CAan01", 0, "initiated"),
        ("CAan03", 1, "initiated"),
        ("CAan12", 2, "canceled"),
        ("CAan01", 3, "completed"),
        ("CAgone", 4, "dtmf"),
    ] {
        let mut e = CallEvent::new(sid, kind, Map::new());
        e.timestamp = t0 + TimeDelta::seconds(secs);
        store.insert_event(e).await.expect("insert event");
    }
    t0
}

fn page(n: i64, limit: i64) -> PageRequest {
    PageRequest::new(Some(n), Some(limit), Sort::desc("timestamp"))
        .expect("BUG: the check asks for a valid page")
}

async fn recent_events_are_newest_first_with_their_calls(store: DynStore) {
    seed(&store).await;
    let t0 = seed_events(&store).await;
    let got = store.recent_events(None, &page(1, 10)).await.expect("feed");
    assert_eq!(got.total, 5);
    let seen: Vec<(&str, i64, Option<&str>)> = got
        .items
        .iter()
        .map(|i| {
            (
                i.event.call_sid.as_str(),
                (i.event.timestamp - t0).num_seconds(),
                i.call.as_ref().map(|c| c.to.as_str()),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("CAgone", 4, None),
            ("CAan01", 3, Some("+14155552671")),
            ("CAan12", 2, Some("+14155552671")),
            ("CAan03", 1, Some("+14155552671")),
            ("CAan01", 0, Some("+14155552671")),
        ]
    );
    let second = store.recent_events(None, &page(2, 2)).await.expect("feed");
    let sids: Vec<&str> = second
        .items
        .iter()
        .map(|i| i.event.call_sid.as_str())
        .collect();
    assert_eq!((second.total, sids), (5, vec!["CAan12", "CAan03"]));
}

async fn recent_events_of_a_campaign(store: DynStore) {
    seed(&store).await;
    let t0 = seed_events(&store).await;
    let got = store
        .recent_events(Some(campaign()), &page(1, 10))
        .await
        .expect("feed");
    let seen: Vec<(&str, i64)> = got
        .items
        .iter()
        .map(|i| {
            (
                i.event.call_sid.as_str(),
                (i.event.timestamp - t0).num_seconds(),
            )
        })
        .collect();
    assert_eq!(got.total, 3);
    assert_eq!(seen, [("CAan01", 3), ("CAan03", 1), ("CAan01", 0)]);
    assert!(
        got.items
            .iter()
            .all(|i| i.call.as_ref().and_then(|c| c.campaign_id) == Some(campaign()))
    );
}
