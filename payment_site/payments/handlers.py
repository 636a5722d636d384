"""What the payment site does with each event it consumes."""

from common.consumer import Position
from common.events import Event
from payments import services, store


def on_order_placed(event: Event, position: Position) -> None:
    services.payment_process(event=event)


def on_inventory_updated(event: Event, position: Position) -> None:
    if event.payload["status"] == "REJECTED":  # reserved stock needs nothing from payments
        services.payment_refund(event=event)


HANDLERS = {"order_placed": on_order_placed, "inventory_updated": on_inventory_updated}
OUTBOXES = [store.payments]
