//! Client → server messages: the conversation's opening configuration, the
//! caller's audio, pongs, tool results, contextual updates and activity
//! pings. The bridge writes them; the simulator reads them, hence both
//! `Serialize` and `Deserialize`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A dynamic-variable value: ElevenLabs accepts strings, numbers and booleans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DynamicValue {
    Bool(bool),
    Number(serde_json::Number),
    String(String),
}

impl DynamicValue {
    /// A float value; `None` for NaN and infinities, which JSON cannot carry.
    pub fn float(value: f64) -> Option<Self> {
        serde_json::Number::from_f64(value).map(Self::Number)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }
}

impl From<&str> for DynamicValue {
    fn from(value: &str) -> Self {
        Self::String(value.to_owned())
    }
}

impl From<String> for DynamicValue {
    fn from(value: String) -> Self {
        Self::String(value)
    }
}

impl From<bool> for DynamicValue {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

impl From<i64> for DynamicValue {
    fn from(value: i64) -> Self {
        Self::Number(value.into())
    }
}

impl From<u64> for DynamicValue {
    fn from(value: u64) -> Self {
        Self::Number(value.into())
    }
}

impl From<i32> for DynamicValue {
    fn from(value: i32) -> Self {
        Self::Number(value.into())
    }
}

/// `conversation_config_override.agent.prompt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptOverride {
    pub prompt: String,
}

/// `conversation_config_override.agent`. Overrides apply only if the agent's
/// security settings allow each of them; otherwise ElevenLabs closes the socket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<PromptOverride>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_message: Option<String>,
    /// A language code such as `en`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// `conversation_config_override.tts` (in ElevenLabs' AsyncAPI, not yet used
/// by outcall's callers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TtsOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationConfigOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentOverride>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tts: Option<TtsOverride>,
}

/// The first message of a conversation:
/// `{"type":"conversation_initiation_client_data","conversation_config_override":{…},"dynamic_variables":{…}}`.
/// Absent parts are omitted. Dynamic variables come back in the post-call
/// webhook, which is how a conversation is tied to our call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationInitiationClientData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_config_override: Option<ConversationConfigOverride>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dynamic_variables: BTreeMap<String, DynamicValue>,
}

impl ConversationInitiationClientData {
    pub fn new() -> Self {
        Self::default()
    }

    /// Overrides the agent's system prompt.
    pub fn with_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.agent_mut().prompt = Some(PromptOverride {
            prompt: prompt.into(),
        });
        self
    }

    /// Overrides what the agent says first.
    pub fn with_first_message(mut self, first_message: impl Into<String>) -> Self {
        self.agent_mut().first_message = Some(first_message.into());
        self
    }

    /// Overrides the conversation language (e.g. `en`).
    pub fn with_language(mut self, language: impl Into<String>) -> Self {
        self.agent_mut().language = Some(language.into());
        self
    }

    /// Sets one dynamic variable.
    pub fn with_variable(
        mut self,
        name: impl Into<String>,
        value: impl Into<DynamicValue>,
    ) -> Self {
        self.dynamic_variables.insert(name.into(), value.into());
        self
    }

    /// The prompt override, if any.
    pub fn prompt(&self) -> Option<&str> {
        self.agent()
            .and_then(|a| a.prompt.as_ref())
            .map(|p| p.prompt.as_str())
    }

    /// The first-message override, if any.
    pub fn first_message(&self) -> Option<&str> {
        self.agent().and_then(|a| a.first_message.as_deref())
    }

    fn agent(&self) -> Option<&AgentOverride> {
        self.conversation_config_override.as_ref()?.agent.as_ref()
    }

    fn agent_mut(&mut self) -> &mut AgentOverride {
        self.conversation_config_override
            .get_or_insert_with(ConversationConfigOverride::default)
            .agent
            .get_or_insert_with(AgentOverride::default)
    }
}

