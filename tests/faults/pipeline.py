"""Bursts of real orders, and the invariants that must hold after any fault (issue: never lose or double)."""

import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import requests
from django.conf import settings
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from common import outbox
from common.events import TOPICS
from inventory import store as inventory_store
from orders import store as order_store
from payments import store as payment_store
from shipments import store as shipment_store
from tests.factories import ProductFactory, unique
from tests.stack import BOOTSTRAP, url, wait_for

BURST = 200  # placed as fast as 8 clients can (the report gives the rate); the fault comes half-way through
SETTLE_SECONDS = 10  # an event may wait in an outbox this long; older means the relay is not doing its job
CONVERGE_TIMEOUT = 240
# The events an order's timeline holds when it is final, by final status (declined; or out of stock, refunded).
STORY = {"SHIPPED": [["inventory_updated", "payment_processed", "shipment_processed"]],
         "CANCELLED": [["payment_processed"], ["inventory_updated", "payment_processed", "payment_refunded"]]}
GROUPS = ["order-service", "payment-service", "inventory-service", "shipment-service"]


@dataclass
class Burst:
    """Orders for two products of the test's own (one plentiful, one scarce), and a few above the limit."""

    plenty: dict = field(default_factory=lambda: ProductFactory(available=5000, price=1000))
    scarce: dict = field(default_factory=lambda: ProductFactory(available=15, price=500))
    order_ids: list[str] = field(default_factory=list)
    answers: Counter = field(default_factory=Counter)
    placing_seconds: float = 0.0

    def body(self, n: int) -> dict:
        if n % 25 == 0:  # declined: above the approval limit
            price = float(settings.PAYMENT_APPROVAL_LIMIT) + 1
            items = [{"product_id": self.plenty["_id"], "quantity": 1, "price": price}]
        else:
            items = [{"product_id": self.plenty["_id"], "quantity": 1 + n % 3, "price": 10.00}]
            if n % 7 == 0:  # the scarce product runs out after a few: out of stock, refund
                items.append({"product_id": self.scarce["_id"], "quantity": 2, "price": 5.00})
        total = sum(i["quantity"] * round(i["price"] * 100) for i in items) / 100
        return {"customer_id": unique("BURST"), "items": items, "shipping_address": "1 Fault Lane",
                "total_amount": total}

    def place(self, count: int, *, retry_for: float = 120) -> None:
        """Place orders from 8 threads, as clients would: an unanswered POST is retried with its Idempotency-Key."""
        start = len(self.order_ids) + len(self.answers)
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            self.order_ids += pool.map(lambda n: self._place_one(self.body(n), retry_for), range(start, start + count))
        self.placing_seconds += time.monotonic() - started

    @property
    def rate(self) -> float:
        """Orders placed per second while placing (the burst's rate)."""
        return len(self.order_ids) / self.placing_seconds if self.placing_seconds else 0.0

    def _place_one(self, body: dict, retry_for: float) -> str:
        key = str(uuid.uuid4())
        deadline = time.monotonic() + retry_for
        while True:
            try:
                response = requests.post(url("order", "/orders"), json=body, headers={"Idempotency-Key": key},
                                         timeout=15)
                self.answers[response.status_code] += 1
                if response.status_code == 201:
                    return response.json()["order_id"]
                assert response.status_code == 503, response.text  # only "store away, retry" is acceptable
            except requests.ConnectionError:
                self.answers["connection error"] += 1
            assert time.monotonic() < deadline, f"order not accepted within {retry_for}s"
            time.sleep(0.5)


def orders_of(ids: list[str]) -> list[dict]:
    return list(order_store.orders().find({"_id": {"$in": ids}}))


def wait_until_final(ids: list[str]) -> float:
    """Seconds until every order is SHIPPED or CANCELLED."""
    started = time.monotonic()

    def all_final():
        return order_store.orders().count_documents({"_id": {"$in": ids}, "final": True}) == len(ids)

    wait_for(all_final, timeout=CONVERGE_TIMEOUT, interval=0.5, what=f"{len(ids)} orders to reach a final state")
    return time.monotonic() - started


