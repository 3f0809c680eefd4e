//! Analytics: what the stores count, and the rules that turn their counts into answers.
//!
//! Time zones and DST are handled here, once, for every store. A store never sees a
//! time zone: it groups by UTC *slots* (minute, hour or day since the Unix epoch), and
//! [`BucketGrid::fold`] adds the slots into the caller's local buckets. The grid's
//! edges are the instants where a local hour, day or week (Monday) starts, computed
//! with chrono-tz; the slot grain is the coarsest one that divides every edge
//! ([`BucketGrid::slot_grain`]), so each slot lies wholly inside one bucket. That is
//! exact across DST changes (a local day of 23 or 25 hours is 23 or 25 hour slots) and
//! in zones whose offset is not whole hours (Asia/Kolkata's days start at 18:30 UTC:
//! minute slots), where grouping by UTC hour would split a local day wrongly.

use std::collections::BTreeMap;
use std::ops::AddAssign;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike,
};
use chrono_tz::Tz;
use serde::Serialize;

use crate::time::Timestamp;

/// Most buckets one answer may have: a chart of more is a mistake, not a question.
pub const MAX_BUCKETS: usize = 2000;

/// The width of a UTC slot a store groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotGrain {
    Minute,
    Hour,
    Day,
}

impl SlotGrain {
    pub fn millis(self) -> i64 {
        match self {
            Self::Minute => 60_000,
            Self::Hour => 3_600_000,
            Self::Day => 86_400_000,
        }
    }

    /// The start of the slot holding `t`.
    pub fn floor(self, t: Timestamp) -> Timestamp {
        let ms = t.timestamp_millis();
        let g = self.millis();
        DateTime::from_timestamp_millis(ms - ms.rem_euclid(g)).unwrap_or(t)
    }
}

/// The local bucket of a time series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    Hour,
    Day,
    /// ISO weeks, from Monday 00:00 local time.
    Week,
}

impl GroupBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
            Self::Week => "week",
        }
    }

    /// The range a series covers when the caller gives no `startDate`.
    pub fn default_span(self) -> Duration {
        match self {
            Self::Hour => Duration::hours(24),
            Self::Day => Duration::days(30),
            Self::Week => Duration::weeks(12),
        }
    }
}

impl FromStr for GroupBy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hour" => Ok(Self::Hour),
            "day" => Ok(Self::Day),
            "week" => Ok(Self::Week),
            _ => Err(format!("unknown groupBy {s:?}: expected hour, day or week")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GridError {
    #[error("the range holds {0} buckets; at most {MAX_BUCKETS} are allowed")]
    TooManyBuckets(usize),
    #[error("the range must end after it starts")]
    Empty,
}

/// Consecutive local buckets covering a range: `edges[i]..edges[i + 1]` is bucket `i`.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketGrid {
    edges: Vec<Timestamp>,
}

impl BucketGrid {
    /// The buckets of `group_by` in `tz` from the one holding `start` to the one holding
    /// the last instant before `end`.
    pub fn new(
        start: Timestamp,
        end: Timestamp,
        tz: Tz,
        group_by: GroupBy,
    ) -> Result<Self, GridError> {
        if end <= start {
            return Err(GridError::Empty);
        }
        let mut edges = vec![bucket_start(start, tz, group_by)];
        while let Some(&last) = edges.last()
            && last < end
        {
            if edges.len() > MAX_BUCKETS {
                return Err(GridError::TooManyBuckets(estimate(start, end, group_by)));
            }
            edges.push(next_edge(last, tz, group_by));
        }
        Ok(Self { edges })
    }

