"""`./manage_all.sh experiment NAME`: the course's experiments, run against the stack `up` started.

  scale                             a second payment consumer joins its group under load: which partitions
                                    move to it, and payments per second with one consumer and with two
  break consumer|site|broker|store  stop a piece under load, watch the backlog grow, bring it back, watch the
                                    pipeline catch up, then check the fault tests' invariants
  replay GROUP                      move a consumer group back to the first event of its topics: it reads
                                    everything again, and nothing is applied twice
  add-service                       the notification site: start it, place orders, watch their notifications

Each prints what it does and what to watch, and ends with a PASS or FAIL line (exit status 0 or 1).
"""

import argparse
import itertools
import logging
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import django
import requests
from django.conf import settings
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import MemberToRemove, OffsetSpec

from bench import orders as bench_orders
from bench.watch import GROUPS, ConsumerLag, FinalEvents
from common.events import TOPICS
from common.kafka import all_topic_names
from infra import invariants, stack
from infra.stack import pid_of
from inventory import store as inventory_store
from orders import store as order_store
from payments import store as payment_store
from shipments import store as shipment_store

CONSOLE = stack.console_url()  # the Kafka console (where Kafdrop sits under docker-compose)
RETRY_POST_SECONDS = 120  # a client retries an unanswered order this long (with its Idempotency-Key)
# Patient: on an overloaded machine a POST may wait in the site's queue, and sending it again while the first is
# still queued only doubles the work. A site or store that is down answers at once (refused, or 503).
POST_TIMEOUT_SECONDS = 60
CATCH_UP_SECONDS = 120


class Failed(Exception):
    """The experiment did not show what it should: its message says what went wrong."""


def say(text: str = "") -> None:
    print(text, flush=True)


def step(text: str) -> None:
    say(f"\n==> {text}")


def watch(text: str) -> None:
    say(f"    watch: {text}")


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failed(message)


# ---------------------------------------------------------------- the stack

def manage_all(*args: str, **env: str) -> None:
    """Run ./manage_all.sh as a user would (its output only if it fails)."""
    say(f"    $ {' '.join(f'{k}={v}' for k, v in env.items())}{' ' if env else ''}./manage_all.sh {' '.join(args)}")
    done = stack.manage_all(*args, check=False, **env)
    if done.returncode:
        raise Failed(f"./manage_all.sh {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def kill_9(component: str) -> None:
    """SIGKILL a component's whole process group: no clean shutdown, nothing committed."""
    pid = pid_of(component)
    check(pid is not None, f"{component} is not running: start it with ./manage_all.sh up {component}")
    say(f"    $ kill -9 -{pid}    ({component}'s process group)")
    stack.kill_hard(component)


def admin() -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS, client_id="experiments")


def stock_of(product_ids) -> dict[str, dict]:
    return {p["_id"]: p for p in inventory_store.products().find({"_id": {"$in": list(product_ids)}})}


# ---------------------------------------------------------------- load

class Load(threading.Thread):
    """Places the benchmark's orders (bench.orders) at a steady rate, as clients would: a POST that is not
    answered (site or store down) is retried with its Idempotency-Key until it is accepted."""

    def __init__(self, rate: float, seconds: float | None = None):
        """For `seconds`, or until stopped."""
        super().__init__(name="load", daemon=True)
        self.rate, self.count = rate, None if seconds is None else round(rate * seconds)
        self.due = 0  # orders whose time has come
        self.accepted: list[str] = []
        self.refused: list[str] = []  # answers that are neither 201 nor "retry later"
        self.stopped = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        # enough clients that each can wait out a 20 s outage without holding back the next orders
        with ThreadPoolExecutor(min(256, max(8, round(self.rate * 20)))) as clients:
            for n in itertools.count() if self.count is None else range(self.count):
                if self.stopped.wait(max(0.0, start + n / self.rate - time.monotonic())):
                    return
                self.due += 1
                clients.submit(self.place, n)

    def place(self, n: int) -> None:
        try:
            answer = bench_orders.post_until_accepted(
                stack.url("order", "/orders"), bench_orders.order_body(n), accepted={201},
                retry_for=RETRY_POST_SECONDS, timeout=POST_TIMEOUT_SECONDS,
                headers={"Idempotency-Key": str(uuid.uuid4())}, stop=self.stopped)
        except bench_orders.Refused as refused:
            self.refused.append(f"order {n}: {refused}")
            return
        if answer is not None:  # None: the load was stopped first
            self.accepted.append(answer.json()["order_id"])

    @property
    def waiting(self) -> int:
        return self.due - len(self.accepted) - len(self.refused)


