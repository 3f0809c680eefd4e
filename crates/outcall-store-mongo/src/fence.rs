//! The documents of a campaign's dial fence: the marks of dials in flight, kept in the
//! campaign (`dials.<attemptId>`), that pause and stop wait out across processes.
//! The rules are [`Campaign::open_dial`], [`Campaign::renew_runner`] and
//! [`Campaign::close_dial`]; these filters and updates write them atomically.
//!
//! [`Campaign::open_dial`]: outcall_domain::campaign::Campaign::open_dial
//! [`Campaign::renew_runner`]: outcall_domain::campaign::Campaign::renew_runner
//! [`Campaign::close_dial`]: outcall_domain::campaign::Campaign::close_dial

use bson::{Document, doc};
use outcall_domain::ObjectId;
use outcall_domain::time::Timestamp;

use crate::mapping::{date, oid};

/// The field of one dial's mark. Attempt ids are hex, so never hold `.` or `$`.
pub(crate) fn mark(dial_id: &str) -> String {
    format!("dials.{dial_id}")
}

/// Opens a dial: the filter of [`crate::dialing::runnable_by`] (active, lease free,
/// expired or `owner`'s), then the lease, the mark and `lastExecuted` in one update.
pub(crate) fn open_dial(
    id: ObjectId,
    owner: &str,
    dial_id: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> (Document, Document) {
    let filter = crate::dialing::runnable_by(id, owner, now);
    let update = doc! {"$set": {
        "runner": {"owner": owner, "expiresAt": date(expires_at)},
        mark(dial_id): {"owner": owner, "expiresAt": date(expires_at)},
        "lastExecuted": date(now),
        "updatedAt": date(now),
    }};
    (filter, update)
}

/// Extends `owner`'s runner lease, whatever the status.
pub(crate) fn renew_runner(
    id: ObjectId,
    owner: &str,
    expires_at: Timestamp,
    now: Timestamp,
) -> (Document, Document) {
    (
        doc! {"_id": oid(id), "runner.owner": owner},
        doc! {"$set": {"runner.expiresAt": date(expires_at), "updatedAt": date(now)}},
    )
}

/// Extends `owner`'s mark of a dial, whatever the status.
pub(crate) fn renew_dial(
    id: ObjectId,
    owner: &str,
    dial_id: &str,
    expires_at: Timestamp,
    now: Timestamp,
) -> (Document, Document) {
    let field = mark(dial_id);
    (
        doc! {"_id": oid(id), format!("{field}.owner"): owner},
        doc! {"$set": {format!("{field}.expiresAt"): date(expires_at), "updatedAt": date(now)}},
    )
}

/// Removes a dial's mark. `$unset` alone (see [`crate::dialing::release_runner`]).
pub(crate) fn close_dial(id: ObjectId, dial_id: &str) -> (Document, Document) {
    (doc! {"_id": oid(id)}, doc! {"$unset": {mark(dial_id): ""}})
}

/// Sets `updatedAt` after an `$unset`.
pub(crate) fn touched(id: ObjectId, now: Timestamp) -> (Document, Document) {
    (
        doc! {"_id": oid(id)},
        doc! {"$set": {"updatedAt": date(now)}},
    )
}

/// Removes a mark that expired by `now` (its process died mid-dial), and only then.
pub(crate) fn prune_dial(id: ObjectId, dial_id: &str, now: Timestamp) -> (Document, Document) {
    let field = mark(dial_id);
    (
        doc! {"_id": oid(id), format!("{field}.expiresAt"): {"$lte": date(now)}},
        doc! {"$unset": {field: ""}},
    )
}

#[cfg(test)]
mod tests {
    use outcall_domain::time::now;

    use super::*;

    #[test]
    fn a_dial_opens_under_the_runner_lease_rules_and_marks_itself() {
        let (id, t) = (ObjectId::new(), now());
        let (filter, update) = open_dial(id, "host-1", "a1", t, t);
        let (hold, _) = crate::dialing::hold_runner(id, "host-1", t, t, None);
        assert_eq!(filter, hold);
        let set = update.get_document("$set").expect("$set");
        assert_eq!(
            set.get_document("dials.a1").expect("mark"),
            &doc! {"owner": "host-1", "expiresAt": date(t)}
        );
        assert_eq!(
            set.get("lastExecuted"),
            Some(&bson::Bson::DateTime(date(t)))
        );
    }

    #[test]
    fn renewals_and_closing_name_only_their_own_mark() {
        let (id, t) = (ObjectId::new(), now());
        let (filter, _) = renew_dial(id, "host-1", "a1", t, t);
        assert_eq!(filter, doc! {"_id": oid(id), "dials.a1.owner": "host-1"});
        let (filter, _) = prune_dial(id, "a1", t);
        assert_eq!(
            filter,
            doc! {"_id": oid(id), "dials.a1.expiresAt": {"$lte": date(t)}}
        );
        let (_, update) = close_dial(id, "a1");
        assert_eq!(
            update.get_document("$unset").expect("$unset"),
            &doc! {"dials.a1": ""}
        );
    }
}
