//! The conversational side of outcall: the ElevenLabs client and agent settings.
//! Absent when ElevenLabs is not configured.

use anyhow::bail;
use outcall_elevenlabs::ElevenLabsClient;

use crate::config::ElevenLabsSettings;

#[derive(Debug)]
pub struct Agent {
    pub client: Option<ElevenLabsClient>,
    pub agent_id: Option<String>,
    pub webhook_secret: Option<String>,
    /// Body limit of `POST /webhooks/elevenlabs` (`ELEVENLABS_WEBHOOK_MAX_BYTES`).
    pub webhook_max_bytes: usize,
}

/// 64 MiB: about an hour of a call's audio as base64 MP3.
pub const DEFAULT_WEBHOOK_MAX_BYTES: usize = 64 * 1024 * 1024;

impl Agent {
    /// `Ok(None)` when no ElevenLabs setting is given.
    pub fn from_settings(s: &ElevenLabsSettings) -> anyhow::Result<Option<Self>> {
        if s.elevenlabs_api_key.is_none()
            && s.elevenlabs_agent_id.is_none()
            && s.elevenlabs_webhook_secret.is_none()
        {
            return Ok(None);
        }
        if s.elevenlabs_api_key.is_some() != s.elevenlabs_agent_id.is_some() {
            bail!(
                "ElevenLabs is partly configured: set both ELEVENLABS_API_KEY and ELEVENLABS_AGENT_ID"
            );
        }
        let client = match &s.elevenlabs_api_key {
            Some(key) => Some(
                ElevenLabsClient::new(&s.elevenlabs_api_base, key)
                    .map_err(|e| anyhow::anyhow!("ELEVENLABS_API_BASE: {e}"))?,
            ),
            None => None,
        };
        Ok(Some(Self {
            client,
            agent_id: s.elevenlabs_agent_id.clone(),
            webhook_secret: s
                .elevenlabs_webhook_secret
                .clone()
                .filter(|x| !x.is_empty()),
            webhook_max_bytes: s.elevenlabs_webhook_max_bytes,
        }))
    }
}