class Every(threading.Thread):
    """Prints `line()` every second until stopped, so the user sees what happens while the steps run."""

    def __init__(self, line):
        super().__init__(name="progress", daemon=True)
        self.line, self.stopped = line, threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while not self.stopped.wait(1.0):
            say(f"    {time.monotonic() - started:5.0f}s  {self.line()}")

    def stop(self) -> None:
        self.stopped.set()
        if self.is_alive():
            self.join(timeout=30)


def lag_text(lag: dict[str, int] | None) -> str:
    if lag is None:
        return "lag: broker not answering"
    return "lag " + " ".join(f"{group.removesuffix('-service')}={lag[group]}" for group in GROUPS)


def consumer_lag() -> ConsumerLag:
    return ConsumerLag(settings.KAFKA_BOOTSTRAP_SERVERS, list(TOPICS))


# ---------------------------------------------------------------- break

# What stops each piece, and how: a consumer or a site dies at once (kill -9: no clean shutdown, nothing
# committed); the broker and the store are stopped as an operator would (./manage_all.sh down: SIGTERM).
PIECES = {"consumer": ("consumer-inventory-1", "kill -9"), "site": ("web-order", "kill -9"),
          "broker": ("kafka", "down"), "store": ("ferretdb", "down")}
WHAT_HAPPENS = {
    "consumer": "the inventory consumer is gone: payments go on, but no stock is reserved, so inventory-service's "
                "lag grows and orders stay PAID. Static membership keeps its partitions for it, so when it "
                "comes back it takes them at once and works through the backlog.",
    "site": "the order site is gone: clients get 'connection refused' and retry with their Idempotency-Key. "
            "Orders it accepted but had not handed to Kafka yet are sent by the relay (its outbox).",
    "broker": "Kafka is gone: POST /orders still answers 201 (the order and its event are in the store, the "
              "outbox), consumers wait and retry; when it is back the relay sends what was not sent.",
    "store": "FerretDB is gone: POST /orders answers 503 (clients retry with their Idempotency-Key), consumers "
             "retry their batch without committing, so nothing is skipped.",
}


def break_piece(args) -> None:
    component, how = PIECES[args.piece]
    if args.piece == "broker" and not pid_of("kafka"):
        component = "kafka-1"  # a three-node cluster (`up --brokers 3`): stop one node
    check(pid_of(component) is not None, f"{component} is not running: ./manage_all.sh up first")
    say(f"Break the {args.piece}: {component} stops ({how}) for {args.outage:g}s while {args.rate:g} orders/s "
        f"come in, then comes back. {WHAT_HAPPENS[args.piece]}")
    watch(f"{CONSOLE}/groups (the lag of each group) and {CONSOLE}/ (the pipeline: which arrow stops)")
    if args.piece == "broker":
        watch(f"{stack.url('order')}/metrics: orderpipe_events_published_total{{topic=\"order_placed\"}} "
              "(events the order site got to Kafka) stalls while it cannot reach the broker")

    lag = consumer_lag()
    check(lag.wait_until_caught_up(time.monotonic() + 60) is not None, "the stack is busy: every group must "
          "have caught up before the experiment starts (is another load running?)")
    stock_before = stock_of(bench_orders.PRICES)
    final = FinalEvents(settings.KAFKA_BOOTSTRAP_SERVERS)
    final.start()
    load = Load(args.rate, args.duration)
    broker_down = threading.Event()

    def final_count() -> int:
        return sum(order_id in final.final for order_id in list(load.accepted))

    def progress() -> str:
        backlog = f"placed {load.due:4d}  accepted {len(load.accepted):4d}  final {final_count():4d}  " \
                  f"not final {load.due - final_count():4d}"
        return f"{backlog}  {'lag: broker down' if broker_down.is_set() else lag_text(lag.current())}"

    step(f"Orders at {args.rate:g}/s for {args.duration:g}s (the benchmark's orders: bench/orders.py)")
    ticker = Every(progress)
    load.start()
    ticker.start()
    piece_down = False
    try:
        time.sleep(args.fault_at)
        step(f"Stop {component} ({how})")
        backlog_at_stop = load.due - final_count()
        piece_down = True
        if how == "kill -9":
            kill_9(component)
        else:
            if args.piece == "broker":
                broker_down.set()
            manage_all("down", component)
        time.sleep(args.outage)
        backlog_at_return = load.due - final_count()
        step(f"Bring {component} back: the backlog grew from {backlog_at_stop} to {backlog_at_return} orders not final")
        returned = time.monotonic()
        piece_down = False  # once asked to start, not again on the way out
        manage_all("up", component)
        broker_down.clear()
        load.join()
        step("Every order placed: wait until each is final and every group has caught up")
        final.wait_until_final(load.accepted, CATCH_UP_SECONDS)
        lag.wait_until_caught_up(time.monotonic() + CATCH_UP_SECONDS)
        caught_up = time.monotonic() - returned
    finally:
        ticker.stop()
        load.stopped.set()
        final.stop()
        lag.close()
        if piece_down:  # interrupted or failed with the piece down: leave the stack as it was
            manage_all("up", component)
    check(not load.refused, f"{len(load.refused)} orders refused: {load.refused[:3]}")
    check(final_count() == len(load.accepted),
          f"{len(load.accepted) - final_count()} orders not final {CATCH_UP_SECONDS}s after the last was placed")
    say(f"    caught up {caught_up:.1f}s after `./manage_all.sh up {component}` began")

    step("The invariants the fault tests check (tests/faults, infra/invariants.py)")
    try:
        figures = invariants.check(load.accepted, stock_before)
    except AssertionError as error:
        raise Failed(f"an invariant does not hold: {error}") from error
    for invariant in invariants.INVARIANTS:
        say(f"    ok  {invariant}")
    say(f"    {figures}")
    check(backlog_at_return > backlog_at_stop, "the backlog did not grow while the piece was stopped "
          "(is the load too light? try --rate or --outage)")


