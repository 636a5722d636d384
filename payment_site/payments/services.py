"""The payment site's operations: take (or decline) an order's payment, and refund it if stock runs out."""

import logging
import time
import uuid
from datetime import UTC, datetime

from django.conf import settings

from common import outbox
from common.events import Event, new_event
from payments import store

log = logging.getLogger(__name__)


class UnknownPayment(Exception):
    """A refund was asked for an order this site never took a payment for."""


def payment_process(*, event: Event) -> dict:
    """The payment for an `order_placed` event: one per order, however often the event arrives."""
    existing = store.payment_get(event.order_id) or store.payment_insert(_new_payment(event))
    outbox.flush(store.payments(), existing)  # sends only what is still marked pending
    return existing


def _new_payment(event: Event) -> dict:
    order = event.payload
    limit = int(settings.PAYMENT_APPROVAL_LIMIT * 100)
    approved = order["total_amount"] <= limit
    if settings.PAYMENT_PROCESSING_SECONDS:
        time.sleep(settings.PAYMENT_PROCESSING_SECONDS)  # a stand-in for a payment provider's latency
    payment_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"payment:{event.order_id}"))
    reason = None if approved else f"amount above the approval limit of {settings.PAYMENT_APPROVAL_LIMIT}"
    processed = new_event(
        "payment_processed",
        order_id=event.order_id,
        cause=event,
        producer=settings.SERVICE,
        payload={
            "payment_id": payment_id,
            "status": "COMPLETED" if approved else "DECLINED",
            "amount": order["total_amount"],
            "reason": reason,
            "lines": [{"product_id": i["product_id"], "quantity": i["quantity"]} for i in order["items"]],
            "shipping_address": order["shipping_address"],
        },
    )
    log.info("payment %s for order %s: %s", payment_id, event.order_id, processed.payload["status"])
    outbox.mark_pending(store.payments(), event.order_id, processed)
    return {
        "_id": event.order_id,
        "payment_id": payment_id,
        "customer_id": order["customer_id"],
        "amount": order["total_amount"],
        "currency": order["currency"],
        "status": processed.payload["status"],
        "reason": reason,
        "created_at": datetime.now(UTC),
        "refunded_at": None,
        "outbox": [outbox.entry(processed)],
    }


def payment_refund(*, event: Event) -> dict:
    """Refund an order's payment after its stock was rejected (the saga's compensation): once."""
    payment = store.payment_get(event.order_id)
    if payment is None:
        raise UnknownPayment(f"no payment for order {event.order_id}")
    if payment["status"] == "COMPLETED":
        reason = event.payload["reason"]
        refunded = new_event(
            "payment_refunded",
            order_id=event.order_id,
            cause=event,
            producer=settings.SERVICE,
            payload={"payment_id": payment["payment_id"], "amount": payment["amount"], "reason": reason},
        )
        changes = {"status": "REFUNDED", "refunded_at": datetime.now(UTC), "reason": f"refunded: {reason}"}
        outbox.mark_pending(store.payments(), event.order_id, refunded)
        payment = store.payment_update(order_id=event.order_id, changes=changes, outbox_entry=outbox.entry(refunded))
        log.info("payment %s refunded: %s", payment["payment_id"], reason)
    outbox.flush(store.payments(), payment)
    return payment
