"""The shipment site's MongoDB documents: database `shipments`, collection `shipments`, one per order (_id)."""

import functools

from pymongo import DESCENDING
from pymongo.collection import Collection

from common.mongo import collection, insert_or_get


@functools.cache
def shipments() -> Collection:
    shipments = collection("shipments", "shipments")
    shipments.create_index([("created_at", DESCENDING)])
    return shipments


def shipment_insert(document: dict) -> dict:
    """Insert the order's shipment, or return the one it already has (one per order)."""
    return insert_or_get(shipments(), document)


def shipment_get(order_id: str) -> dict | None:
    return shipments().find_one({"_id": order_id})


def shipments_page(*, skip: int, limit: int) -> tuple[list[dict], int]:
    documents = list(shipments().find({}, {"outbox": 0}, sort=[("created_at", DESCENDING)], skip=skip, limit=limit))
    return documents, shipments().count_documents({})