# ---------------------------------------------------------------- scale

def assignment(group: str) -> dict[str, list[str]]:
    """Each member of the group (by its instance name) and the partitions it owns, from describe_groups."""
    client = admin()
    try:
        described = client.describe_groups([group])[group]
    finally:
        client.close()
    owned = {}
    for member in described["members"]:
        name = member["group_instance_id"] or member["member_id"]
        partitions = (member["member_assignment"] or {}).get("assigned_partitions", [])
        owned[name] = [f"{a['topic']}[{','.join(map(str, a['partitions']))}]" for a in partitions if a["partitions"]]
    return owned


def print_assignment(owned: dict[str, list[str]]) -> None:
    for member, partitions in sorted(owned.items()):
        say(f"    {member:22} {' '.join(sorted(partitions)) or '(nothing)'}")


def wait_for_members(group: str, count: int, timeout: float = 60) -> dict[str, list[str]]:
    """The group's assignment once `count` members each own partitions."""
    deadline = time.monotonic() + timeout
    while True:
        owned = assignment(group)
        if len(owned) == count and all(owned.values()):
            return owned
        check(time.monotonic() < deadline, f"{group} did not settle on {count} member(s) within {timeout:g}s: {owned}")
        time.sleep(0.2)


def payments_per_second(order_ids: list[str], since: datetime, until: datetime | None) -> float:
    """Payments taken per second between two moments (each payment records when it was taken, so this does
    not depend on when the consumer commits its batch)."""
    taken = sorted(p["created_at"] for p in payment_store.payments().find({"_id": {"$in": order_ids}},
                                                                          {"created_at": 1}))
    window = [t for t in taken if t >= since and (until is None or t <= until)]
    if len(window) < 2:
        return 0.0
    end = until or window[-1]
    return len(window) / max((end - max(since, window[0])).total_seconds(), 0.001)


