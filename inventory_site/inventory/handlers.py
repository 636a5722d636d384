"""What the inventory site does with each event it consumes: a batch at a time (common.consumer)."""

from common.consumer import Delivery
from common.events import Event
from inventory import services


def on_payment_processed(batch: list[Delivery]) -> list[Event]:
    # a declined payment reserves nothing
    return services.stock_reserve(paid=[event for event, _ in batch if event.payload["status"] == "COMPLETED"])


def on_shipment_processed(batch: list[Delivery]) -> list[Event]:
    # the shipment site decides between the parcel and a cancellation: stock follows its decision
    events = [event for event, _ in batch]
    return (services.stock_ship(shipped=[e for e in events if e.payload["status"] == "SHIPPED"])
            + services.stock_release(cancelled=[e for e in events if e.payload["status"] == "CANCELLED"]))


HANDLERS = {"payment_processed": on_payment_processed, "shipment_processed": on_shipment_processed}
