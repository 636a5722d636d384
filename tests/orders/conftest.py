"""Fixtures of the order site's tests."""

import pytest

from tests.factories import order_stored


@pytest.fixture
def placed():
    """An order stored as PENDING whose `order_placed` is kept out of Kafka, so only this test moves it."""
    return order_stored()
