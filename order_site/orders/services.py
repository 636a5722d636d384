"""The order site's operations: place or cancel an order, follow the downstream events to its real status,
and find the orders that are stuck."""

import hashlib
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta

from django.conf import settings
from prometheus_client import Gauge

from common import kafka, outbox, tracing
from common.consumer import Delivery
from common.events import CANCELLATION_REASONS, Event, event_from_dict, new_event, now_iso, parse_event
from orders import store
from orders.store import FINAL_STATUSES, STATUS_RANK

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
        "status": "PENDING",
        "status_rank": store.STATUS_RANK["PENDING"],
        "final": False,
        "reason": None,
        "cancel": None,
        "created_at": now,
        "updated_at": now,
        "placed_event_id": event.event_id,
        "traceparent": tracing.current_traceparent(),  # the order's trace: its cancel and re-drives join it
    }
    outbox.mark_pending(store.orders(), order_id, event, recorded_as="placed_event_id")
    store.unfinished_add(order_id, now)
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


def cancellation_of(order: dict) -> dict | None:
    """A customer's cancel request and what came of it: pending, cancelled, or too late (the parcel had left)."""
    cancel = order.get("cancel")
    if not cancel:
        return None
    outcome = {"SHIPPED": "too late", "CANCELLED": "cancelled"}.get(order["status"], "pending")
    return {**cancel, "outcome": outcome}


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
            reason = payload["reason"]
            return "CANCELLED", reason if reason in CANCELLATION_REASONS else f"refunded: {reason}"
        case "shipment_processed", "SHIPPED":
            return "SHIPPED", None
        case "shipment_processed", "CANCELLED":  # the cancel came first: refund and stock release follow
            return "CANCELLED", payload["reason"]
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
    if not (store.orders_move(moves) and set(ids) == set(moves)):  # some did not move: late, redelivered, unknown?
        unknown = store.orders_missing(ids)
        if unknown:
            store.timeline_remove(unknown)
            raise UnknownOrder(f"no order {', '.join(unknown)}")
    store.unfinished_remove([order_id for order_id, (status, _) in moves.items() if status in FINAL_STATUSES])
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
        "trace_id": tracing.trace_id_of(order.get("traceparent")),  # the order's trace, in Zipkin
    }
    cancel = order.get("cancel")
    entries = store.timeline_of(order["_id"])
    if cancel:  # the request, where it falls among the events applied
        entries.append({"event_id": cancel["event_id"], "event_type": "order_cancelled", "step": "order_cancelled",
                        "topic": "order_cancelled", "partition": None, "offset": None, "leads_to": None,
                        "reason": f"requested by {cancel['requested_by']}", "occurred_at": cancel["requested_at"],
                        "applied_at": cancel["requested_at"]})
        entries.sort(key=lambda e: e["applied_at"])
    story, rank, final = [placed], 0, False
    for entry in entries:
        status = entry["leads_to"]
        moved = status is not None and not final and STATUS_RANK[status] > rank
        if moved:
            rank, final = STATUS_RANK[status], status in FINAL_STATUSES
        note = STEP_NOTES.get(entry["step"], "").format(reason=entry.get("reason"))
        if cancel and entry["step"] == "shipment_processed:SHIPPED":
            note += ": the cancel came too late"
        story.append({**entry, "status": status if moved else None, "note": note})
    return story


# What each step means for the order, as its timeline says it.
STEP_NOTES = {
    "order_cancelled": "cancel {reason}",
    "payment_processed:COMPLETED": "payment taken",
    "payment_processed:DECLINED": "payment declined: {reason}",
    "inventory_updated:RESERVED": "stock reserved",
    "inventory_updated:REJECTED": "stock refused: {reason}; the payment is refunded next",
    "inventory_updated:RELEASED": "compensation: stock released back to available",
    "payment_refunded": "compensation: payment refunded ({reason})",
    "shipment_processed:SHIPPED": "the parcel left",
    "shipment_processed:CANCELLED": "{reason} before shipping: refund and stock release follow",
}

WAITING_FOR = {
    "PENDING": "the payment site (order_placed)",
    "PAID": "the inventory site (payment_processed)",
    "RESERVED": "the shipment site (inventory_updated)",
}


def orders_stuck() -> list[dict]:
    """The orders not final ORDER_STUCK_AFTER_SECONDS after they were placed, oldest first, each with the last
    event it saw and what it waits for."""
    return [{**order, **stuck_details(order)} for order in _stuck()]


def _stuck() -> list[dict]:
    cutoff = datetime.now(UTC) - timedelta(seconds=settings.ORDER_STUCK_AFTER_SECONDS)
    stuck, orphans = [], []
    for mark in store.unfinished_since(cutoff):
        order = store.order_get(mark["_id"])
        if order is None:  # the request died before the order was written
            orphans.append(mark["_id"])
        elif not order["final"]:
            stuck.append(order)
    store.unfinished_remove(orphans)
    return stuck


def stuck_details(order: dict) -> dict:
    last = order_timeline(order)[-1]
    waiting_for = ("the shipment site's decision on the cancel (order_cancelled)" if order.get("cancel")
                   else WAITING_FOR[order["status"]])
    return {"last_event": f"{last['event_type']} {last.get('note') or ''}".strip(), "waiting_for": waiting_for}


STUCK_ORDERS = Gauge("orderpipe_orders_stuck", "Orders not final ORDER_STUCK_AFTER_SECONDS after they were placed")
STUCK_ORDERS.set_function(lambda: len(_stuck()))


def order_redrive(order_id: str) -> Event:
    """Send the last event an order saw (or sent) again, to move a stuck order on once its cause is fixed.
    Safe because every consumer is idempotent: a step that was done re-sends its result, one that was not
    is done now."""
    order = store.order_get(order_id)
    if order is None:
        raise UnknownOrder(order_id)
    if order["final"]:
        raise OrderFinal(order["status"])
    last = order_timeline(order)[-1]
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
