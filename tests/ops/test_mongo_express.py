"""Mongo Express, as `up` runs it: the stack's databases, behind the login `up` generated, on loopback only."""

import stat

import pytest
import requests

from tests.stack import MONGO_EXPRESS, OFFSET, STATE, manage_all, wait_for

pytestmark = pytest.mark.skipif(not MONGO_EXPRESS, reason="Mongo Express needs node and npm")

PORT = 8081 + OFFSET
ADDRESS = f"http://127.0.0.1:{PORT}"


@pytest.fixture(scope="module")
def password() -> str:
    secret = STATE / "mongo-express-password"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    return secret.read_text().strip()


def page(path: str, auth=None) -> requests.Response:
    def answered():
        try:
            return [requests.get(ADDRESS + path, auth=auth, timeout=30)]  # in a list: a 401 response is falsy
        except requests.ConnectionError:
            return None  # node is still starting
    return wait_for(answered, timeout=60, what="Mongo Express to answer")[0]


def test_up_prints_its_address_and_login(password):
    up = manage_all("up")
    assert f"Mongo Express: {ADDRESS}/: user admin, password {password}" in up.stdout, up.stdout
    assert password != "pass"  # mongo-express 1.0.0's default


def test_it_refuses_without_the_generated_password(password):
    assert page("/").status_code == 401
    assert page("/", auth=("admin", "pass")).status_code == 401
    assert page("/", auth=("admin", password + "x")).status_code == 401


def test_it_shows_the_pipeline_databases_and_their_documents(password, shipped_order):
    home = page("/", auth=("admin", password))
    assert home.status_code == 200
    for database in ("orders", "payments", "inventory", "shipments"):
        assert f'href="/db/{database}/"' in home.text, database
    assert 'href="/db/inventory/products"' in page("/db/inventory/", auth=("admin", password)).text
    order = page(f'/db/orders/orders/%22{shipped_order}%22', auth=("admin", password))  # the _id, as JSON
    assert order.status_code == 200 and shipped_order in order.text and "SHIPPED" in order.text


def test_it_listens_on_loopback_only():
    listening = set()
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, port = local.split(":")
        if state == "0A" and int(port, 16) == PORT:  # 0A: LISTEN
            listening.add(address)
    assert listening == {"0100007F"}  # 127.0.0.1, little-endian hex
