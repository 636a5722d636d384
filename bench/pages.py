"""`./manage_all.sh bench --pages`: how long each list page takes as the store grows, against a running `up`.

Places a few real orders (POST /orders) and waits until each is final and mailed, then, for each size, fills
the store up to that many orders by cloning them with insert_many: the order, and the payment, reservation,
shipment, notifications and recipient it caused, each clone with ids of its own, a customer out of CUSTOMERS
and an older created_at. At each size it requests every API and admin list page one at a time (a few warm-up
requests, then `--samples`, within `--budget` seconds a page) and reports p50/p95, and the peak RSS of every
web process (from /proc) while it did. A table per size, then one JSON line with every figure. Clones stay in
the store: the next run starts from there (use a fresh state folder to start from nothing).
"""

import argparse
import html
import json
import math
import os
import re
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import django
import requests
from django.conf import settings
from pymongo import MongoClient
from tqdm import tqdm

from bench import orders, watch
from bench.bench import machine, stack_ready

TEMPLATES = 30  # real orders to clone; order 25 is above the approval limit (bench.orders), so CANCELLED is rare
CUSTOMERS = 2_000
BATCH = 1_000  # documents per insert_many
WARM_UP = 2
OLDEST = datetime(2020, 1, 1, tzinfo=UTC)  # clone n is made OLDEST + n ms: older than any real order
TIMEOUT_SECONDS = 120
SITES = ["order", "payment", "inventory", "shipment", "notification"]


def parse_args() -> argparse.Namespace:
    offset = int(os.environ.get("ORDERPIPE_PORT_OFFSET", "0"))
    parser = argparse.ArgumentParser(prog="./manage_all.sh bench --pages", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="orders in the store at each measurement, comma-separated (default 10000,100000,1000000)")
    parser.add_argument("--samples", type=int, default=20, help="timed requests per page and size (default 20)")
    parser.add_argument("--budget", type=float, default=30,
                        help="seconds per page and size: fewer samples (at least 3) where they take longer")
    parser.add_argument("--sites", default=",".join(f"http://127.0.0.1:{8001 + i + offset}" for i in range(5)),
                        help="the five sites' addresses, in the order " + ", ".join(SITES))
    parser.add_argument("--run-dir", type=Path, help="the stack's pid files (default: $ORDERPIPE_STATE/run)")
    args = parser.parse_args()
    args.sizes = [int(size) for size in args.sizes.split(",")]
    args.sites = dict(zip(SITES, args.sites.split(","), strict=True))
    return args


class Store:
    """The collections the clones go to: (database, collection) → the pymongo collection."""

    NAMES = [("orders", "orders"), ("payments", "payments"), ("inventory", "reservations"),
             ("shipments", "shipments"), ("notifications", "notifications"), ("notifications", "recipients")]

    def __init__(self, uri: str):
        self.client = MongoClient(uri)
        self.collections = {name: self.client[name[0]][name[1]] for name in self.NAMES}

    def orders(self) -> int:
        return self.collections["orders", "orders"].estimated_document_count()

    def oldest_customer(self) -> str:
        """The customer of the oldest clone (one with as many orders as any: each has every CUSTOMERS-th clone)."""
        return self.collections["orders", "orders"].find_one({}, sort=[("created_at", 1)])["customer_id"]

    def documents_of(self, order_id: str) -> dict:
        """An order's document in each collection (a list of them for notifications), None where it has none."""
        found = {name: collection.find_one({"_id": order_id}) for name, collection in self.collections.items()}
        found["notifications", "notifications"] = list(
            self.collections["notifications", "notifications"].find({"order_id": order_id}))
        return found


def place_templates(order_site: str, store: Store) -> list[dict]:
    """Real orders, once every site has made its documents for them."""
    connections = orders.order_site_connections(1)
    placed = [orders.place(connections, order_site, n) for n in range(TEMPLATES)]
    if failed := [p.error for p in placed if p.error]:
        raise SystemExit(f"bench --pages: {failed[0]}")
    templates, deadline = [], time.monotonic() + TIMEOUT_SECONDS
    for p in placed:
        while True:
            documents = store.documents_of(p.order_id)
            order = documents["orders", "orders"]
            if order and order["final"] and documents["notifications", "notifications"]:
                templates.append(documents)
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"bench --pages: order {p.order_id} not final and mailed after {TIMEOUT_SECONDS} s")
            time.sleep(0.2)
    return templates


