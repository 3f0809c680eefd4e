//! The media stream Twilio opens for `<Connect><Stream url>`: a WebSocket client
//! to the server under test that sends `connected`, `start` (with the TwiML's
//! parameters), then a 20 ms `media` frame of the callee's μ-law audio at a time
//! (talk bursts and silence, so an agent can tell speech from quiet), optionally
//! `dtmf`, and `stop` when the call is hung up (`protocols.md`, "TwiML and Media
//! Streams").
//!
//! From the server it takes `media` (played at 20 ms per 160 bytes), `mark`
//! (echoed once the audio queued before it has played) and `clear` (drops queued
//! audio and echoes the pending marks). Unknown events are ignored; frames that
//! are not JSON, or not well-formed, are logged and counted. What happened is
//! kept in [`MediaStats`], read with [`SimCall::media_stats`].

use std::collections::VecDeque;
use std::f64::consts::PI;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine;
use futures::{SinkExt, StreamExt};
use outcall_twilio::media::{
    Dtmf, InboundMedia, InboundMessage, Mark, MediaFormat, OutboundMessage, StreamStart, StreamStop,
};
use tokio::net::TcpStream;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::Shared;
use super::calls::{SimCall, Stage, new_sid};
use super::twiml::StreamTarget;
use crate::probe::{Flow, FrameProbe};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Bytes of μ-law in one 20 ms frame at 8 kHz.
pub const FRAME_BYTES: usize = 160;
/// How long one frame lasts.
pub const FRAME: Duration = Duration::from_millis(20);
/// How long Twilio waits for the WebSocket handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the server's close frame after ours.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// μ-law of a zero sample: silence.
const SILENCE: u8 = 0xFF;

/// How simulated calls use media streams.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// Open the WebSocket of a `<Connect><Stream>`. When false the stream is not
    /// opened and the call stays up until hung up or the talk timer, as before media
    /// streams were simulated. Off by default: see [`MediaConfig::default`].
    pub enabled: bool,
    /// Length of each of the callee's talk bursts.
    pub talk_burst: Duration,
    /// Silence between talk bursts.
    pub silence: Duration,
    /// Key presses sent as `dtmf` events, one per digit, this long after `start`.
    pub dtmf: Option<(Duration, String)>,
    /// How long `<Say>` takes per character of text (capped by `Timings::talk`).
    pub say_per_char: Duration,
}

impl Default for MediaConfig {
    /// Streams off (an answered call whose stream cannot reach an agent would be
    /// ended by the server at once, which tests of the call flow do not want); bursts
    /// of 1.2 s of speech, 1.8 s of silence; no DTMF; 60 ms per character of `<Say>`.
    fn default() -> Self {
        Self {
            enabled: false,
            talk_burst: Duration::from_millis(1200),
            silence: Duration::from_millis(1800),
            dtmf: None,
            say_per_char: Duration::from_millis(60),
        }
    }
}

/// How a media stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The call was hung up (REST, callee, talk timer): `stop`, then a close frame.
    Stopped,
    /// `Scenario::NetworkDrop`: the TCP connection dropped, no `stop`, no close frame.
    Dropped,
    /// The server closed the WebSocket first (the agent ended the conversation).
    ServerClosed,
    /// The connection broke (read or write error) before anyone closed it.
    Failed,
    /// The WebSocket could not be opened (refused, upgrade refused, timeout, bad URL).
    ConnectFailed,
}

