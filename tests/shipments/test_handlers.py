"""The shipment site's handler, given batches of real events, against the real store."""

from shipments import handlers, store
from tests.factories import cancel_requested, delivered, follow_up, order_placed


def inventory_updated(status, reason=None):
    return follow_up(order_placed(), "inventory_updated", {
        "reservation_id": "r", "status": status, "reason": reason,
        "lines": [{"product_id": "P001", "quantity": 1}], "shipping_address": "221B Baker Street"})


def test_reserved_stock_ships_once_with_a_carrier_and_tracking_number():
    event = inventory_updated("RESERVED")
    [shipped] = handlers.on_inventory_updated(delivered(event))
    assert handlers.on_inventory_updated(delivered(event)) == [shipped]  # redelivered: the same event again

    shipment = store.shipment_get(event.order_id)
    assert shipment["status"] == "SHIPPED" and shipment["shipping_address"] == "221B Baker Street"
    assert shipment["carrier"] and shipment["tracking_number"]
    assert shipped.causation_id == event.event_id and shipped.payload["tracking_number"] == shipment["tracking_number"]
    assert store.shipments().count_documents({"_id": event.order_id}) == 1


def test_only_the_reserved_orders_of_a_batch_ship():
    reserved, rejected = inventory_updated("RESERVED"), inventory_updated("REJECTED", "OUT_OF_STOCK")
    [shipped] = handlers.on_inventory_updated(delivered(rejected, reserved))
    assert shipped.order_id == reserved.order_id
    assert store.shipment_get(rejected.order_id) is None


def test_a_cancel_before_the_parcel_is_made_wins_and_the_parcel_never_ships():
    reserved = inventory_updated("RESERVED")
    request = cancel_requested(reserved)
    [cancelled] = handlers.on_order_cancelled(delivered(request))
    assert handlers.on_order_cancelled(delivered(request)) == [cancelled]  # redelivered: the same decision again
    assert cancelled.payload["status"] == "CANCELLED" and cancelled.payload["reason"] == "cancelled by customer"
    assert handlers.on_inventory_updated(delivered(reserved)) == []  # the reservation comes late: no parcel
    assert store.shipment_get(reserved.order_id)["status"] == "CANCELLED"


def test_a_cancel_after_the_parcel_left_is_too_late_and_changes_nothing():
    reserved = inventory_updated("RESERVED")
    [shipped] = handlers.on_inventory_updated(delivered(reserved))
    assert handlers.on_order_cancelled(delivered(cancel_requested(reserved))) == []
    assert store.shipment_get(reserved.order_id)["status"] == "SHIPPED"
    assert handlers.on_inventory_updated(delivered(reserved)) == [shipped]


def test_released_stock_ships_nothing():
    released = inventory_updated("RELEASED", "CANCELLED")
    assert handlers.on_inventory_updated(delivered(released)) == []
    assert store.shipment_get(released.order_id) is None
