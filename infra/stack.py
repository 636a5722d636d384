"""The stack `./manage_all.sh` runs, as the tooling outside it sees it (the tests, the experiments, the
invariants): its sites and their ports, its processes, `manage_all.sh` itself, and what is on its topics.

Which stack: the one ORDERPIPE_STATE and ORDERPIPE_PORT_OFFSET name (`./manage_all.sh test` and `experiment` set
them), else a developer's `up` (`.state`, offset 0), as the sites' own settings do.
"""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from django.conf import settings
from kafka import KafkaConsumer, TopicPartition

from common.events import TOPICS

ROOT = Path(__file__).resolve().parent.parent
MANAGE_ALL = ROOT / "manage_all.sh"
STATE = Path(os.environ.get("ORDERPIPE_STATE", ROOT / ".state"))
OFFSET = int(os.environ.get("ORDERPIPE_PORT_OFFSET", "0"))
# manage_all.sh's list, where a site is added; site N of it serves on port 8000 + N (+ the offset)
SITES = re.search(r"^SITES=\(([^)]*)\)", MANAGE_ALL.read_text(), re.M).group(1).split()


def site_port(site: str, offset: int | None = None) -> int:
    """Its port in this stack, or with another offset (0: the ports docker-compose publishes)."""
    return 8001 + SITES.index(site) + (OFFSET if offset is None else offset)


def url(site: str, path: str = "") -> str:
    return f"http://127.0.0.1:{site_port(site)}{path}"


def console_url(path: str = "") -> str:
    """The read-only Kafka console (console_site; Kafdrop's port under docker-compose)."""
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
    """The environment for a process of the stack: the user's, not this process's Django settings or import path."""
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH"}}
    return {**env, **changes}


def manage_all(*args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    """`./manage_all.sh ARGS` as a user runs it, with `env` added to the environment; its output captured."""
    return subprocess.run([str(MANAGE_ALL), *args], env=process_env(**env), capture_output=True, text=True,
                          check=check, timeout=600)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a killed child stays a zombie until its parent reaps it; a zombie is not running
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def pid_of(component: str) -> int | None:
    """The process group of a component manage_all.sh started, if it runs."""
    path = STATE / "run" / f"{component}.pid"
    try:
        pid = int(path.read_text())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def kill_hard(component: str) -> None:
    """SIGKILL the component's whole process group: no clean shutdown, nothing committed."""
    pid = pid_of(component)
    assert pid, f"{component} is not running"
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid), timeout=10, what=f"{component} to die")


def topic_records(keys: set[str], topics=tuple(TOPICS)) -> list:
    """Every record on the given topics whose key is one of `keys`, from the first offset to the current end."""
    consumer = KafkaConsumer(bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        found = []
        while any(consumer.position(p) < end[p] for p in partitions):
            for records in consumer.poll(timeout_ms=1000).values():
                found += [r for r in records if r.key and r.key.decode() in keys]
        return found
    finally:
        consumer.close()
