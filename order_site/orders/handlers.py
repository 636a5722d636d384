"""What the order site does with each event it consumes: follow the order to its real status."""

from orders import services, store

HANDLERS = {
    "payment_processed": services.order_track_event,
    "payment_refunded": services.order_track_event,
    "inventory_updated": services.order_track_event,
    "shipment_processed": services.order_track_event,
}
OUTBOXES = [store.orders]
