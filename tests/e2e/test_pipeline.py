"""The README's story, end to end, through the real gunicorn and runconsumer processes."""

import requests
from django.conf import settings

from inventory import store as inventory_store
from tests.factories import OrderRequestFactory, ProductFactory, seed_items
from tests.stack import get_json, order_status, url, wait_for

SETTLE = 30  # seconds an order may take to reach its final state on a loaded CI machine


def place(body) -> str:
    response = requests.post(url("order", "/orders"), json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["order_id"]


def final_status(order_id: str) -> str:
    return wait_for(lambda: (s := order_status(order_id)) in ("SHIPPED", "CANCELLED") and s,
                    timeout=SETTLE, what=f"order {order_id} to finish")


def assert_story(timeline: list[dict], causal_chain: list[str]) -> None:
    """Each event once; in the order they happened; and the status only ever moved forwards as they were applied.

    (Events of different topics may be *applied* in another order than they happened: the timeline shows
    the order of application, and a late event leaves the status alone.)"""
    assert [e["event_type"] for e in sorted(timeline, key=lambda e: e["occurred_at"])] == causal_chain
    ranks = {"PENDING": 0, "PAID": 1, "RESERVED": 2, "SHIPPED": 3, "CANCELLED": 3}
    moves = [ranks[e["status"]] for e in timeline if e["status"]]
    assert moves == sorted(moves), timeline


def stock(product_id: str) -> tuple[int, int, int]:
    """(available, reserved, shipped), as GET /inventory shows them; the ledger always adds up."""
    code, product = get_json("inventory", f"/inventory/{product_id}")
    assert code == 200
    assert product["available"] + product["reserved"] + product["shipped"] == product["received"], product
    return product["available"], product["reserved"], product["shipped"]


def test_the_seed_sample_order_ends_shipped_with_payment_reservation_and_shipment():
    order_id = place(OrderRequestFactory(items=seed_items()))
    assert final_status(order_id) == "SHIPPED"

    code, payment = get_json("payment", f"/payments/{order_id}")
    assert code == 200 and payment["status"] == "COMPLETED" and payment["amount"] == 109.97
    # the inventory site learns that the parcel left (shipment_processed) a moment after the order site does
    wait_for(lambda: inventory_store.reservation_get(order_id)["status"] == "SHIPPED", what="the reservation shipped")
    code, shipment = get_json("shipment", f"/shipments/{order_id}")
    assert code == 200 and shipment["status"] == "SHIPPED" and shipment["tracking_number"]

    code, timeline = get_json("order", f"/orders/{order_id}/timeline")
    assert_story(timeline, ["order_placed", "payment_processed", "inventory_updated", "shipment_processed"])
    assert "SHIPPED" in [entry["status"] for entry in timeline]
    assert all(entry["partition"] is not None and entry["offset"] is not None for entry in timeline[1:])


def test_stock_goes_down_by_exactly_the_ordered_quantities():
    mouse, hub = ProductFactory(available=50, price=1000), ProductFactory(available=50, price=250)
    items = [{"product_id": mouse["_id"], "quantity": 3, "price": 10.00},
             {"product_id": hub["_id"], "quantity": 4, "price": 2.50}]
    order_id = place(OrderRequestFactory(items=items))
    assert final_status(order_id) == "SHIPPED"
    wait_for(lambda: stock(mouse["_id"]) == (47, 0, 3) and stock(hub["_id"]) == (46, 0, 4),
             what="the reserved units to move to shipped")


def test_an_order_above_the_approval_limit_ends_cancelled_with_no_reservation_and_no_shipment():
    price = float(settings.PAYMENT_APPROVAL_LIMIT) + 0.01
    order_id = place(OrderRequestFactory(items=[{"product_id": "P001", "quantity": 1, "price": price}]))
    assert final_status(order_id) == "CANCELLED"
    code, order = get_json("order", f"/orders/{order_id}")
    assert "payment declined" in order["reason"]
    assert get_json("payment", f"/payments/{order_id}")[1]["status"] == "DECLINED"
    assert inventory_store.reservation_get(order_id) is None
    assert get_json("shipment", f"/shipments/{order_id}")[0] == 404


def test_out_of_stock_refunds_the_payment_and_cancels_the_order():
    plenty, scarce = ProductFactory(available=20), ProductFactory(available=1)
    items = [{"product_id": plenty["_id"], "quantity": 2, "price": 10.00},
             {"product_id": scarce["_id"], "quantity": 2, "price": 10.00}]
    order_id = place(OrderRequestFactory(items=items))
    assert final_status(order_id) == "CANCELLED"

    code, order = get_json("order", f"/orders/{order_id}")
    assert order["reason"] == "refunded: OUT_OF_STOCK"
    code, payment = get_json("payment", f"/payments/{order_id}")
    assert payment["status"] == "REFUNDED" and payment["refunded_at"]
    assert stock(plenty["_id"]) == (20, 0, 0) and stock(scarce["_id"]) == (1, 0, 0)  # the partial hold was released
    assert get_json("shipment", f"/shipments/{order_id}")[0] == 404
    code, timeline = get_json("order", f"/orders/{order_id}/timeline")
    assert_story(timeline, ["order_placed", "payment_processed", "inventory_updated", "payment_refunded"])
