"""The patched FerretDB answers exactly as upstream v1.24.2 does: the same random operations, on documents with
arrays, missing fields, nulls, nested documents and ints and strings mixed in one field, sent to both builds
(fresh processes of each, started here), must give the same answers, errors and final documents. This is what
lets a store patch change how an answer is found (an index, a pushdown) without fear of changing the answer.

Patch 0004 pushes string equalities, a one-field sort and skip/limit down to SQLite where it can prove the answer
unchanged, so the operations include what exercises those paths and their fallbacks: documents shaped like the
project's orders (a status and a customer from a few strings, a created_at date, and sometimes an odd one out:
missing, an array, another type), strings that JSON escapes or that are not ASCII, finds with one or two string
equalities sorted on those fields with skip and limit, and non-unique compound indexes created before and after
the inserts.

At most 12 documents per collection (12 ids): upstream sorts 12 or fewer documents with an insertion sort,
which keeps equal keys in natural order, as this build's stable sort does; above 12 upstream's order of equal
keys is pdqsort's (see patch 0004).

One client at a time: upstream loses concurrent updates (patch 0003), and that difference is not what this tests.
"""

import os
import uuid
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import MongoClient, ReturnDocument
from pymongo.errors import BulkWriteError, ConnectionFailure, OperationFailure

from bench.store_mix import ferretdb
from tests.stack import wait_for

EXAMPLES = int(os.environ.get("ORDERPIPE_DIFFERENTIAL_EXAMPLES", "300"))

FIELDS = ["a", "b", "c"]
ORDER_FIELDS = ["status", "customer_id", "created_at"]
# characters that JSON escapes (Go's encoder escapes <, > and & too), control characters, NUL, non-ASCII
STRINGS = ["", "x", "y", 'q"', "b\\s", "<a&b>", "\x01\n", "a\x00b", "é", "日本", "\u2028", "\U0001f600"]
DATES = [datetime(2026, 1, 1) + timedelta(seconds=s) for s in range(3)] + [datetime(1969, 12, 31, 23, 59, 59)]
STATUSES = ["PAID", "NEW", "<&>\"é"]
CUSTOMERS = ["c1", "c2", "c\\3"]
MISSING = object()

scalars = st.one_of(st.integers(-2, 3), st.sampled_from(STRINGS), st.none(), st.booleans(),
                    st.sampled_from([1.0, 2.5]), st.sampled_from(DATES))
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.fixed_dictionaries({}, optional={"a": scalars}))
# 12 ids, a few of them strings (the lists of ids that patch 0005 pushes down)
ids = st.one_of(st.integers(0, 7), st.sampled_from(["x", "y", "é", "日本"]))
generic_documents = st.builds(lambda _id, fields: {"_id": _id, **fields}, ids,
                              st.fixed_dictionaries({}, optional={field: values for field in FIELDS}))


def mostly(usual):
    """Usually a value of the field's own type; sometimes missing, an array of them, or any other value."""
    return st.one_of(usual, usual, usual, usual, st.just(MISSING), st.lists(usual, max_size=2), values)


order_documents = st.builds(
    lambda _id, fields: {"_id": _id, **{k: v for k, v in fields.items() if v is not MISSING}}, ids,
    st.fixed_dictionaries({"status": mostly(st.sampled_from(STATUSES)),
                           "customer_id": mostly(st.sampled_from(CUSTOMERS)),
                           "created_at": mostly(st.sampled_from(DATES))},
                          optional={"a": scalars}))
documents = st.one_of(order_documents, order_documents, generic_documents)
paths = st.sampled_from(FIELDS + ORDER_FIELDS + ["a.a", "_id"])
def condition(path: str):
    operators = st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"])
    return st.one_of(
        st.builds(lambda v: {path: v}, values),
        st.builds(lambda op, v: {path: {op: v}}, operators, scalars),
        st.builds(lambda vs: {path: {"$in": vs}}, st.lists(scalars, max_size=3)),
        st.builds(lambda vs: {path: {"$in": vs}}, st.lists(st.sampled_from(STRINGS), max_size=3)),
        st.builds(lambda e: {path: {"$exists": e}}, st.booleans()),
    )


