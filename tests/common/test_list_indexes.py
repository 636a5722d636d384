"""Every list a site reads is served by an index its store module creates (pure logic: no store).

MongoDB cannot run here, so this is how the project knows its lists stay fast there: each store module's list
functions (`*_page`) and each admin page run against collections that only record what they are asked, the
indexes the store module creates and the finds the lists issue. Every find must be in the shape
common.listing describes (top-level equality on scalar values, one sort field at most), and its filter's fields,
then its sort field, must be the first fields of one of those indexes.
"""

import importlib
import inspect
from itertools import combinations

import pytest
from django.contrib import admin

STORES = ["orders.store", "payments.store", "inventory.store", "shipments.store", "notifications.store"]


class RecordingCollection:
    """Answers nothing and records the indexes made on it and the finds sent to it."""

    def __init__(self):
        self.indexes = [["_id"]]  # every collection has it
        self.finds: list[tuple[dict, list[str]]] = []

    def create_index(self, keys, **options):
        self.indexes.append([keys] if isinstance(keys, str) else [name for name, _ in keys])

    def find(self, filter=None, projection=None, sort=None, skip=0, limit=0):
        self.finds.append((filter or {}, [name for name, _ in sort or []]))
        return []

    def find_one(self, filter=None, projection=None, sort=None):
        self.find(filter, projection, sort)

    def insert_one(self, document):  # the seeded products
        pass


def subsets(names) -> list[tuple[str, ...]]:
    return [subset for size in range(len(names) + 1) for subset in combinations(names, size)]


@pytest.fixture
def collections(monkeypatch) -> dict[str, RecordingCollection]:
    """Every collection of the store modules, as a recording one with the indexes its module creates."""
    made: dict[str, RecordingCollection] = {}
    modules = [importlib.import_module(name) for name in STORES]
    factories = [value for module in modules for value in vars(module).values()
                 if hasattr(value, "cache_clear") and value.__module__ == module.__name__]
    for module in modules:
        monkeypatch.setattr(module, "collection", lambda database, name: made.setdefault(f"{database}.{name}",
                                                                                          RecordingCollection()))
    for factory in factories:
        factory.cache_clear()
        factory()  # creates its indexes
    for recording in made.values():
        recording.finds.clear()  # what making them read (the products' upgrade) is not a list
    yield made
    for factory in factories:
        factory.cache_clear()  # the real collections again, for the tests that follow


def unserved(collections: dict[str, RecordingCollection]) -> list[str]:
    """Each find that no index serves, or that is not in the listing shape, with why."""
    problems = []
    for name, recording in collections.items():
        for where, sort in recording.finds:
            if len(sort) > 1 or any(key.startswith("$") or isinstance(value, dict | list)
                                    for key, value in where.items()):
                problems.append(f"{name}: {where} sorted on {sort} is not top-level equality and one sort")
            elif not any(set(index[:len(where)]) == set(where) and index[len(where):len(where) + len(sort)] == sort
                         for index in recording.indexes):
                problems.append(f"{name}: no index starts with {sorted(where)} then {sort} ({recording.indexes})")
    return problems


def test_every_store_list_is_served_by_an_index(collections):
    listed = 0
    for module in map(importlib.import_module, STORES):
        for name, function in vars(module).items():
            if name.endswith("_page") and inspect.isfunction(function):
                filters = [p for p in inspect.signature(function).parameters if p not in ("skip", "limit")]
                for chosen in subsets(filters):
                    function(**{p: "x" if p in chosen else None for p in filters}, skip=20, limit=20)
                    listed += 1
    assert listed >= 4 + 2 + 1 + 4  # orders, payments, shipments, notifications: each filter combination
    assert sum(len(recording.finds) for recording in collections.values()) == listed
    assert unserved(collections) == []


def test_every_admin_list_filter_and_search_is_served_by_an_index(collections):
    assert {page.name for page in admin.site.pages} == {"Orders", "Payments", "Products", "Reservations", "Shipments",
                                                        "Notifications", "Recipients"}
    for page in admin.site.pages:
        for names in subsets(list(page.filters)):
            chosen = {name: page.filters[name][0] for name in names}
            for search in ("", "x"):
                page.documents(chosen=chosen, search=search, skip=50)
        page.document_named("x")
    assert unserved(collections) == []


def test_a_list_without_its_index_is_found(collections):
    orders = collections["orders.orders"]
    orders.indexes.remove(["customer_id", "status", "created_at"])
    orders_store = importlib.import_module("orders.store")
    orders_store.orders_page(status="PAID", customer_id="c1", skip=0, limit=20)
    orders_store.orders_page(status="PAID", customer_id=None, skip=0, limit=20)
    [problem] = unserved(collections)
    assert "['customer_id', 'status'] then ['created_at']" in problem
