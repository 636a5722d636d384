"""Bursts of real orders, and the invariants that must hold after any fault (issue: never lose or double)."""

import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from bench.orders import post_until_accepted
from bench.watch import GROUPS
from common.events import TOPICS
from infra import invariants
from orders import store as order_store
from tests.factories import ProductFactory, unique
from tests.stack import BOOTSTRAP, url, wait_for

BURST = 200  # placed as fast as 8 clients can (the report gives the rate); the fault comes half-way through
CONVERGE_TIMEOUT = 240


@dataclass
class Burst:
    """Orders for two products of the test's own (one plentiful, one scarce), a few above the limit, and one in
    ten cancelled by its customer as soon as it is placed."""

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
            self.order_ids += pool.map(lambda n: self._place_one(self.body(n), retry_for, cancel=n % 10 == 3),
                                       range(start, start + count))
        self.placing_seconds += time.monotonic() - started

    @property
    def failed(self) -> dict:
        """The answers that accepted nothing (each was retried until one did), e.g. {503: 4}."""
        return {answer: count for answer, count in self.answers.items() if answer not in (201, 202, 409)}

    @property
    def rate(self) -> float:
        """Orders placed per second while placing (the burst's rate)."""
        return len(self.order_ids) / self.placing_seconds if self.placing_seconds else 0.0

    def _place_one(self, body: dict, retry_for: float, *, cancel: bool) -> str:
        """Place an order; with `cancel`, its customer asks to cancel it at once, racing the pipeline."""
        key = str(uuid.uuid4())
        order_id = self._request("/orders", body, {201}, retry_for, headers={"Idempotency-Key": key})["order_id"]
        if cancel:
            self._request(f"/orders/{order_id}/cancel", {}, {202, 409}, retry_for)  # 409: it was final already
        return order_id

    def _request(self, path: str, body: dict, accepted: set[int], retry_for: float, **kwargs) -> dict:
        """Only "store away, retry" (503) or no answer is retried; any other refusal fails the test."""
        return post_until_accepted(url("order", path), body, accepted=accepted, retry_for=retry_for, timeout=15,
                                   answers=self.answers, **kwargs).json()


def wait_until_final(ids: list[str]) -> float:
    """Seconds until every order is SHIPPED or CANCELLED."""
    started = time.monotonic()

    def all_final():
        return order_store.orders().count_documents({"_id": {"$in": ids}, "final": True}) == len(ids)

    wait_for(all_final, timeout=CONVERGE_TIMEOUT, interval=0.5, what=f"{len(ids)} orders to reach a final state")
    return time.monotonic() - started


def group_lags() -> dict[str, int]:
    """The events on the pipeline's topics that a site's group has not committed yet, by "group topic-partition"."""
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP)
    try:
        partitions = [TopicPartition(t, p) for t in TOPICS for p in consumer.partitions_for_topic(t)]
        ends = consumer.end_offsets(partitions)
        lags = {}
        for group, committed in admin.list_group_offsets({group: None for group in GROUPS}).items():
            for p, offset in committed.items():
                if p in ends and ends[p] > offset.offset:  # its topics, not DLTs
                    lags[f"{group} {p.topic}-{p.partition}"] = ends[p] - offset.offset
        return lags
    finally:
        admin.close()
        consumer.close()


def wait_until_consumed(timeout: float = 120) -> None:
    try:
        wait_for(lambda: not group_lags(), timeout=timeout, interval=0.5, what="every consumer group to catch up")
    except AssertionError as timed_out:
        try:
            behind = group_lags()
        except Exception as error:  # the broker away: the timeout is still the news
            behind = f"not known ({error})"
        raise AssertionError(f"{timed_out}; still behind: {behind}") from None


def check_invariants(burst: Burst) -> dict:
    """The invariants of the issue, checked on the stores; returns the figures for the report."""
    wait_until_consumed()  # an event may still be on its way after the order went final (a late one)
    # the burst's products are its own: when made, every unit was available
    stock_before = {p["_id"]: {"reserved": 0, "shipped": 0, **p} for p in (burst.plenty, burst.scarce)}
    figures = invariants.check(burst.order_ids, stock_before)
    return {"orders": figures.pop("orders"), "burst orders/s": round(burst.rate), **figures}

