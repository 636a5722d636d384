"""The patched FerretDB answers exactly as upstream v1.24.2 does: the same random operations, on documents with
arrays, missing fields, nulls, nested documents and ints and strings mixed in one field, sent to both builds
(fresh processes of each, started here), must give the same answers, errors and final documents. This is what
lets a store patch change how an answer is found (an index, a pushdown) without fear of changing the answer.

One client at a time: upstream loses concurrent updates (patch 0003), and that difference is not what this tests.
"""

import os
import socket
import subprocess
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import MongoClient, ReturnDocument
from pymongo.errors import BulkWriteError, ConnectionFailure, OperationFailure

from tests.stack import wait_for

EXAMPLES = int(os.environ.get("ORDERPIPE_DIFFERENTIAL_EXAMPLES", "300"))

FIELDS = ["a", "b", "c"]
scalars = st.one_of(st.integers(-2, 3), st.sampled_from(["", "x", "y"]), st.none(), st.booleans(),
                    st.sampled_from([1.0, 2.5]))
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.fixed_dictionaries({}, optional={"a": scalars}))
ids = st.integers(0, 7)
documents = st.builds(lambda _id, fields: {"_id": _id, **fields}, ids,
                      st.fixed_dictionaries({}, optional={field: values for field in FIELDS}))
paths = st.sampled_from(FIELDS + ["a.a", "_id"])


def condition(path: str):
    operators = st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"])
    return st.one_of(
        st.builds(lambda v: {path: v}, values),
        st.builds(lambda op, v: {path: {op: v}}, operators, scalars),
        st.builds(lambda vs: {path: {"$in": vs}}, st.lists(scalars, max_size=3)),
        st.builds(lambda e: {path: {"$exists": e}}, st.booleans()),
    )


filters = st.one_of(
    st.just({}),
    st.builds(lambda _id: {"_id": _id}, ids),
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
sorts = st.one_of(st.none(), st.tuples(st.sampled_from(FIELDS + ["_id"]), st.sampled_from([1, -1])).map(lambda s: [s]))
# with an int _id, so an upsert inserts that id (a generated ObjectId would differ between the two)
upsert_filters = st.builds(lambda _id, extra: {**extra, "_id": _id}, ids, st.one_of(st.just({}), filters))

operations = st.one_of(
    st.tuples(st.just("insert_many"), st.lists(documents, min_size=1, max_size=6)),
    st.tuples(st.just("find"), filters, sorts, st.integers(0, 3), st.integers(0, 4)),
    st.tuples(st.just("count_documents"), filters, st.integers(0, 2), st.integers(0, 4)),
    st.tuples(st.just("distinct"), st.sampled_from(FIELDS), filters),
    st.tuples(st.just("group"), st.sampled_from(FIELDS), filters),
    st.tuples(st.just("update_one"), filters, updates),
    st.tuples(st.just("update_many"), filters, updates),
    st.tuples(st.just("upsert"), upsert_filters, updates),
    st.tuples(st.just("find_one_and_update"), filters, updates, sorts, st.booleans()),
    st.tuples(st.just("delete_one"), filters),
    st.tuples(st.just("delete_many"), filters),
    st.tuples(st.just("create_index"), st.sampled_from(FIELDS), st.sampled_from([1, -1])),
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
                return collection.create_index([(args[0], args[1])])
    except BulkWriteError as error:
        return "BulkWriteError", sorted((e["index"], e["code"]) for e in error.details["writeErrors"])
    except OperationFailure as error:
        return type(error).__name__, error.code


def answers(client) -> bool:
    try:
        return client.admin.command("ping")["ok"] == 1
    except ConnectionFailure:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """(patched, upstream) collections' database, each in a FerretDB process of its own."""
    binaries = [os.environ.get("ORDERPIPE_FERRETDB_BIN"), os.environ.get("ORDERPIPE_FERRETDB_UPSTREAM_BIN")]
    if not all(binaries):
        pytest.skip("no FerretDB builds here (an external store): ./manage_all.sh test builds both")
    processes, clients = [], []
    for binary in binaries:
        state, port = tmp_path_factory.mktemp(Path(binary).name), free_port()
        (state / "data").mkdir()
        with open(state / "ferretdb.log", "w") as log:
            processes.append(subprocess.Popen(
                [binary, "--handler=sqlite", f"--sqlite-url=file:{state}/data/", f"--listen-addr=127.0.0.1:{port}",
                 f"--state-dir={state}", "--debug-addr=-", "--telemetry=disable", "--log-level=error"],
                stdout=log, stderr=log))
        clients.append(MongoClient(port=port, socketTimeoutMS=30_000, serverSelectionTimeoutMS=1_000))
        wait_for(lambda client=clients[-1]: answers(client), timeout=30, what=f"{binary} to answer")
    yield [client.differential for client in clients]
    for client, process in zip(clients, processes, strict=True):
        client.close()
        process.terminate()
        process.wait(timeout=10)


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operations, min_size=1, max_size=10), seed=st.lists(documents, max_size=8))
def test_the_patched_store_answers_as_upstream_does(stores, seed, ops):
    name = f"c{uuid.uuid4().hex[:8]}"
    patched, upstream = (database[name] for database in stores)
    try:
        for operation in [("insert_many", seed)] * bool(seed) + ops:
            assert answer(patched, operation) == answer(upstream, operation), operation
        assert answer(patched, ("find", {}, None, 0, 0)) == answer(upstream, ("find", {}, None, 0, 0))
    finally:
        patched.drop()
        upstream.drop()
