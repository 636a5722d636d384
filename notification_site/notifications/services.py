"""The notification site's operations: learn whom an order's mails go to, and mail the customer how it ended.

Once per order and event: each notification has a natural key (order id and event type), so a redelivered
event finds it and sends nothing new. Across a crash it is *at least once*, deliberately: the mail is handed
to the backend first and recorded as sent after, so a crash between the two sends that mail again when the
event is redelivered. A customer may rarely get a mail twice, but never misses that the order shipped or
was cancelled. (Recording first would be at most once: a crash would lose the mail.)

An outcome can be consumed before its order's `order_placed` (they travel on different topics, and a
redelivery or replay can reorder them): its notification is stored unsent, and noted as waiting on the
order's recipient document, which the `order_placed` completes. Both are atomic writes to that one
document, so whichever comes second sees the other's, also when two consumers handle them at once.
"""

import logging
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from common.events import Event, OrderEnd, order_end
from notifications import store

log = logging.getLogger(__name__)


def mail_for(event: Event) -> tuple[str, str] | None:
    """The subject and body of the mail an event warrants, or None if it does not end the order
    (common.events.order_end decides: `order_cancelled`, a mere request, gets no mail of its own)."""
    order, payload = event.order_id, event.payload
    match order_end(event.event_type, payload), event.event_type:
        case OrderEnd.SHIPPED, _:
            return (f"Your order {order} has shipped",
                    f"Your order {order} is on its way with {payload['carrier']}.\n"
                    f"Tracking number: {payload['tracking_number']}\n")
        case OrderEnd.CANCELLED, "shipment_processed":
            return (f"Your order {order} is cancelled",
                    f"Your order {order} was cancelled before it shipped.\nReason: {payload['reason']}\n")
        case OrderEnd.CANCELLED, "payment_processed":
            return (f"Payment declined: your order {order} is cancelled",
                    f"We could not take the payment for your order {order}, so it is cancelled.\n"
                    f"Reason: {payload['reason']}\n")
        case OrderEnd.CANCELLED, "payment_refunded":
            return (f"Your order {order} is cancelled and refunded",
                    f"Your order {order} is cancelled and {Decimal(payload['amount']) / 100:.2f} was refunded.\n"
                    f"Reason: {payload['reason']}\n")
    return None


def recipients_record(*, orders: list[Event]) -> None:
    """Remember whom each placed order's mails go to, then send those of its mails that waited for it."""
    documents = [{
        "_id": event.order_id,
        "customer_id": event.payload["customer_id"],
        "email": settings.NOTIFICATION_RECIPIENT.format(customer_id=event.payload["customer_id"]),
        "created_at": datetime.now(UTC),
    } for event in orders]
    existed = set(store.recipients_insert(documents))  # usually none: one insert, no reads
    waiting = []
    for document in documents:
        if document["_id"] in existed:  # redelivered, or an outcome came first and left what waits for it
            waiting += store.recipient_set(document)
    _send(store.notifications_unsent(waiting))


def notifications_send(*, outcomes: list[Event]) -> None:
    """One notification per order and outcome event, however often it arrives; its mail sent once it can be."""
    documents = []
    for event in outcomes:
        if mail := mail_for(event):
            subject, body = mail
            documents.append({
                "_id": store.notification_id(event.order_id, event.event_type),
                "order_id": event.order_id,
                "event_type": event.event_type,
                "event_id": event.event_id,
                "subject": subject,
                "body": body,
                "recipient": None,
                "created_at": datetime.now(UTC),
                "sent_at": None,
            })
    existed = set(store.notifications_insert(documents))
    # the new ones, and any that a crash left unsent when this event came before
    _send([d for d in documents if d["_id"] not in existed] + store.notifications_unsent(sorted(existed)))


def _send(notifications: list[dict]) -> None:
    """Mail the notifications whose order's recipient is known (the others wait for it), then record them sent."""
    ready = []
    emails = store.recipient_emails(sorted({notification["order_id"] for notification in notifications}))
    for notification in notifications:
        order_id = notification["order_id"]
        email = emails.get(order_id) or store.recipient_awaited(order_id, notification["_id"])
        if email:
            ready.append((notification, email))
    if not ready:
        return
    messages = [EmailMessage(n["subject"], n["body"], to=[email]) for n, email in ready]
    # One connection for the batch. If the backend refuses, this raises: the consumer retries the batch or
    # dead-letters the event, and the notification stays unsent until its event comes again (`dlt replay`).
    get_connection().send_messages(messages)
    sent_at = datetime.now(UTC)
    store.notifications_sent({n["_id"]: (email, sent_at) for n, email in ready})
    log.info("%d mail(s) sent", len(ready))
