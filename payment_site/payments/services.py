"""The payment site's operations: take (or decline) orders' payments, and refund one if stock runs out or the
order is cancelled before it ships."""

import logging
import time
import uuid
from datetime import UTC, datetime

from django.conf import settings

from common.events import Event, PaymentProcessedStatus, caused_by, new_event
from payments import store
from payments.store import PaymentStatus

log = logging.getLogger(__name__)


class UnknownPayment(Exception):
    """A refund was asked for an order this site never took a payment for."""


def payments_take(*, orders: list[Event]) -> list[Event]:
    """One payment per `order_placed` event, however often it arrives; returns their `payment_processed` events.

    A payment keeps the event it caused, so a redelivered order re-sends that very event.
    """
    payments = store.payments_insert([_new_payment(event) for event in orders])
    return [caused for payment, event in zip(payments, orders, strict=True) for caused in caused_by(payment, event)]


def _payment_id(order_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"payment:{order_id}"))


def _new_payment(event: Event) -> dict:
    order = event.payload
    limit = int(settings.PAYMENT_APPROVAL_LIMIT * 100)
    approved = order["total_amount"] <= limit
    if settings.PAYMENT_PROCESSING_SECONDS:
        time.sleep(settings.PAYMENT_PROCESSING_SECONDS)  # a stand-in for a payment provider's latency
    payment_id = _payment_id(event.order_id)
    reason = None if approved else f"amount above the approval limit of {settings.PAYMENT_APPROVAL_LIMIT}"
    processed = new_event(
        "payment_processed",
        order_id=event.order_id,
        cause=event,
        producer=settings.SERVICE,
        payload={
            "payment_id": payment_id,
            "status": PaymentProcessedStatus.COMPLETED if approved else PaymentProcessedStatus.DECLINED,
            "amount": order["total_amount"],
            "reason": reason,
            "lines": [{"product_id": i["product_id"], "quantity": i["quantity"]} for i in order["items"]],
            "shipping_address": order["shipping_address"],
        },
    )
    return {
        "_id": event.order_id,
        "payment_id": payment_id,
        "customer_id": order["customer_id"],
        "amount": order["total_amount"],
        "currency": order["currency"],
        "status": PaymentStatus(processed.payload["status"]),
        "reason": reason,
        "created_at": datetime.now(UTC),
        "refunded_at": None,
        "events": [processed.to_dict()],
    }


def payment_refund(*, event: Event) -> list[Event]:
    """Refund an order's payment after its stock was rejected (the saga's compensation), once.
    Returns its `payment_refunded` event (again, on a redelivery), or nothing if there was nothing to refund."""
    payment = store.payment_get(event.order_id)
    if payment is None:
        raise UnknownPayment(f"no payment for order {event.order_id}")
    return _refund(payment, event)


def payments_cancel(*, cancelled: list[Event]) -> list[Event]:
    """Orders cancelled before they shipped: a completed payment is refunded, once. An order not paid yet gets
    a CANCELLED payment, so its `order_placed` still on the way takes no money (whichever is written first
    stands: the order id is the _id)."""
    payments = store.payments_insert([_cancelled_payment(event) for event in cancelled])
    return [refund for payment, event in zip(payments, cancelled, strict=True) for refund in _refund(payment, event)]


def _cancelled_payment(event: Event) -> dict:
    return {
        "_id": event.order_id,
        "payment_id": _payment_id(event.order_id),
        "customer_id": None,
        "amount": 0,
        "currency": None,
        "status": PaymentStatus.CANCELLED,
        "reason": f"{event.payload['reason']} before payment: none taken",
        "created_at": datetime.now(UTC),
        "refunded_at": None,
        "events": [],
    }


def _refund(payment: dict, event: Event) -> list[Event]:
    if payment["status"] == PaymentStatus.COMPLETED:
        reason = event.payload["reason"]
        refunded = new_event(
            "payment_refunded",
            order_id=event.order_id,
            cause=event,
            producer=settings.SERVICE,
            payload={"payment_id": payment["payment_id"], "amount": payment["amount"], "reason": reason},
        )
        changes = {"status": PaymentStatus.REFUNDED, "refunded_at": datetime.now(UTC), "reason": f"refunded: {reason}"}
        payment = store.payment_record_refund(order_id=event.order_id, changes=changes, event=refunded.to_dict())
        log.info("payment %s refunded: %s", payment["payment_id"], reason)
    return caused_by(payment, event)