    /// `count` whole minutes ending with the one holding `now` (the realtime chart).
    pub fn last_minutes(now: Timestamp, count: u32) -> Self {
        let last = SlotGrain::Minute.floor(now);
        let first = last - Duration::minutes(i64::from(count.max(1)) - 1);
        Self {
            edges: (0..=i64::from(count.max(1)))
                .map(|i| first + Duration::minutes(i))
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.edges.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn start(&self) -> Timestamp {
        self.edges[0]
    }

    pub fn end(&self) -> Timestamp {
        self.edges[self.edges.len() - 1]
    }

    /// The start of each bucket.
    pub fn starts(&self) -> &[Timestamp] {
        &self.edges[..self.edges.len() - 1]
    }

    /// The coarsest UTC slot that divides every edge, so no slot straddles two buckets.
    pub fn slot_grain(&self) -> SlotGrain {
        [SlotGrain::Day, SlotGrain::Hour]
            .into_iter()
            .find(|g| {
                self.edges
                    .iter()
                    .all(|e| e.timestamp_millis().rem_euclid(g.millis()) == 0)
            })
            .unwrap_or(SlotGrain::Minute)
    }

    /// Adds each slot's value into the bucket holding it; slots outside the grid are dropped.
    pub fn fold<T: Default + Clone + for<'a> AddAssign<&'a T>>(
        &self,
        slots: &[(Timestamp, T)],
    ) -> Vec<T> {
        let mut buckets = vec![T::default(); self.len()];
        for (at, value) in slots {
            let after = self.edges.partition_point(|e| e <= at);
            if after == 0 || after >= self.edges.len() {
                continue;
            }
            buckets[after - 1] += value;
        }
        buckets
    }
}

fn estimate(start: Timestamp, end: Timestamp, group_by: GroupBy) -> usize {
    let span = match group_by {
        GroupBy::Hour => Duration::hours(1),
        GroupBy::Day => Duration::days(1),
        GroupBy::Week => Duration::weeks(1),
    };
    ((end - start).num_seconds() / span.num_seconds()).max(0) as usize + 1
}

/// The start of the local bucket holding `t`.
pub fn bucket_start(t: Timestamp, tz: Tz, group_by: GroupBy) -> Timestamp {
    let local = t.with_timezone(&tz).naive_local();
    let naive = match group_by {
        GroupBy::Hour => local.date().and_hms_opt(local.hour(), 0, 0),
        GroupBy::Day => local.date().and_hms_opt(0, 0, 0),
        GroupBy::Week => {
            let back = i64::from(local.weekday().num_days_from_monday());
            (local.date() - Duration::days(back)).and_hms_opt(0, 0, 0)
        }
    };
    naive.map_or(t, |n| resolve_at_or_before(n, t, tz))
}

/// The start of the bucket after the one starting at `edge`.
fn next_edge(edge: Timestamp, tz: Tz, group_by: GroupBy) -> Timestamp {
    match group_by {
        // One absolute hour on, truncated to the local hour: 24 buckets on a normal
        // day, 23 and 25 on DST days, each one real hour long.
        GroupBy::Hour => bucket_start(edge + Duration::hours(1), tz, GroupBy::Hour),
        GroupBy::Day | GroupBy::Week => {
            let days = if group_by == GroupBy::Day { 1 } else { 7 };
            let date = edge.with_timezone(&tz).date_naive() + Duration::days(days);
            local_midnight(date, tz)
        }
    }
}

/// When local `date` starts in `tz`: its midnight, or, where a DST change skips
/// midnight (e.g. America/Santiago), the first local time that exists.
pub fn local_midnight(date: NaiveDate, tz: Tz) -> Timestamp {
    let mut naive = date.and_time(chrono::NaiveTime::MIN);
    for _ in 0..(4 * 24) {
        match tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => return t.to_utc(),
            LocalResult::Ambiguous(earliest, _) => return earliest.to_utc(),
            LocalResult::None => naive += Duration::minutes(15),
        }
    }
    naive.and_utc()
}

/// The instant of local `naive` in `tz` that is at or before `t` (where `naive` happens
/// twice, at a DST fall-back, the occurrence `t` belongs to).
fn resolve_at_or_before(naive: NaiveDateTime, t: Timestamp, tz: Tz) -> Timestamp {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(x) => x.to_utc(),
        LocalResult::Ambiguous(a, b) => {
            if b.to_utc() <= t {
                b.to_utc()
            } else {
                a.to_utc()
            }
        }
        // Truncating landed in a skipped hour: the bucket starts at the change.
        LocalResult::None => local_midnight_like(naive, tz).min(t),
    }
}

fn local_midnight_like(naive: NaiveDateTime, tz: Tz) -> Timestamp {
    let mut n = naive;
    for _ in 0..(4 * 24) {
        n += Duration::minutes(15);
        if let LocalResult::Single(x) | LocalResult::Ambiguous(x, _) = tz.from_local_datetime(&n) {
            return x.to_utc();
        }
    }
    naive.and_utc()
}

/// Calls counted by status, with the durations of the answered ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallCounts {
    pub total: u64,
    pub completed: u64,
    /// [`Call::is_answered`](crate::call::Call::is_answered).
    pub answered: u64,
    pub failed: u64,
    pub busy: u64,
    pub no_answer: u64,
    pub canceled: u64,
    /// Seconds, over the answered calls that have a `duration`.
    #[serde(skip)]
    pub duration_total: i64,
    #[serde(skip)]
    pub duration_count: u64,
}

impl CallCounts {
    /// Mean duration in seconds of the answered calls that have one; 0 when none.
    pub fn average_duration(&self) -> f64 {
        mean(self.duration_total, self.duration_count)
    }

    /// Answered calls over all calls; 0 when none.
    pub fn answer_rate(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.answered as f64 / self.total as f64
        }
    }
}

