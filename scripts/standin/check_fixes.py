"""Checks, through pymongo, that the stand-in behaves as MongoDB documents where
nx_27017_fixed.py fixes it. Exits non-zero naming each check that fails.

    eval "$(scripts/mongo-standin)"
    .venv/mongo-standin/bin/python scripts/standin/check_fixes.py "$OUTCALL_TEST_MONGODB_URI"
"""

import datetime
import sys

from bson import ObjectId
from pymongo import ASCENDING, MongoClient, ReturnDocument

UTC = datetime.timezone.utc


def main(uri):
    client = MongoClient(uri, tz_aware=True)
    db = client["standin_check_%s" % ObjectId()]
    try:
        failed = run(db)
    finally:
        client.drop_database(db.name)
    for name, got, want in failed:
        print(f"FAIL {name}: got {got!r}, want {want!r}")
    print(f"{len(failed)} of the stand-in's fixes failed" if failed else "every fix holds")
    return 1 if failed else 0


def run(db):
    calls, campaigns, contacts = db.calls, db.campaigns, db.contacts
    mine, other = ObjectId(), ObjectId()
    t0 = datetime.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    calls.insert_many([
        {"campaignId": mine, "status": "a", "tags": [mine, other], "n": 1, "at": t0,
         "outcome": "held", "duration": 60, "stats": {"x": 1}},
        {"campaignId": other, "status": "b", "tags": [other], "n": 2,
         "at": t0 + datetime.timedelta(seconds=1)},
        {"campaignId": str(mine), "status": "c", "n": 3},
        {"status": "d", "n": 4, "next": None},
    ])
    a_id = calls.find_one({"status": "a"})["_id"]

    def statuses(cursor):
        return sorted(d["status"] for d in cursor)

    checks = [
        # ObjectIds outside `_id`, in every command that filters.
        ("equality", lambda: statuses(calls.find({"campaignId": mine})), ["a"]),
        ("$in", lambda: statuses(calls.find({"campaignId": {"$in": [mine]}})), ["a"]),
        ("$ne", lambda: statuses(calls.find({"campaignId": {"$ne": mine}})), ["b", "c", "d"]),
        ("array element", lambda: statuses(calls.find({"tags": mine})), ["a"]),
        ("$or", lambda: statuses(calls.find({"$or": [{"campaignId": mine}, {"status": "d"}]})),
         ["a", "d"]),
        ("with _id", lambda: statuses(calls.find({"_id": a_id, "tags": mine})), ["a"]),
        ("count", lambda: calls.count_documents({"campaignId": mine}), 1),
        ("distinct", lambda: sorted(calls.distinct("status", {"tags": other})), ["a", "b"]),
        ("$match and $group",
         lambda: list(calls.aggregate([{"$match": {"campaignId": {"$in": [mine, other]}}},
                                       {"$group": {"_id": None, "n": {"$sum": "$n"}}}])),
         [{"_id": None, "n": 3}]),
        ("updateMany", lambda: calls.update_many({"campaignId": mine}, {"$set": {"u": 1}}).matched_count, 1),
        ("findAndModify",
         lambda: calls.find_one_and_update({"campaignId": mine}, {"$set": {"v": 1}})["status"], "a"),
        # Dates in `$set`, and dot notation on the path that applies them.
        ("$set of a Date, dotted $inc",
         lambda: (calls.update_one({"_id": a_id}, {"$set": {"at": t0}, "$inc": {"stats.x": 2}}),
                  calls.find_one({"_id": a_id}, {"_id": 0, "at": 1, "stats": 1}))[1],
         {"at": t0, "stats": {"x": 3}}),
        ("dotted $unset",
         lambda: (calls.update_one({"_id": a_id}, {"$set": {"at": t0}, "$unset": {"stats.x": ""}}),
                  calls.find_one({"_id": a_id})["stats"])[1], {}),
        # `$ne: null` needs the field.
        ("$ne null", lambda: statuses(calls.find({"at": {"$ne": None}})), ["a", "b"]),
        # `$group` by a document of expressions.
        ("$group by a document",
         lambda: list(calls.aggregate([{"$match": {"campaignId": mine}},
                                       {"$group": {"_id": {"s": "$status", "held": {"$eq": ["$outcome", "held"]}},
                                                   "n": {"$sum": 1}}}])),
         [{"_id": {"s": "a", "held": True}, "n": 1}]),
    ]

    # `$or` beside other conditions (the runner lease of a paused campaign).
    now = datetime.datetime.now(UTC)
    paused = campaigns.insert_one({"status": "paused", "runner": {"owner": "me", "expiresAt": now}}).inserted_id
    checks.append((
        "$or beside other conditions",
        lambda: campaigns.find_one_and_update(
            {"_id": paused, "status": "active",
             "$or": [{"runner": None}, {"runner.owner": "me"}, {"runner.expiresAt": {"$lte": now}}]},
            {"$set": {"lastExecuted": now}}, return_document=ReturnDocument.AFTER),
        None,
    ))

    # An array field under an index.
    contacts.create_index([("tags", ASCENDING)])
    contacts.insert_many([{"tags": ["vip", "x"]}, {"tags": ["x"]}])
    checks.append(("indexed array element", lambda: len(list(contacts.find({"tags": "vip"}).sort("_id", -1).limit(10))), 1))

    failed = []
    for name, run_check, want in checks:
        try:
            got = run_check()
        except Exception as e:  # a server error is a failed check too
            got = f"error: {e}"
        if got != want:
            failed.append((name, got, want))
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
