//! The filter and update documents of every conditional write, built by pure functions
//! so tests pin exactly what is sent.
//!
//! Every write is one single-document atomic operation. Where the new value follows
//! from a domain rule (status precedence), the adapter reads the document, runs the
//! rule, and writes with a filter on every field the rule read or wrote: if any changed
//! meanwhile, nothing matches and the adapter reads again (optimistic compare-and-set).

use bson::{Bson, Document, doc};
use outcall_domain::ObjectId;
use outcall_domain::call::{CALL_PATCH_FIELDS, Call};
use outcall_domain::campaign::{
    CallTally, CampaignAction, CampaignPatch, CampaignStats, CampaignStatus, StatsDelta,
};
use outcall_domain::contact::ContactPatch;
use outcall_domain::recording::{RECORDING_MERGE_FIELDS, Recording};
use outcall_domain::time::Timestamp;
use outcall_domain::transcript::TranscriptPatch;
use outcall_store::StoreResult;
use serde_json::{Map, Value};

use crate::mapping::{self, CALLS, CAMPAIGNS, CONTACTS, RECORDINGS, TRANSCRIPTS, date, oid};

/// The fields [`Call::apply_status`] reads or writes.
pub(crate) const STATUS_FIELDS: [&str; 11] = [
    "status",
    "sequenceNumber",
    "startTime",
    "answerTime",
    "endTime",
    "outcome",
    "duration",
    "answeredBy",
    "amdResult",
    "errorCode",
    "errorMessage",
];

/// The compare-and-set of a status update: `before` as read, `after` as the domain rule
/// left it. The filter holds `before`'s value of every [`STATUS_FIELDS`] entry (`null`
/// where absent, which matches a missing field); the update sets those that changed.
pub(crate) fn call_status_cas(
    before: &Call,
    after: &Call,
    now: Timestamp,
) -> StoreResult<(Document, Document)> {
    call_cas(before, after, &STATUS_FIELDS, now)
}

/// The compare-and-set of a [`CallPatch`](outcall_domain::call::CallPatch), over
/// [`CALL_PATCH_FIELDS`].
pub(crate) fn call_patch_cas(
    before: &Call,
    after: &Call,
    now: Timestamp,
) -> StoreResult<(Document, Document)> {
    call_cas(before, after, &CALL_PATCH_FIELDS, now)
}

/// A call's compare-and-set also pins `callSid`, the shard key of a sharded `calls`
/// (`outcall mongo shard`): `findAndModify` on a sharded collection must name the shard
/// key to reach one shard, and before MongoDB 7.1 it is refused without it.
fn call_cas(
    before: &Call,
    after: &Call,
    fields: &[&str],
    now: Timestamp,
) -> StoreResult<(Document, Document)> {
    let (cas, update) = fields_cas(before, after, before.id, &CALLS, fields, now)?;
    let mut filter = doc! {"_id": oid(before.id), "callSid": before.call_sid.as_str()};
    filter.extend(cas.into_iter().filter(|(k, _)| k != "_id"));
    Ok((filter, update))
}

/// The compare-and-set of a recording merge, over [`RECORDING_MERGE_FIELDS`].
pub(crate) fn recording_merge_cas(
    before: &Recording,
    after: &Recording,
    now: Timestamp,
) -> StoreResult<(Document, Document)> {
    fields_cas(
        before,
        after,
        before.id,
        &RECORDINGS,
        &RECORDING_MERGE_FIELDS,
        now,
    )
}

/// A compare-and-set over `fields`: the filter pins `_id` and `before`'s value of each
/// field (`null` matching a missing one); the update `$set`s those `after` changed,
/// `$unset`s those it removed, and sets `updatedAt`.
fn fields_cas<T: serde::Serialize>(
    before: &T,
    after: &T,
    id: ObjectId,
    schema: &mapping::Schema,
    fields: &[&str],
    now: Timestamp,
) -> StoreResult<(Document, Document)> {
    let b = mapping::to_document(before, schema)?;
    let a = mapping::to_document(after, schema)?;
    let mut filter = doc! {"_id": oid(id)};
    let mut set = Document::new();
    let mut unset = Document::new();
    for f in fields {
        let f = *f;
        let old = b.get(f).cloned().unwrap_or(Bson::Null);
        filter.insert(f, old.clone());
        match a.get(f) {
            Some(new) if *new != old => {
                set.insert(f, new.clone());
            }
            Some(_) => {}
            None if old != Bson::Null => {
                unset.insert(f, "");
            }
            None => {}
        }
    }
    set.insert("updatedAt", date(now));
    let mut update = doc! {"$set": set};
    if !unset.is_empty() {
        update.insert("$unset", unset);
    }
    Ok((filter, update))
}

