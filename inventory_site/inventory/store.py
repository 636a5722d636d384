"""The inventory site's MongoDB documents: database `inventory`, collections `products` and `reservations`.

A product is a small stock ledger: of the units it ever `received`, each is `available` (can be sold),
`reserved` (taken by an order not shipped yet) or `shipped`. Every change moves units between two of those
counts in one atomic update, so `available + reserved + shipped == received` holds at every moment.
`holds` lists the orders whose reservation is still being made, and `moving` the "ship:<order>" and
"release:<order>" moves under way: each mark is set in the same update as the units it moves, and only if
it is not there yet, so a retried step never moves units twice. Marks go once their step is recorded.
"""

import functools
from datetime import UTC, datetime
from enum import StrEnum

from pymongo import ASCENDING, ReturnDocument, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from common import listing
from common.events import InventoryUpdatedReason, InventoryUpdatedStatus
from common.mongo import bulk_write, collection, find_by_ids, insert_many_new, insert_or_get


class ReservationStatus(StrEnum):
    PENDING = "PENDING"  # its holds are being taken
    RESERVED = InventoryUpdatedStatus.RESERVED
    REJECTED = InventoryUpdatedStatus.REJECTED
    SHIPPED = "SHIPPED"
    RELEASED = InventoryUpdatedStatus.RELEASED
    CANCELLED = "CANCELLED"  # the order was cancelled before any stock was reserved: none ever will be


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
    _products_upgrade(products)
    return products


@functools.cache
def reservations() -> Collection:
    reservations = collection("inventory", "reservations")
    listing.create_indexes(reservations, (), ("status",))
    return reservations


# The counts a move takes units from and gives them to.
MOVES = {"ship": ("reserved", "shipped"), "release": ("reserved", "available")}
INTERNAL = {"holds": 0, "moving": 0}


def product_insert(products: Collection, product: dict) -> bool:
    """Add a product if its id is new (all its units `available`); False if it exists."""
    try:
        products.insert_one({"reserved": 0, "shipped": 0, "received": product["available"], "holds": [],
                             "moving": [], **product})
        return True
    except DuplicateKeyError:
        return False


def _products_upgrade(products: Collection) -> None:
    """Give products stored before the ledger their `received` and `shipped` counts. Conditional on the counts
    just read, so a concurrent reservation makes the write miss (and it is tried again) instead of recording a
    wrong total. Their orders that shipped since then are moved to `shipped` as their events are consumed."""
    while old := list(products.find({"received": {"$exists": False}})):
        for product in old:
            products.update_one(
                {"_id": product["_id"], "available": product["available"], "reserved": product["reserved"],
                 "received": {"$exists": False}},
                {"$set": {"received": product["available"] + product["reserved"], "shipped": 0, "moving": []}})


def product_get(product_id: str) -> dict | None:
    return products().find_one({"_id": product_id}, INTERNAL)


def products_all() -> list[dict]:
    """The catalogue, by product id: a few products, so no pages."""
    return list(products().find({}, INTERNAL, sort=[("_id", ASCENDING)]))


def product_restock(product_id: str, quantity: int) -> dict | None:
    """New units arrive: received and available both grow."""
    return products().find_one_and_update(
        {"_id": product_id}, {"$inc": {"available": quantity, "received": quantity}},
        return_document=ReturnDocument.AFTER,  # (FerretDB v1 takes no projection here)
    )


def stock_hold_many(wanted: dict[str, list[tuple[str, int]]]) -> set[str]:
    """Take the units of several orders on each product, all of a product's orders or none of them: one atomic
    update per product, all in one round trip ({product id: [(order id, quantity)]}). Returns the products that had
    not enough for all of theirs.

    Meant for orders seen for the first time, but a product's update is made only if none of its orders holds it
    yet: a consumer that lost these partitions may still have taken some of their holds meanwhile. A product all of
    whose orders hold it afterwards is done, however they came to.
    """
    writes = []
    for product_id, orders in wanted.items():
        total = sum(quantity for _, quantity in orders)
        order_ids = [order_id for order_id, _ in orders]
        writes.append(UpdateOne({"_id": product_id, "available": {"$gte": total}, "holds": {"$nin": order_ids}},
                                {"$inc": {"available": -total, "reserved": total},
                                 "$push": {"holds": {"$each": order_ids}}}))
    if bulk_write(products(), writes) == len(writes):
        return set()
    held = find_by_ids(products(), list(wanted), {"holds": 1})
    return {product_id for product_id, orders in wanted.items()
            if not {order_id for order_id, _ in orders} <= set(held.get(product_id, {}).get("holds", []))}


