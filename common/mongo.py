"""The one MongoDB client of a process. Each site's store module asks it for its own database."""

import functools

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
