//! Post-call webhook bodies: `POST` JSON `{type, event_timestamp, data}` with
//! `type` one of `post_call_transcription`, `post_call_audio`,
//! `call_initiation_failure`.
//!
//! Parsing is lenient on purpose: ElevenLabs grows these payloads often, and a
//! webhook we fail to parse is a transcript we lose (ElevenLabs does not retry
//! by default). So unknown `type`s become [`WebhookEvent::Unknown`], unknown
//! fields are ignored, optional fields are `Option`, `null` lists and maps
//! read as empty, and numbers that arrive as floats or strings are accepted.
//! Verify [`crate::signature`] on the raw body first, then parse.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// The dynamic variable outcall sets to the Twilio `CallSid` when it starts a
/// conversation, so the transcript can be tied back to the call.
pub const CALL_SID_VARIABLE: &str = "call_sid";

/// One webhook delivery.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawWebhook")]
pub struct PostCallWebhook {
    /// Unix seconds when ElevenLabs emitted the event.
    pub event_timestamp: Option<i64>,
    pub event: WebhookEvent,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WebhookEvent {
    PostCallTranscription(Box<PostCallTranscription>),
    PostCallAudio(PostCallAudio),
    CallInitiationFailure(CallInitiationFailure),
    /// A type this crate does not know; acknowledge and ignore it.
    Unknown {
        kind: String,
        data: Value,
    },
}

impl PostCallWebhook {
    /// Parses a raw (already verified) body.
    pub fn parse(raw_body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(raw_body)
    }

    /// The body ElevenLabs would send (what the simulator posts).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("BUG: webhook bodies always serialize")
    }

    /// The wire `type`.
    pub fn kind(&self) -> &str {
        match &self.event {
            WebhookEvent::PostCallTranscription(_) => "post_call_transcription",
            WebhookEvent::PostCallAudio(_) => "post_call_audio",
            WebhookEvent::CallInitiationFailure(_) => "call_initiation_failure",
            WebhookEvent::Unknown { kind, .. } => kind,
        }
    }

    /// `event_timestamp` as a time, when present and in range.
    pub fn event_time(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(self.event_timestamp?, 0)
    }

    /// The conversation the event is about, when it names one.
    pub fn conversation_id(&self) -> Option<&str> {
        match &self.event {
            WebhookEvent::PostCallTranscription(t) => Some(&t.conversation_id),
            WebhookEvent::PostCallAudio(a) => Some(&a.conversation_id),
            WebhookEvent::CallInitiationFailure(f) => f.conversation_id.as_deref(),
            WebhookEvent::Unknown { data, .. } => data.get("conversation_id")?.as_str(),
        }
    }
}

/// `data` of `post_call_transcription`: the whole conversation, analysed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostCallTranscription {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    pub conversation_id: String,
    /// e.g. `done`, `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub transcript: Vec<TranscriptTurn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ConversationMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Analysis>,
    /// What the client sent to start the conversation, including our
    /// `dynamic_variables`; kept as JSON (ElevenLabs adds system variables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_initiation_client_data: Option<Value>,
}

impl PostCallTranscription {
    /// `conversation_initiation_client_data.dynamic_variables`, when present.
    pub fn dynamic_variables(&self) -> Option<&Map<String, Value>> {
        self.conversation_initiation_client_data
            .as_ref()?
            .get("dynamic_variables")?
            .as_object()
    }

    /// One dynamic variable.
    pub fn dynamic_variable(&self, name: &str) -> Option<&Value> {
        self.dynamic_variables()?.get(name)
    }

    /// One dynamic variable that is a non-empty string.
    pub fn dynamic_variable_str(&self, name: &str) -> Option<&str> {
        self.dynamic_variable(name)?
            .as_str()
            .filter(|s| !s.is_empty())
    }

    /// The Twilio `CallSid` this conversation belongs to: our
    /// [`CALL_SID_VARIABLE`] dynamic variable, else the call sid ElevenLabs
    /// reports in `metadata.phone_call` (set when ElevenLabs placed the call).
    pub fn call_sid(&self) -> Option<&str> {
        self.dynamic_variable_str(CALL_SID_VARIABLE).or_else(|| {
            self.metadata
                .as_ref()?
                .phone_call
                .as_ref()?
                .call_sid
                .as_deref()
                .filter(|s| !s.is_empty())
        })
    }
}

/// Who spoke a transcript turn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Agent,
    /// Any other or missing role.
    #[default]
    #[serde(other)]
    Unknown,
}

