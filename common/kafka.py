"""Kafka plumbing in one place: the producer, consumers, topic creation and dead letters.

Keys are order ids, so one order's events keep their order within a topic and orders spread over
the partitions. Values are the JSON envelopes of common.events.
"""

import functools
import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.coordinator.consumer import ConsumerCoordinator
from kafka.errors import KafkaError, LeaderNotAvailableError, TopicAlreadyExistsError
from kafka.structs import MemberState
from kafka.version import __version__ as kafka_version

from common import tracing
from common.events import TOPICS, Event, now_iso

log = logging.getLogger(__name__)

TRANSIENT_ERRORS = (KafkaError,)
SEND_TIMEOUT_SECONDS = 10

_producer_lock = threading.Lock()

# kafka-python keeps its own metrics (a sensor updated on every request, batch and record: 2-4 % of each process's
# CPU under load, docs/performance.md). Nothing here reads them; /metrics has the project's own counters.
CLIENT_METRICS = False


def producer_config() -> dict:
    """The settings of every producer of the project (the benchmark measures the broker with the same)."""
    return dict(
        bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS,
        client_id=settings.SERVICE,
        acks="all",  # written to every in-sync replica before it counts as sent
        enable_idempotence=True,  # the broker drops the producer's own retried duplicates
        linger_ms=5,  # what the web threads send within 5 ms goes in one request
        max_block_ms=5000,
        bootstrap_timeout_ms=5000,
        request_timeout_ms=5000,
        delivery_timeout_ms=15000,
        metrics_enabled=CLIENT_METRICS,
    )


@functools.cache
def _cached_producer() -> KafkaProducer:
    return KafkaProducer(**producer_config())


_producer_failed = threading.Event()  # set by a failed background send: the next caller starts afresh


def producer() -> KafkaProducer:
    # functools.cache does not cache a failed construction, so an unreachable broker is tried again next time.
    with _producer_lock:
        if _producer_failed.is_set():
            _producer_failed.clear()
            _discard_producer()
        return _cached_producer()


def _discard_producer() -> None:
    """Start afresh after a failed send: a producer can stay wedged after the broker restarts."""
    if _cached_producer.cache_info().currsize:
        stale = _cached_producer()
        _cached_producer.cache_clear()
        stale.close(timeout=0)


def event_record(event: Event, trace_parent=None) -> dict:
    """The record of an event; traced, its headers carry the trace of the work that made it (`trace_parent`, a
    span's context, or else the current span)."""
    record = {"topic": event.event_type, "key": event.order_id.encode(), "value": event.to_bytes()}
    if tracing.ENABLED:
        record["headers"] = tracing.record_headers(event.event_type, event.order_id, trace_parent)
    return record


def dead_letter_record(record, reason: str, group: str, trace_parent=None) -> dict:
    """A consumed record's copy for `<topic>.DLT`: same key and value, headers saying why and where it came from
    (and, traced, the trace it belongs to, which a replay continues)."""
    headers = [
        ("dlt.reason", reason.encode()),
        ("dlt.topic", record.topic.encode()),
        ("dlt.partition", str(record.partition).encode()),
        ("dlt.offset", str(record.offset).encode()),
        ("dlt.group", group.encode()),
        ("dlt.failed_at", now_iso().encode()),
    ]
    if tracing.ENABLED:
        key = record.key.decode(errors="replace") if record.key else ""
        headers += tracing.record_headers(f"{record.topic}.DLT", key, trace_parent)
    return {"topic": f"{record.topic}.DLT", "key": record.key, "value": record.value, "headers": headers}


def send_all(records: list[dict], timeout: float = SEND_TIMEOUT_SECONDS) -> None:
    """Send the records and wait once until the broker has them all (acks=all); raise KafkaError otherwise.
    The producer batches them per partition, so a batch of events costs a few requests, not one each."""
    if not records:
        return
    try:
        sending = producer()
        futures = [sending.send(**record) for record in records]
        sending.flush(timeout=timeout)  # sends now instead of after linger_ms
        for future in futures:
            future.get(timeout=timeout)
    except KafkaError:
        with _producer_lock:
            _discard_producer()
        raise


def publish(events: list[Event], timeout: float = SEND_TIMEOUT_SECONDS) -> None:
    """Send the events and wait until the broker has them all (acks=all); raise KafkaError otherwise."""
    send_all([event_record(event) for event in events], timeout)


def record_at(topic: str, partition: int, offset: int):
    """The record at a position, read without a group (nothing committed); None if it is gone (retention) or
    was never there."""
    reader = KafkaConsumer(bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS, enable_auto_commit=False)
    try:
        position = TopicPartition(topic, partition)
        if partition not in (reader.partitions_for_topic(topic) or ()):
            return None
        reader.assign([position])
        first, end = reader.beginning_offsets([position])[position], reader.end_offsets([position])[position]
        if not first <= offset < end:
            return None
        reader.seek(position, offset)
        for _ in range(10):
            for record in reader.poll(timeout_ms=1000).get(position, []):
                if record.offset >= offset:  # a compacted or transactional gap skips ahead
                    return record if record.offset == offset else None
        return None
    finally:
        reader.close()


