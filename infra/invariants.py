"""What must hold after any fault (never lose an order, never do it twice), checked on the stores.

The fault tests (tests/faults) and `./manage_all.sh experiment break` check these after a burst of orders,
once every consumer group has caught up. Needs Django settings (the stores read MONGODB_URI) and the four
sites' folders on the import path.
"""

import json
import time
from collections import Counter, defaultdict

from common import outbox
from common.events import TOPICS
from common.events import ShipmentProcessedStatus as Shipment
from infra.stack import topic_records
from inventory import store as inventory_store
from inventory.store import ReservationStatus as Reservation
from orders import store as order_store
from orders.store import OrderStatus as Order
from payments import store as payment_store
from payments.store import PaymentStatus as Payment
from shipments import store as shipment_store

# Every event of a final order has been sent within this long (the relay re-sends unsent ones every few seconds)
OUTBOX_EMPTIES_SECONDS = 60
# What `check` asserts, in words, for the experiments to print.
INVARIANTS = [
    "every accepted order is there, once, and SHIPPED or CANCELLED",
    "one payment per order: COMPLETED if shipped; DECLINED, REFUNDED or never taken if cancelled",
    "one shipment per shipped order; none, or a CANCELLED one, for a cancelled order",
    "no cancelled order keeps stock reserved",
    "stock conserved: available + reserved + shipped = received; the orders' shipped units moved from available"
    " to shipped, reserved back where it was, no hold or move left half-done",
    "each step of an order's story in its timeline, none missing",
    "no duplicate effect: one event per order, event type and status on Kafka (redeliveries repeat its id)",
    "every order event sent: the outbox keeps no mark of these orders",
]


def _story(payment: str, reservation: str | None, shipment: str | None) -> list[str]:
    """The steps an order's timeline must hold, once each, given where its payment, stock and parcel ended."""
    steps = {
        "payment_processed:COMPLETED": payment in (Payment.COMPLETED, Payment.REFUNDED),
        "payment_processed:DECLINED": payment == Payment.DECLINED,
        "payment_refunded": payment == Payment.REFUNDED,
        "inventory_updated:RESERVED": reservation in (Reservation.SHIPPED, Reservation.RELEASED),
        "inventory_updated:REJECTED": reservation == Reservation.REJECTED,
        "inventory_updated:RELEASED": reservation == Reservation.RELEASED,
        "shipment_processed:SHIPPED": shipment == Shipment.SHIPPED,
        "shipment_processed:CANCELLED": shipment == Shipment.CANCELLED,
    }
    return sorted(step for step, taken in steps.items() if taken)


def check(order_ids: list[str], stock_before: dict[str, dict]) -> dict:
    """Assert INVARIANTS for these orders, which took stock only from the products of `stock_before` (product id
    -> its `available`, `reserved` and `shipped` units before the orders); returns the figures for a report."""
    ids = order_ids
    assert len(set(ids)) == len(ids), "two placements gave the same order"
    orders = {o["_id"]: o for o in order_store.orders().find({"_id": {"$in": ids}})}
    assert set(orders) == set(ids), "an accepted order is missing"
    states = Counter(o["status"] for o in orders.values())
    assert set(states) <= order_store.FINAL_STATUSES, states

    payments = {p["_id"]: p for p in payment_store.payments().find({"_id": {"$in": ids}})}
    assert set(payments) == set(ids), "an order without exactly one payment"
    for order_id, order in orders.items():
        expected = ({Payment.COMPLETED} if order["status"] == Order.SHIPPED
                    else {Payment.DECLINED, Payment.REFUNDED, Payment.CANCELLED})
        assert payments[order_id]["status"] in expected, (order, payments[order_id])

    shipments = list(shipment_store.shipments().find({"_id": {"$in": ids}}))
    shipment_of = {s["_id"]: s["status"] for s in shipments}
    assert {i for i, status in shipment_of.items() if status == Shipment.SHIPPED} == {
        i for i, o in orders.items() if o["status"] == Order.SHIPPED}, "a shipment without its order SHIPPED, or back"
    shipments = [s for s in shipments if s["status"] == Shipment.SHIPPED]
    reservation_of = {r["_id"]: r["status"] for r in inventory_store.reservations().find({"_id": {"$in": ids}})}
    reservation_ends = {Order.SHIPPED: {Reservation.SHIPPED},
                        Order.CANCELLED: {None, Reservation.REJECTED, Reservation.RELEASED, Reservation.CANCELLED}}
    for order_id, order in orders.items():
        assert reservation_of.get(order_id) in reservation_ends[order["status"]], (order, reservation_of.get(order_id))
    for product_id, before in stock_before.items():
        shipped = sum(line["quantity"] for shipment in shipments for line in shipment["lines"]
                      if line["product_id"] == product_id)
        now = inventory_store.products().find_one({"_id": product_id})
        assert now["available"] + now["reserved"] + now["shipped"] == now["received"], f"ledger of {product_id}: {now}"
        assert (now["available"] + shipped, now["reserved"], now["shipped"] - shipped, now["holds"], now["moving"]) == (
            before["available"], before["reserved"], before["shipped"], [], []), (
            f"stock of {product_id}: {now}, before {before}, shipped {shipped}")

    timelines = {order_id: order_store.timeline_of(order_id) for order_id in ids}
    for order_id, timeline in timelines.items():
        story = _story(payments[order_id]["status"], reservation_of.get(order_id), shipment_of.get(order_id))
        assert sorted(e["step"] for e in timeline) == story, (orders[order_id], timeline)

    events = _events_on_kafka(ids)
    doubled = {step: sorted(copies) for step, copies in events.items() if len(copies) > 1}
    assert not doubled, f"{len(doubled)} steps done twice (order, event type, status: ids): {list(doubled.items())[:3]}"

    wanted = set(ids)
    deadline = time.monotonic() + OUTBOX_EMPTIES_SECONDS
    while unsent := [m for m in outbox.pending(order_store.orders()) if m["document_id"] in wanted]:
        assert time.monotonic() < deadline, f"{len(unsent)} order events unsent: {unsent[:3]}"
        time.sleep(0.5)
    return {"orders": len(ids), **dict(sorted(states.items())), "events": len(events),
            "re-sent": sum(sum(copies.values()) - 1 for copies in events.values())}


def _events_on_kafka(order_ids: list[str]) -> dict[tuple[str, str, str | None], Counter]:
    """The events of these orders on the pipeline's topics: (order, event type, status) -> copies of each event id.
    A redelivered or re-sent event keeps its id; a step done twice would make a second id."""
    events = defaultdict(Counter)
    for record in topic_records(set(order_ids), tuple(TOPICS)):
        event = json.loads(record.value)
        events[(event["order_id"], event["event_type"], event["payload"].get("status"))][event["event_id"]] += 1
    return events
