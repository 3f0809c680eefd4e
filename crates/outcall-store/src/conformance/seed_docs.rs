//! Documents in the shape the Node.js system the seed documents wrote (facts in
//! `data-model.md`, "The seed system's own documents"), inserted raw, and what every
//! adapter must read from them: unknown values kept as stored, known aliases mapped,
//! unknown fields kept and written back, and an unreadable document skipped by a list
//! rather than failing it. [`fixtures`] is public: the API tests load the same set.

use chrono::TimeDelta;
use outcall_domain::ObjectId;
use outcall_domain::call::{CallPatch, CallStatus, StatusUpdate, TerminatedBy};
use outcall_domain::contact::{ContactPatch, ContactStatus};
use outcall_domain::page::{PageRequest, Sort};
use outcall_domain::time::{self, Timestamp};
use outcall_domain::transcript::{Role, TranscriptPatch, TranscriptStatus};
use serde_json::{Map, Value, json};

use super::{Check, DynStore};
use crate::analytics::AnalyticsFilter;
use crate::filter::{CallFilter, ContactFilter, EventFilter, RecordingFilter};

pub(super) fn checks() -> Vec<Check> {
    vec![
        crate::check!(seed_documents_read_with_their_values),
        crate::check!(seed_documents_count_in_analytics),
        crate::check!(unknown_fields_survive_writes),
        crate::check!(a_call_placed_before_the_switch_finishes),
        crate::check!(an_unreadable_document_is_skipped_by_lists),
    ]
}

/// The seed system's campaign of the fixtures.
pub const CAMPAIGN: &str = "65b000000000000000000001";
/// Its contacts: `pending`, `completed`, `calling`, `do-not-call`.
pub const CONTACTS: [&str; 4] = [
    "65b000000000000000000011",
    "65b000000000000000000012",
    "65b000000000000000000013",
    "65b000000000000000000014",
];
/// Its calls: completed by `conversation_completed`, no-answer by `unknown`, busy by `user`.
pub const CALLS: [&str; 3] = [
    "CA5eed0000000000000000000000000001",
    "CA5eed0000000000000000000000000002",
    "CA5eed0000000000000000000000000003",
];
pub const RECORDING: &str = "RE5eed0000000000000000000000000001";
/// A call whose `from` is a number: no reading of it is possible.
pub const UNREADABLE_CALL: &str = "CA5eed00000000000000000000000000ff";

fn oid(hex: &str) -> Value {
    json!({"$oid": hex})
}

fn date(t: Timestamp) -> Value {
    json!({"$date": time::to_millis(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)})
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("BUG: a fixture is a JSON object"),
    }
}

