"""What the inventory site does with each event it consumes: a batch at a time (common.consumer)."""

from common.consumer import Delivery
from common.events import Event
from inventory import services


def on_payment_processed(batch: list[Delivery]) -> list[Event]:
    # a declined payment reserves nothing
    return services.stock_reserve(paid=[event for event, _ in batch if event.payload["status"] == "COMPLETED"])


HANDLERS = {"payment_processed": on_payment_processed}
