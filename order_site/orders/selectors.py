"""What the order site shows about its orders: an order's timeline and cancellation, and the stuck orders.
Reads only: the commands are in orders.services."""

from datetime import UTC, datetime, timedelta
from enum import StrEnum

from django.conf import settings
from prometheus_client import Gauge

from common import tracing
from orders import store
from orders.store import FINAL_STATUSES, STATUS_RANK, OrderStatus


class CancelOutcome(StrEnum):
    PENDING = "pending"
    CANCELLED = "cancelled"
    TOO_LATE = "too late"  # the parcel had left


def cancellation_of(order: dict) -> dict | None:
    """A customer's cancel request and what came of it."""
    cancel = order.get("cancel")
    if not cancel:
        return None
    outcome = {OrderStatus.SHIPPED: CancelOutcome.TOO_LATE, OrderStatus.CANCELLED: CancelOutcome.CANCELLED}
    return {**cancel, "outcome": outcome.get(order["status"], CancelOutcome.PENDING)}


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
        "status": OrderStatus.PENDING,
        "trace_id": tracing.trace_id_of(order.get("traceparent")),  # the order's trace, in Zipkin
    }
    cancel = order.get("cancel")
    entries = store.timeline_of(order["_id"])
    if cancel:  # the request, where it falls among the events applied
        entries.append({"event_id": cancel["event_id"], "event_type": "order_cancelled", "step": "order_cancelled",
                        "topic": "order_cancelled", "partition": None, "offset": None, "leads_to": None,
                        "reason": f"requested by {cancel['requested_by']}", "occurred_at": cancel["requested_at"],
                        "applied_at": cancel["requested_at"]})
        # Times have millisecond precision: within one, by when each event occurred, and the request before the
        # events that occurred in its millisecond (its compensation may be among them).
        entries.sort(key=lambda e: (e["applied_at"], e["occurred_at"], e["event_type"] != "order_cancelled"))
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
    OrderStatus.PENDING: "the payment site (order_placed)",
    OrderStatus.PAID: "the inventory site (payment_processed)",
    OrderStatus.RESERVED: "the shipment site (inventory_updated)",
}


def stuck_since() -> datetime:
    """An order placed before this and not final yet is stuck."""
    return datetime.now(UTC) - timedelta(seconds=settings.ORDER_STUCK_AFTER_SECONDS)


def orders_stuck() -> list[dict]:
    """The orders not final ORDER_STUCK_AFTER_SECONDS after they were placed, oldest first, each with the last
    event it saw and what it waits for."""
    return [{**order, **_stuck_details(order)} for order in _stuck()]


def _stuck() -> list[dict]:
    return store.orders_unfinished_since(stuck_since())


def _stuck_details(order: dict) -> dict:
    last = order_timeline(order)[-1]
    waiting_for = ("the shipment site's decision on the cancel (order_cancelled)" if order.get("cancel")
                   else WAITING_FOR[order["status"]])
    return {"last_event": f"{last['event_type']} {last.get('note') or ''}".strip(), "waiting_for": waiting_for}


STUCK_ORDERS = Gauge("orderpipe_orders_stuck", "Orders not final ORDER_STUCK_AFTER_SECONDS after they were placed")
STUCK_ORDERS.set_function(lambda: len(_stuck()))
