"""Traces when something is stopped: a cancel held at the payment step, and Zipkin itself."""

import re

import pytest
import requests

from tests.factories import OrderRequestFactory, seed_items
from tests.stack import manage_all, order_status, url, wait_for
from tests.tracing.traces import SETTLE, assert_hop, assert_one_tree_of_the_order, order_trace, place, spans_named

pytestmark = pytest.mark.faults


@pytest.fixture(autouse=True)
def whole_stack_after():
    yield
    manage_all("up")  # whatever a test stopped comes back before the next one


def test_a_cancelled_order_s_trace_holds_the_cancel_and_what_it_caused():
    manage_all("down", "consumer-payment-1")  # the order waits for its payment, so the cancel comes in time
    order_id = place(OrderRequestFactory(items=seed_items()))
    answer = requests.post(url("order", f"/orders/{order_id}/cancel"), json={}, timeout=10)
    assert answer.status_code == 202, answer.text
    wait_for(lambda: order_status(order_id) == "CANCELLED", timeout=SETTLE, what="the order to be cancelled")
    hops = [("order_cancelled", "order-service", {"shipment-service"}),
            ("shipment_processed", "shipment-service", {"order-service", "inventory-service"})]  # (payment: stopped)
    spans = order_trace(order_id, hops)

    by_id = assert_one_tree_of_the_order(spans, order_id)  # the cancel request joined the order's own trace
    [cancel] = spans_named(spans, "order cancel", "order-service")
    assert by_id[cancel["parentId"]]["name"] == "post orders"
    for hop in hops:
        assert_hop(spans, by_id, order_id, *hop)
    [made] = spans_named(spans, "order_cancelled create", "order-service", "PRODUCER")
    assert made["parentId"] == cancel["id"]


def spans_dropped() -> float:
    """What the order site's /metrics says (of the gunicorn worker that answers)."""
    metrics = requests.get(url("order", "/metrics"), timeout=10).text
    return sum(float(n) for n in re.findall(r'^orderpipe_spans_dropped_total\{reason="export_failed"\} (\S+)$',
                                            metrics, re.MULTILINE))


def test_with_zipkin_stopped_orders_still_ship_and_the_lost_spans_are_counted():
    manage_all("down", "zipkin")
    before = spans_dropped()
    orders = [place(OrderRequestFactory(items=seed_items())) for _ in range(4)]  # each worker of the site gets some
    for order_id in orders:
        wait_for(lambda order_id=order_id: order_status(order_id) == "SHIPPED", timeout=SETTLE,
                 what=f"order {order_id} to ship")
    wait_for(lambda: spans_dropped() > before, timeout=SETTLE, interval=0.5, what="the lost spans to be counted")
