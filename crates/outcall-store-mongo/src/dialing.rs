//! The documents of the campaign engine's atomic operations: the runner lease of a
//! campaign, the claim of a contact, and each step of an attempt. Pure functions, so
//! tests pin exactly what is sent: a wrong operator here dials someone twice.

use bson::{Bson, Document, doc};
use outcall_domain::ObjectId;
use outcall_domain::campaign_contact::{AttemptGuard, AttemptStep, Claim, LeaseStep};
use outcall_domain::time::Timestamp;

use crate::mapping::{date, oid};

/// A dial status as stored (its serde name).
pub(crate) fn status_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// The campaigns `owner` may run at `now`: `active`, with a runner lease that is
/// absent (`null` also matches a missing field), already `owner`'s, or expired. The
/// conditions sit in an `$and` (the same query to MongoDB): the nx-27017 stand-in
/// ignores a top-level `$or` beside `_id` and would hold a paused campaign.
pub(crate) fn runnable_by(id: ObjectId, owner: &str, now: Timestamp) -> Document {
    doc! {
        "_id": oid(id),
        "$and": [
            {"status": "active"},
            {"$or": [
                {"runner": Bson::Null},
                {"runner.owner": owner},
                {"runner.expiresAt": {"$lte": date(now)}},
            ]},
        ],
    }
}

/// Takes or renews a campaign's runner lease ([`runnable_by`]).
pub(crate) fn hold_runner(
    id: ObjectId,
    owner: &str,
    now: Timestamp,
    expires_at: Timestamp,
    dialled_at: Option<Timestamp>,
) -> (Document, Document) {
    let filter = runnable_by(id, owner, now);
    let mut set = doc! {
        "runner": {"owner": owner, "expiresAt": date(expires_at)},
        "updatedAt": date(now),
    };
    if let Some(t) = dialled_at {
        set.insert("lastExecuted", date(t));
    }
    (filter, doc! {"$set": set})
}

/// Drops `owner`'s lease. `$unset` alone: the nx-27017 stand-in drops an `$unset`
/// that comes with a `$set` of a Date; the adapter sets `updatedAt` after it.
pub(crate) fn release_runner(id: ObjectId, owner: &str) -> (Document, Document) {
    (
        doc! {"_id": oid(id), "runner.owner": owner},
        doc! {"$unset": {"runner": ""}},
    )
}

/// The claim of the next due contact: filter, update and the order that picks it.
pub(crate) fn claim_contact(
    campaign_id: ObjectId,
    claim: &Claim,
    now: Timestamp,
) -> (Document, Document, Document) {
    let filter = doc! {
        "campaignId": oid(campaign_id),
        "status": {"$in": ["pending", "retry"]},
        "$or": [
            {"nextAttemptAt": Bson::Null},
            {"nextAttemptAt": {"$lte": date(claim.now)}},
        ],
    };
    let update = doc! {
        "$set": {
            "status": "dialing",
            "lease": {
                "owner": &claim.owner,
                "attemptId": &claim.attempt_id,
                "expiresAt": date(claim.expires_at),
            },
            "updatedAt": date(now),
        },
        "$unset": {"dialledAt": ""},
    };
    let sort = doc! {"priority": -1, "nextAttemptAt": 1, "createdAt": 1, "_id": 1};
    (filter, update, sort)
}

/// One step of an attempt, guarded by the attempt's lease.
pub(crate) fn attempt_step(
    campaign_id: ObjectId,
    contact_id: ObjectId,
    guard: &AttemptGuard,
    step: &AttemptStep,
    now: Timestamp,
) -> (Document, Document) {
    let mut filter = doc! {
        "campaignId": oid(campaign_id),
        "contactId": oid(contact_id),
        "lease.attemptId": &guard.attempt_id,
    };
    if let Some(t) = guard.expired_by {
        filter.insert("lease.expiresAt", doc! {"$lte": date(t)});
    }
    let mut set = doc! {"status": status_name(&step.status), "updatedAt": date(now)};
    let mut update = Document::new();
    match &step.lease {
        LeaseStep::Keep => {}
        LeaseStep::Renew { owner, expires_at } => {
            set.insert("lease.owner", owner.as_str());
            set.insert("lease.expiresAt", date(*expires_at));
        }
        LeaseStep::Release => {
            update.insert("$unset", doc! {"lease": ""});
        }
    }
    if let Some(t) = step.next_attempt_at {
        set.insert("nextAttemptAt", date(t));
    }
    if let Some(sid) = &step.last_call_sid {
        set.insert("lastCallSid", sid.as_str());
    }
    if let Some(r) = &step.last_result {
        set.insert("lastResult", r.as_str());
    }
    if let Some(reason) = &step.skip_reason {
        set.insert("skipReason", status_name(reason));
    }
    if let Some(t) = step.dialled_at {
        set.insert("dialledAt", date(t));
    }
    if step.attempts_inc != 0 {
        update.insert("$inc", doc! {"attempts": step.attempts_inc});
    }
    update.insert("$set", set);
    (filter, update)
}

