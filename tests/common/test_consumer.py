"""The consumer loop on the real broker and store: a batch at a time, poison and failures dead-lettered."""

import json
import time

from django.conf import settings
from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.admin import NewPartitions, NewTopic
from kafka.errors import KafkaConnectionError, LeaderNotAvailableError
from prometheus_client import REGISTRY

from common import kafka
from common.consumer import ConsumerLoop, _Rebalances
from common.events import TOPICS
from infra.experiments import admin, assignment
from infra.stack import topic_records, wait_for
from payments import handlers, store
from tests.factories import order_placed, unique
from tests.stack import BOOTSTRAP


def group_at_the_end(topic: str) -> str:
    """A new consumer group that starts after everything already on the topic."""
    group = unique("test-loop")
    consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=group, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_end(*partitions)
        consumer.commit({p: OffsetAndMetadata(consumer.position(p), None, -1) for p in partitions})
        return group
    finally:
        consumer.close()


def committed_everything(group: str, topic: str) -> bool:
    consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=group, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        ends = consumer.end_offsets(partitions)
        return all((consumer.committed(p) or 0) >= ends[p] for p in partitions)
    finally:
        consumer.close()


def batches_handled() -> float:
    return REGISTRY.get_sample_value("orderpipe_batch_events_count") or 0


def test_a_batch_is_written_its_events_sent_and_its_offsets_committed():
    group = group_at_the_end("order_placed")
    orders = [order_placed() for _ in range(60)]
    kafka.publish(orders)
    before = batches_handled()

    ConsumerLoop(group=group, handlers={"order_placed": handlers.on_order_placed}, max_messages=60,
                 idle_timeout=30).run()

    assert all(store.payment_get(order.order_id) for order in orders)
    sent = topic_records({order.order_id for order in orders}, topics=("payment_processed",))
    assert {json.loads(r.value)["causation_id"] for r in sent} == {order.event_id for order in orders}
    assert committed_everything(group, "order_placed")
    assert batches_handled() - before < 60  # handled in batches, not one event at a time


def test_poison_and_an_event_the_handler_fails_on_are_dead_lettered_and_the_rest_goes_on():
    group = group_at_the_end("order_placed")
    good = [order_placed() for _ in range(5)]
    bad = order_placed(customer_id="FAIL-ME")
    poison_key = unique("poison")

    def fails_on_one(batch):  # a handler bug that only one event's data triggers
        if any(event.payload["customer_id"] == "FAIL-ME" for event, _ in batch):
            raise ValueError("cannot handle FAIL-ME")
        return handlers.on_order_placed(batch)

    kafka.publish([*good[:2], bad, *good[2:]])
    kafka.send_all([{"topic": "order_placed", "key": poison_key.encode(), "value": b"\x00not json"}])
    ConsumerLoop(group=group, handlers={"order_placed": fails_on_one}, max_messages=7, idle_timeout=30).run()

    assert all(store.payment_get(order.order_id) for order in good)
    letters = [r for r in topic_records({bad.order_id, poison_key}, topics=(TOPICS["order_placed"].dead_letter,))
               if dict(r.headers)["dlt.group"] == group.encode()]
    reasons = {r.key.decode(): dict(r.headers)["dlt.reason"].decode() for r in letters}
    assert reasons[bad.order_id] == "handler error: ValueError: cannot handle FAIL-ME"
    assert reasons[poison_key].startswith("not JSON")
    assert len(letters) == 2
    assert committed_everything(group, "order_placed")


def test_a_commit_the_broker_did_not_take_is_made_after_the_next_poll(monkeypatch):
    """The broker went away just as a batch was committed (a CI run met it: one event on a partition, handled, its
    commit refused, then no more events there). The offset is committed once the broker answers again, not left
    behind until the partition's next event: until then the group shows lag, and a restart hands the event out
    again."""
    group = group_at_the_end("order_placed")
    order = order_placed()
    kafka.publish([order])
    refused = []
    commit = KafkaConsumer.commit

    def refused_once(consumer, offsets=None, timeout_ms=None):
        if not refused:
            refused.append(offsets)
            raise KafkaConnectionError("111 ECONNREFUSED")  # what the commit met in CI
        return commit(consumer, offsets, timeout_ms)

    monkeypatch.setattr(KafkaConsumer, "commit", refused_once)
    ConsumerLoop(group=group, handlers={"order_placed": handlers.on_order_placed}, idle_timeout=3).run()

    assert store.payment_get(order.order_id)
    assert refused, "the first commit was not refused: this test tested nothing"
    assert committed_everything(group, "order_placed")


