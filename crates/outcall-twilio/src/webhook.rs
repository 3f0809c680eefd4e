//! Typed Twilio webhooks: the status callback, the async AMD callback and the
//! recording callback, parsed from the decoded form pairs of the request body.
//!
//! Parsing takes pairs (not a map) because that is what a form decoder
//! yields and what signature validation needs too. Unknown parameters are
//! ignored, since Twilio adds new ones without notice; a required one missing
//! or a present one malformed is an error naming the parameter. Empty values
//! count as absent. `to_pairs` writes the same forms, for the simulator.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A webhook form that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("missing required parameter {0}")]
    Missing(&'static str),
    #[error("invalid value {value:?} for parameter {name}: expected {expected}")]
    Invalid {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// Parses Twilio's RFC 2822 times (`Tue, 31 Aug 2010 20:36:44 +0000`).
pub fn parse_rfc2822(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(value.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Formats a time the way Twilio writes it.
pub fn format_rfc2822(time: DateTime<Utc>) -> String {
    time.to_rfc2822()
}

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident, $expected:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant,)+
        }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl FromStr for $name {
            type Err = &'static str;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    _ => Err($expected),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// Twilio's call status, in webhooks (`CallStatus`) and the Call resource (`status`).
    CallStatus, "a Twilio call status" {
        Queued => "queued",
        Initiated => "initiated",
        Ringing => "ringing",
        InProgress => "in-progress",
        Completed => "completed",
        Busy => "busy",
        Failed => "failed",
        NoAnswer => "no-answer",
        Canceled => "canceled",
    }
);

impl CallStatus {
    /// No further status follows a terminal one.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Busy | Self::Failed | Self::NoAnswer | Self::Canceled
        )
    }
}

wire_enum!(
    /// The answering-machine detection verdict (`AnsweredBy`).
    AnsweredBy, "an AnsweredBy value" {
        Human => "human",
        MachineStart => "machine_start",
        MachineEndBeep => "machine_end_beep",
        MachineEndSilence => "machine_end_silence",
        MachineEndOther => "machine_end_other",
        Fax => "fax",
        Unknown => "unknown",
    }
);

impl AnsweredBy {
    /// An answering machine (any of the `machine_*` verdicts).
    pub fn is_machine(self) -> bool {
        matches!(
            self,
            Self::MachineStart
                | Self::MachineEndBeep
                | Self::MachineEndSilence
                | Self::MachineEndOther
        )
    }
}

wire_enum!(
    /// `RecordingStatus` of a recording callback.
    RecordingStatus, "a recording status" {
        InProgress => "in-progress",
        Completed => "completed",
        Absent => "absent",
        Failed => "failed",
    }
);

/// Read access to the form pairs: first value of a name, empty = absent.
struct Form<'a>(&'a [(String, String)]);

impl<'a> Form<'a> {
    fn get(&self, name: &'static str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &'static str) -> Result<String, WebhookError> {
        self.get(name)
            .map(str::to_owned)
            .ok_or(WebhookError::Missing(name))
    }

    fn optional(&self, name: &'static str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    fn parsed<T: FromStr>(
        &self,
        name: &'static str,
        expected: &'static str,
    ) -> Result<Option<T>, WebhookError> {
        self.get(name)
            .map(|v| {
                v.trim().parse().map_err(|_| WebhookError::Invalid {
                    name,
                    value: v.to_owned(),
                    expected,
                })
            })
            .transpose()
    }

    fn time(&self, name: &'static str) -> Result<Option<DateTime<Utc>>, WebhookError> {
        self.get(name)
            .map(|v| {
                parse_rfc2822(v).ok_or_else(|| WebhookError::Invalid {
                    name,
                    value: v.to_owned(),
                    expected: "an RFC 2822 time",
                })
            })
            .transpose()
    }
}

/// Writes form pairs, skipping absent values.
#[derive(Default)]
struct Pairs(Vec<(String, String)>);

impl Pairs {
    fn put(&mut self, name: &str, value: impl ToString) -> &mut Self {
        self.0.push((name.to_owned(), value.to_string()));
        self
    }

    fn opt(&mut self, name: &str, value: Option<impl ToString>) -> &mut Self {
        if let Some(v) = value {
            self.put(name, v);
        }
        self
    }
}

