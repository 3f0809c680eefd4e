//! What the simulator remembers of each conversation, for tests to inspect
//! and for the post-call webhook: the client's opening data, the audio heard,
//! the transcript as spoken, and how it ended.

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use outcall_elevenlabs::webhook::{Role, TranscriptTurn};
use serde_json::Value;

/// Who or what ended a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndedBy {
    /// The agent spoke its last line and closed with 1000.
    Agent,
    /// The client closed the socket (or it dropped).
    Client,
    /// A ping went unanswered for `pong_timeout`; the agent closed with 1008.
    NoPong,
}

impl EndedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Client => "client",
            Self::NoPong => "no pong",
        }
    }

    /// `metadata.termination_reason` as ElevenLabs words it.
    pub(super) fn termination_reason(self, close_code: Option<u16>) -> String {
        match self {
            Self::Agent => "end_call tool was called.".into(),
            Self::Client => match close_code {
                Some(code) => format!("Client disconnected: {code}"),
                None => "Client disconnected".into(),
            },
            Self::NoPong => "Ping timeout".into(),
        }
    }
}

/// A snapshot of one conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConversation {
    pub conversation_id: String,
    pub agent_id: String,
    /// The `conversation_initiation_client_data` message as received, without
    /// its `type` (what the webhook echoes back).
    pub client_data: Value,
    pub started_at: DateTime<Utc>,
    /// When the client data arrived, on the process's monotonic clock (benchmarks
    /// time the pickup from Twilio's `start` to here).
    pub initiated_at: std::time::Instant,
    /// Valid `user_audio_chunk` frames received.
    pub user_audio_frames: u64,
    /// `user_audio_chunk` frames that were not base64 (ignored).
    pub invalid_audio_frames: u64,
    /// Every line spoken so far, in order; `time_in_call_secs` counts from
    /// the metadata event.
    pub transcript: Vec<TranscriptTurn>,
    /// `None` while the conversation goes on.
    pub ended_by: Option<EndedBy>,
    /// The close code sent (agent, no pong) or received (client).
    pub close_code: Option<u16>,
    /// How long it lasted, once ended.
    pub duration_secs: Option<f64>,
    /// Whether the post-call webhook was accepted (2xx); `None` before it was
    /// sent or when no webhook URL is set.
    pub webhook_delivered: Option<bool>,
}

/// The live record of one conversation, shared by its session and the registry.
#[derive(Debug, Clone)]
pub(super) struct ConversationHandle(Arc<Mutex<SimConversation>>);

impl ConversationHandle {
    pub(super) fn lock(&self) -> MutexGuard<'_, SimConversation> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn snapshot(&self) -> SimConversation {
        self.lock().clone()
    }

    pub(super) fn say(&self, role: Role, message: &str, time_in_call_secs: f64) -> usize {
        let mut c = self.lock();
        c.transcript.push(TranscriptTurn {
            role,
            message: Some(message.to_owned()),
            time_in_call_secs: Some((time_in_call_secs * 1000.0).round() / 1000.0),
            tool_calls: Vec::new(),
            tool_results: Vec::new(),
            interrupted: false,
        });
        c.transcript.len() - 1
    }
}

/// Every conversation started on the simulator, oldest first.
#[derive(Debug, Default)]
pub(super) struct Registry(Mutex<Vec<ConversationHandle>>);

impl Registry {
    pub(super) fn open(
        &self,
        conversation_id: String,
        agent_id: String,
        client_data: Value,
    ) -> ConversationHandle {
        let handle = ConversationHandle(Arc::new(Mutex::new(SimConversation {
            conversation_id,
            agent_id,
            client_data,
            started_at: Utc::now(),
            initiated_at: std::time::Instant::now(),
            user_audio_frames: 0,
            invalid_audio_frames: 0,
            transcript: Vec::new(),
            ended_by: None,
            close_code: None,
            duration_secs: None,
            webhook_delivered: None,
        })));
        self.list().push(handle.clone());
        handle
    }

    pub(super) fn snapshots(&self) -> Vec<SimConversation> {
        self.list()
            .iter()
            .map(ConversationHandle::snapshot)
            .collect()
    }

    fn list(&self) -> MutexGuard<'_, Vec<ConversationHandle>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
