"""The event envelope, one payload serializer per event type, and the topic registry.

Every event on every topic is the JSON envelope below (DESIGN.md section 2). The same serializers
check an event when it is made (before it can reach an outbox) and when it is consumed, so a
malformed event is stopped at the producer and, should one get through, dead-lettered at the consumer.
Money in events is in integer minor units (cents): no floats, and FerretDB v1 has no Decimal128.
"""

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from rest_framework import serializers

SCHEMA_VERSION = 1
# Namespace for derived event ids: uuid5(namespace, "<cause id>:<event type>") is the same on every retry.
EVENT_ID_NAMESPACE = uuid.UUID("6f1c7f3e-0b59-4c55-a1a5-6f9b1a6b2d10")


class PoisonEvent(Exception):
    """An event that can never be processed: it goes to the dead-letter topic with this reason."""


# ---------------------------------------------------------------- payloads


class OrderLine(serializers.Serializer):
    product_id = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=1000)
    unit_price = serializers.IntegerField(min_value=1, help_text="minor units (cents)")


class StockLine(serializers.Serializer):
    product_id = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1)


class OrderPlaced(serializers.Serializer):
    customer_id = serializers.CharField(max_length=64)
    items = OrderLine(many=True, min_length=1, max_length=100)
    total_amount = serializers.IntegerField(min_value=1)
    currency = serializers.CharField(min_length=3, max_length=3)
    shipping_address = serializers.CharField(max_length=500)

    def validate(self, attrs):
        if attrs["total_amount"] != sum(line["quantity"] * line["unit_price"] for line in attrs["items"]):
            raise serializers.ValidationError({"total_amount": "does not equal the sum of the lines"})
        return attrs


# Event-carried state: a site never reads another's collections, so what the next step needs travels along
# (inventory needs the lines, shipment the address).
class PaymentProcessed(serializers.Serializer):
    payment_id = serializers.CharField(max_length=64)
    status = serializers.ChoiceField(["COMPLETED", "DECLINED"])
    amount = serializers.IntegerField(min_value=0)
    reason = serializers.CharField(max_length=200, required=False, allow_null=True)
    lines = StockLine(many=True, min_length=1, max_length=100)
    shipping_address = serializers.CharField(max_length=500)


class InventoryUpdated(serializers.Serializer):
    reservation_id = serializers.CharField(max_length=64)
    status = serializers.ChoiceField(["RESERVED", "REJECTED"])
    lines = StockLine(many=True, min_length=1, max_length=100)
    reason = serializers.ChoiceField(["OUT_OF_STOCK", "UNKNOWN_PRODUCT"], required=False, allow_null=True)
    shipping_address = serializers.CharField(max_length=500)

    def validate(self, attrs):
        if attrs["status"] == "REJECTED" and not attrs.get("reason"):
            raise serializers.ValidationError({"reason": "a rejection needs a reason"})
        return attrs


class PaymentRefunded(serializers.Serializer):
    payment_id = serializers.CharField(max_length=64)
    amount = serializers.IntegerField(min_value=0)
    reason = serializers.CharField(max_length=200)


class ShipmentProcessed(serializers.Serializer):
    shipment_id = serializers.CharField(max_length=64)
    status = serializers.ChoiceField(["SHIPPED"])
    carrier = serializers.CharField(max_length=64)
    tracking_number = serializers.CharField(max_length=64)


@dataclass(frozen=True)
class Topic:
    name: str
    payload: type[serializers.Serializer]
    producer: str

    @property
    def dead_letter(self) -> str:
        return f"{self.name}.DLT"


# The topic registry: an event's type is the name of the topic it travels on.
TOPICS = {
    topic.name: topic
    for topic in [
        Topic("order_placed", OrderPlaced, "order-service"),
        Topic("payment_processed", PaymentProcessed, "payment-service"),
        Topic("payment_refunded", PaymentRefunded, "payment-service"),
        Topic("inventory_updated", InventoryUpdated, "inventory-service"),
        Topic("shipment_processed", ShipmentProcessed, "shipment-service"),
    ]
}


# ---------------------------------------------------------------- envelope


class Envelope(serializers.Serializer):
    event_id = serializers.UUIDField(format="hex_verbose")
    event_type = serializers.ChoiceField(list(TOPICS))
    schema_version = serializers.IntegerField()
    occurred_at = serializers.DateTimeField()
    order_id = serializers.CharField(max_length=64)
    correlation_id = serializers.CharField(max_length=64)
    causation_id = serializers.UUIDField(format="hex_verbose", allow_null=True)
    producer = serializers.CharField(max_length=64)
    payload = serializers.DictField()

    def validate_schema_version(self, value):
        if value != SCHEMA_VERSION:
            raise serializers.ValidationError(f"unknown schema version {value} (this consumer reads {SCHEMA_VERSION})")
        return value

    def validate(self, attrs):
        payload = TOPICS[attrs["event_type"]].payload(data=attrs["payload"])
        if not payload.is_valid():
            raise serializers.ValidationError({"payload": payload.errors})
        return attrs


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
        return asdict(self)

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()


def now_iso() -> str:
    """UTC, millisecond precision, fixed width: such strings sort in time order (the outbox relay relies on it)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_event(event_type: str, *, order_id: str, payload: dict, producer: str, cause: Event | None = None) -> Event:
    """A new, valid event. One caused by another gets a deterministic id, so a retry re-emits the same event."""
    checked = TOPICS[event_type].payload(data=payload)
    checked.is_valid(raise_exception=True)
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
        payload=json.loads(json.dumps(checked.data)),
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
    envelope = Envelope(data=data)
    if not envelope.is_valid():
        raise PoisonEvent(f"invalid event: {json.dumps(envelope.errors)}")
    if data["event_type"] != topic:
        raise PoisonEvent(f"event_type {data['event_type']!r} arrived on topic {topic!r}")
    return event_from_dict(data)
