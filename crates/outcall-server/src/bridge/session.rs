//! One call's relay between Twilio Media Streams and an ElevenLabs conversation,
//! once [`super::setup`] has the agent ready: `run` is only the `select!` over the
//! two sockets and the shutdown; then the call is closed once, by [`finish`].

use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message as TwilioFrame, WebSocket};
use futures::StreamExt;
use outcall_domain::call::{CallPatch, CallStatus, TerminatedBy};
use outcall_domain::transcript::Role;
use outcall_elevenlabs::convai::{
    ClientMessage, InterruptionGate, Pong, ServerMessage, user_audio_chunk_json,
};
use outcall_twilio::media::{InboundMessage, OutboundMessage};
use serde_json::{Map, json};
use tokio_tungstenite::tungstenite::Message as AgentFrame;

use super::link::{AgentSocket, SendError, send_within};
use super::recorder::{Note, Recorder, turn};
use super::setup;
use crate::AppState;
use crate::bus::{BusEvent, TranscriptUpdate};

/// Which side ended the conversation first, and why.
#[derive(Debug)]
enum Ending {
    /// Twilio sent `stop` or closed: the callee hung up (or the network dropped).
    Callee(&'static str),
    /// The agent closed the conversation.
    Agent,
    /// The agent side failed or timed out, or Twilio stopped reading: outcall ends it.
    System(String),
    /// The process is shutting down and the grace is over.
    Shutdown,
}

/// Runs the bridge for one Twilio connection until the call's conversation ends.
///
/// This future lives as long as the call, and its size is that of its largest step:
/// the set-up and the end (store reads, HTTP requests, the connect) are boxed, so
/// they take memory only while they run and the call's resident state is the relay.
pub async fn run(state: AppState, mut twilio: WebSocket) {
    let Some(accepted) = Box::pin(setup::handshake(&state, &mut twilio))
        .await
        .map(Box::new)
    else {
        let _ = twilio
            .send(TwilioFrame::Close(Some(CloseFrame {
                code: 1008,
                reason: "not authorised".into(),
            })))
            .await;
        return;
    };
    // Counted live from here until the call is closed, so a drain waits for it.
    let _live = state.drain.live_call();
    let call_sid = accepted.start.call_sid.clone();
    let (recorder, writer) = Recorder::start(state.clone(), call_sid.clone());
    let mut session = Session {
        send_timeout: state.bridge.settings.send_timeout(),
        state,
        call_sid: call_sid.clone(),
        stream_sid: accepted.start.stream_sid.clone(),
        started: Instant::now(),
        gate: InterruptionGate::new(),
        recorder,
        agent_started: false,
    };
    let drain = session.state.drain.clone();
    let ready = tokio::select! {
        // Boxed: the socket (over a kilobyte with its TLS state) is then one pointer in
        // this future and in the relay's, not a copy in each.
        ready = Box::pin(setup::ready_agent(&session.state, &call_sid, &accepted.claims)) => Some(ready.map(Box::new)),
        () = drain.ending() => None,
    };
    // Not needed past the set-up: moved out so the relay's state does not carry it.
    drop(accepted);
    let ending = match ready {
        Some(Ok(agent)) => session.relay(&mut twilio, agent).await,
        Some(Err(reason)) => Ending::System(reason),
        None => Ending::Shutdown,
    };
    // Hang up through Twilio before closing the stream: a closed stream ends the call
    // at Twilio by itself, and then nobody would know the system ended it.
    Box::pin(session.finish(ending)).await;
    let _ = tokio::time::timeout(session.send_timeout, twilio.send(TwilioFrame::Close(None))).await;
    drop(session);
    let _ = writer.await;
    tracing::info!(%call_sid, "media stream ended");
}

#[derive(Debug)]
struct Session {
    state: AppState,
    call_sid: String,
    stream_sid: String,
    started: Instant,
    send_timeout: Duration,
    gate: InterruptionGate,
    recorder: Recorder,
    /// The agent sent `conversation_initiation_metadata`: the conversation is on.
    agent_started: bool,
}

fn agent_lost(e: SendError, limit: Duration) -> Ending {
    match e {
        SendError::TimedOut => Ending::System(format!(
            "the agent stopped reading: a write took over {} ms",
            limit.as_millis()
        )),
        SendError::Closed(e) => Ending::System(format!("agent connection lost: {e}")),
    }
}

fn twilio_lost(e: SendError, limit: Duration) -> Ending {
    match e {
        SendError::TimedOut => Ending::System(format!(
            "Twilio stopped reading the stream: a write took over {} ms",
            limit.as_millis()
        )),
        SendError::Closed(_) => Ending::Callee("stream dropped"),
    }
}

impl Session {
    fn secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Relays until one side ends or the shutdown says so. Audio goes straight
    /// through; the rest is noted.
    async fn relay(&mut self, twilio: &mut WebSocket, mut agent: Box<AgentSocket>) -> Ending {
        let agent: &mut AgentSocket = &mut agent;
        let drain = self.state.drain.clone();
        let shutdown = drain.ending();
        let mut shutdown = std::pin::pin!(shutdown);
        let limit = self.send_timeout;
        // An agent that never starts the conversation would leave the callee in
        // silence for as long as the call lasts: it gets the connect timeout.
        let start_limit = self.state.bridge.settings.connect_timeout();
        let agent_start = tokio::time::sleep(start_limit);
        let mut agent_start = std::pin::pin!(agent_start);
        let ending = loop {
            tokio::select! {
                () = &mut agent_start, if !self.agent_started => {
                    break Ending::System(format!(
                        "the agent did not start the conversation within {} ms",
                        start_limit.as_millis()
                    ));
                }
                frame = twilio.recv() => match frame {
                    Some(Ok(TwilioFrame::Text(text))) => {
                        match InboundMessage::parse(text.as_str()) {
                            Ok(Some(InboundMessage::Media { media, .. })) => {
                                let chunk = user_audio_chunk_json(&media.payload);
                                if let Err(e) = send_within(agent, AgentFrame::text(chunk), limit).await {
                                    break agent_lost(e, limit);
                                }
                            }
                            Ok(Some(InboundMessage::Stop { .. })) => break Ending::Callee("hung up"),
                            Ok(Some(InboundMessage::Dtmf { dtmf, .. })) => {
                                let mut data = Map::new();
                                data.insert("digit".into(), json!(dtmf.digit));
                                self.recorder.note(Note::Event("dtmf", Box::new(data)));
                            }
                            Ok(_) => {}
                            Err(e) => tracing::warn!(error = %e, "unreadable media-stream message"),
                        }
                    }
                    Some(Ok(TwilioFrame::Close(_))) | None => break Ending::Callee("stream closed"),
                    Some(Err(_)) => break Ending::Callee("stream dropped"),
                    Some(Ok(_)) => {}
                },
                frame = agent.next() => match frame {
                    Some(Ok(AgentFrame::Text(text))) => {
                        if let Some(end) = self.handle_agent_message(text.as_str(), twilio, agent).await {
                            break end;
                        }
                    }
                    Some(Ok(AgentFrame::Close(_))) | None => break Ending::Agent,
                    Some(Err(e)) => break Ending::System(format!("agent connection lost: {e}")),
                    Some(Ok(_)) => {}
                },
                () = &mut shutdown => break Ending::Shutdown,
            }
        };
        if !matches!(ending, Ending::Agent) {
            let _ = tokio::time::timeout(limit, futures::SinkExt::close(agent)).await;
        }
        ending
    }

