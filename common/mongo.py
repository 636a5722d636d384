"""The one MongoDB client of a process. Each site's store module asks it for its own database."""

import contextlib
import fcntl
import functools
import hashlib

from django.conf import settings
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    ExecutionTimeout,
    NetworkTimeout,
    ServerSelectionTimeoutError,
)

# Errors that mean "the store is not reachable right now": retry, never skip the message.
TRANSIENT_ERRORS = (AutoReconnect, ConnectionFailure, ExecutionTimeout, NetworkTimeout, ServerSelectionTimeoutError)


@functools.cache
def client() -> MongoClient:
    # pymongo pools connections and is thread-safe: one client per process is the intended use.
    return MongoClient(settings.MONGODB_URI, tz_aware=True, serverSelectionTimeoutMS=5000, appname=settings.SERVICE)


def database(name: str) -> Database:
    return client()[name]


@functools.cache
def _store_isolates_writes() -> bool:
    if settings.MONGODB_SERIALIZE_WRITES != "auto":
        return settings.MONGODB_SERIALIZE_WRITES == "no"
    return "ferretdbVersion" not in client().admin.command("buildInfo")


@contextlib.contextmanager
def one_writer_at_a_time(document: str):
    """Around an update of a document that several processes update (a product's stock).

    MongoDB isolates each single-document write, so there this does nothing. FerretDB v1 applies an
    update as read, change, write back, without isolation: two processes updating one document at
    once can lose an update (1,200 concurrent `$inc` left 368 here). On it, the writers of one
    document take turns through a file lock, which holds because FerretDB runs on this one machine.
    """
    if _store_isolates_writes():
        yield
        return
    path = settings.STATE_DIR / "locks" / f"{hashlib.sha256(document.encode()).hexdigest()[:32]}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, even if the process dies
        yield
