"""The inventory site's MongoDB documents: database `inventory`, collections `products` and `reservations`.

A product holds `available` (can be sold) and `reserved` (taken by orders) units, and `holds`: the
orders whose reservation is still being made. A hold is taken in the same atomic update as the
units, and only if the order holds none yet, so a retried reservation never takes stock twice.
"""

import functools

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from common.mongo import collection, insert_or_get

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


def stock_hold(*, product_id: str, order_id: str, quantity: int) -> bool:
    """Take `quantity` units for the order if there are enough and it holds none yet: one atomic update."""
    taken = products().update_one(
        {"_id": product_id, "available": {"$gte": quantity}, "holds": {"$ne": order_id}},
        {"$inc": {"available": -quantity, "reserved": quantity}, "$push": {"holds": order_id}},
    )
    return taken.modified_count == 1


def stock_release(*, product_id: str, order_id: str, quantity: int) -> None:
    """Give back the units an order holds (only if it holds them, so a retry gives nothing back twice)."""
    products().update_one(
        {"_id": product_id, "holds": order_id},
        {"$inc": {"available": quantity, "reserved": -quantity}, "$pull": {"holds": order_id}},
    )


def hold_clear(*, product_id: str, order_id: str) -> None:
    """The reservation is final: the order keeps its units, and its hold marker goes."""
    products().update_one({"_id": product_id, "holds": order_id}, {"$pull": {"holds": order_id}})


def product_holder(product_id: str, order_id: str) -> str:
    """Why a hold was not taken: "held" (the order has it already), "missing" or "short"."""
    product = products().find_one({"_id": product_id}, {"holds": 1})
    if product is None:
        return "missing"
    return "held" if order_id in product["holds"] else "short"


def reservation_start(document: dict) -> dict:
    """The order's reservation: a new PENDING one, or the one it has already (the order id is the _id)."""
    return insert_or_get(reservations(), document)


def reservation_get(order_id: str) -> dict | None:
    return reservations().find_one({"_id": order_id})


def reservation_finish(*, order_id: str, changes: dict, outbox_entry: dict) -> dict:
    """PENDING → RESERVED or REJECTED with its `inventory_updated` event, in one atomic write."""
    return reservations().find_one_and_update(
        {"_id": order_id}, {"$set": changes, "$push": {"outbox": outbox_entry}}, return_document=ReturnDocument.AFTER
    )


def reservations_page(*, skip: int, limit: int) -> tuple[list[dict], int]:
    documents = list(reservations().find({}, {"outbox": 0}, sort=[("created_at", DESCENDING)], skip=skip,
                                         limit=limit))
    return documents, reservations().count_documents({})
