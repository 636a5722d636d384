"""The consumer loop every site runs (`manage.py runconsumer`), one poll batch at a time.

A batch is handled as a unit:
1. every record is parsed and checked; one that can never be processed is dead-lettered;
2. the site's handler gets the batch's events of its topics as one list, writes their results with
   as few store round trips as it can, and returns the events those results cause;
3. those events and the dead letters are sent, and the broker's acknowledgement (acks=all) is
   awaited once for all of them;
4. the batch's offsets are committed (a commit the broker refuses is tried again after the next poll).

A crash before 4 redelivers the whole batch. The handlers find the results they wrote and return the
same events again (their ids are derived from the cause), so every effect happens once: the
uncommitted input offset is the consumers' outbox (README, "Never lose an order…"). A store or broker that is
down is retried with backoff and the batch is never skipped. The handlers' writes carry the epochs of
the batch's partitions (common.fencing): a consumer that wakes from a freeze to find its partitions
handled by another drops the batch, uncommitted, instead of writing over its successor. When a
handler fails on a batch, the batch is halved until the event it cannot handle is alone, and only
that one goes to `<topic>.DLT`, with the reason. SIGTERM finishes the current batch, commits and
closes. Traced (common.tracing), each record gets a span in its order's trace, and the events it
causes are made under that span.
"""

import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from kafka import ConsumerRebalanceListener, KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError
from pymongo import ReturnDocument
from tenacity import Retrying, retry_if_exception_type, wait_exponential

from common import fencing, kafka, metrics, mongo, tracing
from common.events import Event, PoisonEvent, parse_event
from common.logging import log_handled_events

log = logging.getLogger(__name__)

TRANSIENT_ERRORS = mongo.TRANSIENT_ERRORS + kafka.TRANSIENT_ERRORS
POLL_MS = 500


@dataclass(frozen=True)
class Position:
    """Where a consumed event came from; the order site keeps it in the order's history."""

    topic: str
    partition: int
    offset: int


class Delivery(NamedTuple):
    """One consumed event and where it came from: `for event, position in batch`."""

    event: Event
    position: Position


# A handler takes the deliveries of a batch, in the order they were consumed, and returns the events to send.
Handler = Callable[[list[Delivery]], list[Event]]


