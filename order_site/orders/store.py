"""The order site's MongoDB documents: database `orders`, collections `orders` and `idempotency_keys`.

An order document holds the order, its status, the history of the events applied to it, and its
outbox (the `order_placed` event until the broker has it).
"""

import functools
from datetime import UTC, datetime

from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from common.mongo import collection

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
    Read, decide, then one atomic write by _id. That is safe because one consumer at a time owns an
    order's events (they share its partition), and redelivered events come one after the other.
    """
    order = orders().find_one({"_id": order_id}, {"history.event_id": 1, "status": 1, "final": 1})
    if order is None:
        return "unknown"
    if any(entry["event_id"] == record["event_id"] for entry in order["history"]):
        return "duplicate"
    changes = {"updated_at": datetime.now(UTC)}
    # Events can overtake each other across topics: a late one is recorded, but cannot move the status back.
    moves = status is not None and not order["final"] and STATUS_RANK[status] > STATUS_RANK[order["status"]]
    if moves:
        changes.update(status=status, status_rank=STATUS_RANK[status], final=status in FINAL_STATUSES)
        if reason:
            changes["reason"] = reason
    orders().update_one({"_id": order_id},
                        {"$set": changes, "$push": {"history": {**record, "status": status if moves else None}}})
    return "applied"


def idempotency_key_claim(*, key: str, fingerprint: str, order_id: str) -> dict:
    """Record which order a client's Idempotency-Key made; return the record that holds (maybe an older one)."""
    record = {"_id": key, "fingerprint": fingerprint, "order_id": order_id, "created_at": datetime.now(UTC)}
    try:
        idempotency_keys().insert_one(record)
        return record
    except DuplicateKeyError:
        return idempotency_keys().find_one({"_id": key})
