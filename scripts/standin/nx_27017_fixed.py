"""Runs the nx-27017 MongoDB stand-in with two of its bugs fixed, for outcall's tests.

1. Dates in updates. An update whose `$set` (or `$setOnInsert`, `$max`, ...) carries a
BSON Date goes through neosqlite's SQL fast path, which hands the Python datetime to
sqlite3 as a plain parameter; sqlite3 turns it into the text "2024-05-06 07:08:09.123000",
so the field reads back as a string. MongoDB stores the Date as given
(https://www.mongodb.com/docs/manual/reference/operator/update/set/).
The fix: updates that carry a date skip the fast path and take neosqlite's own
load-apply-save path, which encodes dates as inserts do. That path applied `$inc`,
`$mul`, `$min`, `$max` and `$unset` to top-level fields only (`{$inc: {"stats.calls": 1}}`
made a field named "stats.calls", `{$unset: {"dials.d1": ""}}` removed nothing); in
MongoDB they take dot notation
(https://www.mongodb.com/docs/manual/reference/operator/update/inc/,
https://www.mongodb.com/docs/manual/reference/operator/update/unset/,
https://www.mongodb.com/docs/manual/core/document/#dot-notation), so a dotted one is
applied as the `$set` of its result, or removed before the rest is applied.

2. ObjectIds outside `_id`. A query comparing any field but `_id` to an ObjectId
(`{campaignId: ObjectId(..)}`, `$in`, an array holding it; in `find`, `$match`,
`updateMany`, `deleteMany`, `distinct`) matched nothing: neosqlite rewrote such an
ObjectId to its hex string (so a string holding the hex matched instead), its SQL cannot
compare a stored ObjectId (`$in` walks the stored value's own keys), and `aggregate`,
`count` and `distinct` passed the driver's ObjectId type through unconverted. In MongoDB
equality compares BSON values: an ObjectId matches only an equal ObjectId, on an array
field any element equal to it
(https://www.mongodb.com/docs/manual/tutorial/query-documents/#specify-equality-condition,
https://www.mongodb.com/docs/manual/tutorial/query-arrays/#query-an-array-for-an-element,
https://www.mongodb.com/docs/manual/reference/bson-type-comparison-order/).
The fix: those commands' ObjectIds are converted like the others', ObjectIds stay
ObjectIds in queries and equal only ObjectIds, and a command whose filter or pipeline
holds an ObjectId outside `_id` is matched by neosqlite's Python tier (its own switch
for that, made per thread), which compares them by value. `_id` keeps neosqlite's
handling, which was right.

Nothing else changes; the adapter under test is not touched. Arguments are nx-27017's
own.
"""

import copy
import datetime
import sys
import threading

import neosqlite.collection.query_engine.find_operations as find_operations
import neosqlite.collection.query_helper as query_helper
import neosqlite.collection.query_helper._sql_aggregation as sql_aggregation
import neosqlite.collection.query_helper._sql_query_builder as sql_query_builder
import neosqlite.collection.query_helper._sql_updates as sql_updates
import neosqlite.collection.query_helper.update_operations as update_operations
import neosqlite.collection.query_helper.utils as query_utils
import neosqlite.collection.type_correction as type_correction
import neosqlite.gridfs.gridfs_bucket as gridfs_bucket
from bson import ObjectId as BsonObjectId
from neosqlite.collection.query_helper._sql_updates import SqlUpdatesMixin
from neosqlite.collection.expr_evaluator import ExprEvaluator
from neosqlite.collection.query_engine.query_methods import QueryMethodsMixin
from neosqlite.collection.query_helper._sql_query_builder import SqlQueryBuilderMixin
from neosqlite.collection.query_helper.aggregation import AggregationMixin
from neosqlite.collection.query_helper.update_operations import UpdateOperationsMixin
from neosqlite.collection.sql_translator_unified import SQLClauseBuilder, SQLTranslator
from neosqlite.query_operators import _field_exists, _get_nested_field
from neosqlite.objectid import ObjectId
from nx_27017.handler import NeoSQLiteHandler
from nx_27017.nx_27017 import main
from nx_27017.utils import convert_bson_to_neo_objectids


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

# The load-apply-save path with dot notation for `$inc`, `$mul`, `$min`, `$max`, `$unset`.
_python_update = UpdateOperationsMixin._perform_python_update


def _dotted_as_set(update_spec, doc):
    rest, sets = {}, dict(update_spec.get("$set") or {})
    for op, fields in update_spec.items():
        if op not in ("$inc", "$mul", "$min", "$max") or not isinstance(fields, dict):
            if op != "$set":
                rest[op] = fields
            continue
        flat = {k: v for k, v in fields.items() if "." not in k}
        if flat:
            rest[op] = flat
        for path, arg in fields.items():
            if "." not in path:
                continue
            present = _field_exists(path, doc)
            current = _get_nested_field(path, doc)
            if op == "$inc":
                sets[path] = (current if present else 0) + arg
            elif op == "$mul":
                sets[path] = (current if present else 0) * arg
            elif not present or (op == "$min" and arg < current) or (op == "$max" and arg > current):
                sets[path] = arg
    if sets:
        rest["$set"] = sets
    return rest


