"""The transactional outbox, built from single-document writes (DESIGN.md section 6).

A step writes the event it emits into an `outbox` array *in the same document* as its result, in
the same atomic write, so the event exists exactly when the result does. The array only grows: it
is the list of events that document caused. Which of them are still to be sent is recorded apart,
one small document per event in the database's `outbox_pending` collection:

1. `mark_pending(event)` before the write (so a written event is always marked);
2. the write, with the event in the document's `outbox`;
3. `flush`: send the marked events (acks=all), then delete their marks.

A crash or a broker outage between the steps leaves marks behind, and `relay` sends their events
later. So an event is never lost; it may be sent twice, which the consumers' idempotency makes
harmless. Keeping the marks apart (rather than pulling sent events out of the document) means the
document has one writer only, the step that owns it, and the relay reads a small collection instead
of scanning every order: FerretDB's SQLite backend answers any query but `{_id: …}` with a full scan,
and does not isolate concurrent updates of one document.
"""

import logging
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from pymongo.collection import Collection

from common import kafka, metrics, mongo
from common.events import Event, event_from_dict

log = logging.getLogger(__name__)

# A mark whose event was never written (the step died between the two writes and was not retried)
# is dropped after this long; sooner could race a step that is still retrying its write.
ORPHAN_MARK_SECONDS = 3600


def entry(event: Event) -> dict:
    """What goes into an `outbox` array: the event as plain JSON-able data."""
    return event.to_dict()


def _marks(collection: Collection) -> Collection:
    return mongo.collection(collection.database.name, "outbox_pending")


def mark_pending(collection: Collection, document_id: str, event: Event) -> None:
    """Call before the write that puts `event` in the document's outbox (again on every retry of the step)."""
    mark = {"collection": collection.name, "document_id": document_id, "since": datetime.now(UTC)}
    _marks(collection).update_one({"_id": event.event_id}, {"$set": mark}, upsert=True)


def flush(collection: Collection, document: dict) -> None:
    """Send the document's events that are still marked, then unmark them. Raises if the broker is away."""
    marks = _marks(collection)
    pending = [item for item in document.get("outbox", []) if marks.find_one({"_id": item["event_id"]}, {"_id": 1})]
    _send(marks, pending)


def _send(marks: Collection, entries: list[dict]) -> None:
    if not entries:
        return
    kafka.publish([event_from_dict(item) for item in entries])
    for item in entries:
        marks.delete_one({"_id": item["event_id"]})
        metrics.EVENTS_PUBLISHED.labels(item["event_type"]).inc()


_broker_away_until = 0.0


def flush_or_leave_for_relay(collection: Collection, document: dict) -> None:
    """For request handlers: send now if the broker answers, else leave it to the relay and answer anyway.

    After a failure the broker is not tried again for a few seconds, so requests stay fast while it is away.
    """
    global _broker_away_until
    if time.monotonic() < _broker_away_until:
        return
    try:
        _send(_marks(collection), document.get("outbox", []))  # all of a new document's events are pending
    except kafka.TRANSIENT_ERRORS as error:
        _broker_away_until = time.monotonic() + 5
        log.warning("broker unreachable, %s left in the outbox for the relay: %s", document["_id"], error)


def relay(collections: list[Collection], *, older_than: float) -> int:
    """Send the events marked pending for longer than `older_than` seconds; return how many were sent."""
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than)
    sent = 0
    for collection in collections:
        marks = _marks(collection)
        waiting = defaultdict(dict)
        for mark in marks.find({"collection": collection.name}):
            if mark["since"] < cutoff:  # younger ones are probably being sent by the step that made them
                waiting[mark["document_id"]][mark["_id"]] = mark["since"]
        for document_id, marked in waiting.items():
            document = collection.find_one({"_id": document_id}, {"outbox": 1}) or {}
            entries = [item for item in document.get("outbox", []) if item["event_id"] in marked]
            _send(marks, entries)
            sent += len(entries)
            orphans = set(marked) - {item["event_id"] for item in entries}
            for event_id in orphans:
                if marked[event_id] < datetime.now(UTC) - timedelta(seconds=ORPHAN_MARK_SECONDS):
                    marks.delete_one({"_id": event_id})
    if sent:
        log.info("relayed %d outbox event(s)", sent)
    return sent


def pending(collection: Collection) -> list[dict]:
    """The marks of the collection's events that wait to be sent."""
    return list(_marks(collection).find({"collection": collection.name}))
