//! The call record and the rules that keep its status honest.
//!
//! Twilio's status callbacks are independent requests: they can arrive twice,
//! late, or out of order. [`Call::apply_status`] is the single rule every store
//! applies, so a call never moves backwards and a terminal status is final, and a
//! late callback still adds the facts it alone carries (a late `in-progress` its
//! answer time): every arrival order of the same callbacks ends in the same call.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::id::ObjectId;
use crate::time::Timestamp;

/// Twilio's call statuses (plus `initiated`, which Twilio reports in callbacks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CallStatus {
    Queued,
    #[default]
    Initiated,
    Ringing,
    InProgress,
    Completed,
    Busy,
    Failed,
    NoAnswer,
    Canceled,
}

impl CallStatus {
    pub const ALL: [CallStatus; 9] = [
        Self::Queued,
        Self::Initiated,
        Self::Ringing,
        Self::InProgress,
        Self::Completed,
        Self::Busy,
        Self::Failed,
        Self::NoAnswer,
        Self::Canceled,
    ];

    /// Position in the call's life: a status may only replace one of lower or equal rank.
    pub fn rank(self) -> u8 {
        match self {
            Self::Queued | Self::Initiated => 0,
            Self::Ringing => 1,
            Self::InProgress => 2,
            Self::Completed | Self::Busy | Self::Failed | Self::NoAnswer | Self::Canceled => 3,
        }
    }

    pub fn is_terminal(self) -> bool {
        self.rank() == 3
    }

    /// The live statuses: a call in one of these still holds a line.
    pub fn is_live(self) -> bool {
        !self.is_terminal()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Initiated => "initiated",
            Self::Ringing => "ringing",
            Self::InProgress => "in-progress",
            Self::Completed => "completed",
            Self::Busy => "busy",
            Self::Failed => "failed",
            Self::NoAnswer => "no-answer",
            Self::Canceled => "canceled",
        }
    }

    /// Statuses a call may currently have for `self` to be applied over it.
    pub fn may_replace(self) -> Vec<CallStatus> {
        Self::ALL
            .into_iter()
            .filter(|s| !s.is_terminal() && s.rank() <= self.rank())
            .collect()
    }
}

impl fmt::Display for CallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown call status {0:?}: expected one of queued, initiated, ringing, in-progress, completed, busy, failed, no-answer, canceled"
)]
pub struct UnknownCallStatus(pub String);

impl FromStr for CallStatus {
    type Err = UnknownCallStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCallStatus(s.to_string()))
    }
}

/// How the call ended, as the user cares about it (not the telephony status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallOutcome {
    Held,
    Voicemail,
    NoAnswer,
    Busy,
    Failed,
    Canceled,
    Unknown,
}

/// Which side ended the call. The Node.js system the seed documents wrote free text
/// here (`conversation_completed`, `user`, `unknown`, …); none of it names a side for
/// sure (its `user` may be the callee or the API user who hung up), so it is kept as
/// [`Other`](Self::Other) and shown as stored. Nothing decides on this field: it is
/// shown, counted by value, and set once by the first side known to end a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminatedBy {
    Agent,
    Callee,
    System,
    Carrier,
    /// A value another system stored, kept as it was.
    Other(String),
}

impl TerminatedBy {
    pub const ALL: [TerminatedBy; 4] = [Self::Agent, Self::Callee, Self::System, Self::Carrier];

    pub fn as_str(&self) -> &str {
        match self {
            Self::Agent => "agent",
            Self::Callee => "callee",
            Self::System => "system",
            Self::Carrier => "carrier",
            Self::Other(s) => s,
        }
    }

    /// A stored value: outcall's names, anything else kept.
    pub fn from_stored(s: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .unwrap_or_else(|| Self::Other(s.to_string()))
    }
}

crate::stored::open_enum!(TerminatedBy);

/// A call as stored in the `calls` collection (seed fields plus outcall's additions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub call_sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    pub status: CallStatus,
    pub from: String,
    pub to: String,
    #[serde(default = "default_direction")]
    pub direction: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_behavior: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<ObjectId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<ObjectId>,
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// Last applied Twilio `SequenceNumber`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<CallOutcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated_by: Option<TerminatedBy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_reason: Option<String>,
    /// Twilio's raw `AnsweredBy` value (`human`, `machine_start`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amd_result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_variables: Option<Map<String, Value>>,
    /// The campaign attempt that placed this call; unique, so an attempt dials once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Fields outcall does not name, kept and written back as stored.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn default_direction() -> String {
    "outbound-api".to_string()
}

