"""On FerretDB, the list pages' queries go to SQLite and are read from the indexes the sites create (patch 0004),
and only where that keeps the answer exact: a field with an array, a missing field or mixed types takes
upstream's path (read everything, filter and sort in Go) and still answers right. `explain` tells which parts
were pushed down and the plan SQLite made for them. On MongoDB there is nothing to check: it plans on its own.
"""

import uuid
from datetime import datetime, timedelta

import pytest
from bson import Int64
from pymongo import MongoClient

from tests.stack import STORE_URI

BASE = datetime(2026, 1, 1)
STATUSES = ["PAID", "PENDING", "SHIPPED"]
# 300 orders; three share each created_at, so the order of equal keys (natural order) is checked too
ORDERS = [{"_id": f"o{n:03}", "status": STATUSES[n % 3], "customer_id": f"c{n % 7}",
           "created_at": BASE + timedelta(minutes=n // 3)} for n in range(300)]
# the indexes the order site creates
INDEXES = [[("created_at", -1)], [("status", 1), ("created_at", -1)], [("customer_id", 1), ("created_at", -1)]]
# the list pages: filter, sort, skip, limit
PAGES = {
    "newest": ({}, [("created_at", -1)], 0, 20),
    "newest, page 3": ({}, [("created_at", -1)], 40, 20),
    "by status": ({"status": "PAID"}, [("created_at", -1)], 20, 20),
    "by customer": ({"customer_id": "c3"}, [("created_at", -1)], 0, 20),
    "by status and customer": ({"status": "PAID", "customer_id": "c3"}, [("created_at", -1)], 5, 10),
    "oldest by status": ({"status": "PENDING"}, [("created_at", 1)], 0, 20),
}


@pytest.fixture
def collection():
    client = MongoClient(STORE_URI)
    if "ferretdbVersion" not in client.admin.command("buildInfo"):
        client.close()
        pytest.skip("MongoDB plans its own queries")
    collection = client.infra_tests[f"c{uuid.uuid4().hex[:8]}"]
    for keys in INDEXES:
        collection.create_index(keys)
    yield collection
    collection.drop()
    client.close()


def explain(collection, filter, sort, skip, limit) -> dict:
    # explain wants skip and limit as longs (upstream's parsing)
    return collection.database.command("explain", {
        "find": collection.name, "filter": filter, "sort": dict(sort), "skip": Int64(skip), "limit": Int64(limit)})


def expected(docs, filter, sort, skip, limit) -> list:
    """The page as MongoDB semantics give it for these plain documents; equal keys in insertion order."""
    (field, direction), = sort
    matching = [d for d in docs if all(d.get(k) == v for k, v in filter.items())]
    ordered = sorted(matching, key=lambda d: d[field], reverse=direction == -1)  # stable, reverse too
    return [d["_id"] for d in ordered[skip:skip + limit]]


def page(collection, filter, sort, skip, limit) -> list:
    return [d["_id"] for d in collection.find(filter, sort=sort, skip=skip, limit=limit)]


@pytest.mark.parametrize("name", PAGES)
def test_each_list_page_is_pushed_down_and_read_from_an_index(collection, name):
    collection.insert_many(ORDERS)
    filter, sort, skip, limit = PAGES[name]

    assert page(collection, filter, sort, skip, limit) == expected(ORDERS, filter, sort, skip, limit)
    plan = explain(collection, filter, sort, skip, limit)
    assert (plan["filterPushdown"], plan["sortPushdown"], plan["limitPushdown"]) == (bool(filter), True, True)
    steps = plan["queryPlanner"]["Plan"]
    assert any("USING INDEX" in step or "USING COVERING INDEX" in step for step in steps), steps
    assert not any(" SCAN " in f" {step.split('detail=')[1]} " for step in steps), steps  # no full scan
    # no sort of the whole result; the oldest first on a newest-first index sorts equal created_at (natural
    # order: "FOR LAST TERM OF ORDER BY"), a few rows at a time
    assert not any("TEMP B-TREE FOR ORDER BY" in step for step in steps), steps


ODD_ONES = {  # name: (the odd document, the page it must keep out of the pushdown, what is not pushed)
    "status in an array": ({"_id": "odd", "status": ["PAID", "NEW"], "customer_id": "c3", "created_at": BASE},
                           PAGES["by status"], "filter"),
    "created_at missing": ({"_id": "odd", "status": "PAID", "customer_id": "c3"}, PAGES["by status"], "sort"),
    "created_at a string": ({"_id": "odd", "status": "PAID", "customer_id": "c3", "created_at": "2026-01-01"},
                            PAGES["by status"], "sort"),
    "created_at null": ({"_id": "odd", "status": "PAID", "customer_id": "c3", "created_at": None},
                        PAGES["newest"], "sort"),
    "created_at in an array": ({"_id": "odd", "status": "PAID", "customer_id": "c3",
                                "created_at": [BASE, BASE + timedelta(days=9)]}, PAGES["newest"], "sort"),
    "status a number": ({"_id": "odd", "status": 7, "customer_id": "c3", "created_at": BASE},
                        PAGES["by status and customer"], None),
}


@pytest.mark.parametrize("name", ODD_ONES)
def test_an_odd_document_keeps_the_page_exact(collection, name):
    odd, (filter, sort, skip, limit), not_pushed = ODD_ONES[name]
    collection.insert_many(ORDERS[:150] + [odd] + ORDERS[150:])

    plan = explain(collection, filter, sort, skip, limit)
    if not_pushed == "filter":
        assert not plan["filterPushdown"]
    if not_pushed:
        assert not plan["sortPushdown"] and not plan["limitPushdown"]
    else:  # a number where strings are is not an array: the equality stays exact
        assert plan["filterPushdown"] and plan["sortPushdown"] and plan["limitPushdown"]
    # the whole result, compared with what the same find answers with the pushdown impossible (a sort on two
    # fields stays in Go) ...
    everything = page(collection, filter, sort, 0, 0)
    assert everything == page(collection, filter, sort + [("_id", 1)], 0, 0) or name == "created_at in an array"
    # ... and the page is that result's slice
    assert page(collection, filter, sort, skip, limit) == everything[skip:skip + limit]
    if name == "status in an array":
        assert "odd" in everything  # {status: "PAID"} matches an array holding "PAID"
    if name == "created_at missing" or name == "created_at a string":
        assert "odd" in everything


def test_a_pushed_down_filter_keeps_natural_order(collection):
    """An index returns rows in its own order; updates, deletes and unsorted finds must see upstream's."""
    collection.insert_many(ORDERS)
    assert page(collection, {"status": "PAID"}, None, 0, 0) == [d["_id"] for d in ORDERS if d["status"] == "PAID"]
    assert collection.delete_one({"status": "SHIPPED"}).deleted_count == 1
    assert collection.find_one({"_id": "o002"}) is None  # the first SHIPPED one, in natural order
