"""The stuck orders: not final ORDER_STUCK_AFTER_SECONDS after they were placed, oldest first. They are read from
the orders themselves, a page at a time by status (the status list's index), so a POST writes nothing for them."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import requests

from orders import selectors, store
from orders.store import OrderStatus
from tests.factories import order_stored
from tests.stack import url


@pytest.fixture
def placed():
    """Make an order placed `age` ago, moved to `status`; those left unfinished are cancelled afterwards, so that
    they stay out of the other tests' stuck lists."""
    made = []

    def place(age: timedelta, status: OrderStatus | None = None) -> str:
        order_id = order_stored().order_id
        store.orders().update_one({"_id": order_id}, {"$set": {"created_at": datetime.now(UTC) - age}})
        if status:
            store.orders_move({order_id: (status, None)})
        made.append(order_id)
        return order_id

    yield place
    store.orders_move({order_id: (OrderStatus.CANCELLED, "the test is over") for order_id in made})


def test_the_orders_not_final_long_after_they_were_placed_are_stuck_oldest_first(placed):
    pending, paid = placed(timedelta(minutes=30)), placed(timedelta(minutes=20), OrderStatus.PAID)
    reserved = placed(timedelta(minutes=10), OrderStatus.RESERVED)
    final = {placed(timedelta(minutes=40), OrderStatus.SHIPPED), placed(timedelta(minutes=40), OrderStatus.CANCELLED)}
    just_placed = placed(-timedelta(minutes=5))  # newer than any cutoff: the test stack's limit is 5 s
    ours = {pending, paid, reserved, just_placed} | final

    listed = [order["_id"] for order in selectors.orders_stuck() if order["_id"] in ours]
    over_http = requests.get(url("order", "/orders"), params={"stuck": "true", "page_size": 100}, timeout=30)
    metrics = requests.get(url("order", "/metrics"), timeout=30)

    assert listed == [pending, paid, reserved]
    assert over_http.status_code == metrics.status_code == 200
    assert [order["order_id"] for order in over_http.json()["results"] if order["order_id"] in ours] == listed
    assert float(re.search(r"^orderpipe_orders_stuck (\S+)$", metrics.text, re.M).group(1)) >= 3


def test_every_page_of_a_status_is_read_up_to_the_cutoff(placed):
    oldest_first = [placed(timedelta(minutes=30, seconds=-n)) for n in range(5)]

    found = store.orders_unfinished_since(selectors.stuck_since(), page_size=2)

    assert [order["_id"] for order in found if order["_id"] in oldest_first] == oldest_first
