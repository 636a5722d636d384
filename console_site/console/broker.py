"""What the console reads from the broker: topics, records, consumer groups, one order's events.

Read only: records are read with assign + seek, without a consumer group, and nothing is committed, so the
console is invisible to the pipeline. Reads are bounded (the newest `CONSOLE_WINDOW` records of a partition
at most, within `READ_SECONDS`), so a large topic cannot make a page hang.
"""

import functools
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

from common.events import TOPICS
from common.kafka import all_topic_names

RATE_SECONDS = 10  # "messages per second" counts the records of the last this many seconds
READ_SECONDS = 5
TIMEOUT_MS = 5000  # a broker that does not answer makes a page fail within seconds (503), not hang

# kafka-python's clients are not made for several threads at once; a console serves few requests.
_lock = threading.Lock()


@functools.cache
def _admin() -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS, client_id=settings.SERVICE,
                            request_timeout_ms=TIMEOUT_MS)


@functools.cache
def _consumer() -> KafkaConsumer:
    return KafkaConsumer(bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS, client_id=settings.SERVICE,
                         group_id=None, enable_auto_commit=False, request_timeout_ms=TIMEOUT_MS)


def known_topics() -> list[str]:
    """The project's topics and their dead-letter topics (a topic added to common.events appears by itself)."""
    return all_topic_names()


def partition_for(order_id: str, partitions: int) -> int:
    """The partition of an order's events: the producer's default partitioner (murmur2 of the key)."""
    return (murmur2(order_id.encode()) & 0x7FFFFFFF) % partitions


# ---------------------------------------------------------------- topics


@dataclass
class PartitionInfo:
    partition: int
    leader: int
    replicas: list[int]
    in_sync: list[int]
    earliest: int
    end: int
    recent: int  # records of the last RATE_SECONDS

    @property
    def messages(self) -> int:
        return self.end - self.earliest


@dataclass
class TopicInfo:
    name: str
    partitions: list[PartitionInfo]

    @property
    def messages(self) -> int:
        return sum(p.messages for p in self.partitions)

    @property
    def rate(self) -> float:
        return sum(p.recent for p in self.partitions) / RATE_SECONDS

    @property
    def replication(self) -> int:
        return len(self.partitions[0].replicas) if self.partitions else 0

    @property
    def dead_letter(self) -> bool:
        return self.name.endswith(".DLT")


def topics() -> list[TopicInfo]:
    """Every known topic that exists on the broker, with its partitions' offsets and its recent rate."""
    names = known_topics()
    with _lock:
        described = {t["name"]: t for t in _admin().describe_topics(names) if t["error_code"] == 0}
        consumer = _consumer()
        consumer.topics()  # loads the metadata end_offsets needs
        tps = [TopicPartition(name, p["partition_index"]) for name in described for p in described[name]["partitions"]]
        earliest = consumer.beginning_offsets(tps)
        end = consumer.end_offsets(tps)
        since = int(time.time() - RATE_SECONDS) * 1000
        recent = consumer.offsets_for_times({tp: since for tp in tps})
    found = []
    for name in names:
        if name not in described:
            continue
        partitions = []
        for p in sorted(described[name]["partitions"], key=lambda p: p["partition_index"]):
            tp = TopicPartition(name, p["partition_index"])
            first_recent = recent[tp].offset if recent[tp] else end[tp]
            partitions.append(PartitionInfo(tp.partition, p["leader_id"], p["replica_nodes"], p["isr_nodes"],
                                            earliest[tp], end[tp], end[tp] - first_recent))
        found.append(TopicInfo(name, partitions))
    return found


def partition_count(topic: str) -> int:
    with _lock:
        return len(_consumer().partitions_for_topic(topic) or ())


# ---------------------------------------------------------------- records


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    timestamp: datetime
    key: str | None
    headers: list[tuple[str, str]]
    value: str  # the JSON envelope pretty-printed, or the raw text when it is not JSON
    event: dict | None  # the envelope, when the value is a JSON object


