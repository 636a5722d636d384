"""The shipment site's operation: ship an order whose stock is reserved."""

import logging
import uuid
from datetime import UTC, datetime

from django.conf import settings

from common import outbox
from common.events import Event, new_event
from shipments import store

log = logging.getLogger(__name__)

CARRIERS = ["UPS", "FedEx", "DHL"]


def shipment_create(*, event: Event) -> dict:
    """The shipment for a reserved order: one per order, however often the event arrives."""
    shipment = store.shipment_get(event.order_id) or store.shipment_insert(_new_shipment(event))
    outbox.flush(store.shipments(), shipment)  # sends only what is still marked pending
    return shipment


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
    log.info("shipment %s for order %s: %s %s", shipment_uuid, event.order_id, carrier, tracking_number)
    outbox.mark_pending(store.shipments(), event.order_id, shipped)
    return {
        "_id": event.order_id,
        "shipment_id": str(shipment_uuid),
        "status": "SHIPPED",
        "carrier": carrier,
        "tracking_number": tracking_number,
        "shipping_address": event.payload["shipping_address"],
        "lines": event.payload["lines"],
        "created_at": datetime.now(UTC),
        "outbox": [outbox.entry(shipped)],
    }
