"""Fixtures of the order site's tests."""

from datetime import UTC, datetime

import pytest

from orders import store
from tests.factories import order_placed


@pytest.fixture
def placed():
    """An order stored as PENDING whose `order_placed` is kept out of Kafka, so only this test moves it."""
    event = order_placed()
    now = datetime.now(UTC)
    store.order_insert({"_id": event.order_id, **event.payload, "status": "PENDING", "status_rank": 0,
                        "final": False, "reason": None, "created_at": now, "updated_at": now,
                        "placed_event_id": event.event_id})
    return event
