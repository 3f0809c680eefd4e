//! One call's relay between Twilio Media Streams and an ElevenLabs conversation.

use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message as TwilioFrame, WebSocket};
use futures::{SinkExt, StreamExt};
use outcall_domain::call::{Call, CallPatch, CallStatus, TerminatedBy};
use outcall_domain::event::CallEvent;
use outcall_domain::transcript::Role;
use outcall_elevenlabs::convai::{
    ClientMessage, ConversationInitiationClientData, InterruptionGate, Pong, ServerMessage,
    user_audio_chunk_json,
};
use outcall_twilio::media::{InboundMessage, OutboundMessage, StreamStart};
use serde_json::{Map, Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as AgentFrame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::recorder::{Note, Recorder, turn};
use super::{MAX_MESSAGE, READ_BUFFER, token};
use crate::AppState;
use crate::bus::{BusEvent, TranscriptUpdate};

type AgentSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long Twilio has to send `start` after connecting.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Which side ended the conversation first, and why.
#[derive(Debug)]
enum Ending {
    /// Twilio sent `stop` or closed: the callee hung up (or the network dropped).
    Callee(&'static str),
    /// The agent closed the conversation.
    Agent,
    /// The agent connection failed.
    AgentFailed(String),
}

#[derive(Debug)]
pub struct MediaBridge {
    state: AppState,
    call: Call,
    stream_sid: String,
    started: Instant,
    gate: InterruptionGate,
    recorder: Recorder,
}

impl MediaBridge {
    /// Runs the bridge for one Twilio connection until the call's conversation ends.
    pub async fn run(state: AppState, mut twilio: WebSocket) {
        let Some((start, call)) = handshake(&state, &mut twilio).await else {
            let _ = twilio
                .send(TwilioFrame::Close(Some(CloseFrame {
                    code: 1008,
                    reason: "not authorised".into(),
                })))
                .await;
            return;
        };
        let call_sid = call.call_sid.clone();
        let (recorder, writer) = Recorder::start(state.clone(), call_sid.clone());
        let mut bridge = MediaBridge {
            state,
            call,
            stream_sid: start.stream_sid.clone(),
            started: Instant::now(),
            gate: InterruptionGate::new(),
            recorder,
        };
        let ending = match bridge.open_agent().await {
            Ok(agent) => bridge.relay(&mut twilio, agent).await,
            Err(reason) => Ending::AgentFailed(reason),
        };
        let _ = twilio.send(TwilioFrame::Close(None)).await;
        bridge.finish(ending).await;
        drop(bridge);
        let _ = writer.await;
        tracing::info!(%call_sid, "media stream ended");
    }

    /// Opens the agent conversation and sends the call's client data before any audio.
    async fn open_agent(&self) -> Result<AgentSocket, String> {
        let agent = self
            .state
            .agent
            .as_ref()
            .ok_or("ElevenLabs is not configured")?;
        let client = agent
            .client
            .as_ref()
            .ok_or("ELEVENLABS_API_KEY is not set")?;
        let agent_id = self
            .call
            .agent_id
            .as_deref()
            .or(agent.agent_id.as_deref())
            .ok_or("no agent id for this call")?;
        let url = client
            .signed_url(agent_id)
            .await
            .map_err(|e| e.to_string())?;
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .max_message_size(Some(MAX_MESSAGE * 4));
        let (mut socket, _) =
            tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true)
                .await
                .map_err(|e| format!("cannot connect to the agent: {e}"))?;
        let hello = ClientMessage::ConversationInitiationClientData(self.client_data());
        socket
            .send(AgentFrame::text(hello.to_json()))
            .await
            .map_err(|e| format!("cannot start the conversation: {e}"))?;
        Ok(socket)
    }

    /// Prompt and first-message overrides and the dynamic variables: the callee's
    /// number and name, our call sid (it comes back in the post-call webhook), and the
    /// call's own variables.
    fn client_data(&self) -> ConversationInitiationClientData {
        let call = &self.call;
        let mut data = ConversationInitiationClientData::new()
            .with_variable("call_sid", call.call_sid.clone())
            .with_variable("phone_number", call.to.clone());
        if let Some(name) = &call.contact_name {
            data = data.with_variable("name", name.clone());
        }
        for (k, v) in call.dynamic_variables.iter().flatten() {
            match v {
                Value::String(s) => data = data.with_variable(k.clone(), s.clone()),
                Value::Bool(b) => data = data.with_variable(k.clone(), *b),
                Value::Number(n) => {
                    if let Some(v) = n
                        .as_f64()
                        .and_then(outcall_elevenlabs::convai::DynamicValue::float)
                    {
                        data = data.with_variable(k.clone(), v);
                    }
                }
                _ => {}
            }
        }
        if let Some(p) = &call.prompt {
            data = data.with_prompt(p.clone());
        }
        if let Some(m) = &call.first_message {
            data = data.with_first_message(m.clone());
        }
        data
    }

    fn secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Relays until one side ends. Audio goes straight through; the rest is noted.
    async fn relay(&mut self, twilio: &mut WebSocket, mut agent: AgentSocket) -> Ending {
        let ending = loop {
            tokio::select! {
                frame = twilio.recv() => match frame {
                    Some(Ok(TwilioFrame::Text(text))) => {
                        match InboundMessage::parse(text.as_str()) {
                            Ok(Some(InboundMessage::Media { media, .. })) => {
                                let chunk = user_audio_chunk_json(&media.payload);
                                if let Err(e) = agent.send(AgentFrame::text(chunk)).await {
                                    break Ending::AgentFailed(format!("agent connection lost: {e}"));
                                }
                            }
                            Ok(Some(InboundMessage::Stop { .. })) => break Ending::Callee("hung up"),
                            Ok(Some(InboundMessage::Dtmf { dtmf, .. })) => {
                                self.event("dtmf", json!({ "digit": dtmf.digit }));
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
                        if let Some(end) = self.handle_agent_message(text.as_str(), twilio, &mut agent).await {
                            break end;
                        }
                    }
                    Some(Ok(AgentFrame::Close(_))) | None => break Ending::Agent,
                    Some(Err(e)) => break Ending::AgentFailed(format!("agent connection lost: {e}")),
                    Some(Ok(_)) => {}
                },
            }
        };
        if !matches!(ending, Ending::Agent | Ending::AgentFailed(_)) {
            let _ = agent.close(None).await;
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
                if let Err(e) = agent.send(AgentFrame::text(pong)).await {
                    return Some(Ending::AgentFailed(format!("agent connection lost: {e}")));
                }
                None
            }
            ServerMessage::ConversationInitiationMetadata(meta) => {
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
            && twilio.send(TwilioFrame::Text(json.into())).await.is_err()
        {
            return Some(Ending::Callee("stream dropped"));
        }
        None
    }

    /// Publishes an utterance at once, then hands it to the recorder.
    fn utterance(&mut self, role: Role, message: String) {
        let secs = self.secs();
        self.state
            .bus
            .publish(BusEvent::Transcript(TranscriptUpdate {
                call_sid: self.call.call_sid.clone(),
                role,
                message: message.clone(),
                time_in_call_secs: secs,
                is_final: true,
            }));
        self.recorder.note(Note::Turn(turn(role, message, secs)));
    }

    /// Records a call event off the audio path.
    fn event(&self, kind: &'static str, data: Value) {
        let state = self.state.clone();
        let sid = self.call.call_sid.clone();
        let data = match data {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        tokio::spawn(async move {
            match state
                .store
                .insert_event(CallEvent::new(&sid, kind, data))
                .await
            {
                // Published after the write: cached call details show the event now.
                Ok(event) => state.bus.call("event_added", &sid, &event),
                Err(e) => tracing::warn!(error = %e, "could not store a call event"),
            }
        });
    }

    /// Records who ended the call and hangs it up through Twilio if the callee has not.
    async fn finish(&self, ending: Ending) {
        let (by, reason, hang_up) = match &ending {
            Ending::Callee(why) => (TerminatedBy::Callee, why.to_string(), false),
            Ending::Agent => (
                TerminatedBy::Agent,
                "the agent ended the conversation".to_string(),
                true,
            ),
            Ending::AgentFailed(why) => (TerminatedBy::System, why.clone(), true),
        };
        if let Ending::AgentFailed(why) = &ending {
            tracing::warn!(call_sid = %self.call.call_sid, reason = %why, "agent conversation failed; ending the call");
            self.event("conversation-failed", json!({ "reason": why }));
        }
        let patch = CallPatch {
            terminated_by: Some(by),
            termination_reason: Some(reason),
            ..Default::default()
        };
        if let Err(e) = self
            .state
            .store
            .update_call(&self.call.call_sid, &patch)
            .await
        {
            tracing::warn!(error = %e, "could not record who ended the call");
        }
        if hang_up {
            hang_up_if_live(&self.state, &self.call.call_sid).await;
        }
    }
}

/// Reads `connected` then `start`, and checks the call's token. `None` refuses the stream.
async fn handshake(state: &AppState, twilio: &mut WebSocket) -> Option<(StreamStart, Call)> {
    let telephony = state.telephony.as_ref()?;
    let start = tokio::time::timeout(START_TIMEOUT, async {
        while let Some(Ok(frame)) = twilio.recv().await {
            if let TwilioFrame::Text(text) = frame
                && let Ok(Some(InboundMessage::Start { start, .. })) =
                    InboundMessage::parse(text.as_str())
            {
                return Some(start);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()?;
    let token = start
        .custom_parameters
        .get("token")
        .map(String::as_str)
        .unwrap_or("");
    if !token::verify(&telephony.auth_token, &start.call_sid, token) {
        tracing::warn!(call_sid = %start.call_sid, "media stream with a missing or forged token refused");
        return None;
    }
    let call = state.store.get_call(&start.call_sid).await.ok().flatten()?;
    Some((start, call))
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