fn statuses(list: &[CampaignStatus]) -> Vec<Bson> {
    list.iter()
        .map(|s| Bson::String(s.as_str().into()))
        .collect()
}

/// A campaign transition: matches only while the status allows the action.
pub(crate) fn campaign_transition(
    id: ObjectId,
    action: CampaignAction,
    now: Timestamp,
) -> (Document, Document) {
    (
        doc! {"_id": oid(id), "status": {"$in": statuses(action.allowed_from())}},
        doc! {"$set": {"status": action.target().as_str(), "updatedAt": date(now)}},
    )
}

fn put<T: serde::Serialize>(
    m: &mut Map<String, Value>,
    key: &str,
    v: &Option<T>,
) -> StoreResult<()> {
    if let Some(v) = v {
        let json = serde_json::to_value(v)
            .map_err(|e| outcall_store::StoreError::Internal(format!("encode {key}: {e}")))?;
        m.insert(key.to_string(), json);
    }
    Ok(())
}

/// A campaign edit: matches only while the status is one of `only_if`; sets the
/// patch's fields (a given `settings` replaces the whole object, as the domain does).
pub(crate) fn campaign_patch(
    id: ObjectId,
    patch: &CampaignPatch,
    only_if: &[CampaignStatus],
    now: Timestamp,
) -> StoreResult<(Document, Document)> {
    let mut m = Map::new();
    put(&mut m, "name", &patch.name)?;
    put(&mut m, "description", &patch.description)?;
    put(&mut m, "prompt", &patch.prompt)?;
    put(&mut m, "firstMessage", &patch.first_message)?;
    put(&mut m, "callerId", &patch.caller_id)?;
    put(&mut m, "region", &patch.region)?;
    put(&mut m, "sheetInfo", &patch.sheet_info)?;
    put(&mut m, "settings", &patch.settings)?;
    put(&mut m, "nextExecution", &patch.next_execution)?;
    let mut set = mapping::object_to_document(m, &CAMPAIGNS)?;
    set.insert("updatedAt", date(now));
    Ok((
        doc! {"_id": oid(id), "status": {"$in": statuses(only_if)}},
        doc! {"$set": set},
    ))
}

const COUNTERS: [&str; 5] = [
    "totalContacts",
    "callsPlaced",
    "callsCompleted",
    "callsAnswered",
    "callsFailed",
];

/// The stats as read from a stored `stats` subdocument. A database the original wrote
/// has no `totalDuration`: it is rebuilt from `averageDuration × callsAnswered`.
pub(crate) fn stored_stats(stats: Option<&Document>) -> StoreResult<CampaignStats> {
    let Some(d) = stats else {
        return Ok(CampaignStats::default());
    };
    let mut s: CampaignStats = mapping::from_document(d.clone(), &STATS_SCHEMA)?;
    if !has_number(d, "totalDuration") {
        s.total_duration = (s.average_duration * s.calls_answered as f64).round() as i64;
    }
    Ok(s)
}

const STATS_SCHEMA: mapping::Schema = mapping::Schema {
    name: "campaigns.stats",
    paths: &[
        ("totalContacts", mapping::Kind::Int),
        ("callsPlaced", mapping::Kind::Int),
        ("callsCompleted", mapping::Kind::Int),
        ("callsAnswered", mapping::Kind::Int),
        ("callsFailed", mapping::Kind::Int),
        ("totalDuration", mapping::Kind::Int),
    ],
};

fn has_number(d: &Document, key: &str) -> bool {
    matches!(
        d.get(key),
        Some(Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_))
    )
}

