"""What the inventory site does with each event it consumes: a batch at a time (common.consumer)."""

from common.consumer import Delivery
from common.events import Event, PaymentProcessedStatus, ShipmentProcessedStatus
from inventory import services


def on_payment_processed(batch: list[Delivery]) -> list[Event]:
    # a declined payment reserves nothing
    paid = [event for event, _ in batch if event.payload["status"] == PaymentProcessedStatus.COMPLETED]
    return services.stock_reserve(paid=paid)


def on_shipment_processed(batch: list[Delivery]) -> list[Event]:
    # the shipment site decides between the parcel and a cancellation: stock follows its decision
    shipped = [event for event, _ in batch if event.payload["status"] == ShipmentProcessedStatus.SHIPPED]
    cancelled = [event for event, _ in batch if event.payload["status"] == ShipmentProcessedStatus.CANCELLED]
    return services.stock_ship(shipped=shipped) + services.stock_release(cancelled=cancelled)


HANDLERS = {"payment_processed": on_payment_processed, "shipment_processed": on_shipment_processed}
