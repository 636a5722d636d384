"""A zombie consumer: frozen inside its handler past its session timeout (a long GC pause, a stalled store), it is
expelled from its group and its successor handles the same events. When it wakes up it still believes it owns
them; nothing it writes then may land, or stock is counted twice.

The freeze is placed exactly: the test holds the inventory database's writes (common.mongo.wait_while_held, on
in test stacks only), so the consumer, having read the reservations of a batch of parcels, waits at its first
stock write; it is frozen there (SIGSTOP), and thawed once its successor has moved all that stock. Nothing but
the fences and the store's per-document atomicity stands between the two consumers' writes.
"""

import contextlib
import fcntl
import os
import signal
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from inventory import store as inventory_store
from tests.faults.pipeline import Burst, check_invariants, wait_until_final
from tests.faults.test_faults import inventory_members, report
from tests.stack import BOOTSTRAP, STATE, manage_all, pid_of, wait_for

pytestmark = pytest.mark.faults

ORDERS = 30
GROUP = "inventory-service"


def test_a_consumer_frozen_mid_batch_writes_nothing_once_its_successor_took_over():
    burst = Burst()
    manage_all("down", "consumer-shipment-1")  # the parcels wait, so the orders' stock stays reserved
    zombie = pid_of("consumer-inventory-1")
    try:
        burst.place(ORDERS)
        wait_for(lambda: behind(GROUP, "payment_processed") == 0, timeout=120, what="every payment's stock handled")
        with writes_held("inventory") as lock:
            manage_all("up", "consumer-shipment-1")  # the parcels leave: shipment_processed for the inventory site
            wait_for(lambda: waits_for_lock(zombie, Path(lock)), timeout=60, what="the consumer at its stock write")
            os.kill(zombie, signal.SIGSTOP)
            # stopped before the hold ends, or it could write first
            wait_for(lambda: stopped(zombie), timeout=10, what="the consumer stopped")
        try:
            manage_all("up", "--consumers", "2", "consumer-inventory-2")  # the successor, once the zombie is out
            wait_for(lambda: not reservations_open(burst.order_ids), timeout=120, what="the successor's stock moves")
        finally:
            os.kill(zombie, signal.SIGCONT)
        # back in its poll loop (having finished or abandoned the batch), it rejoins the group
        wait_for(lambda: inventory_members() == 2, timeout=60, what="the thawed consumer back in its group")
        converge = wait_until_final(burst.order_ids)
        report("inventory consumer frozen mid-batch past its session", check_invariants(burst), converge)
    finally:
        manage_all("down", "consumer-inventory-2")
        manage_all("up")


@contextlib.contextmanager
def writes_held(database_name: str):
    """Every process of the test stack waits at its next update of the database until the block ends."""
    lock = STATE / "holds" / f"{database_name}.lock"
    lock.parent.mkdir(exist_ok=True)
    with open(lock, "w") as hold:
        fcntl.flock(hold, fcntl.LOCK_EX)
        try:
            yield lock
        finally:
            lock.unlink()  # the writes after this one go straight on


def behind(group: str, topic: str) -> int:
    """Events of `topic` the group has not committed yet."""
    admin, reader = KafkaAdminClient(bootstrap_servers=BOOTSTRAP), KafkaConsumer(bootstrap_servers=BOOTSTRAP)
    try:
        partitions = [TopicPartition(topic, p) for p in reader.partitions_for_topic(topic)]
        committed = admin.list_group_offsets({group: None})[group]
        ends = reader.end_offsets(partitions)
        return sum(end - (committed[p].offset if p in committed else 0) for p, end in ends.items())
    finally:
        admin.close()
        reader.close()


def waits_for_lock(pid: int, lock: Path) -> bool:
    """Whether the process is blocked taking the lock on that file (a "->" line of /proc/locks)."""
    inode = str(lock.stat().st_ino)
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if fields[1] == "->" and fields[5] == str(pid) and fields[6].rsplit(":", 1)[-1] == inode:
            return True
    return False


def stopped(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def reservations_open(order_ids: list[str]) -> list[str]:
    """The orders whose stock is still reserved or being reserved (not yet shipped or given back)."""
    return [r["_id"] for r in inventory_store.reservations().find({"_id": {"$in": order_ids}})
            if r["status"] in ("PENDING", "RESERVED")]
