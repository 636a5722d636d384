"""The order site's MongoDB documents: database `orders`, collections `orders` and `idempotency_keys`.

An order document holds the order, its status, the history of the events applied to it (and their
ids in `applied`), and the event it caused (`order_placed`, sent through the outbox).
"""

import functools
from dataclasses import dataclass
from datetime import UTC, datetime

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from common.mongo import bulk_write, collection

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
    documents = list(orders().find(query, {"history": 0, "applied": 0, "events": 0}, sort=[("created_at", DESCENDING)],
                                   skip=skip, limit=limit))
    return documents, orders().count_documents(query)


@dataclass(frozen=True)
class OrderChange:
    """An event to record in an order's history, and the status it leads to (None: the status stays)."""

    order_id: str
    record: dict
    status: str | None
    reason: str | None


def orders_apply(changes: list[OrderChange]) -> list[str]:
    """Record each event in its order's history once, moving the status up (never down, never off a final one).

    No read first: each write is conditional on what it must not overwrite, so it is right whoever else
    writes the order, and a batch takes a few round trips. First, per event, the write that moves the
    status (if the event is new and the status below it), or that only records it (for an event that
    moves nothing). Events can overtake each other across topics: where a status did not move, a second
    pass records the late event without it. Returns the ids of orders that do not exist.
    """
    now = datetime.now(UTC)
    moving = [change for change in changes if change.status is not None]
    applied = bulk_write(orders(), [_moves_status(change, now) if change.status else _records_only(change, now)
                                    for change in changes])
    if applied < len(changes):  # some did not move the status (late, or redelivered): record the late ones
        applied += bulk_write(orders(), [_records_only(change, now) for change in moving])
    if applied == len(changes):
        return []
    # Some events were redelivered, or name an order that does not exist: find out which.
    return [change.order_id for change in changes if order_get(change.order_id, {"_id": 1}) is None]


def _not_yet_applied(change: OrderChange) -> dict:
    return {"_id": change.order_id, "applied": {"$ne": change.record["event_id"]}}


def _moves_status(change: OrderChange, now: datetime) -> UpdateOne:
    moved = {"status": change.status, "status_rank": STATUS_RANK[change.status],
             "final": change.status in FINAL_STATUSES, "updated_at": now}
    if change.reason:
        moved["reason"] = change.reason
    return UpdateOne({**_not_yet_applied(change), "final": False, "status_rank": {"$lt": STATUS_RANK[change.status]}},
                     {"$set": moved, "$push": {"history": {**change.record, "status": change.status},
                                               "applied": change.record["event_id"]}})


def _records_only(change: OrderChange, now: datetime) -> UpdateOne:
    return UpdateOne(_not_yet_applied(change), {"$set": {"updated_at": now},
                                       "$push": {"history": {**change.record, "status": None},
                                                 "applied": change.record["event_id"]}})


def idempotency_key_claim(*, key: str, fingerprint: str, order_id: str) -> dict:
    """Record which order a client's Idempotency-Key made; return the record that holds (maybe an older one)."""
    record = {"_id": key, "fingerprint": fingerprint, "order_id": order_id, "created_at": datetime.now(UTC)}
    try:
        idempotency_keys().insert_one(record)
        return record
    except DuplicateKeyError:
        return idempotency_keys().find_one({"_id": key})
