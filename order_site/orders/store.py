"""The order site's MongoDB documents: database `orders`, collections `orders` and `idempotency_keys`.

An order document holds the order, its status, the history of the events applied to it, and its
outbox (the `order_placed` event until the broker has it).
"""

import functools
from datetime import UTC, datetime

from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from common.mongo import database

# A status only moves up this ladder; SHIPPED and CANCELLED are final and never change.
STATUS_RANK = {"PENDING": 0, "PAID": 1, "RESERVED": 2, "SHIPPED": 3, "CANCELLED": 3}
FINAL_STATUSES = {"SHIPPED", "CANCELLED"}


@functools.cache
def orders() -> Collection:
    collection = database("orders").orders
    collection.create_index([("created_at", DESCENDING)])
    collection.create_index([("status", ASCENDING), ("created_at", DESCENDING)])
    collection.create_index([("customer_id", ASCENDING), ("created_at", DESCENDING)])
    collection.create_index("outbox.occurred_at")
    return collection


def idempotency_keys() -> Collection:
    return database("orders").idempotency_keys  # _id is the key, so the key is unique


def order_insert(document: dict) -> bool:
    """Insert a new order; False if one with that id exists already."""
    try:
        orders().insert_one(document)
        return True
    except DuplicateKeyError:
        return False


def order_get(order_id: str) -> dict | None:
    return orders().find_one({"_id": order_id})


def orders_page(*, status: str | None, customer_id: str | None, skip: int, limit: int) -> tuple[list[dict], int]:
    query = {key: value for key, value in {"status": status, "customer_id": customer_id}.items() if value}
    documents = list(orders().find(query, {"history": 0, "outbox": 0}, sort=[("created_at", DESCENDING)],
                                   skip=skip, limit=limit))
    return documents, orders().count_documents(query)


def order_apply_event(*, order_id: str, record: dict, status: str | None, reason: str | None) -> str:
    """Append an event to the order's history once, moving its status up (never down, never off a final one).

    Returns "applied", "duplicate" (that event is in the history already) or "unknown" (no such order).
    Each update is one atomic single-document write, guarded by the event id, so a redelivered event is a no-op.
    """
    not_yet_applied = {"_id": order_id, "history.event_id": {"$ne": record["event_id"]}}
    now = datetime.now(UTC)
    if status:
        rank = STATUS_RANK[status]
        changes = {"status": status, "status_rank": rank, "final": status in FINAL_STATUSES, "updated_at": now}
        if reason:
            changes["reason"] = reason
        moved = orders().update_one(
            {**not_yet_applied, "final": False, "status_rank": {"$lt": rank}},
            {"$set": changes, "$push": {"history": {**record, "status": status}}},
        )
        if moved.matched_count:
            return "applied"
    # Already at or past that status (events can overtake each other across topics): record it, keep the status.
    kept = orders().update_one(
        not_yet_applied, {"$set": {"updated_at": now}, "$push": {"history": {**record, "status": None}}}
    )
    if kept.matched_count:
        return "applied"
    return "duplicate" if orders().count_documents({"_id": order_id}, limit=1) else "unknown"


def idempotency_key_claim(*, key: str, fingerprint: str, order_id: str) -> dict:
    """Record which order a client's Idempotency-Key made; return the record that holds (maybe an older one)."""
    record = {"_id": key, "fingerprint": fingerprint, "order_id": order_id, "created_at": datetime.now(UTC)}
    try:
        idempotency_keys().insert_one(record)
        return record
    except DuplicateKeyError:
        return idempotency_keys().find_one({"_id": key})