/// The status callback (`StatusCallback` URL), one per requested event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCallback {
    pub call_sid: String,
    pub account_sid: String,
    pub from: String,
    pub to: String,
    pub call_status: CallStatus,
    pub api_version: Option<String>,
    pub direction: Option<String>,
    /// `call-progress-events` for these callbacks.
    pub callback_source: Option<String>,
    /// From 0 per call; orders callbacks that may arrive out of order.
    pub sequence_number: Option<u64>,
    pub timestamp: Option<DateTime<Utc>>,
    /// Seconds; on `completed` only.
    pub call_duration: Option<u64>,
    /// When AMD is on.
    pub answered_by: Option<AnsweredBy>,
    pub error_code: Option<u32>,
    pub error_message: Option<String>,
    /// Recording fields, when the call was recorded.
    pub recording_sid: Option<String>,
    pub recording_url: Option<String>,
    pub recording_duration: Option<u64>,
}

impl StatusCallback {
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, WebhookError> {
        let f = Form(pairs);
        Ok(Self {
            call_sid: f.required("CallSid")?,
            account_sid: f.required("AccountSid")?,
            from: f.required("From")?,
            to: f.required("To")?,
            call_status: f
                .parsed("CallStatus", "a Twilio call status")?
                .ok_or(WebhookError::Missing("CallStatus"))?,
            api_version: f.optional("ApiVersion"),
            direction: f.optional("Direction"),
            callback_source: f.optional("CallbackSource"),
            sequence_number: f.parsed("SequenceNumber", "a non-negative integer")?,
            timestamp: f.time("Timestamp")?,
            call_duration: f.parsed("CallDuration", "seconds")?,
            answered_by: f.parsed("AnsweredBy", "an AnsweredBy value")?,
            error_code: f.parsed("ErrorCode", "a numeric error code")?,
            error_message: f.optional("ErrorMessage"),
            recording_sid: f.optional("RecordingSid"),
            recording_url: f.optional("RecordingUrl"),
            recording_duration: f.parsed("RecordingDuration", "seconds")?,
        })
    }

    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut p = Pairs::default();
        p.put("CallSid", &self.call_sid)
            .put("AccountSid", &self.account_sid)
            .put("From", &self.from)
            .put("To", &self.to)
            .put("CallStatus", self.call_status)
            .opt("ApiVersion", self.api_version.as_ref())
            .opt("Direction", self.direction.as_ref())
            .opt("CallbackSource", self.callback_source.as_ref())
            .opt("SequenceNumber", self.sequence_number)
            .opt("Timestamp", self.timestamp.map(format_rfc2822))
            .opt("CallDuration", self.call_duration)
            .opt("AnsweredBy", self.answered_by)
            .opt("ErrorCode", self.error_code)
            .opt("ErrorMessage", self.error_message.as_ref())
            .opt("RecordingSid", self.recording_sid.as_ref())
            .opt("RecordingUrl", self.recording_url.as_ref())
            .opt("RecordingDuration", self.recording_duration);
        p.0
    }
}

/// The asynchronous AMD callback (`AsyncAmdStatusCallback` URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmdCallback {
    pub call_sid: String,
    pub account_sid: String,
    pub answered_by: AnsweredBy,
    /// How long detection took, ms.
    pub machine_detection_duration_ms: Option<u64>,
}

impl AmdCallback {
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, WebhookError> {
        let f = Form(pairs);
        Ok(Self {
            call_sid: f.required("CallSid")?,
            account_sid: f.required("AccountSid")?,
            answered_by: f
                .parsed("AnsweredBy", "an AnsweredBy value")?
                .ok_or(WebhookError::Missing("AnsweredBy"))?,
            machine_detection_duration_ms: f.parsed("MachineDetectionDuration", "milliseconds")?,
        })
    }

    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut p = Pairs::default();
        p.put("CallSid", &self.call_sid)
            .put("AccountSid", &self.account_sid)
            .put("AnsweredBy", self.answered_by)
            .opt(
                "MachineDetectionDuration",
                self.machine_detection_duration_ms,
            );
        p.0
    }
}