impl Call {
    /// Whether someone (or a machine) picked up: an answer time was recorded, or Twilio
    /// reported `completed`, which it only does for answered calls.
    pub fn is_answered(&self) -> bool {
        self.answer_time.is_some() || self.status == CallStatus::Completed
    }

    /// A fresh outbound call record; the store sets the timestamps on insert.
    pub fn new(
        call_sid: impl Into<String>,
        from: impl Into<String>,
        to: impl Into<String>,
    ) -> Self {
        let now = crate::time::now();
        Self {
            id: ObjectId::new(),
            call_sid: call_sid.into(),
            conversation_id: None,
            status: CallStatus::Initiated,
            from: from.into(),
            to: to.into(),
            direction: default_direction(),
            start_time: None,
            end_time: None,
            duration: None,
            answered_by: None,
            machine_behavior: None,
            agent_id: None,
            contact_name: None,
            campaign_id: None,
            contact_id: None,
            metadata: Map::new(),
            sequence_number: None,
            answer_time: None,
            outcome: None,
            terminated_by: None,
            termination_reason: None,
            amd_result: None,
            prompt: None,
            first_message: None,
            dynamic_variables: None,
            attempt_id: None,
            region: None,
            error_code: None,
            error_message: None,
            created_at: now,
            updated_at: now,
            extra: Map::new(),
        }
    }

    /// Applies a status update if the rules allow it, returning what happened.
    /// The rules: a terminal status is final; a status never moves backwards;
    /// an update carrying a `SequenceNumber` applies only if it is higher than the last applied one.
    /// A refused update still adds the facts it alone carries ([`Self::merge_late`]), so
    /// the order callbacks arrive in does not change where the call ends.
    pub fn apply_status(&mut self, update: &StatusUpdate) -> StatusChange {
        if let Some(reason) = self.refusal(update) {
            let current = self.status;
            return if self.merge_late(update) {
                StatusChange::Merged { current, reason }
            } else {
                StatusChange::Refused { current, reason }
            };
        }
        let from = self.status;
        let at = update
            .timestamp
            .map(crate::time::to_millis)
            .unwrap_or_else(crate::time::now);
        self.status = update.status;
        if update.sequence_number.is_some() {
            self.sequence_number = update.sequence_number;
        }
        if update.status == CallStatus::InProgress && self.answer_time.is_none() {
            self.record_answer(at);
        }
        if update.status.is_terminal() {
            self.end_time.get_or_insert(at);
            if self.outcome.is_none() {
                self.outcome = Some(self.telephony_outcome(update.status));
            }
        }
        if let Some(d) = update.duration {
            self.duration = Some(d);
        }
        if let Some(a) = &update.answered_by {
            self.answered_by = Some(a.clone());
        }
        if let Some(c) = &update.error_code {
            self.error_code = Some(c.clone());
        }
        if let Some(m) = &update.error_message {
            self.error_message = Some(m.clone());
        }
        StatusChange::Applied {
            from,
            to: update.status,
        }
    }

    fn record_answer(&mut self, at: Timestamp) {
        self.answer_time = Some(at);
        if self.start_time.is_none() {
            self.start_time = Some(at);
        }
    }

    /// Keeps what a refused update knows that the call does not, returning whether the
    /// call changed. Only facts with Twilio's own time are kept (a time of arrival
    /// would differ by order): a late `in-progress` gives the answer time of a call
    /// whose end says it was answered (`completed`; a busy or unanswered end keeps
    /// none), and a repeated end gives its duration if the first one had none.
    fn merge_late(&mut self, update: &StatusUpdate) -> bool {
        let mut changed = false;
        if update.status == CallStatus::InProgress
            && self.answer_time.is_none()
            && self.status == CallStatus::Completed
            && let Some(at) = update.timestamp
        {
            self.record_answer(crate::time::to_millis(at));
            changed = true;
        }
        if update.status == self.status
            && self.status.is_terminal()
            && self.duration.is_none()
            && let Some(d) = update.duration
        {
            self.duration = Some(d);
            changed = true;
        }
        changed
    }

