"""The payment site's MongoDB documents: database `payments`, collection `payments`, one per order (_id)."""

import functools
from enum import StrEnum

from pymongo import ReturnDocument
from pymongo.collection import Collection

from common import listing
from common.events import PaymentProcessedStatus
from common.mongo import collection, insert_or_get_many


class PaymentStatus(StrEnum):
    COMPLETED = PaymentProcessedStatus.COMPLETED
    DECLINED = PaymentProcessedStatus.DECLINED
    REFUNDED = "REFUNDED"  # after the order's stock was rejected, or the order cancelled
    CANCELLED = "CANCELLED"  # the order was cancelled before its payment: none taken


@functools.cache
def payments() -> Collection:
    payments = collection("payments", "payments")
    listing.create_indexes(payments, (), ("status",), ("customer_id",), ("customer_id", "status"))
    payments.create_index("payment_id")  # a search for one lands on its payment
    return payments


def payments_insert(documents: list[dict]) -> list[dict]:
    """Insert each order's payment, or give back the one it already has (the order id is the _id: one per order)."""
    return insert_or_get_many(payments(), documents)


def payment_get(order_id: str) -> dict | None:
    return payments().find_one({"_id": order_id})


def payments_page(*, status: str | None, skip: int, limit: int) -> tuple[list[dict], bool]:
    """Newest first, and whether another page follows."""
    return listing.read_page(payments(), {"status": status}, skip=skip, limit=limit, projection={"events": 0})


def payment_record_refund(*, order_id: str, changes: dict, event: dict) -> dict:
    """COMPLETED → REFUNDED with the event that says so, in one atomic write."""
    return payments().find_one_and_update(
        {"_id": order_id, "status": PaymentStatus.COMPLETED}, {"$set": changes, "$push": {"events": event}},
        return_document=ReturnDocument.AFTER,
    ) or payment_get(order_id)
