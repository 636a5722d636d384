"""The inventory site's operations: reserve an order's stock, all lines or none."""

import logging
import uuid
from collections import Counter
from datetime import UTC, datetime

from django.conf import settings

from common import outbox
from common.events import Event, new_event
from inventory import store

log = logging.getLogger(__name__)


def reserve_stock(*, event: Event) -> dict:
    """Reserve the lines of a paid order, once, however often (and wherever) the event is re-processed.

    Two phases, each a single-document atomic write (no transactions needed, DESIGN.md section 6):
    1. take a hold on each product (guarded: enough units, and this order holds none yet);
    2. write the reservation's outcome with its event; then drop the hold markers.
    On a shortfall the holds already taken are released before the REJECTED outcome is written.
    A retry after a crash at any point re-takes only the missing holds and ends in the same stock.
    """
    order_id = event.order_id
    quantities = Counter()
    for line in event.payload["lines"]:  # the same product twice in one order is one line
        quantities[line["product_id"]] += line["quantity"]
    lines = [{"product_id": product_id, "quantity": quantity} for product_id, quantity in quantities.items()]

    reservation = store.reservation_start({
        "_id": order_id,
        "reservation_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"reservation:{order_id}")),
        "status": "PENDING",
        "reason": None,
        "lines": lines,
        "created_at": datetime.now(UTC),
        "outbox": [],
    })
    if reservation["status"] == "PENDING":
        reservation = _reserve_lines(event, reservation)
    for line in reservation["lines"]:
        store.hold_clear(product_id=line["product_id"], order_id=order_id)
    outbox.flush(store.reservations(), reservation)
    return reservation


def _reserve_lines(event: Event, reservation: dict) -> dict:
    order_id = event.order_id
    reason = None
    held = []
    for line in reservation["lines"]:
        if store.stock_hold(product_id=line["product_id"], order_id=order_id, quantity=line["quantity"]):
            held.append(line)
            continue
        why = store.product_holder(line["product_id"], order_id)
        if why == "held":  # taken by an earlier try of this same reservation
            held.append(line)
            continue
        reason = "UNKNOWN_PRODUCT" if why == "missing" else "OUT_OF_STOCK"
        break
    if reason:
        for line in held:
            store.stock_release(product_id=line["product_id"], order_id=order_id, quantity=line["quantity"])
    status = "REJECTED" if reason else "RESERVED"
    updated = new_event(
        "inventory_updated",
        order_id=order_id,
        cause=event,
        producer=settings.SERVICE,
        payload={
            "reservation_id": reservation["reservation_id"],
            "status": status,
            "lines": reservation["lines"],
            "reason": reason,
            "shipping_address": event.payload["shipping_address"],
        },
    )
    log.info("reservation for order %s: %s %s", order_id, status, reason or "")
    outbox.mark_pending(store.reservations(), order_id, updated)
    return store.reservation_finish(
        order_id=order_id,
        changes={"status": status, "reason": reason, "finished_at": datetime.now(UTC)},
        outbox_entry=outbox.entry(updated),
    )


def product_restock(*, product_id: str, quantity: int) -> dict | None:
    return store.product_restock(product_id, quantity)
