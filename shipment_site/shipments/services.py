"""The shipment site's operations: ship the orders whose stock is reserved, unless a cancellation came first.

The race between a customer's cancellation and the parcel is decided here, by the store: an order has one
shipment document (its id is the _id), and whichever is written first, SHIPPED or CANCELLED, stands.
"""

import uuid
from datetime import UTC, datetime

from django.conf import settings

from common.events import Event, ShipmentProcessedStatus, cancelled_by, caused_by, new_event
from shipments import store

CARRIERS = ["UPS", "FedEx", "DHL"]


def shipments_create(*, reserved: list[Event]) -> list[Event]:
    """One shipment per reserved order, however often its event arrives; returns their `shipment_processed`.

    A shipment keeps the event it caused, so a redelivered reservation re-sends that very event.
    """
    return _insert([_new_shipment(event) for event in reserved], causes=reserved)


def shipments_cancel(*, requests: list[Event]) -> list[Event]:
    """Cancel the orders not shipped yet: their shipment is recorded CANCELLED and never made, and
    `shipment_processed` CANCELLED tells the others to compensate. For an order shipped already the cancel came
    too late: nothing is emitted (the order site sees its SHIPPED status and says so)."""
    return _insert([_cancelled_shipment(event) for event in requests], causes=requests)


def _insert(shipments: list[dict], *, causes: list[Event]) -> list[Event]:
    """A shipment keeps the event it caused, so a redelivered event re-sends that very event; a cause that lost
    the race finds the other shipment, which it did not cause, and sends nothing."""
    stored = store.shipments_insert(shipments)
    return [caused for shipment, event in zip(stored, causes, strict=True) for caused in caused_by(shipment, event)]


def _shipment_id(order_id: str) -> uuid.UUID:
    # Derived from the order id, so a re-processed event describes the very same parcel.
    return uuid.uuid5(uuid.NAMESPACE_URL, f"shipment:{order_id}")


def _new_shipment(event: Event) -> dict:
    shipment_uuid = _shipment_id(event.order_id)
    carrier = CARRIERS[shipment_uuid.int % len(CARRIERS)]
    tracking_number = f"{carrier[:2].upper()}{shipment_uuid.hex[:12].upper()}"
    shipped = new_event(
        "shipment_processed",
        order_id=event.order_id,
        cause=event,
        producer=settings.SERVICE,
        payload={"shipment_id": str(shipment_uuid), "status": ShipmentProcessedStatus.SHIPPED, "carrier": carrier,
                 "tracking_number": tracking_number},
    )
    return {
        "_id": event.order_id,
        "shipment_id": str(shipment_uuid),
        "status": ShipmentProcessedStatus.SHIPPED,
        "reason": None,
        "carrier": carrier,
        "tracking_number": tracking_number,
        "shipping_address": event.payload["shipping_address"],
        "lines": event.payload["lines"],
        "created_at": datetime.now(UTC),
        "events": [shipped.to_dict()],
    }


def _cancelled_shipment(event: Event) -> dict:
    shipment_id = str(_shipment_id(event.order_id))
    reason = cancelled_by(event.payload["requested_by"])
    cancelled = new_event("shipment_processed", order_id=event.order_id, cause=event, producer=settings.SERVICE,
                          payload={"shipment_id": shipment_id, "status": ShipmentProcessedStatus.CANCELLED,
                                   "reason": reason})
    return {"_id": event.order_id, "shipment_id": shipment_id, "status": ShipmentProcessedStatus.CANCELLED,
            "reason": reason, "carrier": None, "tracking_number": None, "shipping_address": None, "lines": [],
            "created_at": datetime.now(UTC), "events": [cancelled.to_dict()]}
