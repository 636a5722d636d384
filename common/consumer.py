"""The consumer loop every site runs (`manage.py runconsumer`).

For each record: parse and check the event, call the site's handler, then commit the offset, so an
event is committed only after its handler's write (at-least-once in; the handlers make the effect
exactly-once). A store or broker that is down is retried with backoff and the record is never
skipped; an event that can never succeed goes to `<topic>.DLT` with the reason, and the loop goes on.
SIGTERM finishes the current record, commits and closes.
"""

import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from kafka import OffsetAndMetadata
from kafka.errors import CommitFailedError, KafkaError
from tenacity import Retrying, retry_if_exception_type, wait_exponential

from common import kafka, metrics, mongo, outbox
from common.events import Event, PoisonEvent, parse_event

log = logging.getLogger(__name__)

TRANSIENT_ERRORS = mongo.TRANSIENT_ERRORS + kafka.TRANSIENT_ERRORS


@dataclass(frozen=True)
class Position:
    """Where a consumed event came from; the order site keeps it in the order's history."""

    topic: str
    partition: int
    offset: int


Handler = Callable[[Event, Position], None]


@dataclass
class ConsumerLoop:
    group: str
    handlers: dict[str, Handler]
    instance: str | None = None
    outboxes: list = field(default_factory=list)  # callables returning the collections whose outbox we relay
    max_messages: int | None = None
    idle_timeout: float | None = None
    relay_every: float = 5.0
    stopping: bool = False
    processed: int = 0

    def stop(self, *_):
        log.info("stop requested: finishing the current event")
        self.stopping = True

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        consumer = self._retry(lambda: kafka.consumer(*self.handlers, group=self.group, instance=self.instance))
        log.info("consuming %s as group %s", ", ".join(self.handlers), self.group)
        last_message = last_relay = time.monotonic()
        try:
            while not self.stopping and not self._done(last_message):
                batch = consumer.poll(timeout_ms=500)
                handled = {}  # partition -> next offset, committed once per batch (fewer round trips)
                try:
                    for partition, records in batch.items():
                        for record in records:
                            if self.stopping or self._done(last_message):
                                break
                            self.process(record)
                            handled[partition] = OffsetAndMetadata(record.offset + 1, None, -1)
                            last_message = time.monotonic()
                finally:
                    self._commit(consumer, handled)  # only what was handled, also when stopping mid-batch
                if self.outboxes and time.monotonic() - last_relay > self.relay_every:
                    self._relay()
                    last_relay = time.monotonic()
        finally:
            # With a stable --instance name (static membership) the group keeps this member's partitions
            # until its session times out, so a restart takes them back without a rebalance.
            consumer.close()
            log.info("consumer closed after %d event(s)", self.processed)

    def _done(self, last_message: float) -> bool:
        if self.max_messages is not None and self.processed >= self.max_messages:
            return True
        return self.idle_timeout is not None and time.monotonic() - last_message > self.idle_timeout

    def process(self, record) -> None:
        """Handle one record: retried while the store or broker is down, dead-lettered if it can never succeed."""
        position = Position(record.topic, record.partition, record.offset)
        started = time.perf_counter()
        try:
            event = parse_event(record.value, record.topic)
            self._retry(lambda: self.handlers[record.topic](event, position))
            outcome = "handled"
        except PoisonEvent as error:
            self._dead_letter(record, str(error))
            outcome = "dead_lettered"
        except Exception as error:  # a handler bug or impossible data: never block the partition on it
            if self.stopping:
                raise  # stopped while retrying: leave the record uncommitted for the next consumer
            log.exception("handler failed on %s", position)
            self._dead_letter(record, f"handler error: {type(error).__name__}: {error}")
            outcome = "dead_lettered"
        self.processed += 1
        metrics.EVENTS_CONSUMED.labels(record.topic, outcome).inc()
        metrics.HANDLE_SECONDS.labels(record.topic).observe(time.perf_counter() - started)

    def _dead_letter(self, record, reason: str) -> None:
        log.warning("dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason)
        self._retry(lambda: kafka.dead_letter(record, reason, self.group))

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

    def _commit(self, consumer, offsets: dict) -> None:
        if not offsets:
            return
        try:
            consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as error:
            # The group moved these partitions elsewhere (or the broker is away): the new owner re-reads
            # from the last commit, and the handlers are idempotent, so nothing is lost or doubled.
            log.warning("commit of %s failed: %s", offsets, error)

    def _relay(self) -> None:
        try:
            outbox.relay([collection() for collection in self.outboxes], older_than=settings.OUTBOX_RELAY_AFTER_SECONDS)
        except TRANSIENT_ERRORS as error:
            log.warning("outbox relay deferred: %s", error)
