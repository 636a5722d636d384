"""The shipment site's handler, against the real store and broker."""

from common.consumer import Position
from shipments import handlers, store
from tests.factories import follow_up, order_placed
from tests.stack import events_for, outbox_types, unsent, wait_for

HERE = Position("inventory_updated", 0, 0)


def inventory_updated(status, reason=None):
    return follow_up(order_placed(), "inventory_updated", {
        "reservation_id": "r", "status": status, "reason": reason,
        "lines": [{"product_id": "P001", "quantity": 1}], "shipping_address": "221B Baker Street"})


def test_reserved_stock_ships_once_with_a_carrier_and_tracking_number():
    event = inventory_updated("RESERVED")
    handlers.on_inventory_updated(event, HERE)
    handlers.on_inventory_updated(event, HERE)

    shipment = store.shipment_get(event.order_id)
    assert shipment["status"] == "SHIPPED" and shipment["shipping_address"] == "221B Baker Street"
    assert shipment["carrier"] and shipment["tracking_number"] and outbox_types(shipment) == ["shipment_processed"]
    assert unsent(store.shipments(), event.order_id) == []
    events = wait_for(lambda: events_for("shipment_processed", event.order_id), what="shipment_processed")
    assert {e["event_id"] for e in events} == {events[0]["event_id"]}
    assert events[0]["payload"]["tracking_number"] == shipment["tracking_number"]


def test_rejected_stock_ships_nothing():
    event = inventory_updated("REJECTED", "OUT_OF_STOCK")
    handlers.on_inventory_updated(event, HERE)
    assert store.shipment_get(event.order_id) is None
