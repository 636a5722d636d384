"""The payment site's handlers, given batches of real events, against the real store."""

from django.conf import settings

from payments import handlers, store
from tests.factories import (
    cancel_requested,
    delivered,
    follow_up,
    order_placed,
    shipment_cancelled,
    shipment_shipped,
)

OVER_THE_LIMIT = int(settings.PAYMENT_APPROVAL_LIMIT * 100) + 1


def test_a_batch_of_orders_is_paid_or_declined_each_with_its_payment_processed():
    within = order_placed(lines=[("P001", 2), ("P003", 1)], unit_price=1500)
    over = order_placed(unit_price=OVER_THE_LIMIT)
    paid, declined = handlers.on_order_placed(delivered(within, over))

    payment = store.payment_get(within.order_id)
    assert payment["status"] == "COMPLETED" and payment["amount"] == 4500
    assert paid.causation_id == within.event_id and paid.event_id != within.event_id
    assert paid.payload["status"] == "COMPLETED" and paid.payload["amount"] == 4500
    assert paid.payload["lines"] == [{"product_id": "P001", "quantity": 2}, {"product_id": "P003", "quantity": 1}]
    assert [e["event_id"] for e in payment["events"]] == [paid.event_id]

    assert store.payment_get(over.order_id)["status"] == "DECLINED"
    assert declined.payload["status"] == "DECLINED" and "approval limit" in declined.payload["reason"]


def test_a_redelivered_order_makes_no_second_payment_and_re_emits_the_very_same_event():
    first, second = order_placed(), order_placed()
    [sent] = handlers.on_order_placed(delivered(first))
    again = handlers.on_order_placed(delivered(first, second))  # redelivered, in a batch with a new one

    assert again[0] == sent  # same id, same time, same payload: downstream sees a duplicate, nothing new
    assert again[1].causation_id == second.event_id
    assert store.payments().count_documents({"_id": first.order_id}) == 1


def test_rejected_stock_refunds_the_payment_once():
    placed = order_placed()
    [paid] = handlers.on_order_placed(delivered(placed))
    rejected = follow_up(paid, "inventory_updated", {"reservation_id": "r", "status": "REJECTED",
                         "reason": "OUT_OF_STOCK", "lines": [{"product_id": "P001", "quantity": 1}],
                         "shipping_address": "x"})
    [refund] = handlers.on_inventory_updated(delivered(rejected))
    assert handlers.on_inventory_updated(delivered(rejected)) == [refund]  # redelivered: the same event again

    refunded = store.payment_get(placed.order_id)
    assert refunded["status"] == "REFUNDED" and refunded["refunded_at"]
    assert [e["event_type"] for e in refunded["events"]] == ["payment_processed", "payment_refunded"]
    assert refund.payload == {"payment_id": paid.payload["payment_id"], "amount": 1000, "reason": "OUT_OF_STOCK"}


def test_reserved_stock_needs_nothing_from_payments():
    placed = order_placed()
    [paid] = handlers.on_order_placed(delivered(placed))
    reserved = follow_up(paid, "inventory_updated", {"reservation_id": "r", "status": "RESERVED",
                         "lines": [{"product_id": "P001", "quantity": 1}], "shipping_address": "x"})
    assert handlers.on_inventory_updated(delivered(reserved)) == []
    assert store.payment_get(placed.order_id)["status"] == "COMPLETED"


def test_a_cancel_refunds_a_completed_payment_once():
    placed = order_placed()
    [paid] = handlers.on_order_placed(delivered(placed))
    decision = shipment_cancelled(cancel_requested(placed))
    [refund] = handlers.on_shipment_processed(delivered(decision))
    assert handlers.on_shipment_processed(delivered(decision)) == [refund]  # redelivered: the same event again
    assert refund.payload["reason"] == "cancelled by customer" and refund.payload["amount"] == 1000
    assert store.payment_get(placed.order_id)["status"] == "REFUNDED"


def test_a_cancel_before_the_order_reaches_payments_means_no_money_is_ever_taken():
    placed = order_placed()
    assert handlers.on_shipment_processed(delivered(shipment_cancelled(cancel_requested(placed)))) == []
    assert handlers.on_order_placed(delivered(placed)) == []  # the order comes late: nothing charged, nothing sent
    payment = store.payment_get(placed.order_id)
    assert payment["status"] == "CANCELLED" and payment["events"] == []


def test_a_shipped_order_needs_nothing_from_payments():
    placed = order_placed()
    [paid] = handlers.on_order_placed(delivered(placed))
    assert handlers.on_shipment_processed(delivered(shipment_shipped(paid))) == []
    assert store.payment_get(placed.order_id)["status"] == "COMPLETED"
