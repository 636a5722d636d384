"""The inventory site's operations: reserve paid orders' stock (all lines of an order or none), move it to
`shipped` when the parcel leaves, or give it back when the order is cancelled."""

import logging
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime

from django.conf import settings

from common.events import (
    Event,
    InventoryUpdatedReason,
    InventoryUpdatedStatus,
    caused_by,
    event_from_dict,
    new_event,
)
from inventory import store
from inventory.store import ReservationStatus

log = logging.getLogger(__name__)


def stock_reserve(*, paid: list[Event]) -> list[Event]:
    """Reserve the lines of paid orders, once each, however often (and wherever) an event is re-processed.

    Built from single-document atomic writes (no transactions: README, "Never lose an order, never do it twice"),
    a batch at a time:
    1. each order gets a PENDING reservation; an order that has one already was seen before;
    2. holds are taken on the products: one guarded update per product for all the new orders that want
       it (enough units, and the orders recorded as its holders in the same update); only when a product
       cannot serve them all are they taken one order at a time, first come first served;
    3. an order short of any line releases what it holds; each reservation's outcome is written with its
       event; then the hold markers go.
    A retry after a crash at any point re-takes only the missing holds and ends with the same stock.
    """
    causes = {event.order_id: event for event in paid}
    drafts = [_new_reservation(event) for event in paid]
    seen_before = _reservations_of(store.reservations_start(drafts))
    seen_ids = {r["_id"] for r in seen_before}
    new = [draft for draft in drafts if draft["_id"] not in seen_ids]
    resumed = [r for r in seen_before if r["status"] == ReservationStatus.PENDING]  # an earlier try died half-way
    shortfalls = _hold_in_bulk(new) | _hold_one_by_one(resumed)
    outcomes = [_outcome(causes[r["_id"]], r, shortfalls.get(r["_id"])) for r in new + resumed]
    if store.reservations_finish(outcomes) == len(outcomes):
        caused = [event_from_dict(outcome["event"]) for outcome in outcomes]
        done = [r for r in seen_before if r["status"] != ReservationStatus.PENDING]
    else:  # another consumer finished some of them first (or a cancellation ended them): theirs stand
        caused, done = [], _reservations_of([r["_id"] for r in new + seen_before])
        _give_back_holds([r for r in done if r["status"] == ReservationStatus.CANCELLED])
    caused += [event for r in done for event in caused_by(r, causes[r["_id"]])]
    store.holds_clear(_by_product(new + seen_before, lambda reservation, line: reservation["_id"]))
    return caused


def _new_reservation(event: Event) -> dict:
    quantities = Counter()
    for line in event.payload["lines"]:  # the same product twice in one order is one line
        quantities[line["product_id"]] += line["quantity"]
    return {
        "_id": event.order_id,
        "reservation_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"reservation:{event.order_id}")),
        "status": ReservationStatus.PENDING,
        "reason": None,
        "lines": [{"product_id": product_id, "quantity": quantity} for product_id, quantity in quantities.items()],
        "created_at": datetime.now(UTC),
        "events": [],
    }


def _hold_in_bulk(reservations: list[dict]) -> dict[str, str]:
    """Take the holds of orders seen for the first time; returns {order id: reason} for those left short."""
    wanted = _by_product(reservations, _order_and_quantity)
    shortfalls = {}
    short = store.stock_hold_many(wanted)
    for product_id in sorted(short):
        for order_id, quantity in wanted[product_id]:  # not enough for all of them: first come, first served
            if order_id in shortfalls or store.stock_hold(product_id, order_id, quantity):
                continue
            if refusal := store.hold_refusal(product_id, order_id):  # None: it holds them already
                shortfalls[order_id] = refusal
    return _release_short(reservations, shortfalls)


def _hold_one_by_one(reservations: list[dict]) -> dict[str, str]:
    """Resume reservations an earlier try left PENDING: it may have taken some of their holds already."""
    shortfalls = {}
    for reservation in reservations:
        for line in reservation["lines"]:
            if store.stock_hold(line["product_id"], reservation["_id"], line["quantity"]):
                continue
            refusal = store.hold_refusal(line["product_id"], reservation["_id"])
            if refusal:  # None: the earlier try took this hold
                shortfalls[reservation["_id"]] = refusal
                break
    return _release_short(reservations, shortfalls)


def _release_short(reservations: list[dict], shortfalls: dict[str, str]) -> dict[str, str]:
    short = [reservation for reservation in reservations if reservation["_id"] in shortfalls]
    for reservation in short:
        log.info("reservation for order %s: REJECTED %s", reservation["_id"], shortfalls[reservation["_id"]])
    _give_back_holds(short)
    return shortfalls


def _give_back_holds(reservations: list[dict]) -> None:
    for reservation in reservations:
        for line in reservation["lines"]:  # only the lines it holds give anything back
            store.stock_hold_give_back(line["product_id"], reservation["_id"], line["quantity"])