impl AddAssign<&CallCounts> for CallCounts {
    fn add_assign(&mut self, o: &CallCounts) {
        self.total += o.total;
        self.completed += o.completed;
        self.answered += o.answered;
        self.failed += o.failed;
        self.busy += o.busy;
        self.no_answer += o.no_answer;
        self.canceled += o.canceled;
        self.duration_total += o.duration_total;
        self.duration_count += o.duration_count;
    }
}

fn mean(total: i64, count: u64) -> f64 {
    if count == 0 {
        0.0
    } else {
        total as f64 / count as f64
    }
}

/// The fixed duration buckets, in seconds: `[min, max)`, the last open-ended.
pub const DURATION_BUCKETS: [(&str, i64, Option<i64>); 6] = [
    ("0-30s", 0, Some(30)),
    ("30-60s", 30, Some(60)),
    ("1-2m", 60, Some(120)),
    ("2-5m", 120, Some(300)),
    ("5-10m", 300, Some(600)),
    ("10m+", 600, None),
];

/// Durations of the answered calls that have one (`duration >= 0`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DurationSummary {
    pub count: u64,
    pub total: i64,
    pub min: Option<i64>,
    pub max: Option<i64>,
    /// Counts per [`DURATION_BUCKETS`] entry.
    pub buckets: [u64; 6],
}

/// The nearest-rank percentile rule: the `p`-th percentile (0 < p ≤ 1) of `n` sorted
/// values is the value at 1-based rank ⌈p·n⌉. It is always one of the values, so both
/// stores can fetch it exactly. `None` when `n` is 0.
pub fn nearest_rank(p: f64, n: u64) -> Option<u64> {
    if n == 0 {
        return None;
    }
    let rank = (p * n as f64).ceil() as u64;
    Some(rank.clamp(1, n))
}

/// Calls counted by status, outcome and `answeredBy`, keyed by the stored strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutcomeCounts {
    pub total: u64,
    pub by_status: BTreeMap<String, u64>,
    pub by_outcome: BTreeMap<String, u64>,
    pub by_answered_by: BTreeMap<String, u64>,
}

/// Conversation sentiments of transcripts that have one.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SentimentCounts {
    pub count: u64,
    #[serde(skip)]
    pub score_total: f64,
    pub positive: u64,
    pub neutral: u64,
    pub negative: u64,
}

impl SentimentCounts {
    pub fn average_score(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.score_total / self.count as f64
        }
    }
}

