//! `callstats`: one document per UTC day rolling up that day's calls (counts, answered,
//! durations, outcome distributions), so analytics over periods whose calls were
//! archived away still answer.
//!
//! A rollup is *sealed* by `outcall archive` before any call of its day is deleted;
//! a sealed rollup is never recomputed (its calls may be gone). Unsealed rollups are
//! recomputed daily from the stored calls.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::call::Call;
use crate::id::ObjectId;
use crate::time::{MillisecondTimes, Timestamp};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DailyCallStats {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// The UTC day, `YYYY-MM-DD`.
    pub day: NaiveDate,
    pub calls: u64,
    /// Calls a person or machine answered (`answerTime` set, or status `completed` with a duration).
    pub answered: u64,
    /// Seconds, summed over the answered calls.
    pub total_duration: i64,
    pub by_status: BTreeMap<String, u64>,
    pub by_outcome: BTreeMap<String, u64>,
    pub by_answered_by: BTreeMap<String, u64>,
    pub sealed: bool,
    #[serde(default = "crate::time::now")]
    pub created_at: Timestamp,
    #[serde(default = "crate::time::now")]
    pub updated_at: Timestamp,
}

impl DailyCallStats {
    pub fn empty(day: NaiveDate) -> Self {
        let now = crate::time::now();
        Self {
            id: ObjectId::new(),
            day,
            calls: 0,
            answered: 0,
            total_duration: 0,
            by_status: BTreeMap::new(),
            by_outcome: BTreeMap::new(),
            by_answered_by: BTreeMap::new(),
            sealed: false,
            created_at: now,
            updated_at: now,
        }
    }

    /// Counts one call in.
    pub fn add(&mut self, call: &Call) {
        self.calls += 1;
        if call.is_answered() {
            self.answered += 1;
            self.total_duration += call.duration.unwrap_or(0).max(0);
        }
        *self.by_status.entry(label(&call.status)).or_default() += 1;
        if let Some(outcome) = &call.outcome {
            *self.by_outcome.entry(label(outcome)).or_default() += 1;
        }
        if let Some(by) = &call.answered_by {
            *self.by_answered_by.entry(by.clone()).or_default() += 1;
        }
    }

    /// Mean duration of the answered calls, in seconds.
    pub fn average_duration(&self) -> f64 {
        if self.answered == 0 {
            0.0
        } else {
            self.total_duration as f64 / self.answered as f64
        }
    }
}

impl MillisecondTimes for DailyCallStats {
    fn truncate_times(&mut self) {
        self.created_at = crate::time::to_millis(self.created_at);
        self.updated_at = crate::time::to_millis(self.updated_at);
    }
}

/// The serde name of a unit enum value (`CallStatus::NoAnswer` → `no-answer`).
fn label<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::{CallOutcome, CallStatus};

    fn call(status: CallStatus, duration: Option<i64>, answered: bool) -> Call {
        let mut c = Call::new("CA1", "+15005550006", "+14155552671");
        c.status = status;
        c.duration = duration;
        if answered {
            c.answer_time = Some(crate::time::now());
            c.answered_by = Some("human".into());
            c.outcome = Some(CallOutcome::Held);
        }
        c
    }

    #[test]
    fn counts_calls_answers_durations_and_distributions() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).expect("date");
        let mut s = DailyCallStats::empty(day);
        s.add(&call(CallStatus::Completed, Some(60), true));
        s.add(&call(CallStatus::Completed, Some(30), true));
        s.add(&call(CallStatus::NoAnswer, None, false));
        s.add(&call(CallStatus::Busy, Some(0), false));
        assert_eq!((s.calls, s.answered, s.total_duration), (4, 2, 90));
        assert_eq!(s.average_duration(), 45.0);
        assert_eq!(s.by_status.get("completed"), Some(&2));
        assert_eq!(s.by_status.get("no-answer"), Some(&1));
        assert_eq!(s.by_outcome.get("held"), Some(&2));
        assert_eq!(s.by_answered_by.get("human"), Some(&2));
    }
}
