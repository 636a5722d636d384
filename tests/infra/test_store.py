"""The MongoDB-wire store that manage_all.sh runs (FerretDB locally): the operations the sites rely on."""

import uuid

import pytest
from pymongo import MongoClient, ReturnDocument
from pymongo.errors import DuplicateKeyError

from tests.stack import STORE_URI


@pytest.fixture
def collection():
    client = MongoClient(STORE_URI)
    collection = client.infra_tests[f"c{uuid.uuid4().hex[:8]}"]
    yield collection
    collection.drop()
    client.close()


def test_insert_find_and_count(collection):
    collection.insert_many([{"_id": n, "status": "A" if n % 2 else "B"} for n in range(10)])
    assert collection.count_documents({"status": "A"}) == 5
    assert [d["_id"] for d in collection.find({"status": "B"}, sort=[("_id", -1)], skip=1, limit=2)] == [6, 4]


def test_guarded_inc_takes_stock_only_while_there_is_enough(collection):
    collection.insert_one({"_id": "P", "available": 5})

    def take(quantity):
        return collection.find_one_and_update(
            {"_id": "P", "available": {"$gte": quantity}}, {"$inc": {"available": -quantity}},
            return_document=ReturnDocument.AFTER)

    assert take(3)["available"] == 2
    assert take(3) is None  # the guard refused: no negative stock
    assert collection.find_one({"_id": "P"})["available"] == 2


def test_push_and_pull(collection):
    entry = {"event_id": "e1", "occurred_at": "2026-11-25T14:00:00.000Z", "payload": {"lines": [{"q": 1}]}}
    collection.insert_one({"_id": "d", "outbox": [], "holds": []})
    collection.update_one({"_id": "d"}, {"$push": {"outbox": entry, "holds": "order-1"}})
    assert collection.count_documents({"holds": "order-1"}) == 1
    assert collection.count_documents({"outbox.occurred_at": {"$lt": "2026-11-25T15:00:00.000Z"}}) == 1
    collection.update_one({"_id": "d"}, {"$pull": {"holds": "order-1"}})
    assert collection.find_one({"_id": "d"}) == {"_id": "d", "outbox": [entry], "holds": []}


def test_unique_index_rejects_a_second_document_with_the_same_key(collection):
    collection.create_index("order_id", unique=True)
    collection.insert_one({"order_id": "o-1"})
    with pytest.raises(DuplicateKeyError):
        collection.insert_one({"order_id": "o-1"})
    with pytest.raises(DuplicateKeyError):
        collection.insert_one({"_id": collection.find_one()["_id"]})
    assert collection.count_documents({}) == 1


def test_a_guard_on_a_scalar_array_refuses_a_second_hold(collection):
    collection.insert_one({"_id": "P", "available": 10, "holds": ["o-1", "o-2"]})

    def hold(order_id):
        return collection.update_one({"_id": "P", "available": {"$gte": 1}, "holds": {"$ne": order_id}},
                                     {"$inc": {"available": -1}, "$push": {"holds": order_id}}).modified_count

    assert (hold("o-2"), hold("o-3"), hold("o-3")) == (0, 1, 0)
    assert collection.find_one({"_id": "P"}) == {"_id": "P", "available": 9, "holds": ["o-1", "o-2", "o-3"]}


def test_a_guarded_write_by_id_uses_the_id_index_on_ferretdb(collection):
    """FerretDB 1.24 used its _id index only for a filter that is `{_id: x}` alone; manage_all.sh builds it so
    that the `_id` part of any filter goes to SQLite (every guarded update here is `{_id: x, …}`)."""
    if "ferretdbVersion" not in collection.database.client.admin.command("buildInfo"):
        pytest.skip("MongoDB plans its own queries")
    collection.insert_many([{"_id": f"d{n}", "status": "PENDING"} for n in range(3)])

    def pushed_down(query):
        return collection.database.command("explain", {"find": collection.name, "filter": query})["filterPushdown"]

    assert pushed_down({"_id": "d1"})
    assert pushed_down({"_id": "d1", "status": "PENDING"})  # False with the upstream build
    # an operator without an _id still reads the whole collection (string equalities do not: patch 0004,
    # tests/infra/test_store_pushdown.py)
    assert not pushed_down({"status": {"$in": ["PENDING"]}})