/// One turn of `transcript[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptTurn {
    #[serde(default)]
    pub role: Role,
    /// `null` for turns that are only tool calls.
    #[serde(default)]
    pub message: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub time_in_call_secs: Option<f64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tool_calls: Vec<Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tool_results: Vec<Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub interrupted: bool,
}

/// `data.metadata`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationMetadata {
    #[serde(
        default,
        deserialize_with = "lenient_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_time_unix_secs: Option<i64>,
    #[serde(
        default,
        deserialize_with = "lenient_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub call_duration_secs: Option<i64>,
    /// In ElevenLabs credits.
    #[serde(
        default,
        deserialize_with = "lenient_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub cost: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_call: Option<PhoneCall>,
}

impl ConversationMetadata {
    pub fn start_time(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(self.start_time_unix_secs?, 0)
    }
}

/// `data.metadata.phone_call`, present for telephony conversations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneCall {
    /// `twilio` or `sip_trunking`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_number: Option<String>,
    /// `inbound` or `outbound`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
}

/// `data.analysis.call_successful`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallSuccessful {
    Success,
    Failure,
    #[default]
    #[serde(other)]
    Unknown,
}

/// `data.analysis`. Criteria and data-collection results are kept as JSON:
/// their keys are the agent's configured ids and their shapes vary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_successful: Option<CallSuccessful>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript_summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_summary_title: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub evaluation_criteria_results: Map<String, Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub data_collection_results: Map<String, Value>,
}

/// `data` of `post_call_audio`: the whole conversation as base64 MP3.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostCallAudio {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    pub conversation_id: String,
    pub full_audio: String,
}

/// Shows the audio's length, not megabytes of base64.
impl fmt::Debug for PostCallAudio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostCallAudio")
            .field("agent_id", &self.agent_id)
            .field("conversation_id", &self.conversation_id)
            .field("full_audio_base64_len", &self.full_audio.len())
            .finish()
    }
}

/// `data` of `call_initiation_failure` (a call ElevenLabs itself tried to
/// place did not connect). The whole `data` is kept; the fields outcall reads
/// are lifted out of it. Serialization writes `data` as is.
#[derive(Debug, Clone, PartialEq)]
pub struct CallInitiationFailure {
    pub agent_id: Option<String>,
    pub conversation_id: Option<String>,
    /// e.g. `busy`, `no-answer`, `unknown`.
    pub failure_reason: Option<String>,
    pub data: Value,
}

impl CallInitiationFailure {
    pub fn from_data(data: Value) -> Self {
        let field = |name: &str| data.get(name).and_then(Value::as_str).map(str::to_owned);
        Self {
            agent_id: field("agent_id"),
            conversation_id: field("conversation_id"),
            failure_reason: field("failure_reason"),
            data,
        }
    }
}

impl Serialize for PostCallWebhook {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", self.kind())?;
        if let Some(t) = self.event_timestamp {
            map.serialize_entry("event_timestamp", &t)?;
        }
        match &self.event {
            WebhookEvent::PostCallTranscription(t) => map.serialize_entry("data", t)?,
            WebhookEvent::PostCallAudio(a) => map.serialize_entry("data", a)?,
            WebhookEvent::CallInitiationFailure(f) => map.serialize_entry("data", &f.data)?,
            WebhookEvent::Unknown { data, .. } => map.serialize_entry("data", data)?,
        }
        map.end()
    }
}

#[derive(Deserialize)]
struct RawWebhook {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, deserialize_with = "lenient_i64")]
    event_timestamp: Option<i64>,
    #[serde(default)]
    data: Value,
}

impl TryFrom<RawWebhook> for PostCallWebhook {
    type Error = serde_json::Error;

    fn try_from(raw: RawWebhook) -> Result<Self, Self::Error> {
        let event = match raw.kind.as_str() {
            "post_call_transcription" => {
                WebhookEvent::PostCallTranscription(Box::new(serde_json::from_value(raw.data)?))
            }
            "post_call_audio" => WebhookEvent::PostCallAudio(serde_json::from_value(raw.data)?),
            "call_initiation_failure" => {
                WebhookEvent::CallInitiationFailure(CallInitiationFailure::from_data(raw.data))
            }
            _ => WebhookEvent::Unknown {
                kind: raw.kind,
                data: raw.data,
            },
        };
        Ok(Self {
            event_timestamp: raw.event_timestamp,
            event,
        })
    }
}

/// `null` reads as the type's default (empty list, empty map, false).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A number that may arrive as an integer, a float or a numeric string;
/// anything else reads as absent rather than failing the whole webhook.
fn lenient_f64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    })
}

