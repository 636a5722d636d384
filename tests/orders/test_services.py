"""How the order site follows downstream events: forwards only, each event once."""

import uuid
from datetime import UTC, datetime

import pytest

from orders import handlers, services, store
from tests.factories import delivered, follow_up, order_placed

PAYMENT = {"payment_id": "p", "amount": 1000, "lines": [{"product_id": "P001", "quantity": 1}],
           "shipping_address": "x"}


@pytest.fixture
def placed():
    """An order stored as PENDING whose `order_placed` is kept out of Kafka, so only this test moves it."""
    event = order_placed()
    now = datetime.now(UTC)
    store.order_insert({"_id": event.order_id, **event.payload, "status": "PENDING", "status_rank": 0,
                        "final": False, "reason": None, "created_at": now, "updated_at": now,
                        "placed_event_id": event.event_id})
    return event


def apply(*events):
    assert handlers.on_downstream_event(delivered(*events)) == []  # following an order causes no event
    return store.order_get(events[0].order_id)


def history(order):
    """The timeline after the placement: (event type, the status it moved the order to)."""
    return [(e["event_type"], e["status"]) for e in services.order_timeline(order)[1:]]


def test_the_status_follows_the_events_and_the_history_keeps_each_once(placed):
    paid = follow_up(placed, "payment_processed", {**PAYMENT, "status": "COMPLETED"})
    assert apply(paid)["status"] == "PAID"
    order = apply(paid)  # redelivered
    assert order["status"] == "PAID"
    [entry] = services.order_timeline(order)[1:]
    assert (entry["event_id"], entry["topic"], entry["offset"], entry["status"]) == (
        paid.event_id, "payment_processed", 0, "PAID")


def test_a_late_event_never_moves_the_status_backwards(placed):
    shipped = follow_up(placed, "shipment_processed",
                        {"shipment_id": "s", "status": "SHIPPED", "carrier": "UPS", "tracking_number": "1"})
    paid = follow_up(placed, "payment_processed", {**PAYMENT, "status": "COMPLETED"})
    assert apply(shipped)["status"] == "SHIPPED"
    order = apply(paid)
    assert order["status"] == "SHIPPED"
    assert history(order) == [("shipment_processed", "SHIPPED"), ("payment_processed", None)]


def test_a_declined_payment_cancels_and_a_final_status_never_changes(placed):
    declined = follow_up(placed, "payment_processed", {**PAYMENT, "status": "DECLINED", "reason": "too much"})
    order = apply(declined)
    assert order["status"] == "CANCELLED" and order["reason"] == "payment declined: too much"
    shipped = follow_up(placed, "shipment_processed",
                        {"shipment_id": "s", "status": "SHIPPED", "carrier": "UPS", "tracking_number": "1"})
    assert apply(shipped)["status"] == "CANCELLED"


def test_out_of_stock_cancels_only_once_the_payment_is_refunded(placed):
    rejected = follow_up(placed, "inventory_updated", {"reservation_id": "r", "status": "REJECTED",
                         "reason": "OUT_OF_STOCK", "lines": [{"product_id": "P001", "quantity": 1}],
                         "shipping_address": "x"})
    assert apply(rejected)["status"] == "PENDING"
    refunded = follow_up(rejected, "payment_refunded", {"payment_id": "p", "amount": 1000, "reason": "OUT_OF_STOCK"})
    order = apply(refunded)
    assert order["status"] == "CANCELLED" and order["reason"] == "refunded: OUT_OF_STOCK"
    timeline = services.order_timeline(order)
    assert [e["event_type"] for e in timeline] == ["order_placed", "inventory_updated", "payment_refunded"]


def test_a_batch_applies_each_event_in_order_and_a_redelivered_one_once(placed):
    paid = follow_up(placed, "payment_processed", {**PAYMENT, "status": "COMPLETED"})
    reserved = follow_up(paid, "inventory_updated", {"reservation_id": "r", "status": "RESERVED",
                         "lines": [{"product_id": "P001", "quantity": 1}], "shipping_address": "x"})
    order = apply(paid, reserved, paid)
    assert order["status"] == "RESERVED"
    assert history(order) == [("payment_processed", "PAID"), ("inventory_updated", "RESERVED")]


def test_an_event_for_an_order_never_placed_is_refused():
    stray = follow_up(order_placed(), "payment_processed", {**PAYMENT, "status": "COMPLETED"})
    with pytest.raises(services.UnknownOrder):
        apply(stray)
    assert store.order_get(stray.order_id) is None and store.timeline_of(stray.order_id) == []
    assert uuid.UUID(stray.order_id)
