"""The inventory site's MongoDB documents: database `inventory`, collections `products` and `reservations`.

A product holds `available` (can be sold) and `reserved` (taken by orders) units, and `holds`: the
orders whose reservation is still being made. A hold is taken in the same atomic update as the
units, and only if the order holds none yet, so a retried reservation never takes stock twice.
"""

import functools

from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from common.mongo import bulk_write, collection, insert_many_new

# Seeded on first start, never overwritten. P001-P005 have stock for load tests; P006 runs out fast on purpose.
SEED_PRODUCTS = [
    {"_id": "P001", "name": "Wireless Mouse", "price": 2999, "available": 10_000},
    {"_id": "P002", "name": "Mechanical Keyboard", "price": 4999, "available": 10_000},
    {"_id": "P003", "name": "USB-C Hub", "price": 1999, "available": 10_000},
    {"_id": "P004", "name": "27-inch Monitor", "price": 24999, "available": 10_000},
    {"_id": "P005", "name": "Laptop Stand", "price": 3999, "available": 10_000},
    {"_id": "P006", "name": "Signed Limited Edition Print", "price": 9999, "available": 3},
]


@functools.cache
def products() -> Collection:
    products = collection("inventory", "products")
    for product in SEED_PRODUCTS:
        product_insert(products, product)
    return products


@functools.cache
def reservations() -> Collection:
    reservations = collection("inventory", "reservations")
    reservations.create_index([("created_at", DESCENDING)])
    return reservations


def product_insert(products: Collection, product: dict) -> bool:
    """Add a product if its id is new (`available` units, none reserved); False if it exists."""
    try:
        products.insert_one({"reserved": 0, "holds": [], **product})
        return True
    except DuplicateKeyError:
        return False


def product_get(product_id: str) -> dict | None:
    return products().find_one({"_id": product_id}, {"holds": 0})


def products_page(*, skip: int, limit: int) -> tuple[list[dict], int]:
    documents = list(products().find({}, {"holds": 0}, sort=[("_id", ASCENDING)], skip=skip, limit=limit))
    return documents, products().count_documents({})


def product_restock(product_id: str, quantity: int) -> dict | None:
    return products().find_one_and_update(
        {"_id": product_id}, {"$inc": {"available": quantity}}, return_document=ReturnDocument.AFTER
    )


def stock_hold_many(*, product_id: str, orders: list[tuple[str, int]]) -> bool:
    """Take the units of several orders at once, if there are enough for all: one atomic update.

    For orders seen for the first time only: they hold nothing yet (their reservation was just created).
    """
    total = sum(quantity for _, quantity in orders)
    taken = products().update_one(
        {"_id": product_id, "available": {"$gte": total}},
        {"$inc": {"available": -total, "reserved": total}, "$push": {"holds": {"$each": [o for o, _ in orders]}}},
    )
    return taken.modified_count == 1


def stock_hold(product_id: str, order_id: str, quantity: int) -> bool:
    """Take `quantity` units for the order if there are enough and it holds none yet: one atomic update."""
    taken = products().update_one(
        {"_id": product_id, "available": {"$gte": quantity}, "holds": {"$ne": order_id}},
        {"$inc": {"available": -quantity, "reserved": quantity}, "$push": {"holds": order_id}},
    )
    return taken.modified_count == 1


def stock_release(product_id: str, order_id: str, quantity: int) -> None:
    """Give back the units an order holds (only if it holds them, so a retry gives nothing back twice)."""
    products().update_one(
        {"_id": product_id, "holds": order_id},
        {"$inc": {"available": quantity, "reserved": -quantity}, "$pull": {"holds": order_id}},
    )


def holds_clear(holders: dict[str, list[str]]) -> None:
    """The reservations are final: the orders keep their units, and their hold markers go (one update per product)."""
    for product_id, order_ids in holders.items():
        products().update_one({"_id": product_id}, {"$pullAll": {"holds": order_ids}})


def product_holder(product_id: str, order_id: str) -> str:
    """Why a hold was not taken: "held" (the order has it already), "missing" or "short"."""
    product = products().find_one({"_id": product_id}, {"holds": 1})
    if product is None:
        return "missing"
    return "held" if order_id in product["holds"] else "short"


def reservations_start(documents: list[dict]) -> list[str]:
    """New PENDING reservations (the order id is the _id); returns the orders that had one already."""
    return insert_many_new(reservations(), documents)


def reservation_get(order_id: str) -> dict | None:
    return reservations().find_one({"_id": order_id})


def reservations_finish(outcomes: list[dict]) -> int:
    """PENDING → RESERVED or REJECTED, each with its `inventory_updated` event in the same atomic write.
    Returns how many were still PENDING (all of them, unless another consumer got there first)."""
    return bulk_write(reservations(), [
        UpdateOne({"_id": outcome["_id"], "status": "PENDING"},
                  {"$set": {key: outcome[key] for key in ("status", "reason", "finished_at")},
                   "$push": {"events": outcome["event"]}})
        for outcome in outcomes
    ])


def reservations_page(*, skip: int, limit: int) -> tuple[list[dict], int]:
    documents = list(reservations().find({}, {"events": 0}, sort=[("created_at", DESCENDING)], skip=skip,
                                         limit=limit))
    return documents, reservations().count_documents({})
