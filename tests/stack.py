"""The real test stack, as `./manage_all.sh test` started it: the stack helpers every tool shares (infra.stack),
and what only the tests do with it: addresses of its broker and store, admin sessions, reading its topics."""

import json
import os
import re
import shutil
import subprocess

import requests
from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

from infra.stack import (  # noqa: F401 (the tests import them from here)
    MANAGE_ALL,
    OFFSET,
    SITES,
    STATE,
    alive,
    console_url,
    kill_hard,
    manage_all,
    pid_of,
    process_env,
    url,
    wait_for,
)
from infra.stack import ROOT as REPO

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{9092 + OFFSET}")
STORE_URI = os.environ.get("MONGODB_URI", f"mongodb://127.0.0.1:{27017 + OFFSET}/")
# Mongo Express is optional: `up` installs and runs it where node and npm are, and everything else runs without it
MONGO_EXPRESS = bool(shutil.which("node") and shutil.which("npm"))


def zipkin_url(path: str) -> str:
    """Zipkin, the test stack's trace backend (its API under /api/v2, its UI under /zipkin/)."""
    return f"http://127.0.0.1:{9411 + OFFSET}{path}"


def get_json(site: str, path: str, **kwargs):
    response = requests.get(url(site, path), timeout=10, **kwargs)
    return response.status_code, (response.json() if response.headers.get("content-type", "").startswith(
        "application/json") else response.text)


STAFF_PASSWORD = "a-test-only-password"  # for a user that exists only in the test stack's SQLite files


def staff_session(site: str) -> requests.Session:
    """A session logged in to a site's admin as staff (the user is made the first time)."""
    env = process_env(DJANGO_SUPERUSER_USERNAME="staff", DJANGO_SUPERUSER_PASSWORD=STAFF_PASSWORD,
                      DJANGO_SUPERUSER_EMAIL="staff@example.com")
    subprocess.run([str(REPO / ".venv/bin/python"), "manage.py", "createsuperuser", "--noinput"],
                   cwd=REPO / f"{site}_site", env=env, capture_output=True, text=True, timeout=60)  # fails if made
    session = requests.Session()
    page = session.get(url(site, "/admin/login/"), timeout=10)
    answer = session.post(url(site, "/admin/login/?next=/admin/"), timeout=10, headers={"Referer": page.url},
                          data={"csrfmiddlewaretoken": csrf_token(page.text), "username": "staff",
                                "password": STAFF_PASSWORD})
    assert answer.status_code == 200 and "Log out" in answer.text, answer.text[:500]
    return session


def csrf_token(page: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def admin_post(session: requests.Session, page_url: str, **data) -> str:
    """Press a button on an admin page, as a person would: the page's token, the form's fields; the page after."""
    token = csrf_token(session.get(page_url, timeout=10).text)
    answer = session.post(page_url, data={"csrfmiddlewaretoken": token, **data}, headers={"Referer": page_url},
                          timeout=30)
    assert answer.status_code == 200, answer.text[:500]
    return answer.text


def order_status(order_id: str) -> str | None:
    code, body = get_json("order", f"/orders/{order_id}")
    return body["status"] if code == 200 else None


def records_for(topic: str, key: str, *, partitions: int | None = None) -> list:
    """Every record with this key on a topic (it is all on one partition: the key's)."""
    consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False, consumer_timeout_ms=1000)
    try:
        count = partitions or len(consumer.partitions_for_topic(topic))
        partition = TopicPartition(topic, (murmur2(key.encode()) & 0x7FFFFFFF) % count)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        end = consumer.end_offsets([partition])[partition]
        found = []
        while consumer.position(partition) < end:
            for record in consumer.poll(timeout_ms=1000).get(partition, []):
                if record.key == key.encode():
                    found.append(record)
        return found
    finally:
        consumer.close()


def unsent(collection, document_id: str) -> list[str]:
    """The event types of a document's outbox marks: events that still wait to be sent."""
    from common import outbox

    return [mark["event"]["event_type"] for mark in outbox.pending(collection) if mark["document_id"] == document_id]


def events_for(topic: str, order_id: str) -> list[dict]:
    return [json.loads(record.value) for record in records_for(topic, order_id)]