/// The recording callback (`RecordingStatusCallback` URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingCallback {
    pub account_sid: String,
    pub call_sid: String,
    /// `RE…`
    pub recording_sid: String,
    pub recording_status: RecordingStatus,
    /// Absent for `absent`/`failed`.
    pub recording_url: Option<String>,
    /// Seconds. A negative value (seen while in progress) reads as absent.
    pub recording_duration: Option<u64>,
    /// Number of channels, 1 or 2.
    pub recording_channels: Option<u32>,
    pub recording_start_time: Option<DateTime<Utc>>,
    /// e.g. `OutboundAPI`.
    pub recording_source: Option<String>,
    /// `inbound`, `outbound` or `both`.
    pub recording_track: Option<String>,
    /// 0 or absent when there was no error.
    pub error_code: Option<u32>,
}

impl RecordingCallback {
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, WebhookError> {
        let f = Form(pairs);
        let duration: Option<i64> = f.parsed("RecordingDuration", "seconds")?;
        Ok(Self {
            account_sid: f.required("AccountSid")?,
            call_sid: f.required("CallSid")?,
            recording_sid: f.required("RecordingSid")?,
            recording_status: f
                .parsed("RecordingStatus", "a recording status")?
                .ok_or(WebhookError::Missing("RecordingStatus"))?,
            recording_url: f.optional("RecordingUrl"),
            recording_duration: duration.and_then(|d| u64::try_from(d).ok()),
            recording_channels: f.parsed("RecordingChannels", "a channel count")?,
            recording_start_time: f.time("RecordingStartTime")?,
            recording_source: f.optional("RecordingSource"),
            recording_track: f.optional("RecordingTrack"),
            error_code: f.parsed("ErrorCode", "a numeric error code")?,
        })
    }

    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut p = Pairs::default();
        p.put("AccountSid", &self.account_sid)
            .put("CallSid", &self.call_sid)
            .put("RecordingSid", &self.recording_sid)
            .put("RecordingStatus", self.recording_status)
            .opt("RecordingUrl", self.recording_url.as_ref())
            .opt("RecordingDuration", self.recording_duration)
            .opt("RecordingChannels", self.recording_channels)
            .opt(
                "RecordingStartTime",
                self.recording_start_time.map(format_rfc2822),
            )
            .opt("RecordingSource", self.recording_source.as_ref())
            .opt("RecordingTrack", self.recording_track.as_ref())
            .opt("ErrorCode", self.error_code);
        p.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const SID: &str = "CA0123456789abcdef0123456789abcdef";
    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";

    #[test]
    fn status_callback_completed() {
        let form = pairs(&[
            ("Called", "+15558675310"),
            ("ToState", "CA"),
            ("CallSid", SID),
            ("AccountSid", ACCOUNT),
            ("From", "+15017122661"),
            ("To", "+15558675310"),
            ("CallStatus", "completed"),
            ("ApiVersion", "2010-04-01"),
            ("Direction", "outbound-api"),
            ("CallbackSource", "call-progress-events"),
            ("SequenceNumber", "3"),
            ("Timestamp", "Tue, 31 Aug 2010 20:36:44 +0000"),
            ("CallDuration", "15"),
            ("AnsweredBy", "human"),
        ]);
        let cb = StatusCallback::parse(&form).expect("parse");
        assert_eq!(cb.call_status, CallStatus::Completed);
        assert!(cb.call_status.is_terminal());
        assert_eq!(cb.sequence_number, Some(3));
        assert_eq!(cb.call_duration, Some(15));
        assert_eq!(cb.answered_by, Some(AnsweredBy::Human));
        assert_eq!(
            cb.timestamp.expect("ts").to_rfc3339(),
            "2010-08-31T20:36:44+00:00"
        );
        assert_eq!(cb.error_code, None);
        // Writing it back and reading again gives the same callback.
        assert_eq!(StatusCallback::parse(&cb.to_pairs()).expect("again"), cb);
    }

