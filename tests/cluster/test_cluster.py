"""A three-broker cluster (`./manage_all.sh up --brokers 3`) losing brokers while orders keep coming.

The module starts a stack of its own (port offset 4000, its own state folder: beside the test stack; the
environment's ORDERPIPE_CLUSTER_TEST_OFFSET and ORDERPIPE_CLUSTER_TEST_STATE move them), points this process's
store and broker clients at it, and stops it at the end. Each test places a burst of orders from
8 clients as fast as they are answered (the benchmark's sustained rate), does its fault, and checks the fault
tests' invariants (every order final, one payment each, stock conserved, no duplicate effect, no unsent
outbox mark). The fault report gives each one's longest pause in orders reaching SHIPPED.
"""

import contextlib
import os
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

import pytest
from django.test import override_settings
from kafka import KafkaAdminClient

import infra.stack
import tests.faults.pipeline
import tests.stack
from common import mongo, outbox
from common.events import TOPICS
from infra.kafka_status import cluster_state
from orders import store as order_store
from tests.conftest import FAULT_REPORT
from tests.faults.pipeline import BURST, Burst, check_invariants, wait_until_final
from tests.stack import MANAGE_ALL, kill_hard, process_env, wait_for

pytestmark = pytest.mark.cluster

OFFSET = int(os.environ.get("ORDERPIPE_CLUSTER_TEST_OFFSET", "4000"))
NODES = ["kafka-1", "kafka-2", "kafka-3"]
BOOTSTRAP = ",".join(f"127.0.0.1:{9092 + 2 * i + OFFSET}" for i in range(len(NODES)))
PLACED_AT_ONCE = 16  # while a fault lasts, orders are placed in rounds this big, so the load stops soon after it
# ... at this pace: enough to time a pause in the flow to a fifth of a second, little enough that the brokers'
# restarts do not wait for the CPU (at full speed the rolling restart took twice as long)
PACE = 5  # orders/s


