"""The order site's MongoDB documents: database `orders`, collections `orders` and `idempotency_keys`.

An order document holds the order and its status, and stays small: FerretDB reads and rewrites a
whole document on every update. Its timeline, the events applied to it, lives in collection `timeline`,
one entry per order and event type (`_id` "<order id>:<event type>"), so a redelivered event is
recorded once, and an order's timeline is a few look-ups by `_id`.
"""

import functools
from datetime import UTC, datetime

from pymongo import ASCENDING, DESCENDING, DeleteOne, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from common.events import TOPICS
from common.mongo import bulk_write, collection, insert_many_new

# A status only moves up this ladder; SHIPPED and CANCELLED are final and never change.
STATUS_RANK = {"PENDING": 0, "PAID": 1, "RESERVED": 2, "SHIPPED": 3, "CANCELLED": 3}
FINAL_STATUSES = {"SHIPPED", "CANCELLED"}


@functools.cache
def orders() -> Collection:
    orders = collection("orders", "orders")
    orders.create_index([("created_at", DESCENDING)])
    orders.create_index([("status", ASCENDING), ("created_at", DESCENDING)])
    orders.create_index([("customer_id", ASCENDING), ("created_at", DESCENDING)])
    return orders


def timeline() -> Collection:
    return collection("orders", "timeline")


def idempotency_keys() -> Collection:
    return collection("orders", "idempotency_keys")  # _id is the key, so the key is unique


def order_insert(document: dict) -> bool:
    """Insert a new order; False if one with that id exists already."""
    try:
        orders().insert_one(document)
        return True
    except DuplicateKeyError:
        return False


def order_get(order_id: str, projection: dict | None = None) -> dict | None:
    return orders().find_one({"_id": order_id}, projection)


def orders_page(*, status: str | None, customer_id: str | None, skip: int, limit: int) -> tuple[list[dict], int]:
    query = {key: value for key, value in {"status": status, "customer_id": customer_id}.items() if value}
    documents = list(orders().find(query, None, sort=[("created_at", DESCENDING)],
                                   skip=skip, limit=limit))
    return documents, orders().count_documents(query)


def orders_move(moves: dict[str, tuple[str, str | None]]) -> bool:
    """Move each order up to a status, with its reason: {order id: (status, reason)}. Never down, never off a
    final status: each write is conditional on that, so it needs no read first and a redelivered event changes
    nothing. True if every order moved (False: some were there already, or beyond, or do not exist)."""
    now = datetime.now(UTC)
    writes = [
        UpdateOne({"_id": order_id, "final": False, "status_rank": {"$lt": STATUS_RANK[status]}},
                  {"$set": {"status": status, "status_rank": STATUS_RANK[status], "final": status in FINAL_STATUSES,
                            "updated_at": now, **({"reason": reason} if reason else {})}})
        for order_id, (status, reason) in moves.items()
    ]
    return bulk_write(orders(), writes) == len(writes)


def orders_missing(order_ids: list[str]) -> list[str]:
    return [order_id for order_id in order_ids if order_get(order_id, {"_id": 1}) is None]


def timeline_add(entries: list[dict]) -> None:
    """Record events in their orders' timelines; one already there (a redelivered event) is skipped."""
    insert_many_new(timeline(), [{"_id": f"{e['order_id']}:{e['event_type']}", **e} for e in entries])


def timeline_remove(order_ids: list[str]) -> None:
    """Forget what was recorded for orders that turned out not to exist."""
    bulk_write(timeline(), [DeleteOne({"_id": f"{order_id}:{event_type}"})
                            for order_id in order_ids for event_type in TOPICS])


def timeline_of(order_id: str) -> list[dict]:
    """The events recorded for an order, in the order they were applied."""
    entries = [timeline().find_one({"_id": f"{order_id}:{event_type}"}) for event_type in TOPICS]
    return sorted((e for e in entries if e), key=lambda e: (e["applied_at"], e["occurred_at"]))


def idempotency_key_claim(*, key: str, fingerprint: str, order_id: str) -> dict:
    """Record which order a client's Idempotency-Key made; return the record that holds (maybe an older one)."""
    record = {"_id": key, "fingerprint": fingerprint, "order_id": order_id, "created_at": datetime.now(UTC)}
    try:
        idempotency_keys().insert_one(record)
        return record
    except DuplicateKeyError:
        return idempotency_keys().find_one({"_id": key})
