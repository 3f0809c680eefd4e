//! The documents of the campaign engine's atomic operations: the runner lease of a
//! campaign, the claim of a contact, and each transition of an attempt (decided by
//! `outcall_domain::attempt`, persisted here as one compare-and-set). Pure functions, so
//! tests pin exactly what is sent: a wrong operator here dials someone twice.

use bson::{Bson, Document, doc};
use outcall_domain::ObjectId;
use outcall_domain::attempt::claim_step;
use outcall_domain::campaign_contact::{AttemptGuard, AttemptStep, Claim, Field, LeaseStep, Stage};
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

/// The claim of the next due contact: filter, update and the order that picks it. The
/// update is the attempt machine's claim step, so it also clears the previous
/// attempt's call and dial mark.
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
    let update = step_update(&claim_step(claim), now);
    let sort = doc! {"priority": -1, "nextAttemptAt": 1, "createdAt": 1, "_id": 1};
    (filter, update, sort)
}

/// What a stage means in stored fields (`null` also matches a missing field).
fn stage_filter(stage: Stage, filter: &mut Document) {
    let set = || doc! {"$ne": Bson::Null};
    match stage {
        Stage::Waiting => {
            filter.insert("status", doc! {"$in": ["pending", "retry"]});
        }
        Stage::Claimed => {
            filter.insert("status", "dialing");
            filter.insert("dialledAt", Bson::Null);
        }
        Stage::Sent => {
            filter.insert("status", "dialing");
            filter.insert("dialledAt", set());
            filter.insert("lastCallSid", Bson::Null);
        }
        Stage::Placed => {
            filter.insert("status", "dialing");
            filter.insert("dialledAt", set());
            filter.insert("lastCallSid", set());
        }
        Stage::Final => {
            filter.insert(
                "status",
                doc! {"$in": ["completed", "failed", "skipped", "cancelled"]},
            );
        }
    }
}

/// One transition of an attempt as a compare-and-set: the filter matches only the
/// stage and the lease (attempt id and owner) the machine read; the update is its step.
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
    };
    stage_filter(guard.stage, &mut filter);
    match &guard.lease {
        Some(key) => {
            filter.insert("lease.attemptId", key.attempt_id.as_str());
            filter.insert("lease.owner", key.owner.as_str());
            if let Some(t) = guard.expired_by {
                filter.insert("lease.expiresAt", doc! {"$lte": date(t)});
            }
        }
        None => {
            filter.insert("lease", Bson::Null);
        }
    }
    (filter, step_update(step, now))
}

/// The update document of a step: exactly [`AttemptStep::apply`].
fn step_update(step: &AttemptStep, now: Timestamp) -> Document {
    let mut set = doc! {"status": status_name(&step.status), "updatedAt": date(now)};
    let mut unset = Document::new();
    match &step.lease {
        LeaseStep::Keep => {}
        LeaseStep::Take(lease) => {
            set.insert(
                "lease",
                doc! {
                    "owner": &lease.owner,
                    "attemptId": &lease.attempt_id,
                    "expiresAt": date(lease.expires_at),
                },
            );
        }
        LeaseStep::Renew { owner, expires_at } => {
            set.insert("lease.owner", owner.as_str());
            set.insert("lease.expiresAt", date(*expires_at));
        }
        LeaseStep::Release => {
            unset.insert("lease", "");
        }
    }
    if let Some(t) = step.next_attempt_at {
        set.insert("nextAttemptAt", date(t));
    }
    match &step.last_call_sid {
        Field::Keep => {}
        Field::Set(sid) => {
            set.insert("lastCallSid", sid.as_str());
        }
        Field::Clear => {
            unset.insert("lastCallSid", "");
        }
    }
    if let Some(r) = &step.last_result {
        set.insert("lastResult", r.as_str());
    }
    if let Some(reason) = &step.skip_reason {
        set.insert("skipReason", status_name(reason));
    }
    match step.dialled_at {
        Field::Keep => {}
        Field::Set(t) => {
            set.insert("dialledAt", date(t));
        }
        Field::Clear => {
            unset.insert("dialledAt", "");
        }
    }
    let mut update = Document::new();
    if !unset.is_empty() {
        update.insert("$unset", unset);
    }
    if step.attempts_inc != 0 {
        update.insert("$inc", doc! {"attempts": step.attempts_inc});
    }
    update.insert("$set", set);
    update
}

#[cfg(test)]
mod tests {
    use super::*;
    use outcall_domain::attempt::{Attempt, Event};
    use outcall_domain::campaign::CampaignSettings;
    use outcall_domain::campaign_contact::{CampaignContact, LeaseKey, SkipReason};
    use outcall_domain::time::now;

    fn d(t: Timestamp) -> Bson {
        Bson::DateTime(date(t))
    }

    fn claim(owner: &str, attempt: &str, t: Timestamp) -> Claim {
        Claim {
            owner: owner.into(),
            attempt_id: attempt.into(),
            now: t,
            expires_at: t + chrono::Duration::seconds(60),
        }
    }

