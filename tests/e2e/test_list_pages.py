"""List pages on the real store: the ids each page shows, and their order, against what the test inserted.

The documents are clones of those one real order made on every site, dated in 2100 so that every list, newest
first, starts with them whatever the other tests left in the store. Through the API (following `next`) and the
admin (a staff session).
"""

import html
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import requests

from inventory import store as inventory_store
from notifications import store as notification_store
from orders import store as order_store
from payments import store as payment_store
from shipments import store as shipment_store
from tests.factories import OrderRequestFactory, unique
from tests.stack import order_status, staff_session, url, wait_for

FUTURE = datetime(2100, 1, 1, tzinfo=UTC)
CUSTOMER_ORDERS = 55  # API pages of 20: 20, 20, 15; admin pages of 50: 50, 5
RARE = {7, 19}  # of the clones of a kind, those with the rare value (the customer's only PAID orders)


@pytest.fixture(scope="module")
def shipped():
    """The documents one real order made on every site, once it shipped and its mail went."""
    order_id = requests.post(url("order", "/orders"), json=OrderRequestFactory(), timeout=10).json()["order_id"]
    wait_for(lambda: order_status(order_id) == "SHIPPED", timeout=60, what="the order to ship")
    notification_id = notification_store.notification_id(order_id, "shipment_processed")
    wait_for(lambda: (notification_store.notification_get(notification_id) or {}).get("sent_at"), timeout=60,
             what="its mail")
    return {"orders": order_store.order_get(order_id), "payments": payment_store.payment_get(order_id),
            "shipments": shipment_store.shipment_get(order_id),
            "reservations": inventory_store.reservation_get(order_id),
            "notifications": notification_store.notification_get(notification_id),
            "recipients": notification_store.recipients().find_one({"_id": order_id})}


@pytest.fixture(scope="module")
def clones(shipped):
    """Insert clones of a document with some fields changed, each dated a minute after the one before; newest
    first, the clones are in the reverse order. Deleted at the end."""
    inserted = []

    def insert(collection, name: str, changes: list[dict]) -> list[dict]:
        documents = [{**shipped[name], "_id": str(uuid.uuid4()), "created_at": FUTURE + timedelta(minutes=n),
                      **change} for n, change in enumerate(changes)]
        collection.insert_many(documents)
        inserted.append((collection, [document["_id"] for document in documents]))
        return documents

    yield insert
    for collection, ids in inserted:
        collection.delete_many({"_id": {"$in": ids}})


@pytest.fixture(scope="module")
def orders(clones):
    """A customer with more orders than a page, two of them PAID, between another customer's PAID orders."""
    customer, other = unique("CUST"), unique("CUST")
    changes = []
    for n in range(CUSTOMER_ORDERS):
        changes.append({"customer_id": customer, "status": "PAID" if n in RARE else "SHIPPED"})
        if n % 10 == 5:
            changes.append({"customer_id": other, "status": "PAID"})
    documents = clones(order_store.orders(), "orders", changes)
    return customer, documents


def newest_first(documents: list[dict], **fields) -> list[str]:
    """The ids of those documents that have these fields, newest first."""
    chosen = [d for d in documents if all(d[name] == value for name, value in fields.items())]
    return [d["_id"] for d in sorted(chosen, key=lambda d: d["created_at"], reverse=True)]


def api_pages(site: str, path: str, *, pages: int = 100, **params) -> list[list[str]]:
    """The ids on each page of an API list, following `next` to the last page (or `pages` pages)."""
    ids, link = [], url(site, path)
    while link and len(ids) < pages:
        answer = requests.get(link, params=params, timeout=10)
        assert answer.status_code == 200, answer.text
        body, params = answer.json(), None  # `next` carries the parameters
        assert (body["previous"] is None) == (not ids)
        ids.append([item.get("notification_id") or item["order_id"] for item in body["results"]])
        link = body["next"]
    return ids


