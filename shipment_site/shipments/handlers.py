"""What the shipment site does with each event it consumes."""

from common.consumer import Position
from common.events import Event
from shipments import services, store


def on_inventory_updated(event: Event, position: Position) -> None:
    if event.payload["status"] == "RESERVED":  # rejected stock is the payment site's business (refund)
        services.shipment_create(event=event)


HANDLERS = {"inventory_updated": on_inventory_updated}
OUTBOXES = [store.shipments]
