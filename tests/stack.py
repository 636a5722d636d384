"""The real test stack, as `./manage_all.sh test` started it: addresses, process control, waiting."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import requests
from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

REPO = Path(__file__).resolve().parent.parent
MANAGE_ALL = REPO / "manage_all.sh"
STATE = Path(os.environ.get("ORDERPIPE_STATE", REPO / ".state" / "test"))
OFFSET = int(os.environ.get("ORDERPIPE_PORT_OFFSET", "10000"))
SITES = ["order", "payment", "inventory", "shipment", "notification"]
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{9092 + OFFSET}")
STORE_URI = os.environ.get("MONGODB_URI", f"mongodb://127.0.0.1:{27017 + OFFSET}/")
# Mongo Express is optional: `up` installs and runs it where node and npm are, and everything else runs without it
MONGO_EXPRESS = bool(shutil.which("node") and shutil.which("npm"))


def url(site: str, path: str) -> str:
    return f"http://127.0.0.1:{8001 + SITES.index(site) + OFFSET}{path}"


def console_url(path: str) -> str:
    """The read-only Kafka console (console_site)."""
    return f"http://127.0.0.1:{9000 + OFFSET}{path}"


def wait_for(check, *, timeout: float = 30, interval: float = 0.1, what: str = "condition"):
    """Poll `check` until it returns something truthy, and return that; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def process_env(**changes) -> dict:
    """The environment for a site process started from a test: not this process's Django settings."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    return {**env, **changes}


def manage_all(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([str(MANAGE_ALL), *args], env=process_env(), capture_output=True, text=True, check=check,
                          timeout=300)


def pid_of(component: str) -> int | None:
    path = STATE / "run" / f"{component}.pid"
    return int(path.read_text()) if path.exists() else None


def kill_hard(component: str) -> None:
    """SIGKILL the component's whole process group: no clean shutdown, no commit."""
    pid = pid_of(component)
    assert pid, f"{component} is not running"
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid), timeout=10, what=f"{component} to die")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a killed child stays a zombie until its parent reaps it; a zombie is not running
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


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
