"""What a person sees in a browser: the Kafka console, an order followed on it, an admin page, Swagger UI."""

import subprocess
import uuid

import pytest
import requests
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser.conftest import wait_until
from tests.factories import OrderRequestFactory, ProductFactory
from tests.stack import MANAGE_ALL, console_url, order_status, process_env, url, wait_for

pytestmark = pytest.mark.browser


def texts(driver, selector: str) -> list[str]:
    """The text of every element the selector finds, read in one go (the console reloads itself every few
    seconds: elements found one by one could belong to two different loads of the page)."""
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(element => element.innerText.trim())", selector)


def act(driver, action, what: str) -> None:
    """Do `action(driver)` until it works: the console refreshes its content every few seconds, so an element
    found a moment ago may have been replaced by the time it is clicked."""

    def attempt(d) -> bool:
        try:
            action(d)
        except WebDriverException:  # stale, or chromedriver's "node does not belong to the document"
            return False
        return True

    wait_until(driver, attempt, what)


def test_the_console_overview_shows_the_sites_and_the_topics_between_them(browser):
    browser.get(console_url("/"))
    boxes = wait_until(browser, lambda d: len(texts(d, ".sites .box .name")) >= 4 and texts(d, ".sites .box .name"),
                       "the sites' boxes")
    assert {"order", "payment", "inventory", "shipment"} <= set(boxes)
    arrows = wait_until(browser, lambda d: texts(d, ".flow .arrow a"), "the topics' arrows")
    assert {"order_placed", "payment_processed", "inventory_updated", "shipment_processed"} <= set(arrows)
    order_placed = wait_until(browser, lambda d: texts(d, "#flow-order_placed"), "an arrow")[0]
    assert "msg/s" in order_placed and "payment" in order_placed  # its rate, and who reads it


def test_a_topic_page_opens_from_the_overview_and_lists_its_records(browser):
    browser.get(console_url("/"))
    act(browser, lambda d: d.find_element(By.LINK_TEXT, "order_placed").click(), "a click on the order_placed arrow")
    wait_until(browser, lambda d: texts(d, "h1") == ["Topic order_placed"], "the topic page")
    values = wait_until(browser, lambda d: texts(d, "#messages pre"), "its records")
    assert '"event_type": "order_placed"' in values[0]  # the JSON envelope, pretty-printed


def test_an_order_id_typed_into_follow_an_order_shows_its_four_events(browser):
    product = ProductFactory(available=5)
    body = OrderRequestFactory(items=[{"product_id": product["_id"], "quantity": 1, "price": 10.0}])
    order_id = requests.post(url("order", "/orders"), json=body, timeout=30).json()["order_id"]
    wait_for(lambda: order_status(order_id) == "SHIPPED", timeout=120, what="the order to ship")

    browser.get(console_url("/"))
    act(browser, lambda d: d.find_element(By.LINK_TEXT, "Follow an order").click(), "a click on the menu")
    wait_until(browser, lambda d: texts(d, "h1") == ["Follow an order"], "its page")
    act(browser, lambda d: d.find_element(By.ID, "order-id").send_keys(order_id, Keys.ENTER), "typing the order id")
    events = ["order_placed", "payment_processed", "inventory_updated", "shipment_processed"]
    wait_until(browser, lambda d: texts(d, "#hops .hop .type") == events, "the order's four events in causal order")
    assert f"Every event of order {order_id}" in wait_until(browser, lambda d: texts(d, "main p.note"), "the note")[0]


@pytest.fixture(scope="module")
def staff_user():
    """A staff user of the order site, made the way a person would: `manage.py createsuperuser`."""
    name, password = f"browser-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    env = process_env(DJANGO_SUPERUSER_USERNAME=name, DJANGO_SUPERUSER_PASSWORD=password,
                      DJANGO_SUPERUSER_EMAIL=f"{name}@example.com")
    made = subprocess.run([str(MANAGE_ALL), "manage", "order", "createsuperuser", "--noinput"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert "Superuser created" in made.stdout, made.stdout + made.stderr
    return name, password


def test_an_admin_page_after_logging_in(browser, staff_user):
    name, password = staff_user
    browser.get(url("order", "/admin/"))
    wait_until(browser, lambda d: d.find_element(By.ID, "id_username"), "the login form").send_keys(name)
    browser.find_element(By.ID, "id_password").send_keys(password, Keys.ENTER)
    wait_until(browser, lambda d: "Site administration" in d.find_element(By.TAG_NAME, "body").text,
               "the admin's index after the login")
    assert "Orders" in browser.find_element(By.ID, "content-main").text


def test_the_order_site_s_swagger_ui_renders_its_operations(browser):
    browser.get(url("order", "/api/docs"))
    operations = wait_until(browser, lambda d: texts(d, ".opblock-summary"), "Swagger UI's operations")
    assert any("POST" in op and "/orders" in op for op in operations), operations
    assert any("GET" in op and "/orders/{order_id}" in op for op in operations), operations


def test_follow_an_order_links_to_its_trace_and_zipkin_draws_all_five_services(browser):
    order_id = requests.post(url("order", "/orders"), json=OrderRequestFactory(), timeout=30).json()["order_id"]
    wait_for(lambda: order_status(order_id) == "SHIPPED", timeout=120, what="the order to ship")

    browser.get(console_url(f"/orders?order_id={order_id}"))
    act(browser, lambda d: d.find_element(By.ID, "trace-link").click(), "a click on the order's trace")
    services = {f"{site}-service" for site in ("order", "payment", "inventory", "shipment", "notification")}
    # Zipkin's page fills in as the processes' spans arrive (each sends them within a second or so): reload until
    wait_until(browser, lambda d: all(f"{service}:" in d.find_element(By.TAG_NAME, "body").text for service in services)
               or d.refresh(), "Zipkin's trace page to show the five services")
    assert "/zipkin/traces/" in browser.current_url
