"""Reading and replaying dead-letter topics (`<topic>.DLT`), for `manage.py dlt` and the admin."""

from dataclasses import dataclass

from django.conf import settings
from kafka import KafkaConsumer, TopicPartition

from common import kafka, tracing

REPLAY_GROUP = "dlt-replay"  # its committed offsets remember what was already replayed


@dataclass(frozen=True)
class DeadLetter:
    offset: int
    partition: int
    key: str | None
    value: bytes | None
    headers: dict[str, str]

    @property
    def source(self) -> str:
        return f"{self.headers.get('dlt.topic')}[{self.headers.get('dlt.partition')}]@{self.headers.get('dlt.offset')}"


def _dead_letter(record) -> DeadLetter:
    return DeadLetter(
        offset=record.offset,
        partition=record.partition,
        key=record.key.decode(errors="replace") if record.key else None,
        value=record.value,
        headers={name: value.decode(errors="replace") for name, value in record.headers or []},
    )


def _records_until_end(consumer: KafkaConsumer):
    """Every record from the consumer's position to the end of its partitions as they were when it started.
    (A group consumer gets its partitions during the first polls, which may already return records.)"""
    end = {}
    while True:
        for records in consumer.poll(timeout_ms=1000).values():
            yield from records
        assigned = consumer.assignment()
        if assigned:
            end.update(consumer.end_offsets([p for p in assigned if p not in end]))
            if all(consumer.position(p) >= end[p] for p in assigned):
                return


def dead_letters(topic: str) -> list[DeadLetter]:
    """Every dead letter of a topic, oldest first per partition."""
    consumer = KafkaConsumer(bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS, enable_auto_commit=False)
    try:
        dlt = f"{topic}.DLT"
        partitions = [TopicPartition(dlt, p) for p in sorted(consumer.partitions_for_topic(dlt) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        return [_dead_letter(record) for record in _records_until_end(consumer)]
    finally:
        consumer.close()


def replay_one(topic: str, partition: int, offset: int) -> DeadLetter | None:
    """Send one dead letter back to its topic; None if there is no such dead letter (any more)."""
    record = kafka.record_at(f"{topic}.DLT", partition, offset)
    if record is None:
        return None
    kafka.send_all([_replay_record(topic, record)])
    return _dead_letter(record)


def _replay_record(topic: str, record) -> dict:
    """The dead letter back on its topic, in the trace it was dead-lettered in (its order's)."""
    headers = [("dlt.replayed_from", f"{record.partition}:{record.offset}".encode())]
    if tracing.ENABLED:
        key = record.key.decode(errors="replace") if record.key else ""
        parent = tracing.context_from(tracing.traceparent_header(record.headers))
        headers += tracing.record_headers(topic, key, parent)
    return {"topic": topic, "key": record.key, "value": record.value, "headers": headers}


def replay(topic: str) -> list[DeadLetter]:
    """Send the dead letters not replayed before back to their topic (say, after a fix); return them."""
    consumer = kafka.consumer(f"{topic}.DLT", group=f"{REPLAY_GROUP}-{topic}")
    try:
        records = list(_records_until_end(consumer))
        kafka.send_all([_replay_record(topic, record) for record in records])
        consumer.commit()
        return [_dead_letter(record) for record in records]
    finally:
        consumer.close()
