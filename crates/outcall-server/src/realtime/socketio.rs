//! Socket.IO (socket.io-client v4) at `/socket.io/`: the handshake's `auth: {token}`
//! must be a configured API key, else the client gets `connect_error`. Clients join
//! rooms with the `subscribe_to_*` events; one forwarder task emits the hub's events
//! to those rooms. `dashboard_update` goes to every connected client.

use std::fmt;
use std::sync::Arc;

use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use tokio::sync::broadcast::error::RecvError;

use super::hub::{Hub, dashboard_update};
use super::wire::{Kind, Outgoing};
use crate::AppState;

/// A subscription: the room it joins, for all of a kind or one call or campaign.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// Everything of a topic: the room's name.
    All(&'static str),
    /// One call or campaign: the room prefix and the argument's name.
    One(&'static str, &'static str),
}

/// Each subscription event, its `unsubscribe_from_*` twin, and its room.
const SUBSCRIPTIONS: [(&str, &str, Target); 6] = [
    (
        "subscribe_to_calls",
        "unsubscribe_from_calls",
        Target::All("calls"),
    ),
    (
        "subscribe_to_call",
        "unsubscribe_from_call",
        Target::One("call:", "callSid"),
    ),
    (
        "subscribe_to_transcripts",
        "unsubscribe_from_transcripts",
        Target::All("transcripts"),
    ),
    (
        "subscribe_to_call_transcript",
        "unsubscribe_from_call_transcript",
        Target::One("transcript:", "callSid"),
    ),
    (
        "subscribe_to_campaigns",
        "unsubscribe_from_campaigns",
        Target::All("campaigns"),
    ),
    (
        "subscribe_to_campaign",
        "unsubscribe_from_campaign",
        Target::One("campaign:", "campaignId"),
    ),
];

