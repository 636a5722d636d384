"""What the notification site does with each event it consumes: a batch at a time (common.consumer)."""

from common.consumer import Delivery
from common.events import ORDER_END_TOPICS, Event
from notifications import services


def on_order_placed(batch: list[Delivery]) -> list[Event]:
    services.recipients_record(orders=[event for event, _ in batch])
    return []  # a mail causes no event


def on_outcome(batch: list[Delivery]) -> list[Event]:
    services.notifications_send(outcomes=[event for event, _ in batch])
    return []


HANDLERS = {"order_placed": on_order_placed, **dict.fromkeys(ORDER_END_TOPICS, on_outcome)}
