"""The event envelope, one payload model per event type, and the topic registry.

Every event on every topic is the JSON envelope below (README, "How it works"). The same models check an
event when it is made (before it can reach a topic or an outbox) and when it is consumed, so a
malformed event is stopped at the producer and, should one get through, dead-lettered at the consumer.
They are pydantic models, not DRF serializers: every event is checked several times on its way, and
pydantic does it in microseconds where DRF took most of a millisecond (measured: docs/performance.md).
Money in events is in integer minor units (cents): no floats, and FerretDB v1 has no Decimal128.
"""

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

SCHEMA_VERSION = 1
# Namespace for derived event ids: uuid5(namespace, "<cause id>:<event type>") is the same on every retry.
EVENT_ID_NAMESPACE = uuid.UUID("6f1c7f3e-0b59-4c55-a1a5-6f9b1a6b2d10")


class PoisonEvent(Exception):
    """An event that can never be processed: it goes to the dead-letter topic with this reason."""


def Text(max_length: int):  # noqa: N802 (a type, named like one)
    return Annotated[str, Field(max_length=max_length)]


# ---------------------------------------------------------------- payloads


class OrderLine(BaseModel):
    product_id: Text(64)
    quantity: Annotated[int, Field(ge=1, le=1000)]
    unit_price: Annotated[int, Field(ge=1, description="minor units (cents)")]


class StockLine(BaseModel):
    product_id: Text(64)
    quantity: Annotated[int, Field(ge=1)]


class OrderPlaced(BaseModel):
    customer_id: Text(64)
    items: Annotated[list[OrderLine], Field(min_length=1, max_length=100)]
    total_amount: Annotated[int, Field(ge=1)]
    currency: Annotated[str, Field(min_length=3, max_length=3)]
    shipping_address: Text(500)

    @model_validator(mode="after")
    def total_is_the_sum_of_the_lines(self):
        if self.total_amount != sum(line.quantity * line.unit_price for line in self.items):
            raise ValueError("total_amount does not equal the sum of the lines")
        return self


class PaymentProcessedStatus(StrEnum):
    COMPLETED = "COMPLETED"
    DECLINED = "DECLINED"


# Event-carried state: a site never reads another's collections, so what the next step needs travels along
# (inventory needs the lines, shipment the address).
class PaymentProcessed(BaseModel):
    payment_id: Text(64)
    status: PaymentProcessedStatus
    amount: Annotated[int, Field(ge=0)]
    reason: Text(200) | None = None
    lines: Annotated[list[StockLine], Field(min_length=1, max_length=100)]
    shipping_address: Text(500)


class InventoryUpdatedStatus(StrEnum):
    """RESERVED or REJECTED answers a payment; RELEASED gives a cancelled order's stock back to `available`."""
    RESERVED = "RESERVED"
    REJECTED = "REJECTED"
    RELEASED = "RELEASED"


class InventoryUpdatedReason(StrEnum):
    OUT_OF_STOCK = "OUT_OF_STOCK"
    UNKNOWN_PRODUCT = "UNKNOWN_PRODUCT"
    CANCELLED = "CANCELLED"  # RELEASED: the order was cancelled before it shipped


class InventoryUpdated(BaseModel):
    reservation_id: Text(64)
    status: InventoryUpdatedStatus
    lines: Annotated[list[StockLine], Field(min_length=1, max_length=100)]
    reason: InventoryUpdatedReason | None = None
    shipping_address: Text(500)

    @model_validator(mode="after")
    def a_rejection_has_a_reason(self):
        if self.status != InventoryUpdatedStatus.RESERVED and not self.reason:
            raise ValueError(f"{self.status.lower()} stock needs a reason")
        return self


class PaymentRefunded(BaseModel):
    payment_id: Text(64)
    amount: Annotated[int, Field(ge=0)]
    reason: Text(200)


CANCEL_REQUESTERS = ("customer", "staff")


class OrderCancelled(BaseModel):
    """A request to cancel, not its outcome: the shipment site decides whether it came in time."""
    requested_by: Literal[CANCEL_REQUESTERS]
    note: Text(500) | None = None


def cancelled_by(requested_by: str) -> str:
    """The reason a cancelled order, its refund and its shipment carry: "cancelled by customer" (or staff)."""
    return f"cancelled by {requested_by}"


CANCELLATION_REASONS = {cancelled_by(requester) for requester in CANCEL_REQUESTERS}


class ShipmentProcessedStatus(StrEnum):
    """SHIPPED: the parcel left. CANCELLED: a cancellation reached the shipment site first, so it never will."""
    SHIPPED = "SHIPPED"
    CANCELLED = "CANCELLED"


class ShipmentProcessed(BaseModel):
    shipment_id: Text(64)
    status: ShipmentProcessedStatus
    carrier: Text(64) | None = None
    tracking_number: Text(64) | None = None
    reason: Text(200) | None = None

    @model_validator(mode="after")
    def a_parcel_has_a_carrier(self):
        if self.status == ShipmentProcessedStatus.SHIPPED and not (self.carrier and self.tracking_number):
            raise ValueError("a shipped parcel needs a carrier and a tracking number")
        if self.status == ShipmentProcessedStatus.CANCELLED and not self.reason:
            raise ValueError("a cancelled shipment needs a reason")
        return self


@dataclass(frozen=True)
class Topic:
    name: str
    payload: type[BaseModel]
    producer: str

    @property
    def dead_letter(self) -> str:
        return f"{self.name}.DLT"