/// Like [`lenient_f64`], for whole seconds (fractions are truncated).
fn lenient_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(truncate)),
        Some(Value::String(s)) => {
            let s = s.trim();
            s.parse::<i64>().ok().or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(truncate)
            })
        }
        _ => None,
    })
}

/// Truncates toward zero, saturating at the `i64` range (`as` semantics).
fn truncate(f: f64) -> i64 {
    f as i64
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Shaped like the example in ElevenLabs' "post-call webhooks" page, with
    /// an outbound Twilio call and outcall's dynamic variables.
    const TRANSCRIPTION: &str = r#"{
      "type": "post_call_transcription",
      "event_timestamp": 1739537297,
      "data": {
        "agent_id": "xyz",
        "conversation_id": "abc",
        "status": "done",
        "user_id": null,
        "transcript": [
          {
            "role": "agent",
            "message": "Hey there angelo. How are you?",
            "tool_calls": null,
            "tool_results": null,
            "feedback": null,
            "time_in_call_secs": 0,
            "conversation_turn_metrics": null
          },
          {
            "role": "user",
            "message": "Hey, can you tell me, like, a fun fact about 11 Labs?",
            "tool_calls": null,
            "tool_results": null,
            "feedback": null,
            "time_in_call_secs": 2,
            "interrupted": true
          },
          {
            "role": "agent",
            "message": null,
            "tool_calls": [{"tool_name": "end_call", "params_as_json": "{}"}],
            "tool_results": [{"tool_name": "end_call", "result_value": "ok", "is_error": false}],
            "time_in_call_secs": 9.5
          }
        ],
        "metadata": {
          "start_time_unix_secs": 1739537297,
          "call_duration_secs": 22,
          "cost": 296,
          "deletion_settings": {"deletion_time_unix_secs": 1802609320},
          "feedback": {"overall_score": null, "likes": 0, "dislikes": 0},
          "authorization_method": "authorization_header",
          "charging": {"dev_discount": true},
          "termination_reason": "end_call tool was called.",
          "phone_call": {
            "type": "twilio",
            "call_sid": "CAelevenlabs",
            "stream_sid": "MZ00000000000000000000000000000000",
            "external_number": "+14155550123",
            "agent_number": "+14155550999",
            "direction": "outbound",
            "phone_number_id": "pn_1"
          }
        },
        "analysis": {
          "evaluation_criteria_results": {
            "factual": {"criteria_id": "factual", "result": "success", "rationale": "ok"}
          },
          "data_collection_results": {
            "interested": {"data_collection_id": "interested", "value": true, "rationale": "said so"}
          },
          "call_successful": "success",
          "transcript_summary": "The conversation begins with the agent asking how Angelo is.",
          "call_summary_title": "Fun fact request"
        },
        "conversation_initiation_client_data": {
          "conversation_config_override": {"agent": {"prompt": null, "first_message": null, "language": "en"}, "tts": {"voice_id": null}},
          "custom_llm_extra_body": {},
          "dynamic_variables": {
            "call_sid": "CA0123456789abcdef0123456789abcdef",
            "name": "Angelo",
            "attempt": 2,
            "system__call_duration_secs": 22
          }
        }
      }
    }"#;

    fn transcription(webhook: &PostCallWebhook) -> &PostCallTranscription {
        match &webhook.event {
            WebhookEvent::PostCallTranscription(t) => t,
            other => panic!("expected a transcription, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_full_transcription() {
        let webhook = PostCallWebhook::parse(TRANSCRIPTION.as_bytes()).expect("parse");
        assert_eq!(webhook.kind(), "post_call_transcription");
        assert_eq!(webhook.event_timestamp, Some(1_739_537_297));
        assert_eq!(
            webhook.event_time().map(|t| t.to_rfc3339()),
            Some("2025-02-14T12:48:17+00:00".to_owned())
        );
        assert_eq!(webhook.conversation_id(), Some("abc"));
        let t = transcription(&webhook);
        assert_eq!(t.agent_id.as_deref(), Some("xyz"));
        assert_eq!(t.status.as_deref(), Some("done"));
        assert_eq!(t.transcript.len(), 3);
        assert_eq!(t.transcript[0].role, Role::Agent);
        assert_eq!(
            t.transcript[0].message.as_deref(),
            Some("Hey there angelo. How are you?")
        );
        assert!(t.transcript[0].tool_calls.is_empty());
        assert!(!t.transcript[0].interrupted);
        assert_eq!(t.transcript[1].role, Role::User);
        assert_eq!(t.transcript[1].time_in_call_secs, Some(2.0));
        assert!(t.transcript[1].interrupted);
        assert_eq!(t.transcript[2].message, None);
        assert_eq!(t.transcript[2].time_in_call_secs, Some(9.5));
        assert_eq!(t.transcript[2].tool_calls[0]["tool_name"], "end_call");
        assert_eq!(t.transcript[2].tool_results.len(), 1);

        let m = t.metadata.as_ref().expect("metadata");
        assert_eq!(m.start_time_unix_secs, Some(1_739_537_297));
        assert!(m.start_time().is_some());
        assert_eq!(m.call_duration_secs, Some(22));
        assert_eq!(m.cost, Some(296.0));
        assert_eq!(
            m.termination_reason.as_deref(),
            Some("end_call tool was called.")
        );
        let phone = m.phone_call.as_ref().expect("phone_call");
        assert_eq!(phone.kind.as_deref(), Some("twilio"));
        assert_eq!(phone.call_sid.as_deref(), Some("CAelevenlabs"));
        assert_eq!(
            phone.stream_sid.as_deref(),
            Some("MZ00000000000000000000000000000000")
        );
        assert_eq!(phone.external_number.as_deref(), Some("+14155550123"));
        assert_eq!(phone.agent_number.as_deref(), Some("+14155550999"));
        assert_eq!(phone.direction.as_deref(), Some("outbound"));

        let a = t.analysis.as_ref().expect("analysis");
        assert_eq!(a.call_successful, Some(CallSuccessful::Success));
        assert_eq!(a.call_summary_title.as_deref(), Some("Fun fact request"));
        assert!(
            a.transcript_summary
                .as_deref()
                .is_some_and(|s| s.starts_with("The conversation"))
        );
        assert_eq!(
            a.evaluation_criteria_results["factual"]["result"],
            "success"
        );
        assert_eq!(a.data_collection_results["interested"]["value"], true);

        assert_eq!(t.call_sid(), Some("CA0123456789abcdef0123456789abcdef"));
        assert_eq!(t.dynamic_variable_str("name"), Some("Angelo"));
        assert_eq!(t.dynamic_variable("attempt"), Some(&json!(2)));
        assert_eq!(t.dynamic_variable_str("attempt"), None);
        assert_eq!(t.dynamic_variable("missing"), None);
    }

    #[test]
    fn call_sid_falls_back_to_phone_call_metadata() {
        let body = json!({
            "type": "post_call_transcription",
            "data": {
                "conversation_id": "c",
                "metadata": {"phone_call": {"type": "twilio", "call_sid": "CAfromMeta"}},
                "conversation_initiation_client_data": {"dynamic_variables": {"call_sid": ""}}
            }
        });
        let webhook = PostCallWebhook::parse(body.to_string().as_bytes()).expect("parse");
        assert_eq!(transcription(&webhook).call_sid(), Some("CAfromMeta"));
        let bare = json!({"type": "post_call_transcription", "data": {"conversation_id": "c"}});
        let webhook = PostCallWebhook::parse(bare.to_string().as_bytes()).expect("parse");
        let t = transcription(&webhook);
        assert_eq!(t.call_sid(), None);
        assert!(t.transcript.is_empty());
        assert_eq!(webhook.event_timestamp, None);
    }

    #[test]
    fn lenient_on_nulls_odd_numbers_and_unknown_enums() {
        let body = json!({
            "type": "post_call_transcription",
            "event_timestamp": 1739537297.9,
            "data": {
                "conversation_id": "c",
                "transcript": [
                    {"role": "tool", "message": "x", "time_in_call_secs": "3.5", "interrupted": null},
                    {"message": "no role", "time_in_call_secs": {"weird": true}}
                ],
                "metadata": {"start_time_unix_secs": "1739537297", "call_duration_secs": 12.7, "cost": null},
                "analysis": {
                    "call_successful": "partially",
                    "evaluation_criteria_results": null,
                    "data_collection_results": null
                }
            }
        });
        let webhook = PostCallWebhook::parse(body.to_string().as_bytes()).expect("parse");
        assert_eq!(webhook.event_timestamp, Some(1_739_537_297));
        let t = transcription(&webhook);
        assert_eq!(t.transcript[0].role, Role::Unknown);
        assert_eq!(t.transcript[0].time_in_call_secs, Some(3.5));
        assert!(!t.transcript[0].interrupted);
        assert_eq!(t.transcript[1].role, Role::Unknown);
        assert_eq!(t.transcript[1].time_in_call_secs, None);
        let m = t.metadata.as_ref().expect("metadata");
        assert_eq!(m.start_time_unix_secs, Some(1_739_537_297));
        assert_eq!(m.call_duration_secs, Some(12));
        assert_eq!(m.cost, None);
        let a = t.analysis.as_ref().expect("analysis");
        assert_eq!(a.call_successful, Some(CallSuccessful::Unknown));
        assert!(a.evaluation_criteria_results.is_empty());
        assert!(a.data_collection_results.is_empty());
    }

    #[test]
    fn call_successful_values() {
        for (text, expected) in [
            ("success", CallSuccessful::Success),
            ("failure", CallSuccessful::Failure),
            ("unknown", CallSuccessful::Unknown),
        ] {
            let parsed: CallSuccessful = serde_json::from_value(json!(text)).expect("parse");
            assert_eq!(parsed, expected);
            assert_eq!(
                serde_json::to_value(expected).expect("serialize"),
                json!(text)
            );
        }
    }

    #[test]
    fn transcription_round_trips_through_the_simulator_side() {
        let webhook = PostCallWebhook::parse(TRANSCRIPTION.as_bytes()).expect("parse");
        let again = PostCallWebhook::parse(webhook.to_json().as_bytes()).expect("reparse");
        assert_eq!(again, webhook);
    }

    #[test]
    fn post_call_audio() {
        let text = r#"{"type":"post_call_audio","event_timestamp":1739537319,"data":{"agent_id":"xyz","conversation_id":"abc","full_audio":"SUQzBAAAAAAA"}}"#;
        let webhook = PostCallWebhook::parse(text.as_bytes()).expect("parse");
        let WebhookEvent::PostCallAudio(audio) = &webhook.event else {
            panic!("expected audio");
        };
        assert_eq!(audio.agent_id.as_deref(), Some("xyz"));
        assert_eq!(audio.conversation_id, "abc");
        assert_eq!(audio.full_audio, "SUQzBAAAAAAA");
        assert!(!format!("{audio:?}").contains("SUQz"));
        assert_eq!(webhook.conversation_id(), Some("abc"));
        let v: Value = serde_json::from_str(&webhook.to_json()).expect("json");
        assert_eq!(v, serde_json::from_str::<Value>(text).expect("json"));
    }

    #[test]
    fn call_initiation_failure() {
        let text = r#"{"type":"call_initiation_failure","event_timestamp":1759931652,"data":{"agent_id":"agent_1","conversation_id":"conv_1","failure_reason":"busy","metadata":{"type":"twilio","body":{"CallSid":"CA1","CallStatus":"busy"}}}}"#;
        let webhook = PostCallWebhook::parse(text.as_bytes()).expect("parse");
        let WebhookEvent::CallInitiationFailure(f) = &webhook.event else {
            panic!("expected failure");
        };
        assert_eq!(f.agent_id.as_deref(), Some("agent_1"));
        assert_eq!(f.conversation_id.as_deref(), Some("conv_1"));
        assert_eq!(f.failure_reason.as_deref(), Some("busy"));
        assert_eq!(f.data["metadata"]["body"]["CallSid"], "CA1");
        let v: Value = serde_json::from_str(&webhook.to_json()).expect("json");
        assert_eq!(v, serde_json::from_str::<Value>(text).expect("json"));

        let sparse = PostCallWebhook::parse(br#"{"type":"call_initiation_failure","data":{}}"#)
            .expect("parse");
        assert_eq!(sparse.conversation_id(), None);
    }

    #[test]
    fn unknown_types_are_kept_not_rejected() {
        let text = r#"{"type":"voice_removal_notice","event_timestamp":1,"data":{"conversation_id":"c9","x":[1]}}"#;
        let webhook = PostCallWebhook::parse(text.as_bytes()).expect("parse");
        assert_eq!(webhook.kind(), "voice_removal_notice");
        assert_eq!(webhook.conversation_id(), Some("c9"));
        assert!(matches!(&webhook.event, WebhookEvent::Unknown { data, .. } if data["x"][0] == 1));
        let no_data = PostCallWebhook::parse(br#"{"type":"new_thing"}"#).expect("parse");
        assert!(matches!(
            no_data.event,
            WebhookEvent::Unknown {
                data: Value::Null,
                ..
            }
        ));
    }

    #[test]
    fn malformed_bodies_are_errors() {
        assert!(PostCallWebhook::parse(b"").is_err());
        assert!(PostCallWebhook::parse(b"[]").is_err());
        assert!(PostCallWebhook::parse(br#"{"data":{}}"#).is_err());
        // A transcription must name its conversation.
        assert!(
            PostCallWebhook::parse(br#"{"type":"post_call_transcription","data":{}}"#).is_err()
        );
        assert!(
            PostCallWebhook::parse(br#"{"type":"post_call_audio","data":{"conversation_id":"c"}}"#)
                .is_err()
        );
    }
}