def scale(args) -> None:
    group, first, second = "payment-service", "consumer-payment-1", "consumer-payment-2"
    check(pid_of(first) is not None, f"{first} is not running: ./manage_all.sh up first")
    check(pid_of(second) is None, f"{second} runs already: ./manage_all.sh down {second}, then try again")
    slow = {"PAYMENT_PROCESSING_SECONDS": f"{args.payment_seconds:g}"}
    say(f"Scale out: payments take {args.payment_seconds:g}s each here (PAYMENT_PROCESSING_SECONDS, a payment "
        f"provider's latency), so one payment consumer takes about {1 / args.payment_seconds:.0f} per second. "
        f"Orders come at {args.rate:g}/s: its lag grows. After {args.join_after:g}s a second consumer joins the "
        "group payment-service: Kafka moves half of the partitions to it, and its lag on order_placed (the "
        "payments to make) stops growing and drains.")
    watch(f"{CONSOLE}/groups: payment-service's members, the partitions each owns, and its lag")
    watch(f"{stack.url('order')}/metrics: orderpipe_events_published_total{{topic=\"order_placed\"}} keeps climbing "
          "at the same pace: the orders come in whatever the consumers do")

    lag = consumer_lag()
    load = Load(args.rate)
    # the group also reads inventory_updated and shipment_processed, which grow as payments get through: the
    # payments still to make are its lag on order_placed
    ticker = Every(lambda: f"{group} lag {(lag.current() or {}).get(group, '?')}, of which order_placed "
                           f"{lag.on_topic(group, 'order_placed')} (payments to make)")
    try:
        step(f"{first} restarts with slow payments")
        manage_all("down", first)
        manage_all("up", first, **slow)
        print_assignment(wait_for_members(group, 1))
        step(f"Orders at {args.rate:g}/s; {group}'s lag every second")
        started = datetime.now(UTC)
        load.start()
        ticker.start()
        time.sleep(args.join_after)
        step(f"{second} joins the group")
        joined = datetime.now(UTC)
        # `up` returns after its status table; the group is watched meanwhile, to see when the new member has its share
        starting = threading.Thread(target=manage_all, args=("up", second), kwargs=slow)
        starting.start()
        owned = wait_for_members(group, 2, timeout=CATCH_UP_SECONDS)
        rebalanced = datetime.now(UTC)
        say(f"    the group rebalanced {(rebalanced - joined).total_seconds():.1f}s after `up` began (a new process "
            "starts, and the first consumer gives up its partitions when it has finished its current batch). Now:")
        print_assignment(owned)
        starting.join()
        time.sleep(args.after)
        step("The orders stop: the two consumers drain the rest")
        load.stopped.set()
        load.join()
        check(lag.wait_until_caught_up(time.monotonic() + CATCH_UP_SECONDS) is not None,
              f"{group} did not catch up within {CATCH_UP_SECONDS}s")
    finally:
        ticker.stop()
        load.stopped.set()
        lag.close()
        step(f"Back to one consumer with normal payments: {second} leaves, {first} restarts")
        manage_all("down", second, first)
        client = admin()
        try:  # a static member that stops keeps its partitions until its session times out: release them now
            client.remove_group_members(group, [MemberToRemove(group_instance_id=second)])
        finally:
            client.close()
        manage_all("up", first)
    one = payments_per_second(load.accepted, started, joined)
    two = payments_per_second(load.accepted, rebalanced, None)
    say(f"    payments per second: one consumer {one:.1f}, two consumers {two:.1f}")
    check(not load.refused, f"{len(load.refused)} orders refused: {load.refused[:3]}")
    check(set(owned) == {first, second}, f"after the join the group's members were {sorted(owned)}")
    partitions = [p for member in owned.values() for p in member]
    check(len(partitions) == len(set(partitions)), "a partition is owned twice")
    check(all(any(p.startswith("order_placed[") for p in member) for member in owned.values()),
          f"a member owns no partition of order_placed, so it takes no payments: {owned}")


# ---------------------------------------------------------------- replay

def effects() -> dict:
    """What the sites have done, counted: a replay must leave every figure as it was."""
    def by_status(collection) -> dict:
        return dict(sorted(Counter(d["status"] for d in collection.find({}, {"status": 1})).items()))

    return {
        "orders": by_status(order_store.orders()),
        "timeline entries": order_store.timeline().count_documents({}),
        "payments": by_status(payment_store.payments()),
        "reservations": by_status(inventory_store.reservations()),
        "shipments": by_status(shipment_store.shipments()),
        "stock (available, reserved, shipped)": {
            p["_id"]: (p["available"], p["reserved"], p["shipped"]) for p in inventory_store.products().find({})},
    }


