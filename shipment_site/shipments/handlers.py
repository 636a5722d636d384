"""What the shipment site does with each event it consumes: a batch at a time (common.consumer)."""

from common.consumer import Delivery
from common.events import Event, InventoryUpdatedStatus
from shipments import services


def on_inventory_updated(batch: list[Delivery]) -> list[Event]:
    # rejected stock is the payment site's business (refund); released stock was never going to ship
    reserved = [event for event, _ in batch if event.payload["status"] == InventoryUpdatedStatus.RESERVED]
    return services.shipments_create(reserved=reserved)


def on_order_cancelled(batch: list[Delivery]) -> list[Event]:
    return services.shipments_cancel(requests=[event for event, _ in batch])


HANDLERS = {"inventory_updated": on_inventory_updated, "order_cancelled": on_order_cancelled}
