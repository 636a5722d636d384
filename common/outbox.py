"""The transactional outbox, built from single-document writes (DESIGN.md section 6).

A step writes the event it emits into an `outbox` array *in the same document* as its result, in
the same atomic update. Then `flush` sends it (acks=all) and pulls it out. If the process dies or
the broker is down in between, the event stays in the outbox and `relay` sends it later. So an
event is never lost; it may be sent twice, which the consumers' idempotency makes harmless.
"""

import logging
import time
from datetime import UTC, datetime, timedelta

from pymongo.collection import Collection

from common import kafka
from common.events import Event, event_from_dict

log = logging.getLogger(__name__)


def flush(collection: Collection, document_id: str, entries: list[dict]) -> None:
    """Send a document's outbox entries, then remove them. Raises if the broker does not take them."""
    if not entries:
        return
    kafka.publish([event_from_dict(entry) for entry in entries])
    for entry in entries:
        # FerretDB v1 can $pull only by exact value (no conditions), so the entry is pulled as it was stored.
        collection.update_one({"_id": document_id}, {"$pull": {"outbox": entry}})


def flush_document(collection: Collection, document: dict) -> None:
    flush(collection, document["_id"], document.get("outbox", []))


_broker_away_until = 0.0


def flush_or_leave_for_relay(collection: Collection, document: dict) -> None:
    """For request handlers: send now if the broker answers, else leave it to the relay and answer anyway.

    After a failure the broker is not tried again for a few seconds, so requests stay fast while it is away.
    """
    global _broker_away_until
    if time.monotonic() < _broker_away_until:
        return
    try:
        flush_document(collection, document)
    except kafka.TRANSIENT_ERRORS as error:
        _broker_away_until = time.monotonic() + 5
        log.warning("broker unreachable, %s left in the outbox for the relay: %s", document["_id"], error)


def relay(collections: list[Collection], *, older_than: float, limit: int = 500) -> int:
    """Send whatever has waited in an outbox longer than `older_than` seconds; return how many were sent."""
    cutoff = (datetime.now(UTC) - timedelta(seconds=older_than)).isoformat(timespec="milliseconds")
    cutoff = cutoff.replace("+00:00", "Z")
    sent = 0
    for collection in collections:
        for document in collection.find({"outbox.occurred_at": {"$lt": cutoff}}, {"outbox": 1}, limit=limit):
            flush_document(collection, document)
            sent += len(document["outbox"])
    if sent:
        log.info("relayed %d outbox event(s)", sent)
    return sent


def entry(event: Event) -> dict:
    """What goes into an `outbox` array: the event as plain JSON-able data."""
    return event.to_dict()
