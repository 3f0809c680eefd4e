//! Simulated calls: what was asked for, where each call is in its life, and the
//! registry the REST API reads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};

use super::media::MediaStats;
use super::scenario::Scenario;
use crate::faults::Dice;

/// The parameters of a create-call request that the simulation acts on.
#[derive(Debug, Clone)]
pub struct CallRequest {
    pub to: String,
    pub from: String,
    pub url: Option<String>,
    pub status_callback: Option<String>,
    pub status_events: Vec<String>,
    pub timeout_secs: u64,
    /// `TimeLimit`: the longest the call may last once answered (Twilio's default
    /// is four hours).
    pub time_limit_secs: Option<u64>,
    pub record: bool,
    pub recording_callback: Option<String>,
    pub machine_detection: Option<String>,
    pub async_amd_callback: Option<String>,
}

impl CallRequest {
    /// The `attemptId` in the StatusCallback URL's query, where outcall puts it.
    pub fn attempt_id(&self) -> Option<String> {
        attempt_id_of(self.status_callback.as_deref()?)
    }
}

/// The `attemptId` query parameter of a URL.
pub(super) fn attempt_id_of(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == "attemptId")
        .map(|(_, v)| v.into_owned())
}

/// How far a call has gone, in the order Twilio goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Created, nothing sent yet.
    Queued,
    /// The `initiated` callback was sent.
    Initiated,
    /// The TwiML was fetched (the call was answered).
    TwimlFetched,
    /// The media stream's `start` was sent.
    Streaming,
    /// The call reached its final status.
    Ended,
}

/// A callback held back by a reorder fault, sent after the call's next one.
#[derive(Debug, Clone)]
pub(super) struct HeldCallback {
    pub url: String,
    pub params: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct Progress {
    status: String,
    answered_by: Option<String>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    hangup: Option<bool>,
    twiml: Option<String>,
    /// New TwiML given through the REST API while the call is live, not yet run.
    redirect: Option<String>,
}

#[derive(Debug)]
struct Inner {
    sid: String,
    account_sid: String,
    request: CallRequest,
    scenario: Scenario,
    created: DateTime<Utc>,
    progress: Mutex<Progress>,
    hangup: Notify,
    redirected: Notify,
    media: Mutex<MediaStats>,
    stage: watch::Sender<Stage>,
    /// The call's share of a seeded fault profile's dice.
    dice: Option<Dice>,
    held: Mutex<Option<HeldCallback>>,
}

/// One simulated call. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SimCall(Arc<Inner>);

fn random_hex(n: usize) -> String {
    (0..n)
        .map(|_| format!("{:x}", rand::random::<u8>() & 0xf))
        .collect()
}

/// A Twilio-shaped sid: two letters and 32 hex digits.
pub fn new_sid(prefix: &str) -> String {
    format!("{prefix}{}", random_hex(32))
}

impl SimCall {
    pub fn new(account_sid: &str, request: CallRequest, scenario: Scenario) -> Self {
        Self::with_dice(account_sid, request, scenario, None)
    }

    pub(super) fn with_dice(
        account_sid: &str,
        request: CallRequest,
        scenario: Scenario,
        dice: Option<Dice>,
    ) -> Self {
        Self(Arc::new(Inner {
            sid: new_sid("CA"),
            account_sid: account_sid.to_string(),
            request,
            scenario,
            created: Utc::now(),
            progress: Mutex::new(Progress {
                status: "queued".into(),
                ..Default::default()
            }),
            hangup: Notify::new(),
            redirected: Notify::new(),
            media: Mutex::new(MediaStats::default()),
            stage: watch::Sender::new(Stage::Queued),
            dice,
            held: Mutex::new(None),
        }))
    }

    /// How far the call has gone.
    pub fn stage(&self) -> Stage {
        *self.0.stage.borrow()
    }

    /// Moves the call on to `stage` (never back).
    pub(super) fn reach(&self, stage: Stage) {
        self.0.stage.send_if_modified(|s| {
            let later = stage > *s;
            if later {
                *s = stage;
            }
            later
        });
    }

    /// Resolves once the call reached `stage` or ended.
    pub(super) async fn reached(&self, stage: Stage) {
        let mut rx = self.0.stage.subscribe();
        let _ = rx.wait_for(|s| *s >= stage).await;
    }

    pub(super) fn dice(&self) -> Option<&Dice> {
        self.0.dice.as_ref()
    }

    /// Holds back a callback (a reorder fault); returns the one held before, if any.
    pub(super) fn hold(&self, held: HeldCallback) -> Option<HeldCallback> {
        self.0
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(held)
    }

