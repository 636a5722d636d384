"""The one MongoDB client of a process, and the collections the store modules use.

Every write is a single-document atomic operation, as on MongoDB; the FerretDB that manage_all.sh builds
applies them atomically too (infra/ferretdb/, patch 0003), so the processes need no turns of their own.
Updates and deletes made inside a consumer's handler are fenced against a newer owner of its partitions
(common.fencing).
"""

import contextlib
import fcntl
import functools

import pymongo.collection
from django.conf import settings
from pymongo import DeleteMany, MongoClient, UpdateMany
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
    stored = find_by_ids(collection, list(existed))
    return [stored.get(doc["_id"]) if doc["_id"] in existed else doc for doc in documents]


def find_by_ids(collection: "Collection", ids: list, projection: dict | None = None) -> dict:
    """The documents with these ids that exist, in one lookup by `_id` (an index lookup on both stores, FerretDB's
    patch 0005): {id: document}."""
    return {doc["_id"]: doc for doc in collection.find({"_id": {"$in": ids}}, projection)} if ids else {}


def bulk_write(collection: "Collection", requests: list) -> int:
    """Run the write requests (ordered) in one command; return how many documents matched (0 for none)."""
    return collection.bulk_write(requests).matched_count if requests else 0


def wait_while_held(database_name: str) -> None:
    """Test stacks only (ORDERPIPE_WRITE_HOLDS): wait while a test holds the database's writes.

    tests/faults/test_zombie.py freezes a consumer exactly between reading and writing: it takes an exclusive
    lock on `holds/<database>.lock` in the state folder, sees the consumer wait for it here, and stops it.
    """
    if not settings.MONGODB_WRITE_HOLDS:
        return
    try:
        hold = open(settings.STATE_DIR / "holds" / f"{database_name}.lock")
    except FileNotFoundError:  # nothing held
        return
    with hold:
        fcntl.flock(hold, fcntl.LOCK_SH)  # released when the file closes


_Pymongo = pymongo.collection.Collection


@contextlib.contextmanager
def _checked_on(error: type[Exception], collection: "Collection", filters: list[dict]):
    """A write that fails with `error` may be an upsert that missed its document because a newer epoch wrote it
    (the insert then meets the document's key): raise fencing.Fenced if so, else the error."""
    try:
        yield
    except error:
        fencing.check(collection, filters)
        raise


class Collection(_Pymongo):
    """A pymongo collection whose updates and deletes inside a consumer's handler are fenced against a newer owner
    of its partitions (common.fencing). A write to one document, named by its `_id`, that matched nothing because
    of that raises fencing.Fenced; a write to many skips the documents a newer owner wrote, silently (how many it
    should have matched is unknown). A replacement of a whole document raises fencing.Unfenceable anywhere; in a
    handler, so do an upsert that does not name its document's `_id` and an update pipeline."""

    def update_one(self, filter, update, upsert=False, *args, **kwargs):
        wait_while_held(self.database.name)
        guarded = fencing.guard(filter, update, upsert)
        with _checked_on(DuplicateKeyError, self, [filter]):
            result = super().update_one(*guarded, upsert, *args, **kwargs)
        if not result.matched_count:
            fencing.check(self, [filter])
        return result

    def find_one_and_update(self, filter, update, projection=None, sort=None, upsert=False, *args, **kwargs):
        wait_while_held(self.database.name)
        guarded = fencing.guard(filter, update, upsert)
        with _checked_on(DuplicateKeyError, self, [filter]):
            found = super().find_one_and_update(*guarded, projection, sort, upsert, *args, **kwargs)
        if found is None:
            fencing.check(self, [filter])
        return found

    def delete_one(self, filter, *args, **kwargs):
        wait_while_held(self.database.name)
        result = super().delete_one(fencing.guard(filter)[0], *args, **kwargs)
        if not result.deleted_count:
            fencing.check(self, [filter])
        return result

    def find_one_and_delete(self, filter, *args, **kwargs):
        wait_while_held(self.database.name)
        found = super().find_one_and_delete(fencing.guard(filter)[0], *args, **kwargs)
        if found is None:
            fencing.check(self, [filter])
        return found

    def update_many(self, filter, update, upsert=False, *args, **kwargs):
        wait_while_held(self.database.name)
        guarded = fencing.guard(filter, update, upsert)
        with _checked_on(DuplicateKeyError, self, [filter]):
            return super().update_many(*guarded, upsert, *args, **kwargs)

    def delete_many(self, filter, *args, **kwargs):
        wait_while_held(self.database.name)
        return super().delete_many(fencing.guard(filter)[0], *args, **kwargs)

    def replace_one(self, *args, **kwargs):
        fencing.refuse("replace_one")

    def find_one_and_replace(self, *args, **kwargs):
        fencing.refuse("find_one_and_replace")

    def bulk_write(self, requests, *args, **kwargs):
        wait_while_held(self.database.name)
        filters = [request._filter for request in requests if hasattr(request, "_filter")]
        with _checked_on(BulkWriteError, self, filters):
            result = super().bulk_write([fencing.guard_request(request) for request in requests], *args, **kwargs)
        written = result.matched_count + result.deleted_count + result.inserted_count + result.upserted_count
        # a request for many documents can make up the count for a fenced one: then look at each one's fence
        if written < len(requests) or any(isinstance(request, UpdateMany | DeleteMany) for request in requests):
            fencing.check(self, filters)
        return result
