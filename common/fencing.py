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
A write to many documents (`update_many`, `delete_many`) skips those a newer owner wrote without raising, as it
cannot know how many it should have matched; no handler here makes one. A document is never replaced whole
(Unfenceable): the replacement would drop its fence. Inside a handler an upsert names its document's `_id`, and an
update uses operators, not a pipeline (Unfenceable otherwise).

A document whose `_id` is the key of some of the batch's events (an order's own documents: the order, its
payment, reservation, shipment) is written only because of that order's events, and an order's events all come
from one partition per topic. Its writes carry just those partitions' epochs: what fences a zombie is the epoch
of the partition of the event it handles, and the document's fence stays a few entries long instead of one per
partition of every topic (FerretDB rewrites a whole document on each update). Any other document (a product,
which every order's events change) gets the epochs of all the batch's partitions.

Kafka fences a zombie producer the same way, by an epoch that only the newest instance holds.
"""

import contextlib
import copy
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass

from kafka import TopicPartition
from pymongo import DeleteMany, DeleteOne, ReplaceOne, UpdateMany, UpdateOne

FIELD = "fence"


@dataclass(frozen=True)
class _Fence:
    epochs: dict[str, int]  # {lease key: epoch} of all the batch's partitions
    by_key: dict[str, dict[str, int]]  # the same, per record key, for only the partitions of that key's events

    def epochs_for(self, filter: dict) -> dict[str, int]:
        doc_id = filter.get("_id")
        return self.by_key.get(doc_id, self.epochs) if isinstance(doc_id, str) else self.epochs


_fence: ContextVar[_Fence | None] = ContextVar("fence", default=None)


class Fenced(Exception):
    """A newer owner of the batch's partitions has written the document: drop the batch, commit nothing."""


class Unfenceable(Exception):
    """A write the fence cannot guard: a whole document replaced (the replacement would drop its fence), an update
    pipeline, or an upsert that does not name its document's `_id`."""


@contextlib.contextmanager
def writing_as(group: str, epochs: dict, keys: Iterable[tuple[str, TopicPartition]] = ()):
    """The writes made inside carry these epochs ({TopicPartition: epoch}: the batch's partitions). `keys` are
    the batch's (record key, partition) pairs: a write to the document whose `_id` is a key carries only the
    epochs of that key's partitions."""
    by_key = {}
    for key, partition in keys:
        by_key.setdefault(key, {})[lease_key(group, partition)] = epochs[partition]
    token = _fence.set(_Fence({lease_key(group, partition): epoch for partition, epoch in epochs.items()}, by_key))
    try:
        yield
    finally:
        _fence.reset(token)


def lease_key(group: str, partition) -> str:
    return f"{group}:{partition.topic}:{partition.partition}"


def guard(filter: dict, update: dict | None = None, upsert: bool = False) -> tuple[dict, dict | None]:
    """The filter and update of a write made under `writing_as`: only if no newer epoch wrote the document."""
    fence = _fence.get()
    if fence is None:
        return filter, update
    if isinstance(update, list):
        raise Unfenceable("an update pipeline cannot carry the fence (common.fencing): use update operators")
    if upsert and not _names_one(filter):
        # the fenced filter misses a document a newer owner wrote, and the upsert would insert a second one;
        # named by its `_id`, the insert fails on the key instead and the write is found fenced
        raise Unfenceable("a fenced upsert must name its document's _id (common.fencing)")
    epochs = fence.epochs_for(filter)
    filter = {**filter, **{f"{FIELD}.{key}": {"$not": {"$gt": epoch}} for key, epoch in epochs.items()}}
    if update is not None:
        update = {**update, "$max": {**update.get("$max", {}), **{f"{FIELD}.{key}": e for key, e in epochs.items()}}}
    return filter, update


def guard_request(request):
    """`guard` for a bulk write's request, its other options kept. (pymongo's requests keep their filter and update
    in private fields.)"""
    if isinstance(request, ReplaceOne):
        refuse("ReplaceOne")
    if _fence.get() is None or not isinstance(request, UpdateOne | UpdateMany | DeleteOne | DeleteMany):
        return request
    guarded = copy.copy(request)
    if isinstance(request, UpdateOne | UpdateMany):
        guarded._filter, guarded._doc = guard(request._filter, request._doc, request._upsert)
    else:
        guarded._filter = guard(request._filter)[0]
    return guarded


def refuse(write: str) -> None:
    """Documents change field by field: a replacement would drop the document's fence."""
    raise Unfenceable(f"{write} would drop the document's fence (common.fencing): update its fields instead")


def check(collection, filters: list[dict]) -> None:
    """After writes that matched fewer documents than asked: raise Fenced if a newer epoch wrote one of them. One
    read for them all, of their fences only (a lookup by `_id`s, an index lookup on both stores)."""
    fence = _fence.get()
    if fence is None:
        return
    carried = {filter["_id"]: fence.epochs_for(filter) for filter in filters if _names_one(filter)}
    if not carried:
        return
    for document in collection.find({"_id": {"$in": list(carried)}}, {FIELD: 1}):
        written = document.get(FIELD, {})
        if any(written.get(key, 0) > epoch for key, epoch in carried[document["_id"]].items()):
            raise Fenced(f"{collection.full_name} {document['_id']!r} was written by a newer owner of the partitions")


def _names_one(filter: dict) -> bool:
    """Whether the filter selects one document by its `_id` (not by an operator such as `$in`)."""
    return "_id" in filter and not isinstance(filter["_id"], dict)
