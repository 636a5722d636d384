"""The notification site's MongoDB documents: database `notifications`.

- `recipients`: whom an order's mails go to, learnt from its `order_placed` (_id: the order id); `waiting` lists
  the notifications of an outcome that came first.
- `notifications`: one per order and event that warrants a mail (_id "<order id>.<event type>"), so a redelivered
  event makes no second one. `sent_at` is null until its mail was handed to the mail backend.
"""

import functools
from datetime import UTC, datetime

from pymongo import ReturnDocument, UpdateOne
from pymongo.collection import Collection

from common import listing
from common.mongo import bulk_write, collection, find_by_ids, insert_many_new


@functools.cache
def recipients() -> Collection:
    recipients = collection("notifications", "recipients")
    listing.create_indexes(recipients, (), ("customer_id",), ("email",))
    return recipients


@functools.cache
def notifications() -> Collection:
    notifications = collection("notifications", "notifications")
    listing.create_indexes(notifications, (), ("event_type",), ("order_id",), ("order_id", "event_type"))
    return notifications


def notification_id(order_id: str, event_type: str) -> str:
    # not ":", which would make some ids look like a URL scheme in the admin's relative links
    return f"{order_id}.{event_type}"


def recipients_insert(documents: list[dict]) -> list[str]:
    """Record each order's recipient; return the orders that had a document already (a redelivered order_placed,
    or an outcome that came first and waits)."""
    return insert_many_new(recipients(), documents)


def recipient_set(document: dict) -> list[str]:
    """Set the recipient on an order's existing document; return the notifications that wait for it."""
    recipient = recipients().find_one_and_update(
        {"_id": document["_id"]}, {"$set": {"customer_id": document["customer_id"], "email": document["email"]}},
        return_document=ReturnDocument.AFTER)
    return recipient.get("waiting", [])


def recipient_emails(order_ids: list[str]) -> dict[str, str]:
    """The addresses of the orders' recipients that are known, in one lookup: {order id: email}."""
    found = find_by_ids(recipients(), order_ids, {"email": 1})
    return {order_id: recipient["email"] for order_id, recipient in found.items() if recipient.get("email")}


def recipient_awaited(order_id: str, notification_id: str) -> str | None:
    """Note on the order's document that a notification waits for its recipient, in one atomic write; return the
    recipient's address if it came meanwhile (then nobody else will send that notification)."""
    recipient = recipients().find_one_and_update({"_id": order_id}, {"$addToSet": {"waiting": notification_id},
                                                                     "$setOnInsert": {"created_at": datetime.now(UTC)}},
                                                 upsert=True, return_document=ReturnDocument.AFTER)
    return recipient.get("email")


def notifications_insert(documents: list[dict]) -> list[str]:
    """Insert new notifications; return the ids of those that existed already (their events came before)."""
    return insert_many_new(notifications(), documents)


def notifications_unsent(notification_ids: list[str]) -> list[dict]:
    """Those of the notifications that exist and whose mail was not sent, in one lookup."""
    if not notification_ids:
        return []
    return list(notifications().find({"_id": {"$in": notification_ids}, "sent_at": None}, sort=[("_id", 1)]))


def notifications_sent(sent: dict[str, tuple[str, datetime]]) -> None:
    """Record that mails were handed over: {notification id: (recipient, when)}."""
    bulk_write(notifications(), [
        UpdateOne({"_id": notification_id, "sent_at": None}, {"$set": {"recipient": recipient, "sent_at": sent_at}})
        for notification_id, (recipient, sent_at) in sent.items()
    ])


def notification_get(notification_id: str) -> dict | None:
    return notifications().find_one({"_id": notification_id})


def notifications_page(*, order_id: str | None, event_type: str | None, skip: int,
                       limit: int) -> tuple[list[dict], bool]:
    """Newest first, and whether another page follows."""
    return listing.read_page(notifications(), {"order_id": order_id, "event_type": event_type}, skip=skip,
                             limit=limit)
