"""The outbox, for the one step that has no input event to fall back on: a request (POST /orders).

A consumer needs no outbox: its uncommitted input offset makes the step run again after a crash
(common.consumer). A request has nothing like it, so (README, "Never lose an order, never do it twice"):

1. `mark_pending` writes a mark per event, the event in it, into the database's `outbox_pending` collection;
2. the step writes its result (an order, or a cancel request on one), which records the event's id;
3. `send_in_background` hands the event to the producer and the request is answered at once; once the
   broker has it (acks=all) its mark is deleted, many at a time, by a background thread.

A crash or a broker outage between the steps leaves marks behind, and `relay` (`manage.py runrelay`)
sends their events later: an event is never lost; it may be sent twice, which the consumers'
idempotency makes harmless. The marks live apart from the documents so that the relay reads a small
collection instead of scanning every order (FerretDB answers any query but `{_id: …}` with a full scan),
and the result documents stay small (FerretDB rewrites a whole document on every update).
"""

import logging
import queue
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from pymongo import DeleteOne
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from common import kafka, metrics, mongo, tracing
from common.events import Event, event_from_dict

log = logging.getLogger(__name__)

# A mark whose event was never written (the request died between the two writes) is dropped after this long.
ORPHAN_MARK_SECONDS = 3600
BROKER_AWAY_SECONDS = 5


MARKS = "outbox_pending"


def _marks(collection: Collection) -> Collection:
    return mongo.collection(collection.database.name, MARKS)


def mark_pending(collection: Collection, document_id: str, event: Event, *, recorded_as: str) -> None:
    """Call before the write that `event` announces, which stores the event's id in the document's field
    `recorded_as`: the relay sends the event only if that write happened."""
    mark = {"_id": event.event_id, "collection": collection.name, "document_id": document_id,
            "recorded_as": recorded_as, "since": datetime.now(UTC), "event": event.to_dict(),
            "traceparent": tracing.current_traceparent()}  # a re-send continues the trace of the work that made it
    try:
        _marks(collection).insert_one(mark)
    except DuplicateKeyError:  # a write retried after its reply was lost finds its own mark
        pass


class _Unmarker:
    """Deletes the marks of acknowledged events in the background, many per store round trip."""

    def __init__(self):
        self.acknowledged = queue.SimpleQueue()  # (database name, event id)
        self.broker_away_until = 0.0
        threading.Thread(target=self._run, name="outbox-unmarker", daemon=True).start()

    def _run(self) -> None:
        while True:
            done = [self.acknowledged.get()]
            time.sleep(0.05)  # let the acknowledgements of a burst gather
            while not self.acknowledged.empty():
                done.append(self.acknowledged.get())
            by_database = defaultdict(list)
            for database_name, event_id in done:
                by_database[database_name].append(event_id)
            for database_name, event_ids in by_database.items():
                try:
                    with tracing.untraced_store():  # many orders' housekeeping: not a trace of its own in Zipkin
                        # one statement, not one per mark: FerretDB finds `$in` ids by its `_id` index (patch 0005)
                        mongo.collection(database_name, MARKS).delete_many({"_id": {"$in": event_ids}})
                except mongo.TRANSIENT_ERRORS as error:  # the relay re-sends those events: harmless
                    log.warning("outbox marks not deleted: %s", error)


_unmarker = None
_unmarker_lock = threading.Lock()


def _unmarker_started() -> _Unmarker:
    global _unmarker
    with _unmarker_lock:
        if _unmarker is None:
            _unmarker = _Unmarker()
        return _unmarker


def send_in_background(collection: Collection, events: list[Event]) -> None:
    """For requests: hand the events to the producer and return; the relay covers what fails.

    While the broker is away (a send failed lately) nothing is tried, so requests stay fast.
    """
    unmarker = _unmarker_started()
    if time.monotonic() < unmarker.broker_away_until:
        return

    def sent(event: Event) -> None:
        unmarker.acknowledged.put((collection.database.name, event.event_id))
        metrics.EVENTS_PUBLISHED.labels(event.event_type).inc()

    def failed(event: Event, error: Exception) -> None:
        unmarker.broker_away_until = time.monotonic() + BROKER_AWAY_SECONDS
        log.warning("broker did not take %s of %s, left for the relay: %s", event.event_type, event.order_id, error)

    try:
        for event in events:
            kafka.publish_in_background(event, sent, failed)
    except kafka.TRANSIENT_ERRORS as error:
        unmarker.broker_away_until = time.monotonic() + BROKER_AWAY_SECONDS
        log.warning("broker unreachable, %d event(s) left in the outbox for the relay: %s", len(events), error)


def relay(collections: list[Collection], *, older_than: float) -> int:
    """Send the events marked pending for longer than `older_than` seconds; return how many were sent."""
    now = datetime.now(UTC)
    sent = 0
    for collection in collections:
        marks = _marks(collection)
        # younger marks are probably being sent by the request that made them
        stale = [mark for mark in marks.find({"collection": collection.name}) if mark["since"] < now - timedelta(
            seconds=older_than)]
        # an event is sent only if its write happened: a request may have died between the two writes, or its
        # write may have been refused (a cancel request on an order that became final meanwhile)
        recorded = {mark["_id"]: _recorded_event_id(collection, mark) for mark in stale}
        written = [mark for mark in stale if recorded[mark["_id"]] == mark["_id"]]
        kafka.send_all([kafka.event_record(event_from_dict(mark["event"]),
                                           tracing.context_from(mark.get("traceparent"))) for mark in written])
        # A mark whose document records another event was superseded (a retried request made a new one), so it
        # never goes; one whose write may still be under way waits an hour before it is given up.
        orphans = [mark for mark in stale if mark not in written and (
            recorded[mark["_id"]] is not None or mark["since"] < now - timedelta(seconds=ORPHAN_MARK_SECONDS))]
        mongo.bulk_write(marks, [DeleteOne({"_id": mark["_id"]}) for mark in written + orphans])
        for mark in written:
            metrics.EVENTS_PUBLISHED.labels(mark["event"]["event_type"]).inc()
        sent += len(written)
    if sent:
        log.info("relayed %d outbox event(s)", sent)
    return sent


def _recorded_event_id(collection: Collection, mark: dict) -> str | None:
    """The event id the mark's document records in the mark's field (None: no document, or nothing recorded yet).
    A mark made before marks named the field, by an older version, counts as recorded if its document exists."""
    document = collection.find_one({"_id": mark["document_id"]})
    if document is None or "recorded_as" not in mark:
        return document and mark["_id"]
    for name in mark["recorded_as"].split("."):  # a dotted path, e.g. "cancel.event_id"
        document = document.get(name) if isinstance(document, dict) else None
    return document


def pending(collection: Collection) -> list[dict]:
    """The marks of the collection's events that wait to be sent."""
    return list(_marks(collection).find({"collection": collection.name}))