def stock_hold(product_id: str, order_id: str, quantity: int) -> bool:
    """Take `quantity` units for the order if there are enough and it holds none yet: one atomic update."""
    taken = products().update_one(
        {"_id": product_id, "available": {"$gte": quantity}, "holds": {"$ne": order_id}},
        {"$inc": {"available": -quantity, "reserved": quantity}, "$push": {"holds": order_id}},
    )
    return taken.modified_count == 1


def stock_hold_give_back(product_id: str, order_id: str, quantity: int) -> None:
    """Give back the units an order holds (only if it holds them, so a retry gives nothing back twice)."""
    products().update_one(
        {"_id": product_id, "holds": order_id},
        {"$inc": {"available": quantity, "reserved": -quantity}, "$pull": {"holds": order_id}},
    )


def holds_clear(holders: dict[str, list[str]]) -> None:
    """The reservations are final: the orders keep their units, and their hold markers go (one round trip)."""
    bulk_write(products(), [UpdateOne({"_id": product_id}, {"$pullAll": {"holds": order_ids}})
                            for product_id, order_ids in holders.items()])


def stock_move_many(wanted: dict[str, list[tuple[str, int]]], move: str) -> bool:
    """Move the units of several orders on each product (see MOVES), on a product only if none of its orders has
    moved yet: one atomic update per product, all in one round trip. False if some product's update was not made."""
    source, target = MOVES[move]
    writes = []
    for product_id, orders in wanted.items():
        total = sum(quantity for _, quantity in orders)
        marks = [f"{move}:{order_id}" for order_id, _ in orders]
        writes.append(UpdateOne({"_id": product_id, "moving": {"$nin": marks}},
                                {"$inc": {source: -total, target: total}, "$push": {"moving": {"$each": marks}}}))
    return bulk_write(products(), writes) == len(writes)


def stock_move(product_id: str, order_id: str, quantity: int, move: str) -> None:
    """Move one order's units, unless they moved already (a retry)."""
    source, target = MOVES[move]
    mark = f"{move}:{order_id}"
    products().update_one({"_id": product_id, "moving": {"$ne": mark}},
                          {"$inc": {source: -quantity, target: quantity}, "$push": {"moving": mark}})


def moves_clear(marks: dict[str, list[str]]) -> None:
    """The moves are recorded on their reservations: their marks go (one round trip)."""
    bulk_write(products(), [UpdateOne({"_id": product_id}, {"$pullAll": {"moving": product_marks}})
                            for product_id, product_marks in marks.items()])


def hold_refusal(product_id: str, order_id: str) -> InventoryUpdatedReason | None:
    """Why `stock_hold` took nothing: the product is unknown, or short; None if the order holds it already."""
    product = products().find_one({"_id": product_id}, {"holds": 1})
    if product is None:
        return InventoryUpdatedReason.UNKNOWN_PRODUCT
    return None if order_id in product["holds"] else InventoryUpdatedReason.OUT_OF_STOCK


def reservations_start(documents: list[dict]) -> list[str]:
    """New PENDING reservations (the order id is the _id); returns the orders that had one already."""
    return insert_many_new(reservations(), documents)


def reservation_get(order_id: str) -> dict | None:
    return reservations().find_one({"_id": order_id})


def reservations_get(order_ids: list[str]) -> dict[str, dict]:
    """The reservations of these orders that exist, in one lookup: {order id: reservation}."""
    return find_by_ids(reservations(), order_ids)


def reservations_finish(outcomes: list[dict]) -> int:
    """PENDING → RESERVED or REJECTED, each with its `inventory_updated` event in the same atomic write.
    Returns how many were still PENDING (all of them, unless another consumer got there first)."""
    return bulk_write(reservations(), [
        UpdateOne({"_id": outcome["_id"], "status": ReservationStatus.PENDING},
                  {"$set": {key: outcome[key] for key in ("status", "reason", "finished_at")},
                   "$push": {"events": outcome["event"]}})
        for outcome in outcomes
    ])


def reservation_tombstone(order_id: str) -> dict:
    """Record that the order was cancelled before any stock was reserved, so none ever will be; or give back the
    reservation it has (the order id is the _id: whichever comes first stands)."""
    return insert_or_get(reservations(), {
        "_id": order_id, "reservation_id": None, "status": ReservationStatus.CANCELLED,
        "reason": InventoryUpdatedReason.CANCELLED, "lines": [],
        "created_at": datetime.now(UTC), "finished_at": datetime.now(UTC), "events": []})


def reservations_end(ends: list[dict], *, was: ReservationStatus) -> int:
    """A reservation's last step (SHIPPED, RELEASED or CANCELLED), only from status `was`, with the event it
    caused if any, in one atomic write each. Returns how many were still `was`."""
    return bulk_write(reservations(), [
        UpdateOne({"_id": end["_id"], "status": was},
                  {"$set": {"status": end["status"], "ended_at": datetime.now(UTC)},
                   "$push": {"events": {"$each": end["events"]}}})
        for end in ends
    ])
