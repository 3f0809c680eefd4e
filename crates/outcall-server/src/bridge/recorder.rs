//! Writes what the bridge learns (the conversation id, each utterance, call events
//! such as DTMF or a failed conversation) to the store, off the audio path. The bridge hands notes over a bounded channel with `try_send`:
//! if the store falls behind and the channel fills, a note is dropped and counted,
//! never waited for. The post-call webhook later brings the authoritative transcript.

use outcall_domain::call::CallPatch;
use outcall_domain::event::CallEvent;
use outcall_domain::transcript::{Role, Transcript, TranscriptPatch, TranscriptStatus, Turn};
use serde_json::{Map, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::AppState;

/// Notes waiting for the store, per call. At one utterance every few seconds, 64 is
/// minutes of slack.
const CAPACITY: usize = 64;

/// A note is a few words, its payload boxed: the channel allocates its slots 32 at
/// a time, per call, each as large as the largest note.
#[derive(Debug)]
pub enum Note {
    ConversationStarted(String),
    Turn(Box<Turn>),
    /// A call event (`dtmf`, `conversation-failed`), published once stored.
    Event(&'static str, Box<Map<String, serde_json::Value>>),
}

#[derive(Debug)]
pub struct Recorder {
    tx: mpsc::Sender<Note>,
    dropped: u64,
}

impl Recorder {
    /// Starts the writer task for `call_sid`; it ends when the recorder is dropped.
    pub fn start(state: AppState, call_sid: String) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(CAPACITY);
        let task = tokio::spawn(write_notes(state, call_sid, rx));
        (Self { tx, dropped: 0 }, task)
    }

    /// Hands a note over without waiting.
    pub fn note(&mut self, note: Note) {
        if self.tx.try_send(note).is_err() {
            self.dropped += 1;
            tracing::warn!(
                dropped = self.dropped,
                "store is behind; a live transcript note was dropped"
            );
        }
    }
}

/// The writer waits on the channel for most of a call: the store calls are boxed so
/// that waiting costs only this loop's own state, not the largest store future.
async fn write_notes(state: AppState, call_sid: String, mut rx: mpsc::Receiver<Note>) {
    let mut turns: Vec<Turn> = Vec::new();
    while let Some(first) = rx.recv().await {
        // Turns that queued up while the store was busy are saved in one write.
        let mut new_turns = false;
        let mut next = Some(first);
        while let Some(note) = next {
            let result = match note {
                Note::ConversationStarted(id) => {
                    Box::pin(conversation_started(&state, &call_sid, id)).await
                }
                Note::Turn(turn) => {
                    turns.push(*turn);
                    new_turns = true;
                    Ok(())
                }
                Note::Event(kind, data) => Box::pin(event(&state, &call_sid, kind, *data)).await,
            };
            if let Err(e) = result {
                tracing::warn!(%call_sid, error = %e, "could not store a live call note");
            }
            next = rx.try_recv().ok();
        }
        if new_turns
            && let Err(e) = Box::pin(save_turns(
                &state,
                &call_sid,
                &turns,
                TranscriptStatus::Live,
            ))
            .await
        {
            tracing::warn!(%call_sid, error = %e, "could not store the live transcript");
        }
    }
    if !turns.is_empty()
        && let Err(e) = Box::pin(save_turns(
            &state,
            &call_sid,
            &turns,
            TranscriptStatus::Done,
        ))
        .await
    {
        tracing::warn!(%call_sid, error = %e, "could not close the live transcript");
    }
}

async fn event(
    state: &AppState,
    call_sid: &str,
    kind: &'static str,
    data: Map<String, serde_json::Value>,
) -> outcall_store::StoreResult<()> {
    let event = state
        .store
        .insert_event(CallEvent::new(call_sid, kind, data))
        .await?;
    // Published after the write: cached call details show the event now.
    state.bus.call("event_added", call_sid, &event);
    Ok(())
}

async fn conversation_started(
    state: &AppState,
    call_sid: &str,
    id: String,
) -> outcall_store::StoreResult<()> {
    let patch = CallPatch {
        conversation_id: Some(id.clone()),
        ..Default::default()
    };
    if let Some((call, true)) = state.store.update_call(call_sid, &patch).await? {
        let mut data = Map::new();
        data.insert("conversationId".into(), json!(id));
        state
            .store
            .insert_event(CallEvent::new(call_sid, "conversation-started", data))
            .await?;
        state.bus.call("conversation_started", call_sid, &call);
    }
    Ok(())
}

/// Stores the turns so far, unless the post-call webhook already stored the final
/// transcript (it is authoritative; the live one only fills the wait for it).
async fn save_turns(
    state: &AppState,
    call_sid: &str,
    turns: &[Turn],
    status: TranscriptStatus,
) -> outcall_store::StoreResult<()> {
    let patch = TranscriptPatch {
        transcript: Some(turns.to_vec()),
        status: Some(status.clone()),
        // The check below is only a shortcut: the store applies this one atomically.
        unless_finished: true,
        ..Default::default()
    };
    match state.store.get_transcript(call_sid).await? {
        Some(t) if t.is_finished() => {
            return Ok(());
        }
        Some(_) => {
            state.store.update_transcript(call_sid, &patch).await?;
        }
        None => {
            let mut fresh = Transcript::new(call_sid);
            patch.apply(&mut fresh);
            match state.store.insert_transcript(fresh).await {
                Ok(_) => {}
                Err(e) if e.is_conflict() => {
                    state.store.update_transcript(call_sid, &patch).await?;
                }
                Err(e) => return Err(e),
            }
        }
    }
    // Published after the write: cached call details show the turns now.
    state.bus.call(
        "transcript_saved",
        call_sid,
        json!({"callSid": call_sid, "turns": turns.len(), "status": status}),
    );
    Ok(())
}

/// A turn at `secs` into the call.
pub fn turn(role: Role, message: String, secs: f64) -> Turn {
    Turn::new(role, message, (secs * 10.0).round() / 10.0)
}
