"""What the benchmark watches while the pipeline runs, without asking the sites: the events that end an
order, the consumer groups' lag, and the CPU and memory of every process of the stack."""

import json
import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from common.events import ORDER_END_TOPICS, OrderEnd, order_end
from common.kafka import CLIENT_METRICS

GROUPS = ["order-service", "payment-service", "inventory-service", "shipment-service", "notification-service"]
SAMPLE_SECONDS = 0.5
CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
KINDS = ["kafka", "ferretdb", "web", "consumer", "relay"]  # in the order manage_all.sh starts them


def final_status(topic: str, value: bytes) -> OrderEnd | None:
    """The status an event ends its order in, or None if the order goes on."""
    try:
        payload = json.loads(value)["payload"]
    except (TypeError, ValueError, KeyError):  # not an envelope (a poison test event): not ours
        return None
    return order_end(topic, payload) if isinstance(payload, dict) else None


class FinalEvents(threading.Thread):
    """Follows the topics whose events end an order, from their current end on. It has no consumer group,
    so it commits nothing and takes no partition from the sites' consumers."""

    def __init__(self, bootstrap: str):
        super().__init__(name="final-events", daemon=True)
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                      metrics_enabled=CLIENT_METRICS)
        self.consumer.topics()  # fetches the metadata, so that partitions_for_topic knows every topic
        partitions = [TopicPartition(topic, p) for topic in ORDER_END_TOPICS
                      for p in sorted(self.consumer.partitions_for_topic(topic) or [])]
        self.consumer.assign(partitions)
        self.consumer.seek_to_end()
        for partition in partitions:
            self.consumer.position(partition)  # resolves the seek now, before the first order is placed
        self.final: dict[str, tuple[float, str]] = {}  # order id -> (time.monotonic() when seen, status)
        self.changed = threading.Condition()
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.is_set():
                batches = self.consumer.poll(timeout_ms=200)
                seen_at = time.monotonic()
                with self.changed:
                    for records in batches.values():
                        for record in records:
                            status = record.key and final_status(record.topic, record.value)
                            if status:  # the first final event counts: a redelivered one changes nothing
                                self.final.setdefault(record.key.decode(errors="replace"), (seen_at, status))
                    self.changed.notify_all()
        finally:
            self.consumer.close()

    def wait_until_final(self, order_ids: list[str], timeout: float) -> int:
        """Waits up to `timeout` seconds for all these orders to be final; returns how many are."""
        with self.changed:
            self.changed.wait_for(lambda: all(i in self.final for i in order_ids), timeout=max(0.0, timeout))
            return sum(i in self.final for i in order_ids)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=10)


class Every(threading.Thread):
    """Calls `sample` now and then every SAMPLE_SECONDS until stopped."""

    def __init__(self, sample):
        super().__init__(name=f"sample-{sample.__name__}", daemon=True)
        self.sample = sample
        self.stopped = threading.Event()

    def run(self) -> None:
        self.sample()
        while not self.stopped.wait(SAMPLE_SECONDS):
            self.sample()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=10)