    #[test]
    fn claim_takes_a_due_contact_and_forgets_the_previous_attempts_call() {
        let (c, t) = (ObjectId::new(), now());
        let later = t + chrono::Duration::seconds(60);
        let (filter, update, sort) = claim_contact(c, &claim("host-1", "A1", t), t);
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
                "$unset": {"lastCallSid": "", "dialledAt": ""},
            }
        );
        assert_eq!(
            sort,
            doc! {"priority": -1, "nextAttemptAt": 1, "createdAt": 1, "_id": 1}
        );
    }

    /// A contact of campaign `c` whose attempt A1 (owned by host-1) was sent.
    fn sent(t: Timestamp) -> CampaignContact {
        let mut cc = CampaignContact::new(ObjectId::new(), ObjectId::new(), "+14155550100");
        cc.claim(&claim("host-1", "A1", t));
        cc.dialled_at = Some(t);
        cc
    }

    #[test]
    fn a_step_compares_stage_attempt_and_owner_and_releases_at_the_end() {
        let t = now();
        let cc = sent(t);
        let settings = CampaignSettings {
            retry_on: vec!["busy".into()],
            retry_count: 1,
            ..CampaignSettings::default()
        };
        let next = Attempt::of(&cc)
            .transition(Event::Ended {
                call_sid: "CA1",
                outcome: "busy",
                now: t,
                settings: &settings,
            })
            .expect("a sent attempt ends");
        let (filter, update) =
            attempt_step(cc.campaign_id, cc.contact_id, &next.guard, &next.step, t);
        assert_eq!(
            filter,
            doc! {
                "campaignId": oid(cc.campaign_id), "contactId": oid(cc.contact_id),
                "status": "dialing", "dialledAt": {"$ne": Bson::Null}, "lastCallSid": Bson::Null,
                "lease.attemptId": "A1", "lease.owner": "host-1",
            }
        );
        let retry_at = next.step.next_attempt_at.expect("a retry");
        assert_eq!(
            update,
            doc! {
                "$unset": {"lease": "", "dialledAt": ""},
                "$inc": {"attempts": 1_i64},
                "$set": {
                    "status": "retry",
                    "updatedAt": d(t),
                    "nextAttemptAt": d(retry_at),
                    "lastCallSid": "CA1",
                    "lastResult": "busy",
                },
            }
        );
    }

    #[test]
    fn each_stage_has_its_filter() {
        let t = now();
        let mut cc = sent(t);
        cc.last_call_sid = Some("CA1".into());
        let renew = Attempt::of(&cc)
            .transition(Event::Renew { expires_at: t })
            .expect("placed");
        let (filter, _) = attempt_step(cc.campaign_id, cc.contact_id, &renew.guard, &renew.step, t);
        assert_eq!(
            filter.get("lastCallSid"),
            Some(&Bson::Document(doc! {"$ne": Bson::Null}))
        );
        let mut guard = renew.guard.clone();
        guard.stage = Stage::Claimed;
        let (filter, _) = attempt_step(cc.campaign_id, cc.contact_id, &guard, &renew.step, t);
        assert_eq!(filter.get("dialledAt"), Some(&Bson::Null));
        assert_eq!(filter.get("lastCallSid"), None);
        guard.stage = Stage::Waiting;
        guard.lease = None;
        let (filter, _) = attempt_step(cc.campaign_id, cc.contact_id, &guard, &renew.step, t);
        assert_eq!(filter.get("lease"), Some(&Bson::Null));
        assert_eq!(
            filter.get("status"),
            Some(&Bson::Document(doc! {"$in": ["pending", "retry"]}))
        );
        guard.stage = Stage::Final;
        let (filter, _) = attempt_step(cc.campaign_id, cc.contact_id, &guard, &renew.step, t);
        assert_eq!(
            filter.get("status"),
            Some(&Bson::Document(
                doc! {"$in": ["completed", "failed", "skipped", "cancelled"]}
            ))
        );
    }

    #[test]
    fn a_takeover_also_needs_the_lease_expired() {
        let t = now();
        let cc = sent(t);
        let expiry = cc.lease.as_ref().expect("leased").expires_at;
        let next = Attempt::of(&cc)
            .transition(Event::TakeOver {
                owner: "host-2",
                now: expiry,
                expires_at: expiry,
            })
            .expect("expired");
        assert_eq!(
            next.guard.lease,
            Some(LeaseKey {
                attempt_id: "A1".into(),
                owner: "host-1".into()
            })
        );
        let (filter, update) =
            attempt_step(cc.campaign_id, cc.contact_id, &next.guard, &next.step, t);
        assert_eq!(
            filter,
            doc! {
                "campaignId": oid(cc.campaign_id), "contactId": oid(cc.contact_id),
                "status": "dialing", "dialledAt": {"$ne": Bson::Null}, "lastCallSid": Bson::Null,
                "lease.attemptId": "A1", "lease.owner": "host-1",
                "lease.expiresAt": {"$lte": d(expiry)},
            }
        );
        assert_eq!(
            update,
            doc! {"$set": {
                "status": "dialing", "updatedAt": d(t),
                "lease.owner": "host-2", "lease.expiresAt": d(expiry),
            }}
        );
        let mut claimed = cc.clone();
        claimed.dialled_at = None;
        let skip = Attempt::of(&claimed)
            .transition(Event::Skip(SkipReason::DoNotCall))
            .expect("claimed");
        let (_, update) = attempt_step(cc.campaign_id, cc.contact_id, &skip.guard, &skip.step, t);
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
