"""Fencing tokens (common.fencing) on the real store: the writes of an older owner of a partition stop landing on
the documents a newer owner has written, and only on those."""

import uuid

import pytest
from kafka import TopicPartition
from pymongo import DeleteMany, DeleteOne, ReplaceOne, UpdateMany, UpdateOne

from common import fencing, mongo
from common.consumer import take_epochs

GROUP = "fencing-tests"
PARTITION = TopicPartition("payment_processed", 0)
OTHER = TopicPartition("payment_processed", 1)


@pytest.fixture
def products():
    products = mongo.collection("fencing_tests", f"c{uuid.uuid4().hex[:8]}")
    products.insert_many([{"_id": "P1", "available": 10}, {"_id": "P2", "available": 10}])
    yield products
    products.drop()


def test_each_assignment_takes_a_newer_epoch():
    partition = TopicPartition(f"t{uuid.uuid4().hex[:8]}", 0)
    first = take_epochs(GROUP, [partition])[partition]
    assert take_epochs(GROUP, [partition])[partition] == first + 1


def test_an_older_owner_cannot_write_what_a_newer_one_wrote(products):
    old, new = 1, 2
    with fencing.writing_as(GROUP, {PARTITION: new}):
        products.update_one({"_id": "P1"}, {"$inc": {"available": -1}})
    with fencing.writing_as(GROUP, {PARTITION: old}):
        with pytest.raises(fencing.Fenced):
            products.update_one({"_id": "P1"}, {"$inc": {"available": -1}})
        with pytest.raises(fencing.Fenced):
            products.bulk_write([UpdateOne({"_id": "P1"}, {"$inc": {"available": -1}})])
        with pytest.raises(fencing.Fenced):
            products.find_one_and_update({"_id": "P1"}, {"$inc": {"available": -1}})
        with pytest.raises(fencing.Fenced):
            products.bulk_write([DeleteOne({"_id": "P1"})])
        products.update_one({"_id": "P2"}, {"$inc": {"available": -1}})  # the newer owner never wrote P2
    assert products.find_one({"_id": "P1"})["available"] == 9
    assert products.find_one({"_id": "P2"})["available"] == 9


def test_an_older_owners_writes_to_many_documents_skip_those_a_newer_one_wrote(products):
    with fencing.writing_as(GROUP, {PARTITION: 2}):
        products.update_one({"_id": "P1"}, {"$inc": {"available": -1}})
    with fencing.writing_as(GROUP, {PARTITION: 1}):
        with pytest.raises(fencing.Fenced):
            products.find_one_and_delete({"_id": "P1"})
        assert products.update_many({}, {"$inc": {"available": -1}}).modified_count == 1
        assert products.bulk_write([UpdateMany({"_id": {"$in": ["P1", "P2"]}}, {"$inc": {"available": -1}})]
                                   ).modified_count == 1
        assert products.delete_many({"available": {"$lt": 10}}).deleted_count == 1
    assert list(products.find({}, {"_id": 1, "available": 1})) == [{"_id": "P1", "available": 9}]
    with fencing.writing_as(GROUP, {PARTITION: 1}):
        products.bulk_write([DeleteMany({})])
    assert products.find_one({"_id": "P1"})  # a newer owner wrote it


def test_a_write_to_many_in_a_bulk_write_does_not_hide_a_fenced_one(products):
    with fencing.writing_as(GROUP, {PARTITION: 2}):
        products.update_one({"_id": "P1"}, {"$inc": {"available": -1}})
    products.insert_many([{"_id": "P3", "available": 10}, {"_id": "P4", "available": 10}])
    with fencing.writing_as(GROUP, {PARTITION: 1}), pytest.raises(fencing.Fenced):
        # two requests, two documents written (P3, P4): the count alone would not tell that P1's was refused
        products.bulk_write([UpdateOne({"_id": "P1"}, {"$inc": {"available": -1}}),
                             UpdateMany({"_id": {"$in": ["P3", "P4"]}}, {"$inc": {"available": -1}})])


def test_a_guarded_bulk_request_keeps_its_options():
    options = {"upsert": True, "collation": {"locale": "en"}, "array_filters": [{"lot.lot": "b"}], "hint": "lot_1"}
    update = {"$inc": {"lots.$[lot].units": -1}}
    with fencing.writing_as(GROUP, {PARTITION: 1}):
        assert fencing.guard_request(UpdateOne({"_id": "P1"}, update, **options)) == UpdateOne(
            *fencing.guard({"_id": "P1"}, update), **options)
        assert fencing.guard_request(DeleteMany({"lot": "b"}, hint="lot_1")) == DeleteMany(
            fencing.guard({"lot": "b"})[0], hint="lot_1")


