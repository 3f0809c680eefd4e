//! Checks of [`TranscriptStore`](crate::port::TranscriptStore): one transcript per call,
//! and partial updates that change only the fields given.

use std::time::Duration;

use chrono::TimeDelta;
use outcall_domain::time;
use outcall_domain::transcript::{
    Role, Sentiment, SentimentLabel, Transcript, TranscriptPatch, TranscriptStatus, Turn,
};
use serde_json::{Map, Value, json};

use super::{Check, DynStore};

pub(super) fn checks() -> Vec<Check> {
    vec![
        crate::check!(insert_then_get_returns_the_transcript_with_store_timestamps),
        crate::check!(second_transcript_for_a_call_conflicts),
        crate::check!(get_transcript_of_unknown_call_is_none),
        crate::check!(update_transcript_changes_only_the_given_fields),
        crate::check!(update_transcript_of_unknown_call_is_none),
        crate::check!(transcript_is_found_by_its_conversation),
        crate::check!(a_live_save_never_replaces_a_finished_transcript),
    ]
}

fn turn(role: Role, message: &str, at: f64) -> Turn {
    Turn::new(role, message, at)
}

fn map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => panic!("BUG: the check builds maps from JSON objects"),
    }
}

fn full_transcript(call_sid: &str) -> Transcript {
    let mut t = Transcript::new(call_sid);
    t.conversation_id = Some("conv_abc".into());
    t.transcript = vec![
        turn(Role::Agent, "Hello! Is this Ada?", 0.5),
        turn(Role::User, "Yes, speaking.", 2.25),
    ];
    t.summary = Some("Ada confirmed her appointment.".into());
    t.sentiment = Some(Sentiment {
        label: SentimentLabel::Positive,
        score: 0.75,
    });
    t.analysis = Some(map(json!({
        "callSuccessful": "success",
        "dataCollectionResults": {"confirmed": {"value": true}},
    })));
    t.status = TranscriptStatus::Live;
    t
}

async fn insert(store: &DynStore, transcript: Transcript) -> Transcript {
    store
        .insert_transcript(transcript)
        .await
        .expect("insert_transcript")
}

async fn get(store: &DynStore, call_sid: &str) -> Option<Transcript> {
    store
        .get_transcript(call_sid)
        .await
        .expect("get_transcript")
}

async fn insert_then_get_returns_the_transcript_with_store_timestamps(store: DynStore) {
    let mut t = full_transcript("CAtranscript");
    t.created_at -= TimeDelta::days(400);
    t.updated_at -= TimeDelta::days(400);
    let before = time::now();
    let inserted = insert(&store, t.clone()).await;
    assert!(
        inserted.created_at >= before && inserted.created_at <= inserted.updated_at,
        "the store sets createdAt <= updatedAt at insert, ignoring the given ones"
    );
    let expected = Transcript {
        created_at: inserted.created_at,
        updated_at: inserted.updated_at,
        ..t
    };
    assert_eq!(
        inserted, expected,
        "insert_transcript returns the transcript as given"
    );
    assert_eq!(
        get(&store, "CAtranscript").await,
        Some(inserted),
        "get_transcript returns it"
    );

    let minimal = insert(&store, Transcript::new("CAminimal")).await;
    assert_eq!(
        get(&store, "CAminimal").await,
        Some(minimal),
        "an empty transcript round-trips"
    );
}

async fn second_transcript_for_a_call_conflicts(store: DynStore) {
    let original = insert(&store, full_transcript("CAonce")).await;
    let mut second = Transcript::new("CAonce");
    second.summary = Some("another".into());
    let err = store
        .insert_transcript(second)
        .await
        .expect_err("a second transcript for the same call is refused");
    assert!(
        err.is_conflict(),
        "a second transcript for a callSid is a Conflict, got: {err}"
    );
    assert_eq!(
        get(&store, "CAonce").await,
        Some(original),
        "the first transcript is unchanged"
    );
}

async fn get_transcript_of_unknown_call_is_none(store: DynStore) {
    insert(&store, Transcript::new("CAhas")).await;
    assert_eq!(get(&store, "CAhasnot").await, None);
}