/// `{"user_audio_chunk":"<base64>"}`, the only client message without a
/// `type`. For the hot path, prefer [`user_audio_chunk_json`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserAudioChunk {
    pub user_audio_chunk: String,
}

/// Shows the length, not 200 characters of base64 per frame.
impl fmt::Debug for UserAudioChunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserAudioChunk")
            .field("base64_len", &self.user_audio_chunk.len())
            .finish()
    }
}

const AUDIO_PREFIX: &str = r#"{"user_audio_chunk":""#;
const AUDIO_SUFFIX: &str = r#""}"#;

/// Writes `{"user_audio_chunk":"<base64>"}` for a base64 payload, in one
/// exactly-sized allocation and without going through serde.
///
/// Why: the bridge forwards each 20 ms Twilio media frame (216 base64
/// characters) to ElevenLabs unchanged, 50 times a second per call. Building
/// a struct and serializing it would copy the payload into an owned `String`
/// and then scan it for escapes; base64 text never needs JSON escaping, so
/// the frame is just the payload between a fixed prefix and suffix.
///
/// The payload comes from the network, so it is checked (one pass over ~216
/// bytes): anything outside the base64 alphabet (`A–Z a–z 0–9 + / =`, plus
/// the URL-safe `-` and `_`) is escaped through `serde_json` instead, so a
/// hostile payload can never break out of the string.
pub fn user_audio_chunk_json(base64: &str) -> String {
    if !base64.bytes().all(is_base64_byte) {
        return client_json(&UserAudioChunk {
            user_audio_chunk: base64.to_owned(),
        });
    }
    let mut out = String::with_capacity(AUDIO_PREFIX.len() + base64.len() + AUDIO_SUFFIX.len());
    out.push_str(AUDIO_PREFIX);
    out.push_str(base64);
    out.push_str(AUDIO_SUFFIX);
    out
}

fn is_base64_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_')
}

/// `{"type":"pong","event_id":N}`: the answer to `ping_event{event_id}`, sent at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pong {
    pub event_id: u64,
}

/// `{"type":"client_tool_result","tool_call_id":"…","result":"…","is_error":false}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientToolResult {
    pub tool_call_id: String,
    #[serde(default)]
    pub result: String,
    #[serde(default)]
    pub is_error: bool,
}

/// `{"type":"contextual_update","text":"…"}`: information for the agent that
/// does not interrupt it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextualUpdate {
    pub text: String,
}

/// Any client → server message.
///
/// Serializes to the wire JSON (with `type`, except [`UserAudioChunk`]);
/// deserializes leniently: unknown fields are ignored and unknown `type`s
/// become [`ClientMessage::Unknown`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "ClientEnvelope")]
pub enum ClientMessage {
    ConversationInitiationClientData(ConversationInitiationClientData),
    UserAudioChunk(UserAudioChunk),
    Pong(Pong),
    ClientToolResult(ClientToolResult),
    ContextualUpdate(ContextualUpdate),
    /// `{"type":"user_activity"}`: the user is active; delays the agent's turn.
    UserActivity,
    /// A `type` this crate does not know.
    Unknown {
        kind: String,
    },
}

impl ClientMessage {
    /// Parses one text frame.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The JSON text frame for this message.
    pub fn to_json(&self) -> String {
        client_json(self)
    }

    /// The wire `type`; `None` for the untyped audio chunk.
    pub fn kind(&self) -> Option<&str> {
        Some(match self {
            Self::ConversationInitiationClientData(_) => "conversation_initiation_client_data",
            Self::UserAudioChunk(_) => return None,
            Self::Pong(_) => "pong",
            Self::ClientToolResult(_) => "client_tool_result",
            Self::ContextualUpdate(_) => "contextual_update",
            Self::UserActivity => "user_activity",
            Self::Unknown { kind } => kind,
        })
    }
}

