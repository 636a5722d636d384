"""`manage_all.sh up`, `status`, `down` on a stack of their own: everything starts, and nothing is left behind."""

import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests import stack
from tests.stack import MANAGE_ALL, MONGO_EXPRESS, SITES, alive, process_env, wait_for

# beside the test stack (+2000 by default), the cluster tests' (+4000) and a developer's `up` (+0)
OFFSET = stack.OFFSET + 1000


def run(state, *args):
    env = process_env(ORDERPIPE_STATE=str(state), ORDERPIPE_PORT_OFFSET=str(OFFSET))
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI", "DJANGO_SECRET_KEY", "OTEL_EXPORTER_ZIPKIN_ENDPOINT",
                 "ZIPKIN_UI_URL"):  # its own, local ones
        env.pop(name, None)
    return subprocess.run([str(MANAGE_ALL), *args], env=env, capture_output=True, text=True, timeout=300)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def state(tmp_path):
    yield tmp_path
    run(tmp_path, "down")  # whatever the test did, leave nothing running


# A whole second stack, one of whose consumers is killed (-9): minutes on a busy 2-core machine, so not in --quick
@pytest.mark.faults
def test_up_status_down_leaves_no_process_behind(state):
    up = run(state, "up")
    assert up.returncode == 0, up.stdout + up.stderr

    status = run(state, "status").stdout
    rows = {line.split()[0]: line.split()[1:] for line in status.splitlines()[1:] if line.strip()}
    expected = {"kafka", "ferretdb", "relay-order"} | {f"{kind}-{site}" for kind in ("web",) for site in SITES}
    expected |= {f"consumer-{site}-1" for site in SITES} | {"console", "zipkin"}
    expected |= {"mongo-express"} if MONGO_EXPRESS else set()
    assert set(rows) == expected, status
    assert all(row[0] == "running" for row in rows.values()), status
    probed = ("web-", "kafka", "ferretdb", "zipkin")
    assert all(rows[name][2] == "yes" for name in rows if name.startswith(probed)), status
    pids = {name: int(row[1]) for name, row in rows.items()}

    again = run(state, "up")  # idempotent: nothing new is started
    assert "started" not in again.stdout, again.stdout

    os.killpg(pids["consumer-payment-1"], 9)  # a component that died is restarted by the next `up`
    wait_for(lambda: "stopped" in run(state, "status").stdout, what="the killed consumer to show as stopped")
    restarted = run(state, "up")
    assert "started consumer-payment-1" in restarted.stdout and restarted.stdout.count("started ") == 1

    down = run(state, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    pids = [int(p.read_text()) for p in (state / "run").glob("*.pid")] + list(pids.values())
    assert not [pid for pid in pids if alive(pid)], "processes left running after down"
    ports = [9092 + OFFSET, 9093 + OFFSET, 27017 + OFFSET, 9000 + OFFSET, 8081 + OFFSET,
             *(8001 + OFFSET + i for i in range(len(SITES)))]
    assert not [port for port in ports if port_open(port)], "ports still open after down"
    assert "running" not in run(state, "status").stdout


def test_up_refuses_a_port_another_process_holds_and_starts_nothing(state):
    """A store that cannot bind its port exits, and the readiness probe is answered by whatever holds the port: a
    stack left running after its state folder was removed once had a whole test run use its store."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 27017 + OFFSET))
        holder.listen()
        up = run(state, "up")

    assert up.returncode == 1
    assert f"port {27017 + OFFSET}, where ferretdb listens, is taken by a process this state folder" in up.stderr
    assert not list((state / "run").glob("*.pid")) and not port_open(9092 + OFFSET)


def test_up_refuses_an_offset_that_puts_a_port_in_the_ephemeral_range_and_starts_nothing(tmp_path):
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    offset = low - 27017  # the store's port, the highest, is the first in the range
    env = process_env(ORDERPIPE_STATE=str(tmp_path), ORDERPIPE_PORT_OFFSET=str(offset))
    up = subprocess.run([str(MANAGE_ALL), "up"], env=env, capture_output=True, text=True, timeout=60)

    assert up.returncode == 1
    assert f"port {low} (ORDERPIPE_PORT_OFFSET={offset}) is in this machine's ephemeral range {low}-{high}" in up.stderr
    assert f"an offset from 0 to {offset - 1} keeps every port below it" in up.stderr
    assert not list(tmp_path.iterdir()) and not port_open(8001 + offset)