    /// Takes the callback held back, if any.
    pub(super) fn take_held(&self) -> Option<HeldCallback> {
        self.0.held.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    pub fn sid(&self) -> &str {
        &self.0.sid
    }

    pub fn account_sid(&self) -> &str {
        &self.0.account_sid
    }

    pub fn request(&self) -> &CallRequest {
        &self.0.request
    }

    pub fn scenario(&self) -> Scenario {
        self.0.scenario
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.0.progress.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn status(&self) -> String {
        self.progress().status.clone()
    }

    pub fn set_status(&self, status: &str) {
        let mut p = self.progress();
        p.status = status.to_string();
        let now = Utc::now();
        if status == "in-progress" {
            p.start = Some(now);
        }
        if matches!(
            status,
            "completed" | "busy" | "failed" | "no-answer" | "canceled"
        ) {
            p.end.get_or_insert(now);
        }
    }

    pub fn set_answered_by(&self, answered_by: &str) {
        self.progress().answered_by = Some(answered_by.to_string());
    }

    /// Seconds between answer and end (0 if never answered).
    pub fn duration_secs(&self) -> i64 {
        let p = self.progress();
        match (p.start, p.end.or(Some(Utc::now()))) {
            (Some(s), Some(e)) => (e - s).num_seconds().max(0),
            _ => 0,
        }
    }

    /// Keeps the TwiML our server answered with when the call was answered.
    pub fn set_twiml(&self, twiml: Option<String>) {
        self.progress().twiml = twiml;
    }

    /// The TwiML fetched at answer time, if any.
    pub fn twiml(&self) -> Option<String> {
        self.progress().twiml.clone()
    }

    /// Replaces what the live call does with `twiml` (REST `Twiml=`), as Twilio does:
    /// a media stream in progress is stopped and the new verbs run.
    pub fn request_redirect(&self, twiml: String) {
        self.progress().redirect = Some(twiml);
        self.0.redirected.notify_one();
    }

    /// The TwiML given through the REST API and not yet run, taking it.
    pub fn take_redirect(&self) -> Option<String> {
        let twiml = self.progress().redirect.take();
        if twiml.is_some() {
            self.set_twiml(twiml.clone());
        }
        twiml
    }

    /// Resolves when a hang-up or new TwiML is asked for.
    pub async fn interrupted(&self) {
        if self.progress().redirect.is_some() {
            return;
        }
        tokio::select! {
            _ = self.hangup_asked() => {}
            _ = self.0.redirected.notified() => {}
        }
    }

    /// Asks the call to end (REST `Status=completed|canceled`); the lifecycle reacts.
    pub fn request_hangup(&self, canceled: bool) {
        self.progress().hangup.get_or_insert(canceled);
        self.0.hangup.notify_one();
    }

    /// Whether a hang-up was asked for, and if so whether as `canceled`.
    pub fn hangup_requested(&self) -> Option<bool> {
        self.progress().hangup
    }

    /// Resolves when a hang-up is asked for (at once if it already was).
    pub async fn hangup_asked(&self) {
        if self.hangup_requested().is_some() {
            return;
        }
        self.0.hangup.notified().await;
    }

    /// What the call's media stream did so far (all zero if none was opened).
    pub fn media_stats(&self) -> MediaStats {
        self.0
            .media
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Updates the media stream's statistics.
    pub(super) fn update_media(&self, update: impl FnOnce(&mut MediaStats)) {
        update(&mut self.0.media.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// The Call resource as Twilio's REST API shows it.
    pub fn resource(&self) -> Value {
        let p = self.progress();
        let rfc2822 = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc2822());
        let duration = match (p.start, p.end) {
            (Some(s), Some(e)) => Some((e - s).num_seconds().max(0).to_string()),
            _ => None,
        };
        json!({
            "sid": self.0.sid,
            "account_sid": self.0.account_sid,
            "to": self.0.request.to,
            "from": self.0.request.from,
            "status": p.status,
            "direction": "outbound-api",
            "start_time": rfc2822(p.start),
            "end_time": rfc2822(p.end),
            "date_created": self.0.created.to_rfc2822(),
            "date_updated": Utc::now().to_rfc2822(),
            "duration": duration,
            "price": null,
            "price_unit": "USD",
            "answered_by": p.answered_by,
            "uri": format!("/2010-04-01/Accounts/{}/Calls/{}.json", self.0.account_sid, self.0.sid),
        })
    }
}

/// Every call the simulator has placed, by sid.
#[derive(Debug, Default)]
pub struct CallRegistry(Mutex<HashMap<String, SimCall>>);

impl CallRegistry {
    pub fn insert(&self, call: SimCall) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(call.sid().to_string(), call);
    }

    pub fn get(&self, sid: &str) -> Option<SimCall> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(sid)
            .cloned()
    }

    pub fn all(&self) -> Vec<SimCall> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}