def test_no_document_is_replaced_whole(products):
    with fencing.writing_as(GROUP, {PARTITION: 1}):
        with pytest.raises(fencing.Unfenceable):
            products.bulk_write([ReplaceOne({"_id": "P1"}, {"available": 0})])
    with pytest.raises(fencing.Unfenceable):  # outside a handler too: a newer owner's epoch would be lost
        products.replace_one({"_id": "P1"}, {"available": 0})
    assert products.find_one({"_id": "P1"})["available"] == 10


def test_an_older_owners_upsert_is_fenced_and_one_the_fence_cannot_guard_is_refused(products):
    with fencing.writing_as(GROUP, {PARTITION: 2}):
        products.update_one({"_id": "P1"}, {"$inc": {"available": -1}})
    upsert = {"$inc": {"available": -1}}
    with fencing.writing_as(GROUP, {PARTITION: 1}):
        with pytest.raises(fencing.Fenced):  # named by its _id: the insert meets the key, and the fence is seen
            products.update_one({"_id": "P1"}, upsert, upsert=True)
        with pytest.raises(fencing.Fenced):
            products.update_many({"_id": "P1"}, upsert, upsert=True)
        with pytest.raises(fencing.Fenced):
            products.bulk_write([UpdateOne({"_id": "P1"}, upsert, upsert=True)])
        # named otherwise, the fenced filter misses P1 and the upsert would insert a second document
        with pytest.raises(fencing.Unfenceable):
            products.update_one({"available": 9}, upsert, upsert=True)
        with pytest.raises(fencing.Unfenceable):
            products.find_one_and_update({"available": 9}, upsert, upsert=True)
        with pytest.raises(fencing.Unfenceable):
            products.bulk_write([UpdateMany({"available": 9}, upsert, upsert=True)])
        with pytest.raises(fencing.Unfenceable):  # a pipeline has no place for the fence's $max
            products.update_one({"_id": "P2"}, [{"$set": {"available": 0}}])
    assert list(products.find({}, {"_id": 1, "available": 1})) == [{"_id": "P1", "available": 9},
                                                                   {"_id": "P2", "available": 10}]


def test_owners_of_other_partitions_and_guards_that_miss_are_not_fenced(products):
    with fencing.writing_as(GROUP, {PARTITION: 5}):
        products.update_one({"_id": "P1"}, {"$inc": {"available": -1}})
    with fencing.writing_as(GROUP, {OTHER: 1}):  # another partition's owner shares the product
        products.update_one({"_id": "P1"}, {"$inc": {"available": -1}})
    with fencing.writing_as(GROUP, {PARTITION: 5}):
        missed = products.update_one({"_id": "P1", "available": {"$gte": 100}}, {"$inc": {"available": -100}})
    assert missed.matched_count == 0  # the guard refused, as without fencing: no exception
    assert products.find_one({"_id": "P1"})["available"] == 8


def test_writes_outside_a_handler_are_not_fenced(products):
    with fencing.writing_as(GROUP, {PARTITION: 7}):
        products.update_one({"_id": "P1"}, {"$inc": {"available": -1}})
    products.update_one({"_id": "P1"}, {"$inc": {"available": 5}})  # a restock from the web site
    assert products.find_one({"_id": "P1"})["available"] == 14


def test_a_document_named_by_a_record_key_carries_only_the_epochs_of_that_keys_partitions(products):
    # as for orders: the document P1 is the key of an event from PARTITION, P2 of one from OTHER
    products.insert_one({"_id": "P3", "available": 10})  # named by no key, like a product every order changes
    with fencing.writing_as(GROUP, {PARTITION: 3, OTHER: 4}, [("P1", PARTITION), ("P2", OTHER)]):
        products.bulk_write([UpdateOne({"_id": doc_id}, {"$inc": {"available": -1}}) for doc_id in ("P1", "P2", "P3")])
    fences = {doc["_id"]: doc[fencing.FIELD] for doc in products.find()}
    assert fences == {"P1": {fencing.lease_key(GROUP, PARTITION): 3}, "P2": {fencing.lease_key(GROUP, OTHER): 4},
                      "P3": {fencing.lease_key(GROUP, PARTITION): 3, fencing.lease_key(GROUP, OTHER): 4}}
    with fencing.writing_as(GROUP, {PARTITION: 2}, [("P1", PARTITION)]):  # PARTITION's older owner
        with pytest.raises(fencing.Fenced):
            products.update_one({"_id": "P1"}, {"$inc": {"available": -1}})
        products.update_one({"_id": "P2"}, {"$inc": {"available": -1}})  # P2's events come from OTHER
    assert [doc["available"] for doc in products.find(sort=[("_id", 1)])] == [9, 8, 9]