def _message(record) -> Message:
    raw = (record.value or b"").decode(errors="replace")
    try:
        event = json.loads(raw)
        value = json.dumps(event, indent=2, ensure_ascii=False)
    except ValueError:
        event, value = None, raw
    return Message(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=datetime.fromtimestamp(record.timestamp / 1000, UTC),
        key=record.key.decode(errors="replace") if record.key is not None else None,
        headers=[(name, value.decode(errors="replace")) for name, value in record.headers or []],
        value=value,
        event=event if isinstance(event, dict) else None,
    )


def _read(consumer: KafkaConsumer, ranges: dict[TopicPartition, tuple[int, int]]) -> list:
    """The records at offsets [start, stop) of each partition (what is there within READ_SECONDS)."""
    ranges = {tp: (start, stop) for tp, (start, stop) in ranges.items() if start < stop}
    if not ranges:
        return []
    consumer.assign(list(ranges))
    for tp, (start, _) in ranges.items():
        consumer.seek(tp, start)
    records, deadline = [], time.monotonic() + READ_SECONDS
    while time.monotonic() < deadline and any(consumer.position(tp) < stop for tp, (_, stop) in ranges.items()):
        for tp, batch in consumer.poll(timeout_ms=200).items():
            records.extend(record for record in batch if record.offset < ranges[tp][1])
    return records


def _newest(consumer: KafkaConsumer, partitions: list[TopicPartition], count: int) -> list:
    """The newest `count` records of each partition."""
    earliest = consumer.beginning_offsets(partitions)
    end = consumer.end_offsets(partitions)
    return _read(consumer, {tp: (max(earliest[tp], end[tp] - count), end[tp]) for tp in partitions})


def _of_order(records: list, order_id: str | None) -> list:
    return records if order_id is None else [r for r in records if r.key == order_id.encode()]


def newest_messages(topic: str, *, limit: int, order_id: str | None = None) -> list[Message]:
    """The newest `limit` records of a topic, newest first; with an order id, that order's among the newest
    CONSOLE_WINDOW records of its partition (the only partition its key can be on)."""
    with _lock:
        consumer = _consumer()
        consumer.topics()
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if order_id is not None and partitions:
            partitions = [partitions[partition_for(order_id, len(partitions))]]
        records = _newest(consumer, partitions, settings.CONSOLE_WINDOW if order_id else limit)
    records = _of_order(records, order_id)
    records.sort(key=lambda r: (r.timestamp, r.offset), reverse=True)
    return [_message(r) for r in records[:limit]]


def messages_from(topic: str, *, partition: int, offset: int, limit: int, order_id: str | None = None
                  ) -> list[Message]:
    """Up to `limit` records of one partition from `offset` on (from the earliest one if that is gone), oldest
    first."""
    tp = TopicPartition(topic, partition)
    with _lock:
        consumer = _consumer()
        consumer.topics()
        start = max(offset, consumer.beginning_offsets([tp])[tp])
        end = consumer.end_offsets([tp])[tp]
        records = _read(consumer, {tp: (start, min(end, start + limit))})
    return [_message(r) for r in sorted(_of_order(records, order_id), key=lambda r: r.offset)]


# ---------------------------------------------------------------- consumer groups


@dataclass
class Member:
    member_id: str
    instance: str | None
    client_id: str
    host: str
    assigned: dict[str, list[int]]  # topic: partitions


@dataclass
class GroupPartition:
    topic: str
    partition: int
    committed: int | None  # None: the group never committed here; it will start at the earliest record
    earliest: int
    end: int

    @property
    def lag(self) -> int:
        return self.end - (self.earliest if self.committed is None else self.committed)


@dataclass
class GroupInfo:
    group_id: str
    state: str
    members: list[Member]
    partitions: list[GroupPartition]
    subscribed: set[str] = field(default_factory=set)

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    def topic_lag(self, topic: str) -> int:
        return sum(p.lag for p in self.partitions if p.topic == topic)

    @property
    def topics(self) -> set[str]:
        """What it reads: what its members subscribe to, and what it committed (a stopped group has no members)."""
        return self.subscribed | {p.topic for p in self.partitions}


