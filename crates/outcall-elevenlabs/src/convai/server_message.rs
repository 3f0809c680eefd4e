//! Server → client messages: `{"type": T, "<payload key>": {…}}`. The bridge
//! reads them (audio to relay, pings to answer, interruptions to honour,
//! transcripts to record); the simulator writes them, hence both directions
//! of serde.

use std::fmt;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `conversation_initiation_metadata_event`: the first server message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationInitiationMetadata {
    pub conversation_id: String,
    /// e.g. `ulaw_8000`, `pcm_16000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_output_audio_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_input_audio_format: Option<String>,
}

/// `audio_event`: one chunk of the agent's speech, base64 in the agent's
/// output format.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioEvent {
    pub audio_base_64: String,
    pub event_id: u64,
}

/// Shows the length, not the base64.
impl fmt::Debug for AudioEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AudioEvent")
            .field("event_id", &self.event_id)
            .field("base64_len", &self.audio_base_64.len())
            .finish()
    }
}

/// `interruption_event`: audio with `event_id` ≤ this id must be dropped
/// (see [`super::InterruptionGate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterruptionEvent {
    pub event_id: u64,
}

/// `ping_event`: answer at once with `{"type":"pong","event_id":…}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingEvent {
    pub event_id: u64,
    /// The measured round trip, absent on the first ping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping_ms: Option<u64>,
}

/// `agent_response_event`: the agent's full text for a turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentResponseEvent {
    pub agent_response: String,
}

/// `agent_response_correction_event`: the agent's text cut at the point the
/// caller interrupted it. Older servers sent `correction_event{corrected_response}`;
/// both are read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentResponseCorrectionEvent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_agent_response: Option<String>,
    #[serde(alias = "corrected_response")]
    pub corrected_agent_response: String,
}

/// `user_transcription_event`: what the caller said (payload key is
/// `user_transcription_event`, not `user_transcript_event`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserTranscriptionEvent {
    pub user_transcript: String,
}

/// `client_tool_call` (this payload key has no `_event` suffix): the agent
/// asks the client to run a tool and answer with `client_tool_result`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientToolCall {
    pub tool_name: String,
    pub tool_call_id: String,
    #[serde(default)]
    pub parameters: Value,
}

/// `vad_score_event`: voice-activity probability, 0 to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VadScoreEvent {
    pub vad_score: f64,
}

/// `tentative_agent_response_internal_event` (type
/// `internal_tentative_agent_response`): a draft of the agent's next turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TentativeAgentResponseEvent {
    pub tentative_agent_response: String,
}

/// Any server → client message. Deserialization never fails on an unknown
/// `type` (it becomes [`ServerMessage::Unknown`]) nor on unknown fields; it
/// fails only on invalid JSON or a known type whose payload is missing or
/// malformed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "ServerEnvelope")]
pub enum ServerMessage {
    ConversationInitiationMetadata(ConversationInitiationMetadata),
    Audio(AudioEvent),
    Interruption(InterruptionEvent),
    Ping(PingEvent),
    AgentResponse(AgentResponseEvent),
    AgentResponseCorrection(AgentResponseCorrectionEvent),
    UserTranscript(UserTranscriptionEvent),
    ClientToolCall(ClientToolCall),
    VadScore(VadScoreEvent),
    InternalTentativeAgentResponse(TentativeAgentResponseEvent),
    /// A type this crate does not know (ElevenLabs adds new ones, e.g.
    /// `agent_tool_response`, `mcp_tool_call`); to be ignored.
    Unknown {
        kind: String,
    },
}