/// What one call's media stream did, for tests and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaStats {
    /// `connected` and `start` were sent.
    pub stream_started: bool,
    /// `MZ…` of the stream, once started.
    pub stream_sid: Option<String>,
    /// The TwiML URL streamed to.
    pub url: Option<String>,
    /// `media` frames sent to the server (callee audio).
    pub frames_sent: u64,
    /// Of those, frames of speech (not silence).
    pub speech_frames_sent: u64,
    /// `dtmf` events sent.
    pub dtmf_sent: u64,
    /// `media` messages received from the server.
    pub frames_received: u64,
    /// μ-law bytes received in them.
    pub bytes_received: u64,
    /// `mark` messages received.
    pub marks_received: u64,
    /// `mark` events sent back (played or cleared).
    pub marks_echoed: u64,
    /// `clear` messages received.
    pub clears_received: u64,
    /// Frames that were not JSON, malformed known events, binary frames, or for
    /// another stream.
    pub invalid_received: u64,
    /// Time from the stream's start to the server's first `media`.
    pub first_media_after: Option<Duration>,
    /// For each callee talk burst the server answered: time from the burst's end
    /// to the server's next `media`.
    pub response_latencies: Vec<Duration>,
    /// How the stream ended; `None` while it runs (or if never opened).
    pub ended: Option<StreamEnd>,
}

/// Runs the stream of `target` until the call is hung up (`stop`), `deadline`
/// passes (`stop`, or a silent drop when `drop_at_deadline`), or the server closes.
pub(super) async fn run(
    shared: &Shared,
    call: &SimCall,
    target: &StreamTarget,
    deadline: Instant,
    drop_at_deadline: bool,
) -> StreamEnd {
    call.update_media(|s| s.url = Some(target.url.clone()));
    let end = tokio::select! {
        socket = async {
            // The simulated latency of the connect.
            shared.hop(call.dice()).await;
            connect(shared, &target.url).await
        } => match socket {
            Ok(socket) => Stream::new(shared, call, target).run(socket, deadline, drop_at_deadline).await,
            Err(e) => {
                tracing::warn!(call_sid = call.sid(), url = %target.url, error = %e, "media stream cannot connect; ending the call");
                StreamEnd::ConnectFailed
            }
        },
        // Hung up while connecting: nothing was streamed.
        _ = call.interrupted() => StreamEnd::Stopped,
        _ = tokio::time::sleep_until(deadline) => StreamEnd::Stopped,
    };
    call.update_media(|s| s.ended = Some(end));
    end
}

/// Opens the WebSocket with `X-Twilio-Signature` over its URL, as Twilio does.
async fn connect(shared: &Shared, url: &str) -> Result<Socket, String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    let signature = outcall_twilio::signature::sign_form(url, &[], &shared.config.auth_token);
    if let Ok(value) = HeaderValue::from_str(&signature) {
        request.headers_mut().insert("X-Twilio-Signature", value);
    }
    let connect =
        tokio_tungstenite::connect_async_with_config(request, None, shared.config.tcp_nodelay);
    match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

/// A mark waiting for the audio queued before it to play.
#[derive(Debug)]
struct PendingMark {
    due: Instant,
    name: String,
}

/// One open stream's state.
#[derive(Debug)]
struct Stream<'a> {
    call: &'a SimCall,
    account_sid: String,
    stream_sid: String,
    parameters: std::collections::BTreeMap<String, String>,
    dtmf: Option<(Duration, String)>,
    talk_burst: Duration,
    cycle: Duration,
    sequence: u64,
    chunk: u64,
    started: Instant,
    /// When the audio the server queued will have played.
    played_until: Instant,
    marks: VecDeque<PendingMark>,
    /// The end of the callee's last talk burst, until the server answers it.
    awaiting_answer: Option<Instant>,
    was_talking: bool,
    probe: Option<Arc<dyn FrameProbe>>,
}

impl<'a> Stream<'a> {
    fn new(shared: &Shared, call: &'a SimCall, target: &StreamTarget) -> Self {
        let media = &shared.config.media;
        let now = Instant::now();
        let talk_burst = media.talk_burst;
        Self {
            call,
            account_sid: call.account_sid().to_string(),
            stream_sid: new_sid("MZ"),
            parameters: target.parameters.clone(),
            dtmf: media.dtmf.clone(),
            talk_burst,
            cycle: talk_burst + media.silence,
            sequence: 0,
            chunk: 0,
            started: now,
            played_until: now,
            marks: VecDeque::new(),
            awaiting_answer: None,
            was_talking: false,
            probe: shared.config.probe.clone(),
        }
    }

    fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    async fn run(
        mut self,
        mut socket: Socket,
        deadline: Instant,
        drop_at_deadline: bool,
    ) -> StreamEnd {
        if let Err(end) = self.open(&mut socket).await {
            return end;
        }
        let mut frames = tokio::time::interval_at(self.started, FRAME);
        frames.set_missed_tick_behavior(MissedTickBehavior::Burst);
        let dtmf_at = self.dtmf.as_ref().map(|(after, _)| self.started + *after);
        let mut dtmf_due = dtmf_at.is_some();
        loop {
            let next_mark = self.marks.front().map(|m| m.due);
            tokio::select! {
                _ = self.call.interrupted() => return self.stop(socket).await,
                _ = tokio::time::sleep_until(deadline) => {
                    if drop_at_deadline {
                        // Dropping the socket closes the TCP connection with no frame.
                        drop(socket);
                        return StreamEnd::Dropped;
                    }
                    return self.stop(socket).await;
                }
                _ = frames.tick() => {
                    let text = self.media_frame();
                    if let Some(probe) = &self.probe {
                        probe.sent(Flow::CalleeToAgent, self.call.sid(), std::time::Instant::now());
                    }
                    if let Err(e) = socket.send(Message::text(text)).await {
                        return failed(self.call, &e);
                    }
                }
                _ = sleep_until_opt(next_mark) => {
                    let now = Instant::now();
                    while self.marks.front().is_some_and(|m| m.due <= now) {
                        if let Some(mark) = self.marks.pop_front()
                            && let Err(e) = self.echo_mark(&mut socket, mark.name).await
                        {
                            return failed(self.call, &e);
                        }
                    }
                }
                _ = sleep_until_opt(dtmf_at.filter(|_| dtmf_due)) => {
                    dtmf_due = false;
                    if let Err(e) = self.send_dtmf(&mut socket).await {
                        return failed(self.call, &e);
                    }
                }
                frame = socket.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        if let Err(e) = self.receive(&mut socket, text.as_str()).await {
                            return failed(self.call, &e);
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        tracing::warn!(call_sid = self.call.sid(), "binary frame on a media stream ignored");
                        self.call.update_media(|s| s.invalid_received += 1);
                    }
                    Some(Ok(Message::Close(_))) | None => {
                        // The server ended the stream; Twilio moves past `<Connect>`.
                        // Reading the close frame queued our reply: send it, then go.
                        let _ = socket.flush().await;
                        return StreamEnd::ServerClosed;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return failed(self.call, &e),
                },
            }
        }
    }

    /// Sends `connected` and `start`.
    async fn open(&mut self, socket: &mut Socket) -> Result<(), StreamEnd> {
        let connected = InboundMessage::Connected {
            protocol: "Call".into(),
            version: "1.0.0".into(),
        };
        let sequence_number = self.next_sequence();
        let start = InboundMessage::Start {
            sequence_number,
            start: StreamStart {
                account_sid: self.account_sid.clone(),
                stream_sid: self.stream_sid.clone(),
                call_sid: self.call.sid().to_string(),
                tracks: vec!["inbound".into()],
                custom_parameters: self.parameters.clone(),
                media_format: MediaFormat::mulaw_8000(),
            },
            stream_sid: self.stream_sid.clone(),
        };
        for message in [connected, start] {
            if let Err(e) = socket.send(Message::text(to_json(&message))).await {
                return Err(failed(self.call, &e));
            }
        }
        self.started = Instant::now();
        self.played_until = self.started;
        let stream_sid = self.stream_sid.clone();
        self.call.update_media(|s| {
            s.stream_started = true;
            s.stream_sid = Some(stream_sid);
        });
        self.call.reach(Stage::Streaming);
        Ok(())
    }

