"""JSON logs: one line per request and per event handled, and `logs --order` putting one order's together."""

import json
import os
import pty
import subprocess
import uuid
from datetime import datetime

from tests.stack import REPO, get_json, manage_all, process_env, wait_for

# each consumer's line about the event it handled, in causal order
CHAIN = [("consumer-payment-1", "order_placed"), ("consumer-inventory-1", "payment_processed"),
         ("consumer-shipment-1", "inventory_updated"), ("consumer-order-1", "shipment_processed")]


def order_log(order_id: str) -> list[dict]:
    answer = manage_all("logs", "--order", order_id, "--json", check=False)
    return [json.loads(line) for line in answer.stdout.splitlines()]


def test_one_order_has_lines_from_the_order_site_and_the_four_consumers_in_time_order(shipped_order):
    def complete():  # the order consumer logs its last event once the batch is done, just after the status moved
        lines = order_log(shipped_order)
        return set(CHAIN) <= {(line["component"], line.get("event_type")) for line in lines} and lines
    lines = wait_for(complete, timeout=30, what="every consumer's line about the order")

    times = [datetime.fromisoformat(line["timestamp"]) for line in lines]
    assert times == sorted(times)
    placed = [line for line in lines if line["component"] == "web-order" and line.get("method") == "POST"]
    assert len(placed) == 1 and placed[0]["path"] == "/orders" and placed[0]["status"] == 201
    steps = [(line["component"], line.get("event_type")) for line in lines]
    assert [steps.index(step) for step in CHAIN] == sorted(steps.index(step) for step in CHAIN), steps

    # the same lines for a person, one each; more may have come since (the mail is sent after the order ships)
    human = manage_all("logs", "--order", shipped_order).stdout.splitlines()
    assert len(human) >= len(lines) and "web-order" in human[0] and "POST /orders 201" in human[0]


def test_an_event_line_says_which_event_it_was_and_where_it_was_read(shipped_order):
    code, timeline = get_json("order", f"/orders/{shipped_order}/timeline")
    assert code == 200
    # the events the order consumer applied (order_placed was not read from a topic: its offset is None)
    applied = {(e["event_type"], e["topic"], e["partition"], e["offset"]) for e in timeline if e["offset"] is not None}

    def order_consumer_lines():
        lines = [line for line in order_log(shipped_order) if line["component"] == "consumer-order-1"]
        return len(lines) >= len(applied) and lines
    lines = wait_for(order_consumer_lines, timeout=30, what="the order consumer's lines")
    assert {(line["event_type"], line["topic"], line["partition"], line["offset"]) for line in lines} >= applied
    for line in lines:
        assert line["order_id"] == shipped_order and line["correlation_id"] == shipped_order
        assert line["event_id"] and line["level"] == "INFO"


def test_an_unknown_order_has_no_lines():
    never_used = f"no-such-order-{uuid.uuid4().hex}"  # other tests ask the sites for made-up ids too
    answer = manage_all("logs", "--order", never_used, check=False)
    assert answer.returncode == 1 and f"no log line names order {never_used}" in answer.stderr


def log_output(*, terminal: bool, call: str = "info('hello %s', 'there')") -> str:
    """What a site's process writes for one log call, to a terminal or to a pipe (as `up` sends it to a file)."""
    code = f"import logging, django; django.setup(); logging.getLogger('orderpipe.check').{call}"
    env = process_env(DJANGO_SETTINGS_MODULE="order_site.settings", PYTHONPATH=f"{REPO / 'order_site'}:{REPO}")
    env.pop("LOG_FORMAT", None)
    python = str(REPO / ".venv/bin/python")
    if not terminal:
        return subprocess.run([python, "-c", code], env=env, capture_output=True, text=True, timeout=60).stderr
    leader, follower = pty.openpty()
    subprocess.run([python, "-c", code], env=env, stderr=follower, timeout=60)
    os.close(follower)
    output = os.read(leader, 65536).decode()
    os.close(leader)
    return output


def test_lines_are_json_in_a_file_and_plain_text_on_a_terminal():
    line = json.loads(log_output(terminal=False).strip().splitlines()[-1])
    assert line["message"] == "hello there" and line["logger"] == "orderpipe.check" and line["timestamp"]
    plain = log_output(terminal=True)
    assert "INFO orderpipe.check: hello there" in plain and "{" not in plain


def test_a_line_with_what_orjson_refuses_is_still_written_as_json():
    # a lone surrogate is what json.loads makes of an event's "\\udc80"; orjson refuses it and integers > 64 bits
    line = json.loads(log_output(terminal=False, call="warning('bad %s', '\\udc80', extra={'offset': 2 ** 70})")
                      .strip().splitlines()[-1])
    assert line["message"] == "bad \udc80" and line["offset"] == 2 ** 70 and line["level"] == "WARNING"
