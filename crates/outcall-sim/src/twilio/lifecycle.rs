//! One simulated call from dial to hang-up, as Twilio runs it: status callbacks in
//! order with `SequenceNumber`, the TwiML fetch when answered, asynchronous AMD, and
//! the recording callback after the end. Every request is signed with
//! `X-Twilio-Signature`, and a failed one is retried once, as Twilio does. The
//! fetched TwiML is then run: `<Say>`, `<Pause>`, `<Hangup/>`, and
//! `<Connect><Stream>` (the media stream, in [`super::media`]); past its last verb
//! the call ends. Without TwiML the call stays up until hung up.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::Shared;
use super::calls::{HeldCallback, SimCall, Stage, new_sid};
use super::faults::CallbackFault;
use super::log::CallbackRecord;
use super::media;
use super::scenario::Scenario;
use super::twiml::{self, Verb};

/// The longest a simulated call lasts when nobody hangs up.
const MAX_CALL: Duration = Duration::from_secs(600);

/// Runs a call's life, counting it as live (created, not yet final) meanwhile.
pub(super) async fn run(shared: Arc<Shared>, call: SimCall) {
    use std::sync::atomic::Ordering::SeqCst;
    let live = shared.live.fetch_add(1, SeqCst) + 1;
    shared.peak_live.fetch_max(live, SeqCst);
    live_call(shared.clone(), call.clone()).await;
    // A callback held back by a reorder fault goes out last.
    if let Some(held) = call.take_held() {
        send(&shared, &call, &held.url, held.params).await;
    }
    call.reach(Stage::Ended);
    shared.live.fetch_sub(1, SeqCst);
}

async fn live_call(shared: Arc<Shared>, call: SimCall) {
    let timings = shared.config.timings;
    let mut seq = 0u64;
    let scenario = call.scenario();

    tokio::time::sleep(timings.dial).await;
    call.set_status("initiated");
    status_callback(&shared, &call, "initiated", &mut seq).await;
    call.reach(Stage::Initiated);
    if scenario == Scenario::Failed {
        return finish(&shared, &call, "failed", &mut seq).await;
    }

    call.set_status("ringing");
    status_callback(&shared, &call, "ringing", &mut seq).await;
    if scenario == Scenario::Busy {
        return finish(&shared, &call, "busy", &mut seq).await;
    }
    let ring = if scenario.answers() {
        timings.ring
    } else {
        timings
            .ring
            .min(Duration::from_secs(call.request().timeout_secs))
    };
    tokio::select! {
        _ = tokio::time::sleep(ring) => {}
        _ = call.hangup_asked() => return finish(&shared, &call, "canceled", &mut seq).await,
    }
    if !scenario.answers() {
        return finish(&shared, &call, "no-answer", &mut seq).await;
    }

    call.set_status("in-progress");
    if let Some(answered_by) = scenario.answered_by()
        && call.request().machine_detection.is_some()
    {
        call.set_answered_by(answered_by);
        if let Some(url) = call.request().async_amd_callback.clone() {
            let (shared, call) = (shared.clone(), call.clone());
            tokio::spawn(async move {
                tokio::time::sleep(timings.amd).await;
                let mut params = base_params(&call, "in-progress");
                params.push(("AnsweredBy".into(), answered_by.into()));
                params.push((
                    "MachineDetectionDuration".into(),
                    timings.amd.as_millis().to_string(),
                ));
                callback(&shared, &call, "amd", url, params).await;
            });
        }
    }
    if let Some(url) = call.request().url.clone() {
        // Twilio asks for the TwiML when the call is answered.
        shared.hop(call.dice()).await;
        let twiml = shared
            .deliver(&url, base_params(&call, "in-progress"))
            .await;
        call.set_twiml(twiml);
    }
    call.reach(Stage::TwimlFetched);
    status_callback(&shared, &call, "answered", &mut seq).await;

    let talk = match scenario {
        Scenario::CalleeHangsUp | Scenario::NetworkDrop => timings.talk,
        _ => MAX_CALL,
    };
    // Twilio ends the call at its `TimeLimit`, whatever goes on in it.
    let talk = call
        .request()
        .time_limit_secs
        .map_or(talk, |s| talk.min(Duration::from_secs(s)));
    let deadline = tokio::time::Instant::now() + talk;
    let verbs = call.twiml().and_then(|t| twiml::parse(&t));
    match verbs {
        Some(verbs) => run_twiml(&shared, &call, verbs, deadline).await,
        // No TwiML (the fetch failed) or none we can read: the call stays up.
        None => {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {}
                _ = call.hangup_asked() => {}
            }
        }
    }
    finish(&shared, &call, "completed", &mut seq).await;
    if call.request().record {
        recording_callback(&shared, &call).await;
    }
}