/// A stats increment. Counters move by `$inc`, so concurrent increments never lose one.
/// `averageDuration` is `totalDuration / callsAnswered` after the increment: the filter
/// pins the two values it is computed from (as read, `null` if absent), so it is set
/// only if they are still those; otherwise the adapter reads again and retries.
pub(crate) fn campaign_stats(
    id: ObjectId,
    stored: Option<&Document>,
    delta: &StatsDelta,
    now: Timestamp,
) -> StoreResult<(Document, Document)> {
    let before = stored_stats(stored)?;
    let mut after = before.clone();
    after.add(delta);
    let raw = |k: &str| stored.and_then(|d| d.get(k)).cloned().unwrap_or(Bson::Null);
    let filter = doc! {
        "_id": oid(id),
        "stats.callsAnswered": raw("callsAnswered"),
        "stats.totalDuration": raw("totalDuration"),
    };
    let deltas = [
        delta.total_contacts,
        delta.calls_placed,
        delta.calls_completed,
        delta.calls_answered,
        delta.calls_failed,
    ];
    let mut inc = Document::new();
    for (k, d) in COUNTERS.iter().zip(deltas) {
        inc.insert(format!("stats.{k}"), d);
    }
    let mut set = doc! {"stats.averageDuration": after.average_duration};
    if stored.is_some_and(|d| has_number(d, "totalDuration")) {
        inc.insert("stats.totalDuration", delta.answered_duration);
    } else {
        set.insert("stats.totalDuration", after.total_duration);
    }
    set.insert("updatedAt", date(now));
    Ok((filter, doc! {"$inc": inc, "$set": set}))
}

/// Groups a campaign's calls by status and by whether the outcome is `held`, with
/// their count and total duration: what [`CallTally::add_group`] folds.
pub(crate) fn campaign_call_tally(id: ObjectId) -> Vec<Document> {
    vec![
        doc! {"$match": {"campaignId": oid(id)}},
        doc! {"$group": {
            "_id": {"status": "$status", "held": {"$eq": ["$outcome", "held"]}},
            "n": {"$sum": 1},
            "secs": {"$sum": {"$ifNull": ["$duration", 0]}},
        }},
    ]
}

/// Sets the call counters of a campaign's stats to a recount ([`CallTally`]).
pub(crate) fn campaign_recount(tally: &CallTally, now: Timestamp) -> Document {
    let mut stats = CampaignStats::default();
    stats.recount(tally);
    doc! {"$set": {
        "stats.callsPlaced": stats.calls_placed,
        "stats.callsCompleted": stats.calls_completed,
        "stats.callsFailed": stats.calls_failed,
        "stats.callsAnswered": stats.calls_answered,
        "stats.totalDuration": stats.total_duration,
        "stats.averageDuration": stats.average_duration,
        "updatedAt": date(now),
    }}
}

/// A contact edit: sets the patch's fields.
pub(crate) fn contact_patch(patch: &ContactPatch, now: Timestamp) -> StoreResult<Document> {
    let mut m = Map::new();
    put(&mut m, "name", &patch.name)?;
    put(&mut m, "email", &patch.email)?;
    put(&mut m, "notes", &patch.notes)?;
    put(&mut m, "status", &patch.status)?;
    put(&mut m, "priority", &patch.priority)?;
    put(&mut m, "timezone", &patch.timezone)?;
    put(&mut m, "tags", &patch.tags)?;
    put(&mut m, "customFields", &patch.custom_fields)?;
    let mut set = mapping::object_to_document(m, &CONTACTS)?;
    set.insert("updatedAt", date(now));
    Ok(doc! {"$set": set})
}

/// A transcript edit: sets the patch's fields.
pub(crate) fn transcript_patch(patch: &TranscriptPatch, now: Timestamp) -> StoreResult<Document> {
    let mut m = Map::new();
    put(&mut m, "conversationId", &patch.conversation_id)?;
    put(&mut m, "transcript", &patch.transcript)?;
    put(&mut m, "summary", &patch.summary)?;
    put(&mut m, "sentiment", &patch.sentiment)?;
    put(&mut m, "analysis", &patch.analysis)?;
    put(&mut m, "status", &patch.status)?;
    let mut set = mapping::object_to_document(m, &TRANSCRIPTS)?;
    set.insert("updatedAt", date(now));
    Ok(doc! {"$set": set})
}

