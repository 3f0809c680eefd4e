//! The agent side's wire: opening the ConvAI WebSocket, the call's client data, and
//! writes bounded in time.

use std::time::Duration;

use futures::{Sink, SinkExt};
use outcall_domain::call::Call;
use outcall_elevenlabs::convai::{ConversationInitiationClientData, DynamicValue};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{MAX_MESSAGE, READ_BUFFER};

pub type AgentSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connects to a signed conversation URL (TCP, TLS, upgrade). Unbounded: callers
/// bound it with the connect timeout.
pub async fn connect(url: &str) -> Result<AgentSocket, String> {
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(MAX_MESSAGE * 4));
    let (socket, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .map_err(|e| format!("cannot connect to the agent: {e}"))?;
    Ok(socket)
}

/// Why a bounded write failed.
#[derive(Debug)]
pub enum SendError {
    /// The peer did not take the message within the send timeout.
    TimedOut,
    Closed(String),
}

/// Sends one message, giving up after `limit`. A write that completes at once (the
/// usual case: the socket buffer has room) arms no timer.
pub async fn send_within<S, M>(sink: &mut S, message: M, limit: Duration) -> Result<(), SendError>
where
    S: Sink<M> + Unpin,
    S::Error: std::fmt::Display,
{
    let mut send = std::pin::pin!(sink.send(message));
    let first = std::future::poll_fn(|cx| {
        std::task::Poll::Ready(std::future::Future::poll(send.as_mut(), cx))
    })
    .await;
    let result = match first {
        std::task::Poll::Ready(r) => r,
        std::task::Poll::Pending => match tokio::time::timeout(limit, send).await {
            Ok(r) => r,
            Err(_) => return Err(SendError::TimedOut),
        },
    };
    result.map_err(|e| SendError::Closed(e.to_string()))
}

/// The call's client data: our call sid (it comes back in the post-call webhook), the
/// callee's number and name, the call's own variables, prompt and first message.
pub fn client_data(call: &Call) -> ConversationInitiationClientData {
    let mut data = ConversationInitiationClientData::new()
        .with_variable("call_sid", call.call_sid.clone())
        .with_variable("phone_number", call.to.clone());
    if let Some(name) = &call.contact_name {
        data = data.with_variable("name", name.clone());
    }
    // The call's own variables above always win: a stored one can never replace them.
    let own = call.dynamic_variables.iter().flatten();
    for (k, v) in own.filter(|(k, _)| !outcall_domain::contact::is_reserved_variable(k)) {
        match v {
            Value::String(s) => data = data.with_variable(k.clone(), s.clone()),
            Value::Bool(b) => data = data.with_variable(k.clone(), *b),
            Value::Number(n) => {
                if let Some(v) = n.as_f64().and_then(DynamicValue::float) {
                    data = data.with_variable(k.clone(), v);
                }
            }
            _ => {}
        }
    }
    if let Some(p) = &call.prompt {
        data = data.with_prompt(p.clone());
    }
    if let Some(m) = &call.first_message {
        data = data.with_first_message(m.clone());
    }
    data
}

/// The client data when the call record could not be read in time: the stream is
/// authentic, so the conversation starts with what the token and Twilio told us.
pub fn client_data_without_record(call_sid: &str) -> ConversationInitiationClientData {
    ConversationInitiationClientData::new().with_variable("call_sid", call_sid.to_string())
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::*;

    /// A peer that never takes a message.
    struct Stalled;

    impl Sink<&'static str> for Stalled {
        type Error = std::io::Error;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Pending
        }
        fn start_send(self: Pin<&mut Self>, _: &'static str) -> Result<(), Self::Error> {
            Ok(())
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Pending
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_peer_times_out_after_the_limit_and_a_ready_one_does_not() {
        let started = tokio::time::Instant::now();
        let r = send_within(&mut Stalled, "frame", Duration::from_secs(2)).await;
        assert!(matches!(r, Err(SendError::TimedOut)), "{r:?}");
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        let mut ready = futures::sink::drain::<&'static str>();
        let r = send_within(&mut ready, "frame", Duration::from_secs(2)).await;
        assert!(r.is_ok());
        assert_eq!(started.elapsed(), Duration::from_secs(2), "no wait");
    }
}
