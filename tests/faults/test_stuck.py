"""An order whose event was dead-lettered: reported stuck, its dead letter shown in the admin, and re-driven
to SHIPPED from the admin once the cause is fixed."""

import html
import json
import re

import pytest
import requests

from shipments import store as shipment_store
from tests.factories import ProductFactory, unique
from tests.stack import admin_post, manage_all, order_status, records_for, staff_session, url, wait_for

pytestmark = pytest.mark.faults


def place(product: dict) -> str:
    body = {"customer_id": unique("STUCK"), "shipping_address": "1 Dead Letter Drive",
            "items": [{"product_id": product["_id"], "quantity": 1, "price": 10.00}], "total_amount": 10.00}
    return requests.post(url("order", "/orders"), json=body, timeout=15).json()["order_id"]


def stuck_orders() -> dict:
    answer = requests.get(url("order", "/orders"), params={"stuck": "true"}, timeout=30).json()
    return {order["order_id"]: order for order in answer["results"]}


def stuck_metric() -> float:
    metrics = requests.get(url("order", "/metrics"), timeout=30).text
    return float(re.search(r"^orderpipe_orders_stuck (\S+)$", metrics, re.M).group(1))


def test_an_order_whose_inventory_updated_is_dead_lettered_is_reported_stuck_and_re_driven_to_shipped():
    product = ProductFactory(available=10)
    manage_all("down", "consumer-shipment-1")
    try:
        order_id = place(product)
        wait_for(lambda: order_status(order_id) == "RESERVED", timeout=30, what="the reservation")
        # Bad data, as a hand-made fix in the store might leave it: the shipment site cannot read this document,
        # so its handler fails on the order's inventory_updated, which goes to the dead-letter topic.
        shipment_store.shipments().insert_one({"_id": order_id, "status": "SHIPPED"})
    finally:
        manage_all("up", "consumer-shipment-1")
    [letter] = wait_for(lambda: records_for("inventory_updated.DLT", order_id), timeout=60, what="the dead letter")
    assert b"KeyError" in dict(letter.headers)["dlt.reason"]

    stuck = wait_for(lambda: stuck_orders().get(order_id), timeout=30, what="the order reported stuck")
    assert stuck["status"] == "RESERVED" and stuck["waiting_for"] == "the shipment site (inventory_updated)"
    assert stuck["last_event"].startswith("inventory_updated")
    assert stuck_metric() >= 1

    shipment_admin = staff_session("shipment")
    letters = shipment_admin.get(url("shipment", "/admin/kafka/dead-letters/"), params={"topic": "inventory_updated"},
                                 timeout=30).text
    assert order_id in letters and "KeyError" in letters and "shipment-service" in letters
    gone = admin_post(shipment_admin, url("shipment", "/admin/kafka/dead-letters/?topic=inventory_updated"),
                      topic="inventory_updated", partition="0", offset="999999999")
    assert "has no dead letter at partition 0, offset 999999999" in html.unescape(gone)

    order_admin = staff_session("order")
    listed = order_admin.get(url("order", "/admin/orders/orders/"), params={"view": "stuck"}, timeout=30).text
    assert order_id in listed and "the shipment site (inventory_updated)" in listed

    shipment_store.shipments().delete_one({"_id": order_id})  # the cause fixed
    page = admin_post(order_admin, url("order", f"/admin/orders/orders/{order_id}/"),
                      action="Re-drive (send its last event again)")
    assert "Sent inventory_updated" in page
    wait_for(lambda: order_status(order_id) == "SHIPPED", timeout=60, what="the re-driven order to ship")
    assert order_id not in stuck_orders()

    # replaying the dead letter now changes nothing (the order shipped once), and is in the admin's log
    replayed = admin_post(shipment_admin, url("shipment", "/admin/kafka/dead-letters/?topic=inventory_updated"),
                          topic="inventory_updated", partition=str(letter.partition), offset=str(letter.offset))
    assert f"Replayed inventory_updated.DLT[{letter.partition}]@{letter.offset}" in html.unescape(replayed)
    recent_actions = html.unescape(shipment_admin.get(url("shipment", "/admin/"), timeout=30).text)
    assert f"inventory_updated.DLT[{letter.partition}]@{letter.offset} replayed" in recent_actions
    # the shipment site finds its shipment and sends the very same shipment_processed again: one parcel
    sent = wait_for(lambda: len(records_for("shipment_processed", order_id)) == 2 and records_for(
        "shipment_processed", order_id), timeout=30, what="the replayed event's answer")
    assert len({json.loads(record.value)["event_id"] for record in sent}) == 1
    assert shipment_store.shipments().count_documents({"_id": order_id}) == 1
    assert order_status(order_id) == "SHIPPED"
