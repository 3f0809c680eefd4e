//! Media Streams messages: the JSON text frames on the WebSocket Twilio opens
//! to us after `<Connect><Stream>`, in both directions, as `protocols.md`
//! lists them.
//!
//! On the wire `sequenceNumber`, `chunk` and `timestamp` are strings; here
//! they are `u64` (a number is accepted too, and they are written back as
//! strings). Audio payloads stay base64 text: with `ulaw_8000` on both sides
//! the bridge passes them through without decoding. Unknown inbound events
//! are tolerated ([`InboundMessage::parse`] returns `Ok(None)`), since Twilio
//! may add events; outbound parsing is strict, because the server may send
//! nothing but `media`, `mark` and `clear`, and the simulator checks that.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Twilio → server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "event",
    rename_all = "lowercase",
    rename_all_fields = "camelCase"
)]
pub enum InboundMessage {
    /// First frame: `{"event":"connected","protocol":"Call","version":"1.0.0"}`.
    Connected { protocol: String, version: String },
    /// Stream metadata, including our custom parameters.
    Start {
        #[serde(default, with = "string_u64")]
        sequence_number: u64,
        start: StreamStart,
        stream_sid: String,
    },
    /// 20 ms of audio.
    Media {
        #[serde(default, with = "string_u64")]
        sequence_number: u64,
        media: InboundMedia,
        stream_sid: String,
    },
    /// A key press.
    Dtmf {
        stream_sid: String,
        #[serde(default, with = "string_u64")]
        sequence_number: u64,
        dtmf: Dtmf,
    },
    /// The audio sent before the named mark has played (or was cleared).
    Mark {
        #[serde(default, with = "string_u64")]
        sequence_number: u64,
        stream_sid: String,
        mark: Mark,
    },
    /// The stream ended (call hung up or stream stopped).
    Stop {
        #[serde(default, with = "string_u64")]
        sequence_number: u64,
        stream_sid: String,
        stop: StreamStop,
    },
    /// Any event this crate does not know. Never serialized.
    #[serde(other, skip_serializing)]
    Unknown,
}

impl InboundMessage {
    /// Parses one text frame; `Ok(None)` for an event this crate does not know.
    pub fn parse(text: &str) -> Result<Option<Self>, serde_json::Error> {
        match serde_json::from_str(text)? {
            Self::Unknown => Ok(None),
            message => Ok(Some(message)),
        }
    }

    /// The frame's JSON text (for the simulator). Fails only for `Unknown`.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// The stream this message belongs to (`connected` has none).
    pub fn stream_sid(&self) -> Option<&str> {
        match self {
            Self::Start { stream_sid, .. }
            | Self::Media { stream_sid, .. }
            | Self::Dtmf { stream_sid, .. }
            | Self::Mark { stream_sid, .. }
            | Self::Stop { stream_sid, .. } => Some(stream_sid),
            Self::Connected { .. } | Self::Unknown => None,
        }
    }
}

/// The `start` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamStart {
    pub account_sid: String,
    pub stream_sid: String,
    pub call_sid: String,
    /// e.g. `["inbound"]`, or `["inbound", "outbound"]`.
    #[serde(default)]
    pub tracks: Vec<String>,
    /// The `<Parameter>`s of our TwiML.
    #[serde(default)]
    pub custom_parameters: BTreeMap<String, String>,
    pub media_format: MediaFormat,
}

/// `{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaFormat {
    pub encoding: String,
    pub sample_rate: u32,
    pub channels: u16,
}

impl MediaFormat {
    /// What Twilio streams: μ-law, 8 kHz, mono.
    pub fn mulaw_8000() -> Self {
        Self {
            encoding: "audio/x-mulaw".into(),
            sample_rate: 8000,
            channels: 1,
        }
    }
}

/// The `media` object Twilio sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundMedia {
    /// `inbound` (the callee) or `outbound`.
    pub track: String,
    /// Counts from 1.
    #[serde(with = "string_u64")]
    pub chunk: u64,
    /// Milliseconds since the stream started.
    #[serde(with = "string_u64")]
    pub timestamp: u64,
    /// Base64 of raw μ-law (160 bytes per 20 ms frame).
    pub payload: String,
}

