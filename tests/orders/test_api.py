"""The order site's REST API, over HTTP against the real gunicorn process."""

import json

import pytest
import requests
from kafka import KafkaConsumer

from orders import store
from tests.factories import OrderRequestFactory, unique
from tests.stack import BOOTSTRAP, events_for, get_json, unsent, url, wait_for

ORDERS = url("order", "/orders")


def post(body, **kwargs):
    return requests.post(ORDERS, json=body, timeout=10, **kwargs)


def test_the_seed_order_is_accepted_as_pending_with_the_seeds_response():
    body = {
        "customer_id": unique("CUST"),
        "items": [{"product_id": "P001", "quantity": 2, "price": 29.99},
                  {"product_id": "P002", "quantity": 1, "price": 49.99}],
        "shipping_address": "123 Main St, City, Country",
        "total_amount": 109.97,
    }
    response = post(body)
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "PENDING"
    assert {k: order[k] for k in body} == body  # the seed's fields come back as sent, money as numbers
    assert order["order_id"] and order["created_at"] and order["currency"] == "USD"
    code, fetched = get_json("order", f"/orders/{order['order_id']}")
    assert code == 200 and fetched["customer_id"] == body["customer_id"]


def test_a_placed_order_reaches_kafka_and_its_outbox_mark_goes():
    order_id = post(OrderRequestFactory()).json()["order_id"]
    [event] = wait_for(lambda: events_for("order_placed", order_id), what="order_placed on Kafka")
    assert event["event_id"] == store.order_get(order_id)["placed_event_id"]
    wait_for(lambda: unsent(store.orders(), order_id) == [], what="the outbox mark to be deleted")


def order_placed_end_offsets() -> int:
    consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP)
    try:
        from kafka import TopicPartition

        partitions = [TopicPartition("order_placed", p) for p in consumer.partitions_for_topic("order_placed")]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def with_item(**changes):
    body = OrderRequestFactory()
    body["items"][0].update(changes)
    return body


def without(field):
    body = OrderRequestFactory()
    body.pop(field)
    return body


BAD_BODIES = {
    "wrong type of quantity": (with_item(quantity="two"), "items"),
    "fractional quantity": (with_item(quantity=1.5), "items"),
    "zero quantity": (with_item(quantity=0), "items"),
    "negative quantity": (with_item(quantity=-1), "items"),
    "quantity over 1000": (with_item(quantity=1001), "items"),
    "zero price": (with_item(price=0), "items"),
    "negative price": (with_item(price=-5), "items"),
    "price with 3 decimals": (with_item(price=1.999), "items"),
    "boolean price": (with_item(price=True), "items"),
    "unknown field in an item": (with_item(colour="red"), "items"),
    "unknown top-level field": ({**OrderRequestFactory(), "coupon": "FREE"}, "coupon"),
    "empty items": (OrderRequestFactory(items=[], total_amount=1), "items"),
    "101 items": (OrderRequestFactory(items=[{"product_id": "P001", "quantity": 1, "price": 1}] * 101), "items"),
    "total not the sum of the lines": (OrderRequestFactory(total_amount=1.00), "total_amount"),
    "missing customer_id": (without("customer_id"), "customer_id"),
    "empty customer_id": (OrderRequestFactory(customer_id=""), "customer_id"),
    "customer_id too long": (OrderRequestFactory(customer_id="C" * 65), "customer_id"),
    "empty shipping_address": (OrderRequestFactory(shipping_address=""), "shipping_address"),
    "lower-case currency": ({**OrderRequestFactory(), "currency": "usd"}, "currency"),
    "a list, not an object": ([OrderRequestFactory()], "non_field_errors"),
}


@pytest.mark.parametrize("case", BAD_BODIES)
def test_bad_input_is_a_400_with_field_errors_and_nothing_is_stored_or_sent(case):
    body, field = BAD_BODIES[case]
    before = order_placed_end_offsets()
    response = post(body)
    assert response.status_code == 400, response.text
    assert field in response.json(), response.json()
    if isinstance(body, dict) and 0 < len(body.get("customer_id") or "") <= 64:  # (a longer one is not a filter)
        code, page = get_json("order", "/orders", params={"customer_id": body["customer_id"]})
        assert page["results"] == []
    assert order_placed_end_offsets() == before


@pytest.mark.parametrize(
    ("data", "headers"),
    [
        (b'{"customer_id": "C1", "items": [', {"Content-Type": "application/json"}),  # malformed JSON
        (json.dumps({**OrderRequestFactory(), "shipping_address": "x" * 70_000}), {"Content-Type": "application/json"}),
        (b"customer_id=C1", {"Content-Type": "text/plain"}),
    ],
    ids=["malformed JSON", "oversized body", "not JSON"],
)
def test_unparseable_bodies_are_a_4xx_never_a_500(data, headers):
    response = requests.post(ORDERS, data=data, headers=headers, timeout=10)
    assert response.status_code in (400, 415), response.text
    assert "detail" in response.json()


@pytest.mark.parametrize("order_id", ["not-an-order", "0" * 24, "x" * 300, "%00", "..%2F..%2Fetc"])
@pytest.mark.parametrize(("site", "path"), [("order", "/orders/{}"), ("order", "/orders/{}/timeline"),
                                            ("payment", "/payments/{}"), ("shipment", "/shipments/{}"),
                                            ("inventory", "/inventory/{}")])
def test_an_unknown_or_malformed_id_is_a_404(site, path, order_id):
    code, _ = get_json(site, path.format(order_id))
    assert code == 404


def test_the_same_idempotency_key_and_body_give_the_same_order_and_another_body_a_409():
    body, key = OrderRequestFactory(), unique("key")
    first = post(body, headers={"Idempotency-Key": key})
    second = post(body, headers={"Idempotency-Key": key})
    assert first.status_code == second.status_code == 201
    assert first.json()["order_id"] == second.json()["order_id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    code, page = get_json("order", "/orders", params={"customer_id": body["customer_id"]})
    assert [order["order_id"] for order in page["results"]] == [first.json()["order_id"]]

    conflict = post({**body, "shipping_address": "somewhere else"}, headers={"Idempotency-Key": key})
    assert conflict.status_code == 409 and "Idempotency-Key" in conflict.json()["detail"]


def test_orders_are_listed_newest_first_filtered_and_paginated():
    customer = unique("CUST")
    placed = [post(OrderRequestFactory(customer_id=customer)).json()["order_id"] for _ in range(3)]
    code, first = get_json("order", "/orders", params={"customer_id": customer, "page_size": 2})
    assert code == 200 and [o["order_id"] for o in first["results"]] == placed[::-1][:2]
    second = requests.get(first["next"], timeout=10).json()
    assert [o["order_id"] for o in second["results"]] == placed[:1] and second["next"] is None

    for params in ({"status": "LOST"}, {"page": "abc"}, {"page_size": "0"}, {"stuck": "maybe"}):
        code, body = get_json("order", "/orders", params=params)
        assert code == 400 and set(params) <= set(body)
