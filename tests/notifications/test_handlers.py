"""The notification site's handlers, given batches of real events, against the real store.

Mails go to Django's test outbox here (pytest-django's `mailoutbox`); the running site writes them to files.
"""

import pytest
from pymongo.errors import AutoReconnect

from notifications import handlers, store
from tests.factories import delivered, follow_up, order_placed


def shipped(placed):
    return follow_up(placed, "shipment_processed", {"shipment_id": "s", "status": "SHIPPED", "carrier": "DHL",
                                                    "tracking_number": "DH0123456789"})


def payment(placed, status, reason=None):
    return follow_up(placed, "payment_processed", {
        "payment_id": "p", "status": status, "amount": 1000, "reason": reason,
        "lines": [{"product_id": "P001", "quantity": 1}], "shipping_address": "1 Test Street"})


def test_a_shipped_order_mails_its_customer_once(mailoutbox):
    placed = order_placed()
    handlers.on_order_placed(delivered(placed))
    event = shipped(placed)
    assert handlers.on_outcome(delivered(event)) == []  # a mail causes no event
    handlers.on_outcome(delivered(event))  # redelivered

    [mail] = mailoutbox
    assert mail.to == [f"{placed.payload['customer_id']}@customers.example"]
    assert mail.subject == f"Your order {placed.order_id} has shipped"
    assert "DHL" in mail.body and "DH0123456789" in mail.body
    notification = store.notification_get(store.notification_id(placed.order_id, "shipment_processed"))
    assert notification["recipient"] == mail.to[0] and notification["sent_at"]
    assert notification["event_id"] == event.event_id


def test_an_outcome_before_its_order_placed_waits_for_it_and_is_mailed_once(mailoutbox):
    placed = order_placed()
    declined = payment(placed, "DECLINED", "amount above the approval limit of 1000.00")
    handlers.on_outcome(delivered(declined))
    assert mailoutbox == []  # whom to mail is not known yet
    assert store.notification_get(store.notification_id(placed.order_id, "payment_processed"))["sent_at"] is None

    handlers.on_order_placed(delivered(placed))
    handlers.on_order_placed(delivered(placed))  # both redelivered: nothing more
    handlers.on_outcome(delivered(declined))

    [mail] = mailoutbox
    assert mail.subject == f"Payment declined: your order {placed.order_id} is cancelled"
    assert "approval limit" in mail.body


def test_an_order_placed_recorded_while_its_outcome_looked_for_it_is_mailed_once(mailoutbox, monkeypatch):
    placed = order_placed()
    handlers.on_order_placed(delivered(placed))
    with monkeypatch.context() as patched:  # the outcome's consumer looked before the order_placed was recorded
        patched.setattr(store, "recipient_emails", lambda order_ids: {})
        handlers.on_outcome(delivered(shipped(placed)))
    assert [mail.subject for mail in mailoutbox] == [f"Your order {placed.order_id} has shipped"]  # at once

    handlers.on_order_placed(delivered(placed))  # both redelivered: nothing more
    handlers.on_outcome(delivered(shipped(placed)))
    assert len(mailoutbox) == 1


def test_only_the_events_that_end_an_order_are_mailed(mailoutbox):
    paid, declined, refunded, cancelled = order_placed(), order_placed(), order_placed(), order_placed()
    handlers.on_order_placed(delivered(paid, declined, refunded, cancelled))
    handlers.on_outcome(delivered(
        payment(paid, "COMPLETED"),
        payment(declined, "DECLINED", "too much"),
        follow_up(refunded, "payment_refunded", {"payment_id": "p", "amount": 1250, "reason": "OUT_OF_STOCK"}),
        follow_up(cancelled, "shipment_processed", {"shipment_id": "s", "status": "CANCELLED",
                                                    "reason": "cancelled by the customer"}),
    ))

    subjects = {mail.to[0]: mail.subject for mail in mailoutbox}
    assert len(mailoutbox) == 3 and f"{paid.payload['customer_id']}@customers.example" not in subjects
    assert subjects[f"{refunded.payload['customer_id']}@customers.example"] == (
        f"Your order {refunded.order_id} is cancelled and refunded")
    assert subjects[f"{cancelled.payload['customer_id']}@customers.example"] == (
        f"Your order {cancelled.order_id} is cancelled")
    refund_mail = next(mail for mail in mailoutbox if refunded.order_id in mail.subject)
    assert "12.50 was refunded" in refund_mail.body and "OUT_OF_STOCK" in refund_mail.body
    assert store.notification_get(store.notification_id(paid.order_id, "payment_processed")) is None


def test_a_crash_after_sending_before_recording_sends_again_at_least_once(mailoutbox, monkeypatch):
    placed = order_placed()
    handlers.on_order_placed(delivered(placed))

    def store_gone(sent):
        raise AutoReconnect("the store went away")

    with monkeypatch.context() as patched:
        patched.setattr(store, "notifications_sent", store_gone)
        with pytest.raises(AutoReconnect):  # the consumer would retry the batch: the event comes again
            handlers.on_outcome(delivered(shipped(placed)))
    handlers.on_outcome(delivered(shipped(placed)))
    handlers.on_outcome(delivered(shipped(placed)))

    assert [mail.subject for mail in mailoutbox] == [f"Your order {placed.order_id} has shipped"] * 2
    assert store.notification_get(store.notification_id(placed.order_id, "shipment_processed"))["sent_at"]
