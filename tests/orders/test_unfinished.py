"""The `unfinished` list names the orders that may get stuck. A mark whose order was never written (the request
died in between) or is final (a crash between its move and the mark's removal) is not a stuck order: listing
the stuck ones, and scraping /metrics, skip it and change nothing; the relay removes it, an hour later."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests

from orders import selectors, services, store
from orders.store import OrderStatus
from tests.factories import order_stored
from tests.stack import url, wait_for


def mark(order_id: str, age: timedelta) -> str:
    store.unfinished_add(order_id, datetime.now(UTC) - age)
    return order_id


def marked(order_id: str) -> bool:
    return store.unfinished().find_one({"_id": order_id}) is not None


@pytest.fixture
def old_marks():
    """Make a stuck order (PENDING), a SHIPPED one, and one never written, each marked unfinished `age` ago;
    the stuck one is cancelled afterwards, so that it stays out of the other tests' stuck lists."""
    made = []

    def make(age: timedelta) -> tuple[str, str, str]:
        pending, shipped = order_stored().order_id, order_stored().order_id
        store.orders_move({shipped: (OrderStatus.SHIPPED, None)})
        made.append(pending)
        return mark(pending, age), mark(shipped, age), mark(str(uuid.uuid4()), age)

    yield make
    store.orders_move({pending: (OrderStatus.CANCELLED, "the test is over") for pending in made})
    store.unfinished_remove(made)


def test_listing_the_stuck_orders_only_reads(old_marks):
    pending, shipped, never_written = old_marks(timedelta(minutes=10))

    listed = [order["_id"] for order in selectors.orders_stuck()]
    over_http = requests.get(url("order", "/orders"), params={"stuck": "true"}, timeout=30)
    metrics = requests.get(url("order", "/metrics"), timeout=30)

    assert over_http.status_code == metrics.status_code == 200
    assert pending in listed and shipped not in listed and never_written not in listed
    assert marked(pending) and marked(shipped) and marked(never_written)


def test_the_relay_removes_the_marks_of_orders_that_are_not_unfinished(old_marks):
    pending, shipped, never_written = old_marks(services.UNFINISHED_PRUNE_AFTER + timedelta(minutes=1))
    wait_for(lambda: not marked(shipped) and not marked(never_written), what="the relay to remove the two marks")
    assert marked(pending)
