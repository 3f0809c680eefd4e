"""Runs the nx-27017 MongoDB stand-in with one of its bugs fixed, for outcall's tests.

The bug: an update whose `$set` (or `$setOnInsert`, `$max`, ...) carries a BSON Date goes
through neosqlite's SQL fast path, which hands the Python datetime to sqlite3 as a plain
parameter; sqlite3 turns it into the text "2024-05-06 07:08:09.123000", so the field
reads back as a string. MongoDB stores the Date as given
(https://www.mongodb.com/docs/manual/reference/operator/update/set/).

The fix: updates that carry a date skip the fast path and take neosqlite's own
load-apply-save path, which encodes dates as inserts do. Nothing else changes; the
adapter under test is not touched. Arguments are nx-27017's own.
"""

import datetime
import sys

from neosqlite.collection.query_helper._sql_updates import SqlUpdatesMixin
from nx_27017.nx_27017 import main


def _carries_date(value):
    if isinstance(value, (datetime.datetime, datetime.date)):
        return True
    if isinstance(value, dict):
        return any(_carries_date(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_carries_date(v) for v in value)
    return False


_sql_fast_path = SqlUpdatesMixin._can_use_sql_updates


def _can_use_sql_updates(self, update_spec, doc_id, original_doc=None):
    if _carries_date(update_spec):
        return False
    return _sql_fast_path(self, update_spec, doc_id, original_doc)


SqlUpdatesMixin._can_use_sql_updates = _can_use_sql_updates

if __name__ == "__main__":
    sys.argv[0] = "nx-27017"
    sys.exit(main())
