//! Campaigns and their state machine.
//!
//! `draft → active ⇄ paused → completed | cancelled`; the engine reopens a completed
//! campaign when contacts to dial were added while it completed. Every transition is applied
//! by the store as a compare-and-set on the current status, using
//! [`CampaignAction::allowed_from`], so two requests or two processes cannot both win.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::id::ObjectId;
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CampaignStatus {
    #[default]
    Draft,
    Active,
    Paused,
    Completed,
    Cancelled,
}

impl CampaignStatus {
    pub const ALL: [CampaignStatus; 5] = [
        Self::Draft,
        Self::Active,
        Self::Paused,
        Self::Completed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled)
    }

    /// Whether the campaign's targeting (contacts, settings) may be edited.
    pub fn is_editable(self) -> bool {
        matches!(self, Self::Draft | Self::Paused)
    }
}

impl fmt::Display for CampaignStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown campaign status {0:?}: expected one of draft, active, paused, completed, cancelled"
)]
pub struct UnknownCampaignStatus(pub String);

impl FromStr for CampaignStatus {
    type Err = UnknownCampaignStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCampaignStatus(s.to_string()))
    }
}

/// What a user or the engine asks of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignAction {
    Start,
    Pause,
    Resume,
    Stop,
    /// The engine found nothing left to dial and no call live.
    Complete,
    /// Contacts to dial were added to the campaign while it completed: it runs again.
    Reopen,
}

impl CampaignAction {
    /// The statuses from which this action is allowed.
    pub fn allowed_from(self) -> &'static [CampaignStatus] {
        use CampaignStatus::*;
        match self {
            Self::Start => &[Draft],
            Self::Pause => &[Active],
            Self::Resume => &[Paused],
            Self::Stop => &[Draft, Active, Paused],
            Self::Complete => &[Active],
            Self::Reopen => &[Completed],
        }
    }

    /// The status the campaign has after this action.
    pub fn target(self) -> CampaignStatus {
        match self {
            Self::Start | Self::Resume | Self::Reopen => CampaignStatus::Active,
            Self::Pause => CampaignStatus::Paused,
            Self::Stop => CampaignStatus::Cancelled,
            Self::Complete => CampaignStatus::Completed,
        }
    }

    /// The pure transition: the new status, or why not.
    pub fn apply(self, current: CampaignStatus) -> Result<CampaignStatus, InvalidTransition> {
        if self.allowed_from().contains(&current) {
            Ok(self.target())
        } else {
            Err(InvalidTransition {
                action: self,
                current,
            })
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Stop => "stop",
            Self::Complete => "complete",
            Self::Reopen => "reopen",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {} a campaign that is {current}", action.verb())]
pub struct InvalidTransition {
    pub action: CampaignAction,
    pub current: CampaignStatus,
}

/// The Google Sheet a campaign's contacts come from and its results go back to.
/// Columns are named by their header text (row 1), in any case.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SheetInfo {
    pub spreadsheet_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_column: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_column: Option<String>,
    /// outcall's addition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_column: Option<String>,
    /// Where each contact's dial status is written back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_column: Option<String>,
    /// outcall's addition: where each contact's last call result is written back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_column: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_message_column: Option<String>,
}

/// Counters kept exact by atomic increments in the store.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CampaignStats {
    #[serde(default)]
    pub total_contacts: i64,
    #[serde(default)]
    pub calls_placed: i64,
    #[serde(default)]
    pub calls_completed: i64,
    #[serde(default)]
    pub calls_answered: i64,
    #[serde(default)]
    pub calls_failed: i64,
    /// Mean duration of answered calls, in seconds.
    #[serde(default)]
    pub average_duration: f64,
    /// Sum of answered calls' durations, kept so `averageDuration` stays exact.
    #[serde(default)]
    pub total_duration: i64,
}

