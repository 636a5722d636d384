"""What must hold after any fault (never lose an order, never do it twice), checked on the stores.

The fault tests (tests/faults) and `./manage_all.sh experiment break` check these after a burst of orders,
once every consumer group has caught up. Needs Django settings (the stores read MONGODB_URI) and the four
sites' folders on the import path.
"""

from collections import Counter
from datetime import UTC, datetime, timedelta

from common import outbox
from common.events import ShipmentProcessedStatus as Shipment
from inventory import store as inventory_store
from inventory.store import ReservationStatus as Reservation
from orders import store as order_store
from orders.store import OrderStatus as Order
from payments import store as payment_store
from payments.store import PaymentStatus as Payment
from shipments import store as shipment_store

SETTLE_SECONDS = 10  # an event may wait in an outbox this long; older means the relay is not doing its job
# What `check` asserts, in words, for the experiments to print.
INVARIANTS = [
    "every accepted order is there, once, and SHIPPED or CANCELLED",
    "one payment per order: COMPLETED if shipped; DECLINED, REFUNDED or never taken if cancelled",
    "one shipment per shipped order; none, or a CANCELLED one, for a cancelled order",
    "no cancelled order keeps stock reserved",
    "stock conserved: available + reserved + shipped = received; the orders' shipped units moved from available"
    " to shipped, reserved back where it was, no hold or move left half-done",
    "no duplicate effect: each step of an order's story in its timeline once, none missing",
    f"no unsent outbox mark older than {SETTLE_SECONDS}s",
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
    duplicates = sum(len(t) - len({e["event_id"] for e in t}) for t in timelines.values())
    assert duplicates == 0, "an order's timeline holds an event twice"
    for order_id, timeline in timelines.items():  # each step of its story once, none missing
        story = _story(payments[order_id]["status"], reservation_of.get(order_id), shipment_of.get(order_id))
        assert sorted(e["step"] for e in timeline) == story, (orders[order_id], timeline)

    cutoff = datetime.now(UTC) - timedelta(seconds=SETTLE_SECONDS)
    wanted = set(ids)
    stale = [m for m in outbox.pending(order_store.orders()) if m["document_id"] in wanted and m["since"] < cutoff]
    assert not stale, f"{len(stale)} order events unsent for over {SETTLE_SECONDS}s: {stale[:3]}"
    return {"orders": len(ids), **dict(sorted(states.items())), "duplicates": duplicates}
