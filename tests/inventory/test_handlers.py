"""The inventory site's two-phase reservation, against the real store and broker."""

from common.consumer import Position
from inventory import handlers, store
from tests.factories import ProductFactory, follow_up, order_placed
from tests.stack import events_for, outbox_types, unsent, wait_for

HERE = Position("payment_processed", 0, 0)


def paid(lines, status="COMPLETED"):
    placed = order_placed(lines=lines)
    return follow_up(placed, "payment_processed", {
        "payment_id": "p", "status": status, "amount": placed.payload["total_amount"],
        "lines": [{"product_id": p, "quantity": q} for p, q in lines], "shipping_address": "1 Test Street"})


def stock(product):
    found = store.products().find_one({"_id": product["_id"]})
    return found["available"], found["reserved"], found["holds"]


def test_a_paid_order_reserves_its_lines_and_emits_reserved():
    product = ProductFactory(available=10)
    event = paid([(product["_id"], 3)])
    handlers.on_payment_processed(event, HERE)

    assert stock(product) == (7, 3, [])
    reservation = store.reservation_get(event.order_id)
    assert reservation["status"] == "RESERVED" and outbox_types(reservation) == ["inventory_updated"]
    assert unsent(store.reservations(), event.order_id) == []
    [emitted] = wait_for(lambda: events_for("inventory_updated", event.order_id), what="inventory_updated")
    assert emitted["payload"]["status"] == "RESERVED" and emitted["causation_id"] == event.event_id
    assert emitted["payload"]["shipping_address"] == "1 Test Street"


def test_reprocessing_and_a_crash_between_holds_take_the_stock_once():
    a, b = ProductFactory(available=10), ProductFactory(available=10)
    event = paid([(a["_id"], 2), (b["_id"], 4), (a["_id"], 1)])  # the same product twice is one line of 3
    # as if an earlier try had taken the hold on `a` and died before writing anything else
    assert store.stock_hold(product_id=a["_id"], order_id=event.order_id, quantity=3)
    for _ in range(3):
        handlers.on_payment_processed(event, HERE)
    assert stock(a) == (7, 3, []) and stock(b) == (6, 4, [])
    assert store.reservations().count_documents({"_id": event.order_id}) == 1


def test_a_shortfall_rejects_and_releases_the_lines_already_held():
    plenty, scarce = ProductFactory(available=10), ProductFactory(available=1)
    event = paid([(plenty["_id"], 2), (scarce["_id"], 5)])
    handlers.on_payment_processed(event, HERE)

    assert stock(plenty) == (10, 0, []) and stock(scarce) == (1, 0, [])
    reservation = store.reservation_get(event.order_id)
    assert reservation["status"] == "REJECTED" and reservation["reason"] == "OUT_OF_STOCK"
    [emitted] = wait_for(lambda: events_for("inventory_updated", event.order_id), what="inventory_updated")
    assert emitted["payload"]["status"] == "REJECTED" and emitted["payload"]["reason"] == "OUT_OF_STOCK"


def test_an_unknown_product_is_rejected_as_such():
    event = paid([("NO-SUCH-PRODUCT", 1)])
    handlers.on_payment_processed(event, HERE)
    assert store.reservation_get(event.order_id)["reason"] == "UNKNOWN_PRODUCT"


def test_a_declined_payment_touches_no_stock():
    product = ProductFactory(available=10)
    event = paid([(product["_id"], 1)], status="DECLINED")
    handlers.on_payment_processed(event, HERE)
    assert stock(product) == (10, 0, []) and store.reservation_get(event.order_id) is None
