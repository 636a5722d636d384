"""The inventory site's reservations, given batches of real events, against the real store."""

from inventory import handlers, services, store
from tests.factories import (
    ProductFactory,
    cancel_requested,
    delivered,
    follow_up,
    order_placed,
    shipment_cancelled,
    shipment_shipped,
)


def paid(lines, status="COMPLETED"):
    placed = order_placed(lines=lines)
    return follow_up(placed, "payment_processed", {
        "payment_id": "p", "status": status, "amount": placed.payload["total_amount"],
        "lines": [{"product_id": p, "quantity": q} for p, q in lines], "shipping_address": "1 Test Street"})


def stock(product):
    found = store.products().find_one({"_id": product["_id"]})
    return found["available"], found["reserved"], found["holds"]


def test_a_batch_of_paid_orders_reserves_each_and_emits_reserved():
    a, b = ProductFactory(available=10), ProductFactory(available=10)
    first, second = paid([(a["_id"], 3)]), paid([(a["_id"], 2), (b["_id"], 1)])
    emitted = handlers.on_payment_processed(delivered(first, second))

    assert stock(a) == (5, 5, []) and stock(b) == (9, 1, [])
    assert [(e.order_id, e.payload["status"]) for e in emitted] == [
        (first.order_id, "RESERVED"), (second.order_id, "RESERVED")]
    assert emitted[0].causation_id == first.event_id and emitted[0].payload["shipping_address"] == "1 Test Street"
    assert store.reservation_get(first.order_id)["status"] == "RESERVED"


def test_when_a_batch_wants_more_than_there_is_the_first_orders_get_it_and_the_rest_release_their_holds():
    scarce, plenty = ProductFactory(available=5), ProductFactory(available=10)
    orders = [paid([(plenty["_id"], 1), (scarce["_id"], 2)]) for _ in range(3)]
    emitted = handlers.on_payment_processed(delivered(*orders))

    assert [e.payload["status"] for e in emitted] == ["RESERVED", "RESERVED", "REJECTED"]
    assert emitted[2].payload["reason"] == "OUT_OF_STOCK"
    assert stock(scarce) == (1, 4, []) and stock(plenty) == (8, 2, [])  # the third order's plenty line went back


def test_an_order_whose_hold_a_stale_consumer_took_first_is_held_once_and_the_others_still_get_theirs():
    plenty, scarce = ProductFactory(available=10), ProductFactory(available=5)
    for product in (plenty, scarce):
        first, second = paid([(product["_id"], 2)]), paid([(product["_id"], 2)])
        # a consumer that lost these partitions took the first order's hold just before this one reserves both
        assert store.stock_hold(product["_id"], first.order_id, 2)
        emitted = handlers.on_payment_processed(delivered(first, second))
        assert [e.payload["status"] for e in emitted] == ["RESERVED", "RESERVED"]
    assert stock(plenty) == (6, 4, []) and stock(scarce) == (1, 4, [])


def test_a_redelivered_batch_changes_no_stock_and_re_emits_the_same_events():
    product = ProductFactory(available=10)
    orders = [paid([(product["_id"], 2)]) for _ in range(3)]
    emitted = handlers.on_payment_processed(delivered(*orders))
    assert handlers.on_payment_processed(delivered(*reversed(orders))) == list(reversed(emitted))
    assert stock(product) == (4, 6, [])


def test_a_crash_half_way_through_an_order_is_resumed_and_takes_the_stock_once():
    a, b = ProductFactory(available=10), ProductFactory(available=10)
    event = paid([(a["_id"], 2), (b["_id"], 4), (a["_id"], 1)])  # the same product twice is one line of 3
    # as if an earlier try had created the reservation, taken the hold on `a`, and died
    assert store.reservations_start([services._new_reservation(event)]) == []
    assert store.stock_hold(a["_id"], event.order_id, 3)
    for _ in range(3):
        [emitted] = handlers.on_payment_processed(delivered(event))
    assert emitted.payload["status"] == "RESERVED"
    assert stock(a) == (7, 3, []) and stock(b) == (6, 4, [])
    assert store.reservations().count_documents({"_id": event.order_id}) == 1


def test_an_unknown_product_is_rejected_as_such():
    [emitted] = handlers.on_payment_processed(delivered(paid([("NO-SUCH-PRODUCT", 1)])))
    assert emitted.payload["reason"] == "UNKNOWN_PRODUCT"
    assert store.reservation_get(emitted.order_id)["reason"] == "UNKNOWN_PRODUCT"


