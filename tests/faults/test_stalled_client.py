"""A consumer whose Kafka client stopped heartbeating: it notices, and a new client rejoins the group.

kafka-python 3.0.12 left its heartbeat off when it forgot a rebalance (common.kafka._rejoin_until_joined fixes
that one way); common.kafka.lost_its_group catches any way to it. The broker drops the silent member after its
session timeout, and the client, which only a heartbeat would tell, spins in every poll with its partitions unread,
at full CPU, for good. The test leaves a joined client in that state (its heartbeat turned off: this also checks
that the client's internals are still what lost_its_group reads) and checks what a user checks: the group gets its
member back, and what is published afterwards is handled and committed.
"""

import threading

import pytest

from common import kafka
from common.consumer import ConsumerLoop
from common.kafka import SESSION_TIMEOUT_MS
from infra.experiments import assignment
from payments import handlers, store
from tests.common.test_consumer import committed_everything, group_at_the_end
from tests.factories import order_placed, unique
from tests.stack import wait_for

pytestmark = pytest.mark.faults

SESSION_TIMEOUT_S = SESSION_TIMEOUT_MS / 1000


def test_a_consumer_whose_client_stopped_heartbeating_rejoins_its_group_and_goes_on():
    group, instance = group_at_the_end("order_placed"), unique("test-stalled")
    first, later = [order_placed() for _ in range(5)], [order_placed() for _ in range(5)]
    kafka.publish(first)
    loop = ConsumerLoop(group=group, handlers={"order_placed": handlers.on_order_placed}, instance=instance,
                        max_messages=len(first) + len(later), idle_timeout=90)
    seen = {}

    def stall_the_client():  # beside the loop, which runs in the main thread (it sets signal handlers)
        try:
            wait_for(lambda: loop.processed == len(first), timeout=60, what="the first orders handled")
            stalled = loop.consumer._coordinator

            def silenced_and_dropped():  # kept off: the leader's rejoin just after its first join turns it on again
                stalled._disable_heartbeat()
                return instance not in assignment(group)

            seen["dropped"] = wait_for(silenced_and_dropped, timeout=SESSION_TIMEOUT_S + 20,
                                       what="the broker to drop the silent member", interval=1)
            seen["back"] = wait_for(lambda: assignment(group).get(instance), timeout=2 * SESSION_TIMEOUT_S + 30,
                                    what="the member back in its group", interval=1)
            kafka.publish(later)
        except AssertionError:
            loop.stopping = True  # report now, rather than after the loop's idle timeout

    stalling = threading.Thread(target=stall_the_client, daemon=True)
    stalling.start()
    loop.run()  # returns once it has handled every order, or after 90 s with nothing to read
    stalling.join(timeout=5)

    assert seen.get("dropped") and seen.get("back"), f"the group did not get its member back: {seen}"
    assert loop.processed == len(first) + len(later)
    assert all(store.payment_get(order.order_id) for order in later)
    assert committed_everything(group, "order_placed")