#[cfg(test)]
mod tests {
    use super::*;
    use outcall_domain::campaign_contact::{DialStatus, SkipReason};
    use outcall_domain::time::now;

    fn d(t: Timestamp) -> Bson {
        Bson::DateTime(date(t))
    }

    #[test]
    fn claim_takes_a_due_contact_by_priority_then_due_time() {
        let (c, t) = (ObjectId::new(), now());
        let later = t + chrono::Duration::seconds(60);
        let claim = Claim {
            owner: "host-1".into(),
            attempt_id: "A1".into(),
            now: t,
            expires_at: later,
        };
        let (filter, update, sort) = claim_contact(c, &claim, t);
        assert_eq!(
            filter,
            doc! {
                "campaignId": oid(c),
                "status": {"$in": ["pending", "retry"]},
                "$or": [{"nextAttemptAt": Bson::Null}, {"nextAttemptAt": {"$lte": d(t)}}],
            }
        );
        assert_eq!(
            update,
            doc! {
                "$set": {
                    "status": "dialing",
                    "lease": {"owner": "host-1", "attemptId": "A1", "expiresAt": d(later)},
                    "updatedAt": d(t),
                },
                "$unset": {"dialledAt": ""},
            }
        );
        assert_eq!(
            sort,
            doc! {"priority": -1, "nextAttemptAt": 1, "createdAt": 1, "_id": 1}
        );
    }

    #[test]
    fn a_step_needs_the_attempts_lease_and_releases_it_at_the_end() {
        let (c, p, t) = (ObjectId::new(), ObjectId::new(), now());
        let step = AttemptStep {
            attempts_inc: 1,
            next_attempt_at: Some(t),
            last_call_sid: Some("CA1".into()),
            last_result: Some("busy".into()),
            ..AttemptStep::to(DialStatus::Retry, LeaseStep::Release)
        };
        let (filter, update) = attempt_step(c, p, &AttemptGuard::of("A1"), &step, t);
        assert_eq!(
            filter,
            doc! {"campaignId": oid(c), "contactId": oid(p), "lease.attemptId": "A1"}
        );
        assert_eq!(
            update,
            doc! {
                "$unset": {"lease": ""},
                "$inc": {"attempts": 1_i64},
                "$set": {
                    "status": "retry",
                    "updatedAt": d(t),
                    "nextAttemptAt": d(t),
                    "lastCallSid": "CA1",
                    "lastResult": "busy",
                },
            }
        );
    }

    #[test]
    fn a_takeover_also_needs_the_lease_expired() {
        let (c, p, t) = (ObjectId::new(), ObjectId::new(), now());
        let guard = AttemptGuard {
            attempt_id: "A1".into(),
            expired_by: Some(t),
        };
        let step = AttemptStep::to(
            DialStatus::Dialing,
            LeaseStep::Renew {
                owner: "host-2".into(),
                expires_at: t,
            },
        );
        let (filter, update) = attempt_step(c, p, &guard, &step, t);
        assert_eq!(
            filter,
            doc! {
                "campaignId": oid(c), "contactId": oid(p), "lease.attemptId": "A1",
                "lease.expiresAt": {"$lte": d(t)},
            }
        );
        assert_eq!(
            update,
            doc! {"$set": {
                "status": "dialing", "updatedAt": d(t),
                "lease.owner": "host-2", "lease.expiresAt": d(t),
            }}
        );
        let skip = AttemptStep {
            skip_reason: Some(SkipReason::DoNotCall),
            ..AttemptStep::to(DialStatus::Skipped, LeaseStep::Release)
        };
        let (_, update) = attempt_step(c, p, &AttemptGuard::of("A1"), &skip, t);
        assert_eq!(
            update
                .get_document("$set")
                .expect("$set")
                .get_str("skipReason"),
            Ok("do-not-call")
        );
    }

    #[test]
    fn the_runner_lease_is_taken_only_while_active_and_free() {
        let (id, t) = (ObjectId::new(), now());
        let (filter, update) = hold_runner(id, "host-1", t, t, Some(t));
        assert_eq!(
            filter,
            doc! {
                "_id": oid(id),
                "$and": [
                    {"status": "active"},
                    {"$or": [
                        {"runner": Bson::Null},
                        {"runner.owner": "host-1"},
                        {"runner.expiresAt": {"$lte": d(t)}},
                    ]},
                ],
            }
        );
        assert_eq!(
            update,
            doc! {"$set": {
                "runner": {"owner": "host-1", "expiresAt": d(t)},
                "updatedAt": d(t),
                "lastExecuted": d(t),
            }}
        );
    }
}
