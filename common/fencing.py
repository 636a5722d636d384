"""Fencing tokens: a consumer that lost its partitions cannot write after the consumer that took them over.

A consumer frozen inside its handler past its session timeout (a long GC pause, a stalled store, SIGSTOP) is
expelled from its group, and another consumer handles the same uncommitted events. When the frozen one wakes, it
still believes it owns them, and writes what it decided from what it had read. An update's own filter (the status
it read, the marks a step leaves) cannot stop that once the successor has finished the step and removed its marks,
as when the inventory site decides on a reservation and moves units on a product.

So each time a consumer is given a partition, it takes a new epoch for it from the store (one counter per group
and partition, in `fencing.leases`). Every update and delete its handlers make carries the epochs of the batch's
partitions: it applies only if the document has seen no newer one, and it records its own in the document's
`fence`. The zombie's first write to a document its successor has written finds a newer epoch and raises Fenced;
its batch is dropped uncommitted. What it wrote before its successor reached a document, the successor finds done,
as after a crash (the handlers are idempotent). Inserts need no fence: their natural keys make them happen once.

Kafka fences a zombie producer the same way, by an epoch that only the newest instance holds.
"""

import contextlib
from contextvars import ContextVar

from pymongo import DeleteOne, UpdateOne

FIELD = "fence"
_epochs: ContextVar[dict[str, int] | None] = ContextVar("epochs", default=None)


class Fenced(Exception):
    """A newer owner of the batch's partitions has written the document: drop the batch, commit nothing."""


@contextlib.contextmanager
def writing_as(group: str, epochs: dict):
    """The writes made inside carry these epochs ({TopicPartition: epoch}: the batch's partitions)."""
    token = _epochs.set({lease_key(group, partition): epoch for partition, epoch in epochs.items()})
    try:
        yield
    finally:
        _epochs.reset(token)


def lease_key(group: str, partition) -> str:
    return f"{group}:{partition.topic}:{partition.partition}"


def guard(filter: dict, update: dict | None = None) -> tuple[dict, dict | None]:
    """The filter and update of a write made under `writing_as`: only if no newer epoch wrote the document."""
    epochs = _epochs.get()
    if not epochs:
        return filter, update
    filter = {**filter, **{f"{FIELD}.{key}": {"$not": {"$gt": epoch}} for key, epoch in epochs.items()}}
    if update is not None:
        update = {**update, "$max": {**update.get("$max", {}), **{f"{FIELD}.{key}": e for key, e in epochs.items()}}}
    return filter, update


def guard_request(request):
    """`guard` for a bulk write's request. (pymongo's requests keep their filter and update in private fields.)"""
    if isinstance(request, UpdateOne):
        return UpdateOne(*guard(request._filter, request._doc), upsert=request._upsert)
    if isinstance(request, DeleteOne):
        return DeleteOne(guard(request._filter)[0])
    return request


def check(collection, filters: list[dict]) -> None:
    """After writes that matched fewer documents than asked: raise Fenced if a newer epoch wrote one of them."""
    epochs = _epochs.get()
    if not epochs:
        return
    newer = [{f"{FIELD}.{key}": {"$gt": epoch}} for key, epoch in epochs.items()]
    for filter in filters:
        if "_id" in filter and collection.find_one({"_id": filter["_id"], "$or": newer}, {"_id": 1}):
            raise Fenced(f"{collection.full_name} {filter['_id']!r} was written by a newer owner of the partitions")
