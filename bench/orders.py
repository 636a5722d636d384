"""The orders the benchmark places, and the two ways it places them: as fast as possible, or at a fixed rate."""

import itertools
import math
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests
import urllib3

# The seeded catalogue's prices in cents (inventory_site/inventory/store.py): P001-P005 start with 10,000 units.
PRICES = {"P001": 2999, "P002": 4999, "P003": 1999, "P004": 24999, "P005": 3999}
# One order in 50 (2 %) is above the payment approval limit (1000.00), so the decline path runs too.
DECLINED_EVERY = 50
DECLINED_LINE = ("P005", 1, 150_000)
POST_TIMEOUT_SECONDS = 30


def is_declined(n: int) -> bool:
    return n % DECLINED_EVERY == DECLINED_EVERY // 2


def order_lines(n: int) -> list[tuple[str, int, int]]:
    """Order n's lines as (product, quantity, cents): 1-3 products, 1-2 of each; the same for n in every run."""
    if is_declined(n):
        return [DECLINED_LINE]
    rng = random.Random(n)
    return [(product, rng.randint(1, 2), PRICES[product]) for product in rng.sample(sorted(PRICES), rng.randint(1, 3))]


def order_body(n: int) -> dict:
    lines = order_lines(n)
    return {
        "customer_id": f"BENCH{n % 1000:04d}",
        "items": [{"product_id": product, "quantity": quantity, "price": cents / 100} for product, quantity, cents
                  in lines],
        "shipping_address": "1 Bench Road, Loadtown",
        "total_amount": sum(quantity * cents for _, quantity, cents in lines) / 100,  # to the cent
    }


def units_needed(count: int) -> Counter:
    """Units per product that orders 0…count-1 take if they all ship (declined ones take none)."""
    needed = Counter()
    for n in range(count):
        if not is_declined(n):
            for product, quantity, _ in order_lines(n):
                needed[product] += quantity
    return needed


@dataclass
class Placed:
    """One POST /orders: when it started (time.monotonic), how long it took, and the order id or what went wrong."""

    n: int
    started: float
    seconds: float
    order_id: str | None = None
    error: str | None = None
    late: float = 0.0  # fixed rate only: how long after its due time the POST started


class BrieflyKeptConnections(urllib3.HTTPConnectionPool):
    """Connections not reused once idle for longer than the sites keep them open (gunicorn's `keepalive`, 5 s, in
    common/gunicorn.conf.py). A `POST` sent just as the site closed its connection is reset unread, and the bench
    would count an error the stack never saw (3 in an hour at 60 orders/s, docs/performance.md)."""

    IDLE_SECONDS = 4

    def _get_conn(self, timeout=None):
        connection = super()._get_conn(timeout)
        if time.monotonic() - getattr(connection, "idle_since", math.inf) > self.IDLE_SECONDS:
            connection.close()  # the next request opens a new one
        return connection

    def _put_conn(self, connection) -> None:
        if connection is not None:
            connection.idle_since = time.monotonic()
        super()._put_conn(connection)


def order_site_connections(clients: int) -> urllib3.PoolManager:
    """Kept-alive connections to the order site, one per client thread, through urllib3 itself: `requests` on top
    of it cost the bench client 0.3-0.5 ms of CPU per order (docs/performance.md), on the cores the stack it
    measures runs on. Nothing is sent again by itself, and no proxy is asked: the stack is local."""
    connections = urllib3.PoolManager(maxsize=clients, block=True, retries=False, timeout=POST_TIMEOUT_SECONDS)
    connections.pool_classes_by_scheme = {**connections.pool_classes_by_scheme, "http": BrieflyKeptConnections}
    return connections


def place(connections: urllib3.PoolManager, order_site: str, n: int) -> Placed:
    body = order_body(n)
    started = time.monotonic()
    try:
        response = connections.request("POST", f"{order_site}/orders", json=body)
    except urllib3.exceptions.HTTPError as error:
        return Placed(n, started, time.monotonic() - started, error=f"order {n}: POST failed: {error}")
    seconds = time.monotonic() - started
    if response.status != 201:
        error = f"order {n}: POST answered {response.status} {response.data[:200].decode(errors='replace')}"
        return Placed(n, started, seconds, error=error)
    return Placed(n, started, seconds, order_id=response.json()["order_id"])


class Refused(Exception):
    """A request the site did not accept, and sending it again would not change that."""


def post_until_accepted(url: str, body: dict, *, accepted: set[int], retry_for: float, timeout: float,
                        headers: dict | None = None, answers: Counter | None = None,
                        stop: threading.Event | None = None) -> requests.Response | None:
    """POST as a client that must get through would: a request not answered (the site is down or slow) or answered
    503 (the store is away) is sent again, as it was (an order with its Idempotency-Key), for `retry_for` seconds.
    Returns the accepted answer, or None once `stop` is set; raises Refused. Counts every answer in `answers`."""
    deadline = time.monotonic() + retry_for
    while True:
        try:
            response = requests.post(url, json=body, headers=headers, timeout=timeout)
            if answers is not None:
                answers[response.status_code] += 1
            if response.status_code in accepted:
                return response
            if response.status_code != 503:
                raise Refused(f"{url}: {response.status_code} {response.text[:200]}")
        except requests.RequestException:
            if answers is not None:
                answers["connection error"] += 1
        if time.monotonic() > deadline:
            raise Refused(f"{url}: not accepted within {retry_for:g}s")
        if (stop or threading.Event()).wait(0.5):
            return None


def place_as_fast_as_possible(order_site: str, placed: list[Placed], stop: threading.Event, *, clients: int,
                              count: int | None, until: float | None) -> None:
    """Closed loop: each client sends its next order as soon as the last one is answered."""
    numbers, numbers_lock = itertools.count(), threading.Lock()
    connections = order_site_connections(clients)

    def client() -> None:
        while True:
            with numbers_lock:
                n = next(numbers)
            if stop.is_set() or (count is not None and n >= count) or (until and time.monotonic() >= until):
                return
            placed.append(place(connections, order_site, n))

    with ThreadPoolExecutor(clients) as pool:
        for running in [pool.submit(client) for _ in range(clients)]:
            running.result()


def place_at_rate(order_site: str, placed: list[Placed], stop: threading.Event, *, rate: float, count: int,
                  clients: int) -> None:
    """Open loop: order n is due at start + n/rate, whether or not earlier orders have been answered."""
    # Enough threads that POSTs taking up to 4 s at this rate do not hold back the next ones.
    workers = max(clients, min(256, math.ceil(rate * 4)))
    connections = order_site_connections(workers)

    def send(n: int, due: float) -> None:
        late = time.monotonic() - due
        result = place(connections, order_site, n)
        result.late = late
        placed.append(result)

    start = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        for n in range(count):
            due = start + n / rate
            if stop.wait(max(0.0, due - time.monotonic())):
                return
            pool.submit(send, n, due)
