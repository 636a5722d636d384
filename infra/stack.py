"""The running stack as the tooling sees it (tests, experiments, invariants): what is on its topics."""

from django.conf import settings
from kafka import KafkaConsumer, TopicPartition

from common.events import TOPICS


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
