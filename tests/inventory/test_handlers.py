"""The inventory site's reservations, given batches of real events, against the real store."""

from inventory import handlers, services, store
from tests.factories import ProductFactory, delivered, follow_up, order_placed


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