    /// Why `update` may not be applied, or `None` if it may.
    pub fn refusal(&self, update: &StatusUpdate) -> Option<RefusalReason> {
        if self.status.is_terminal() {
            return Some(RefusalReason::AlreadyFinal);
        }
        if let (Some(new), Some(old)) = (update.sequence_number, self.sequence_number)
            && new <= old
        {
            return Some(RefusalReason::StaleSequence);
        }
        if update.status.rank() < self.status.rank() {
            return Some(RefusalReason::Backwards);
        }
        None
    }

    /// The outcome that the telephony status alone tells; the conversation may refine it later.
    fn telephony_outcome(&self, status: CallStatus) -> CallOutcome {
        match status {
            CallStatus::Busy => CallOutcome::Busy,
            CallStatus::NoAnswer => CallOutcome::NoAnswer,
            CallStatus::Failed => CallOutcome::Failed,
            CallStatus::Canceled => CallOutcome::Canceled,
            _ if self.amd_result.as_deref().is_some_and(is_machine) => CallOutcome::Voicemail,
            // Twilio reports `completed` only for calls that were answered, so this
            // holds even when the `in-progress` callback arrives late or never.
            CallStatus::Completed => CallOutcome::Held,
            _ => CallOutcome::Unknown,
        }
    }
}

/// The largest `SequenceNumber` accepted. Twilio counts one call's callbacks from 0, a
/// handful per call; a value past this is not Twilio's, and once stored it would
/// make every later callback stale.
pub const MAX_SEQUENCE_NUMBER: i64 = 1_000_000;

/// A status change reported by Twilio or through the API.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusUpdate {
    pub status: CallStatus,
    #[serde(default)]
    pub sequence_number: Option<i64>,
    #[serde(default)]
    pub timestamp: Option<Timestamp>,
    #[serde(default)]
    pub duration: Option<i64>,
    #[serde(default)]
    pub answered_by: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
}

impl StatusUpdate {
    pub fn to(status: CallStatus) -> Self {
        Self {
            status,
            ..Self::default()
        }
    }

