"""Poison events on every topic: each lands in its topic's dead-letter topic, with the reason, and the
pipeline goes on; `manage.py dlt` lists and replays them."""

import json
import re
import subprocess
import uuid

import pytest
import requests

from common import kafka
from common.events import TOPICS
from infra.stack import topic_records
from tests.factories import order_placed
from tests.faults.pipeline import wait_until_consumed
from tests.stack import REPO, order_status, process_env, url, wait_for

pytestmark = pytest.mark.faults

# Which site's consumer group reads each topic: every one of them dead-letters a poison event on its own.
READERS = {"order_placed": {"payment-service", "notification-service"},
           "order_cancelled": {"shipment-service"},
           "payment_processed": {"order-service", "inventory-service", "notification-service"},
           "payment_refunded": {"order-service", "notification-service"},
           "inventory_updated": {"order-service", "payment-service", "shipment-service"},
           "shipment_processed": {"order-service", "payment-service", "inventory-service", "notification-service"}}


def poisons(topic: str) -> dict[str, tuple[bytes, str]]:
    """Three kinds of poison for a topic, each under a key of its own, with the reason its dead letter gives (a
    pattern)."""
    valid = order_placed().to_dict()
    wrong_version = {**valid, "event_type": topic, "schema_version": 99}
    bad_payload = {**valid, "event_type": topic, "payload": {"nonsense": True}}
    return {f"poison-{uuid.uuid4().hex[:8]}": poison for poison in (
        (b"\x00not json", r"not JSON: "),
        (json.dumps(wrong_version).encode(), r"invalid event: schema_version: .*unknown schema version 99"),
        (json.dumps(bad_payload).encode(), r"invalid event: payload\.\w+: Field required"))}


def test_poison_on_every_topic_goes_to_its_dead_letter_topic_and_nothing_stops():
    sent = {}
    for topic in TOPICS:
        for key, (value, reason) in poisons(topic).items():
            metadata = kafka.producer().send(topic, key=key.encode(), value=value).get(timeout=10)
            sent[key] = (topic, value, reason, metadata.partition, metadata.offset)
    wait_until_consumed()

    dead = topic_records(set(sent), topics=tuple(f"{t}.DLT" for t in TOPICS))
    by_key = {}
    for record in dead:
        by_key.setdefault(record.key.decode(), []).append(record)
    for key, (topic, value, reason, partition, offset) in sent.items():
        letters = by_key.get(key, [])
        assert {r.topic for r in letters} == {f"{topic}.DLT"}, f"{key} from {topic}: {[r.topic for r in letters]}"
        headers = [dict((k, v.decode()) for k, v in r.headers) for r in letters]
        assert {h["dlt.group"] for h in headers} == READERS[topic]
        for letter, header in zip(letters, headers, strict=True):
            assert letter.value == value  # the original bytes, untouched
            assert (header["dlt.topic"], int(header["dlt.partition"]), int(header["dlt.offset"])) == (
                topic, partition, offset)
            assert re.match(reason, header["dlt.reason"]), header["dlt.reason"]
    # poison is not elsewhere: no other topic's dead letters hold these keys, and nothing was processed
    assert sum(len(v) for v in by_key.values()) == sum(len(READERS[t]) for t, *_ in sent.values())

    # and the pipeline still works
    body = {"customer_id": "after-poison", "items": [{"product_id": "P001", "quantity": 1, "price": 29.99}],
            "shipping_address": "1 Clean Street", "total_amount": 29.99}
    order_id = requests.post(url("order", "/orders"), json=body, timeout=10).json()["order_id"]
    assert wait_for(lambda: order_status(order_id) == "SHIPPED", timeout=60, what="an order after the poison")


def manage(*args):
    return subprocess.run([str(REPO / ".venv/bin/python"), "manage.py", *args], cwd=REPO / "order_site",
                          env=process_env(), capture_output=True, text=True, timeout=120, check=True).stdout


def test_dlt_lists_dead_letters_with_their_reason_and_replays_them():
    key = f"poison-{uuid.uuid4().hex[:8]}"
    kafka.producer().send("order_cancelled", key=key.encode(), value=b"{broken").get(timeout=10)
    wait_until_consumed()

    listing = manage("dlt", "list", "order_cancelled")
    # (order_cancelled has one reader, the shipment site, so each replay adds exactly one copy)
    line = next(line for line in listing.splitlines() if f"key={key}" in line and "group=shipment-service" in line)
    assert "from order_cancelled[" in line
    assert "reason: not JSON" in listing.split(line, 1)[1].splitlines()[1]

    def copies():
        return manage("dlt", "list", "order_cancelled").count(f"key={key}")

    # Replaying sends each dead letter back once; this one is still poison, so it comes back each time.
    for expected in (2, 3):  # (a replay that re-sent old dead letters would make it 2, then 4)
        replayed = manage("dlt", "replay", "order_cancelled")
        assert replayed.startswith("replayed ") and int(replayed.split()[1]) >= 1, replayed
        wait_until_consumed()
        assert wait_for(lambda n=expected: copies() == n, timeout=30, what=f"{expected} copies in the dead letters")
