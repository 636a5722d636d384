"""Which event ends an order, decided once in common.events: the order site's status, the notification site's
mails and the benchmark's count of finished orders all follow `order_end`."""

import pytest

from bench.watch import final_status
from common.events import ORDER_END_TOPICS, OrderEnd, order_end
from tests.factories import cancel_requested, follow_up, order_placed, shipment_cancelled, shipment_shipped

LINES = [{"product_id": "P001", "quantity": 1}]
placed = order_placed()
paid = follow_up(placed, "payment_processed", {"payment_id": "p", "status": "COMPLETED", "amount": 1000,
                                               "lines": LINES, "shipping_address": "x"})
declined = follow_up(placed, "payment_processed", {"payment_id": "p", "status": "DECLINED", "amount": 1000,
                                                   "reason": "too much", "lines": LINES, "shipping_address": "x"})
reserved = follow_up(paid, "inventory_updated", {"reservation_id": "r", "status": "RESERVED", "lines": LINES,
                                                 "shipping_address": "x"})
rejected = follow_up(paid, "inventory_updated", {"reservation_id": "r", "status": "REJECTED", "lines": LINES,
                                                 "reason": "OUT_OF_STOCK", "shipping_address": "x"})
refunded = follow_up(rejected, "payment_refunded", {"payment_id": "p", "amount": 1000, "reason": "OUT_OF_STOCK"})
cancel = cancel_requested(placed)


@pytest.mark.parametrize(("event", "end"), [
    (placed, None),
    (paid, None),
    (declined, OrderEnd.CANCELLED),
    (reserved, None),
    (rejected, None),  # cancelled once the payment is refunded
    (refunded, OrderEnd.CANCELLED),
    (cancel, None),  # a request: the shipment site answers it
    (shipment_cancelled(cancel), OrderEnd.CANCELLED),
    (shipment_shipped(reserved), OrderEnd.SHIPPED),
], ids=lambda value: getattr(value, "event_type", value))
def test_the_events_that_end_an_order_and_how_and_the_benchmark_agrees(event, end):
    assert order_end(event.event_type, event.payload) == end
    assert final_status(event.event_type, event.to_bytes()) == end
    assert (end is None) or event.event_type in ORDER_END_TOPICS


def test_the_benchmark_ignores_what_is_not_an_event():
    assert final_status("shipment_processed", b"{not json") is None
    assert final_status("shipment_processed", b'{"payload": "SHIPPED"}') is None
