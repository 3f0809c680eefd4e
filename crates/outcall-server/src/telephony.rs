//! The carrier side of outcall: the Twilio client and account settings, built from
//! configuration. Absent when Twilio is not configured: the API still serves stored
//! data, and calling routes answer 503 saying what to set.

use anyhow::bail;
use outcall_domain::phone::{PhoneNumber, Region};
use outcall_twilio::client::{MachineDetection, MachineDetectionMode};
use outcall_twilio::{RetryPolicy, TwilioClient, TwilioConfig};

use crate::config::{AmdMode, TwilioSettings, VoicemailAction};

#[derive(Debug)]
pub struct Telephony {
    pub client: TwilioClient,
    pub auth_token: String,
    /// Default caller id, E.164.
    pub from: String,
    pub record: bool,
    /// `TimeLimit` of every call, seconds.
    pub max_call_secs: u32,
    pub voicemail: VoicemailAction,
    /// What `leave-message` says.
    pub voicemail_message: Option<String>,
    /// AMD settings for every call; `None` when off. The async callback URL is added per call.
    pub amd: Option<MachineDetection>,
    pub retry: RetryPolicy,
}

impl Telephony {
    /// `Ok(None)` when no Twilio setting is given; an error when only some are.
    pub fn from_settings(s: &TwilioSettings, region: Region) -> anyhow::Result<Option<Self>> {
        let (sid, token, from) = (
            &s.twilio_account_sid,
            &s.twilio_auth_token,
            &s.twilio_from_number,
        );
        if sid.is_none() && token.is_none() && from.is_none() {
            return Ok(None);
        }
        let missing: Vec<&str> = [
            ("TWILIO_ACCOUNT_SID", sid.is_none()),
            ("TWILIO_AUTH_TOKEN", token.is_none()),
            ("TWILIO_FROM_NUMBER", from.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, absent)| absent.then_some(name))
        .collect();
        let (Some(sid), Some(token), Some(from)) = (sid, token, from) else {
            bail!(
                "Twilio is partly configured: also set {}",
                missing.join(", ")
            );
        };
        let from = PhoneNumber::parse(from, region)
            .map_err(|e| anyhow::anyhow!("TWILIO_FROM_NUMBER: not a phone number ({e})"))?;
        if s.voicemail_action == VoicemailAction::LeaveMessage
            && s.voicemail_message
                .as_deref()
                .is_none_or(|m| m.trim().is_empty())
        {
            bail!("VOICEMAIL_ACTION=leave-message needs VOICEMAIL_MESSAGE, the words to leave");
        }
        let mut config = TwilioConfig::new(&s.twilio_api_base, sid, token);
        config.request_timeout = std::time::Duration::from_secs(s.twilio_request_timeout_secs);
        let client =
            TwilioClient::new(config).map_err(|e| anyhow::anyhow!("TWILIO_API_BASE: {e}"))?;
        Ok(Some(Self {
            client,
            auth_token: token.clone(),
            from: from.to_string(),
            record: s.record_calls,
            max_call_secs: s.max_call_secs,
            voicemail: s.voicemail_action,
            voicemail_message: s.voicemail_message.clone().filter(|m| !m.trim().is_empty()),
            amd: machine_detection(s),
            retry: RetryPolicy::default(),
        }))
    }
}

fn machine_detection(s: &TwilioSettings) -> Option<MachineDetection> {
    let mode = match s.amd_mode {
        AmdMode::Off => return None,
        AmdMode::Enable => MachineDetectionMode::Enable,
        AmdMode::DetectMessageEnd => MachineDetectionMode::DetectMessageEnd,
    };
    let mut amd = MachineDetection::new(mode);
    amd.timeout_secs = s.amd_timeout_secs;
    amd.speech_threshold_ms = s.amd_speech_threshold_ms;
    amd.speech_end_threshold_ms = s.amd_speech_end_threshold_ms;
    amd.silence_timeout_ms = s.amd_silence_timeout_ms;
    Some(amd)
}
