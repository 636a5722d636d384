"""`./manage_all.sh bench --store-mix [BINARY ...]`: the store's own CPU per operation for a fixed mix.

How a store patch is measured (infra/ferretdb/README.md). Each FerretDB binary (default: the project's build, and
upstream's when `test` has built it) runs the same order-shaped work on a fresh store of its own, in turn,
`--rounds` times: DOCUMENTS inserts of an order document into a collection with the order site's four list
indexes, 4 x DOCUMENTS guarded `update_one`s of its status, as many again in bulk writes of 20 (as the consumers
write a batch's updates), 2 x DOCUMENTS `find_one`s by `_id`, DOCUMENTS more inserts, from one client. The figure
is the store process's CPU (from /proc) per operation; alternating the binaries lets a shared machine's load fall
on each alike. The last line of stdout is one JSON object.
"""

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import tempfile
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pymongo import MongoClient, UpdateOne

from bench import watch
from bench.bench import machine

BULK = 20  # updates per bulk write
LIST_INDEXES = [[("created_at", -1)], [("status", 1), ("created_at", -1)], [("customer_id", 1), ("created_at", -1)],
                [("customer_id", 1), ("status", 1), ("created_at", -1)]]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="./manage_all.sh bench --store-mix", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binaries", nargs="+", type=Path, help="FerretDB binaries to compare")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each binary, alternately (default 3)")
    parser.add_argument("--documents", type=int, default=1000, help="the mix's size (default 1000: 12000 operations)")
    parser.add_argument("--work-dir", type=Path, required=True, help="where each run's store lives while it runs")
    return parser.parse_args()


def order_id(n: int) -> str:
    return f"{n:08d}-4bf9-4d6a-a3ce-929d0e0e4736"


def order(n: int, now: datetime) -> dict:
    return {"_id": order_id(n), "customer_id": f"customer-{n % 97}", "status": "PENDING",
            "items": [{"product_id": f"P00{1 + n % 6}", "quantity": 1 + n % 3, "price": 2999}],
            "total_amount": 2999, "currency": "USD", "shipping_address": "1 Main St, Springfield",
            "created_at": now, "updated_at": now, "event_id": f"{n:08d}-e", "fence": {"order_placed-3": 1}}


def mix(client: MongoClient, documents: int) -> int:
    """The work; returns how many operations it made."""
    orders = client.mix.orders
    for keys in LIST_INDEXES:
        orders.create_index(keys)
    now, pick = datetime.now(UTC), random.Random(1)
    for n in range(documents):
        orders.insert_one(order(n, now))

    def status_update(k: int) -> tuple[dict, dict]:  # a guarded move of a random order's status
        return ({"_id": order_id(pick.randrange(documents)), "fence.order_placed-3": {"$lte": 1}},
                {"$set": {"status": ("PAID", "RESERVED", "SHIPPED")[k % 3], "updated_at": now}})

    updates = 4 * documents
    for k in range(updates):
        orders.update_one(*status_update(k))
    for k in range(0, updates, BULK):
        orders.bulk_write([UpdateOne(*status_update(i)) for i in range(k, min(k + BULK, updates))])
    for _ in range(2 * documents):
        orders.find_one({"_id": order_id(pick.randrange(documents))})
    for n in range(documents, 2 * documents):
        orders.insert_one(order(n, now))
    return 12 * documents


@contextmanager
def ferretdb(binary: Path, state: Path, log=subprocess.DEVNULL):
    """A FerretDB process of its own on `binary`, its SQLite files in `state`, as manage_all.sh runs it, on a free
    port: yields the process and its port; stops it after. (tests/infra/test_store_differential.py uses it too.)"""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (state / "data").mkdir()
    options = os.environ["ORDERPIPE_FERRETDB_SQLITE_OPTIONS"]  # manage_all.sh's, which `up`'s store opens with
    store = subprocess.Popen(
        [str(binary), "--handler=sqlite", f"--sqlite-url=file:{state}/data/?{options}",
         f"--listen-addr=127.0.0.1:{port}", f"--state-dir={state}", "--debug-addr=-", "--telemetry=disable",
         "--log-level=error"], env={**os.environ, "GOGC": "200"}, stdout=log, stderr=log)
    try:
        yield store, port
    finally:
        store.terminate()
        store.wait(timeout=30)


def run(binary: Path, documents: int, work_dir: Path) -> float:
    """One fresh store on `binary`: CPU-ms of the store per operation of the mix."""
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_dir) as state, ferretdb(binary, Path(state)) as (store, port), \
            MongoClient(port=port, serverSelectionTimeoutMS=30000) as client:
        client.admin.command("ping")
        before = watch.process_stat(str(store.pid)).cpu_ticks
        operations = mix(client, documents)
        used = watch.process_stat(str(store.pid)).cpu_ticks - before
        return 1000 * used / watch.CLOCK_TICKS_PER_SECOND / operations


def main() -> None:
    args = parse_args()
    runs = {str(binary): [] for binary in args.binaries}
    for _ in range(args.rounds):
        for binary in args.binaries:
            runs[str(binary)].append(round(run(binary, args.documents, args.work_dir), 4))
    figures = {"documents": args.documents, "rounds": args.rounds, "machine": machine(), "binaries": {
        binary: {"cpu_ms_per_operation": statistics.median(each), "runs": each} for binary, each in runs.items()}}
    for binary, each in figures["binaries"].items():
        print(f"{Path(binary).name:40} {each['cpu_ms_per_operation']:.3f} CPU-ms of the store per operation "
              f"(median of {args.rounds}: {', '.join(f'{x:.3f}' for x in each['runs'])})")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