/// `$addToSet` of each tag (MongoDB keeps the order of first appearance, once each).
pub(crate) fn add_tags(tags: &[String], now: Timestamp) -> Document {
    doc! {"$addToSet": {"tags": {"$each": tags}}, "$set": {"updatedAt": date(now)}}
}

pub(crate) fn remove_tags(tags: &[String], now: Timestamp) -> Document {
    doc! {"$pull": {"tags": {"$in": tags}}, "$set": {"updatedAt": date(now)}}
}

pub(crate) fn add_campaign(campaign: ObjectId, now: Timestamp) -> Document {
    doc! {"$addToSet": {"campaignIds": oid(campaign)}, "$set": {"updatedAt": date(now)}}
}

pub(crate) fn remove_campaign(campaign: ObjectId, now: Timestamp) -> Document {
    doc! {"$pull": {"campaignIds": oid(campaign)}, "$set": {"updatedAt": date(now)}}
}

/// A call placed to a contact: one more call, its id appended, the time it was placed.
pub(crate) fn record_call(call: ObjectId, at: Timestamp, now: Timestamp) -> Document {
    doc! {
        "$inc": {"callCount": 1_i64},
        "$push": {"callIds": oid(call)},
        "$set": {"lastContacted": date(at), "updatedAt": date(now)},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone, Utc};
    use outcall_domain::call::{CallStatus, StatusUpdate};
    use outcall_domain::campaign::CampaignSettings;

    fn now() -> Timestamp {
        Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9)
            .single()
            .expect("a valid date")
            + TimeDelta::milliseconds(250)
    }

    fn d(t: Timestamp) -> Bson {
        Bson::DateTime(date(t))
    }

    #[test]
    fn status_cas_pins_every_field_the_rule_touches() {
        let mut before = Call::new("CA1", "+15005550006", "+14155552671");
        before.status = CallStatus::Ringing;
        before.sequence_number = Some(1);
        let mut after = before.clone();
        let u = StatusUpdate {
            timestamp: Some(now()),
            answered_by: Some("human".into()),
            ..StatusUpdate::to(CallStatus::InProgress).with_sequence(2)
        };
        assert!(after.apply_status(&u).applied());
        let (filter, update) = call_status_cas(&before, &after, now()).expect("build");
        assert_eq!(
            filter,
            doc! {
                "_id": oid(before.id),
                "callSid": "CA1",
                "status": "ringing",
                "sequenceNumber": 1_i64,
                "startTime": Bson::Null,
                "answerTime": Bson::Null,
                "endTime": Bson::Null,
                "outcome": Bson::Null,
                "duration": Bson::Null,
                "answeredBy": Bson::Null,
                "amdResult": Bson::Null,
                "errorCode": Bson::Null,
                "errorMessage": Bson::Null,
            }
        );
        assert_eq!(
            update,
            doc! {"$set": {
                "status": "in-progress",
                "sequenceNumber": 2_i64,
                "startTime": d(now()),
                "answerTime": d(now()),
                "answeredBy": "human",
                "updatedAt": d(now()),
            }}
        );
    }

    #[test]
    fn call_patches_pin_the_id_and_the_shard_key() {
        let before = Call::new("CA7", "a", "b");
        let mut after = before.clone();
        after.outcome = Some(outcall_domain::call::CallOutcome::Voicemail);
        let (filter, _) = call_patch_cas(&before, &after, now()).expect("build");
        let keys: Vec<&str> = filter.keys().map(String::as_str).take(3).collect();
        assert_eq!(keys, ["_id", "callSid", CALL_PATCH_FIELDS[0]]);
        assert_eq!(filter.get_str("callSid"), Ok("CA7"));
        assert_eq!(filter.len(), 2 + CALL_PATCH_FIELDS.len());
    }

    #[test]
    fn status_cas_to_terminal_sets_end_and_outcome() {
        let mut before = Call::new("CA1", "a", "b");
        before.status = CallStatus::InProgress;
        before.answer_time = Some(now());
        before.start_time = Some(now());
        let mut after = before.clone();
        let end = now() + TimeDelta::seconds(60);
        after.apply_status(&StatusUpdate {
            timestamp: Some(end),
            duration: Some(60),
            ..StatusUpdate::to(CallStatus::Completed)
        });
        let (filter, update) = call_status_cas(&before, &after, end).expect("build");
        assert_eq!(
            filter.get("status"),
            Some(&Bson::String("in-progress".into()))
        );
        assert_eq!(filter.get("answerTime"), Some(&d(now())));
        assert_eq!(filter.get("sequenceNumber"), Some(&Bson::Null));
        assert_eq!(
            update,
            doc! {"$set": {
                "status": "completed",
                "endTime": d(end),
                "outcome": "held",
                "duration": 60_i64,
                "updatedAt": d(end),
            }}
        );
    }

    #[test]
    fn transitions_compare_and_set_on_the_allowed_statuses() {
        let id = ObjectId::new();
        let cases = [
            (CampaignAction::Start, vec!["draft"], "active"),
            (CampaignAction::Pause, vec!["active"], "paused"),
            (CampaignAction::Resume, vec!["paused"], "active"),
            (
                CampaignAction::Stop,
                vec!["draft", "active", "paused"],
                "cancelled",
            ),
            (CampaignAction::Complete, vec!["active"], "completed"),
        ];
        for (action, from, to) in cases {
            let (filter, update) = campaign_transition(id, action, now());
            assert_eq!(
                filter,
                doc! {"_id": oid(id), "status": {"$in": from}},
                "{action:?}"
            );
            assert_eq!(
                update,
                doc! {"$set": {"status": to, "updatedAt": d(now())}},
                "{action:?}"
            );
        }
    }

    #[test]
    fn campaign_patch_sets_only_given_fields_while_allowed() {
        let id = ObjectId::new();
        let patch = CampaignPatch {
            name: Some("Renamed".into()),
            settings: Some(CampaignSettings::default()),
            next_execution: Some(now()),
            ..CampaignPatch::default()
        };
        let (filter, update) = campaign_patch(
            id,
            &patch,
            &[CampaignStatus::Draft, CampaignStatus::Paused],
            now(),
        )
        .expect("build");
        assert_eq!(
            filter,
            doc! {"_id": oid(id), "status": {"$in": ["draft", "paused"]}}
        );
        assert_eq!(
            update,
            doc! {"$set": {
                "name": "Renamed",
                "nextExecution": d(now()),
                "settings": {"callDelay": 5.0, "maxConcurrentCalls": 1_i64, "retryCount": 0_i64,
                             "retryDelay": 3600.0, "retryOn": []},
                "updatedAt": d(now()),
            }}
        );
        let (filter, _) = campaign_patch(id, &patch, &[], now()).expect("build");
        assert_eq!(
            filter,
            doc! {"_id": oid(id), "status": {"$in": []}},
            "an empty only_if matches nothing"
        );
    }

    #[test]
    fn stats_increment_incs_counters_and_pins_the_average_inputs() {
        let id = ObjectId::new();
        let stored = doc! {
            "totalContacts": 4_i64, "callsPlaced": 2_i64, "callsCompleted": 2_i64,
            "callsAnswered": 2_i64, "callsFailed": 0_i64, "averageDuration": 15.0, "totalDuration": 30_i64,
        };
        let delta = StatsDelta {
            calls_placed: 1,
            calls_answered: 1,
            answered_duration: 9,
            ..StatsDelta::default()
        };
        let (filter, update) = campaign_stats(id, Some(&stored), &delta, now()).expect("build");
        assert_eq!(
            filter,
            doc! {"_id": oid(id), "stats.callsAnswered": 2_i64, "stats.totalDuration": 30_i64}
        );
        assert_eq!(
            update,
            doc! {
                "$inc": {
                    "stats.totalContacts": 0_i64, "stats.callsPlaced": 1_i64, "stats.callsCompleted": 0_i64,
                    "stats.callsAnswered": 1_i64, "stats.callsFailed": 0_i64, "stats.totalDuration": 9_i64,
                },
                "$set": {"stats.averageDuration": 13.0, "updatedAt": d(now())},
            }
        );
    }

    #[test]
    fn stats_of_a_database_without_total_duration_rebuild_it() {
        // As the original wrote it: doubles, and no totalDuration.
        let id = ObjectId::new();
        let stored = doc! {"callsAnswered": 2.0, "averageDuration": 15.0};
        let delta = StatsDelta {
            calls_answered: 1,
            answered_duration: 60,
            ..StatsDelta::default()
        };
        let (filter, update) = campaign_stats(id, Some(&stored), &delta, now()).expect("build");
        assert_eq!(
            filter,
            doc! {"_id": oid(id), "stats.callsAnswered": 2.0, "stats.totalDuration": Bson::Null}
        );
        let set = update.get_document("$set").expect("$set");
        assert_eq!(set.get("stats.totalDuration"), Some(&Bson::Int64(90)));
        assert_eq!(set.get("stats.averageDuration"), Some(&Bson::Double(30.0)));
        assert!(
            !update
                .get_document("$inc")
                .expect("$inc")
                .contains_key("stats.totalDuration")
        );

        let (filter, update) = campaign_stats(id, None, &delta, now()).expect("build");
        assert_eq!(filter.get("stats.callsAnswered"), Some(&Bson::Null));
        assert_eq!(
            update
                .get_document("$set")
                .expect("$set")
                .get("stats.averageDuration"),
            Some(&Bson::Double(60.0))
        );
    }

    #[test]
    fn set_like_array_edits() {
        let tags = vec!["a".to_string(), "b".to_string()];
        assert_eq!(
            add_tags(&tags, now()),
            doc! {"$addToSet": {"tags": {"$each": ["a", "b"]}}, "$set": {"updatedAt": d(now())}}
        );
        assert_eq!(
            remove_tags(&tags, now()),
            doc! {"$pull": {"tags": {"$in": ["a", "b"]}}, "$set": {"updatedAt": d(now())}}
        );
        let c = ObjectId::new();
        assert_eq!(
            add_campaign(c, now()),
            doc! {"$addToSet": {"campaignIds": oid(c)}, "$set": {"updatedAt": d(now())}}
        );
        assert_eq!(
            record_call(c, now(), now()),
            doc! {"$inc": {"callCount": 1_i64}, "$push": {"callIds": oid(c)},
            "$set": {"lastContacted": d(now()), "updatedAt": d(now())}}
        );
    }

    #[test]
    fn contact_and_transcript_patches_set_given_fields() {
        let p = ContactPatch {
            status: Some(outcall_domain::ContactStatus::DoNotCall),
            priority: Some(7),
            ..ContactPatch::default()
        };
        assert_eq!(
            contact_patch(&p, now()).expect("build"),
            doc! {"$set": {"priority": 7_i64, "status": "do-not-call", "updatedAt": d(now())}}
        );
        let t = TranscriptPatch {
            summary: Some("ok".into()),
            ..TranscriptPatch::default()
        };
        assert_eq!(
            transcript_patch(&t, now()).expect("build"),
            doc! {"$set": {"summary": "ok", "updatedAt": d(now())}}
        );
    }

    #[test]
    fn campaign_recount_groups_by_status_and_held_and_sets_every_counter() {
        let id = ObjectId::new();
        let pipeline = campaign_call_tally(id);
        assert_eq!(pipeline[0], doc! {"$match": {"campaignId": oid(id)}});
        assert_eq!(
            pipeline[1]
                .get_document("$group")
                .expect("pinned shape")
                .get_document("_id")
                .expect("pinned shape"),
            &doc! {"status": "$status", "held": {"$eq": ["$outcome", "held"]}}
        );
        let tally = CallTally {
            placed: 5,
            completed: 3,
            failed: 2,
            answered: 2,
            answered_duration: 150,
        };
        let update = campaign_recount(&tally, outcall_domain::time::now());
        let set = update.get_document("$set").expect("pinned shape");
        assert_eq!(set.get_i64("stats.callsPlaced").expect("pinned shape"), 5);
        assert_eq!(
            set.get_i64("stats.callsCompleted").expect("pinned shape"),
            3
        );
        assert_eq!(set.get_i64("stats.callsFailed").expect("pinned shape"), 2);
        assert_eq!(set.get_i64("stats.callsAnswered").expect("pinned shape"), 2);
        assert_eq!(
            set.get_i64("stats.totalDuration").expect("pinned shape"),
            150
        );
        assert_eq!(
            set.get_f64("stats.averageDuration").expect("pinned shape"),
            75.0
        );
        assert!(
            !set.contains_key("stats.totalContacts"),
            "a recount keeps totalContacts"
        );
    }
}
