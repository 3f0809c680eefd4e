//! Transcript API (seed): get, create, update (partial).

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use outcall_domain::transcript::{
    Role, Sentiment, Transcript, TranscriptPatch, TranscriptStatus, Turn,
};
use outcall_domain::validate::{MAX_TEXT, Validator};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::validate::{optional_sid, sid};
use crate::AppState;
use crate::envelope::{created, ok};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};

/// Most turns one transcript may hold.
const MAX_TURNS: usize = 5_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/db/transcripts", post(create))
        .route("/db/transcripts/{callSid}", get(get_one).put(update))
}

async fn get_one(State(state): State<AppState>, ApiPath(call_sid): ApiPath) -> ApiResult<Response> {
    sid("callSid", &call_sid)?;
    let t = state
        .store
        .get_transcript(&call_sid)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no transcript for callSid {call_sid}")))?;
    state.bus.call("transcript_saved", &t.call_sid, &t);
    ok(t)
}

/// A turn as the API takes it: outcall's three fields, the message required. Stored
/// turns are read more leniently (`outcall_domain::stored`): other systems wrote them.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TurnInput {
    role: Role,
    message: String,
    #[serde(default)]
    time_in_call_secs: f64,
}

fn turns(input: Option<Vec<TurnInput>>) -> Option<Vec<Turn>> {
    input.map(|turns| {
        turns
            .into_iter()
            .map(|t| Turn::new(t.role, t.message, t.time_in_call_secs))
            .collect()
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateTranscript {
    call_sid: String,
    #[serde(default)]
    conversation_id: Option<String>,
    #[serde(default)]
    transcript: Option<Vec<TurnInput>>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    sentiment: Option<Sentiment>,
    #[serde(default)]
    analysis: Option<Map<String, Value>>,
    #[serde(default)]
    status: Option<TranscriptStatus>,
}

fn check(v: &mut Validator, patch: &TranscriptPatch) {
    optional_sid(v, "conversationId", patch.conversation_id.as_deref());
    v.max_len("summary", patch.summary.as_deref(), MAX_TEXT);
    if let Some(turns) = &patch.transcript {
        if turns.len() > MAX_TURNS {
            v.error("transcript", format!("must have at most {MAX_TURNS} turns"));
        }
        for (i, t) in turns.iter().enumerate() {
            v.max_len(
                &format!("transcript[{i}].message"),
                Some(&t.message),
                MAX_TEXT,
            );
            // Stored documents may hold other roles and fields; input holds outcall's.
            if !t.role.is_known() {
                v.error(
                    format!("transcript[{i}].role"),
                    "must be one of agent, user",
                );
            }
            if !(t.time_in_call_secs.is_finite() && t.time_in_call_secs >= 0.0) {
                v.error(
                    format!("transcript[{i}].timeInCallSecs"),
                    "must be a number of seconds from 0",
                );
            }
        }
    }
    if patch.status.as_ref().is_some_and(|s| !s.is_known()) {
        v.error("status", "must be one of live, done");
    }
    if let Some(s) = &patch.sentiment
        && !(-1.0..=1.0).contains(&s.score)
    {
        v.error("sentiment.score", "must be between -1 and 1");
    }
}

/// The body of `PUT`: only the fields given change.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateTranscript {
    #[serde(default)]
    conversation_id: Option<String>,
    #[serde(default)]
    transcript: Option<Vec<TurnInput>>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    sentiment: Option<Sentiment>,
    #[serde(default)]
    analysis: Option<Map<String, Value>>,
    #[serde(default)]
    status: Option<TranscriptStatus>,
}

impl From<UpdateTranscript> for TranscriptPatch {
    fn from(b: UpdateTranscript) -> Self {
        TranscriptPatch {
            conversation_id: b.conversation_id,
            transcript: turns(b.transcript),
            summary: b.summary,
            sentiment: b.sentiment,
            analysis: b.analysis,
            status: b.status,
            unless_finished: false,
        }
    }
}

impl CreateTranscript {
    fn split(self) -> (String, TranscriptPatch) {
        let patch = TranscriptPatch {
            conversation_id: self.conversation_id,
            transcript: turns(self.transcript),
            summary: self.summary,
            sentiment: self.sentiment,
            analysis: self.analysis,
            status: self.status,
            unless_finished: false,
        };
        (self.call_sid, patch)
    }
}

async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateTranscript>,
) -> ApiResult<Response> {
    let (call_sid, patch) = body.split();
    let mut v = Validator::new();
    optional_sid(&mut v, "callSid", Some(&call_sid));
    check(&mut v, &patch);
    v.finish()?;
    if state.store.get_call(&call_sid).await?.is_none() {
        return Err(ApiError::field(
            "callSid",
            format!("no call with callSid {call_sid}"),
        ));
    }
    let mut t = Transcript::new(call_sid);
    patch.apply(&mut t);
    let t = state.store.insert_transcript(t).await?;
    state.bus.call("transcript_saved", &t.call_sid, &t);
    created(t)
}

async fn update(
    State(state): State<AppState>,
    ApiPath(call_sid): ApiPath,
    ApiJson(body): ApiJson<UpdateTranscript>,
) -> ApiResult<Response> {
    let patch = TranscriptPatch::from(body);
    sid("callSid", &call_sid)?;
    if patch.is_empty() {
        return Err(ApiError::validation(
            "nothing to update: give at least one of conversationId, transcript, summary, sentiment, analysis, status",
        ));
    }
    let mut v = Validator::new();
    check(&mut v, &patch);
    v.finish()?;
    let t = state
        .store
        .update_transcript(&call_sid, &patch)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no transcript for callSid {call_sid}")))?;
    ok(t)
}