    /// The next 20 ms of the callee: speech during a burst, else silence.
    fn media_frame(&mut self) -> String {
        self.chunk += 1;
        let now = Instant::now();
        let offset = FRAME * u32::try_from(self.chunk - 1).unwrap_or(u32::MAX);
        let talking = !self.cycle.is_zero()
            && Duration::from_nanos(
                u64::try_from(offset.as_nanos() % self.cycle.as_nanos()).unwrap_or(0),
            ) < self.talk_burst;
        if self.was_talking && !talking {
            self.awaiting_answer = Some(now);
        }
        self.was_talking = talking;
        let sequence_number = self.next_sequence();
        let message = InboundMessage::Media {
            sequence_number,
            media: InboundMedia {
                track: "inbound".into(),
                chunk: self.chunk,
                timestamp: u64::try_from(now.duration_since(self.started).as_millis())
                    .unwrap_or(u64::MAX),
                payload: if talking {
                    speech_payload()
                } else {
                    silence_payload()
                }
                .to_string(),
            },
            stream_sid: self.stream_sid.clone(),
        };
        self.call.update_media(|s| {
            s.frames_sent += 1;
            if talking {
                s.speech_frames_sent += 1;
            }
        });
        to_json(&message)
    }

    async fn send_dtmf(&mut self, socket: &mut Socket) -> Result<(), WsError> {
        let digits = self
            .dtmf
            .as_ref()
            .map(|(_, d)| d.clone())
            .unwrap_or_default();
        for digit in digits.chars() {
            let sequence_number = self.next_sequence();
            let message = InboundMessage::Dtmf {
                stream_sid: self.stream_sid.clone(),
                sequence_number,
                dtmf: Dtmf {
                    track: "inbound_track".into(),
                    digit: digit.to_string(),
                },
            };
            socket.send(Message::text(to_json(&message))).await?;
            self.call.update_media(|s| s.dtmf_sent += 1);
        }
        Ok(())
    }

    async fn echo_mark(&mut self, socket: &mut Socket, name: String) -> Result<(), WsError> {
        let sequence_number = self.next_sequence();
        let message = InboundMessage::Mark {
            sequence_number,
            stream_sid: self.stream_sid.clone(),
            mark: Mark { name },
        };
        socket.send(Message::text(to_json(&message))).await?;
        self.call.update_media(|s| s.marks_echoed += 1);
        Ok(())
    }

