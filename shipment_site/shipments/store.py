"""The shipment site's MongoDB documents: database `shipments`, collection `shipments`, one per order (_id).
A shipment's status is the decision its `shipment_processed` announces (common.events.ShipmentProcessedStatus)."""

import functools

from pymongo.collection import Collection

from common import listing
from common.mongo import collection, insert_or_get_many


@functools.cache
def shipments() -> Collection:
    shipments = collection("shipments", "shipments")
    listing.create_indexes(shipments, (), ("status",))
    shipments.create_index("tracking_number")  # a search for one lands on its shipment
    return shipments


def shipments_insert(documents: list[dict]) -> list[dict]:
    """Insert each order's shipment, or give back the one it already has (one per order)."""
    return insert_or_get_many(shipments(), documents)


def shipment_get(order_id: str) -> dict | None:
    return shipments().find_one({"_id": order_id})


def shipments_page(*, skip: int, limit: int) -> tuple[list[dict], bool]:
    """Newest first, and whether another page follows."""
    return listing.read_page(shipments(), {}, skip=skip, limit=limit, projection={"events": 0})