async fn update_transcript_changes_only_the_given_fields(store: DynStore) {
    let mut original = full_transcript("CApatch");
    original.transcript = vec![turn(Role::Agent, "Hello?", 0.0)];
    original.summary = Some("old summary".into());
    original.sentiment = None;
    let original = insert(&store, original).await;
    let other = insert(&store, full_transcript("CAother")).await;
    tokio::time::sleep(Duration::from_millis(3)).await;

    let patch = TranscriptPatch {
        transcript: Some(vec![
            turn(Role::Agent, "Hello?", 0.0),
            turn(Role::User, "Not interested, thanks.", 1.5),
        ]),
        summary: Some("new summary".into()),
        sentiment: Some(Sentiment {
            label: SentimentLabel::Negative,
            score: -0.5,
        }),
        ..TranscriptPatch::default()
    };
    let updated = store
        .update_transcript("CApatch", &patch)
        .await
        .expect("update_transcript")
        .expect("the call has a transcript");
    let mut expected = original.clone();
    patch.apply(&mut expected);
    expected.updated_at = updated.updated_at;
    assert_eq!(
        updated, expected,
        "turns, summary and sentiment change; conversationId, analysis and status stay"
    );
    assert_eq!(
        updated.created_at, original.created_at,
        "createdAt never changes"
    );
    assert!(
        updated.updated_at > original.updated_at,
        "updatedAt moves on an update: {} > {}",
        updated.updated_at,
        original.updated_at
    );
    assert_eq!(
        get(&store, "CApatch").await,
        Some(updated.clone()),
        "stored as returned"
    );
    assert_eq!(
        get(&store, "CAother").await,
        Some(other),
        "other transcripts stay"
    );

    let status_only = TranscriptPatch {
        status: Some(TranscriptStatus::Done),
        ..TranscriptPatch::default()
    };
    let done = store
        .update_transcript("CApatch", &status_only)
        .await
        .expect("update_transcript")
        .expect("the call has a transcript");
    let mut expected = updated;
    expected.status = TranscriptStatus::Done;
    expected.updated_at = done.updated_at;
    assert_eq!(
        done, expected,
        "a patch of the status alone changes the status alone"
    );
}

async fn update_transcript_of_unknown_call_is_none(store: DynStore) {
    insert(&store, Transcript::new("CAhas")).await;
    let patch = TranscriptPatch {
        summary: Some("x".into()),
        ..TranscriptPatch::default()
    };
    let got = store
        .update_transcript("CAhasnot", &patch)
        .await
        .expect("update_transcript");
    assert_eq!(got, None, "no transcript to update");
    assert_eq!(get(&store, "CAhasnot").await, None, "and none was created");
}

async fn transcript_is_found_by_its_conversation(store: DynStore) {
    let mut t = full_transcript("CAbyconv");
    t.conversation_id = Some("conv_byconv".into());
    let inserted = insert(&store, t).await;
    insert(&store, full_transcript("CAotherconv")).await;
    let found = store
        .transcript_of_conversation("conv_byconv")
        .await
        .expect("transcript_of_conversation");
    assert_eq!(found, Some(inserted), "the transcript of that conversation");
    let none = store
        .transcript_of_conversation("conv_nosuch")
        .await
        .expect("transcript_of_conversation");
    assert_eq!(none, None, "no transcript has that conversation");
}

/// The media bridge's live saves (`unless_finished`) apply while the transcript is
/// live, and never once the post-call webhook finished it (done, with its
/// conversation), whichever write comes last.
async fn a_live_save_never_replaces_a_finished_transcript(store: DynStore) {
    let mut live = Transcript::new("CAlivesave");
    live.status = TranscriptStatus::Live;
    insert(&store, live).await;
    let bridge = |said: &str| TranscriptPatch {
        transcript: Some(vec![turn(Role::Agent, said, 0.0)]),
        status: Some(TranscriptStatus::Live),
        unless_finished: true,
        ..TranscriptPatch::default()
    };
    let saved = store
        .update_transcript("CAlivesave", &bridge("Hello?"))
        .await
        .expect("update_transcript")
        .expect("there");
    assert_eq!(saved.transcript.len(), 1, "applies while live");

    let finished = TranscriptPatch {
        conversation_id: Some("conv_livesave".into()),
        transcript: Some(vec![
            turn(Role::Agent, "Hello?", 0.0),
            turn(Role::User, "Hi.", 1.0),
        ]),
        status: Some(TranscriptStatus::Done),
        ..TranscriptPatch::default()
    };
    let done = store
        .update_transcript("CAlivesave", &finished)
        .await
        .expect("update_transcript")
        .expect("there");
    let late = store
        .update_transcript("CAlivesave", &bridge("late copy"))
        .await
        .expect("update_transcript")
        .expect("there: returned as it is");
    assert_eq!(late, done, "the late live save changed nothing");
    assert_eq!(
        get(&store, "CAlivesave").await,
        Some(done),
        "stored as finished"
    );
}