def admin_pages(session: requests.Session, site: str, path: str, *, pages: int = 100, **params) -> list[list[str]]:
    """The ids on each page of an admin list, following its "next" link to the last page (or `pages` pages)."""
    ids, link = [], url(site, path)
    while link and len(ids) < pages:
        answer = session.get(link, params=params, timeout=10)
        assert answer.status_code == 200, answer.text[:500]
        params = None
        ids.append(re.findall(r'<tr><td><a href="([^"]+)/">', answer.text))
        following = re.search(r'<a href="(\?[^"]*)">next</a>', answer.text)
        link = following and url(site, path) + html.unescape(following.group(1))
    return ids


def test_a_customers_orders_page_after_page_newest_first(orders):
    customer, documents = orders
    mine = newest_first(documents, customer_id=customer)
    assert api_pages("order", "/orders", customer_id=customer) == [mine[:20], mine[20:40], mine[40:]]
    assert api_pages("order", "/orders", customer_id=customer, page_size=50) == [mine[:50], mine[50:]]


def test_a_rare_status_of_one_customer_and_of_everyone(orders):
    customer, documents = orders
    paid = newest_first(documents, status="PAID")  # the 7 newest PAID orders in the store
    assert api_pages("order", "/orders", customer_id=customer, status="PAID") == [
        newest_first(documents, customer_id=customer, status="PAID")]
    assert api_pages("order", "/orders", status="PAID", page_size=7, pages=1) == [paid]
    first, second = api_pages("order", "/orders", status="PAID", page_size=5, pages=2)
    assert first == paid[:5] and second[:2] == paid[5:]  # page 2 goes on where page 1 ended


def test_the_newest_orders_of_everyone_come_first(orders):
    _, documents = orders
    assert api_pages("order", "/orders", page_size=len(documents), pages=1) == [newest_first(documents)]


def test_the_order_admin_lists_searches_filters_and_lands_on_an_order(orders):
    customer, documents = orders
    staff = staff_session("order")
    mine = newest_first(documents, customer_id=customer)
    assert admin_pages(staff, "order", "/admin/orders/orders/", q=customer) == [mine[:50], mine[50:]]
    assert admin_pages(staff, "order", "/admin/orders/orders/", q=customer, status="PAID") == [
        newest_first(documents, customer_id=customer, status="PAID")]
    assert admin_pages(staff, "order", "/admin/orders/orders/", pages=1) == [newest_first(documents)[:50]]
    assert admin_pages(staff, "order", "/admin/orders/orders/", status="PAID", pages=1)[0][:7] == newest_first(
        documents, status="PAID")
    assert admin_pages(staff, "order", "/admin/orders/orders/", q=unique("nobody")) == [[]]
    landed = staff.get(url("order", "/admin/orders/orders/"), params={"q": mine[3], "status": "PAID"}, timeout=10)
    assert landed.url == url("order", f"/admin/orders/orders/{mine[3]}/") and f"Orders: {mine[3]}" in landed.text


@dataclass(frozen=True)
class Listed:
    """Another site's list: a rare value of a filter among common ones, a search field, an id field."""
    site: str
    collection: Callable
    template: str  # its document in `shipped`
    admin: str
    api: str | None
    filter: tuple[str, str, str]  # field, rare value, common value
    search: str | None  # a field a search lists the documents of
    lookup: str  # a field a search for lands on the document
    api_filters: bool = False  # the API list takes the filter too

    def changes(self, token: str) -> list[dict]:
        field, rare, common = self.filter
        return [{field: rare if n in RARE else common, **({self.search: token} if self.search else {}),
                 self.lookup: unique(self.lookup) if self.lookup != "_id" else str(uuid.uuid4())}
                for n in range(25)]


