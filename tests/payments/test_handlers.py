"""The payment site's handlers, given real events, against the real store and broker."""

from decimal import Decimal

from django.conf import settings

from common.consumer import Position
from payments import handlers, store
from tests.factories import follow_up, order_placed
from tests.stack import events_for, outbox_types, unsent, wait_for

HERE = Position("order_placed", 0, 0)


def emitted(topic, order_id, count=1):
    return wait_for(lambda: (events := events_for(topic, order_id)) and len(events) >= count and events,
                    timeout=15, what=f"{topic} for {order_id}")


def test_an_order_within_the_limit_is_paid_and_payment_processed_is_emitted():
    placed = order_placed(lines=[("P001", 2), ("P003", 1)], unit_price=1500)
    handlers.on_order_placed(placed, HERE)

    payment = store.payment_get(placed.order_id)
    assert payment["status"] == "COMPLETED" and payment["amount"] == 4500
    assert outbox_types(payment) == ["payment_processed"] and unsent(store.payments(), placed.order_id) == []
    [event] = emitted("payment_processed", placed.order_id)
    assert event["event_id"] != placed.event_id and event["causation_id"] == placed.event_id
    assert event["payload"]["status"] == "COMPLETED" and event["payload"]["amount"] == 4500
    assert event["payload"]["lines"] == [{"product_id": "P001", "quantity": 2}, {"product_id": "P003", "quantity": 1}]


def test_an_order_above_the_approval_limit_is_declined_with_a_reason():
    over = int(settings.PAYMENT_APPROVAL_LIMIT * 100) + 1
    placed = order_placed(unit_price=over)
    handlers.on_order_placed(placed, HERE)
    payment = store.payment_get(placed.order_id)
    assert payment["status"] == "DECLINED" and "approval limit" in payment["reason"]
    [event] = emitted("payment_processed", placed.order_id)
    assert event["payload"]["status"] == "DECLINED"
    assert Decimal(over) / 100 > settings.PAYMENT_APPROVAL_LIMIT


def test_processing_the_same_order_twice_makes_one_payment_and_re_emits_the_same_event():
    placed = order_placed()
    handlers.on_order_placed(placed, HERE)
    first = store.payment_get(placed.order_id)
    handlers.on_order_placed(placed, HERE)
    assert store.payment_get(placed.order_id) == first
    assert store.payments().count_documents({"_id": placed.order_id}) == 1
    assert len({event["event_id"] for event in emitted("payment_processed", placed.order_id)}) == 1


def test_rejected_stock_refunds_the_payment_once():
    placed = order_placed()
    handlers.on_order_placed(placed, HERE)
    payment = store.payment_get(placed.order_id)
    paid = follow_up(placed, "payment_processed", {"payment_id": payment["payment_id"], "status": "COMPLETED",
                     "amount": 1000, "lines": [{"product_id": "P001", "quantity": 1}], "shipping_address": "x"})
    rejected = follow_up(paid, "inventory_updated", {"reservation_id": "r", "status": "REJECTED",
                         "reason": "OUT_OF_STOCK", "lines": [{"product_id": "P001", "quantity": 1}],
                         "shipping_address": "x"})
    for _ in range(2):
        handlers.on_inventory_updated(rejected, Position("inventory_updated", 0, 0))

    refunded = store.payment_get(placed.order_id)
    assert refunded["status"] == "REFUNDED" and refunded["refunded_at"]
    assert outbox_types(refunded) == ["payment_processed", "payment_refunded"]
    assert unsent(store.payments(), placed.order_id) == []
    events = emitted("payment_refunded", placed.order_id)
    assert {e["event_id"] for e in events} == {events[0]["event_id"]}
    assert events[0]["payload"] == {"payment_id": payment["payment_id"], "amount": 1000, "reason": "OUT_OF_STOCK"}