def dead_letters() -> int:
    """Events on the dead-letter topics so far."""
    consumer = KafkaConsumer(bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS)
    try:
        consumer.topics()  # loads the metadata of every topic
        partitions = [TopicPartition(t, p) for t in all_topic_names() if t.endswith(".DLT")
                      for p in consumer.partitions_for_topic(t) or []]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def replay(args) -> None:
    group = args.group
    site = group.removesuffix("-service")
    consumers = sorted(path.stem for path in (stack.STATE / "run").glob(f"consumer-{site}-*.pid") if pid_of(path.stem))
    check(consumers, f"no consumer of {group} runs (consumer-{site}-N): ./manage_all.sh up first")
    say(f"Replay: {group} goes back to the first event of each of its topics and reads everything again. "
        "Every event finds the result it had (a natural key: one payment, reservation, shipment per order) and "
        "sends the same event again (the same event id), so nothing is applied twice: every count stays.")
    watch(f"{CONSOLE}/groups: {group}'s committed offsets drop to the start, then climb back to the end")

    lag = consumer_lag()
    client = admin()
    try:
        check(lag.wait_until_caught_up(time.monotonic() + 60) is not None,
              "the stack is busy: every group must have caught up first (is a load running?)")
        before, dead_before = effects(), dead_letters()
        step(f"Stop {group}'s consumers (Kafka refuses to move the offsets of a group that has members)")
        manage_all("down", *consumers)
        # static members stay in the group until their session times out: take them out now
        client.remove_group_members(group, [MemberToRemove(group_instance_id=name) for name in consumers])
        deadline = time.monotonic() + 30
        while client.describe_groups([group])[group]["group_state"] != "Empty":
            check(time.monotonic() < deadline, f"{group} did not become empty")
            time.sleep(0.2)
        step(f"Reset {group}'s offsets to the beginning")
        committed = client.list_group_offsets({group: None})[group]
        reset = client.reset_group_offsets(group, dict.fromkeys(committed, OffsetSpec.EARLIEST))
        errors = {tp: r["error"] for tp, r in reset.items() if r["error"].errno}
        check(not errors, f"the reset failed: {errors}")
        again = Counter()
        for tp, result in reset.items():
            again[tp.topic] += committed[tp].offset - result["offset"]
        for topic, count in sorted(again.items()):
            say(f"    {topic:20} {count:6d} events to read again")
        step(f"Start {group}'s consumers again; every group's lag every second")
        restarted = time.monotonic()
        manage_all("up", *consumers)
        ticker = Every(lambda: lag_text(lag.current()))
        ticker.start()
        try:
            caught_up = lag.wait_until_caught_up(time.monotonic() + args.timeout)
        finally:
            ticker.stop()
        check(caught_up is not None, f"the groups did not catch up within {args.timeout:g}s")
        say(f"    every group caught up {caught_up - restarted:.1f}s after `./manage_all.sh up {' '.join(consumers)}` "
            "began (the events it sent again are read again downstream, and find their results too)")
        after, dead_after = effects(), dead_letters()
    finally:
        client.close()
        lag.close()
        if not all(pid_of(name) for name in consumers):  # whatever happened, the consumers run again
            manage_all("up", *consumers)

    step("Before and after")
    for name, value in before.items():
        say(f"    {'same' if after[name] == value else 'DIFFERENT':9} {name}: {value}"
            + ("" if after[name] == value else f" -> {after[name]}"))
    if dead_after > dead_before:
        say(f"    note: {dead_after - dead_before} poison events went to their dead-letter topic again (an event "
            "that can never be handled is dead-lettered each time it is read)")
    check(sum(again.values()) > 0, f"{group} had nothing to read again")
    check(after == before, "the replay changed what the sites had done")
    say(f"    {sum(again.values())} events read again, nothing applied twice")


# ---------------------------------------------------------------- add-service

def walk_through() -> str:
    """Where the README tells how the notification site was added."""
    for number, line in enumerate((stack.ROOT / "README.md").read_text().splitlines(), start=1):
        if line.startswith("#") and "notification" in line.lower():
            return f"README.md line {number}: {line.lstrip('#').strip()}"
    return "README.md has no section about the notification site yet"


