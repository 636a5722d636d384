"""Test data: API requests and events shaped like the real ones, with unique ids so tests never collide."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import factory
from django.conf import settings

from common.consumer import Delivery, Position
from common.events import new_event
from inventory import store as inventory_store
from orders import store as order_store


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def seed_items() -> list[dict]:
    """The seed README's sample order lines."""
    return [{"product_id": "P001", "quantity": 2, "price": 29.99},
            {"product_id": "P002", "quantity": 1, "price": 49.99}]


def total_of(items: list[dict]) -> float:
    return float(sum(Decimal(str(item["price"])) * item["quantity"] for item in items))


class OrderRequestFactory(factory.DictFactory):
    """A POST /orders body, as a client sends it (decimal prices)."""

    customer_id = factory.LazyFunction(lambda: unique("CUST"))
    items = factory.LazyFunction(seed_items)
    shipping_address = factory.Faker("address")
    total_amount = factory.LazyAttribute(lambda order: total_of(order.items))


class ProductFactory(factory.DictFactory):
    """A product of the inventory site's own, so a test knows its exact stock."""

    _id = factory.LazyFunction(lambda: unique("TEST"))
    name = factory.Faker("word")
    price = 1000
    available = 10

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        product = super()._create(model_class, *args, **kwargs)
        assert inventory_store.product_insert(inventory_store.products(), product)
        return product


def order_placed(*, lines: list[tuple[str, int]] | None = None, unit_price: int = 1000, **overrides):
    """A valid `order_placed` event for a new order id (not sent anywhere)."""
    items = [{"product_id": p, "quantity": q, "unit_price": unit_price} for p, q in (lines or [("P001", 1)])]
    payload = {
        "customer_id": unique("CUST"),
        "items": items,
        "total_amount": sum(i["quantity"] * i["unit_price"] for i in items),
        "currency": "USD",
        "shipping_address": "1 Test Street",
        **overrides,
    }
    return new_event("order_placed", order_id=str(uuid.uuid4()), payload=payload, producer="order-service")


def order_stored():
    """The `order_placed` of an order stored as PENDING, as POST /orders stores it, but kept out of Kafka."""
    event = order_placed()
    now = datetime.now(UTC)
    order_store.order_insert({"_id": event.order_id, **event.payload, "status": "PENDING", "status_rank": 0,
                              "final": False, "reason": None, "created_at": now, "updated_at": now,
                              "placed_event_id": event.event_id})
    return event


def follow_up(cause, event_type: str, payload: dict):
    """An event caused by `cause` (same order), as the site producing `event_type` would make it."""
    return new_event(event_type, order_id=cause.order_id, payload=payload, producer=settings.SERVICE, cause=cause)


def delivered(*events) -> list[Delivery]:
    """A poll batch of these events, as the consumer loop hands it to a handler."""
    return [Delivery(event, Position(event.event_type, 0, offset)) for offset, event in enumerate(events)]


def cancel_requested(placed, requested_by: str = "customer"):
    """The order site's `order_cancelled` for the order of `placed`."""
    return new_event("order_cancelled", order_id=placed.order_id, payload={"requested_by": requested_by},
                     producer="order-service")


def shipment_cancelled(request):
    """The shipment site's decision that a cancel request came in time."""
    return follow_up(request, "shipment_processed", {"shipment_id": "s", "status": "CANCELLED",
                                                     "reason": f"cancelled by {request.payload['requested_by']}"})


def shipment_shipped(cause):
    return follow_up(cause, "shipment_processed",
                     {"shipment_id": "s", "status": "SHIPPED", "carrier": "UPS", "tracking_number": "1Z"})