def groups() -> list[GroupInfo]:
    """Every consumer group: its state, members and assignments, committed and end offsets, lag."""
    with _lock:
        admin = _admin()
        ids = sorted(g["group_id"] for g in admin.list_groups())
        if not ids:
            return []
        described = admin.describe_groups(ids)
        committed = admin.list_group_offsets(ids)
        consumer = _consumer()
        consumer.topics()
        # Every partition of every topic a group reads, committed or not: a consumer that has not committed on a
        # partition yet (no order of it landed there) starts at its earliest record, so what is there is lag too.
        read = {group_id: _subscriptions(described.get(group_id, {})) | {tp.topic for tp in committed.get(group_id, {})}
                for group_id in ids}
        tps = [TopicPartition(topic, partition) for topic in set().union(*read.values())
               for partition in consumer.partitions_for_topic(topic) or ()]
        earliest = consumer.beginning_offsets(tps) if tps else {}
        end = consumer.end_offsets(tps) if tps else {}
    found = []
    for group_id in ids:
        description = described.get(group_id, {})
        members = [
            Member(member_id=m["member_id"], instance=m.get("group_instance_id"), client_id=m["client_id"],
                   host=m["client_host"],
                   assigned={a["topic"]: a["partitions"]
                             for a in (m.get("member_assignment") or {}).get("assigned_partitions", [])})
            for m in description.get("members", [])
        ]
        offsets = {tp: meta.offset for tp, meta in committed.get(group_id, {}).items() if meta.offset >= 0}
        partitions = [GroupPartition(tp.topic, tp.partition, offsets.get(tp), earliest[tp], end[tp])
                      for tp in sorted(tps) if tp.topic in read[group_id]]
        found.append(GroupInfo(group_id, description.get("group_state", "?"), members, partitions,
                               _subscriptions(description)))
    return found


def _subscriptions(description: dict) -> set[str]:
    return {topic for m in description.get("members", []) for topic in (m.get("member_metadata") or {}).get(
        "topics", [])}


# ---------------------------------------------------------------- one order


@dataclass
class Hop:
    message: Message
    depth: int  # how many causes lie before it
    after_ms: int | None  # time since the event that caused it
    copies: int  # how often the same event is on its topic (a redelivered cause re-sends the same event)


def _occurred(message: Message) -> datetime:
    try:
        return datetime.fromisoformat(message.event["occurred_at"])
    except (KeyError, TypeError, ValueError):
        return message.timestamp


def order_events(order_id: str) -> list[Message]:
    """Every record of one order on every topic, read from the key's partition of each (its newest
    CONSOLE_WINDOW records)."""
    with _lock:
        consumer = _consumer()
        consumer.topics()
        partitions = []
        for topic in known_topics():
            count = len(consumer.partitions_for_topic(topic) or ())
            if count:
                partitions.append(TopicPartition(topic, partition_for(order_id, count)))
        records = _newest(consumer, partitions, settings.CONSOLE_WINDOW)
    return [_message(r) for r in _of_order(records, order_id)]


def causal_order(messages: list[Message]) -> list[Hop]:
    """The events depth first along their causation_id links (an event after the one that caused it), siblings
    in time order; dead letters and anything without an envelope at the end."""
    by_id, copies, others = {}, {}, []
    for message in sorted(messages, key=_occurred):
        event_id = (message.event or {}).get("event_id")
        if event_id and message.topic in TOPICS:
            copies[event_id] = copies.get(event_id, 0) + 1
            by_id.setdefault(event_id, message)
        else:
            others.append(message)
    children: dict[str | None, list[Message]] = {}
    for message in by_id.values():
        cause = message.event.get("causation_id")
        children.setdefault(cause if cause in by_id else None, []).append(message)

    hops = []

    def visit(message: Message, depth: int, cause: Message | None):
        after = int((_occurred(message) - _occurred(cause)).total_seconds() * 1000) if cause else None
        hops.append(Hop(message, depth, after, copies[message.event["event_id"]]))
        for child in children.get(message.event["event_id"], []):
            visit(child, depth + 1, message)

    for root in children.get(None, []):
        visit(root, 0, None)
    return hops + [Hop(message, 0, None, 1) for message in others]


def ready() -> None:
    """Raises if the broker does not answer."""
    with _lock:
        _admin().list_topics()