/// Why a connection was refused; the client sees it as `connect_error`'s message.
#[derive(Debug)]
struct Refused(&'static str);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The Socket.IO layer for the app, with its forwarder task started.
pub fn layer(state: &AppState) -> SocketIoLayer {
    let (layer, io) = SocketIo::builder().build_layer();
    let keys = state.api_keys.clone();
    let authenticate = move |TryData(auth): TryData<Value>| {
        let keys = keys.clone();
        async move { check_token(&keys, auth.ok().as_ref()) }
    };
    let hub = state.realtime.hub.clone();
    let on_connect = move |socket: SocketRef| {
        let hub = hub.clone();
        async move { register(&socket, &hub) }
    };
    io.ns("/", on_connect.with(authenticate));
    tokio::spawn(forward(io, state.clone()));
    layer
}

fn check_token(keys: &[String], auth: Option<&Value>) -> Result<(), Refused> {
    match auth.and_then(|a| a["token"].as_str()) {
        None => Err(Refused(
            "unauthorized: connect with auth: {token: \"<API key>\"}",
        )),
        Some(token) if crate::auth::key_matches(keys, token) => Ok(()),
        Some(_) => Err(Refused("unauthorized: wrong API key")),
    }
}

fn register(socket: &SocketRef, hub: &Hub) {
    for (subscribe, unsubscribe, target) in SUBSCRIPTIONS {
        let hub = hub.clone();
        socket.on(
            subscribe,
            move |s: SocketRef, TryData(arg): TryData<Value>, ack: AckSender| {
                let hub = hub.clone();
                async move {
                    let answer = match room(target, arg.ok()) {
                        Ok(room) => {
                            s.join(room.clone());
                            if room == "calls" {
                                let active = hub.active_calls();
                                let _ = s.emit(Kind::ActiveCalls.name(), &active.payload);
                            }
                            json!({"ok": true, "room": room})
                        }
                        Err(error) => json!({"ok": false, "error": error}),
                    };
                    let _ = ack.send(&answer);
                }
            },
        );
        socket.on(
            unsubscribe,
            move |s: SocketRef, TryData(arg): TryData<Value>, ack: AckSender| async move {
                let answer = match room(target, arg.ok()) {
                    Ok(room) => {
                        s.leave(room.clone());
                        json!({"ok": true, "room": room})
                    }
                    Err(error) => json!({"ok": false, "error": error}),
                };
                let _ = ack.send(&answer);
            },
        );
    }
}

/// The room a subscription names; the id may come as a string or `{callSid}` /
/// `{campaignId}`.
fn room(target: Target, arg: Option<Value>) -> Result<String, String> {
    match target {
        Target::All(room) => Ok(room.to_string()),
        Target::One(prefix, field) => {
            let id = match &arg {
                Some(Value::String(s)) => Some(s.as_str()),
                Some(Value::Object(o)) => o.get(field).and_then(Value::as_str),
                _ => None,
            };
            let valid = match field {
                "campaignId" => id.is_some_and(|s| s.parse::<outcall_domain::ObjectId>().is_ok()),
                _ => id.is_some_and(crate::routes::validate::is_sid),
            };
            match id {
                Some(id) if valid => Ok(format!("{prefix}{id}")),
                _ => Err(format!(
                    "{field} must be a valid {field} (a string or {{{field}}})"
                )),
            }
        }
    }
}

/// The rooms an event goes to; `None` for every client.
fn rooms(out: &Outgoing) -> Option<Vec<String>> {
    let with_id = |all: &str, prefix: &str, id: &Option<String>| {
        let mut rooms = vec![all.to_string()];
        rooms.extend(id.as_ref().map(|id| format!("{prefix}{id}")));
        rooms
    };
    match out.kind {
        Kind::CallUpdate => Some(with_id("calls", "call:", &out.call_sid)),
        Kind::TranscriptUpdate => Some(with_id("transcripts", "transcript:", &out.call_sid)),
        Kind::CampaignUpdate => Some(with_id("campaigns", "campaign:", &out.campaign_id)),
        Kind::ActiveCalls => Some(vec!["calls".to_string()]),
        Kind::DashboardUpdate => None,
    }
}

/// Emits every hub event to its rooms, in order, while the Socket.IO server lives.
async fn forward(io: SocketIo, state: AppState) {
    let hub = state.realtime.hub.clone();
    let mut rx = hub.subscribe();
    loop {
        let out: Arc<Outgoing> = match rx.recv().await {
            Ok(out) => out,
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "Socket.IO fell behind; resending active calls and the dashboard"
                );
                emit(&io, &hub.active_calls()).await;
                Arc::new(dashboard_update(&state).await)
            }
            Err(RecvError::Closed) => return,
        };
        emit(&io, &out).await;
    }
}

async fn emit(io: &SocketIo, out: &Outgoing) {
    let name = out.kind.name();
    let sent = match rooms(out) {
        Some(rooms) => io.to(rooms).emit(name, &out.payload).await,
        None => io.emit(name, &out.payload).await,
    };
    if let Err(e) = sent {
        tracing::debug!("Socket.IO emit of {name} failed: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscription_names_its_room_or_says_what_is_wrong() {
        let call = Target::One("call:", "callSid");
        assert_eq!(room(call, Some(json!("CA1"))), Ok("call:CA1".into()));
        assert_eq!(
            room(call, Some(json!({"callSid": "CA1"}))),
            Ok("call:CA1".into())
        );
        assert!(room(call, None).is_err());
        assert!(room(call, Some(json!("CA 1; drop"))).is_err());
        let campaign = Target::One("campaign:", "campaignId");
        assert!(room(campaign, Some(json!("not-an-id"))).is_err());
        assert_eq!(
            room(campaign, Some(json!("0123456789abcdef01234567"))),
            Ok("campaign:0123456789abcdef01234567".into())
        );
        assert_eq!(room(Target::All("calls"), None), Ok("calls".into()));
    }

    #[test]
    fn a_handshake_needs_a_configured_key() {
        let keys = vec!["k1".to_string()];
        assert!(check_token(&keys, Some(&json!({"token": "k1"}))).is_ok());
        assert!(check_token(&keys, Some(&json!({"token": "k2"}))).is_err());
        assert!(check_token(&keys, Some(&json!({}))).is_err());
        assert!(check_token(&keys, None).is_err());
    }
}
