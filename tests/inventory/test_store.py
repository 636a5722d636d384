"""Stock under concurrent writers: never oversold, never lost, whatever the store (FerretDB included)."""

from concurrent.futures import ThreadPoolExecutor

from inventory import store
from tests.factories import ProductFactory, unique


def test_concurrent_holds_and_restocks_on_one_product_add_up_exactly():
    product = ProductFactory(available=300)
    orders = [unique("order") for _ in range(400)]
    with ThreadPoolExecutor(8) as pool:
        held = sum(pool.map(lambda o: store.stock_hold(product_id=product["_id"], order_id=o, quantity=1), orders))
        list(pool.map(lambda _: store.product_restock(product["_id"], 1), range(50)))

    now = store.products().find_one({"_id": product["_id"]})
    assert held == 300  # every unit sold once, none twice: the other 100 were refused
    assert (now["available"], now["reserved"], len(now["holds"])) == (50, 300, 300)


def test_concurrent_bulk_holds_take_whole_batches_and_never_oversell():
    product = ProductFactory(available=300)
    batches = [[(unique("order"), 2) for _ in range(10)] for _ in range(40)]  # 20 units a batch
    with ThreadPoolExecutor(8) as pool:
        short = list(pool.map(lambda orders: store.stock_hold_many({product["_id"]: orders}), batches))

    now = store.products().find_one({"_id": product["_id"]})
    # 15 batches of 20 units, and not one unit more
    assert short.count(set()) == 15 and short.count({product["_id"]}) == 25
    assert (now["available"], now["reserved"], len(now["holds"])) == (0, 300, 150)