def publish_in_background(event: Event, on_sent: Callable[[Event], None],
                          on_failed: Callable[[Event, Exception], None]) -> None:
    """Send without waiting: `on_sent` runs once the broker has the event (acks=all), `on_failed` if it never does.
    Both run on the producer's own thread, so they must be quick."""

    def failed(error):
        _producer_failed.set()
        on_failed(event, error)

    producer().send(**event_record(event)).add_callback(lambda _: on_sent(event)).add_errback(failed)


def _rejoin_until_joined(need_rejoin):
    """kafka-python 3.0.12 has two reasons to rejoin a group: a flag, and a comparison (the leader's metadata, or the
    subscription, changed since the last assignment). Only the flag lasts until the join is done: the comparison
    turns false while the join is still going (once the leader has made the new assignment, or once the request for
    a new subscription is built). A join that then outlasts the poll waiting for it is never finished: the client
    stays "rebalancing" with its heartbeat off and its old partitions, spins through every poll at full CPU, and
    the broker drops it (seen on restarts, whose leader learns more metadata as it joins). With the flag raised, the
    next poll joins again (the finished join's answer is not reused: one more rebalance, not a stall). The Java
    client fixed a like bug the same way (KAFKA-9815). tests/common/test_consumer.py shows whether a newer
    kafka-python still needs this."""

    @functools.wraps(need_rejoin)
    def need_rejoin_until_joined(coordinator):
        needed = need_rejoin(coordinator)
        if needed:
            coordinator.request_rejoin()
        return needed

    return need_rejoin_until_joined


if kafka_version == "3.0.12":
    ConsumerCoordinator.need_rejoin = _rejoin_until_joined(ConsumerCoordinator.need_rejoin)

SESSION_TIMEOUT_MS = 10_000  # a consumer that died is replaced after 10 s (the client's default is 45)


def consumer(*topics: str, group: str, instance: str | None = None, listener=None, **config) -> KafkaConsumer:
    """A consumer in `group`. With an `instance` name (static membership), a restarted process gets its
    partitions back at once instead of waiting for the group to notice the old one is gone. A `listener`
    (ConsumerRebalanceListener) hears of each partition given to or taken from it."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS,
        group_id=group,
        group_instance_id=instance,
        client_id=settings.SERVICE,
        enable_auto_commit=False,  # committed only after the handler's write
        auto_offset_reset="earliest",  # a new group starts from the first event, so nothing is skipped
        # The broker answers a fetch when 16 KB (about 25 events) are there, or after 100 ms: fewer, fuller
        # batches. Measured (docs/performance.md): 85 orders/s at 17.5 CPU-ms each, against 47 at 36 with the
        # client's defaults (answer at once), for up to 100 ms more per hop when traffic is light.
        fetch_min_bytes=16 * 1024,
        fetch_max_wait_ms=100,
        max_poll_records=500,
        session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=2_000,
        metrics_enabled=CLIENT_METRICS,
        **config,
    )
    # The group's leader assigns the partitions its metadata knows when the group forms: none, if it joins before
    # it has fetched any. A stable group with static members keeps that empty assignment when its leader restarts
    # (the broker answers a known member's rejoin with the stored assignment), and the consumer idles for minutes.
    # So it learns every topic's partitions first.
    try:
        missing = [topic for topic in topics if not consumer.partitions_for_topic(topic)]
        if missing:
            raise LeaderNotAvailableError(f"no partitions known yet for {', '.join(missing)}")  # the caller retries
    except BaseException:
        consumer.close()  # its I/O thread and connections, before the caller makes another
        raise
    consumer.subscribe(topics, listener=listener)
    return consumer


def lost_its_group(consumer: KafkaConsumer) -> bool:
    """Whether the consumer believes it is in its group, with no rejoin to do and its coordinator known, yet has
    heard no heartbeat answer for one and a half session timeouts: the broker has dropped it, and the client, which
    only a heartbeat would tell, spins through every poll with its partitions unread. A forgotten join left it so
    (see _rejoin_until_joined); this catches any other way to the same state. With the broker away the coordinator
    is unknown, and the client finds it again by itself. This reads the pinned client's internals:
    tests/faults/test_stalled_client.py checks them."""
    coordinator = consumer._coordinator
    heartbeat = coordinator.heartbeat
    silent_s = time.monotonic() - max(heartbeat.last_receive, heartbeat.last_reset)
    if silent_s <= 1.5 * SESSION_TIMEOUT_MS / 1000:  # after every poll: the cheap answer first
        return False
    member = coordinator.state is not MemberState.UNJOINED and not coordinator.need_rejoin()
    return member and not coordinator.coordinator_unknown()


def all_topic_names() -> list[str]:
    return [name for topic in TOPICS.values() for name in (topic.name, topic.dead_letter)]


def ensure_topics() -> list[str]:
    """Create every topic and its dead-letter topic if missing; return the names it created."""
    admin = KafkaAdminClient(bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS, client_id=settings.SERVICE)
    try:
        existing = set(admin.list_topics())
        missing = [name for name in all_topic_names() if name not in existing]
        for name in missing:
            try:
                admin.create_topics(
                    [NewTopic(name, settings.KAFKA_TOPIC_PARTITIONS, settings.KAFKA_REPLICATION_FACTOR)]
                )
            except TopicAlreadyExistsError:  # another process made it meanwhile
                pass
        return missing
    finally:
        admin.close()