/// The `dtmf` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dtmf {
    /// `inbound_track`.
    pub track: String,
    pub digit: String,
}

/// The `mark` object, both directions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub name: String,
}

/// The `stop` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamStop {
    pub account_sid: String,
    pub call_sid: String,
}

/// Server → Twilio. Nothing else may be sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "event",
    rename_all = "lowercase",
    rename_all_fields = "camelCase"
)]
pub enum OutboundMessage {
    /// Audio to play to the callee.
    Media {
        stream_sid: String,
        media: OutboundMedia,
    },
    /// Ask Twilio to report when the audio sent so far has played.
    Mark { stream_sid: String, mark: Mark },
    /// Drop buffered audio (barge-in); pending marks come back.
    Clear { stream_sid: String },
}

/// The `media` object we send: just the payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundMedia {
    /// Base64 of raw μ-law 8 kHz.
    pub payload: String,
}

impl OutboundMessage {
    pub fn media(stream_sid: impl Into<String>, payload: impl Into<String>) -> Self {
        Self::Media {
            stream_sid: stream_sid.into(),
            media: OutboundMedia {
                payload: payload.into(),
            },
        }
    }

    pub fn mark(stream_sid: impl Into<String>, name: impl Into<String>) -> Self {
        Self::Mark {
            stream_sid: stream_sid.into(),
            mark: Mark { name: name.into() },
        }
    }

    pub fn clear(stream_sid: impl Into<String>) -> Self {
        Self::Clear {
            stream_sid: stream_sid.into(),
        }
    }

    /// The frame's JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("BUG: outbound messages always serialize")
    }

    /// Parses a frame the server sent (for the simulator); unknown events are errors.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// A `u64` written as a JSON string, read from a string or a number.
mod string_u64 {
    use serde::de::{self, Deserializer, Visitor};
    use serde::ser::Serializer;

    pub fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = u64;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a non-negative integer, as a string or a number")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
                Ok(v)
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
                u64::try_from(v).map_err(|_| E::custom(format!("negative value {v}")))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
                v.trim()
                    .parse()
                    .map_err(|_| E::custom(format!("{v:?} is not a non-negative integer")))
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// 160 bytes of μ-law (0x7f, 0x80, …) in base64: one 20 ms frame.
    const PAYLOAD: &str = "f4CBgoOEhYaHiImKi4yNjo+QkZKTlJWWl5iZmpucnZ6foKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr/AwcLDxMXGx8jJysvMzc7P0NHS09TV1tfY2drb3N3e3+Dh4uPk5ebn6Onq6+zt7u/w8fLz9PX29/j5+vv8/f7/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==";

    /// Parses `text`, checks it against `expected`, and checks that writing
    /// it back gives the same JSON (as a value: key order is free).
    fn round_trip(text: &str, expected: &InboundMessage) {
        let parsed = InboundMessage::parse(text)
            .expect("parse")
            .expect("known event");
        assert_eq!(&parsed, expected);
        let written: Value =
            serde_json::from_str(&parsed.to_json().expect("serialize")).expect("json");
        let original: Value = serde_json::from_str(text).expect("json");
        assert_eq!(written, original);
    }

    #[test]
    fn connected() {
        round_trip(
            r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#,
            &InboundMessage::Connected {
                protocol: "Call".into(),
                version: "1.0.0".into(),
            },
        );
    }

    #[test]
    fn start() {
        let text = r#"{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC0123","streamSid":"MZ0123","callSid":"CA0123","tracks":["inbound"],"customParameters":{"token":"t.o&k","campaign":"42"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"MZ0123"}"#;
        let expected = InboundMessage::Start {
            sequence_number: 1,
            start: StreamStart {
                account_sid: "AC0123".into(),
                stream_sid: "MZ0123".into(),
                call_sid: "CA0123".into(),
                tracks: vec!["inbound".into()],
                custom_parameters: [("token", "t.o&k"), ("campaign", "42")]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
                media_format: MediaFormat::mulaw_8000(),
            },
            stream_sid: "MZ0123".into(),
        };
        round_trip(text, &expected);
        assert_eq!(expected.stream_sid(), Some("MZ0123"));
    }

