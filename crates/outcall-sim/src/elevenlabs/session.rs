//! One conversation on the ConvAI WebSocket, from the server's side: wait for
//! `conversation_initiation_client_data`, answer with the metadata, then speak
//! the script's lines (`agent_response` and paced `audio` events), hear the
//! user after enough audio frames (`user_transcript`), ping and expect pongs,
//! and close after the last line. Afterwards, the post-call webhook.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use base64::Engine;
use outcall_elevenlabs::convai::{
    AgentResponseEvent, AudioEvent, ClientMessage, ConversationInitiationMetadata, DynamicValue,
    InterruptionEvent, PingEvent, ServerMessage, ULAW_8000, UserTranscriptionEvent,
};
use outcall_elevenlabs::webhook::Role;
use tokio::time::{Instant, MissedTickBehavior};

use super::conversation::{ConversationHandle, EndedBy};
use super::script::{AgentScript, AgentTimings};
use super::socket::{CLOSE_WAIT, NORMAL, NoInitiation, POLICY, close, receive_initiation};
use super::{Shared, audio, webhook};
use crate::probe::{Flow, FrameProbe};

/// How a conversation ended, and the close code sent or received.
type Ended = (EndedBy, Option<u16>);

pub(super) async fn run(shared: Arc<Shared>, mut socket: WebSocket, agent_id: String) {
    let opened = Instant::now();
    shared.sockets().opened += 1;
    let initiation = receive_initiation(&mut socket, shared.config.faults.init_timeout).await;
    {
        let mut stats = shared.sockets();
        stats.seconds_before_initiation += opened.elapsed().as_secs_f64();
        match &initiation {
            Ok(_) => stats.initiated += 1,
            Err(NoInitiation::ClientClosed) => stats.closed_before_initiation += 1,
            Err(NoInitiation::AgentClosed) => {
                stats.closed_before_initiation += 1;
                stats.closed_by_agent_before_initiation += 1;
            }
        }
    }
    let Ok((data, raw)) = initiation else {
        return;
    };
    let conversation_id = format!("conv_{}", hex(&rand::random::<[u8; 12]>()));
    tracing::info!(%conversation_id, "simulated conversation started");
    let conv = shared
        .conversations
        .open(conversation_id.clone(), agent_id, raw);
    let started = Instant::now();
    // The probe keys frames by call: outcall's `call_sid` variable, else the conversation.
    let probe = shared.config.probe.clone().map(|probe| {
        let call = match data.dynamic_variables.get("call_sid") {
            Some(DynamicValue::String(sid)) => sid.clone(),
            _ => conversation_id.clone(),
        };
        (probe, call)
    });
    let mut session = Session {
        socket,
        conv: conv.clone(),
        agent_lines: shared.config.script.agent_lines_for(&data),
        script: &shared.config.script,
        timings: shared.config.timings,
        started,
        next_event_id: 1,
        next_agent: 0,
        next_user: 0,
        heard: 0,
        user_turn_started: None,
        speech: None,
        pings: VecDeque::new(),
        last_rtt_ms: None,
        probe,
        close_at: shared
            .config
            .faults
            .close_mid_call_after
            .map(|after| started + after),
    };
    let outcome = if shared.dice.hit(shared.config.faults.silent_rate) {
        session.stay_silent().await
    } else {
        session.converse(conversation_id.clone()).await
    };
    let (ended_by, close_code) = match outcome {
        Ok(never) => match never {},
        Err(ended) => ended,
    };
    drop(session);
    tracing::info!(%conversation_id, ended_by = ended_by.as_str(), "simulated conversation ended");
    {
        let mut c = conv.lock();
        c.ended_by = Some(ended_by);
        c.close_code = close_code;
        c.duration_secs = Some(started.elapsed().as_secs_f64());
    }
    webhook::deliver(&shared, &conv).await;
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A sleep until `at`, or forever.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The agent's line being spoken; `left == 0` is the pause after the last
/// line, before closing.
#[derive(Debug)]
struct Speech {
    left: usize,
    sent: usize,
    /// Interrupt after this many frames.
    cut_after: Option<usize>,
    next_at: Instant,
    transcript_index: usize,
}

enum Event {
    Message(Option<Result<Message, axum::Error>>),
    Ping,
    Speech,
    PongOverdue,
    Fail,
}

struct Session<'a> {
    socket: WebSocket,
    conv: ConversationHandle,
    agent_lines: Vec<String>,
    script: &'a AgentScript,
    timings: AgentTimings,
    started: Instant,
    next_event_id: u64,
    next_agent: usize,
    next_user: usize,
    /// User frames heard in the current user turn.
    heard: u32,
    user_turn_started: Option<Instant>,
    speech: Option<Speech>,
    /// Pings not yet answered, oldest first.
    pings: VecDeque<(u64, Instant)>,
    last_rtt_ms: Option<u64>,
    /// The benchmark hook and this conversation's key in it.
    probe: Option<(Arc<dyn FrameProbe>, String)>,
    /// When the agent fails mid-call (`close_mid_call_after`).
    close_at: Option<Instant>,
}

