"""How the order site follows downstream events: forwards only, each event once."""


import pytest

from common import events
from orders import handlers, selectors, services, store
from tests.factories import (
    cancel_requested,
    delivered,
    follow_up,
    order_placed,
    shipment_cancelled,
    shipment_shipped,
)

PAYMENT = {"payment_id": "p", "amount": 1000, "lines": [{"product_id": "P001", "quantity": 1}],
           "shipping_address": "x"}


def apply(*events):
    assert handlers.on_downstream_event(delivered(*events)) == []  # following an order causes no event
    return store.order_get(events[0].order_id)


def history(order):
    """The timeline after the placement: (event type, the status it moved the order to)."""
    return [(e["event_type"], e["status"]) for e in selectors.order_timeline(order)[1:]]


def test_the_status_follows_the_events_and_the_history_keeps_each_once(placed):
    paid = follow_up(placed, "payment_processed", {**PAYMENT, "status": "COMPLETED"})
    assert apply(paid)["status"] == "PAID"
    order = apply(paid)  # redelivered
    assert order["status"] == "PAID"
    [entry] = selectors.order_timeline(order)[1:]
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
    timeline = selectors.order_timeline(order)
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


def record_cancel(request):
    """The request as POST /orders/{id}/cancel records it (without sending it: only this test moves the order)."""
    store.order_cancel_request(request.order_id, {"event_id": request.event_id, "requested_by": "customer",
                                                  "note": None, "requested_at": request.occurred_at})


def test_a_cancel_that_won_the_race_cancels_and_its_compensation_shows_in_the_timeline(placed):
    paid = follow_up(placed, "payment_processed", {**PAYMENT, "status": "COMPLETED"})
    apply(paid)
    request = cancel_requested(placed)
    record_cancel(request)
    decision = shipment_cancelled(request)
    refunded = follow_up(decision, "payment_refunded", {"payment_id": "p", "amount": 1000,
                                                         "reason": "cancelled by customer"})
    apply(refunded)  # the refund may overtake the decision (a batch of its own: the timeline shows it first)
    order = apply(decision)  # the reason is the same either way
    assert order["status"] == "CANCELLED" and order["reason"] == "cancelled by customer"
    assert selectors.cancellation_of(order)["outcome"] == "cancelled"
    notes = [e["note"] for e in selectors.order_timeline(order)[1:]]
    assert notes == ["payment taken", "cancel requested by customer",
                     "compensation: payment refunded (cancelled by customer)",
                     "cancelled by customer before shipping: refund and stock release follow"]


def test_a_compensation_applied_in_the_millisecond_of_its_cancel_request_follows_it_in_the_timeline(placed,
                                                                                                      monkeypatch):
    apply(follow_up(placed, "payment_processed", {**PAYMENT, "status": "COMPLETED"}))
    instant = "2999-01-01T00:00:00.000Z"  # the request, the refund and its application all fall in it
    monkeypatch.setattr(events, "now_iso", lambda: instant)
    monkeypatch.setattr(services, "now_iso", lambda: instant)
    request = cancel_requested(placed)
    record_cancel(request)
    order = apply(follow_up(shipment_cancelled(request), "payment_refunded",
                            {"payment_id": "p", "amount": 1000, "reason": "cancelled by customer"}))
    notes = [e["note"] for e in selectors.order_timeline(order)[1:]]
    assert notes == ["payment taken", "cancel requested by customer",
                     "compensation: payment refunded (cancelled by customer)"]


def test_a_cancel_that_came_after_the_parcel_left_is_too_late(placed):
    record_cancel(cancel_requested(placed))
    order = apply(shipment_shipped(placed))
    assert order["status"] == "SHIPPED" and selectors.cancellation_of(order)["outcome"] == "too late"
    assert selectors.order_timeline(order)[-1]["note"] == "the parcel left: the cancel came too late"
    with pytest.raises(services.OrderFinal):
        services.order_cancel(order_id=placed.order_id)


def test_a_repeated_cancel_keeps_the_first_request(placed):
    first = services.order_cancel(order_id=placed.order_id, note="first")
    again = services.order_cancel(order_id=placed.order_id, note="second")
    assert again["cancel"] == first["cancel"] and again["cancel"]["note"] == "first"
