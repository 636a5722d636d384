"""The admin of each site: behind a staff login, with pages over its MongoDB documents."""

import re
import subprocess

import pytest
import requests

from tests.factories import OrderRequestFactory, ProductFactory
from tests.stack import REPO, process_env, url, wait_for

PASSWORD = "a-test-only-password"  # for a user that exists only in the test stack's SQLite files


@pytest.fixture(scope="module")
def staff():
    for site in ("order", "inventory"):
        env = process_env(DJANGO_SUPERUSER_USERNAME="staff", DJANGO_SUPERUSER_PASSWORD=PASSWORD,
                          DJANGO_SUPERUSER_EMAIL="staff@example.com")
        subprocess.run([str(REPO / ".venv/bin/python"), "manage.py", "createsuperuser", "--noinput"],
                       cwd=REPO / f"{site}_site", env=env, capture_output=True, text=True, timeout=60)
    return "staff"


def login(site: str) -> requests.Session:
    session = requests.Session()
    page = session.get(url(site, "/admin/login/"), timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = session.post(url(site, "/admin/login/?next=/admin/"), timeout=10, headers={"Referer": page.url},
                          data={"csrfmiddlewaretoken": token, "username": "staff", "password": PASSWORD})
    assert answer.status_code == 200 and "Log out" in answer.text, answer.text[:500]
    return session


def test_the_admin_needs_a_staff_login():
    answer = requests.get(url("order", "/admin/orders/orders/"), timeout=10, allow_redirects=False)
    assert answer.status_code == 302 and "/admin/login/" in answer.headers["Location"]


def test_orders_are_listed_searched_and_shown_with_their_timeline(staff):
    order = requests.post(url("order", "/orders"), json=OrderRequestFactory(), timeout=10).json()
    session = login("order")
    assert "Orders (MongoDB)" in session.get(url("order", "/admin/"), timeout=10).text
    listing = session.get(url("order", "/admin/orders/orders/"), params={"q": order["customer_id"]}, timeout=10)
    assert listing.status_code == 200 and order["order_id"] in listing.text and "1 in all" in listing.text

    def shipped_page():
        page = session.get(url("order", f"/admin/orders/orders/{order['order_id']}/"), timeout=10).text
        return "shipment_processed" in page and page
    page = wait_for(shipped_page, timeout=30, what="the timeline in the admin")
    assert "Timeline" in page and "payment_processed" in page
    assert session.get(url("order", "/admin/orders/orders/no-such-order/"), timeout=10).status_code == 404


def test_staff_restock_a_product_in_the_admin(staff):
    product = ProductFactory(available=5)
    session = login("inventory")
    detail = url("inventory", f"/admin/inventory/products/{product['_id']}/")
    page = session.get(detail, timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    for quantity in ("20", "-3"):
        session.post(detail, data={"csrfmiddlewaretoken": token, "quantity": quantity}, timeout=10,
                     headers={"Referer": detail})
    answer = requests.get(url("inventory", f"/inventory/{product['_id']}"), timeout=10).json()
    assert answer["available"] == 25  # the 20 went in, the -3 was refused


def test_the_restock_endpoint_is_for_staff_only(staff):
    product = ProductFactory(available=5)
    endpoint = url("inventory", f"/inventory/{product['_id']}/restock")
    assert requests.post(endpoint, json={"quantity": 5}, timeout=10).status_code in (401, 403)
    answer = requests.post(endpoint, json={"quantity": 5}, auth=("staff", PASSWORD), timeout=10)
    assert answer.status_code == 200 and answer.json()["available"] == 10
    bad = requests.post(endpoint, json={"quantity": 0}, auth=("staff", PASSWORD), timeout=10)
    assert bad.status_code == 400 and "quantity" in bad.json()