impl AddAssign<&SentimentCounts> for SentimentCounts {
    fn add_assign(&mut self, o: &SentimentCounts) {
        self.count += o.count;
        self.score_total += o.score_total;
        self.positive += o.positive;
        self.neutral += o.neutral;
        self.negative += o.negative;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> Timestamp {
        DateTime::parse_from_rfc3339(s).expect("time").to_utc()
    }

    fn tz(name: &str) -> Tz {
        name.parse().expect("tz")
    }

    fn rfc(ts: &[Timestamp]) -> Vec<String> {
        ts.iter()
            .map(|t| t.format("%Y-%m-%dT%H:%MZ").to_string())
            .collect()
    }

    #[test]
    fn new_york_days_around_the_spring_change_are_23_hours_long() {
        // 2026-03-08: clocks go from 02:00 EST to 03:00 EDT.
        let g = BucketGrid::new(
            utc("2026-03-07T12:00:00Z"),
            utc("2026-03-10T04:00:00Z"),
            tz("America/New_York"),
            GroupBy::Day,
        )
        .expect("grid");
        assert_eq!(
            rfc(g.starts()),
            [
                "2026-03-07T05:00Z",
                "2026-03-08T05:00Z",
                "2026-03-09T04:00Z"
            ]
        );
        assert_eq!(g.end(), utc("2026-03-10T04:00:00Z"));
        assert_eq!(g.slot_grain(), SlotGrain::Hour);
    }

    #[test]
    fn new_york_hours_across_the_fall_back_include_both_one_oclocks() {
        // 2026-11-01: 02:00 EDT becomes 01:00 EST; 01:00-02:00 local happens twice.
        let g = BucketGrid::new(
            utc("2026-11-01T04:00:00Z"),
            utc("2026-11-01T08:00:00Z"),
            tz("America/New_York"),
            GroupBy::Hour,
        )
        .expect("grid");
        assert_eq!(
            rfc(g.starts()),
            [
                "2026-11-01T04:00Z",
                "2026-11-01T05:00Z",
                "2026-11-01T06:00Z",
                "2026-11-01T07:00Z"
            ]
        );
        // An instant in the second 01:xx hour belongs to the second bucket of that name.
        assert_eq!(
            bucket_start(
                utc("2026-11-01T06:30:00Z"),
                tz("America/New_York"),
                GroupBy::Hour
            ),
            utc("2026-11-01T06:00:00Z")
        );
    }

    #[test]
    fn weeks_start_on_local_monday_and_the_dst_week_is_167_hours() {
        let g = BucketGrid::new(
            utc("2026-03-04T12:00:00Z"), // a Wednesday
            utc("2026-03-16T12:00:00Z"),
            tz("America/New_York"),
            GroupBy::Week,
        )
        .expect("grid");
        assert_eq!(
            rfc(g.starts()),
            [
                "2026-03-02T05:00Z",
                "2026-03-09T04:00Z",
                "2026-03-16T04:00Z"
            ]
        );
        assert_eq!((g.edges[1] - g.edges[0]).num_hours(), 167);
    }

    #[test]
    fn half_hour_zones_fold_minute_slots_into_local_days() {
        let kolkata = tz("Asia/Kolkata");
        let g = BucketGrid::new(
            utc("2026-05-01T00:00:00Z"),
            utc("2026-05-02T00:00:00Z"),
            kolkata,
            GroupBy::Day,
        )
        .expect("grid");
        assert_eq!(rfc(g.starts()), ["2026-04-30T18:30Z", "2026-05-01T18:30Z"]);
        assert_eq!(g.slot_grain(), SlotGrain::Minute);
        // 18:29 UTC is 23:59 on May 1 in Kolkata; 18:30 is May 2.
        let slots = vec![
            (utc("2026-05-01T00:00:00Z"), 1u64),
            (utc("2026-05-01T18:29:00Z"), 2),
            (utc("2026-05-01T18:30:00Z"), 4),
        ];
        let folded: Vec<Wrapped> = g.fold(
            &slots
                .into_iter()
                .map(|(t, n)| (t, Wrapped(n)))
                .collect::<Vec<_>>(),
        );
        assert_eq!(folded, vec![Wrapped(3), Wrapped(4)]);
    }

    #[derive(Debug, Default, Clone, PartialEq)]
    struct Wrapped(u64);
    impl AddAssign<&Wrapped> for Wrapped {
        fn add_assign(&mut self, o: &Wrapped) {
            self.0 += o.0;
        }
    }

    #[test]
    fn utc_days_are_grouped_by_day_slots_and_fold_exactly() {
        let g = BucketGrid::new(
            utc("2026-01-01T00:00:00Z"),
            utc("2026-01-03T00:00:00Z"),
            chrono_tz::UTC,
            GroupBy::Day,
        )
        .expect("grid");
        assert_eq!(g.slot_grain(), SlotGrain::Day);
        assert_eq!(g.len(), 2);
        let f = g.fold(&[
            (utc("2026-01-02T00:00:00Z"), Wrapped(5)),
            (utc("2026-01-05T00:00:00Z"), Wrapped(9)), // outside: dropped
        ]);
        assert_eq!(f, vec![Wrapped(0), Wrapped(5)]);
    }

    #[test]
    fn too_many_buckets_and_empty_ranges_are_refused() {
        let err = BucketGrid::new(
            utc("2020-01-01T00:00:00Z"),
            utc("2026-01-01T00:00:00Z"),
            chrono_tz::UTC,
            GroupBy::Hour,
        )
        .expect_err("52k hours");
        assert!(matches!(err, GridError::TooManyBuckets(n) if n > MAX_BUCKETS));
        assert!(
            BucketGrid::new(
                utc("2026-01-01T00:00:00Z"),
                utc("2026-01-01T00:00:00Z"),
                chrono_tz::UTC,
                GroupBy::Day
            )
            .is_err()
        );
    }

    #[test]
    fn last_minutes_are_whole_minutes_ending_with_the_current_one() {
        let g = BucketGrid::last_minutes(utc("2026-01-01T10:14:30Z"), 15);
        assert_eq!(g.len(), 15);
        assert_eq!(g.start(), utc("2026-01-01T10:00:00Z"));
        assert_eq!(g.end(), utc("2026-01-01T10:15:00Z"));
    }

    #[test]
    fn nearest_rank_picks_an_actual_value() {
        assert_eq!(nearest_rank(0.5, 0), None);
        assert_eq!(nearest_rank(0.5, 1), Some(1));
        assert_eq!(nearest_rank(0.5, 4), Some(2));
        assert_eq!(nearest_rank(0.5, 5), Some(3));
        assert_eq!(nearest_rank(0.9, 10), Some(9));
        assert_eq!(nearest_rank(0.9, 11), Some(10));
        assert_eq!(nearest_rank(0.9, 1), Some(1));
    }
}