# the list pages' filters: one or two string equalities
equalities = st.one_of(
    st.builds(lambda s: {"status": s}, st.sampled_from(STATUSES + STRINGS)),
    st.builds(lambda c: {"customer_id": c}, st.sampled_from(CUSTOMERS + STRINGS)),
    st.builds(lambda s, c: {"status": s, "customer_id": c}, st.sampled_from(STATUSES), st.sampled_from(CUSTOMERS)),
    st.builds(lambda f, s: {f: s}, st.sampled_from(FIELDS), st.sampled_from(STRINGS)),
)
filters = st.one_of(
    st.just({}),
    equalities,
    equalities,
    st.builds(lambda _id: {"_id": _id}, ids),
    st.builds(lambda some: {"_id": {"$in": some}}, st.lists(ids, max_size=4)),
    paths.flatmap(condition),
    st.lists(paths.flatmap(condition), min_size=2, max_size=3).map(lambda cs: {k: v for c in cs for k, v in c.items()}),
    st.builds(lambda _id, c: {"_id": _id, **c}, ids, paths.flatmap(condition)),
)
updates = st.one_of(
    st.builds(lambda f, v: {"$set": {f: v}}, st.sampled_from(FIELDS), values),
    st.builds(lambda f, n: {"$inc": {f: n}}, st.sampled_from(FIELDS), st.integers(-2, 2)),
    st.builds(lambda f: {"$unset": {f: ""}}, st.sampled_from(FIELDS)),
    st.builds(lambda f, v: {"$push": {f: v}}, st.sampled_from(FIELDS), scalars),
    st.builds(lambda f, v: {"$pull": {f: v}}, st.sampled_from(FIELDS), scalars),
    st.builds(lambda f, v: {"$max": {f: v}}, st.sampled_from(FIELDS), scalars),
    st.builds(lambda f, v: {"$set": {f: v}, "$setOnInsert": {"new": True}}, st.sampled_from(FIELDS), scalars),
)
sorts = st.one_of(st.none(), st.tuples(st.sampled_from(FIELDS + ORDER_FIELDS + ["created_at", "_id"]),
                                       st.sampled_from([1, -1])).map(lambda s: [s]))
# the list pages: newest (or oldest) first, or by status, all or with equalities, with skip and limit
page_sorts = st.tuples(st.sampled_from(["created_at", "created_at", "status", "customer_id"]),
                       st.sampled_from([1, -1])).map(lambda s: [s])
pages = st.tuples(st.just("find"), st.one_of(st.just({}), equalities), page_sorts, st.integers(0, 3),
                  st.integers(0, 4))
# every example ends with these on what its operations left: the list pages' shapes, whole and as a page
FINAL_PAGES = [("find", filter, sort, skip, limit)
               for filter in [{}, {"status": "PAID"}, {"customer_id": "c1"}]
               for sort in [None, [("created_at", -1)], [("created_at", 1)], [("status", 1)]]
               for skip, limit in [(0, 0), (1, 2)]]
# the indexes the sites create, and others
index_keys = st.one_of(
    st.tuples(st.sampled_from(FIELDS + ORDER_FIELDS), st.sampled_from([1, -1])).map(lambda k: [k]),
    st.sampled_from([[("created_at", -1)], [("status", 1), ("created_at", -1)],
                     [("customer_id", 1), ("created_at", -1)], [("status", 1), ("customer_id", 1)],
                     [("a", 1), ("created_at", 1)]]),
)
# with an int _id, so an upsert inserts that id (a generated ObjectId would differ between the two)
upsert_filters = st.builds(lambda _id, extra: {**extra, "_id": _id}, ids, st.one_of(st.just({}), filters))

# a bulk write's update statements, one command (patch 0013 writes what they change in batches): any filter, and,
# twice as often, the consumers' kind: one document by _id each (with 12 ids, often the same one again)
by_id = st.builds(lambda _id, u: {"q": {"_id": _id}, "u": u}, ids, updates)
statements = st.one_of(
    st.builds(lambda f, u: {"q": f, "u": u}, filters, updates),
    st.builds(lambda f, u: {"q": f, "u": u, "multi": True}, filters, updates),
    st.builds(lambda f, u: {"q": f, "u": u, "upsert": True}, upsert_filters, updates),
    by_id,
    by_id,
)

operations = st.one_of(
    st.tuples(st.just("insert_many"), st.lists(documents, min_size=1, max_size=6)),
    st.tuples(st.just("bulk_update"), st.lists(statements, min_size=2, max_size=40)),
    st.tuples(st.just("find"), filters, sorts, st.integers(0, 3), st.integers(0, 4)),
    pages,
    pages,
    st.tuples(st.just("count_documents"), filters, st.integers(0, 2), st.integers(0, 4)),
    st.tuples(st.just("distinct"), st.sampled_from(FIELDS), filters),
    st.tuples(st.just("group"), st.sampled_from(FIELDS), filters),
    st.tuples(st.just("update_one"), filters, updates),
    st.tuples(st.just("update_many"), filters, updates),
    st.tuples(st.just("upsert"), upsert_filters, updates),
    st.tuples(st.just("find_one_and_update"), filters, updates, sorts, st.booleans()),
    st.tuples(st.just("delete_one"), filters),
    st.tuples(st.just("delete_many"), filters),
    st.tuples(st.just("create_index"), index_keys),
    st.tuples(st.just("create_index"), index_keys),
)


def answer(collection, operation) -> str:
    """What a client sees of the operation, types included (1 and 1.0 differ here)."""
    return repr(apply(collection, operation))


