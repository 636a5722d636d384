"""What the inventory site does with each event it consumes."""

from common.consumer import Position
from common.events import Event
from inventory import services, store


def on_payment_processed(event: Event, position: Position) -> None:
    if event.payload["status"] == "COMPLETED":  # a declined payment reserves nothing
        services.reserve_stock(event=event)


HANDLERS = {"payment_processed": on_payment_processed}
OUTBOXES = [store.reservations]
