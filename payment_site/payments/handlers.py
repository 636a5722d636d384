"""What the payment site does with each event it consumes: a batch at a time (common.consumer)."""

from common.consumer import Delivery
from common.events import Event
from payments import services


def on_order_placed(batch: list[Delivery]) -> list[Event]:
    return services.payments_take(orders=[event for event, _ in batch])


def on_inventory_updated(batch: list[Delivery]) -> list[Event]:
    rejected = [event for event, _ in batch if event.payload["status"] == "REJECTED"]  # reserved needs nothing
    return [refund for event in rejected for refund in services.payment_refund(event=event)]


HANDLERS = {"order_placed": on_order_placed, "inventory_updated": on_inventory_updated}