def _without_dotted_unsets(update_spec, doc):
    """`update_spec` less its dotted `$unset` fields, and `doc` with those removed."""
    unset = update_spec.get("$unset")
    if not isinstance(unset, dict) or not any("." in k for k in unset):
        return update_spec, doc
    doc = copy.deepcopy(doc)
    for path in (k for k in unset if "." in k):
        *parents, last = path.split(".")
        node = doc
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    flat = {k: v for k, v in unset.items() if "." not in k}
    rest = {op: v for op, v in update_spec.items() if op != "$unset"}
    if flat:
        rest["$unset"] = flat
    return rest, doc


def _perform_python_update(self, doc_id, update_spec, original_doc, *args, **kwargs):
    update_spec = _dotted_as_set(update_spec, original_doc)
    update_spec, start = _without_dotted_unsets(update_spec, original_doc)
    doc, _ = _python_update(self, doc_id, update_spec, start, *args, **kwargs)
    return doc, doc != original_doc


UpdateOperationsMixin._perform_python_update = _perform_python_update


# 2. ObjectIds outside `_id`.

# neosqlite's SQL cannot compare a stored ObjectId; its Python tier can. A command whose
# filter or pipeline holds an ObjectId outside `_id` is matched on the Python tier,
# through neosqlite's own switch for it, made per thread here (the server runs each
# command on a worker thread). Such a command keeps its ObjectIds (`_id`'s too) and
# compares them as BSON does; every other command runs exactly as before.
_tier = threading.local()


def _on_python_tier():
    return getattr(_tier, "python", False)


_normalize_ids = type_correction.normalize_id_query_for_db


def _normalize_keeping_object_ids(query):
    """neosqlite's rewrites of `id` and, off the Python tier, `_id`; ObjectIds kept."""
    if not isinstance(query, dict):
        return query
    out = {}
    for key, value in query.items():
        if key == "id" or (key == "_id" and not _on_python_tier()):
            out.update(_normalize_ids({key: value}))
        elif isinstance(value, dict):
            out[key] = _normalize_keeping_object_ids(value)
        elif isinstance(value, list):
            out[key] = [_normalize_keeping_object_ids(v) for v in value]
        else:
            out[key] = value
    return out


for module in (type_correction, query_helper, sql_query_builder, gridfs_bucket):
    module.normalize_id_query_for_db = _normalize_keeping_object_ids

_object_id_eq = ObjectId.__eq__


def _bson_eq(self, other):
    """On the Python tier, an ObjectId equals an ObjectId, never a string holding its hex."""
    if _on_python_tier() and isinstance(other, str):
        return False
    return _object_id_eq(self, other)


ObjectId.__eq__ = _bson_eq
ObjectId.__ne__ = lambda self, other: not _bson_eq(self, other)

_global_fallback = query_utils.get_force_fallback


def _get_force_fallback():
    return _on_python_tier() or _global_fallback()


# Matching only: how an update is applied to a matched document stays neosqlite's choice.
for module in (query_utils, query_helper, sql_aggregation, find_operations):
    module.get_force_fallback = _get_force_fallback

_translate_match = SQLTranslator.translate_match


def _translate_match_or_python(self, match_spec, *args, **kwargs):
    # neosqlite's other SQL translator, which its switch does not reach.
    if _on_python_tier():
        return None, []
    return _translate_match(self, match_spec, *args, **kwargs)


SQLTranslator.translate_match = _translate_match_or_python

_distinct = QueryMethodsMixin.distinct


def _distinct_on_python(self, key, filter=None, session=None):
    # neosqlite's `distinct` drops a filter its SQL cannot translate; match in Python.
    if not (filter and _on_python_tier()):
        return _distinct(self, key, filter, session=session)
    values = []
    for doc in self.find(filter, session=session):
        value = _get_nested_field(key, doc)
        for item in value if isinstance(value, list) else [value]:
            if item is not None and item not in values:
                values.append(item)
    return values


QueryMethodsMixin.distinct = _distinct_on_python


def _holds_object_id(value):
    """An ObjectId anywhere in a filter or pipeline, except as an `_id` value."""
    if isinstance(value, (ObjectId, BsonObjectId)):
        return True
    if isinstance(value, dict):
        return any(_holds_object_id(v) for k, v in value.items() if k != "_id")
    if isinstance(value, (list, tuple)):
        return any(_holds_object_id(v) for v in value)
    return False


def _filters(doc):
    """The filters of one command section (not the documents it writes)."""
    for key in ("filter", "query"):
        if isinstance(doc.get(key), dict):
            yield doc[key]
    for key in ("updates", "deletes"):
        for op in doc.get(key) or ():
            if isinstance(op, dict) and isinstance(op.get("q"), dict):
                yield op["q"]
    for stage in doc.get("pipeline") or ():
        if isinstance(stage, dict) and isinstance(stage.get("$match"), dict):
            yield stage["$match"]