/// Serializes a value made only of strings, numbers, booleans and string-keyed
/// maps, which cannot fail.
fn client_json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("BUG: ConvAI client messages always serialize")
}

/// The wire form of the typed messages: serde adds `"type"` from the variant.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Typed<'a> {
    ConversationInitiationClientData(&'a ConversationInitiationClientData),
    Pong(&'a Pong),
    ClientToolResult(&'a ClientToolResult),
    ContextualUpdate(&'a ContextualUpdate),
    UserActivity,
}

#[derive(Serialize)]
struct UnknownTyped<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
}

impl Serialize for ClientMessage {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::ConversationInitiationClientData(d) => {
                Typed::ConversationInitiationClientData(d).serialize(serializer)
            }
            Self::UserAudioChunk(chunk) => chunk.serialize(serializer),
            Self::Pong(p) => Typed::Pong(p).serialize(serializer),
            Self::ClientToolResult(r) => Typed::ClientToolResult(r).serialize(serializer),
            Self::ContextualUpdate(u) => Typed::ContextualUpdate(u).serialize(serializer),
            Self::UserActivity => Typed::UserActivity.serialize(serializer),
            Self::Unknown { kind } => UnknownTyped { kind }.serialize(serializer),
        }
    }
}

/// Every field any client message may carry, read in one pass; the `type`
/// (or its absence) then says which ones matter.
#[derive(Deserialize)]
struct ClientEnvelope {
    #[serde(rename = "type")]
    kind: Option<String>,
    user_audio_chunk: Option<String>,
    conversation_config_override: Option<ConversationConfigOverride>,
    #[serde(default)]
    dynamic_variables: Option<BTreeMap<String, DynamicValue>>,
    event_id: Option<u64>,
    tool_call_id: Option<String>,
    result: Option<String>,
    is_error: Option<bool>,
    text: Option<String>,
}

impl TryFrom<ClientEnvelope> for ClientMessage {
    type Error = String;

