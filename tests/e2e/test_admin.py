"""The admin of each site: behind a staff login, with pages over its MongoDB documents."""

import pytest
import requests

from tests.factories import OrderRequestFactory, ProductFactory
from tests.stack import STAFF_PASSWORD, admin_post, staff_session, url, wait_for


@pytest.fixture(scope="module")
def staff():
    """Staff users on the order and inventory sites."""
    for site in ("order", "inventory"):
        staff_session(site)


def test_the_admin_needs_a_staff_login():
    answer = requests.get(url("order", "/admin/orders/orders/"), timeout=10, allow_redirects=False)
    assert answer.status_code == 302 and "/admin/login/" in answer.headers["Location"]


def test_orders_are_listed_searched_and_shown_with_their_timeline(staff):
    order = requests.post(url("order", "/orders"), json=OrderRequestFactory(), timeout=10).json()
    session = staff_session("order")
    assert "Orders (MongoDB)" in session.get(url("order", "/admin/"), timeout=10).text
    listing = session.get(url("order", "/admin/orders/orders/"), params={"q": order["customer_id"]}, timeout=10)
    assert listing.status_code == 200 and listing.text.count("<tr><td><a href=") == 1
    assert f'<a href="{order["order_id"]}/">' in listing.text

    def shipped_page():
        page = session.get(url("order", f"/admin/orders/orders/{order['order_id']}/"), timeout=10).text
        return "Timeline" in page and "shipment_processed" in page and page
    page = wait_for(shipped_page, timeout=30, what="the timeline in the admin")
    assert "payment_processed" in page and "fence" not in page  # the consumers' epochs are not the order's
    assert session.get(url("order", "/admin/orders/orders/no-such-order/"), timeout=10).status_code == 404


def test_staff_restock_a_product_in_the_admin(staff):
    product = ProductFactory(available=5)
    session = staff_session("inventory")
    detail = url("inventory", f"/admin/inventory/products/{product['_id']}/")
    for quantity in ("20", "-3"):
        admin_post(session, detail, action="Restock", quantity=quantity)
    answer = requests.get(url("inventory", f"/inventory/{product['_id']}"), timeout=10).json()
    assert answer["available"] == 25  # the 20 went in, the -3 was refused


def test_the_restock_endpoint_is_for_staff_only(staff):
    product = ProductFactory(available=5)
    endpoint = url("inventory", f"/inventory/{product['_id']}/restock")
    assert requests.post(endpoint, json={"quantity": 5}, timeout=10).status_code in (401, 403)
    answer = requests.post(endpoint, json={"quantity": 5}, auth=("staff", STAFF_PASSWORD), timeout=10)
    assert answer.status_code == 200 and answer.json()["available"] == 10
    bad = requests.post(endpoint, json={"quantity": 0}, auth=("staff", STAFF_PASSWORD), timeout=10)
    assert bad.status_code == 400 and "quantity" in bad.json()