    /// Handles one agent message; `Some` when the relay must stop.
    async fn handle_agent_message(
        &mut self,
        text: &str,
        twilio: &mut WebSocket,
        agent: &mut AgentSocket,
    ) -> Option<Ending> {
        let message = match ServerMessage::parse(text) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable agent message");
                return None;
            }
        };
        let limit = self.send_timeout;
        let to_twilio = match message {
            ServerMessage::Audio(audio) => {
                if self.gate.should_drop(audio.event_id) {
                    return None;
                }
                Some(OutboundMessage::media(&self.stream_sid, audio.audio_base_64).to_json())
            }
            ServerMessage::Interruption(i) => self
                .gate
                .interrupt(i.event_id)
                .then(|| OutboundMessage::clear(&self.stream_sid).to_json()),
            ServerMessage::Ping(ping) => {
                let pong = ClientMessage::Pong(Pong {
                    event_id: ping.event_id,
                })
                .to_json();
                if let Err(e) = send_within(agent, AgentFrame::text(pong), limit).await {
                    return Some(agent_lost(e, limit));
                }
                None
            }
            ServerMessage::ConversationInitiationMetadata(meta) => {
                self.agent_started = true;
                self.recorder
                    .note(Note::ConversationStarted(meta.conversation_id));
                None
            }
            ServerMessage::AgentResponse(r) => {
                self.utterance(Role::Agent, r.agent_response);
                None
            }
            ServerMessage::UserTranscript(u) => {
                self.utterance(Role::User, u.user_transcript);
                None
            }
            _ => None,
        };
        if let Some(json) = to_twilio
            && let Err(e) = send_within(twilio, TwilioFrame::Text(json.into()), limit).await
        {
            return Some(twilio_lost(e, limit));
        }
        None
    }

    /// Publishes an utterance at once, then hands it to the recorder.
    fn utterance(&mut self, role: Role, message: String) {
        let secs = self.secs();
        self.state
            .bus
            .publish(BusEvent::Transcript(TranscriptUpdate {
                call_sid: self.call_sid.clone(),
                role: role.clone(),
                message: message.clone(),
                time_in_call_secs: secs,
                is_final: true,
            }));
        self.recorder
            .note(Note::Turn(Box::new(turn(role, message, secs))));
    }

    /// Records who ended the call and hangs it up through Twilio if the callee has not.
    async fn finish(&mut self, ending: Ending) {
        let (by, reason, hang_up) = match &ending {
            Ending::Callee(why) => (TerminatedBy::Callee, why.to_string(), false),
            Ending::Agent => (
                TerminatedBy::Agent,
                "the agent ended the conversation".to_string(),
                true,
            ),
            Ending::System(why) => (TerminatedBy::System, why.clone(), true),
            Ending::Shutdown => (
                TerminatedBy::System,
                crate::drain::SHUTDOWN_REASON.to_string(),
                true,
            ),
        };
        match &ending {
            Ending::System(why) => {
                tracing::warn!(call_sid = %self.call_sid, reason = %why, "agent conversation failed; ending the call");
                let mut data = Map::new();
                data.insert("reason".into(), json!(why));
                self.recorder
                    .note(Note::Event("conversation-failed", Box::new(data)));
            }
            Ending::Shutdown => {
                tracing::info!(call_sid = %self.call_sid, "ending the call: shutdown");
                self.state.bridge.note_shutdown_ended(&self.call_sid);
            }
            _ => {}
        }
        let patch = CallPatch {
            terminated_by: Some(by),
            termination_reason: Some(reason),
            ..Default::default()
        };
        if let Err(e) = self.state.store.update_call(&self.call_sid, &patch).await {
            tracing::warn!(error = %e, "could not record who ended the call");
        }
        if hang_up {
            hang_up_if_live(&self.state, &self.call_sid).await;
        }
    }
}

/// Ends the call through Twilio's REST API unless it already ended.
pub async fn hang_up_if_live(state: &AppState, call_sid: &str) {
    let Some(tel) = state.telephony.as_ref() else {
        return;
    };
    let live = match state.store.get_call(call_sid).await {
        Ok(Some(call)) if call.status.is_terminal() => return,
        Ok(Some(call)) => call.status == CallStatus::InProgress,
        _ => true,
    };
    if let Err(e) =
        outcall_twilio::with_retry(&tel.retry, || tel.client.hangup(call_sid, live)).await
    {
        tracing::warn!(%call_sid, error = %e, "could not hang up the call");
    }
}