def group_lag() -> int:
    """Events on the pipeline's topics that some site's consumer group has not yet committed."""
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP)
    try:
        partitions = [TopicPartition(t, p) for t in TOPICS for p in consumer.partitions_for_topic(t)]
        ends = consumer.end_offsets(partitions)
        lag = 0
        for committed in admin.list_group_offsets({group: None for group in GROUPS}).values():
            lag += sum(ends[p] - committed[p].offset for p in committed if p in ends)  # its topics, not DLTs
        return lag
    finally:
        admin.close()
        consumer.close()


def wait_until_consumed(timeout: float = 120) -> None:
    wait_for(lambda: group_lag() == 0, timeout=timeout, interval=0.5, what="every consumer group to catch up")


def check_invariants(burst: Burst) -> dict:
    """The invariants of the issue, checked on the stores; returns the figures for the report."""
    wait_until_consumed()  # an event may still be on its way after the order went final (a late one)
    ids = burst.order_ids
    assert len(set(ids)) == len(ids), "two placements gave the same order"
    orders = {o["_id"]: o for o in orders_of(ids)}
    assert set(orders) == set(ids), "an accepted order is missing"
    states = Counter(o["status"] for o in orders.values())
    assert set(states) <= {"SHIPPED", "CANCELLED"}, states

    payments = {p["_id"]: p for p in payment_store.payments().find({"_id": {"$in": ids}})}
    assert set(payments) == set(ids), "an order without exactly one payment"
    for order_id, order in orders.items():
        expected = {"COMPLETED"} if order["status"] == "SHIPPED" else {"DECLINED", "REFUNDED"}
        assert payments[order_id]["status"] in expected, (order, payments[order_id])

    shipments = list(shipment_store.shipments().find({"_id": {"$in": ids}}))
    assert {s["_id"] for s in shipments} == {i for i, o in orders.items() if o["status"] == "SHIPPED"}
    for product in (burst.plenty, burst.scarce):
        shipped = sum(line["quantity"] for shipment in shipments for line in shipment["lines"]
                      if line["product_id"] == product["_id"])
        now = inventory_store.products().find_one({"_id": product["_id"]})
        assert (now["available"] + shipped, now["reserved"], now["holds"]) == (product["available"], shipped, []), (
            f"stock of {product['_id']}: {now}, shipped {shipped}")

    timelines = {order_id: order_store.timeline_of(order_id) for order_id in ids}
    duplicates = sum(len(t) - len({e["event_id"] for e in t}) for t in timelines.values())
    assert duplicates == 0, "an order's timeline holds an event twice"
    for order_id, timeline in timelines.items():  # each step of its story once, none missing
        steps = sorted(e["event_type"] for e in timeline)
        assert steps in (STORY[orders[order_id]["status"]]), (orders[order_id], timeline)

    cutoff = datetime.now(UTC) - timedelta(seconds=SETTLE_SECONDS)
    burst_ids = set(ids)
    stale = [m for m in outbox.pending(order_store.orders()) if m["document_id"] in burst_ids and m["since"] < cutoff]
    assert not stale, f"{len(stale)} order events unsent for over {SETTLE_SECONDS}s: {stale[:3]}"
    return {"orders": len(ids), "burst orders/s": round(burst.rate), **dict(sorted(states.items())),
            "duplicates": duplicates}


def topic_records(keys: set[str], topics=tuple(TOPICS)) -> list:
    """Every record on the given topics whose key is one of `keys`."""
    consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        found = []
        while any(consumer.position(p) < end[p] for p in partitions):
            for records in consumer.poll(timeout_ms=1000).values():
                found += [r for r in records if r.key and r.key.decode() in keys]
        return found
    finally:
        consumer.close()
