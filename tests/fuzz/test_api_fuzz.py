"""Every site's REST API fuzzed from its own OpenAPI schema (schemathesis), over HTTP against the running sites.

Whatever a client sends, the answer is never a 5xx, its status code is one the schema documents, its body and
content type match the schema, what the schema allows is accepted and what it forbids is refused, and the
staff-only operation refuses a request without credentials. Each operation is a test of its own:
`tests/fuzz/test_api_fuzz.py::test_…[payment][GET /payments/{order_id}]`.
"""

import re
import secrets
import subprocess

import pytest
import requests
import schemathesis

from tests.factories import OrderRequestFactory
from tests.stack import REPO, SITES, process_env, url

# Generated requests per operation in the fuzzing phase (the coverage phase adds its boundary cases): the whole
# module takes about two minutes on the 2-core machine.
EXAMPLES_PER_OPERATION = 15
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance", "positive_data_acceptance",
          "negative_data_rejection", "ignored_auth"]
# gunicorn's limit_request_line (its default): a longer request line is a 414, which no OpenAPI schema can describe
REQUEST_LINE_LIMIT = 4094
# Restocking is for staff, so the inventory site is fuzzed as a staff user (and `ignored_auth` tries it without).
STAFF = ("fuzz-staff", secrets.token_urlsafe(16))
def site_schema(site: str) -> schemathesis.BaseSchema:
    config = {
        "base-url": url(site, ""),
        "request-timeout": 30,  # a shared 2-core machine can take seconds to answer; a timeout is no finding
        "generation": {"max-examples": EXAMPLES_PER_OPERATION, "database": "none"},
        "checks": {"enabled": False, **{check: {"enabled": True} for check in CHECKS}},
    }
    if site == "order":
        # An order's total must equal the sum of its items, a rule JSON Schema cannot state: schema-valid data may
        # get that 400 (whose body the other checks still hold to the schema), and nothing else may refuse it.
        config["operations"] = [{"include-operation-id": "orders_create", "checks": {
            "positive_data_acceptance": {"expected-statuses": ["2XX", "400", "409", "429"]}}}]
    if site == "inventory":
        config["auth"] = {"basic": {"username": STAFF[0], "password": STAFF[1]}}
    # the schema itself is public: fetched without the staff login (which the fixture below makes only later)
    return schemathesis.openapi.from_url(url(site, "/api/schema"), config=schemathesis.Config.from_dict(config),
                                         wait_for_schema=60, auth=None)


@pytest.fixture(scope="module", autouse=True)
def staff_user():
    """The staff user in the inventory site's own user table, with this run's password."""
    make_staff = ("from django.contrib.auth.models import User\n"
                  f"user, _ = User.objects.get_or_create(username={STAFF[0]!r})\n"
                  "user.is_staff = True\n"
                  f"user.set_password({STAFF[1]!r})\n"
                  "user.save()")
    subprocess.run([str(REPO / ".venv/bin/python"), "manage.py", "shell", "-c", make_staff],
                   cwd=REPO / "inventory_site", env=process_env(), capture_output=True, text=True, timeout=120,
                   check=True)


@schemathesis.pytest.parametrize(**{site: site_schema(site) for site in SITES})
def test_whatever_a_client_sends_the_answer_is_documented_and_never_a_server_error(case):
    response = case.call()
    if response.status_code == 414:  # gunicorn refuses a request line over its limit before Django sees it
        assert len(response.request.url) > REQUEST_LINE_LIMIT - len("GET  HTTP/1.1"), response.request.url
        return
    case.validate_response(response)


# Every text input, where the fuzzer may or may not happen to try a NUL character: DRF refuses one with a 400.
TEXT_INPUTS = [("notification", "/notifications", "order_id"), ("order", "/orders", "customer_id"),
               ("order", "/orders", "shipping_address")]


@pytest.mark.parametrize(("site", "path", "field"), TEXT_INPUTS)
def test_a_nul_character_in_text_is_a_400_on_that_field_and_the_schema_says_so(site, path, field):
    schema = requests.get(url(site, "/api/schema"), params={"format": "json"}, timeout=30).json()
    operation = schema["paths"][path]["post" if field == "shipping_address" else "get"]
    if "requestBody" in operation:
        body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        field_schema = schema["components"]["schemas"][body]["properties"][field]
        response = requests.post(url(site, path), json={**OrderRequestFactory(), field: "a\x00b"}, timeout=10)
    else:
        field_schema = next(p["schema"] for p in operation["parameters"] if p["name"] == field)
        response = requests.get(url(site, path), params={field: "a\x00b"}, timeout=10)
    assert re.search(field_schema["pattern"], "ab") and not re.search(field_schema["pattern"], "a\x00b")
    assert response.status_code == 400, response.text
    assert field in response.json(), response.json()
