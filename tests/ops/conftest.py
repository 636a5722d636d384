import pytest
import requests

from tests.factories import OrderRequestFactory
from tests.stack import order_status, url, wait_for


@pytest.fixture(scope="session")
def shipped_order() -> str:
    """An order placed through the order site that went all the way: every site has written about it."""
    answer = requests.post(url("order", "/orders"), json=OrderRequestFactory(), timeout=10)
    assert answer.status_code == 201, answer.text
    order_id = answer.json()["order_id"]
    wait_for(lambda: order_status(order_id) == "SHIPPED", timeout=60, what="the order to ship")
    return order_id
