"""The order site's operations: place an order, and follow the downstream events to its real status."""

import hashlib
import json
import logging
import uuid
from datetime import UTC, datetime

from django.conf import settings

from common import outbox
from common.consumer import Delivery
from common.events import Event, new_event, now_iso
from orders import store
from orders.store import FINAL_STATUSES, STATUS_RANK

log = logging.getLogger(__name__)


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different request body."""


class UnknownOrder(Exception):
    """An event names an order this site never placed."""


def order_place(
    *,
    customer_id: str,
    items: list[dict],
    shipping_address: str,
    total_amount: int,
    currency: str,
    idempotency_key: str | None = None,
) -> tuple[dict, bool]:
    """Store a PENDING order, its `order_placed` event in the outbox, and hand the event to the producer.

    Returns the order and whether it is new. With an Idempotency-Key, the same key and body give back
    the same order; the same key with another body raises IdempotencyConflict.
    """
    order_id = str(uuid.uuid4())
    payload = {
        "customer_id": customer_id,
        "items": items,
        "total_amount": total_amount,
        "currency": currency,
        "shipping_address": shipping_address,
    }
    if idempotency_key:
        fingerprint = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        claim = store.idempotency_key_claim(key=idempotency_key, fingerprint=fingerprint, order_id=order_id)
        if claim["fingerprint"] != fingerprint:
            raise IdempotencyConflict(idempotency_key)
        order_id = claim["order_id"]  # the key's order, which a crashed earlier request may not have stored yet
        existing = store.order_get(order_id)
        if existing:
            return existing, False

    event = new_event("order_placed", order_id=order_id, payload=payload, producer=settings.SERVICE)
    now = datetime.now(UTC)
    order = {
        "_id": order_id,
        **payload,
        "status": "PENDING",
        "status_rank": store.STATUS_RANK["PENDING"],
        "final": False,
        "reason": None,
        "created_at": now,
        "updated_at": now,
        "placed_event_id": event.event_id,
    }
    outbox.mark_pending(store.orders(), order_id, event)
    if not store.order_insert(order):
        return store.order_get(order_id), False
    outbox.send_in_background(store.orders(), [event])
    return order, True


def status_after(event: Event) -> tuple[str | None, str | None]:
    """The order status an event leads to, and why: None when the event alone does not change it."""
    payload = event.payload
    match event.event_type, payload.get("status"):
        case "payment_processed", "COMPLETED":
            return "PAID", None
        case "payment_processed", "DECLINED":
            return "CANCELLED", f"payment declined: {payload.get('reason')}"
        case "inventory_updated", "RESERVED":
            return "RESERVED", None
        case "inventory_updated", "REJECTED":
            return None, None  # cancelled once the payment is refunded (payment_refunded)
        case "payment_refunded", _:
            return "CANCELLED", f"refunded: {payload['reason']}"
        case "shipment_processed", "SHIPPED":
            return "SHIPPED", None
    return None, None


def orders_track(*, batch: list[Delivery]) -> list[Event]:
    """Follow downstream events: record each in its order's timeline once, and move each order's status to
    the furthest one its events lead to (only forwards: events can overtake each other across topics)."""
    leads_to = [status_after(event) for event, _ in batch]
    moves = {}
    for (event, _), (status, reason) in zip(batch, leads_to, strict=True):
        if status and STATUS_RANK[status] > STATUS_RANK[moves.get(event.order_id, ("PENDING",))[0]]:
            moves[event.order_id] = (status, reason)
    # The timeline first, so that whoever sees a status sees the event that moved it.
    applied_at = now_iso()
    store.timeline_add([{
        "order_id": event.order_id,
        "event_id": event.event_id,
        "event_type": event.event_type,
        "leads_to": status,
        "topic": position.topic,
        "partition": position.partition,
        "offset": position.offset,
        "occurred_at": event.occurred_at,
        "applied_at": applied_at,
    } for (event, position), (status, _) in zip(batch, leads_to, strict=True)])
    ids = list(dict.fromkeys(event.order_id for event, _ in batch))
    if not (store.orders_move(moves) and set(ids) == set(moves)):  # some did not move: late, redelivered, unknown?
        unknown = store.orders_missing(ids)
        if unknown:
            store.timeline_remove(unknown)
            raise UnknownOrder(f"no order {', '.join(unknown)}")
    return []  # following an order causes no event


def order_timeline(order: dict) -> list[dict]:
    """The order's story: its placement, then every event applied to it, in the order they were applied, each
    with the status it moved the order to (none when it came late, after a status as far or further)."""
    placed = {
        "event_id": order.get("placed_event_id"),
        "event_type": "order_placed",
        "topic": "order_placed",
        "partition": None,
        "offset": None,
        "occurred_at": order["created_at"].isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "applied_at": None,
        "status": "PENDING",
    }
    story, rank, final = [placed], 0, False
    for entry in store.timeline_of(order["_id"]):
        status = entry["leads_to"]
        moved = status is not None and not final and STATUS_RANK[status] > rank
        if moved:
            rank, final = STATUS_RANK[status], status in FINAL_STATUSES
        story.append({**entry, "status": status if moved else None})
    return story
