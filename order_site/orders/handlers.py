"""What the order site does with the events it consumes: follow each order to its real status."""

from common.consumer import Delivery
from common.events import Event
from orders import services, store


def on_downstream_event(batch: list[Delivery]) -> list[Event]:
    return services.orders_track(batch=batch)


HANDLERS = {
    "payment_processed": on_downstream_event,
    "payment_refunded": on_downstream_event,
    "inventory_updated": on_downstream_event,
    "shipment_processed": on_downstream_event,
}
OUTBOXES = [store.orders]