    pub fn with_sequence(mut self, n: i64) -> Self {
        self.sequence_number = Some(n);
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefusalReason {
    /// The call already has a terminal status.
    AlreadyFinal,
    /// An update with an equal or higher `SequenceNumber` was already applied.
    StaleSequence,
    /// The update would move the call back in its life.
    Backwards,
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AlreadyFinal => "the call already ended; its status is final",
            Self::StaleSequence => "a later status update was already applied",
            Self::Backwards => "the status would move the call backwards",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    Applied {
        from: CallStatus,
        to: CallStatus,
    },
    Refused {
        current: CallStatus,
        reason: RefusalReason,
    },
    /// The status stays (refused for `reason`), but the update added facts the call
    /// lacked, e.g. the answer time of an `in-progress` that arrived after `completed`.
    Merged {
        current: CallStatus,
        reason: RefusalReason,
    },
}

impl StatusChange {
    /// Whether the status moved.
    pub fn applied(&self) -> bool {
        matches!(self, Self::Applied { .. })
    }

    /// Whether the call changed at all (a store writes it back only then).
    pub fn changed(&self) -> bool {
        !matches!(self, Self::Refused { .. })
    }
}

impl crate::time::MillisecondTimes for Call {
    fn truncate_times(&mut self) {
        use crate::time::{truncate, truncate_opt};
        truncate_opt(&mut self.start_time);
        truncate_opt(&mut self.end_time);
        truncate_opt(&mut self.answer_time);
        truncate(&mut self.created_at);
        truncate(&mut self.updated_at);
    }
}

/// Facts learned about a call outside its status callbacks (answering-machine detection,
/// the agent conversation, who hung up). Applied by [`CallPatch::apply`], whose rules
/// keep the first answer where a second one would rewrite history.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CallPatch {
    /// Set once: a call has one conversation.
    pub conversation_id: Option<String>,
    /// Twilio's `AnsweredBy` from asynchronous AMD; also sets `answeredBy` and, for a
    /// machine, the `voicemail` outcome.
    pub amd_result: Option<String>,
    /// Set once, with `termination_reason`: the side that ended the call first.
    pub terminated_by: Option<TerminatedBy>,
    pub termination_reason: Option<String>,
    /// An outcome decided by the conversation (replaces the telephony one).
    pub outcome: Option<CallOutcome>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}

/// The fields [`CallPatch::apply`] may read or write (for compare-and-set filters).
pub const CALL_PATCH_FIELDS: [&str; 8] = [
    "conversationId",
    "amdResult",
    "answeredBy",
    "outcome",
    "terminatedBy",
    "terminationReason",
    "errorCode",
    "errorMessage",
];

/// Whether an AMD `AnsweredBy` value means a machine answered (voicemail or fax).
pub fn is_machine(answered_by: &str) -> bool {
    answered_by.starts_with("machine") || answered_by == "fax"
}

impl CallPatch {
    /// Applies the patch; returns whether the call changed.
    pub fn apply(&self, call: &mut Call) -> bool {
        let before = call.clone();
        if call.conversation_id.is_none() {
            call.conversation_id.clone_from(&self.conversation_id);
        }
        if let Some(amd) = &self.amd_result {
            call.amd_result = Some(amd.clone());
            let machine = is_machine(amd);
            call.answered_by = Some(if machine { "machine" } else { amd.as_str() }.to_string());
            if machine
                && matches!(call.outcome, None | Some(CallOutcome::Held))
                && call.status.rank() >= 2
            {
                call.outcome = Some(CallOutcome::Voicemail);
            }
        }
        if call.terminated_by.is_none() && self.terminated_by.is_some() {
            call.terminated_by.clone_from(&self.terminated_by);
            call.termination_reason.clone_from(&self.termination_reason);
        }
        if self.outcome.is_some() {
            call.outcome = self.outcome;
        }
        if self.error_code.is_some() {
            call.error_code.clone_from(&self.error_code);
        }
        if self.error_message.is_some() {
            call.error_message.clone_from(&self.error_message);
        }
        *call != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn call_in(status: CallStatus) -> Call {
        let mut c = Call::new("CA1", "+15005550006", "+14155552671");
        c.status = status;
        c
    }

    #[test]
    fn moves_forward_through_a_call() {
        let mut c = call_in(CallStatus::Initiated);
        for (seq, s) in [
            (1, CallStatus::Ringing),
            (2, CallStatus::InProgress),
            (3, CallStatus::Completed),
        ] {
            assert!(
                c.apply_status(&StatusUpdate::to(s).with_sequence(seq))
                    .applied()
            );
        }
        assert_eq!(c.status, CallStatus::Completed);
        assert!(c.answer_time.is_some() && c.end_time.is_some());
        assert_eq!(c.outcome, Some(CallOutcome::Held));
    }

    #[test]
    fn terminal_status_is_final() {
        let mut c = call_in(CallStatus::Busy);
        let change = c.apply_status(&StatusUpdate::to(CallStatus::Completed).with_sequence(9));
        assert_eq!(
            change,
            StatusChange::Refused {
                current: CallStatus::Busy,
                reason: RefusalReason::AlreadyFinal
            }
        );
        assert_eq!(c.status, CallStatus::Busy);
    }

    #[test]
    fn late_ringing_after_answer_is_refused() {
        let mut c = call_in(CallStatus::Initiated);
        assert!(
            c.apply_status(&StatusUpdate::to(CallStatus::InProgress).with_sequence(2))
                .applied()
        );
        assert!(
            !c.apply_status(&StatusUpdate::to(CallStatus::Ringing).with_sequence(1))
                .applied()
        );
        assert_eq!(c.status, CallStatus::InProgress);
    }

    #[test]
    fn duplicate_sequence_is_refused() {
        let mut c = call_in(CallStatus::Initiated);
        assert!(
            c.apply_status(&StatusUpdate::to(CallStatus::Ringing).with_sequence(1))
                .applied()
        );
        let change = c.apply_status(&StatusUpdate::to(CallStatus::Ringing).with_sequence(1));
        assert_eq!(
            change,
            StatusChange::Refused {
                current: CallStatus::Ringing,
                reason: RefusalReason::StaleSequence
            }
        );
    }

    #[test]
    fn completed_means_answered_even_if_the_answer_callback_is_late() {
        let mut c = call_in(CallStatus::Ringing);
        c.apply_status(&StatusUpdate::to(CallStatus::Completed).with_sequence(3));
        assert_eq!(c.outcome, Some(CallOutcome::Held));
        assert!(
            !c.apply_status(&StatusUpdate::to(CallStatus::InProgress).with_sequence(2))
                .applied()
        );
        assert_eq!(c.outcome, Some(CallOutcome::Held));
    }

    /// One answered call's four callbacks, as Twilio sends them.
    fn four_callbacks() -> Vec<StatusUpdate> {
        let t0 = crate::time::now();
        [
            (CallStatus::Initiated, 0, None),
            (CallStatus::Ringing, 1, None),
            (CallStatus::InProgress, 2, None),
            (CallStatus::Completed, 3, Some(42)),
        ]
        .into_iter()
        .map(|(status, seq, duration)| StatusUpdate {
            status,
            sequence_number: Some(seq),
            timestamp: Some(t0 + chrono::TimeDelta::seconds(seq * 10)),
            duration,
            ..StatusUpdate::default()
        })
        .collect()
    }

    fn orders(n: usize) -> Vec<Vec<usize>> {
        if n == 0 {
            return vec![vec![]];
        }
        let mut all = Vec::new();
        for rest in orders(n - 1) {
            for at in 0..=rest.len() {
                let mut o = rest.clone();
                o.insert(at, n - 1);
                all.push(o);
            }
        }
        all
    }

    #[test]
    fn every_arrival_order_ends_in_one_call() {
        let updates = four_callbacks();
        let placed = call_in(CallStatus::Queued);
        let end = |order: &[usize]| {
            let mut c = placed.clone();
            for &i in order {
                c.apply_status(&updates[i]);
            }
            c
        };
        let expected = end(&[0, 1, 2, 3]);
        assert_eq!(expected.answer_time, updates[2].timestamp);
        assert_eq!(expected.start_time, updates[2].timestamp);
        assert_eq!(expected.end_time, updates[3].timestamp);
        let all = orders(4);
        assert_eq!(all.len(), 24);
        for order in all {
            assert_eq!(end(&order), expected, "order {order:?}");
            let twice: Vec<usize> = order.iter().chain(order.iter().rev()).copied().collect();
            assert_eq!(end(&twice), expected, "order {twice:?}");
        }
    }

    #[test]
    fn late_answer_after_the_end_is_merged_not_applied() {
        let updates = four_callbacks();
        let mut c = call_in(CallStatus::Ringing);
        c.apply_status(&updates[3]);
        assert_eq!(c.answer_time, None);
        assert_eq!(
            c.apply_status(&updates[2]),
            StatusChange::Merged {
                current: CallStatus::Completed,
                reason: RefusalReason::AlreadyFinal
            }
        );
        assert_eq!(c.status, CallStatus::Completed);
        assert_eq!(c.answer_time, updates[2].timestamp);
        assert_eq!(c.sequence_number, Some(3), "the sequence stays the highest");
        assert_eq!(
            c.apply_status(&updates[2]),
            StatusChange::Refused {
                current: CallStatus::Completed,
                reason: RefusalReason::AlreadyFinal
            },
            "a second copy adds nothing"
        );
    }

    #[test]
    fn late_answer_does_not_mark_an_unanswered_end_answered() {
        let updates = four_callbacks();
        let mut c = call_in(CallStatus::Ringing);
        c.apply_status(&StatusUpdate::to(CallStatus::Busy).with_sequence(3));
        assert!(!c.apply_status(&updates[2]).changed());
        assert_eq!(c.answer_time, None);
    }

    #[test]
    fn voicemail_outcome_comes_from_amd() {
        let mut c = call_in(CallStatus::InProgress);
        c.amd_result = Some("machine_end_beep".into());
        c.apply_status(&StatusUpdate::to(CallStatus::Completed));
        assert_eq!(c.outcome, Some(CallOutcome::Voicemail));
    }

    #[test]
    fn may_replace_matches_refusal() {
        for new in CallStatus::ALL {
            for old in CallStatus::ALL {
                let allowed = new.may_replace().contains(&old);
                let c = call_in(old);
                assert_eq!(
                    c.refusal(&StatusUpdate::to(new)).is_none(),
                    allowed,
                    "{old} -> {new}"
                );
            }
        }
    }

    #[test]
    fn parses_every_status_name() {
        for s in CallStatus::ALL {
            assert_eq!(s.as_str().parse::<CallStatus>(), Ok(s));
            assert_eq!(
                serde_json::to_value(s).expect("json"),
                serde_json::json!(s.as_str())
            );
        }
        assert!("done".parse::<CallStatus>().is_err());
    }

    #[test]
    fn patch_keeps_the_first_conversation_and_terminator() {
        let mut c = call_in(CallStatus::InProgress);
        let first = CallPatch {
            conversation_id: Some("conv1".into()),
            terminated_by: Some(TerminatedBy::Callee),
            termination_reason: Some("hung up".into()),
            ..Default::default()
        };
        assert!(first.apply(&mut c));
        let second = CallPatch {
            conversation_id: Some("conv2".into()),
            terminated_by: Some(TerminatedBy::Agent),
            termination_reason: Some("end_call".into()),
            ..Default::default()
        };
        assert!(!second.apply(&mut c), "nothing changes");
        assert_eq!(c.conversation_id.as_deref(), Some("conv1"));
        assert_eq!(c.terminated_by, Some(TerminatedBy::Callee));
        assert_eq!(c.termination_reason.as_deref(), Some("hung up"));
    }

    #[test]
    fn late_machine_detection_turns_a_held_call_into_voicemail() {
        let mut c = call_in(CallStatus::Initiated);
        c.apply_status(&StatusUpdate::to(CallStatus::InProgress));
        c.apply_status(&StatusUpdate::to(CallStatus::Completed));
        assert_eq!(c.outcome, Some(CallOutcome::Held));
        let amd = CallPatch {
            amd_result: Some("machine_end_beep".into()),
            ..Default::default()
        };
        assert!(amd.apply(&mut c));
        assert_eq!(c.outcome, Some(CallOutcome::Voicemail));
        assert_eq!(c.answered_by.as_deref(), Some("machine"));
        assert_eq!(
            c.status,
            CallStatus::Completed,
            "the telephony status stays"
        );
    }

    #[test]
    fn human_detection_keeps_the_outcome() {
        let mut c = call_in(CallStatus::InProgress);
        let amd = CallPatch {
            amd_result: Some("human".into()),
            ..Default::default()
        };
        assert!(amd.apply(&mut c));
        assert_eq!(c.answered_by.as_deref(), Some("human"));
        assert_eq!(c.outcome, None);
    }

    fn any_status() -> impl Strategy<Value = CallStatus> {
        proptest::sample::select(CallStatus::ALL.to_vec())
    }

    proptest! {
        /// Whatever order callbacks arrive in, the call never goes backwards, a terminal
        /// status never changes, and the result equals applying the highest-sequence
        /// update whose path to it was forward.
        #[test]
        fn any_delivery_order_is_monotonic(updates in proptest::collection::vec((any_status(), 0i64..20), 0..12)) {
            let mut c = call_in(CallStatus::Initiated);
            let mut last_rank = 0;
            let mut final_status: Option<CallStatus> = None;
            for (status, seq) in updates {
                let before = c.status;
                let change = c.apply_status(&StatusUpdate::to(status).with_sequence(seq));
                prop_assert!(c.status.rank() >= last_rank);
                last_rank = c.status.rank();
                if let Some(f) = final_status {
                    prop_assert_eq!(c.status, f);
                    prop_assert!(!change.applied());
                }
                if c.status.is_terminal() { final_status = Some(c.status); }
                if !change.applied() { prop_assert_eq!(c.status, before); }
            }
        }

        /// Delivering the same updates twice changes nothing the second time.
        #[test]
        fn redelivery_is_idempotent(updates in proptest::collection::vec((any_status(), 0i64..20), 0..12)) {
            let mut c = call_in(CallStatus::Initiated);
            for (status, seq) in &updates {
                c.apply_status(&StatusUpdate::to(*status).with_sequence(*seq));
            }
            let once = c.clone();
            for (status, seq) in &updates {
                prop_assert!(!c.apply_status(&StatusUpdate::to(*status).with_sequence(*seq)).applied());
            }
            prop_assert_eq!(c, once);
        }
    }
}