def _outcome(cause: Event, reservation: dict, reason: str | None) -> dict:
    status = InventoryUpdatedStatus.REJECTED if reason else InventoryUpdatedStatus.RESERVED
    updated = new_event(
        "inventory_updated",
        order_id=cause.order_id,
        cause=cause,
        producer=settings.SERVICE,
        payload={
            "reservation_id": reservation["reservation_id"],
            "status": status,
            "lines": reservation["lines"],
            "reason": reason,
            "shipping_address": cause.payload["shipping_address"],
        },
    )
    return {"_id": reservation["_id"], "status": ReservationStatus(status), "reason": reason,
            "finished_at": datetime.now(UTC), "event": updated.to_dict()}


class UnknownReservation(Exception):
    """A parcel left for an order this site reserved nothing for."""


def stock_ship(*, shipped: list[Event]) -> list[Event]:
    """The parcels left: each order's reserved units become shipped, once, however often the event comes."""
    reservations = _reservations_of([event.order_id for event in shipped])
    reserved = [r for r in reservations if r["status"] == ReservationStatus.RESERVED]
    _move_stock(reserved, "ship")
    store.reservations_end([{"_id": r["_id"], "status": ReservationStatus.SHIPPED, "events": []} for r in reserved],
                           was=ReservationStatus.RESERVED)
    _clear_marks(reservations, "ship")
    return []


def stock_release(*, cancelled: list[Event]) -> list[Event]:
    """A cancellation reached the shipment site before the parcel left: give the order's stock back, once.

    An order with no reservation yet gets a CANCELLED one, so the payment still on its way reserves nothing
    (whichever is written first stands). A reservation an earlier try left PENDING is cancelled and gives back
    the holds it took. A RESERVED one moves its units back to `available` and says so (`inventory_updated`
    RELEASED). Returns those events (again, on a redelivery)."""
    causes = {event.order_id: event for event in cancelled}
    reservations = [store.reservation_tombstone(event.order_id) for event in cancelled]
    reserved = [r for r in reservations if r["status"] == ReservationStatus.RESERVED]
    pending = [r for r in reservations if r["status"] == ReservationStatus.PENDING]
    _move_stock(reserved, "release")
    released = [{"_id": r["_id"], "status": ReservationStatus.RELEASED,
                 "events": [_released(causes[r["_id"]], r).to_dict()]} for r in reserved]
    store.reservations_end(released, was=ReservationStatus.RESERVED)
    store.reservations_end([{"_id": r["_id"], "status": ReservationStatus.CANCELLED, "events": []} for r in pending],
                           was=ReservationStatus.PENDING)
    _give_back_holds(pending)
    _clear_marks(reservations, "release")
    # from the store: on a redelivery (or if another consumer got there first) its events are the ones that stand
    ended = _reservations_of([event.order_id for event in cancelled])
    return [event for r in ended for event in caused_by(r, causes[r["_id"]])]


def _reservations_of(order_ids: list[str]) -> list[dict]:
    """The orders' reservations, in one lookup, in the orders' order."""
    found = store.reservations_get(order_ids)
    missing = [order_id for order_id in order_ids if order_id not in found]
    if missing:
        raise UnknownReservation(f"no reservation for order {', '.join(missing)}")
    return [found[order_id] for order_id in order_ids]


def _move_stock(reservations: list[dict], move: str) -> None:
    """One guarded update per product for all the orders (see store.MOVES); one order at a time only when some
    moved already (a retry after a crash half-way)."""
    wanted = _by_product(reservations, _order_and_quantity)
    if not store.stock_move_many(wanted, move):
        # some product's orders had moved in part: each order's move once more, a no-op for those made already
        for product_id, orders in wanted.items():
            for order_id, quantity in orders:
                store.stock_move(product_id, order_id, quantity, move)


def _clear_marks(reservations: list[dict], move: str) -> None:
    store.moves_clear(_by_product(reservations, lambda reservation, line: f"{move}:{reservation['_id']}"))


def _by_product(reservations: list[dict], item) -> dict[str, list]:
    """{product id: [item(reservation, line) of each line of it]}, by product id, each list in the orders' order."""
    items = defaultdict(list)
    for reservation in reservations:
        for line in reservation["lines"]:
            items[line["product_id"]].append(item(reservation, line))
    return dict(sorted(items.items()))


def _order_and_quantity(reservation: dict, line: dict) -> tuple[str, int]:
    return reservation["_id"], line["quantity"]


def _released(cause: Event, reservation: dict) -> Event:
    reserved = next(event for event in reservation["events"]
                    if event["payload"]["status"] == InventoryUpdatedStatus.RESERVED)
    return new_event("inventory_updated", order_id=cause.order_id, cause=cause, producer=settings.SERVICE, payload={
        "reservation_id": reservation["reservation_id"],
        "status": InventoryUpdatedStatus.RELEASED,
        "lines": reservation["lines"],
        "reason": InventoryUpdatedReason.CANCELLED,
        "shipping_address": reserved["payload"]["shipping_address"],
    })


def product_restock(*, product_id: str, quantity: int) -> dict | None:
    return store.product_restock(product_id, quantity)
