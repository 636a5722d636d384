"""The transactional outbox, built from single-document writes (DESIGN.md section 6).

A step writes the event it emits into an `outbox` array *in the same document* as its result, in
the same atomic update. Then `flush` sends it (acks=all) and pulls it out. If the process dies or
the broker is down in between, the event stays in the outbox and `relay` sends it later. So an
event is never lost; it may be sent twice, which the consumers' idempotency makes harmless.

How the relay finds what is left without scanning every order: before a step writes an outbox
entry, `mark_pending` records the document's id in a small `outbox_pending` collection of the same
database; `flush` removes the mark once the outbox is empty. The mark is written *first*, so a
document with an unsent event always has one (a mark without an event, after a crash between the
two writes, is simply dropped by the relay). The relay reads only the marks: FerretDB's SQLite
backend answers any query other than `{_id: …}` by reading the whole collection.
"""

import logging
import time
from datetime import UTC, datetime, timedelta

from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from common import kafka, metrics
from common.events import Event, event_from_dict

log = logging.getLogger(__name__)


def entry(event: Event) -> dict:
    """What goes into an `outbox` array: the event as plain JSON-able data."""
    return event.to_dict()


def _marks(collection: Collection) -> Collection:
    return collection.database.outbox_pending


def _mark_id(collection: Collection, document_id: str) -> str:
    return f"{collection.name}:{document_id}"


def mark_pending(collection: Collection, document_id: str) -> None:
    """Call before a write that puts an event in the document's outbox."""
    mark = {"_id": _mark_id(collection, document_id), "collection": collection.name, "document_id": document_id,
            "since": datetime.now(UTC)}
    try:
        _marks(collection).insert_one(mark)
    except DuplicateKeyError:  # marked already: an earlier event of this document is still unsent
        pass


def flush(collection: Collection, document: dict) -> None:
    """Send a document's outbox entries, pull them out, drop its mark. Raises if the broker does not take them."""
    entries = document.get("outbox", [])
    if entries:
        kafka.publish([event_from_dict(item) for item in entries])
        for item in entries:
            # FerretDB v1 can $pull only by exact value (no conditions), so the entry is pulled as it was stored.
            collection.update_one({"_id": document["_id"]}, {"$pull": {"outbox": item}})
            metrics.EVENTS_PUBLISHED.labels(item["event_type"]).inc()
    left = collection.find_one({"_id": document["_id"]}, {"outbox": 1})
    if not (left and left.get("outbox")):
        _marks(collection).delete_one({"_id": _mark_id(collection, document["_id"])})


_broker_away_until = 0.0


def flush_or_leave_for_relay(collection: Collection, document: dict) -> None:
    """For request handlers: send now if the broker answers, else leave it to the relay and answer anyway.

    After a failure the broker is not tried again for a few seconds, so requests stay fast while it is away.
    """
    global _broker_away_until
    if time.monotonic() < _broker_away_until:
        return
    try:
        flush(collection, document)
    except kafka.TRANSIENT_ERRORS as error:
        _broker_away_until = time.monotonic() + 5
        log.warning("broker unreachable, %s left in the outbox for the relay: %s", document["_id"], error)


def relay(collections: list[Collection], *, older_than: float) -> int:
    """Send whatever has waited in an outbox longer than `older_than` seconds; return how many were sent."""
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than)
    sent = 0
    for collection in collections:
        for mark in _marks(collection).find({"collection": collection.name}):
            if mark["since"] > cutoff:
                continue  # the step that marked it is probably still sending it
            document = collection.find_one({"_id": mark["document_id"]}, {"outbox": 1}) or {"_id": mark["document_id"]}
            flush(collection, document)
            sent += len(document.get("outbox", []))
    if sent:
        log.info("relayed %d outbox event(s)", sent)
    return sent