class ClusterStack:
    def __init__(self, state: Path):
        self.state = state

    def manage_all(self, *args: str) -> str:
        # untraced: no Zipkin of its own (three JVMs are enough for 2 cores), and the test stack's is down by now
        env = process_env(ORDERPIPE_STATE=str(self.state), ORDERPIPE_PORT_OFFSET=str(OFFSET), OTEL_SDK_DISABLED="true")
        for name in ("KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI", "DJANGO_SECRET_KEY", "KAFKA_REPLICATION_FACTOR"):
            env.pop(name, None)  # the test stack's: this stack has its own
        # three JVMs, the store and every site start here: allow for a shared, loaded machine
        result = subprocess.run([str(MANAGE_ALL), *args], env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def busiest_leader(self) -> str:
        node, _ = cluster_state(BOOTSTRAP).leaders.most_common(1)[0]
        return f"kafka-{node}"

    def wait_in_sync(self) -> None:
        """Until all three serve and every replica has caught up (none under-replicated)."""
        def in_sync():
            state = cluster_state(BOOTSTRAP)
            return len(state.serving) == len(NODES) and not state.under_replicated and not state.offline

        wait_for(in_sync, timeout=180, interval=1, what="every partition in sync on three brokers")

    @contextlib.contextmanager
    def used_by_this_process(self):
        """The store, broker and sites this process's helpers use are this stack's while inside."""
        with override_settings(MONGODB_URI=f"mongodb://127.0.0.1:{27017 + OFFSET}/", KAFKA_BOOTSTRAP_SERVERS=BOOTSTRAP,
                               STATE_DIR=self.state), pytest.MonkeyPatch.context() as patch:
            patch.setattr(infra.stack, "OFFSET", OFFSET)
            patch.setattr(infra.stack, "STATE", self.state)
            patch.setattr(tests.stack, "BOOTSTRAP", BOOTSTRAP)
            patch.setattr(tests.faults.pipeline, "BOOTSTRAP", BOOTSTRAP)
            mongo.client.cache_clear()
            try:
                yield
            finally:
                mongo.client().close()
                mongo.client.cache_clear()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # Like the test stack's ORDERPIPE_TEST_STATE and ORDERPIPE_KEEP_TEST_STACK: a kept state folder skips
    # formatting the three nodes, a kept stack skips starting them (reruns while working on this module).
    state = os.environ.get("ORDERPIPE_CLUSTER_TEST_STATE")
    stack = ClusterStack(Path(state) if state else tmp_path_factory.mktemp("cluster"))
    try:
        stack.manage_all("up", "--brokers", "3")
        with stack.used_by_this_process():
            yield stack
    finally:
        if not os.environ.get("ORDERPIPE_KEEP_TEST_STACK"):
            stack.manage_all("down")


def under_load(burst: Burst, fault) -> None:
    """Half a burst, then the fault while orders keep coming (PACE) until it is over and at least a burst is placed."""
    burst.place(BURST // 2)
    over = threading.Event()

    def keep_placing():
        while not over.is_set() or len(burst.order_ids) < BURST:
            started = time.monotonic()
            burst.place(PLACED_AT_ONCE)
            over.wait(PLACED_AT_ONCE / PACE - (time.monotonic() - started))

    with ThreadPoolExecutor(1) as pool:
        placing = pool.submit(keep_placing)
        try:
            fault()
        finally:
            over.set()
        placing.result()  # a failed placement fails the test here


def longest_pause(order_ids: list[str]) -> float:
    """The longest time, in seconds, in which none of these orders became SHIPPED (between the first and last)."""
    shipped = sorted(order["updated_at"] for order in order_store.orders().find(
        {"_id": {"$in": order_ids}, "status": "SHIPPED"}, {"updated_at": 1}))
    return max(((later - earlier).total_seconds() for earlier, later in pairwise(shipped)), default=0.0)


def report(fault: str, burst: Burst, figures: dict, converge: float) -> None:
    FAULT_REPORT.append(f"cluster, {fault}: {figures}, longest pause in SHIPPED orders "
                        f"{longest_pause(burst.order_ids):.1f}s, converged in {converge:.1f}s")


def test_status_shows_each_node_the_active_controller_and_under_replicated_partitions(cluster):
    status = cluster.manage_all("status")
    rows = {line.split()[0]: line.split()[1:] for line in status.splitlines()}
    assert all(rows[node][0] == "running" and rows[node][2] == "yes" for node in NODES), status
    assert f"active controller kafka-{cluster_state(BOOTSTRAP).controller}" in status, status
    assert "under-replicated partitions: 0;" in status, status

    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    try:
        replicas = {len(partition["replica_nodes"]) for topic in admin.describe_topics(list(TOPICS))
                    for partition in topic["partitions"]}
    finally:
        admin.close()
    assert replicas == {3}, "every partition of the pipeline's topics has a replica on each broker"


def test_kill_9_the_broker_leading_most_partitions_mid_burst(cluster):
    burst = Burst()
    try:
        under_load(burst, lambda: kill_hard(cluster.busiest_leader()))
        # every order ends while that broker is still dead: the pipeline went on without it
        converge = wait_until_final(burst.order_ids)
        figures = check_invariants(burst)
        assert not burst.failed, burst.answers  # no POST failed, none had to be retried
        report("kill -9 the busiest leader", burst, figures, converge)
    finally:  # the next tests start from three brokers in sync, whatever happened here
        cluster.manage_all("up")
        cluster.wait_in_sync()


def test_rolling_restart_of_all_three_brokers_under_load(cluster):
    burst = Burst()

    def rolling_restart():
        for node in NODES:
            cluster.manage_all("down", node)  # SIGTERM: it hands its partitions' leadership over first
            cluster.manage_all("up", node)  # returns once it serves again
            cluster.wait_in_sync()  # caught up: only now may the next one go

    try:
        under_load(burst, rolling_restart)
    finally:
        cluster.manage_all("up")  # a node that failed to come back is started for the next tests
    converge = wait_until_final(burst.order_ids)
    figures = check_invariants(burst)
    assert not burst.failed, burst.answers
    report("rolling restart of the 3 brokers", burst, figures, converge)


def test_two_brokers_down_orders_are_taken_and_flow_when_they_return(cluster):
    burst = Burst()
    burst.place(BURST // 2)
    two = [node for node in NODES if node != cluster.busiest_leader()][:2]
    try:
        for node in two:
            kill_hard(node)
        outage_start = len(burst.order_ids)
        burst.place(20, retry_for=0)  # 201 from the order site's outbox, with one broker of three
        taken_during_outage = set(burst.order_ids[outage_start:])
        # one replica in sync is fewer than min.insync.replicas: the broker acknowledged none of their events
        unsent = {mark["document_id"] for mark in outbox.pending(order_store.orders())}
        assert taken_during_outage <= unsent
    finally:
        cluster.manage_all("up", *two)
    burst.place(BURST - len(burst.order_ids))
    converge = wait_until_final(burst.order_ids)
    figures = check_invariants(burst)
    assert not burst.failed, burst.answers
    report(f"2 of 3 brokers down ({', '.join(two)}), 20 orders placed meanwhile", burst, figures, converge)