    #[test]
    fn media() {
        assert_eq!(PAYLOAD.len(), 216);
        let text = format!(
            r#"{{"event":"media","sequenceNumber":"3","media":{{"track":"inbound","chunk":"1","timestamp":"5","payload":"{PAYLOAD}"}},"streamSid":"MZ0123"}}"#
        );
        round_trip(
            &text,
            &InboundMessage::Media {
                sequence_number: 3,
                media: InboundMedia {
                    track: "inbound".into(),
                    chunk: 1,
                    timestamp: 5,
                    payload: PAYLOAD.into(),
                },
                stream_sid: "MZ0123".into(),
            },
        );
    }

    #[test]
    fn dtmf_mark_stop() {
        round_trip(
            r#"{"event":"dtmf","streamSid":"MZ0123","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}}"#,
            &InboundMessage::Dtmf {
                stream_sid: "MZ0123".into(),
                sequence_number: 5,
                dtmf: Dtmf {
                    track: "inbound_track".into(),
                    digit: "1".into(),
                },
            },
        );
        round_trip(
            r#"{"event":"mark","sequenceNumber":"4","streamSid":"MZ0123","mark":{"name":"utterance-7"}}"#,
            &InboundMessage::Mark {
                sequence_number: 4,
                stream_sid: "MZ0123".into(),
                mark: Mark {
                    name: "utterance-7".into(),
                },
            },
        );
        round_trip(
            r#"{"event":"stop","sequenceNumber":"900","streamSid":"MZ0123","stop":{"accountSid":"AC0123","callSid":"CA0123"}}"#,
            &InboundMessage::Stop {
                sequence_number: 900,
                stream_sid: "MZ0123".into(),
                stop: StreamStop {
                    account_sid: "AC0123".into(),
                    call_sid: "CA0123".into(),
                },
            },
        );
    }

    #[test]
    fn unknown_events_and_fields_are_tolerated() {
        assert_eq!(
            InboundMessage::parse(r#"{"event":"transcription","streamSid":"MZ1","x":{"y":1}}"#)
                .expect("parse"),
            None
        );
        // Unknown fields are ignored; numbers are accepted where strings are usual.
        let parsed = InboundMessage::parse(
            r#"{"event":"mark","sequenceNumber":4,"streamSid":"MZ1","mark":{"name":"m"},"extra":true}"#,
        )
        .expect("parse")
        .expect("known");
        assert!(matches!(
            parsed,
            InboundMessage::Mark {
                sequence_number: 4,
                ..
            }
        ));
        assert!(InboundMessage::Unknown.to_json().is_err());
    }

    #[test]
    fn malformed_frames_are_errors() {
        assert!(InboundMessage::parse("not json").is_err());
        assert!(InboundMessage::parse(r#"{"no":"event"}"#).is_err());
        assert!(InboundMessage::parse(r#"{"event":"media","streamSid":"MZ1"}"#).is_err());
        assert!(
            InboundMessage::parse(
                r#"{"event":"media","sequenceNumber":"x","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":""},"streamSid":"MZ1"}"#
            )
            .is_err()
        );
    }

    #[test]
    fn outbound_messages_match_protocol() {
        let cases = [
            (
                OutboundMessage::media("MZ0123", PAYLOAD),
                format!(
                    r#"{{"event":"media","streamSid":"MZ0123","media":{{"payload":"{PAYLOAD}"}}}}"#
                ),
            ),
            (
                OutboundMessage::mark("MZ0123", "utterance-7"),
                r#"{"event":"mark","streamSid":"MZ0123","mark":{"name":"utterance-7"}}"#.to_owned(),
            ),
            (
                OutboundMessage::clear("MZ0123"),
                r#"{"event":"clear","streamSid":"MZ0123"}"#.to_owned(),
            ),
        ];
        for (message, text) in cases {
            assert_eq!(message.to_json(), text);
            assert_eq!(OutboundMessage::parse(&text).expect("parse"), message);
        }
        // The simulator rejects anything else, e.g. a `connected` sent to Twilio.
        assert!(
            OutboundMessage::parse(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#)
                .is_err()
        );
    }
}