    /// Acts on one text frame from the server.
    async fn receive(&mut self, socket: &mut Socket, text: &str) -> Result<(), WsError> {
        let read_at = self.probe.is_some().then(std::time::Instant::now);
        let call_sid = self.call.sid();
        let event = match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value) => value["event"].as_str().map(str::to_string),
            Err(e) => {
                tracing::warn!(call_sid, error = %e, "media stream frame that is not JSON ignored");
                self.call.update_media(|s| s.invalid_received += 1);
                return Ok(());
            }
        };
        if !matches!(event.as_deref(), Some("media" | "mark" | "clear")) {
            tracing::debug!(call_sid, event, "unknown media stream event ignored");
            return Ok(());
        }
        let message = match OutboundMessage::parse(text) {
            Ok(message) => message,
            Err(e) => {
                tracing::warn!(call_sid, event, error = %e, "malformed media stream message ignored");
                self.call.update_media(|s| s.invalid_received += 1);
                return Ok(());
            }
        };
        let stream_sid = match &message {
            OutboundMessage::Media { stream_sid, .. }
            | OutboundMessage::Mark { stream_sid, .. }
            | OutboundMessage::Clear { stream_sid } => stream_sid,
        };
        if *stream_sid != self.stream_sid {
            tracing::warn!(call_sid, %stream_sid, "message for another stream ignored");
            self.call.update_media(|s| s.invalid_received += 1);
            return Ok(());
        }
        let now = Instant::now();
        match message {
            OutboundMessage::Media { media, .. } => {
                let Ok(audio) = base64::engine::general_purpose::STANDARD.decode(&media.payload)
                else {
                    tracing::warn!(call_sid, "media payload that is not base64 ignored");
                    self.call.update_media(|s| s.invalid_received += 1);
                    return Ok(());
                };
                let bytes = audio.len() as u64;
                // 8 bytes of μ-law per millisecond.
                let length = Duration::from_micros(bytes * 125);
                self.played_until = self.played_until.max(now) + length;
                let since_start = now.duration_since(self.started);
                let answered = self
                    .awaiting_answer
                    .take()
                    .map(|end| now.duration_since(end));
                if let (Some(probe), Some(at)) = (&self.probe, read_at) {
                    probe.received(Flow::AgentToCallee, call_sid, at);
                }
                self.call.update_media(|s| {
                    s.frames_received += 1;
                    s.bytes_received += bytes;
                    s.first_media_after.get_or_insert(since_start);
                    s.response_latencies.extend(answered);
                });
            }
            OutboundMessage::Mark { mark, .. } => {
                self.call.update_media(|s| s.marks_received += 1);
                if self.played_until <= now && self.marks.is_empty() {
                    self.echo_mark(socket, mark.name).await?;
                } else {
                    self.marks.push_back(PendingMark {
                        due: self.played_until.max(now),
                        name: mark.name,
                    });
                }
            }
            OutboundMessage::Clear { .. } => {
                self.call.update_media(|s| s.clears_received += 1);
                self.played_until = now;
                while let Some(mark) = self.marks.pop_front() {
                    self.echo_mark(socket, mark.name).await?;
                }
            }
        }
        Ok(())
    }

    /// The call was hung up: `stop`, then a close frame, then wait for the server's.
    async fn stop(mut self, mut socket: Socket) -> StreamEnd {
        let sequence_number = self.next_sequence();
        let stop = InboundMessage::Stop {
            sequence_number,
            stream_sid: self.stream_sid.clone(),
            stop: StreamStop {
                account_sid: self.account_sid.clone(),
                call_sid: self.call.sid().to_string(),
            },
        };
        if let Err(e) = socket.send(Message::text(to_json(&stop))).await {
            return failed(self.call, &e);
        }
        let _ = socket.close(None).await;
        drain(&mut socket).await;
        StreamEnd::Stopped
    }
}

/// Reads until the peer's close frame (or the end, or an error), for a clean closing
/// handshake.
async fn drain(socket: &mut Socket) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        while let Some(Ok(frame)) = socket.next().await {
            if frame.is_close() {
                break;
            }
        }
    })
    .await;
}

fn failed(call: &SimCall, e: &WsError) -> StreamEnd {
    tracing::warn!(call_sid = call.sid(), error = %e, "media stream broke");
    StreamEnd::Failed
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn to_json(message: &InboundMessage) -> String {
    message
        .to_json()
        .expect("BUG: known media stream events always serialize")
}

/// Base64 of one frame of silence.
fn silence_payload() -> &'static str {
    static PAYLOAD: OnceLock<String> = OnceLock::new();
    PAYLOAD.get_or_init(|| base64::engine::general_purpose::STANDARD.encode([SILENCE; FRAME_BYTES]))
}

/// Base64 of one frame of "speech": a 400 Hz tone (exactly 8 periods a frame, so
/// frames join without a click).
fn speech_payload() -> &'static str {
    static PAYLOAD: OnceLock<String> = OnceLock::new();
    PAYLOAD.get_or_init(|| {
        let frame: Vec<u8> = (0..FRAME_BYTES)
            .map(|i| {
                let t = i as f64 / 8000.0;
                linear_to_ulaw((8000.0 * (2.0 * PI * 400.0 * t).sin()) as i16)
            })
            .collect();
        base64::engine::general_purpose::STANDARD.encode(frame)
    })
}

/// G.711 μ-law encoding of one 16-bit sample.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32635;
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    let highest = 31 - s.leading_zeros() as i32;
    let exponent = (highest - 7).clamp(0, 7);
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) | mantissa) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_encoding() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(-1), 0x7F);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(silence_payload().len(), 216);
        assert_eq!(speech_payload().len(), 216);
        assert_ne!(speech_payload(), silence_payload());
    }
}