/// Runs the answered call's TwiML verbs in order until one ends the call, the call is
/// hung up, or `deadline` (the callee's hang-up) passes; past the last verb the call
/// ends, as on Twilio. TwiML given through the REST API meanwhile replaces the rest.
async fn run_twiml(shared: &Arc<Shared>, call: &SimCall, verbs: Vec<Verb>, deadline: Instant) {
    let cap = shared.config.timings.talk;
    let mut verbs: VecDeque<Verb> = verbs.into();
    // New TwiML from the REST API replaces what was left to run.
    let redirected = |verbs: &mut VecDeque<Verb>| match call.take_redirect() {
        Some(twiml) => {
            *verbs = twiml::parse(&twiml).unwrap_or_default().into();
            true
        }
        None => false,
    };
    while let Some(verb) = verbs.pop_front() {
        let wait = match verb {
            Verb::Hangup => return,
            Verb::Other(name) => {
                tracing::debug!(call_sid = call.sid(), verb = %name, "TwiML verb skipped");
                continue;
            }
            Verb::Say(text) => shared
                .config
                .media
                .say_per_char
                .saturating_mul(u32::try_from(text.chars().count()).unwrap_or(u32::MAX))
                .min(cap),
            Verb::Pause(length) => length.min(cap),
            Verb::Stream(target) => {
                if !shared.config.media.enabled {
                    // Streams off: the call stays up as if the conversation went on.
                    tokio::select! {
                        _ = tokio::time::sleep_until(deadline) => return,
                        _ = call.interrupted() => {}
                    }
                    if redirected(&mut verbs) {
                        continue;
                    }
                    return;
                }
                let drop = call.scenario() == Scenario::NetworkDrop;
                match media::run(shared, call, &target, deadline, drop).await {
                    media::StreamEnd::ServerClosed
                    | media::StreamEnd::ConnectFailed
                    | media::StreamEnd::Failed => {
                        if call.hangup_requested().is_some() {
                            return;
                        }
                        redirected(&mut verbs);
                        tracing::info!(call_sid = call.sid(), "media stream over; next TwiML verb");
                        continue;
                    }
                    media::StreamEnd::Stopped
                        if call.hangup_requested().is_none() && redirected(&mut verbs) =>
                    {
                        continue;
                    }
                    media::StreamEnd::Stopped | media::StreamEnd::Dropped => return,
                }
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = tokio::time::sleep_until(deadline) => return,
            _ = call.interrupted() => {
                if call.hangup_requested().is_some() || !redirected(&mut verbs) {
                    return;
                }
            }
        }
    }
}

/// Ends the call with `status` and sends the `completed` event's callback.
async fn finish(shared: &Arc<Shared>, call: &SimCall, status: &str, seq: &mut u64) {
    call.set_status(status);
    status_callback(shared, call, "completed", seq).await;
}

/// Sends a callback through the faults in force for it: dropped, duplicated,
/// delayed (in the background) or held back until the call's next callback.
async fn callback(
    shared: &Arc<Shared>,
    call: &SimCall,
    event: &str,
    url: String,
    params: Vec<(String, String)>,
) {
    let pending = Pending::new(shared);
    let request = call.request();
    let attempt = request.attempt_id();
    let fault = shared
        .faults
        .decide_callback(event, &request.to, attempt.as_deref(), call.dice());
    if let Some(f) = fault {
        shared.log.callback_fault(CallbackRecord {
            at: chrono::Utc::now(),
            call_sid: call.sid().to_string(),
            event: event.to_string(),
            fault: f.name().to_string(),
        });
    }
    match fault {
        None => send(shared, call, &url, params).await,
        Some(CallbackFault::Drop) => {}
        Some(CallbackFault::Duplicate) => {
            send(shared, call, &url, params.clone()).await;
            send(shared, call, &url, params).await;
        }
        Some(CallbackFault::Delay(d)) => {
            let (shared, call) = (shared.clone(), call.clone());
            tokio::spawn(async move {
                let _pending = pending;
                tokio::time::sleep(d).await;
                send(&shared, &call, &url, params).await;
            });
        }
        Some(CallbackFault::Reorder) => {
            // Two in a row: the one held before goes out now, this one waits.
            if let Some(earlier) = call.hold(HeldCallback { url, params }) {
                send(shared, call, &earlier.url, earlier.params).await;
            }
            return;
        }
    }
    if let Some(held) = call.take_held() {
        send(shared, call, &held.url, held.params).await;
    }
}

/// Counts a callback as pending until dropped.
struct Pending(Arc<Shared>);

impl Pending {
    fn new(shared: &Arc<Shared>) -> Self {
        shared
            .pending_callbacks
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(shared.clone())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.0
            .pending_callbacks
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// One callback's hop: its latency, then the signed request.
async fn send(shared: &Shared, call: &SimCall, url: &str, params: Vec<(String, String)>) {
    shared.hop(call.dice()).await;
    shared.deliver(url, params).await;
}

/// Parameters every Twilio voice request carries.
fn base_params(call: &SimCall, status: &str) -> Vec<(String, String)> {
    vec![
        ("CallSid".into(), call.sid().into()),
        ("AccountSid".into(), call.account_sid().into()),
        ("From".into(), call.request().from.clone()),
        ("To".into(), call.request().to.clone()),
        ("CallStatus".into(), status.into()),
        ("ApiVersion".into(), "2010-04-01".into()),
        ("Direction".into(), "outbound-api".into()),
    ]
}

/// Sends the status callback of `event` if the request asked for it.
async fn status_callback(shared: &Arc<Shared>, call: &SimCall, event: &str, seq: &mut u64) {
    let request = call.request();
    let Some(url) = request.status_callback.clone() else {
        return;
    };
    if !request.status_events.iter().any(|e| e == event) {
        return;
    }
    let status = call.status();
    let mut params = base_params(call, &status);
    params.push(("CallbackSource".into(), "call-progress-events".into()));
    params.push(("SequenceNumber".into(), seq.to_string()));
    params.push(("Timestamp".into(), chrono::Utc::now().to_rfc2822()));
    if event == "completed" {
        params.push(("CallDuration".into(), call.duration_secs().to_string()));
    }
    if request.machine_detection.is_some()
        && let Some(answered_by) = call.resource()["answered_by"].as_str()
    {
        params.push(("AnsweredBy".into(), answered_by.into()));
    }
    *seq += 1;
    callback(shared, call, event, url, params).await;
}

async fn recording_callback(shared: &Arc<Shared>, call: &SimCall) {
    let Some(url) = call.request().recording_callback.clone() else {
        return;
    };
    let sid = new_sid("RE");
    let mut params = vec![
        ("AccountSid".into(), call.account_sid().to_string()),
        ("CallSid".into(), call.sid().to_string()),
        ("RecordingSid".into(), sid.clone()),
        (
            "RecordingUrl".into(),
            format!(
                "{}/2010-04-01/Accounts/{}/Recordings/{sid}",
                shared.base_url(),
                call.account_sid()
            ),
        ),
        ("RecordingStatus".into(), "completed".into()),
        ("RecordingDuration".into(), call.duration_secs().to_string()),
        ("RecordingChannels".into(), "1".into()),
        ("RecordingStartTime".into(), chrono::Utc::now().to_rfc2822()),
        ("RecordingSource".into(), "OutboundAPI".into()),
        ("RecordingTrack".into(), "both".into()),
    ];
    params.push(("ErrorCode".into(), "0".into()));
    callback(shared, call, "recording", url, params).await;
}