def apply(collection, operation):
    """The operation's answer, or the error's class and code."""
    name, *args = operation
    try:
        match name:
            case "insert_many":
                return collection.insert_many(args[0], ordered=False).inserted_ids
            case "find":
                filter, sort, skip, limit = args
                return list(collection.find(filter, sort=sort, skip=skip, limit=limit))
            case "count_documents":
                filter, skip, limit = args
                return collection.count_documents(filter, skip=skip, **({"limit": limit} if limit else {}))
            case "distinct":
                return sorted(map(repr, collection.distinct(args[0], args[1])))
            case "group":
                field, filter = args
                groups = collection.aggregate([{"$match": filter}, {"$group": {"_id": f"${field}", "n": {"$sum": 1}}}])
                return sorted(map(repr, groups))
            case "update_one" | "update_many":
                result = getattr(collection, name)(args[0], args[1])
                return result.matched_count, result.modified_count
            case "bulk_update":  # the command as sent, and its reply as received, told as upstream tells it
                return as_upstream_tells(collection.database.command("update", collection.name, updates=args[0]))
            case "upsert":
                result = collection.update_one(args[0], args[1], upsert=True)
                return result.matched_count, result.modified_count, result.upserted_id
            case "find_one_and_update":
                filter, update, sort, after = args
                return collection.find_one_and_update(
                    filter, update, sort=sort, return_document=ReturnDocument.AFTER if after else ReturnDocument.BEFORE)
            case "delete_one" | "delete_many":
                return getattr(collection, name)(args[0]).deleted_count
            case "create_index":
                return collection.create_index(args[0])
    except BulkWriteError as error:
        return "BulkWriteError", sorted((e["index"], e["code"]) for e in error.details["writeErrors"])
    except OperationFailure as error:
        return type(error).__name__, error.code


def as_upstream_tells(reply: dict) -> dict:
    """An update command's reply with what patch 0014 adds taken out: upstream answers a statement's write error
    alone, at index 0, without the counts of the statements before it, and numbers upserts by count, not by
    statement (the patched build answers as MongoDB does; test_store_conformance.py checks it). The same on
    upstream's own reply."""
    if "writeErrors" in reply:
        return {"ok": reply["ok"], "writeErrors": [{**error, "index": 0} for error in reply["writeErrors"]]}
    if "upserted" in reply:
        return {**reply, "upserted": [{**upsert, "index": n} for n, upsert in enumerate(reply["upserted"])]}
    return reply


def answers(client) -> bool:
    try:
        return client.admin.command("ping")["ok"] == 1
    except ConnectionFailure:
        return False


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """(patched, upstream) collections' database, each in a FerretDB process of its own."""
    binaries = [os.environ.get("ORDERPIPE_FERRETDB_BIN"), os.environ.get("ORDERPIPE_FERRETDB_UPSTREAM_BIN")]
    if not all(binaries):
        pytest.skip("no FerretDB builds here (an external store): ./manage_all.sh test builds both")
    with ExitStack() as running:
        clients = []
        for binary in binaries:
            state = tmp_path_factory.mktemp(Path(binary).name)
            log = running.enter_context(open(state / "ferretdb.log", "w"))
            _, port = running.enter_context(ferretdb(Path(binary), state, log))
            clients.append(running.enter_context(
                MongoClient(port=port, socketTimeoutMS=30_000, serverSelectionTimeoutMS=1_000)))
            wait_for(lambda client=clients[-1]: answers(client), timeout=30, what=f"{binary} to answer")
        yield [client.differential for client in clients]


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operations, min_size=1, max_size=10), seed=st.lists(documents, max_size=12),
       indexes_first=st.lists(index_keys, max_size=2))
def test_the_patched_store_answers_as_upstream_does(stores, seed, indexes_first, ops):
    name = f"c{uuid.uuid4().hex[:8]}"
    patched, upstream = (database[name] for database in stores)
    try:
        first = [("create_index", keys) for keys in indexes_first] + [("insert_many", seed)] * bool(seed)
        for operation in first + ops:
            assert answer(patched, operation) == answer(upstream, operation), operation
        for operation in [("find", {}, None, 0, 0)] + FINAL_PAGES:
            assert answer(patched, operation) == answer(upstream, operation), operation
    finally:
        patched.drop()
        upstream.drop()


def test_a_list_of_ids_answers_in_natural_order(stores):
    """Patch 0005 reads `_id IN (…)` through the _id index, which holds the ids sorted; upstream reads the table
    in insertion order, and so picks the first document of a `find_one` or an `update_one` without a sort."""
    name = f"c{uuid.uuid4().hex[:8]}"
    patched, upstream = (database[name] for database in stores)
    ids = {"_id": {"$in": ["a", "m", "z"]}}
    operations = [("insert_many", [{"_id": "z", "n": 1}, {"_id": "a", "n": 1}, {"_id": "m", "n": 2}]),
                  ("find", ids, None, 0, 0), ("find", ids, None, 1, 1), ("find", ids, [("n", 1)], 0, 0),
                  ("update_one", ids, {"$inc": {"n": 10}}),
                  ("find_one_and_update", ids, {"$set": {"k": 1}}, None, True),
                  ("delete_one", ids), ("find", {}, None, 0, 0)]
    try:
        for operation in operations:
            assert answer(patched, operation) == answer(upstream, operation), operation
        assert [d["_id"] for d in patched.find(ids)] == ["a", "m"]  # z, the first inserted, was deleted
    finally:
        patched.drop()
        upstream.drop()
