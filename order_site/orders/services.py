"""The order site's operations: place or cancel an order, follow the downstream events to its real status,
and re-drive a stuck order. What the site shows about its orders is in orders.selectors."""

import hashlib
import json
import logging
import uuid
from datetime import UTC, datetime

from django.conf import settings

from common import kafka, outbox, tracing
from common.consumer import Delivery
from common.events import (
    CANCELLATION_REASONS,
    Event,
    InventoryUpdatedStatus,
    OrderEnd,
    PaymentProcessedStatus,
    event_from_dict,
    new_event,
    now_iso,
    order_end,
    parse_event,
)
from orders import selectors, store
from orders.store import STATUS_RANK, OrderStatus

log = logging.getLogger(__name__)


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different request body."""


class UnknownOrder(Exception):
    """An event (or a request) names an order this site never placed."""


class OrderFinal(Exception):
    """The order is SHIPPED or CANCELLED: nothing can change it any more."""

    def __init__(self, status: str):
        super().__init__(f"the order is {status}")
        self.status = status


class EventGone(Exception):
    """The event to send again is no longer on Kafka (past the topic's retention)."""


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
    tracing.tag_order(order_id)
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
        tracing.tag_order(order_id)
        existing = store.order_get(order_id)
        if existing:
            return existing, False

    event = new_event("order_placed", order_id=order_id, payload=payload, producer=settings.SERVICE)
    now = datetime.now(UTC)
    order = {
        "_id": order_id,
        **payload,
        "status": OrderStatus.PENDING,
        "status_rank": STATUS_RANK[OrderStatus.PENDING],
        "final": False,
        "reason": None,
        "cancel": None,
        "created_at": now,
        "updated_at": now,
        "placed_event_id": event.event_id,
        "traceparent": tracing.current_traceparent(),  # the order's trace: its cancel and re-drives join it
    }
    outbox.mark_pending(store.orders(), order_id, event, recorded_as="placed_event_id")
    if not store.order_insert(order):
        return store.order_get(order_id), False
    outbox.send_in_background(store.orders(), [event])
    return order, True


def order_cancel(*, order_id: str, requested_by: str = "customer", note: str | None = None) -> dict:
    """Ask for an order to be cancelled: record the request on the order and send `order_cancelled`.

    The request is all this does: the shipment site decides whether it came before the parcel left, and the
    order follows that decision (CANCELLED and compensated, or SHIPPED). A repeated request changes nothing.
    Raises UnknownOrder, or OrderFinal when the order is SHIPPED or CANCELLED already.
    """
    order = store.order_get(order_id)
    if order is None:
        raise UnknownOrder(order_id)
    if order["final"]:
        raise OrderFinal(order["status"])
    if order.get("cancel"):
        return order
    with tracing.order_work("order cancel", order_id, continues=order.get("traceparent")):
        return _cancel_request(order_id, requested_by, note)


def _cancel_request(order_id: str, requested_by: str, note: str | None) -> dict:
    event = new_event("order_cancelled", order_id=order_id, producer=settings.SERVICE,
                      payload={"requested_by": requested_by, "note": note})
    cancel = {"event_id": event.event_id, "requested_by": requested_by, "note": note,
              "requested_at": event.occurred_at}
    # the same two steps as placing an order: the mark, then the write; the relay sends it only if the write held
    outbox.mark_pending(store.orders(), order_id, event, recorded_as="cancel.event_id")
    updated = store.order_cancel_request(order_id, cancel)
    if updated is None:  # it became final meanwhile, or a concurrent request came first
        order = store.order_get(order_id)
        if order["final"]:
            raise OrderFinal(order["status"])
        return order
    outbox.send_in_background(store.orders(), [event])
    return updated


def status_after(event: Event) -> tuple[OrderStatus | None, str | None]:
    """The order status an event leads to, and why: None when the event alone does not change it (inventory
    REJECTED cancels once the payment is refunded; RELEASED follows a cancellation)."""
    match order_end(event.event_type, event.payload):
        case OrderEnd.SHIPPED:
            return OrderStatus.SHIPPED, None
        case OrderEnd.CANCELLED:
            return OrderStatus.CANCELLED, _cancel_reason(event)
    match event.event_type, event.payload.get("status"):
        case "payment_processed", PaymentProcessedStatus.COMPLETED:
            return OrderStatus.PAID, None
        case "inventory_updated", InventoryUpdatedStatus.RESERVED:
            return OrderStatus.RESERVED, None
    return None, None


def _cancel_reason(event: Event) -> str:
    reason = event.payload.get("reason")
    match event.event_type:
        case "payment_processed":
            return f"payment declined: {reason}"
        case "payment_refunded":
            return reason if reason in CANCELLATION_REASONS else f"refunded: {reason}"
    return reason  # shipment_processed CANCELLED, "cancelled by customer": refund and stock release follow


def orders_track(*, batch: list[Delivery]) -> list[Event]:
    """Follow downstream events: record each in its order's timeline once, and move each order's status to
    the furthest one its events lead to (only forwards: events can overtake each other across topics)."""
    leads_to = [status_after(event) for event, _ in batch]
    moves = {}
    for (event, _), (status, reason) in zip(batch, leads_to, strict=True):
        if status and STATUS_RANK[status] > STATUS_RANK[moves.get(event.order_id, (OrderStatus.PENDING,))[0]]:
            moves[event.order_id] = (status, reason)
    # The timeline first, so that whoever sees a status sees the event that moved it.
    applied_at = now_iso()
    store.timeline_add([{
        "order_id": event.order_id,
        "step": store.timeline_step(event),
        "event_id": event.event_id,
        "event_type": event.event_type,
        "reason": event.payload.get("reason"),
        "leads_to": status,
        "topic": position.topic,
        "partition": position.partition,
        "offset": position.offset,
        "occurred_at": event.occurred_at,
        "applied_at": applied_at,
    } for (event, position), (status, _) in zip(batch, leads_to, strict=True)])
    ids = list(dict.fromkeys(event.order_id for event, _ in batch))
    # An order that did not move got an event late or again (nothing to do), or was never placed: refused.
    if not (store.orders_move(moves) and set(ids) == set(moves)):
        unknown = store.orders_missing(ids)
        if unknown:
            store.timeline_remove(unknown)
            raise UnknownOrder(f"no order {', '.join(unknown)}")
    return []  # following an order causes no event


def order_redrive(order_id: str) -> Event:
    """Send the last event an order saw (or sent) again, to move a stuck order on once its cause is fixed.
    Safe because every consumer is idempotent: a step that was done re-sends its result, one that was not
    is done now."""
    order = store.order_get(order_id)
    if order is None:
        raise UnknownOrder(order_id)
    if order["final"]:
        raise OrderFinal(order["status"])
    last = selectors.order_timeline(order)[-1]
    traceparent = order.get("traceparent")  # the re-sent event continues the order's trace
    if last["event_type"] == "order_placed":
        event = _placed_event(order)
    elif last["event_type"] == "order_cancelled":
        event = _cancel_event(order)
    else:
        record = kafka.record_at(last["topic"], last["partition"], last["offset"])
        if record is None:
            raise EventGone(f"{last['event_type']} at {last['topic']}[{last['partition']}]@{last['offset']}")
        event = parse_event(record.value, last["topic"])
        traceparent = tracing.traceparent_header(record.headers) or traceparent
    with tracing.order_work("order re-drive", order_id, continues=traceparent):
        kafka.publish([event])
    log.info("order %s re-driven: %s %s sent again", order_id, event.event_type, event.event_id)
    return event


def _placed_event(order: dict) -> Event:
    """The order's own `order_placed`, made again from the order (same id, same payload)."""
    fields = ("customer_id", "items", "total_amount", "currency", "shipping_address")
    event = new_event("order_placed", order_id=order["_id"], producer=settings.SERVICE,
                      payload={field: order[field] for field in fields})
    return event_from_dict({**event.to_dict(), "event_id": order["placed_event_id"]})


def _cancel_event(order: dict) -> Event:
    """The order's `order_cancelled`, made again from its cancel request (same id)."""
    cancel = order["cancel"]
    event = new_event("order_cancelled", order_id=order["_id"], producer=settings.SERVICE,
                      payload={"requested_by": cancel["requested_by"], "note": cancel["note"]})
    return event_from_dict({**event.to_dict(), "event_id": cancel["event_id"]})
