//! Setting a call's stream up: read Twilio's `start`, check its token, and get the
//! agent conversation ready, using what was prepared while the phone rang.
//!
//! The token alone decides whether the stream is ours: a bad token is refused (1008);
//! an authentic one is never refused because the call record is late or the store
//! hiccups. The record (for the client data) comes from the call's warmer when this
//! process placed the call; otherwise it is awaited briefly, in parallel with opening
//! the agent socket, and the conversation starts without it if it does not come.

use std::time::Duration;

use axum::extract::ws::{Message as TwilioFrame, WebSocket};
use outcall_domain::call::Call;
use outcall_elevenlabs::convai::ClientMessage;
use outcall_twilio::media::{InboundMessage, StreamStart};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as AgentFrame;

use super::link::{self, AgentSocket, SendError};
use super::prewarm::Ready;
use super::token::{self, Claims};
use crate::AppState;

/// How long Twilio has to send `start` after connecting.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stream waits for a call record not written yet (Twilio can start the
/// stream before the insert that follows its own 201 has landed).
const RECORD_WAIT: Duration = Duration::from_secs(2);
const RECORD_POLL: Duration = Duration::from_millis(25);

/// An authentic stream's start.
#[derive(Debug)]
pub struct Accepted {
    pub start: StreamStart,
    pub claims: Claims,
}

/// Reads `connected` then `start` and checks the token. `None` refuses the stream.
pub async fn handshake(state: &AppState, twilio: &mut WebSocket) -> Option<Accepted> {
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
    let Some(claims) = token::verify(&telephony.auth_token, &start.call_sid, token) else {
        tracing::warn!(call_sid = %start.call_sid, "media stream with a missing or forged token refused");
        return None;
    };
    Some(Accepted { start, claims })
}

/// Gets the conversation ready: the socket open and the client data sent, within the
/// agent connect timeout.
pub async fn ready_agent(
    state: &AppState,
    call_sid: &str,
    claims: &Claims,
) -> Result<AgentSocket, String> {
    let settings = &state.bridge.settings;
    let limit = settings.connect_timeout();
    let deadline = Instant::now() + limit;
    let prepared = match state.bridge.warmers.take(call_sid) {
        Some(rx) => tokio::time::timeout_at(deadline, rx)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default(),
        None => Ready::default(),
    };
    let Ready { call, url, socket } = prepared;
    let record = async {
        match call {
            Some(call) => Some(call),
            None => await_record(state, call_sid, deadline.min(Instant::now() + RECORD_WAIT)).await,
        }
    };
    let open = async {
        match socket {
            Some(socket) => Ok(socket),
            None => open_socket(state, claims, url).await,
        }
    };
    let (call, opened) = tokio::join!(record, tokio::time::timeout_at(deadline, open));
    let mut socket =
        opened.map_err(|_| format!("agent connect timed out after {} ms", limit.as_millis()))??;
    let data = match &call {
        Some(call) => link::client_data(call),
        None => {
            tracing::warn!(%call_sid, "call record not readable in time; starting the conversation with the token's data");
            link::client_data_without_record(call_sid)
        }
    };
    let hello = ClientMessage::ConversationInitiationClientData(data).to_json();
    match link::send_within(
        &mut socket,
        AgentFrame::text(hello),
        settings.send_timeout(),
    )
    .await
    {
        Ok(()) => Ok(socket),
        Err(SendError::TimedOut) => Err(format!(
            "the agent did not take the client data within {} ms",
            settings.send_timeout().as_millis()
        )),
        Err(SendError::Closed(e)) => Err(format!("cannot start the conversation: {e}")),
    }
}

/// Fetches a signed URL unless one was prepared, and connects.
async fn open_socket(
    state: &AppState,
    claims: &Claims,
    url: Option<String>,
) -> Result<AgentSocket, String> {
    let url = match url {
        Some(url) => url,
        None => {
            let agent = state.agent.as_ref().ok_or("ElevenLabs is not configured")?;
            let client = agent
                .client
                .as_ref()
                .ok_or("ELEVENLABS_API_KEY is not set")?;
            let agent_id = claims
                .agent_id
                .as_deref()
                .or(agent.agent_id.as_deref())
                .ok_or("no agent id for this call")?;
            client
                .signed_url(agent_id)
                .await
                .map_err(|e| e.to_string())?
        }
    };
    link::connect(&url).await
}

/// Reads the call record, retrying a missing record or a store error until `until`.
pub async fn await_record(state: &AppState, call_sid: &str, until: Instant) -> Option<Call> {
    loop {
        match state.store.get_call(call_sid).await {
            Ok(Some(call)) => return Some(call),
            Ok(None) => {}
            Err(e) => tracing::debug!(%call_sid, error = %e, "call record not readable yet"),
        }
        if Instant::now() + RECORD_POLL > until {
            return None;
        }
        tokio::time::sleep(RECORD_POLL).await;
    }
}

/// The agent a call talks to, for its TwiML token: from its warmer when this process
/// placed it, else from its record (awaited briefly); `None` is the default agent.
pub async fn agent_of(state: &AppState, call_sid: &str) -> Option<String> {
    if let Some(agent) = state.bridge.warmers.agent_of(call_sid) {
        return agent;
    }
    await_record(state, call_sid, Instant::now() + RECORD_WAIT)
        .await
        .and_then(|call| call.agent_id)
}