LISTS = [
    Listed("payment", payment_store.payments, "payments", "/admin/payments/payments/", "/payments",
           ("status", "DECLINED", "COMPLETED"), "customer_id", "payment_id", api_filters=True),
    Listed("shipment", shipment_store.shipments, "shipments", "/admin/shipments/shipments/", "/shipments",
           ("status", "CANCELLED", "SHIPPED"), None, "tracking_number"),
    Listed("inventory", inventory_store.reservations, "reservations", "/admin/inventory/reservations/", None,
           ("status", "REJECTED", "RESERVED"), None, "_id"),
]


@pytest.mark.parametrize("listed", LISTS, ids=[listed.template for listed in LISTS])
def test_the_other_sites_lists_newest_first_filtered_and_searched(clones, listed):
    token = unique("token")
    documents = clones(listed.collection(), listed.template, listed.changes(token))
    field, rare, _ = listed.filter
    ours, rare_ones = newest_first(documents), newest_first(documents, **{field: rare})
    if listed.api:
        first, second = api_pages(listed.site, listed.api, pages=2)
        assert first == ours[:20] and second[:5] == ours[20:]
        if listed.api_filters:
            assert api_pages(listed.site, listed.api, pages=1, **{field: rare})[0][:len(RARE)] == rare_ones
    staff = staff_session(listed.site)
    assert admin_pages(staff, listed.site, listed.admin, pages=1)[0][:25] == ours
    assert admin_pages(staff, listed.site, listed.admin, pages=1, **{field: rare})[0][:len(RARE)] == rare_ones
    if listed.search:
        assert admin_pages(staff, listed.site, listed.admin, q=token) == [ours]
        assert admin_pages(staff, listed.site, listed.admin, q=token, **{field: rare}) == [rare_ones]
    target = documents[10]
    landed = staff.get(url(listed.site, listed.admin), params={"q": target[listed.lookup]}, timeout=10)
    assert landed.url == url(listed.site, f"{listed.admin}{target['_id']}/")


def test_notifications_by_order_and_event_type(clones):
    order_ids = [str(uuid.uuid4()) for _ in range(25)]
    changes = [{"_id": notification_store.notification_id(order_id, event_type), "order_id": order_id,
                "event_type": event_type}
               for n, order_id in enumerate(order_ids)
               for event_type in (("payment_processed", "payment_refunded") if n in RARE else ("shipment_processed",))]
    documents = clones(notification_store.notifications(), "notifications", changes)
    refunded, declined_order = newest_first(documents, event_type="payment_refunded"), order_ids[min(RARE)]
    first, second = api_pages("notification", "/notifications", pages=2)
    assert first + second[:len(documents) - 20] == newest_first(documents)
    assert api_pages("notification", "/notifications", order_id=declined_order) == [
        newest_first(documents, order_id=declined_order)]
    [newest_refunded] = api_pages("notification", "/notifications", event_type="payment_refunded", pages=1)
    assert newest_refunded[:len(RARE)] == refunded
    staff = staff_session("notification")
    admin = "/admin/notifications/notifications/"
    assert admin_pages(staff, "notification", admin, q=declined_order) == [
        newest_first(documents, order_id=declined_order)]
    assert admin_pages(staff, "notification", admin, q=declined_order, event_type="payment_refunded") == [
        newest_first(documents, order_id=declined_order, event_type="payment_refunded")]


def test_recipients_by_email_and_customer(clones):
    customer = unique("CUST")
    email = f"{customer}@customers.example"
    documents = clones(notification_store.recipients(), "recipients",
                       [{"customer_id": customer, "email": email} for _ in range(5)])
    staff = staff_session("notification")
    for search in (email, customer):
        assert admin_pages(staff, "notification", "/admin/notifications/recipients/", q=search) == [
            newest_first(documents)]


def test_products_are_listed_by_id():
    staff = staff_session("inventory")
    [first] = admin_pages(staff, "inventory", "/admin/inventory/products/", pages=1)
    assert first[:6] == ["P001", "P002", "P003", "P004", "P005", "P006"] and first == sorted(first)