def clone(templates: list[dict], n: int) -> dict:
    """Clone n of a template order's documents: new ids, customer and created_at, the rest as it was."""
    documents = templates[n % len(templates)]
    order_id, customer = str(uuid.uuid4()), f"PAGES{n % CUSTOMERS:05d}"
    created_at = OLDEST + timedelta(milliseconds=n)
    own = {"_id": order_id, "created_at": created_at}
    cloned = {
        ("orders", "orders"): [{**documents["orders", "orders"], **own, "customer_id": customer,
                                "updated_at": created_at}],
        ("payments", "payments"): [{**documents["payments", "payments"], **own, "customer_id": customer,
                                    "payment_id": str(uuid.uuid4())}],
        ("notifications", "recipients"): [{**documents["notifications", "recipients"], **own,
                                           "customer_id": customer, "email": f"{customer}@customers.example"}],
        ("notifications", "notifications"): [
            {**notification, **own, "_id": f"{order_id}.{notification['event_type']}", "order_id": order_id}
            for notification in documents["notifications", "notifications"]],
    }
    if reservation := documents["inventory", "reservations"]:
        cloned["inventory", "reservations"] = [{**reservation, **own, "reservation_id": str(uuid.uuid4())}]
    if shipment := documents["shipments", "shipments"]:
        cloned["shipments", "shipments"] = [{**shipment, **own, "shipment_id": str(uuid.uuid4()),
                                             "tracking_number": f"PAGES{n:09d}"}]
    return cloned


def fill(store: Store, templates: list[dict], start: int, count: int) -> float:
    """Clones `count` orders (clone numbers start, start+1, …) with their documents; returns the seconds it took.
    Each collection is written by a thread of its own (one SQLite file per database on FerretDB)."""
    started = time.monotonic()
    with tqdm(total=count, desc=f"fill to {start + count:,}", unit="order", file=sys.stderr) as bar:
        for first in range(start, start + count, BATCH):
            batch: dict[tuple, list] = {name: [] for name in Store.NAMES}
            for n in range(first, min(first + BATCH, start + count)):
                for name, documents in clone(templates, n).items():
                    batch[name] += documents
            with ThreadPoolExecutor(len(batch)) as pool:
                for written in [pool.submit(store.collections[name].insert_many, documents, ordered=False)
                                for name, documents in batch.items() if documents]:
                    written.result()
            bar.update(min(BATCH, start + count - first))
    return time.monotonic() - started


def admin_session(site: str, password: str) -> requests.Session:
    """Logged in to a site's admin as the `admin` user `up` made."""
    session = requests.Session()
    login = session.get(f"{site}/admin/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    answer = session.post(f"{site}/admin/login/?next=/admin/", headers={"Referer": login.url}, timeout=10,
                          data={"csrfmiddlewaretoken": token, "username": "admin", "password": password})
    if "Log out" not in answer.text:
        raise SystemExit(f"bench --pages: could not log in to {site}/admin/ as admin")
    return session


def pages(templates: list[dict], orders: int, customer: str) -> list[tuple[str, str, str, dict]]:
    """(name, site, path, query) of every list page measured, with `orders` in the store. The last pages skip
    all the others: the deepest a page can be, and the one that grows with the store."""
    order_id, email = templates[0]["orders", "orders"]["_id"], f"{customer}@customers.example"
    return [
        ("API orders, newest 20", "order", "/orders", {"page_size": 20}),
        ("API orders, page 50 (skip 980)", "order", "/orders", {"page": 50}),
        ("API orders, the last page", "order", "/orders", {"page": max(math.ceil(orders / 20), 1)}),
        ("API orders by customer", "order", "/orders", {"customer_id": customer}),
        ("API orders by status (most)", "order", "/orders", {"status": "SHIPPED"}),
        ("API orders by status (rare)", "order", "/orders", {"status": "CANCELLED"}),
        ("API payments, newest", "payment", "/payments", {}),
        ("API payments by status (rare)", "payment", "/payments", {"status": "DECLINED"}),
        ("API shipments, newest", "shipment", "/shipments", {}),
        ("API notifications, newest", "notification", "/notifications", {}),
        ("API notifications of an order", "notification", "/notifications", {"order_id": order_id}),
        ("admin orders", "order", "/admin/orders/orders/", {}),
        ("admin orders by status", "order", "/admin/orders/orders/", {"status": "SHIPPED"}),
        ("admin orders, search customer", "order", "/admin/orders/orders/", {"q": customer}),
        ("admin orders, search customer + status", "order", "/admin/orders/orders/",
         {"q": customer, "status": "SHIPPED"}),
        ("admin orders, search order id", "order", "/admin/orders/orders/", {"q": order_id}),
        ("admin orders, page 20", "order", "/admin/orders/orders/", {"p": 20}),
        ("admin orders, the last page", "order", "/admin/orders/orders/", {"p": max(math.ceil(orders / 50), 1)}),
        ("admin payments", "payment", "/admin/payments/payments/", {}),
        ("admin payments by status (rare)", "payment", "/admin/payments/payments/", {"status": "DECLINED"}),
        ("admin reservations", "inventory", "/admin/inventory/reservations/", {}),
        ("admin shipments", "shipment", "/admin/shipments/shipments/", {}),
        ("admin notifications", "notification", "/admin/notifications/notifications/", {}),
        ("admin recipients, search e-mail", "notification", "/admin/notifications/recipients/", {"q": email}),
    ]