@dataclass
class ConsumerLoop:
    group: str
    handlers: dict[str, Handler]
    instance: str | None = None
    max_messages: int | None = None
    idle_timeout: float | None = None
    max_batch: int = 500
    stopping: bool = False
    processed: int = 0
    epochs: dict = field(default_factory=dict)  # {TopicPartition: epoch} of the partitions it owns (fencing)
    uncommitted: dict = field(default_factory=dict)  # {TopicPartition: OffsetAndMetadata} handled, commit failed
    consumer: KafkaConsumer | None = field(default=None, init=False)  # the client in use (a stalled one is replaced)

    def stop(self, *_):
        log.info("stop requested: finishing the current batch")
        self.stopping = True

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        self.consumer = self._connect()
        last_message = time.monotonic()
        try:
            while not self.stopping and not self._done(last_message):
                room = self.max_batch if self.max_messages is None else self.max_messages - self.processed
                # retried: with the broker away, poll raises instead of waiting (and the process would exit)
                polled = self._retry(lambda room=room: self.consumer.poll(timeout_ms=POLL_MS, max_records=room))
                records = [r for rs in polled.values() for r in rs]
                if not self.stopping and kafka.lost_its_group(self.consumer):
                    log.error("the Kafka client has not heartbeated for 1.5 session timeouts, and its group has "
                              "dropped it: starting a new one")
                    metrics.CONSUMER_RESTARTS.inc()
                    self.consumer.close()
                    self.consumer = self._connect()
                    continue  # what it polled is read again by the new one, from the last commit
                if not records:
                    if self.uncommitted:
                        self._commit([], timeout_ms=POLL_MS)  # the broker may still be away: not 30 s a poll
                    continue
                try:
                    self.process(records)  # raises, leaving the batch uncommitted, if stopped while retrying
                except fencing.Fenced as error:
                    log.warning("batch dropped uncommitted, its partitions have a newer owner: %s", error)
                    _rewind(self.consumer, records)  # should this consumer still own some, it reads them again
                    continue
                self._commit(records)
                last_message = time.monotonic()
        finally:
            # With a stable --instance name (static membership) the group keeps this member's partitions
            # until its session times out, so a restart takes them back without a rebalance.
            self.consumer.close()
            log.info("consumer closed after %d event(s)", self.processed)

    def _connect(self) -> KafkaConsumer:
        self.uncommitted.clear()  # a new client starts from the group's commits
        consumer = self._retry(lambda: kafka.consumer(*self.handlers, group=self.group, instance=self.instance,
                                                      listener=_Rebalances(self)))
        log.info("consuming %s as group %s", ", ".join(self.handlers), self.group)
        return consumer

    def _done(self, last_message: float) -> bool:
        if self.max_messages is not None and self.processed >= self.max_messages:
            return True
        return self.idle_timeout is not None and time.monotonic() - last_message > self.idle_timeout

    def process(self, records: list) -> None:
        """Handle one poll batch: results written, caused events and dead letters acknowledged by the broker."""
        with tracing.batch_trace(records, self.group) as self._trace:
            self._process(records)

    def _process(self, records: list) -> None:
        started = time.perf_counter()
        self._records = {}
        self._outgoing = []  # records to send: the events the handlers return, and dead letters
        self._handled: list[Delivery] = []  # logged once the batch is done
        batches: dict[Handler, list[Delivery]] = {}
        seen = set()
        for record in records:
            try:
                event = parse_event(record.value, record.topic)
            except PoisonEvent as error:
                self._dead_letter(record, str(error))
                continue
            if event.event_id in seen:  # delivered twice in one batch: once is enough
                continue
            seen.add(event.event_id)
            self._trace.carried(record, event)
            position = Position(record.topic, record.partition, record.offset)
            self._records[position] = record
            batches.setdefault(self.handlers[record.topic], []).append(Delivery(event, position))
        for handler, batch in batches.items():
            keys = [(event.order_id, TopicPartition(position.topic, position.partition)) for event, position in batch]
            with fencing.writing_as(self.group, self._epochs_of(batch), keys):
                self._handle(handler, batch)
        self._retry(lambda: kafka.send_all(self._outgoing))
        log_handled_events(self._handled, self._trace.log_ids)
        self.processed += len(records)
        log.info("batch of %d event(s) handled, %d sent", len(records), len(self._outgoing))
        metrics.BATCH_SIZE.observe(len(records))
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)

    def _handle(self, handler: Handler, batch: list[Delivery]) -> None:
        try:
            caused = self._retry(lambda: handler(batch))
        except fencing.Fenced:
            raise
        except Exception as error:  # a handler bug or impossible data: never block the partition on it
            if self.stopping:
                raise  # stopped while retrying: leave the batch uncommitted for the next consumer
            if len(batch) > 1:
                # Halve it until the event the handler cannot handle is alone (a few calls, not one per event).
                # Handlers are idempotent, so what they did already before failing is not done twice.
                log.warning("handler failed on a batch of %d, halving it: %s", len(batch), error)
                self._handle(handler, batch[:len(batch) // 2])
                self._handle(handler, batch[len(batch) // 2:])
                return
            log.exception("handler failed on %s", batch[0].position)
            self._dead_letter(self._records[batch[0].position], f"handler error: {type(error).__name__}: {error}")
            return
        self._outgoing += [kafka.event_record(event, self._trace.cause_of(event)) for event in caused]
        self._handled += batch
        for _, position in batch:
            metrics.EVENTS_CONSUMED.labels(position.topic, "handled").inc()

    def _epochs_of(self, batch: list[Delivery]) -> dict:
        partitions = {TopicPartition(position.topic, position.partition) for _, position in batch}
        missing = [partition for partition in partitions if partition not in self.epochs]
        if missing:  # not taken on assignment (the store was away then)
            self.epochs.update(self._retry(lambda: take_epochs(self.group, missing)))
        return {partition: self.epochs[partition] for partition in partitions}

    def _dead_letter(self, record, reason: str) -> None:
        log.warning("dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason)
        self._trace.dead_lettered(record, reason)
        self._outgoing.append(kafka.dead_letter_record(record, reason, self.group, self._trace.context_at(record)))
        metrics.EVENTS_CONSUMED.labels(record.topic, "dead_lettered").inc()

    def _retry(self, call):
        """Call until it succeeds, backing off while the store or broker is unreachable (but not past a stop)."""
        retrying = Retrying(
            retry=retry_if_exception_type(TRANSIENT_ERRORS),
            wait=wait_exponential(multiplier=0.2, max=5),
            stop=lambda _: self.stopping,
            before_sleep=lambda state: log.warning(
                "transient error, retry %d: %s", state.attempt_number, state.outcome.exception()
            ),
            reraise=True,
        )
        return retrying(call)

    def _commit(self, records: list, timeout_ms: int | None = None) -> None:
        """Commit the offsets after `records`, and those whose commit failed before (kept only for the
        partitions the consumer still owns: _Rebalances). A failed commit (the broker went away just then) is so
        tried again after the next poll: otherwise it stays behind until its partition's next event, which may be
        long, and until then the group shows lag and a restart hands the event out again. (Should this consumer
        stop first, the partition's next owner reads the events again from the last commit; the handlers are
        idempotent.)"""
        for record in records:  # a poll returns each partition's records in offset order
            self.uncommitted[TopicPartition(record.topic, record.partition)] = OffsetAndMetadata(
                record.offset + 1, None, -1)
        offsets = dict(self.uncommitted)
        try:
            self.consumer.commit(offsets, timeout_ms=timeout_ms)
        except KafkaError as error:  # CommitFailedError too
            # Kept for the next try, unless the group gives the partition elsewhere meanwhile (_Rebalances).
            if records:  # a retry that fails again is no news
                log.warning("commit of %s failed, to be tried again: %s", offsets, error)
            return
        if not records:
            log.info("commit of %s made, after the broker refused it", offsets)
        self.uncommitted.clear()


def take_epochs(group: str, partitions: list) -> dict:
    """New fencing epochs for the partitions just assigned to this consumer: {TopicPartition: epoch}."""
    leases = mongo.collection("fencing", "leases")
    return {partition: leases.find_one_and_update({"_id": fencing.lease_key(group, partition)},
                                                  {"$inc": {"epoch": 1}}, upsert=True,
                                                  return_document=ReturnDocument.AFTER)["epoch"]
            for partition in partitions}


class _Rebalances(ConsumerRebalanceListener):
    """Takes a new epoch for each partition the group gives the consumer, before it reads any of its events, and
    keeps a failed commit only for the partitions the consumer keeps. With the client's default (eager) assignors
    every rebalance revokes all partitions and then assigns the new set; kafka-python keeps the position of a
    partition in both (SubscriptionState.assign_from_subscribed: it does not read the uncommitted events again),
    so their commit is still this consumer's to make. A partition given elsewhere is read again from its last
    commit by the new owner, and committing the old offset later could set that owner back. (One case the client
    does not report: a member that learns it was dropped only while joining again gets no on_partitions_lost, and
    keeps its old positions too, so it commits behind a partition's interim owner after its next batch anyway;
    the handlers are idempotent.)"""

    def __init__(self, loop: ConsumerLoop):
        self.loop = loop

    def on_partitions_assigned(self, assigned):
        self.loop.uncommitted = {p: offset for p, offset in self.loop.uncommitted.items() if p in assigned}
        self.loop.epochs.update(take_epochs(self.loop.group, list(assigned)))

    def on_partitions_revoked(self, revoked):
        for partition in revoked:
            self.loop.epochs.pop(partition, None)

    def on_partitions_lost(self, lost):
        """Dropped by the group: the client forgets the positions too, and reads again from the last commits."""
        self.on_partitions_revoked(lost)
        self.loop.uncommitted.clear()


def _rewind(consumer, records: list) -> None:
    """Back to each partition's first record of the batch, for the partitions the consumer still has."""
    first = {}
    for record in records:
        first.setdefault(TopicPartition(record.topic, record.partition), record.offset)
    for partition, offset in first.items():
        if partition in consumer.assignment():
            consumer.seek(partition, offset)