    fn try_from(e: ClientEnvelope) -> Result<Self, Self::Error> {
        let Some(kind) = e.kind else {
            return match e.user_audio_chunk {
                Some(user_audio_chunk) => {
                    Ok(Self::UserAudioChunk(UserAudioChunk { user_audio_chunk }))
                }
                None => Err("client message has neither `type` nor `user_audio_chunk`".into()),
            };
        };
        let missing = |field: &str| format!("`{kind}` message without `{field}`");
        Ok(match kind.as_str() {
            "conversation_initiation_client_data" => {
                Self::ConversationInitiationClientData(ConversationInitiationClientData {
                    conversation_config_override: e.conversation_config_override,
                    dynamic_variables: e.dynamic_variables.unwrap_or_default(),
                })
            }
            "pong" => Self::Pong(Pong {
                event_id: e.event_id.ok_or_else(|| missing("event_id"))?,
            }),
            "client_tool_result" => Self::ClientToolResult(ClientToolResult {
                tool_call_id: e.tool_call_id.ok_or_else(|| missing("tool_call_id"))?,
                result: e.result.unwrap_or_default(),
                is_error: e.is_error.unwrap_or(false),
            }),
            "contextual_update" => Self::ContextualUpdate(ContextualUpdate {
                text: e.text.ok_or_else(|| missing("text"))?,
            }),
            "user_activity" => Self::UserActivity,
            _ => Self::Unknown { kind },
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn value(text: &str) -> Value {
        serde_json::from_str(text).expect("valid JSON")
    }

    #[test]
    fn initiation_data_serializes_as_documented() {
        let msg = ClientMessage::ConversationInitiationClientData(
            ConversationInitiationClientData::new()
                .with_prompt("You are Alexis.")
                .with_first_message("Hi, it's Alexis.")
                .with_language("en")
                .with_variable("name", "Ada")
                .with_variable("phone_number", "+14155550123")
                .with_variable("attempt", 2_i64)
                .with_variable("vip", true),
        );
        assert_eq!(
            value(&msg.to_json()),
            json!({
                "type": "conversation_initiation_client_data",
                "conversation_config_override": {
                    "agent": {
                        "prompt": {"prompt": "You are Alexis."},
                        "first_message": "Hi, it's Alexis.",
                        "language": "en"
                    }
                },
                "dynamic_variables": {
                    "attempt": 2,
                    "name": "Ada",
                    "phone_number": "+14155550123",
                    "vip": true
                }
            })
        );
    }

    #[test]
    fn initiation_data_omits_absent_parts() {
        let bare = ClientMessage::ConversationInitiationClientData(
            ConversationInitiationClientData::new(),
        );
        assert_eq!(
            bare.to_json(),
            r#"{"type":"conversation_initiation_client_data"}"#
        );
        let only_vars = ClientMessage::ConversationInitiationClientData(
            ConversationInitiationClientData::new().with_variable("call_sid", "CA1"),
        );
        assert_eq!(
            only_vars.to_json(),
            r#"{"type":"conversation_initiation_client_data","dynamic_variables":{"call_sid":"CA1"}}"#
        );
        let only_first = ClientMessage::ConversationInitiationClientData(
            ConversationInitiationClientData::new().with_first_message("Hello"),
        );
        assert_eq!(
            only_first.to_json(),
            r#"{"type":"conversation_initiation_client_data","conversation_config_override":{"agent":{"first_message":"Hello"}}}"#
        );
    }

    #[test]
    fn initiation_data_parses_the_asyncapi_example() {
        let text = r#"{
            "type": "conversation_initiation_client_data",
            "conversation_config_override": {
                "agent": {
                    "prompt": {"prompt": "You are a helpful customer support agent named Alexis."},
                    "first_message": "Hi, I'm Alexis from ElevenLabs support. How can I help you today?",
                    "language": "en"
                },
                "tts": {"voice_id": "21m00Tcm4TlvDq8ikWAM"}
            },
            "custom_llm_extra_body": {"temperature": 0.7, "max_tokens": 150},
            "dynamic_variables": {"user_name": "John", "account_type": "premium", "score": 1.5, "ok": false}
        }"#;
        let ClientMessage::ConversationInitiationClientData(data) =
            ClientMessage::parse(text).expect("parse")
        else {
            panic!("wrong variant");
        };
        assert_eq!(
            data.prompt(),
            Some("You are a helpful customer support agent named Alexis.")
        );
        assert_eq!(
            data.first_message(),
            Some("Hi, I'm Alexis from ElevenLabs support. How can I help you today?")
        );
        let config = data
            .conversation_config_override
            .as_ref()
            .expect("override");
        assert_eq!(
            config.agent.as_ref().and_then(|a| a.language.as_deref()),
            Some("en")
        );
        assert_eq!(
            config.tts.as_ref().and_then(|t| t.voice_id.as_deref()),
            Some("21m00Tcm4TlvDq8ikWAM")
        );
        assert_eq!(data.dynamic_variables["user_name"].as_str(), Some("John"));
        assert_eq!(data.dynamic_variables["ok"], DynamicValue::Bool(false));
        assert_eq!(
            data.dynamic_variables["score"],
            DynamicValue::float(1.5).expect("finite")
        );
    }

    #[test]
    fn initiation_data_round_trips() {
        let data = ConversationInitiationClientData::new()
            .with_prompt("p")
            .with_variable("n", 7_u64)
            .with_variable("f", DynamicValue::float(0.25).expect("finite"));
        let msg = ClientMessage::ConversationInitiationClientData(data);
        assert_eq!(ClientMessage::parse(&msg.to_json()).expect("parse"), msg);
        assert_eq!(DynamicValue::float(f64::NAN), None);
    }

    #[test]
    fn audio_chunk_has_no_type() {
        let fast = user_audio_chunk_json("AAEC/+8=");
        assert_eq!(fast, r#"{"user_audio_chunk":"AAEC/+8="}"#);
        assert_eq!(fast.capacity(), fast.len());
        let via_serde = ClientMessage::UserAudioChunk(UserAudioChunk {
            user_audio_chunk: "AAEC/+8=".into(),
        })
        .to_json();
        assert_eq!(fast, via_serde);
        let parsed = ClientMessage::parse(&fast).expect("parse");
        assert_eq!(parsed.kind(), None);
        assert!(
            matches!(parsed, ClientMessage::UserAudioChunk(c) if c.user_audio_chunk == "AAEC/+8=")
        );
    }

    #[test]
    fn audio_chunk_of_a_full_twilio_frame() {
        // 160 bytes of μ-law silence (0xFF) are 216 base64 characters.
        let payload = format!("{}/w==", "/".repeat(212));
        assert_eq!(payload.len(), 216);
        let json = user_audio_chunk_json(&payload);
        assert_eq!(value(&json), json!({"user_audio_chunk": payload}));
    }

    #[test]
    fn audio_chunk_escapes_a_hostile_payload() {
        let hostile = r#"x","type":"pong","event_id":1,"y":"\"#;
        let json = user_audio_chunk_json(hostile);
        assert_eq!(value(&json), json!({"user_audio_chunk": hostile}));
        assert!(matches!(
            ClientMessage::parse(&json).expect("parse"),
            ClientMessage::UserAudioChunk(c) if c.user_audio_chunk == hostile
        ));
        let control = "AA\u{1}\n";
        assert_eq!(
            value(&user_audio_chunk_json(control)),
            json!({"user_audio_chunk": control})
        );
    }

    #[test]
    fn pong() {
        let msg = ClientMessage::Pong(Pong { event_id: 12345 });
        assert_eq!(msg.to_json(), r#"{"type":"pong","event_id":12345}"#);
        assert_eq!(
            ClientMessage::parse(r#"{"event_id":3,"type":"pong"}"#).expect("parse"),
            ClientMessage::Pong(Pong { event_id: 3 })
        );
        assert!(ClientMessage::parse(r#"{"type":"pong"}"#).is_err());
    }

    #[test]
    fn client_tool_result() {
        let msg = ClientMessage::ClientToolResult(ClientToolResult {
            tool_call_id: "tool_call_123".into(),
            result: "Account is active and in good standing".into(),
            is_error: false,
        });
        let text = r#"{"type":"client_tool_result","tool_call_id":"tool_call_123","result":"Account is active and in good standing","is_error":false}"#;
        assert_eq!(value(&msg.to_json()), value(text));
        assert_eq!(ClientMessage::parse(text).expect("parse"), msg);
    }

    #[test]
    fn contextual_update_and_user_activity() {
        let update = ClientMessage::ContextualUpdate(ContextualUpdate {
            text: "User is viewing the pricing page".into(),
        });
        let text = r#"{"type":"contextual_update","text":"User is viewing the pricing page"}"#;
        assert_eq!(update.to_json(), text);
        assert_eq!(ClientMessage::parse(text).expect("parse"), update);
        assert_eq!(
            ClientMessage::UserActivity.to_json(),
            r#"{"type":"user_activity"}"#
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"user_activity"}"#).expect("parse"),
            ClientMessage::UserActivity
        );
    }

    #[test]
    fn unknown_and_malformed_client_messages() {
        let msg = ClientMessage::parse(r#"{"type":"user_message","text":"hi"}"#).expect("parse");
        assert_eq!(
            msg,
            ClientMessage::Unknown {
                kind: "user_message".into()
            }
        );
        assert_eq!(msg.kind(), Some("user_message"));
        assert_eq!(msg.to_json(), r#"{"type":"user_message"}"#);
        assert!(ClientMessage::parse("{}").is_err());
        assert!(ClientMessage::parse("not json").is_err());
    }
}
