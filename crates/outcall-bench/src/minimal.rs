//! The baseline: a minimal Twilio ↔ ElevenLabs relay built from the same crates as
//! outcall (axum, tokio-tungstenite, `outcall_twilio::media`, `outcall_elevenlabs`)
//! with no logic: no token, no store, no events, no timeouts, no shutdown. It answers
//! the TwiML webhook, ignores status callbacks, and per stream fetches a signed URL,
//! connects, sends the client data and relays frames both ways (answering pings).
//! outcall's cost per frame is reported relative to this one's on the same core.

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message as TwilioFrame, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::{SinkExt, StreamExt};
use outcall_elevenlabs::ElevenLabsClient;
use outcall_elevenlabs::convai::{
    ClientMessage, ConversationInitiationClientData, Pong, ServerMessage, user_audio_chunk_json,
};
use outcall_twilio::media::{InboundMessage, OutboundMessage};
use tokio_tungstenite::tungstenite::Message as AgentFrame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// The same small read buffer as outcall's bridge (protocols.md, "Build notes").
const READ_BUFFER: usize = 1024;

#[derive(Clone)]
struct Relay {
    public_ws: String,
    client: ElevenLabsClient,
    agent_id: String,
}

/// Serves the relay on `listener` forever.
pub async fn serve(
    listener: tokio::net::TcpListener,
    client: ElevenLabsClient,
    agent_id: String,
) -> anyhow::Result<()> {
    use axum::serve::ListenerExt;
    let addr = listener.local_addr()?;
    let relay = Relay {
        public_ws: format!("ws://{addr}/media-stream"),
        client,
        agent_id,
    };
    let app = Router::new()
        .route("/voice", post(voice))
        .route("/status", post(status))
        .route("/media-stream", get(upgrade))
        .with_state(relay);
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await?;
    Ok(())
}

async fn voice(State(relay): State<Relay>) -> Response {
    let twiml = outcall_twilio::twiml::ConnectStream::new(relay.public_ws.clone()).build();
    ([(axum::http::header::CONTENT_TYPE, "text/xml")], twiml).into_response()
}

async fn status() -> axum::http::StatusCode {
    axum::http::StatusCode::NO_CONTENT
}

async fn upgrade(State(relay): State<Relay>, ws: WebSocketUpgrade) -> Response {
    ws.read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| run(relay, socket))
}

async fn run(relay: Relay, mut twilio: WebSocket) {
    let start = loop {
        match twilio.recv().await {
            Some(Ok(TwilioFrame::Text(text))) => {
                if let Ok(Some(InboundMessage::Start { start, .. })) =
                    InboundMessage::parse(text.as_str())
                {
                    break start;
                }
            }
            Some(Ok(_)) => {}
            _ => return,
        }
    };
    let Ok(url) = relay.client.signed_url(&relay.agent_id).await else {
        return;
    };
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let Ok((mut agent, _)) =
        tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true).await
    else {
        return;
    };
    let hello = ClientMessage::ConversationInitiationClientData(
        ConversationInitiationClientData::new().with_variable("call_sid", start.call_sid.clone()),
    );
    if agent.send(AgentFrame::text(hello.to_json())).await.is_err() {
        return;
    }
    let stream_sid = start.stream_sid;
    loop {
        tokio::select! {
            frame = twilio.recv() => match frame {
                Some(Ok(TwilioFrame::Text(text))) => match InboundMessage::parse(text.as_str()) {
                    Ok(Some(InboundMessage::Media { media, .. })) => {
                        let chunk = user_audio_chunk_json(&media.payload);
                        if agent.send(AgentFrame::text(chunk)).await.is_err() {
                            break;
                        }
                    }
                    Ok(Some(InboundMessage::Stop { .. })) => break,
                    _ => {}
                },
                Some(Ok(_)) => {}
                _ => break,
            },
            frame = agent.next() => match frame {
                Some(Ok(AgentFrame::Text(text))) => match ServerMessage::parse(text.as_str()) {
                    Ok(ServerMessage::Audio(audio)) => {
                        let json = OutboundMessage::media(&stream_sid, audio.audio_base_64).to_json();
                        if twilio.send(TwilioFrame::Text(json.into())).await.is_err() {
                            break;
                        }
                    }
                    Ok(ServerMessage::Ping(ping)) => {
                        let pong = ClientMessage::Pong(Pong { event_id: ping.event_id }).to_json();
                        if agent.send(AgentFrame::text(pong)).await.is_err() {
                            break;
                        }
                    }
                    _ => {}
                },
                Some(Ok(_)) => {}
                _ => break,
            },
        }
    }
    let _ = agent.close(None).await;
}
