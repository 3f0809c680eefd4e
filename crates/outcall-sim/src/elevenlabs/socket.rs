//! The socket's edges: the opening message a conversation must start with,
//! and closing with a code while giving the client a moment to answer.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use outcall_elevenlabs::convai::{ClientMessage, ConversationInitiationClientData};
use serde_json::Value;

/// How long to wait for the peer's close frame after sending ours.
pub(super) const CLOSE_WAIT: Duration = Duration::from_secs(1);
pub(super) const NORMAL: u16 = 1000;
pub(super) const POLICY: u16 = 1008;

/// How a socket's wait for its first message ended without a conversation.
pub(super) enum NoInitiation {
    /// The client closed (or dropped) first.
    ClientClosed,
    /// The agent closed: `init_timeout` passed, or the first message was wrong.
    AgentClosed,
}

/// Reads the first message within `init_timeout`; closes with 1008 unless it is
/// the client data. Returns the parsed data and the message as JSON without its `type`.
pub(super) async fn receive_initiation(
    socket: &mut WebSocket,
    init_timeout: Duration,
) -> Result<(ConversationInitiationClientData, Value), NoInitiation> {
    let first = match tokio::time::timeout(init_timeout, next_data_message(socket)).await {
        Ok(Some(message)) => message,
        Ok(None) => return Err(NoInitiation::ClientClosed),
        Err(_) => {
            close(socket, POLICY, "no conversation_initiation_client_data").await;
            return Err(NoInitiation::AgentClosed);
        }
    };
    if let Message::Text(text) = &first
        && let Ok(ClientMessage::ConversationInitiationClientData(data)) =
            ClientMessage::parse(text.as_str())
    {
        let mut raw: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut raw {
            map.remove("type");
        }
        return Ok((data, raw));
    }
    tracing::warn!("first ConvAI message is not conversation_initiation_client_data");
    close(
        socket,
        POLICY,
        "first message must be conversation_initiation_client_data",
    )
    .await;
    Err(NoInitiation::AgentClosed)
}

/// The next text or binary message; `None` when the client is gone.
async fn next_data_message(socket: &mut WebSocket) -> Option<Message> {
    loop {
        match socket.recv().await? {
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(message) => return Some(message),
        }
    }
}

/// Sends a close frame and waits (briefly) for the client's.
pub(super) async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    if socket.send(Message::Close(Some(frame))).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(Ok(_)) = socket.recv().await {}
    })
    .await;
}