/// `(collection, document)` in relaxed Extended JSON, times `at` and shortly before.
/// Numbers are doubles where JavaScript's are; Mongoose's `__v` is on every document.
pub fn fixtures(at: Timestamp) -> Vec<(&'static str, Map<String, Value>)> {
    let before = |mins: i64| date(at - TimeDelta::minutes(mins));
    let mut docs = vec![(
        "campaigns",
        json!({"_id": oid(CAMPAIGN), "name": "Seed campaign", "status": "completed",
            "settings": {"callDelay": 5000.0, "maxConcurrentCalls": 5.0, "retryCount": 1.0, "retryDelay": 3600000.0},
            "contactIds": CONTACTS.iter().map(|c| oid(c)).collect::<Vec<_>>(),
            "callIds": [], "createdAt": before(60), "updatedAt": before(60), "__v": 0}),
    )];
    for (i, (id, status)) in CONTACTS
        .iter()
        .zip(["pending", "completed", "calling", "do-not-call"])
        .enumerate()
    {
        docs.push((
            "contacts",
            json!({"_id": oid(id), "phoneNumber": format!("+1415555020{i}"), "name": format!("Seed {i}"),
                "status": status, "campaignIds": [oid(CAMPAIGN)], "tags": ["seed"],
                "callCount": 1.0, "lastCallResult": "no-answer", "lastCallDate": before(30),
                "lastCallError": null, "createdAt": before(50), "updatedAt": before(30), "__v": 0}),
        ));
    }
    for (i, (sid, (status, by))) in CALLS
        .iter()
        .zip([
            ("completed", "conversation_completed"),
            ("no-answer", "unknown"),
            ("busy", "user"),
        ])
        .enumerate()
    {
        let mut call = json!({"_id": oid(&format!("65b00000000000000000002{i}")), "callSid": sid,
            "status": status, "from": "+15005550006", "to": format!("+1415555020{i}"),
            "direction": "outbound-api", "terminatedBy": by,
            // The seed system stored the campaign as a string.
            "campaignId": CAMPAIGN, "contactId": oid(CONTACTS[i]), "agentId": "agent_seed",
            "metadata": {"source": "seed"}, "createdAt": before(20 - i as i64),
            "updatedAt": before(10), "__v": 0});
        if i == 0 {
            let extra = json!({"duration": 42.0, "answeredBy": "human", "startTime": before(20),
                "endTime": before(19), "conversationId": "conv_seed_1"});
            call.as_object_mut()
                .expect("BUG: an object")
                .extend(object(extra));
        }
        docs.push(("calls", call));
    }
    let turns = |n: usize| {
        json!([
            {"_id": oid(&format!("65b0000000000000000003{n}1")), "role": "agent", "message": "Hello, this is Seed.", "time_in_call_secs": 0},
            {"_id": oid(&format!("65b0000000000000000003{n}2")), "role": "user", "message": "Great, thanks, happy to help.", "time_in_call_secs": 2.5},
            {"_id": oid(&format!("65b0000000000000000003{n}3")), "role": "tool", "message": null, "time_in_call_secs": null}
        ])
    };
    for (i, (sid, status)) in CALLS
        .iter()
        .zip(["done", "processing", "failed"])
        .enumerate()
    {
        docs.push((
            "transcripts",
            json!({"_id": oid(&format!("65b00000000000000000004{i}")), "callSid": sid,
                "conversationId": format!("conv_seed_{}", i + 1), "agent_id": "agent_seed",
                "status": status, "transcript": turns(i), "createdAt": before(15),
                "updatedAt": before(15), "__v": 0}),
        ));
    }
    docs.push((
        "recordings",
        json!({"_id": oid("65b000000000000000000050"), "recordingSid": RECORDING,
            "callSid": CALLS[0], "status": "completed", "duration": 42.0, "channels": 1.0,
            "url": "https://api.twilio.com/rec", "format": "mp3", "mp3Url": "https://api.twilio.com/rec.mp3",
            "createdAt": before(18), "updatedAt": before(18), "__v": 0}),
    ));
    docs.push((
        "callevents",
        json!({"_id": oid("65b000000000000000000060"), "callSid": CALLS[0],
            "eventType": "status_change", "source": "twilio", "data": {"status": "completed"},
            "timestamp": before(19), "createdAt": before(19), "updatedAt": before(19), "__v": 0}),
    ));
    docs.iter().map(|(c, d)| (*c, object(d.clone()))).collect()
}

/// A call document no reading can take (its `from` is a number).
pub fn unreadable_call(at: Timestamp) -> Map<String, Value> {
    object(
        json!({"_id": oid("65b0000000000000000000ff"), "callSid": UNREADABLE_CALL,
        "status": "completed", "from": 15005550006_i64, "to": "+14155550209",
        "createdAt": date(at - TimeDelta::minutes(5)), "updatedAt": date(at)}),
    )
}

/// Inserts [`fixtures`] raw.
pub async fn load(store: &DynStore, at: Timestamp) {
    for (collection, doc) in fixtures(at) {
        store
            .insert_raw(collection, doc)
            .await
            .unwrap_or_else(|e| panic!("insert a {collection} fixture: {e}"));
    }
}

fn page(sort: &'static str) -> PageRequest {
    PageRequest::new(Some(1), Some(100), Sort::desc(sort)).expect("BUG: a valid page")
}

fn id(hex: &str) -> ObjectId {
    hex.parse().expect("BUG: a valid ObjectId")
}

