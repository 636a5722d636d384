"""The notification site in the running pipeline: each order's customer gets one mail for how it ended, however often
its event is delivered, read from the mail folder (Django's file backend) and from GET /notifications."""

from email import message_from_string, policy

import requests

from common import kafka
from tests.factories import OrderRequestFactory
from tests.faults.pipeline import wait_until_consumed
from tests.stack import STATE, get_json, order_status, records_for, staff_session, url, wait_for

OVER_THE_APPROVAL_LIMIT = [{"product_id": "P001", "quantity": 1, "price": 1000.01}]


def place(**overrides) -> dict:
    answer = requests.post(url("order", "/orders"), json=OrderRequestFactory(**overrides), timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()


def notifications_of(order_id: str) -> list[dict]:
    code, body = get_json("notification", "/notifications", params={"order_id": order_id})
    assert code == 200, body
    return body["results"]


def mails_about(order_id: str) -> list:
    """Every mail in the site's mail folder whose subject names the order (a file holds a batch's mails)."""
    mails = []
    for path in (STATE / "mail").glob("*.log"):
        for text in path.read_text().split("\n" + "-" * 79 + "\n"):
            if text.strip():
                mails.append(message_from_string(text, policy=policy.default))
    return [mail for mail in mails if order_id in mail["Subject"]]


def sent(order_id: str) -> list[dict]:
    return [n for n in notifications_of(order_id) if n["sent_at"]]


def test_a_shipped_order_gets_one_mail_even_when_its_shipment_is_delivered_twice():
    order = place()
    wait_for(lambda: order_status(order["order_id"]) == "SHIPPED", timeout=60, what="the order to ship")
    [notification] = wait_for(lambda: sent(order["order_id"]), timeout=60, what="the shipped mail")
    assert notification["event_type"] == "shipment_processed"
    assert notification["subject"] == f"Your order {order['order_id']} has shipped"
    assert notification["recipient"] == f"{order['customer_id']}@customers.example"

    [shipped] = records_for("shipment_processed", order["order_id"])
    kafka.send_all([{"topic": shipped.topic, "key": shipped.key, "value": shipped.value}])  # the same event again
    wait_until_consumed()

    assert len(notifications_of(order["order_id"])) == 1
    [mail] = mails_about(order["order_id"])
    assert mail["To"] == notification["recipient"] and mail["Subject"] == notification["subject"]
    assert "Tracking number:" in mail.get_content()


def test_a_declined_payment_mails_the_customer_once():
    order = place(items=OVER_THE_APPROVAL_LIMIT)
    wait_for(lambda: order_status(order["order_id"]) == "CANCELLED", timeout=60, what="the order to be cancelled")
    [notification] = wait_for(lambda: sent(order["order_id"]), timeout=60, what="the declined mail")
    assert notification["event_type"] == "payment_processed"
    assert notification["subject"] == f"Payment declined: your order {order['order_id']} is cancelled"
    wait_until_consumed()
    [mail] = mails_about(order["order_id"])
    assert "approval limit" in mail.get_content()


def test_notifications_are_filtered_by_order_and_shown_one_by_one():
    first, second = place(), place(items=OVER_THE_APPROVAL_LIMIT)
    for order in (first, second):
        wait_for(lambda order=order: sent(order["order_id"]), timeout=60, what="a mail for each order")
    code, listing = get_json("notification", "/notifications", params={"order_id": first["order_id"]})
    assert code == 200 and len(listing["results"]) == 1
    [of_first], [of_second] = listing["results"], notifications_of(second["order_id"])
    assert of_first["order_id"] == first["order_id"] and of_second["order_id"] == second["order_id"]

    code, declined = get_json("notification", "/notifications",
                              params={"order_id": second["order_id"], "event_type": "shipment_processed"})
    assert code == 200 and declined["results"] == []
    code, one = get_json("notification", f"/notifications/{of_first['notification_id']}")
    assert code == 200 and one == of_first
    assert get_json("notification", "/notifications/no-such-notification")[0] == 404


def test_bad_query_input_is_a_400_naming_the_field():
    for params, field in [({"order_id": ""}, "order_id"), ({"order_id": "x" * 65}, "order_id"),
                          ({"event_type": "order_placed"}, "event_type"), ({"page": "0"}, "page"),
                          ({"page_size": "lots"}, "page_size")]:
        code, body = get_json("notification", "/notifications", params=params)
        assert code == 400 and field in body, (params, code, body)


def test_staff_find_an_orders_mails_in_the_admin():
    order = place()
    [notification] = wait_for(lambda: sent(order["order_id"]), timeout=60, what="the shipped mail")
    session = staff_session("notification")
    listing = session.get(url("notification", "/admin/notifications/notifications/"),
                          params={"q": order["order_id"]}, timeout=10)
    assert listing.status_code == 200 and notification["subject"] in listing.text
    assert listing.text.count("<tr><td><a href=") == 1
    detail = session.get(url("notification", f"/admin/notifications/notifications/{notification['notification_id']}/"),
                         timeout=10)
    assert detail.status_code == 200 and notification["recipient"] in detail.text