def test_a_declined_payment_touches_no_stock():
    product = ProductFactory(available=10)
    event = paid([(product["_id"], 1)], status="DECLINED")
    assert handlers.on_payment_processed(delivered(event)) == []
    assert stock(product) == (10, 0, []) and store.reservation_get(event.order_id) is None


def ledger(product):
    found = store.products().find_one({"_id": product["_id"]})
    assert found["available"] + found["reserved"] + found["shipped"] == found["received"], found
    return found["available"], found["reserved"], found["shipped"], found["holds"], found["moving"]


def reserve(*events):
    return handlers.on_payment_processed(delivered(*events))


def test_a_shipped_order_moves_its_reserved_units_to_shipped_once_however_often_the_event_comes():
    a, b = ProductFactory(available=10), ProductFactory(available=10)
    first, second = paid([(a["_id"], 3)]), paid([(a["_id"], 2), (b["_id"], 1)])
    reserved = reserve(first, second)
    shipped = [shipment_shipped(event) for event in reserved]
    for _ in range(2):  # the second time: redelivered
        assert handlers.on_shipment_processed(delivered(*shipped)) == []
        assert ledger(a) == (5, 0, 5, [], []) and ledger(b) == (9, 0, 1, [], [])
    assert store.reservation_get(first.order_id)["status"] == "SHIPPED"


def test_a_crash_half_way_through_a_shipment_moves_the_units_once():
    a, b = ProductFactory(available=10), ProductFactory(available=10)
    event = paid([(a["_id"], 2), (b["_id"], 4)])
    [reserved] = reserve(event)
    store.stock_move(a["_id"], event.order_id, 2, "ship")  # an earlier try moved `a` and died
    handlers.on_shipment_processed(delivered(shipment_shipped(reserved)))
    assert ledger(a) == (8, 0, 2, [], []) and ledger(b) == (6, 0, 4, [], [])


def test_a_crash_half_way_through_a_batch_of_shipments_moves_each_order_once():
    a, b = ProductFactory(available=10), ProductFactory(available=10)
    first, second = paid([(a["_id"], 2)]), paid([(a["_id"], 3), (b["_id"], 1)])
    reserved = reserve(first, second)
    store.stock_move(a["_id"], first.order_id, 2, "ship")  # an earlier try moved the first order's units and died
    handlers.on_shipment_processed(delivered(*[shipment_shipped(event) for event in reserved]))
    assert ledger(a) == (5, 0, 5, [], []) and ledger(b) == (9, 0, 1, [], [])


def test_a_cancel_after_the_reservation_gives_the_stock_back_and_says_so_once():
    product = ProductFactory(available=10)
    event = paid([(product["_id"], 4)])
    reserve(event)
    decision = shipment_cancelled(cancel_requested(event))
    [released] = handlers.on_shipment_processed(delivered(decision))
    assert handlers.on_shipment_processed(delivered(decision)) == [released]  # redelivered: the same event again
    assert ledger(product) == (10, 0, 0, [], [])
    assert released.payload["status"] == "RELEASED" and released.payload["reason"] == "CANCELLED"
    assert released.payload["lines"] == [{"product_id": product["_id"], "quantity": 4}]
    assert store.reservation_get(event.order_id)["status"] == "RELEASED"


def test_a_cancel_before_the_payment_arrives_means_its_stock_is_never_reserved():
    product = ProductFactory(available=10)
    event = paid([(product["_id"], 4)])
    assert handlers.on_shipment_processed(delivered(shipment_cancelled(cancel_requested(event)))) == []
    assert reserve(event) == []  # the payment comes late: nothing reserved, nothing to ship
    assert ledger(product) == (10, 0, 0, [], [])
    assert store.reservation_get(event.order_id)["status"] == "CANCELLED"


def test_a_cancel_of_a_reservation_left_half_done_gives_back_its_holds():
    a, b = ProductFactory(available=10), ProductFactory(available=10)
    event = paid([(a["_id"], 2), (b["_id"], 4)])
    assert store.reservations_start([services._new_reservation(event)]) == []
    assert store.stock_hold(a["_id"], event.order_id, 2)  # an earlier try took `a` and died
    assert handlers.on_shipment_processed(delivered(shipment_cancelled(cancel_requested(event)))) == []
    assert reserve(event) == []  # the redelivered payment finds it cancelled
    assert ledger(a) == (10, 0, 0, [], []) and ledger(b) == (10, 0, 0, [], [])


def test_restock_adds_to_received_and_available():
    product = ProductFactory(available=10)
    reserve(paid([(product["_id"], 4)]))
    services.product_restock(product_id=product["_id"], quantity=5)
    assert ledger(product) == (11, 4, 0, [], [])
