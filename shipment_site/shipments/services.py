"""The shipment site's operation: ship the orders whose stock is reserved."""

import uuid
from datetime import UTC, datetime

from django.conf import settings

from common.events import Event, caused_by, new_event
from shipments import store

CARRIERS = ["UPS", "FedEx", "DHL"]


def shipments_create(*, reserved: list[Event]) -> list[Event]:
    """One shipment per reserved order, however often its event arrives; returns their `shipment_processed`.

    A shipment keeps the event it caused, so a redelivered reservation re-sends that very event.
    """
    shipments = store.shipments_insert([_new_shipment(event) for event in reserved])
    return [caused for shipment, event in zip(shipments, reserved, strict=True)
            for caused in caused_by(shipment, event)]


def _new_shipment(event: Event) -> dict:
    # Derived from the order id, so a re-processed event describes the very same parcel.
    shipment_uuid = uuid.uuid5(uuid.NAMESPACE_URL, f"shipment:{event.order_id}")
    carrier = CARRIERS[shipment_uuid.int % len(CARRIERS)]
    tracking_number = f"{carrier[:2].upper()}{shipment_uuid.hex[:12].upper()}"
    shipped = new_event(
        "shipment_processed",
        order_id=event.order_id,
        cause=event,
        producer=settings.SERVICE,
        payload={"shipment_id": str(shipment_uuid), "status": "SHIPPED", "carrier": carrier,
                 "tracking_number": tracking_number},
    )
    return {
        "_id": event.order_id,
        "shipment_id": str(shipment_uuid),
        "status": "SHIPPED",
        "carrier": carrier,
        "tracking_number": tracking_number,
        "shipping_address": event.payload["shipping_address"],
        "lines": event.payload["lines"],
        "created_at": datetime.now(UTC),
        "events": [shipped.to_dict()],
    }