/// Close code of a simulated agent failure.
const INTERNAL_ERROR: u16 = 1011;

impl Session<'_> {
    async fn converse(&mut self, conversation_id: String) -> Result<Infallible, Ended> {
        self.send(ServerMessage::ConversationInitiationMetadata(
            ConversationInitiationMetadata {
                conversation_id,
                agent_output_audio_format: Some(ULAW_8000.into()),
                user_input_audio_format: Some(ULAW_8000.into()),
            },
        ))
        .await?;
        self.speak_next().await?;
        let every = self.timings.ping_every.max(Duration::from_millis(1));
        let mut ping = tokio::time::interval_at(Instant::now() + every, every);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let speech_at = self.speech.as_ref().map(|s| s.next_at);
            let pong_due = self
                .pings
                .front()
                .map(|&(_, sent)| sent + self.timings.pong_timeout);
            let event = tokio::select! {
                message = self.socket.recv() => Event::Message(message),
                _ = ping.tick() => Event::Ping,
                () = until(speech_at) => Event::Speech,
                () = until(pong_due) => Event::PongOverdue,
                () = until(self.close_at) => Event::Fail,
            };
            match event {
                Event::Fail => return Err(self.fail().await),
                Event::Message(message) => self.on_message(message).await?,
                Event::Ping => self.ping().await?,
                Event::Speech => self.speech_step().await?,
                Event::PongOverdue => {
                    tracing::warn!("no pong in time: closing the conversation");
                    close(&mut self.socket, POLICY, "ping timeout").await;
                    return Err((EndedBy::NoPong, Some(POLICY)));
                }
            }
        }
    }

    /// The agent breaks: closes with 1011 mid-call.
    async fn fail(&mut self) -> Ended {
        tracing::warn!("simulated agent failure: closing the conversation");
        close(&mut self.socket, INTERNAL_ERROR, "simulated agent failure").await;
        (EndedBy::Agent, Some(INTERNAL_ERROR))
    }

    /// A silent agent: never speaks, never pings; it only hears the user's audio.
    async fn stay_silent(&mut self) -> Result<Infallible, Ended> {
        loop {
            let message = tokio::select! {
                message = self.socket.recv() => message,
                () = until(self.close_at) => return Err(self.fail().await),
            };
            match message {
                None | Some(Err(_)) => return Err((EndedBy::Client, None)),
                Some(Ok(Message::Close(frame))) => {
                    return Err((EndedBy::Client, frame.map(|f| f.code)));
                }
                Some(Ok(Message::Text(text))) => {
                    if let Ok(ClientMessage::UserAudioChunk(_)) =
                        ClientMessage::parse(text.as_str())
                    {
                        self.conv.lock().user_audio_frames += 1;
                    }
                }
                Some(Ok(_)) => {}
            }
        }
    }

    async fn send(&mut self, message: ServerMessage) -> Result<(), Ended> {
        self.send_text(message.to_json()).await
    }

    async fn send_text(&mut self, text: String) -> Result<(), Ended> {
        self.socket
            .send(Message::Text(text.into()))
            .await
            .map_err(|_| (EndedBy::Client, None))
    }

    fn event_id(&mut self) -> u64 {
        let id = self.next_event_id;
        self.next_event_id += 1;
        id
    }

    fn secs_since_start(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.started).as_secs_f64()
    }

    async fn on_message(
        &mut self,
        message: Option<Result<Message, axum::Error>>,
    ) -> Result<(), Ended> {
        let read_at = self.probe.is_some().then(std::time::Instant::now);
        let text = match message {
            None | Some(Err(_)) => return Err((EndedBy::Client, None)),
            Some(Ok(Message::Close(frame))) => {
                // Reading on flushes our reply to the close.
                let _ = tokio::time::timeout(CLOSE_WAIT, self.socket.recv()).await;
                return Err((EndedBy::Client, frame.map(|f| f.code)));
            }
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Binary(_))) => {
                tracing::warn!("binary ConvAI frame ignored");
                return Ok(());
            }
            Some(Ok(_)) => return Ok(()),
        };
        match ClientMessage::parse(text.as_str()) {
            Ok(ClientMessage::UserAudioChunk(chunk)) => {
                self.hear(&chunk.user_audio_chunk, read_at).await
            }
            Ok(ClientMessage::Pong(pong)) => {
                self.pong(pong.event_id);
                Ok(())
            }
            Ok(other) => {
                tracing::debug!(kind = ?other.kind(), "ConvAI client message ignored");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "unreadable ConvAI client message ignored");
                Ok(())
            }
        }
    }

    /// One user audio frame: counted, and once enough arrived while the
    /// agent listens, the user's next line is "heard" and answered.
    async fn hear(
        &mut self,
        base64: &str,
        read_at: Option<std::time::Instant>,
    ) -> Result<(), Ended> {
        if base64::engine::general_purpose::STANDARD
            .decode(base64)
            .is_err()
        {
            tracing::warn!("user_audio_chunk is not base64: ignored");
            self.conv.lock().invalid_audio_frames += 1;
            return Ok(());
        }
        if let (Some((probe, call)), Some(at)) = (&self.probe, read_at) {
            probe.received(Flow::CalleeToAgent, call, at);
        }
        self.conv.lock().user_audio_frames += 1;
        if self.speech.is_some() {
            return Ok(());
        }
        let started = *self.user_turn_started.get_or_insert_with(Instant::now);
        self.heard += 1;
        if self.heard < self.timings.user_turn_frames.max(1) {
            return Ok(());
        }
        let line = self.script.user_line(self.next_user).to_owned();
        self.next_user += 1;
        self.heard = 0;
        self.user_turn_started = None;
        self.conv
            .say(Role::User, &line, self.secs_since_start(started));
        self.send(ServerMessage::UserTranscript(UserTranscriptionEvent {
            user_transcript: line,
        }))
        .await?;
        self.speak_next().await
    }

    fn pong(&mut self, event_id: u64) {
        match self.pings.iter().position(|&(id, _)| id == event_id) {
            Some(pos) => {
                let sent = self.pings[pos].1;
                self.last_rtt_ms = u64::try_from(sent.elapsed().as_millis()).ok();
                // Answering a ping also answers the older ones.
                self.pings.drain(..=pos);
            }
            None => tracing::warn!(event_id, "pong for no outstanding ping"),
        }
    }

    async fn ping(&mut self) -> Result<(), Ended> {
        let event_id = self.event_id();
        self.pings.push_back((event_id, Instant::now()));
        self.send(ServerMessage::Ping(PingEvent {
            event_id,
            ping_ms: self.last_rtt_ms,
        }))
        .await
    }

    /// Starts the next agent line, or ends the conversation when none is left.
    async fn speak_next(&mut self) -> Result<(), Ended> {
        let turn = self.next_agent;
        let Some(line) = self.agent_lines.get(turn).cloned() else {
            close(&mut self.socket, NORMAL, "conversation ended").await;
            return Err((EndedBy::Agent, Some(NORMAL)));
        };
        self.next_agent += 1;
        let now = Instant::now();
        let transcript_index = self
            .conv
            .say(Role::Agent, &line, self.secs_since_start(now));
        let frames = audio::frames_for(&line, self.timings.speech_per_char);
        self.send(ServerMessage::AgentResponse(AgentResponseEvent {
            agent_response: line,
        }))
        .await?;
        self.speech = Some(Speech {
            left: frames,
            sent: 0,
            cut_after: (self.script.interrupt_after_turn == Some(turn))
                .then_some((frames / 2).max(1)),
            next_at: now,
            transcript_index,
        });
        Ok(())
    }

    /// Sends the next audio frame (and the interruption, when due), or
    /// closes after the pause that follows the last line.
    async fn speech_step(&mut self) -> Result<(), Ended> {
        let Some(speech) = self.speech.as_mut() else {
            return Ok(());
        };
        if speech.left == 0 {
            close(&mut self.socket, NORMAL, "conversation ended").await;
            return Err((EndedBy::Agent, Some(NORMAL)));
        }
        speech.left -= 1;
        speech.sent += 1;
        speech.next_at += self.timings.frame_interval;
        let (left, cut, index) = (
            speech.left,
            speech.cut_after == Some(speech.sent),
            speech.transcript_index,
        );
        let event_id = self.event_id();
        let text = ServerMessage::Audio(AudioEvent {
            audio_base_64: audio::frame_base64().to_owned(),
            event_id,
        })
        .to_json();
        if let Some((probe, call)) = &self.probe {
            probe.sent(Flow::AgentToCallee, call, std::time::Instant::now());
        }
        self.send_text(text).await?;
        if cut {
            self.send(ServerMessage::Interruption(InterruptionEvent { event_id }))
                .await?;
            if let Some(turn) = self.conv.lock().transcript.get_mut(index) {
                turn.interrupted = true;
            }
            self.listen();
        } else if left == 0 {
            if self.next_agent >= self.agent_lines.len() {
                self.speech = Some(Speech {
                    left: 0,
                    sent: 0,
                    cut_after: None,
                    next_at: Instant::now() + self.timings.end_grace,
                    transcript_index: index,
                });
            } else {
                self.listen();
            }
        }
        Ok(())
    }

    /// The agent stops speaking and starts counting the user's frames.
    fn listen(&mut self) {
        self.speech = None;
        self.heard = 0;
        self.user_turn_started = None;
    }
}