impl ServerMessage {
    /// Parses one text frame.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The JSON text frame for this message (what the simulator sends).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("BUG: ConvAI server messages always serialize")
    }

    /// The wire `type`.
    pub fn kind(&self) -> &str {
        match self {
            Self::ConversationInitiationMetadata(_) => "conversation_initiation_metadata",
            Self::Audio(_) => "audio",
            Self::Interruption(_) => "interruption",
            Self::Ping(_) => "ping",
            Self::AgentResponse(_) => "agent_response",
            Self::AgentResponseCorrection(_) => "agent_response_correction",
            Self::UserTranscript(_) => "user_transcript",
            Self::ClientToolCall(_) => "client_tool_call",
            Self::VadScore(_) => "vad_score",
            Self::InternalTentativeAgentResponse(_) => "internal_tentative_agent_response",
            Self::Unknown { kind } => kind,
        }
    }
}

impl Serialize for ServerMessage {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = if matches!(self, Self::Unknown { .. }) {
            1
        } else {
            2
        };
        let mut map = serializer.serialize_map(Some(len))?;
        map.serialize_entry("type", self.kind())?;
        match self {
            Self::ConversationInitiationMetadata(p) => {
                map.serialize_entry("conversation_initiation_metadata_event", p)?
            }
            Self::Audio(p) => map.serialize_entry("audio_event", p)?,
            Self::Interruption(p) => map.serialize_entry("interruption_event", p)?,
            Self::Ping(p) => map.serialize_entry("ping_event", p)?,
            Self::AgentResponse(p) => map.serialize_entry("agent_response_event", p)?,
            Self::AgentResponseCorrection(p) => {
                map.serialize_entry("agent_response_correction_event", p)?
            }
            Self::UserTranscript(p) => map.serialize_entry("user_transcription_event", p)?,
            Self::ClientToolCall(p) => map.serialize_entry("client_tool_call", p)?,
            Self::VadScore(p) => map.serialize_entry("vad_score_event", p)?,
            Self::InternalTentativeAgentResponse(p) => {
                map.serialize_entry("tentative_agent_response_internal_event", p)?
            }
            Self::Unknown { .. } => {}
        }
        map.end()
    }
}

/// Every payload key, read in one pass whatever the field order (an
/// internally tagged serde enum would buffer the whole frame first, and could
/// not fall back to `Unknown` while keeping the type's name).
#[derive(Deserialize)]
struct ServerEnvelope {
    #[serde(rename = "type")]
    kind: String,
    conversation_initiation_metadata_event: Option<ConversationInitiationMetadata>,
    audio_event: Option<AudioEvent>,
    interruption_event: Option<InterruptionEvent>,
    ping_event: Option<PingEvent>,
    agent_response_event: Option<AgentResponseEvent>,
    #[serde(alias = "correction_event")]
    agent_response_correction_event: Option<AgentResponseCorrectionEvent>,
    user_transcription_event: Option<UserTranscriptionEvent>,
    client_tool_call: Option<ClientToolCall>,
    vad_score_event: Option<VadScoreEvent>,
    tentative_agent_response_internal_event: Option<TentativeAgentResponseEvent>,
}

impl TryFrom<ServerEnvelope> for ServerMessage {
    type Error = String;