class ConsumerLag:
    """Events on the pipeline's topics that each site's consumer group has not committed yet."""

    def __init__(self, bootstrap: str, topics: list[str]):
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench")
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                      metrics_enabled=CLIENT_METRICS)
        self.topics = topics
        self.peak: dict[str, int | None] = dict.fromkeys(GROUPS)  # None: never measured
        self.failed_samples = 0  # the broker did not answer: reported, so that a peak of few samples shows
        self.lock = threading.Lock()  # Kafka clients are not made for two threads at once

    def current(self) -> dict[str, int] | None:
        """Each group's lag now; None if the broker did not answer."""
        try:
            with self.lock:
                committed = self.admin.list_group_offsets(dict.fromkeys(GROUPS))
                # a group's topics are those it has committed on (not its dead-letter topics); on them, a partition
                # it has not committed on yet has all its events to go
                topics_of = {group: {p.topic for p in committed.get(group, {}) if p.topic in self.topics}
                             for group in GROUPS}
                ends = self.consumer.end_offsets([TopicPartition(topic, p) for topic in set().union(*topics_of.values())
                                                  for p in self.consumer.partitions_for_topic(topic)])
        except KafkaError:
            return None
        lag = {}
        for group in GROUPS:
            done = {p: max(meta.offset, 0) for p, meta in committed.get(group, {}).items()}  # -1: nothing yet
            lag[group] = sum(end - done.get(p, 0) for p, end in ends.items() if p.topic in topics_of[group])
        return lag

    def on_topic(self, group: str, topic: str) -> int | None:
        """One group's lag on one of its topics (payment-service on order_placed: the payments still to make)."""
        try:
            with self.lock:
                committed = self.admin.list_group_offsets({group: None}).get(group, {})
                ends = self.consumer.end_offsets([TopicPartition(topic, p)
                                                  for p in self.consumer.partitions_for_topic(topic)])
        except KafkaError:
            return None
        return sum(end - max(committed[p].offset, 0) if p in committed else end for p, end in ends.items())

    def sample(self) -> None:
        lag = self.current()
        if lag is None:
            self.failed_samples += 1
            return
        for group, events in lag.items():
            self.peak[group] = max(self.peak[group] or 0, events)

    def wait_until_caught_up(self, deadline: float) -> float | None:
        """Waits until every group has committed every event; returns when (time.monotonic()), or None."""
        while time.monotonic() < deadline:
            if self.current() == dict.fromkeys(GROUPS, 0):
                return time.monotonic()
            time.sleep(0.1)
        return None

    def events_so_far(self) -> int:
        """Every event ever written to the pipeline's topics (their end offsets added up)."""
        with self.lock:
            partitions = [TopicPartition(t, p) for t in self.topics for p in self.consumer.partitions_for_topic(t)]
            return sum(self.consumer.end_offsets(partitions).values())

    def close(self) -> None:
        self.admin.close()
        self.consumer.close()


@dataclass(frozen=True)
class ProcessStat:
    pid: int
    group: int
    cpu_ticks: int  # user + system
    rss_bytes: int


def process_stat(pid: str) -> ProcessStat | None:
    """One process, from /proc/<pid>/stat (proc(5) numbers its fields from 1); None if it has ended."""
    try:
        text = Path("/proc", pid, "stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # fields 3… (the name, field 2, may hold spaces and parentheses)
    group, user, system, rss_pages = (int(fields[number - 3]) for number in (5, 14, 15, 24))
    # field 24 (rss) counts the same pages as VmRSS in /proc/<pid>/status
    return ProcessStat(int(pid), group, user + system, rss_pages * PAGE_BYTES)


def start_order(name: str) -> tuple[int, str]:
    """Sorts components (`web-order`) and processes (`web-order/1`) as manage_all.sh starts them."""
    kind = name.split("/")[0].split("-")[0]
    return (KINDS.index(kind) if kind in KINDS else len(KINDS), name)


class Components:
    """The stack's processes. Each pid file of manage_all.sh names a process-group leader (it starts every
    component with setsid), so a component is every process in that group: gunicorn's master and workers."""

    def __init__(self, run_dir: Path):
        names = sorted((path.stem for path in run_dir.glob("*.pid")), key=start_order)
        self.leaders = {name: int((run_dir / f"{name}.pid").read_text()) for name in names}
        self.peak_rss: dict[str, int] = {}

    def processes(self) -> dict[str, tuple[str, ProcessStat]]:
        """Every process of the stack by a readable name (the component for the group's leader, `component/1`…
        for the others), with its component."""
        component_of = {leader: name for name, leader in self.leaders.items()}
        stats = (process_stat(entry.name) for entry in os.scandir("/proc") if entry.name.isdigit())
        named, others = {}, defaultdict(int)
        for stat in sorted((s for s in stats if s and s.group in component_of), key=lambda s: s.pid):
            component = component_of[stat.group]
            if stat.pid == stat.group:
                named[component] = (component, stat)
            else:
                others[component] += 1
                named[f"{component}/{others[component]}"] = (component, stat)
        return named

    def cpu_ticks(self) -> dict[int, tuple[str, int]]:
        """pid -> (component, CPU ticks so far), for every process of the stack."""
        return {stat.pid: (component, stat.cpu_ticks) for component, stat in self.processes().values()}

    def sample_rss(self) -> None:
        for name, (_, stat) in self.processes().items():
            self.peak_rss[name] = max(self.peak_rss.get(name, 0), stat.rss_bytes)


def cpu_seconds_between(before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]]) -> dict[str, float]:
    """CPU seconds each component used between two `Components.cpu_ticks()` (a process that ended in between
    is missing from `after`: what it used is lost, which a stable stack does not do)."""
    used = defaultdict(float)
    for pid, (component, ticks) in after.items():
        used[component] += (ticks - before.get(pid, (component, 0))[1]) / CLOCK_TICKS_PER_SECOND
    return dict(used)