def rows_of(answer: requests.Response) -> int:
    """The items a page shows: API results, or admin table rows."""
    if answer.headers.get("content-type", "").startswith("application/json"):
        return len(answer.json()["results"])
    return 1 if answer.history else len(re.findall(r"<tr><td><a href=", answer.text))  # a search that landed


def time_page(session: requests.Session, address: str, query: dict, args) -> dict:
    """p50/p95 of one page, in ms, with the number of samples and the rows it shows."""
    seconds, errors, shown = [], [], 0
    budget_ends = time.monotonic() + args.budget
    for n in range(WARM_UP + args.samples):
        started = time.perf_counter()
        try:
            answer = session.get(address, params=query, timeout=TIMEOUT_SECONDS)
        except requests.RequestException as error:
            errors.append(str(error))
            break
        took = time.perf_counter() - started
        if answer.status_code != 200:
            errors.append(f"{answer.status_code} {html.unescape(answer.text[:200])}")
            break
        shown = rows_of(answer)
        if n >= WARM_UP or took > args.budget / 3:  # a slow page has no warm-up to spare
            seconds.append(took)
        if len(seconds) >= 3 and time.monotonic() > budget_ends:
            break
    if not seconds:
        return {"error": errors[0] if errors else "no sample"}
    cuts = statistics.quantiles(seconds, n=20, method="inclusive") if len(seconds) > 1 else seconds * 19
    return {"p50": round(statistics.median(seconds) * 1000, 1), "p95": round(cuts[18] * 1000, 1),
            "samples": len(seconds), "rows": shown, **({"error": errors[0]} if errors else {})}


def measure(args, templates: list[dict], store: Store, sessions: dict, components: watch.Components) -> dict:
    components.peak_rss.clear()
    sampler = watch.Every(components.sample_rss)
    sampler.start()
    try:
        figures, measured = {}, pages(templates, store.orders(), store.oldest_customer())
        for name, site, path, query in tqdm(measured, desc="pages", file=sys.stderr, leave=False):
            figures[name] = time_page(sessions[site], f"{args.sites[site]}{path}", query, args)
    finally:
        sampler.stop()
    rss = {name: round(peak / 2**20, 1) for name, peak in sorted(components.peak_rss.items())
           if name.startswith("web-")}
    return {"pages": figures, "web_peak_rss_mb": rss}


def report(result: dict) -> list[str]:
    fill = f"{result['filled_orders']:,} orders cloned in {result['fill_s']:.0f} s" if result["filled_orders"] else \
        "nothing to clone"
    lines = [f"{result['orders']:,} orders in the store ({fill})",
             f"  {'page':<42}{'p50 ms':>10}{'p95 ms':>10}{'samples':>9}{'rows':>6}"]
    for name, page in result["pages"].items():
        if "p50" in page:
            lines.append(f"  {name:<42}{page['p50']:>10.1f}{page['p95']:>10.1f}{page['samples']:>9}{page['rows']:>6}"
                         + (f"  then: {page['error'][:60]}" if "error" in page else ""))
        else:
            lines.append(f"  {name:<42}  failed: {page['error'][:80]}")
    peaks = result["web_peak_rss_mb"]
    by_site = {site: max((mb for name, mb in peaks.items() if name.split("/")[0] == f"web-{site}"), default=0)
               for site in SITES}
    lines.append("  web peak RSS MB (largest process of each site): "
                 + ", ".join(f"{site} {mb:.0f}" for site, mb in by_site.items()))
    return lines


def main() -> int:
    args = parse_args()
    django.setup()
    if not stack_ready(args.sites["order"], "bench --pages"):
        return 2
    state = Path(settings.STATE_DIR)
    password = (state / "admin-password").read_text().strip()
    components = watch.Components(args.run_dir or state / "run")
    store = Store(settings.MONGODB_URI)
    print(f"placing {TEMPLATES} real orders to clone", file=sys.stderr)
    templates = place_templates(args.sites["order"], store)
    sessions = {site: admin_session(address, password) for site, address in args.sites.items()}
    results = []
    for size in args.sizes:
        have = store.orders()
        missing = max(size - have, 0)
        seconds = fill(store, templates, have, missing) if missing else 0.0  # clone n is the store's order n
        result = {"orders": have + missing, "filled_orders": missing, "fill_s": round(seconds, 1),
                  **measure(args, templates, store, sessions, components)}
        print("\n".join(report(result)), flush=True)
        results.append(result)
    print(json.dumps({"sizes": results, "samples": args.samples, "budget_s": args.budget, "machine": machine()}),
          flush=True)
    return 1 if any("error" in page for result in results for page in result["pages"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