# The topic registry: an event's type is the name of the topic it travels on.
TOPICS = {
    topic.name: topic
    for topic in [
        Topic("order_placed", OrderPlaced, "order-service"),
        Topic("order_cancelled", OrderCancelled, "order-service"),
        Topic("payment_processed", PaymentProcessed, "payment-service"),
        Topic("payment_refunded", PaymentRefunded, "payment-service"),
        Topic("inventory_updated", InventoryUpdated, "inventory-service"),
        Topic("shipment_processed", ShipmentProcessed, "shipment-service"),
    ]
}


# ---------------------------------------------------------------- how an order ends


class OrderEnd(StrEnum):
    """The two final statuses of an order: nothing changes it once it has one."""
    SHIPPED = "SHIPPED"
    CANCELLED = "CANCELLED"


# The topics whose events can end an order (order_end says which of their events do).
ORDER_END_TOPICS = ("payment_processed", "payment_refunded", "shipment_processed")


def order_end(event_type: str, payload: dict) -> OrderEnd | None:
    """How an event ends its order, or None if the order goes on. Decided here once, for the order site, the
    notification site and the benchmark. A cancelled order may see more than one such event (the shipment
    site's decision, then the refund it causes): the first decides, and the others agree with it.

    `order_cancelled` is not one: it is a request, and the shipment site's answer (shipment_processed CANCELLED,
    or SHIPPED if it came too late) is what ends the order. Nor is inventory_updated REJECTED: the order ends
    once its payment is refunded.
    """
    match event_type, payload.get("status"):
        case "shipment_processed", ShipmentProcessedStatus.SHIPPED:
            return OrderEnd.SHIPPED
        case "shipment_processed", ShipmentProcessedStatus.CANCELLED:
            return OrderEnd.CANCELLED
        case "payment_processed", PaymentProcessedStatus.DECLINED:
            return OrderEnd.CANCELLED
        case "payment_refunded", _:
            return OrderEnd.CANCELLED
    return None


# ---------------------------------------------------------------- envelope


class Envelope(BaseModel):
    event_id: uuid.UUID
    event_type: Literal[tuple(TOPICS)]
    schema_version: int
    occurred_at: datetime
    order_id: Text(64)
    correlation_id: Text(64)
    causation_id: uuid.UUID | None
    producer: Text(64)
    payload: dict

    @field_validator("schema_version")
    @classmethod
    def known_schema_version(cls, value):
        if value != SCHEMA_VERSION:
            raise ValueError(f"unknown schema version {value} (this consumer reads {SCHEMA_VERSION})")
        return value


def _errors(error: ValidationError, *within: str) -> str:
    """`field.path: what is wrong`, one per problem: a reason a person can read in the dead-letter headers."""
    return "; ".join(f"{'.'.join(map(str, (*within, *e['loc'])))}: {e['msg']}" for e in error.errors())


@dataclass(frozen=True)
class Event:
    event_id: str
    event_type: str
    schema_version: int
    occurred_at: str
    order_id: str
    correlation_id: str
    causation_id: str | None
    producer: str
    payload: dict

    def to_dict(self) -> dict:
        # shallow: the payload is plain JSON data that nothing changes (dataclasses.asdict deep-copied it,
        # a tenth of a request's CPU)
        return dict(vars(self))

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()


def now_iso() -> str:
    """UTC, millisecond precision, fixed width: such strings sort in time order (the outbox relay relies on it)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_event(event_type: str, *, order_id: str, payload: dict, producer: str, cause: Event | None = None) -> Event:
    """A new, valid event. One caused by another gets a deterministic id, so a retry re-emits the same event."""
    checked = TOPICS[event_type].payload.model_validate(payload)  # raises ValidationError: a bug, not bad input
    if cause is None:
        event_id = str(uuid.uuid4())
    else:
        event_id = str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{cause.event_id}:{event_type}"))
    return Event(
        event_id=event_id,
        event_type=event_type,
        schema_version=SCHEMA_VERSION,
        occurred_at=now_iso(),
        order_id=order_id,
        correlation_id=cause.correlation_id if cause else order_id,
        causation_id=cause.event_id if cause else None,
        producer=producer,
        payload=checked.model_dump(mode="json"),
    )


def caused_by(document: dict, cause: Event) -> list[Event]:
    """The events a result document keeps that `cause` made it emit (sent again when `cause` is redelivered)."""
    return [event_from_dict(item) for item in document["events"] if item["causation_id"] == cause.event_id]


def event_from_dict(data: dict) -> Event:
    return Event(**{field: data[field] for field in Event.__dataclass_fields__})


def parse_event(raw: bytes | None, topic: str) -> Event:
    """The event in a Kafka record's value, checked; PoisonEvent says why it can never be processed."""
    try:
        data = json.loads(raw)
    except (TypeError, ValueError) as error:
        raise PoisonEvent(f"not JSON: {error}") from None
    if not isinstance(data, dict):
        raise PoisonEvent("not a JSON object")
    try:
        envelope = Envelope.model_validate(data)
    except ValidationError as error:
        raise PoisonEvent(f"invalid event: {_errors(error)}") from None
    try:
        TOPICS[envelope.event_type].payload.model_validate(envelope.payload)
    except ValidationError as error:
        raise PoisonEvent(f"invalid event: {_errors(error, 'payload')}") from None
    if envelope.event_type != topic:
        raise PoisonEvent(f"event_type {envelope.event_type!r} arrived on topic {topic!r}")
    return event_from_dict(data)
