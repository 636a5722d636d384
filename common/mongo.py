"""The one MongoDB client of a process, and the collections the store modules use.

Writes go through `Collection`, which on FerretDB (the no-Docker store) lets the processes of this
machine write to one database one at a time. FerretDB v1 keeps each database in one SQLite file
and applies an update as read, change, write back, without isolation. Measured here: 1,200
concurrent `$inc` on one document left 368 (lost updates), and two writers on one database fell
from ~800 to ~40 updates/s, with stalls of over a second, as SQLite's lock waits back off. Taking
turns through a file lock fixes both, and costs nothing on MongoDB, where it is skipped.
"""

import contextlib
import fcntl
import functools
import hashlib

import pymongo.collection
from django.conf import settings
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    NetworkTimeout,
    ServerSelectionTimeoutError,
)

from common import fencing

# Errors that mean "the store is not reachable right now": retry, never skip the message.
TRANSIENT_ERRORS = (AutoReconnect, ConnectionFailure, ExecutionTimeout, NetworkTimeout, ServerSelectionTimeoutError)


@functools.cache
def client() -> MongoClient:
    # pymongo pools connections and is thread-safe: one client per process is the intended use.
    return MongoClient(settings.MONGODB_URI, tz_aware=True, serverSelectionTimeoutMS=5000, appname=settings.SERVICE)


def database(name: str) -> Database:
    return client()[name]


def collection(database_name: str, name: str) -> "Collection":
    return Collection(database(database_name), name)


def insert_or_get(collection: "Collection", document: dict) -> dict:
    """Insert a document keyed by a natural id, or return the one already there (one per key, however often)."""
    try:
        collection.insert_one(document)
        return document
    except DuplicateKeyError:
        return collection.find_one({"_id": document["_id"]})


DUPLICATE_KEY = 11000


def insert_many_new(collection: "Collection", documents: list[dict]) -> list[str]:
    """Insert a batch of documents keyed by natural ids, in one round trip; return the ids that existed already.

    Unordered, so a key that exists (a redelivered event's result) is skipped, not fatal.
    """
    if not documents:
        return []
    try:
        collection.insert_many(documents, ordered=False)
        return []
    except BulkWriteError as error:
        if any(failure["code"] != DUPLICATE_KEY for failure in error.details["writeErrors"]):
            raise
        return [documents[failure["index"]]["_id"] for failure in error.details["writeErrors"]]


def insert_or_get_many(collection: "Collection", documents: list[dict]) -> list[dict]:
    """`insert_or_get` for a batch: the documents as stored, in order (only the ones that existed are read back)."""
    existed = set(insert_many_new(collection, documents))
    return [collection.find_one({"_id": doc["_id"]}) if doc["_id"] in existed else doc for doc in documents]


# FerretDB 1.24 hangs for good on an update command of 100 or more statements (each statement's cursor stays
# open until the command ends, and its SQLite pool has 100 connections), so bulk writes go in smaller commands.
# Small ones: a command holds its database's write turn, and a request waiting behind 50 updates waited ~50 ms
# (POST p99 at 50 orders/s: 106 ms with 50, 52 ms with 16; throughput the same within the noise).
BULK_CHUNK = 16


def bulk_write(collection: "Collection", requests: list) -> int:
    """Run the write requests (ordered) in commands of at most BULK_CHUNK; return how many documents matched."""
    matched = 0
    for start in range(0, len(requests), BULK_CHUNK):
        matched += collection.bulk_write(requests[start:start + BULK_CHUNK]).matched_count
    return matched


@functools.cache
def _store_isolates_writes() -> bool:
    if settings.MONGODB_SERIALIZE_WRITES != "auto":
        return settings.MONGODB_SERIALIZE_WRITES == "no"
    return "ferretdbVersion" not in client().admin.command("buildInfo")


@contextlib.contextmanager
def write_turn(database_name: str):
    """This process's turn to write to the database (yields the lock file's path; None where the store needs none)."""
    if _store_isolates_writes():
        yield None
        return
    name = hashlib.sha256(f"{settings.MONGODB_URI} {database_name}".encode()).hexdigest()[:32]
    path = settings.STATE_DIR / "locks" / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, even if the process dies
        yield path


def _taking_turns(write):
    def taking_turns(self, *args, **kwargs):
        with write_turn(self.database.name):
            return write(self, *args, **kwargs)

    return taking_turns


_Pymongo = pymongo.collection.Collection


class Collection(_Pymongo):
    """A pymongo collection whose writes take turns per database where the store needs it (see above), and whose
    updates and deletes inside a consumer's handler are fenced against a newer owner of its partitions
    (common.fencing): a write that matched nothing because of that raises fencing.Fenced."""

    insert_one = _taking_turns(_Pymongo.insert_one)
    insert_many = _taking_turns(_Pymongo.insert_many)
    create_index = _taking_turns(_Pymongo.create_index)
    _update_one = _taking_turns(_Pymongo.update_one)
    _find_one_and_update = _taking_turns(_Pymongo.find_one_and_update)
    _delete_one = _taking_turns(_Pymongo.delete_one)
    _bulk_write = _taking_turns(_Pymongo.bulk_write)

    def update_one(self, filter, update, **kwargs):
        result = self._update_one(*fencing.guard(filter, update), **kwargs)
        if not result.matched_count:
            fencing.check(self, [filter])
        return result

    def find_one_and_update(self, filter, update, **kwargs):
        try:
            found = self._find_one_and_update(*fencing.guard(filter, update), **kwargs)
        except DuplicateKeyError:  # an upsert that missed its document because a newer epoch wrote it
            fencing.check(self, [filter])
            raise
        if found is None:
            fencing.check(self, [filter])
        return found

    def delete_one(self, filter, **kwargs):
        result = self._delete_one(fencing.guard(filter)[0], **kwargs)
        if not result.deleted_count:
            fencing.check(self, [filter])
        return result

    def bulk_write(self, requests, **kwargs):
        result = self._bulk_write([fencing.guard_request(request) for request in requests], **kwargs)
        if result.matched_count + result.deleted_count + result.inserted_count + result.upserted_count < len(requests):
            fencing.check(self, [request._filter for request in requests if hasattr(request, "_filter")])
        return result
