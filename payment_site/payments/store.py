"""The payment site's MongoDB documents: database `payments`, collection `payments`, one per order (_id)."""

import functools

from pymongo import DESCENDING, ReturnDocument
from pymongo.collection import Collection

from common.mongo import collection, insert_or_get


@functools.cache
def payments() -> Collection:
    payments = collection("payments", "payments")
    payments.create_index([("created_at", DESCENDING)])
    return payments


def payment_insert(document: dict) -> dict:
    """Insert the order's payment, or return the one it already has (the order id is the _id: one per order)."""
    return insert_or_get(payments(), document)


def payment_get(order_id: str) -> dict | None:
    return payments().find_one({"_id": order_id})


def payments_page(*, status: str | None, skip: int, limit: int) -> tuple[list[dict], int]:
    query = {"status": status} if status else {}
    documents = list(payments().find(query, {"outbox": 0}, sort=[("created_at", DESCENDING)], skip=skip, limit=limit))
    return documents, payments().count_documents(query)


def payment_update(*, order_id: str, changes: dict, outbox_entry: dict) -> dict:
    """Change the payment and add the event that says so, in one atomic write."""
    return payments().find_one_and_update(
        {"_id": order_id}, {"$set": changes, "$push": {"outbox": outbox_entry}}, return_document=ReturnDocument.AFTER
    )