    #[test]
    fn status_callback_errors_name_the_parameter() {
        let form = pairs(&[("CallSid", SID), ("AccountSid", ACCOUNT), ("From", "+1")]);
        assert_eq!(
            StatusCallback::parse(&form),
            Err(WebhookError::Missing("To"))
        );
        let form = pairs(&[
            ("CallSid", SID),
            ("AccountSid", ACCOUNT),
            ("From", "+1"),
            ("To", "+2"),
        ]);
        assert_eq!(
            StatusCallback::parse(&form),
            Err(WebhookError::Missing("CallStatus"))
        );
        let mut form = pairs(&[
            ("CallSid", SID),
            ("AccountSid", ACCOUNT),
            ("From", "+1"),
            ("To", "+2"),
            ("CallStatus", "ringing"),
            ("SequenceNumber", "-1"),
        ]);
        let err = StatusCallback::parse(&form).expect_err("bad seq");
        assert!(err.to_string().contains("SequenceNumber"), "{err}");
        form.pop();
        form.push(("CallStatus".into(), "exploded".into()));
        // The first CallStatus wins; the extra one is ignored.
        assert_eq!(
            StatusCallback::parse(&form).expect("ok").call_status,
            CallStatus::Ringing
        );
        form[4].1 = "exploded".into();
        let err = StatusCallback::parse(&form).expect_err("bad status");
        assert!(matches!(
            err,
            WebhookError::Invalid {
                name: "CallStatus",
                ..
            }
        ));
    }

    #[test]
    fn every_status_and_verdict_round_trips() {
        for s in CallStatus::ALL {
            assert_eq!(s.as_str().parse::<CallStatus>(), Ok(*s));
            let json = serde_json::to_string(s).expect("ser");
            assert_eq!(json, format!("\"{s}\""));
        }
        for a in AnsweredBy::ALL {
            assert_eq!(a.as_str().parse::<AnsweredBy>(), Ok(*a));
        }
        assert!(AnsweredBy::MachineEndBeep.is_machine());
        assert!(!AnsweredBy::Fax.is_machine());
        assert!(!CallStatus::InProgress.is_terminal());
        assert_eq!(CallStatus::NoAnswer.as_str(), "no-answer");
    }

    #[test]
    fn amd_callback() {
        let form = pairs(&[
            ("CallSid", SID),
            ("AccountSid", ACCOUNT),
            ("AnsweredBy", "machine_end_beep"),
            ("MachineDetectionDuration", "4210"),
        ]);
        let cb = AmdCallback::parse(&form).expect("parse");
        assert_eq!(cb.answered_by, AnsweredBy::MachineEndBeep);
        assert_eq!(cb.machine_detection_duration_ms, Some(4210));
        assert_eq!(AmdCallback::parse(&cb.to_pairs()).expect("again"), cb);
        let form = pairs(&[("CallSid", SID), ("AccountSid", ACCOUNT)]);
        assert_eq!(
            AmdCallback::parse(&form),
            Err(WebhookError::Missing("AnsweredBy"))
        );
    }

    #[test]
    fn recording_callback() {
        let form = pairs(&[
            ("AccountSid", ACCOUNT),
            ("CallSid", SID),
            ("RecordingSid", "RE0123456789abcdef0123456789abcdef"),
            (
                "RecordingUrl",
                "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE",
            ),
            ("RecordingStatus", "completed"),
            ("RecordingDuration", "42"),
            ("RecordingChannels", "2"),
            ("RecordingStartTime", "Wed, 01 May 2024 10:00:00 +0000"),
            ("RecordingSource", "OutboundAPI"),
            ("RecordingTrack", "both"),
            ("ErrorCode", "0"),
        ]);
        let cb = RecordingCallback::parse(&form).expect("parse");
        assert_eq!(cb.recording_status, RecordingStatus::Completed);
        assert_eq!(cb.recording_duration, Some(42));
        assert_eq!(cb.recording_channels, Some(2));
        assert_eq!(cb.error_code, Some(0));
        assert_eq!(RecordingCallback::parse(&cb.to_pairs()).expect("again"), cb);

        let form = pairs(&[
            ("AccountSid", ACCOUNT),
            ("CallSid", SID),
            ("RecordingSid", "RE1"),
            ("RecordingStatus", "in-progress"),
            ("RecordingDuration", "-1"),
            ("RecordingUrl", ""),
        ]);
        let cb = RecordingCallback::parse(&form).expect("parse");
        assert_eq!(cb.recording_duration, None);
        assert_eq!(cb.recording_url, None);
        let form = pairs(&[("AccountSid", ACCOUNT), ("CallSid", SID)]);
        assert_eq!(
            RecordingCallback::parse(&form),
            Err(WebhookError::Missing("RecordingSid"))
        );
    }
}
