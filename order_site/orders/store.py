"""The order site's MongoDB documents: database `orders`, collections `orders` and `idempotency_keys`.

An order document holds the order and its status (and a customer's cancel request, if any), and stays
small: FerretDB reads and rewrites a whole document on every update. Its timeline, the events applied to
it, lives in collection `timeline`, one entry per order and step (`_id` "<order id>:<event type>:<status>"),
so a redelivered event is recorded once, and an order's timeline is a few look-ups by `_id`.
The orders not final yet are found by status, oldest first, from the index the status list uses.
"""

import functools
from datetime import UTC, datetime
from enum import StrEnum

from pymongo import ASCENDING, DeleteOne, ReturnDocument, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from common import listing
from common.events import TOPICS, Event, OrderEnd
from common.mongo import bulk_write, collection, find_by_ids, insert_many_new


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    PAID = "PAID"
    RESERVED = "RESERVED"
    SHIPPED = OrderEnd.SHIPPED
    CANCELLED = OrderEnd.CANCELLED


# A status only moves up this ladder; SHIPPED and CANCELLED are final and never change.
STATUS_RANK = {OrderStatus.PENDING: 0, OrderStatus.PAID: 1, OrderStatus.RESERVED: 2, OrderStatus.SHIPPED: 3,
               OrderStatus.CANCELLED: 3}
FINAL_STATUSES = set(OrderEnd)


@functools.cache
def orders() -> Collection:
    orders = collection("orders", "orders")
    listing.create_indexes(orders, (), ("status",), ("customer_id",), ("customer_id", "status"))
    return orders


def timeline() -> Collection:
    return collection("orders", "timeline")


def _steps() -> list[str]:
    """Every step an order's timeline can record: each downstream event type, once per status it can carry."""
    steps = []
    for topic in TOPICS.values():
        if topic.producer != "order-service":
            status = topic.payload.model_fields.get("status")
            steps += [f"{topic.name}:{value}" for value in status.annotation] if status else [topic.name]
    return steps


TIMELINE_STEPS = _steps()


def timeline_step(event: Event) -> str:
    status = event.payload.get("status")
    return f"{event.event_type}:{status}" if status else event.event_type


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


def orders_page(*, status: str | None, customer_id: str | None, skip: int, limit: int) -> tuple[list[dict], bool]:
    """Newest first, and whether another page follows."""
    return listing.read_page(orders(), {"customer_id": customer_id, "status": status}, skip=skip, limit=limit)


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


def order_cancel_request(order_id: str, cancel: dict) -> dict | None:
    """Record a cancel request on an order that is not final and has none yet; None if it is final or has one."""
    return orders().find_one_and_update({"_id": order_id, "final": False, "cancel": None}, {"$set": {"cancel": cancel}},
                                        return_document=ReturnDocument.AFTER)


def orders_unfinished_since(cutoff: datetime, *, page_size: int = 100) -> list[dict]:
    """The orders placed before `cutoff` and not final, oldest first. Each status that is not final is read a page
    at a time from its (status, created_at) index, until a page reaches `cutoff`: `$lt` and `$in` would make
    FerretDB read every order (infra/ferretdb: only equalities, one sort and skip+limit are pushed down)."""
    found = {}  # by id: an order that moves on during the reading can be met again under its next status
    for status in sorted(STATUS_RANK.keys() - FINAL_STATUSES, key=STATUS_RANK.get):
        skip, more = 0, True
        while more:
            page, more = listing.read_page(orders(), {"status": status}, skip=skip, limit=page_size,
                                           sort=("created_at", ASCENDING))
            older = [order for order in page if order["created_at"] < cutoff]
            found |= {order["_id"]: order for order in older}
            skip, more = skip + page_size, more and len(older) == len(page)
    return sorted(found.values(), key=lambda order: order["created_at"])


def orders_missing(order_ids: list[str]) -> list[str]:
    found = find_by_ids(orders(), order_ids, {"_id": 1})
    return [order_id for order_id in order_ids if order_id not in found]


def timeline_add(entries: list[dict]) -> None:
    """Record events in their orders' timelines; one already there (a redelivered event) is skipped."""
    insert_many_new(timeline(), [{"_id": f"{e['order_id']}:{e['step']}", **e} for e in entries])


def timeline_remove(order_ids: list[str]) -> None:
    """Forget what was recorded for orders that turned out not to exist."""
    bulk_write(timeline(), [DeleteOne({"_id": f"{order_id}:{step}"})
                            for order_id in order_ids for step in TIMELINE_STEPS])


def timeline_of(order_id: str) -> list[dict]:
    """The events recorded for an order, in the order they were applied."""
    entries = [timeline().find_one({"_id": f"{order_id}:{step}"}) for step in TIMELINE_STEPS]
    return sorted((e for e in entries if e), key=lambda e: (e["applied_at"], e["occurred_at"]))


def idempotency_key_claim(*, key: str, fingerprint: str, order_id: str) -> dict:
    """Record which order a client's Idempotency-Key made; return the record that holds (maybe an older one)."""
    record = {"_id": key, "fingerprint": fingerprint, "order_id": order_id, "created_at": datetime.now(UTC)}
    try:
        idempotency_keys().insert_one(record)
        return record
    except DuplicateKeyError:
        return idempotency_keys().find_one({"_id": key})
