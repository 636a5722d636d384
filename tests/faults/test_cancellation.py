"""A customer's cancellation racing the pipeline at each step, against the real processes.

Whenever it comes, an order ends one of two ways, never a mix: CANCELLED, its payment refunded (or never
taken) and its stock back in `available`; or SHIPPED, nothing refunded, and its timeline saying the cancel
came too late. Each stage is held still by stopping the consumer of the next step.
"""

import random
import threading

import pytest
import requests

from inventory import store as inventory_store
from payments import store as payment_store
from tests.conftest import FAULT_REPORT
from tests.factories import ProductFactory, unique
from tests.faults.pipeline import wait_until_consumed
from tests.stack import manage_all, order_status, records_for, url, wait_for

pytestmark = pytest.mark.faults


@pytest.fixture(autouse=True)
def whole_stack_after():
    yield
    manage_all("up")  # whatever a test stopped comes back before the next one


def place(product: dict, quantity: int = 2) -> str:
    body = {"customer_id": unique("CANCEL"), "shipping_address": "1 Change-of-Mind Road",
            "items": [{"product_id": product["_id"], "quantity": quantity, "price": 10.00}],
            "total_amount": 10.00 * quantity}
    response = requests.post(url("order", "/orders"), json=body, timeout=15)
    assert response.status_code == 201, response.text
    return response.json()["order_id"]


def cancel(order_id: str, **body) -> requests.Response:
    return requests.post(url("order", f"/orders/{order_id}/cancel"), json=body, timeout=15)


def stock(product: dict) -> tuple[int, int, int]:
    found = inventory_store.product_get(product["_id"])
    assert found["available"] + found["reserved"] + found["shipped"] == found["received"], found
    return found["available"], found["reserved"], found["shipped"]


def outcome(order_id: str, product: dict) -> str:
    """Wait until the order and its compensation have settled; assert it is one of the two outcomes."""
    wait_for(lambda: order_status(order_id) in ("SHIPPED", "CANCELLED"), timeout=60, what="the order to end")
    wait_until_consumed()  # the compensation's events, and any that came late
    order = requests.get(url("order", f"/orders/{order_id}"), timeout=10).json()
    timeline = requests.get(url("order", f"/orders/{order_id}/timeline"), timeout=10).json()
    payment = payment_store.payment_get(order_id)
    reservation = inventory_store.reservation_get(order_id)
    if order["status"] == "CANCELLED":
        assert order["reason"] == "cancelled by customer" and order["cancellation"]["outcome"] == "cancelled"
        assert payment is None or payment["status"] in ("REFUNDED", "CANCELLED"), payment
        assert reservation is None or reservation["status"] in ("RELEASED", "CANCELLED"), reservation
    else:
        assert order["cancellation"]["outcome"] == "too late"
        assert payment["status"] == "COMPLETED" and reservation["status"] == "SHIPPED"
        assert any("the cancel came too late" in step["note"] for step in timeline), timeline
    assert [step["event_type"] for step in timeline].count("order_cancelled") == 1, timeline
    return order["status"]


def test_a_cancel_before_the_payment_takes_no_money_and_no_stock():
    product = ProductFactory(available=10)
    manage_all("down", "consumer-payment-1")
    order_id = place(product)
    answer = cancel(order_id, reason="ordered the wrong size")
    assert answer.status_code == 202 and answer.json()["cancellation"]["outcome"] == "pending"
    assert answer.json()["cancellation"]["note"] == "ordered the wrong size"
    manage_all("up", "consumer-payment-1")
    assert outcome(order_id, product) == "CANCELLED"
    assert stock(product) == (10, 0, 0)


def test_a_cancel_after_the_payment_refunds_it_and_reserves_nothing():
    product = ProductFactory(available=10)
    manage_all("down", "consumer-inventory-1")
    order_id = place(product)
    wait_for(lambda: order_status(order_id) == "PAID", timeout=30, what="the payment")
    assert cancel(order_id).status_code == 202
    wait_for(lambda: payment_store.payment_get(order_id)["status"] == "REFUNDED", timeout=30, what="the refund")
    manage_all("up", "consumer-inventory-1")
    assert outcome(order_id, product) == "CANCELLED"
    assert stock(product) == (10, 0, 0)
    steps = [step["note"] for step in requests.get(url("order", f"/orders/{order_id}/timeline"), timeout=10).json()]
    assert "compensation: payment refunded (cancelled by customer)" in steps, steps


def test_a_cancel_after_the_reservation_either_releases_the_stock_or_comes_too_late():
    product = ProductFactory(available=10)
    manage_all("down", "consumer-shipment-1")
    order_id = place(product, quantity=3)
    wait_for(lambda: order_status(order_id) == "RESERVED", timeout=30, what="the reservation")
    assert stock(product) == (7, 3, 0)
    assert cancel(order_id).status_code == 202
    manage_all("up", "consumer-shipment-1")  # it finds the reservation and the cancel waiting: either may be first
    ended = outcome(order_id, product)
    assert stock(product) == ((10, 0, 0) if ended == "CANCELLED" else (7, 0, 3))


def test_cancels_racing_the_shipments_end_each_order_one_way_or_the_other():
    product = ProductFactory(available=1000)
    orders = [place(product, quantity=1) for _ in range(30)]
    racing = []
    for order_id in orders:  # each cancel a random moment after its order, while the pipeline runs
        timer = threading.Timer(random.uniform(0, 1.5), lambda o=order_id: racing.append((o, cancel(o).status_code)))
        timer.start()
    wait_for(lambda: len(racing) == len(orders), timeout=30, what="the cancel requests")
    assert {code for _, code in racing} <= {202, 409}  # 409: it had shipped already
    ended = [outcome(order_id, product) for order_id, code in racing if code == 202]
    shipped = sum(1 for order_id in orders if order_status(order_id) == "SHIPPED")
    assert stock(product) == (1000 - shipped, 0, shipped)
    FAULT_REPORT.append(f"30 cancels racing the pipeline: {ended.count('CANCELLED')} cancelled, "
                        f"{ended.count('SHIPPED')} too late, {len(orders) - len(ended)} refused (already shipped)")


def test_cancel_answers():
    product = ProductFactory(available=10)
    manage_all("down", "consumer-payment-1")
    order_id = place(product)
    assert cancel(order_id, reson="typo").status_code == 400  # unknown field
    first = cancel(order_id)
    again = cancel(order_id)  # repeated: the first request stands, nothing new is sent
    assert first.status_code == again.status_code == 202
    assert first.json()["cancellation"] == again.json()["cancellation"]
    sent = wait_for(lambda: records_for("order_cancelled", order_id), timeout=30, what="the cancel on Kafka")
    assert len(sent) == 1
    assert cancel("no-such-order").status_code == 404 and cancel("not an id!").status_code == 404
    manage_all("up", "consumer-payment-1")
    wait_for(lambda: order_status(order_id) == "CANCELLED", timeout=60, what="the cancellation")
    final = cancel(order_id)
    assert final.status_code == 409 and final.json()["status"] == "CANCELLED"