async fn seed_documents_read_with_their_values(store: DynStore) {
    let at = time::now();
    load(&store, at).await;

    let calls = store
        .list_calls(&CallFilter::default(), &page("createdAt"))
        .await
        .expect("list calls");
    assert_eq!((calls.total, calls.skipped), (3, 0));
    let first = store
        .get_call(CALLS[0])
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(
        first.terminated_by,
        Some(TerminatedBy::Other("conversation_completed".into()))
    );
    assert_eq!(first.campaign_id, Some(id(CAMPAIGN)));
    assert_eq!(
        (first.status, first.duration),
        (CallStatus::Completed, Some(42))
    );
    assert_eq!(first.extra.get("__v"), Some(&json!(0)));
    let of_campaign = CallFilter {
        campaign_id: Some(id(CAMPAIGN)),
        ..CallFilter::default()
    };
    let of_campaign = store
        .list_calls(&of_campaign, &page("createdAt"))
        .await
        .expect("list");
    assert_eq!(
        of_campaign.total, 3,
        "a campaign's calls are found by its id stored as a string"
    );
    let by: Vec<_> = calls
        .items
        .iter()
        .map(|c| c.terminated_by.clone())
        .collect();
    assert!(
        by.contains(&Some(TerminatedBy::Other("user".into()))),
        "{by:?}"
    );

    let contacts = store
        .list_contacts(&ContactFilter::default(), &page("createdAt"))
        .await
        .expect("list contacts");
    assert_eq!((contacts.total, contacts.skipped), (4, 0));
    let pending = store
        .get_contact(id(CONTACTS[0]))
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(
        pending.status,
        ContactStatus::Active,
        "pending reads as active"
    );
    assert_eq!(
        pending.extra.get("lastCallResult"),
        Some(&json!("no-answer"))
    );
    assert!(pending.extra.contains_key("lastCallDate"));
    let completed = store
        .get_contact(id(CONTACTS[1]))
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(completed.status, ContactStatus::Other("completed".into()));
    let active = ContactFilter {
        status: Some(ContactStatus::Active),
        ..ContactFilter::default()
    };
    let active = store
        .list_contacts(&active, &page("createdAt"))
        .await
        .expect("list");
    assert_eq!(
        active.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![id(CONTACTS[0])],
        "a filter on active finds the pending contact"
    );
    assert_eq!(
        store
            .do_not_call_contact("+14155550203")
            .await
            .expect("dnc"),
        Some(id(CONTACTS[3]))
    );

    let t = store
        .get_transcript(CALLS[1])
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(t.status, TranscriptStatus::Other("processing".into()));
    assert!(!t.is_finished());
    assert_eq!(t.extra.get("agent_id"), Some(&json!("agent_seed")));
    assert_eq!(t.transcript[1].time_in_call_secs, 2.5);
    assert_eq!(t.transcript[2].role, Role::Other("tool".into()));
    assert_eq!(t.transcript[2].message, "");
    let done = store
        .get_transcript(CALLS[0])
        .await
        .expect("get")
        .expect("stored");
    assert!(done.is_finished(), "done with a conversation is finished");

    let recs = store
        .list_recordings(&RecordingFilter::default(), &page("createdAt"))
        .await
        .expect("list recordings");
    assert_eq!(recs.items.len(), 1);
    assert_eq!(recs.items[0].extra.get("format"), Some(&json!("mp3")));
    assert_eq!(recs.items[0].duration, Some(42));
    let events = store
        .list_events(CALLS[0], &EventFilter::default(), &page("timestamp"))
        .await
        .expect("list events");
    assert_eq!(events.items.len(), 1);
    assert_eq!(
        events.items[0].event_type, "status_change",
        "kept as stored"
    );
    assert_eq!(events.items[0].extra.get("source"), Some(&json!("twilio")));
    let feed = store
        .recent_events(None, &page("timestamp"))
        .await
        .expect("feed");
    assert_eq!(feed.items.len(), 1);
    assert_eq!(
        feed.items[0].call.as_ref().map(|c| c.call_sid.as_str()),
        Some(CALLS[0])
    );
    let campaign = store
        .get_campaign(id(CAMPAIGN))
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(campaign.contact_ids.len(), 4);
}

async fn seed_documents_count_in_analytics(store: DynStore) {
    let at = time::now();
    load(&store, at).await;
    let all = AnalyticsFilter::default();
    let counts = store.call_counts(&all).await.expect("counts");
    assert_eq!(
        (
            counts.total,
            counts.completed,
            counts.answered,
            counts.busy,
            counts.no_answer
        ),
        (3, 1, 1, 1, 1)
    );
    let campaign = AnalyticsFilter {
        campaign_id: Some(id(CAMPAIGN)),
        ..AnalyticsFilter::default()
    };
    assert_eq!(
        store.call_counts(&campaign).await.expect("counts").total,
        3,
        "by a campaign id stored as a string"
    );
    let feed = store
        .recent_events(Some(id(CAMPAIGN)), &page("timestamp"))
        .await
        .expect("feed");
    assert_eq!(feed.items.len(), 1);
    let summary = store.duration_summary(&all).await.expect("durations");
    assert_eq!(summary.count, 1);
    let outcomes = store.outcome_counts(&all).await.expect("outcomes");
    assert_eq!(
        outcomes.by_status.get("no-answer"),
        Some(&1),
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.by_answered_by.get("human"),
        Some(&1),
        "{outcomes:?}"
    );
    let (live, total) = store.live_calls(&all, 10).await.expect("live");
    assert_eq!((live.len(), total), (0, 0));
}