def _groups_by_document(doc):
    """A `$group` whose `_id` is a document of expressions."""
    return any(
        isinstance(stage, dict)
        and isinstance(stage.get("$group"), dict)
        and _is_document_key(stage["$group"].get("_id"))
        for stage in doc.get("pipeline") or ()
    )


_handle_command = NeoSQLiteHandler.handle_command


def handle_command(self, msg):
    holds = False
    for _kind, doc in msg.get("sections", ()):
        if isinstance(doc, dict):
            # These reached neosqlite with the driver's ObjectIds, which it does not
            # recognise; nx-27017 converts those of the other commands.
            for command, field in (("aggregate", "pipeline"), ("count", "query"), ("distinct", "query")):
                if command in doc and field in doc:
                    doc[field] = convert_bson_to_neo_objectids(doc[field])
            for f in _filters(doc):
                _ne_null_needs_the_field(f)
                holds = holds or _holds_object_id(f)
            holds = holds or _groups_by_document(doc)
    _tier.python = holds
    try:
        return _handle_command(self, msg)
    finally:
        _tier.python = False


NeoSQLiteHandler.handle_command = handle_command


# 3. Smaller departures met on the way, each in the engine's path.

# `{f: {$ne: null}}` matched documents without `f`. In MongoDB it matches only documents
# where `f` exists and is not null, as `{f: null}` matches null and missing alike
# (https://www.mongodb.com/docs/manual/tutorial/query-for-null-fields/). Such a
# condition gets the `$exists: true` it implies.
def _ne_null_needs_the_field(node):
    if isinstance(node, list):
        for v in node:
            _ne_null_needs_the_field(v)
    elif isinstance(node, dict):
        if "$ne" in node and node["$ne"] is None and "$exists" not in node:
            node["$exists"] = True
        for k, v in node.items():
            if k != "$expr":
                _ne_null_needs_the_field(v)


# `{status: "active", $or: [a, b]}` matched documents where `b` held whatever their
# status: one of neosqlite's SQL translators joined the `$or` arms without parentheses,
# so the SQL read `status AND a OR b`. In MongoDB the conditions of a filter are all
# ANDed, an `$or` being one of them
# (https://www.mongodb.com/docs/manual/tutorial/query-documents/#specify-and-as-well-as-or-conditions).
# (It let the engine's runner lease match a paused campaign.) The logical operator's
# SQL is parenthesised.
_logical_condition = SQLClauseBuilder._build_logical_condition


def _parenthesised_logical_condition(self, operator, conditions, *args, **kwargs):
    sql, params = _logical_condition(self, operator, conditions, *args, **kwargs)
    if sql:
        sql = f"({sql})"
    return sql, params


SQLClauseBuilder._build_logical_condition = _parenthesised_logical_condition


# Equality on an indexed array field (`{tags: "vip"}` with an index on `tags`) matched
# only a whole value, not an element, in `find`; in MongoDB it matches an array holding
# the value (https://www.mongodb.com/docs/manual/tutorial/query-arrays/#query-an-array-for-an-element).
# neosqlite's own array form is used for every field.
SqlQueryBuilderMixin._field_has_index = lambda self, field: False


# A `$group` `_id` that is a document of expressions (`{status: "$status", held:
# {$eq: [...]}}`) grouped everything under that literal document. In MongoDB the group
# key is the evaluated document
# (https://www.mongodb.com/docs/manual/reference/operator/aggregation/group/). Such a
# pipeline runs on the Python tier (above), whose `$group` gets the evaluated key.
def _is_document_key(key):
    return isinstance(key, dict) and bool(key) and not any(k.startswith("$") for k in key)


_process_group_stage = AggregationMixin._process_group_stage
_GROUP_KEY = "__outcall_group_key__"


def _process_group_stage_with_document_key(self, group_query, docs):
    key = group_query.get("_id")
    if not _is_document_key(key):
        return _process_group_stage(self, group_query, docs)
    evaluator = ExprEvaluator(data_column="data", db_connection=self.collection.db)
    keyed = []
    for doc in docs:
        doc = dict(doc)
        doc[_GROUP_KEY] = {name: _evaluate(self, evaluator, expr, doc) for name, expr in key.items()}
        keyed.append(doc)
    return _process_group_stage(self, {**group_query, "_id": "$" + _GROUP_KEY}, keyed)


def _evaluate(self, evaluator, expr, doc):
    if isinstance(expr, str) and expr.startswith("$"):
        return self.collection._get_val(doc, expr)
    if isinstance(expr, dict):
        return evaluator._evaluate_expr_python(expr, doc)
    return expr


AggregationMixin._process_group_stage = _process_group_stage_with_document_key

if __name__ == "__main__":
    sys.argv[0] = "nx-27017"
    sys.exit(main())
