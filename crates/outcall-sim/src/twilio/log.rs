//! The simulator's own log of what it received, which tests read to check what
//! outcall really did: every create request (with the attempt id of its
//! StatusCallback URL, the fault applied, the call created if any), every
//! hang-up, every callback fault and every outage of the REST listener. Read in
//! process with [`super::TwilioSim::log`] or over HTTP at `GET /_sim/log`, a path
//! outside Twilio's API.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One `POST Calls.json` that passed authentication.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CreateRecord {
    /// Position among the create requests received (0-based).
    pub seq: u64,
    /// When the request was received (before any latency or fault).
    pub at: DateTime<Utc>,
    pub to: String,
    pub from: String,
    /// `attemptId` from the StatusCallback URL's query.
    pub attempt_id: Option<String>,
    /// The StatusCallback URL's origin (`http://host:port`): which server dialled.
    pub callback_origin: Option<String>,
    /// The fault applied (`CreateFault::name`, `rate-limit` for the simulated
    /// calls-per-second limit, `invalid` for a request Twilio refuses with 400).
    pub fault: Option<String>,
    /// The HTTP status answered; `None` when the connection was reset or closed
    /// without an answer.
    pub status: Option<u16>,
    /// The call created, if one was.
    pub call_sid: Option<String>,
}

/// One `POST Calls/{sid}` with `Status` (a hang-up or cancel).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HangupRecord {
    pub at: DateTime<Utc>,
    pub call_sid: String,
    /// The `Status` asked for (`completed` or `canceled`).
    pub status: String,
    /// The call's status when asked.
    pub call_status: String,
    pub attempt_id: Option<String>,
}

/// A callback that met a fault.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CallbackRecord {
    pub at: DateTime<Utc>,
    pub call_sid: String,
    /// A status event, `amd` or `recording`.
    pub event: String,
    /// `dropped`, `duplicated`, `delayed` or `reordered`.
    pub fault: String,
}

/// A time the REST listener refused connections.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OutageRecord {
    pub at: DateTime<Utc>,
    pub for_ms: u64,
}

/// Everything logged so far.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SimLog {
    pub creates: Vec<CreateRecord>,
    pub hangups: Vec<HangupRecord>,
    pub callback_faults: Vec<CallbackRecord>,
    pub outages: Vec<OutageRecord>,
}

impl SimLog {
    /// The creates that made a call.
    pub fn calls_created(&self) -> impl Iterator<Item = &CreateRecord> {
        self.creates.iter().filter(|c| c.call_sid.is_some())
    }
}

/// The log as the simulator writes it.
#[derive(Debug, Default)]
pub(super) struct LogBook(Mutex<SimLog>);

impl LogBook {
    fn with<T>(&self, f: impl FnOnce(&mut SimLog) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn snapshot(&self) -> SimLog {
        self.with(|l| l.clone())
    }

    /// Takes the next create sequence number and records the create.
    pub fn create(&self, mut record: CreateRecord) -> usize {
        self.with(|l| {
            record.seq = l.creates.len() as u64;
            l.creates.push(record);
            l.creates.len() - 1
        })
    }

    /// Completes a create's record once its outcome is known.
    pub fn update_create(&self, index: usize, f: impl FnOnce(&mut CreateRecord)) {
        self.with(|l| {
            if let Some(r) = l.creates.get_mut(index) {
                f(r);
            }
        });
    }

    pub fn hangup(&self, record: HangupRecord) {
        self.with(|l| l.hangups.push(record));
    }

    pub fn callback_fault(&self, record: CallbackRecord) {
        self.with(|l| l.callback_faults.push(record));
    }

    pub fn outage(&self, record: OutageRecord) {
        self.with(|l| l.outages.push(record));
    }
}