/// Increments to apply to a campaign's stats in one atomic update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsDelta {
    pub total_contacts: i64,
    pub calls_placed: i64,
    pub calls_completed: i64,
    pub calls_answered: i64,
    pub calls_failed: i64,
    /// Seconds to add to the answered calls' total duration.
    pub answered_duration: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallingWindow {
    /// `HH:MM`, local to `timezone`.
    pub start: String,
    pub end: String,
    #[serde(default)]
    pub days: Vec<String>,
    pub timezone: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoicemailSettings {
    /// `hangup` or `leave-message`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CampaignSettings {
    /// Minimum seconds between two call starts of this campaign (fractions allowed).
    #[serde(default = "default_call_delay")]
    pub call_delay: f64,
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent_calls: i64,
    #[serde(default)]
    pub retry_count: i64,
    /// Seconds to wait before a retry (fractions allowed).
    #[serde(default = "default_retry_delay")]
    pub retry_delay: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calling_window: Option<CallingWindow>,
    #[serde(default)]
    pub retry_on: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voicemail: Option<VoicemailSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
}

fn default_call_delay() -> f64 {
    5.0
}
fn default_max_concurrent() -> i64 {
    1
}
fn default_retry_delay() -> f64 {
    3600.0
}

impl Default for CampaignSettings {
    fn default() -> Self {
        Self {
            call_delay: default_call_delay(),
            max_concurrent_calls: default_max_concurrent(),
            retry_count: 0,
            retry_delay: default_retry_delay(),
            calling_window: None,
            retry_on: Vec::new(),
            voicemail: None,
            agent_id: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Campaign {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub status: CampaignStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet_info: Option<SheetInfo>,
    #[serde(default)]
    pub stats: CampaignStats,
    #[serde(default)]
    pub settings: CampaignSettings,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_executed: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_execution: Option<Timestamp>,
    #[serde(default)]
    pub contact_ids: Vec<ObjectId>,
    #[serde(default)]
    pub call_ids: Vec<ObjectId>,
    /// The engine process dialling this campaign, until its lease expires: one runner
    /// at a time keeps pacing and the concurrency cap exact across processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<RunnerLease>,
    /// The campaign's dials in flight, by attempt id: each from the status check right
    /// before its request to Twilio until Twilio answered (or the mark expired, its
    /// process gone). Pause and stop answer only once none is left, in any process.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dials: BTreeMap<String, DialMark>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunnerLease {
    pub owner: String,
    pub expires_at: Timestamp,
}

/// One dial in flight ([`Campaign::dials`]): its process, and until when the mark
/// holds unless that process renews it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DialMark {
    pub owner: String,
    pub expires_at: Timestamp,
}

impl Campaign {
    /// Whether `owner` may run the campaign at `now`: it is active and nobody else
    /// holds a live runner lease.
    pub fn runnable_by(&self, owner: &str, now: Timestamp) -> bool {
        self.status == CampaignStatus::Active
            && self
                .runner
                .as_ref()
                .is_none_or(|r| r.owner == owner || r.expires_at <= now)
    }

    /// The status check right before a dial: if `owner` may run the campaign at `now`
    /// ([`Self::runnable_by`]), it holds the runner lease until `expires_at`, the dial
    /// `dial_id` is marked in flight until then, `lastExecuted` (what `callDelay` counts
    /// from) becomes `now`, and expired marks go. `false`, changing nothing, otherwise.
    pub fn open_dial(
        &mut self,
        owner: &str,
        dial_id: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> bool {
        if !self.runnable_by(owner, now) {
            return false;
        }
        self.runner = Some(RunnerLease {
            owner: owner.to_string(),
            expires_at,
        });
        self.last_executed = Some(now);
        self.dials.retain(|_, m| m.expires_at > now);
        self.dials.insert(
            dial_id.to_string(),
            DialMark {
                owner: owner.to_string(),
                expires_at,
            },
        );
        true
    }

    /// Extends `owner`'s runner lease and its marks of `dials` (those still there)
    /// until `expires_at`, whatever the status: a paused campaign's dial still in
    /// flight keeps its mark, so the pause keeps waiting for it. Whether anything was
    /// `owner`'s.
    pub fn renew_runner(&mut self, owner: &str, dials: &[String], expires_at: Timestamp) -> bool {
        let mut held = false;
        if let Some(r) = self.runner.as_mut().filter(|r| r.owner == owner) {
            r.expires_at = expires_at;
            held = true;
        }
        for d in dials {
            if let Some(m) = self.dials.get_mut(d).filter(|m| m.owner == owner) {
                m.expires_at = expires_at;
                held = true;
            }
        }
        held
    }

    /// Twilio answered the dial: its mark goes. Whether there was one.
    pub fn close_dial(&mut self, dial_id: &str) -> bool {
        self.dials.remove(dial_id).is_some()
    }

    /// Whether a dial may be in flight at `now`: a mark that has not expired.
    pub fn dialling(&self, now: Timestamp) -> bool {
        self.dials.values().any(|m| m.expires_at > now)
    }

    pub fn new(name: impl Into<String>) -> Self {
        let now = crate::time::now();
        Self {
            id: ObjectId::new(),
            name: name.into(),
            description: None,
            status: CampaignStatus::Draft,
            prompt: None,
            first_message: None,
            caller_id: None,
            region: None,
            sheet_info: None,
            stats: CampaignStats::default(),
            settings: CampaignSettings::default(),
            last_executed: None,
            next_execution: None,
            contact_ids: Vec::new(),
            call_ids: Vec::new(),
            runner: None,
            dials: BTreeMap::new(),
            created_at: now,
            updated_at: now,
        }
    }
}

/// The campaign's calls as stored, counted the way the engine counts them as they end:
/// completed vs. failed by final status, answered when the outcome is `held`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallTally {
    pub placed: i64,
    pub completed: i64,
    pub failed: i64,
    pub answered: i64,
    /// Seconds of the answered calls together.
    pub answered_duration: i64,
}

impl StatsDelta {
    /// `n` contacts more (or fewer, when negative) in the campaign.
    pub fn contacts(n: i64) -> Self {
        Self {
            total_contacts: n,
            ..Self::default()
        }
    }
}

impl CallTally {
    /// Adds `calls` stored calls of one `status` (its stored name) whose outcome is or
    /// is not `held`, lasting `secs` together.
    pub fn add_group(&mut self, status: &str, held: bool, calls: i64, secs: i64) {
        self.placed += calls;
        match status.parse::<crate::CallStatus>() {
            Ok(crate::CallStatus::Completed) => self.completed += calls,
            Ok(s) if s.is_terminal() => self.failed += calls,
            _ => {}
        }
        if held {
            self.answered += calls;
            self.answered_duration += secs;
        }
    }
}

impl CampaignStats {
    /// Replaces the call counters with a recount of the stored calls; keeps
    /// `totalContacts`. Makes the stats exact again after a crash between an
    /// attempt's end and its increment.
    pub fn recount(&mut self, tally: &CallTally) {
        self.calls_placed = tally.placed;
        self.calls_completed = tally.completed;
        self.calls_failed = tally.failed;
        self.calls_answered = tally.answered;
        self.total_duration = tally.answered_duration;
        self.average_duration = if tally.answered > 0 {
            tally.answered_duration as f64 / tally.answered as f64
        } else {
            0.0
        };
    }

    /// Adds `delta` and recomputes the average from exact totals.
    pub fn add(&mut self, delta: &StatsDelta) {
        self.total_contacts += delta.total_contacts;
        self.calls_placed += delta.calls_placed;
        self.calls_completed += delta.calls_completed;
        self.calls_answered += delta.calls_answered;
        self.calls_failed += delta.calls_failed;
        self.total_duration += delta.answered_duration;
        self.average_duration = if self.calls_answered > 0 {
            self.total_duration as f64 / self.calls_answered as f64
        } else {
            0.0
        };
    }
}

/// A partial update of a campaign's editable fields: only the fields given change.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CampaignPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub prompt: Option<String>,
    pub first_message: Option<String>,
    pub caller_id: Option<String>,
    pub region: Option<String>,
    pub sheet_info: Option<SheetInfo>,
    pub settings: Option<CampaignSettings>,
    pub next_execution: Option<Timestamp>,
}

impl CampaignPatch {
    pub fn apply(&self, c: &mut Campaign) {
        fn set<T: Clone>(dst: &mut Option<T>, src: &Option<T>) {
            if let Some(v) = src {
                *dst = Some(v.clone());
            }
        }
        if let Some(n) = &self.name {
            c.name = n.clone();
        }
        set(&mut c.description, &self.description);
        set(&mut c.prompt, &self.prompt);
        set(&mut c.first_message, &self.first_message);
        set(&mut c.caller_id, &self.caller_id);
        set(&mut c.region, &self.region);
        set(&mut c.sheet_info, &self.sheet_info);
        set(&mut c.next_execution, &self.next_execution);
        if let Some(s) = &self.settings {
            c.settings = s.clone();
        }
    }
}

impl crate::time::MillisecondTimes for Campaign {
    fn truncate_times(&mut self) {
        crate::time::truncate_opt(&mut self.last_executed);
        crate::time::truncate_opt(&mut self.next_execution);
        if let Some(r) = &mut self.runner {
            crate::time::truncate(&mut r.expires_at);
        }
        for m in self.dials.values_mut() {
            crate::time::truncate(&mut m.expires_at);
        }
        crate::time::truncate(&mut self.created_at);
        crate::time::truncate(&mut self.updated_at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CampaignAction::*;
    use CampaignStatus::*;
    use proptest::prelude::*;

    #[test]
    fn the_documented_lifecycle() {
        assert_eq!(Start.apply(Draft), Ok(Active));
        assert_eq!(Pause.apply(Active), Ok(Paused));
        assert_eq!(Resume.apply(Paused), Ok(Active));
        assert_eq!(Stop.apply(Paused), Ok(Cancelled));
        assert_eq!(Complete.apply(Active), Ok(Completed));
        assert_eq!(Reopen.apply(Completed), Ok(Active));
        assert!(Reopen.apply(Cancelled).is_err());
        assert!(Reopen.apply(Paused).is_err());
    }

    fn at(secs: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(1_700_000_000 + secs, 0).expect("time")
    }

    fn active() -> Campaign {
        let mut c = Campaign::new("c");
        c.status = CampaignStatus::Active;
        c
    }

    #[test]
    fn a_dial_opens_only_on_an_active_campaign_its_owner_may_run() {
        let mut c = active();
        assert!(c.open_dial("a", "d1", at(0), at(15)));
        assert_eq!(c.last_executed, Some(at(0)));
        assert_eq!(c.runner.as_ref().map(|r| r.owner.as_str()), Some("a"));
        assert!(c.dialling(at(14)) && !c.dialling(at(15)));
        // Another process, while `a` holds the lease: refused, nothing changes.
        let before = c.clone();
        assert!(!c.open_dial("b", "d2", at(1), at(16)));
        assert_eq!(c, before);
        // Paused: refused even to the owner.
        c.status = CampaignStatus::Paused;
        assert!(!c.open_dial("a", "d3", at(2), at(17)));
        assert_eq!(c.dials.len(), 1);
    }

    #[test]
    fn a_dial_mark_is_renewed_by_its_owner_whatever_the_status_and_then_closed() {
        let mut c = active();
        assert!(c.open_dial("a", "d1", at(0), at(15)));
        c.status = CampaignStatus::Paused;
        assert!(!c.renew_runner("b", &["d1".into()], at(30)));
        assert!(c.renew_runner("a", &["d1".into()], at(30)));
        assert!(c.dialling(at(29)));
        assert_eq!(c.runner.as_ref().map(|r| r.expires_at), Some(at(30)));
        assert!(c.close_dial("d1"));
        assert!(!c.close_dial("d1"));
        assert!(!c.dialling(at(0)));
    }

    #[test]
    fn an_expired_mark_goes_when_the_next_dial_opens() {
        let mut c = active();
        assert!(c.open_dial("a", "d1", at(0), at(15)));
        // `a` died; `b` takes over once the lease expired.
        assert!(c.open_dial("b", "d2", at(20), at(35)));
        assert_eq!(c.dials.keys().collect::<Vec<_>>(), ["d2"]);
    }

    #[test]
    fn refuses_what_makes_no_sense() {
        assert!(Start.apply(Active).is_err());
        assert!(Pause.apply(Paused).is_err());
        assert!(Resume.apply(Active).is_err());
        let err = Start.apply(Completed).expect_err("completed is final");
        assert_eq!(err.to_string(), "cannot start a campaign that is completed");
    }

    fn any_action() -> impl Strategy<Value = CampaignAction> {
        proptest::sample::select(vec![Start, Pause, Resume, Stop, Complete, Reopen])
    }

    proptest! {
        /// No sequence of actions leaves a final status, but for the engine's reopening
        /// of a completed campaign (to active); a refused action changes nothing.
        #[test]
        fn final_statuses_stay_final(actions in proptest::collection::vec(any_action(), 0..20)) {
            let mut status = Draft;
            for a in actions {
                let before = status;
                match a.apply(status) {
                    Ok(next) if before.is_final() => {
                        prop_assert_eq!((a, before, next), (Reopen, Completed, Active));
                        status = next;
                    }
                    Ok(next) => status = next,
                    Err(e) => prop_assert_eq!(e.current, before),
                }
            }
        }

        /// Averages computed incrementally equal the average over all answered durations.
        #[test]
        fn average_duration_is_exact(durations in proptest::collection::vec(0i64..3600, 1..50)) {
            let mut stats = CampaignStats::default();
            for d in &durations {
                stats.add(&StatsDelta { calls_answered: 1, answered_duration: *d, ..Default::default() });
            }
            let expected = durations.iter().sum::<i64>() as f64 / durations.len() as f64;
            prop_assert!((stats.average_duration - expected).abs() < 1e-9);
        }
    }
}