async fn unknown_fields_survive_writes(store: DynStore) {
    let at = time::now();
    load(&store, at).await;
    let patch = ContactPatch {
        notes: Some("moved to outcall".into()),
        ..ContactPatch::default()
    };
    let c = store
        .update_contact(id(CONTACTS[1]), &patch)
        .await
        .expect("update")
        .expect("stored");
    assert_eq!(c.status, ContactStatus::Other("completed".into()));
    let c = store
        .get_contact(id(CONTACTS[1]))
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(c.notes.as_deref(), Some("moved to outcall"));
    assert_eq!(c.extra.get("lastCallResult"), Some(&json!("no-answer")));
    assert_eq!(c.status, ContactStatus::Other("completed".into()));

    let (call, changed) = store
        .update_call(
            CALLS[1],
            &CallPatch {
                error_message: Some("no answer after 30 s".into()),
                ..CallPatch::default()
            },
        )
        .await
        .expect("update")
        .expect("stored");
    assert!(changed);
    assert_eq!(
        call.terminated_by,
        Some(TerminatedBy::Other("unknown".into()))
    );
    let call = store
        .get_call(CALLS[1])
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(call.error_message.as_deref(), Some("no answer after 30 s"));
    assert_eq!(call.extra.get("__v"), Some(&json!(0)));
    assert_eq!(
        call.terminated_by,
        Some(TerminatedBy::Other("unknown".into()))
    );

    let t = store
        .update_transcript(
            CALLS[2],
            &TranscriptPatch {
                summary: Some("Busy.".into()),
                ..TranscriptPatch::default()
            },
        )
        .await
        .expect("update")
        .expect("stored");
    assert_eq!(t.status, TranscriptStatus::Other("failed".into()));
    let t = store
        .get_transcript(CALLS[2])
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(t.summary.as_deref(), Some("Busy."));
    assert_eq!(t.extra.get("agent_id"), Some(&json!("agent_seed")));
    assert_eq!(t.transcript.len(), 3);
}

/// A call the Node.js system placed, still ringing at the switch: outcall's status
/// rules apply to it (a compare-and-set over fields it wrote, as JavaScript doubles)
/// and its own fields stay.
async fn a_call_placed_before_the_switch_finishes(store: DynStore) {
    let at = time::now();
    let sid = "CA5eed00000000000000000000000000aa";
    let doc = object(
        json!({"_id": oid("65b0000000000000000000aa"), "callSid": sid,
        "status": "ringing", "from": "+15005550006", "to": "+14155550210",
        "direction": "outbound-api", "campaignId": CAMPAIGN, "duration": 0.0,
        "metadata": {}, "createdAt": date(at - TimeDelta::minutes(1)),
        "updatedAt": date(at), "__v": 0}),
    );
    store.insert_raw("calls", doc).await.expect("insert");
    let update = StatusUpdate {
        duration: Some(31),
        ..StatusUpdate::to(CallStatus::Completed).with_sequence(3)
    };
    let (call, change) = store
        .update_call_status(sid, &update)
        .await
        .expect("update")
        .expect("stored");
    assert!(change.applied(), "{change:?}");
    assert_eq!(
        (call.status, call.duration),
        (CallStatus::Completed, Some(31))
    );
    let call = store.get_call(sid).await.expect("get").expect("stored");
    assert_eq!(call.status, CallStatus::Completed);
    assert_eq!(call.duration, Some(31));
    assert_eq!(call.campaign_id, Some(id(CAMPAIGN)));
    assert_eq!(call.extra.get("__v"), Some(&json!(0)));
}

async fn an_unreadable_document_is_skipped_by_lists(store: DynStore) {
    let at = time::now();
    load(&store, at).await;
    store
        .insert_raw("calls", unreadable_call(at))
        .await
        .expect("insert");
    let calls = store
        .list_calls(&CallFilter::default(), &page("createdAt"))
        .await
        .expect("one bad document does not fail the list");
    assert_eq!(calls.total, 4, "the total still counts it");
    assert_eq!(calls.skipped, 1);
    assert_eq!(calls.items.len(), 3);
    assert!(calls.items.iter().all(|c| c.call_sid != UNREADABLE_CALL));
    store
        .call_counts(&AnalyticsFilter::default())
        .await
        .expect("analytics over it");
    store
        .live_calls(&AnalyticsFilter::default(), 10)
        .await
        .expect("live calls over it");
}
