"""Benchmark: place N orders against a running stack and report how fast they go through.

    ./manage_all.sh up && .venv/bin/python bench/throughput.py --orders 500

Prints POST /orders latency (p50, p95, max), the time until every order is SHIPPED or CANCELLED,
and the end-to-end rate. Talks HTTP only, as a client would; polls GET /orders/{id} for the outcome.
"""

import argparse
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

ITEMS = [{"product_id": "P001", "quantity": 1, "price": 29.99}, {"product_id": "P003", "quantity": 2, "price": 19.99}]


def place(session: requests.Session, base: str) -> tuple[str, float]:
    body = {"customer_id": f"BENCH-{uuid.uuid4().hex[:8]}", "items": ITEMS, "shipping_address": "1 Bench Road",
            "total_amount": 69.97}
    started = time.perf_counter()
    response = session.post(f"{base}/orders", json=body, timeout=30)
    response.raise_for_status()
    return response.json()["order_id"], time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    parser.add_argument("--order-site", default="http://127.0.0.1:8001")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    session = requests.Session()
    started = time.perf_counter()
    with ThreadPoolExecutor(args.clients) as pool:
        placed = list(pool.map(lambda _: place(session, args.order_site), range(args.orders)))
    placing = time.perf_counter() - started
    latencies = sorted(latency for _, latency in placed)

    waiting = {order_id for order_id, _ in placed}
    outcomes = {}
    deadline = time.perf_counter() + args.timeout
    while waiting and time.perf_counter() < deadline:
        for order_id in list(waiting):
            status = session.get(f"{args.order_site}/orders/{order_id}", timeout=30).json()["status"]
            if status in ("SHIPPED", "CANCELLED"):
                outcomes[order_id] = status
                waiting.discard(order_id)
        time.sleep(0.2)
    total = time.perf_counter() - started

    print(f"orders placed          {args.orders} by {args.clients} clients in {placing:.1f} s "
          f"({args.orders / placing:.0f}/s)")
    print(f"POST /orders latency   p50 {statistics.median(latencies) * 1000:.0f} ms, "
          f"p95 {latencies[int(len(latencies) * 0.95) - 1] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms")
    print(f"all final after        {total:.1f} s ({len(outcomes) / total:.1f} orders/s end to end)")
    print(f"outcomes               {sum(s == 'SHIPPED' for s in outcomes.values())} SHIPPED, "
          f"{sum(s == 'CANCELLED' for s in outcomes.values())} CANCELLED, {len(waiting)} unfinished")


if __name__ == "__main__":
    main()