    fn try_from(e: ServerEnvelope) -> Result<Self, Self::Error> {
        fn need<T>(payload: Option<T>, kind: &str, key: &str) -> Result<T, String> {
            payload.ok_or_else(|| format!("`{kind}` message without `{key}`"))
        }
        let kind = e.kind.as_str();
        Ok(match kind {
            "conversation_initiation_metadata" => Self::ConversationInitiationMetadata(need(
                e.conversation_initiation_metadata_event,
                kind,
                "conversation_initiation_metadata_event",
            )?),
            "audio" => Self::Audio(need(e.audio_event, kind, "audio_event")?),
            "interruption" => {
                Self::Interruption(need(e.interruption_event, kind, "interruption_event")?)
            }
            "ping" => Self::Ping(need(e.ping_event, kind, "ping_event")?),
            "agent_response" => {
                Self::AgentResponse(need(e.agent_response_event, kind, "agent_response_event")?)
            }
            "agent_response_correction" => Self::AgentResponseCorrection(need(
                e.agent_response_correction_event,
                kind,
                "agent_response_correction_event",
            )?),
            "user_transcript" => Self::UserTranscript(need(
                e.user_transcription_event,
                kind,
                "user_transcription_event",
            )?),
            "client_tool_call" => {
                Self::ClientToolCall(need(e.client_tool_call, kind, "client_tool_call")?)
            }
            "vad_score" => Self::VadScore(need(e.vad_score_event, kind, "vad_score_event")?),
            "internal_tentative_agent_response" => Self::InternalTentativeAgentResponse(need(
                e.tentative_agent_response_internal_event,
                kind,
                "tentative_agent_response_internal_event",
            )?),
            _ => Self::Unknown { kind: e.kind },
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Parses `text`, checks the variant with `check`, and checks that the
    /// simulator's serialization reads back to the same message.
    fn parse(text: &str) -> ServerMessage {
        let msg = ServerMessage::parse(text).expect("parse");
        assert_eq!(ServerMessage::parse(&msg.to_json()).expect("reparse"), msg);
        msg
    }

    #[test]
    fn conversation_initiation_metadata() {
        let msg = parse(
            r#"{"type":"conversation_initiation_metadata","conversation_initiation_metadata_event":{"conversation_id":"conv_123456789","agent_output_audio_format":"ulaw_8000","user_input_audio_format":"ulaw_8000"}}"#,
        );
        assert_eq!(
            msg,
            ServerMessage::ConversationInitiationMetadata(ConversationInitiationMetadata {
                conversation_id: "conv_123456789".into(),
                agent_output_audio_format: Some(super::super::ULAW_8000.into()),
                user_input_audio_format: Some("ulaw_8000".into()),
            })
        );
        assert_eq!(msg.kind(), "conversation_initiation_metadata");
    }

    #[test]
    fn audio_in_either_field_order() {
        let expected = ServerMessage::Audio(AudioEvent {
            audio_base_64: "base64EncodedAudioResponse==".into(),
            event_id: 1,
        });
        assert_eq!(
            parse(
                r#"{"type":"audio","audio_event":{"audio_base_64":"base64EncodedAudioResponse==","event_id":1}}"#
            ),
            expected
        );
        assert_eq!(
            parse(
                r#"{"audio_event":{"event_id":1,"audio_base_64":"base64EncodedAudioResponse==","alignment":null},"type":"audio"}"#
            ),
            expected
        );
        let debug = format!("{expected:?}");
        assert!(!debug.contains("base64Encoded"), "{debug}");
    }

    #[test]
    fn interruption() {
        assert_eq!(
            parse(r#"{"type":"interruption","interruption_event":{"event_id":7}}"#),
            ServerMessage::Interruption(InterruptionEvent { event_id: 7 })
        );
    }

    #[test]
    fn ping_with_and_without_latency() {
        assert_eq!(
            parse(r#"{"type":"ping","ping_event":{"event_id":12345,"ping_ms":50}}"#),
            ServerMessage::Ping(PingEvent {
                event_id: 12345,
                ping_ms: Some(50)
            })
        );
        assert_eq!(
            parse(r#"{"type":"ping","ping_event":{"event_id":1,"ping_ms":null}}"#),
            ServerMessage::Ping(PingEvent {
                event_id: 1,
                ping_ms: None
            })
        );
        assert_eq!(
            ServerMessage::Ping(PingEvent {
                event_id: 2,
                ping_ms: None
            })
            .to_json(),
            r#"{"type":"ping","ping_event":{"event_id":2}}"#
        );
    }

    #[test]
    fn agent_response() {
        assert_eq!(
            parse(
                r#"{"type":"agent_response","agent_response_event":{"agent_response":"I'd be happy to help."}}"#
            ),
            ServerMessage::AgentResponse(AgentResponseEvent {
                agent_response: "I'd be happy to help.".into()
            })
        );
    }

    #[test]
    fn agent_response_correction_current_and_legacy() {
        assert_eq!(
            parse(
                r#"{"type":"agent_response_correction","agent_response_correction_event":{"original_agent_response":"Let me tell you about our plans, we have","corrected_agent_response":"Let me tell you about our plans"}}"#
            ),
            ServerMessage::AgentResponseCorrection(AgentResponseCorrectionEvent {
                original_agent_response: Some("Let me tell you about our plans, we have".into()),
                corrected_agent_response: "Let me tell you about our plans".into(),
            })
        );
        assert_eq!(
            parse(
                r#"{"type":"agent_response_correction","correction_event":{"corrected_response":"Cut here"}}"#
            ),
            ServerMessage::AgentResponseCorrection(AgentResponseCorrectionEvent {
                original_agent_response: None,
                corrected_agent_response: "Cut here".into(),
            })
        );
    }

    #[test]
    fn user_transcript() {
        let msg = parse(
            r#"{"type":"user_transcript","user_transcription_event":{"user_transcript":"I need help with my voice cloning project."}}"#,
        );
        assert_eq!(
            msg,
            ServerMessage::UserTranscript(UserTranscriptionEvent {
                user_transcript: "I need help with my voice cloning project.".into()
            })
        );
        assert!(msg.to_json().contains(r#""user_transcription_event""#));
    }

    #[test]
    fn client_tool_call() {
        let msg = parse(
            r#"{"type":"client_tool_call","client_tool_call":{"tool_name":"check_account_status","tool_call_id":"tool_call_123","parameters":{"user_id":"user_123"}}}"#,
        );
        assert_eq!(
            msg,
            ServerMessage::ClientToolCall(ClientToolCall {
                tool_name: "check_account_status".into(),
                tool_call_id: "tool_call_123".into(),
                parameters: json!({"user_id": "user_123"}),
            })
        );
    }

    #[test]
    fn vad_score() {
        assert_eq!(
            parse(r#"{"type":"vad_score","vad_score_event":{"vad_score":0.95}}"#),
            ServerMessage::VadScore(VadScoreEvent { vad_score: 0.95 })
        );
    }

    #[test]
    fn internal_tentative_agent_response() {
        assert_eq!(
            parse(
                r#"{"type":"internal_tentative_agent_response","tentative_agent_response_internal_event":{"tentative_agent_response":"I'd be happy to help with your voice cloning project..."}}"#
            ),
            ServerMessage::InternalTentativeAgentResponse(TentativeAgentResponseEvent {
                tentative_agent_response: "I'd be happy to help with your voice cloning project..."
                    .into()
            })
        );
    }

    #[test]
    fn unknown_types_are_not_errors() {
        for text in [
            r#"{"type":"agent_tool_response","agent_tool_response":{"tool_name":"end_call","is_error":false}}"#,
            r#"{"type":"mcp_tool_call","mcp_tool_call":{"whatever":[1,2,3]}}"#,
            r#"{"type":"something_new"}"#,
        ] {
            let msg = ServerMessage::parse(text).expect("unknown types parse");
            assert!(matches!(msg, ServerMessage::Unknown { .. }), "{text}");
        }
        let msg = ServerMessage::parse(r#"{"type":"something_new","x":1}"#).expect("parse");
        assert_eq!(msg.kind(), "something_new");
        assert_eq!(msg.to_json(), r#"{"type":"something_new"}"#);
    }

    #[test]
    fn malformed_frames_are_errors() {
        assert!(ServerMessage::parse("not json").is_err());
        assert!(
            ServerMessage::parse(r#"{"audio_event":{"audio_base_64":"AA==","event_id":1}}"#)
                .is_err()
        );
        assert!(ServerMessage::parse(r#"{"type":"audio"}"#).is_err());
        assert!(ServerMessage::parse(r#"{"type":"ping","ping_event":{}}"#).is_err());
    }
}