def notifications_of(order_id: str, timeout: float) -> list[dict]:
    """The notifications the site lists for an order, once there is one (empty if none came in time)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = requests.get(stack.url("notification", "/notifications"), params={"order_id": order_id},
                                  timeout=POST_TIMEOUT_SECONDS)
            check(answer.status_code == 200, f"GET /notifications answered {answer.status_code}: {answer.text[:200]}")
            # the list, not the count: a notification stored between the site's page query and its count is
            # counted but not listed yet
            found = answer.json()["results"]
        except requests.RequestException:  # a busy site: ask again
            found = []
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def add_service(args) -> None:
    check((stack.ROOT / "notification_site" / "manage.py").exists(), "notification_site is not in this tree yet")
    say("A fifth site, notification_site: one more consumer group (notification-service) on topics that exist "
        "already. It e-mails the customer when an order ships or is cancelled, once per order and event.")
    watch(f"{CONSOLE}/groups: group notification-service, its members and lag")
    watch(f"{stack.url('notification', '/notifications')}?order_id=ID: the notifications of one order")
    components = ["web-notification", "consumer-notification-1"]
    if all(pid_of(c) for c in components):
        say("    web-notification and consumer-notification-1 run already")
    else:
        step("Start the notification site and its consumer")
        manage_all("up", *components)

    step("Place an order that ships and one above the approval limit (declined: cancelled)")
    shipped = next(n for n in range(50) if not bench_orders.is_declined(n))
    declined = next(n for n in range(50) if bench_orders.is_declined(n))
    placed = {}
    for n, outcome in ((shipped, "ships"), (declined, "is declined")):
        answer = requests.post(stack.url("order", "/orders"), json=bench_orders.order_body(n),
                               timeout=POST_TIMEOUT_SECONDS)
        check(answer.status_code == 201, f"POST /orders answered {answer.status_code}: {answer.text[:200]}")
        order_id = answer.json()["order_id"]
        placed[order_id] = outcome
        say(f"    order {order_id} ({outcome}): follow it at {CONSOLE}/orders?order_id={order_id}")

    step("Their notifications")
    missing = []
    for order_id, outcome in placed.items():
        found = notifications_of(order_id, args.timeout)
        say(f"    {order_id} ({outcome}): {len(found)} notification(s)")
        for notification in found:  # the e-mail's subject and recipient, if the site lists them
            say(f"      {notification.get('event_type')}: {notification.get('subject', notification)}"
                f" (to {notification.get('recipient')})")
        if not found or any(n.get("order_id", order_id) != order_id for n in found):
            missing.append(order_id)
    say(f"\n    How this site was added, step by step: {walk_through()}")
    check(not missing, f"no notification within {args.timeout:g}s for {missing}")


# ---------------------------------------------------------------- main

def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="./manage_all.sh experiment", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    experiments = parser.add_subparsers(dest="experiment", required=True)

    scaling = experiments.add_parser("scale", help="a second consumer joins a group under load")
    scaling.add_argument("--rate", type=float, default=16, help="orders per second (default 16)")
    scaling.add_argument("--join-after", type=float, default=10,
                         help="seconds of orders before the second consumer joins (default 10)")
    scaling.add_argument("--after", type=float, default=15,
                         help="seconds of orders once it has its partitions (default 15)")
    scaling.add_argument("--payment-seconds", type=float, default=0.1,
                         help="how long each payment takes (PAYMENT_PROCESSING_SECONDS, default 0.1)")

    breaking = experiments.add_parser("break", help="stop a piece under load and watch the pipeline recover")
    breaking.add_argument("piece", choices=sorted(PIECES))
    breaking.add_argument("--rate", type=float, default=10, help="orders per second (default 10)")
    breaking.add_argument("--duration", type=float, default=20, help="seconds of orders (default 20)")
    breaking.add_argument("--fault-at", type=float, default=4, help="when the piece stops (default 4)")
    breaking.add_argument("--outage", type=float, default=8, help="seconds it stays down (default 8)")

    replaying = experiments.add_parser("replay", help="reset a consumer group to the beginning")
    replaying.add_argument("group", choices=GROUPS)
    replaying.add_argument("--timeout", type=float, default=300, help="seconds to read everything again (300)")

    adding = experiments.add_parser("add-service", help="the notification site, and its notifications")
    adding.add_argument("--timeout", type=float, default=120, help="seconds to wait for a notification (120)")
    args = parser.parse_args(argv)
    check(args.experiment != "break" or 0 <= args.fault_at < args.duration, "--fault-at must be within --duration")
    return args


EXPERIMENTS = {"scale": scale, "break": break_piece, "replay": replay, "add-service": add_service}


def main(argv: list[str]) -> int:
    django.setup()
    # the Kafka client's complaints while the broker is away are part of the experiment: the lines printed say it
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        args = parse_args(argv)
        EXPERIMENTS[args.experiment](args)
    except Failed as failure:
        say(f"\nFAIL: {failure}")
        return 1
    say(f"\nPASS: experiment {' '.join(argv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
