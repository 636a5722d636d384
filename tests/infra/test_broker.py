"""The Kafka broker that manage_all.sh runs: real produce, consume and committed offsets."""

import uuid

from django.conf import settings
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from tests.stack import BOOTSTRAP


def new_topic(partitions: int = 1) -> str:
    name = f"infra-test-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()
    return name


def consume(topic: str, group: str, expected: int) -> list[bytes]:
    consumer = KafkaConsumer(topic, bootstrap_servers=BOOTSTRAP, group_id=group, enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=15000)
    values = []
    for record in consumer:
        values.append(record.value)
        if len(values) == expected:
            break
    consumer.commit()
    consumer.close()
    return values


def test_a_message_goes_through_the_broker_and_committed_offsets_survive_a_restart():
    topic = new_topic()
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all")
    for n in range(3):
        producer.send(topic, key=b"k", value=f"first-{n}".encode()).get(timeout=10)

    assert consume(topic, "infra-test", 3) == [b"first-0", b"first-1", b"first-2"]

    for n in range(2):
        producer.send(topic, key=b"k", value=f"second-{n}".encode()).get(timeout=10)
    producer.close()
    # a new consumer of the same group starts where the last one committed, not from the beginning
    assert consume(topic, "infra-test", 2) == [b"second-0", b"second-1"]


def test_auto_create_is_off_so_only_declared_topics_exist():
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    try:
        topics = set(admin.list_topics())
    finally:
        admin.close()
    assert {"order_placed", "order_placed.DLT", "shipment_processed", "shipment_processed.DLT"} <= topics
    consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP)
    assert len(consumer.partitions_for_topic("order_placed")) == settings.KAFKA_TOPIC_PARTITIONS
    consumer.close()
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, max_block_ms=2000)
    try:
        producer.send(f"typo-{uuid.uuid4().hex[:6]}", b"x").get(timeout=5)
        raise AssertionError("a message to an unknown topic was accepted")
    except Exception as error:  # the broker refuses: the topic does not exist and is not created
        assert "Timeout" in type(error).__name__ or "UnknownTopic" in type(error).__name__
    finally:
        producer.close(timeout=1)
