"""What the payment site does with each event it consumes: a batch at a time (common.consumer)."""

from common.consumer import Delivery
from common.events import Event, InventoryUpdatedStatus, ShipmentProcessedStatus
from payments import services


def on_order_placed(batch: list[Delivery]) -> list[Event]:
    return services.payments_take(orders=[event for event, _ in batch])


def on_inventory_updated(batch: list[Delivery]) -> list[Event]:
    # reserved needs nothing; released stock belongs to a cancellation, which refunds on shipment_processed
    rejected = [event for event, _ in batch if event.payload["status"] == InventoryUpdatedStatus.REJECTED]
    return [refund for event in rejected for refund in services.payment_refund(event=event)]


def on_shipment_processed(batch: list[Delivery]) -> list[Event]:
    # a shipped parcel needs nothing
    cancelled = [event for event, _ in batch if event.payload["status"] == ShipmentProcessedStatus.CANCELLED]
    return services.payments_cancel(cancelled=cancelled)


HANDLERS = {"order_placed": on_order_placed, "inventory_updated": on_inventory_updated,
            "shipment_processed": on_shipment_processed}