def test_with_the_broker_away_trying_a_refused_commit_again_does_not_hold_the_loop(monkeypatch):
    """With the broker away a commit waits for it up to its timeout, the client's request timeout (30 s) unless
    given one. Tried again after every empty poll, it must not wait that long: the loop would hardly poll, and a
    SIGTERM would wait half a minute. Here the first commit is refused at once (as in CI) and every later one
    waits for its whole timeout; the loop, stopped by its idle timeout, must end in seconds."""
    group = group_at_the_end("order_placed")
    kafka.publish([order_placed()])
    calls = []

    def broker_away(consumer, offsets=None, timeout_ms=None):
        calls.append(timeout_ms)
        if len(calls) > 1:  # what the client does with no coordinator: retry until the timeout
            time.sleep((30_000 if timeout_ms is None else timeout_ms) / 1000)
        raise KafkaConnectionError("111 ECONNREFUSED")

    monkeypatch.setattr(KafkaConsumer, "commit", broker_away)
    started = time.monotonic()
    ConsumerLoop(group=group, handlers={"order_placed": handlers.on_order_placed}, idle_timeout=3).run()

    assert len(calls) > 2, "the refused commit was not tried again"
    assert time.monotonic() - started < 15


def test_a_failed_commit_is_kept_only_for_the_partitions_the_consumer_keeps():
    """A partition the group gives elsewhere is read again by its new owner from the last commit; committing the old
    offset later could set that owner back. A consumer dropped from its group reads again from the commits too."""
    loop = ConsumerLoop(group=unique("test-kept"), handlers={})
    kept, given_away = TopicPartition("order_placed", 0), TopicPartition("order_placed", 1)
    loop.uncommitted = {kept: OffsetAndMetadata(7, None, -1), given_away: OffsetAndMetadata(9, None, -1)}
    rebalances = _Rebalances(loop)

    rebalances.on_partitions_revoked({kept, given_away})  # eager: every partition first
    rebalances.on_partitions_assigned({kept, TopicPartition("order_placed", 2)})
    assert loop.uncommitted == {kept: OffsetAndMetadata(7, None, -1)}

    rebalances.on_partitions_lost({kept})
    assert loop.uncommitted == {}


def test_a_consumer_knows_every_topics_partitions_before_it_joins_its_group():
    """The group's leader assigns what its metadata knows when the group forms: a leader that joined knowing
    nothing assigned nothing. (Seen once on a restarted test stack: a static member kept that empty assignment
    for minutes. This checks the guard's means, that the partitions are known before the join; it does not
    reproduce the restart.)"""
    topics = ["order_placed", "inventory_updated", "shipment_processed"]
    consumer = kafka.consumer(*topics, group=unique("test-join"), instance=unique("test-join-instance"))
    try:
        known = {topic: consumer._cluster.partitions_for_topic(topic) for topic in topics}  # nothing fetched
    finally:
        consumer.close()
    assert all(known.values()), known


def test_a_consumer_takes_the_partitions_added_to_its_topic_even_if_the_rebalance_outlasts_a_poll():
    """Partitions added to a topic (how a topic is scaled out) reach its consumers by a rebalance, which the group's
    leader starts when its metadata changes. kafka-python 3.0.12 forgot a rebalance that outlasted the poll that
    started it: the client stayed "rebalancing" with its heartbeat off and its old partitions, spun through every
    poll at full CPU, and the broker dropped it (seen as consumers stalled after restarts). common.kafka makes it
    join again. Polls that return within a millisecond start the rebalance and leave it running; the group finishes
    it on the broker's side, and the consumer must still take the new partitions."""
    topic, group, instance = unique("test-scaled"), unique("test-scaled"), unique("test-scaled-instance")
    every_partition = {TopicPartition(topic, partition) for partition in range(3)}
    client = admin()
    consumer = None
    try:
        client.create_topics([NewTopic(topic, 1, settings.KAFKA_REPLICATION_FACTOR)])
        consumer = wait_for(lambda: _consumer_once_known(topic, group, instance), what=f"{topic} in the metadata")

        def assigned_after_a_poll(timeout_ms: int) -> set:
            consumer.poll(timeout_ms=timeout_ms)
            return consumer.assignment()

        def group_gave_it_every_partition_after_a_poll() -> bool:
            consumer.poll(timeout_ms=1)
            return assignment(group).get(instance) == [f"{topic}[0,1,2]"]

        wait_for(lambda: assigned_after_a_poll(100), what="the first partition assigned")
        client.create_partitions({topic: NewPartitions(3)})
        wait_for(group_gave_it_every_partition_after_a_poll, interval=0.02, what="the group to assign the new ones")
        wait_for(lambda: assigned_after_a_poll(100) == every_partition, timeout=20, what="the consumer to take them")
    finally:
        if consumer:
            consumer.close()
        client.delete_topics([topic])
        client.close()


def _consumer_once_known(topic: str, group: str, instance: str) -> KafkaConsumer | None:
    try:  # it learns of partitions added to its topic within 0.2 s
        return kafka.consumer(topic, group=group, instance=instance, metadata_max_age_ms=200)
    except LeaderNotAvailableError:  # the new topic is not in the brokers' metadata yet
        return None
