"""The store's and the broker's raw rates, from one client, to set the pipeline's rate against.

Measured after the pipeline has finished, so that neither disturbs the other, each for a bounded time, in
scratch places that are removed afterwards: the database `bench_raw` and the topic `bench_raw`.
"""

import itertools
import json
import time

from django.conf import settings
from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import TopicAlreadyExistsError
from pymongo import MongoClient

from common import kafka

SECONDS_EACH = 2.5
SCRATCH = "bench_raw"
MANY = 100  # documents per insert_many
ACKS_EVERY = 500  # broker: sends between two waits for the acknowledgements
# About the size of a real event envelope (ids, times, a payload with lines and an address).
MESSAGE = json.dumps({"event_type": SCRATCH, "payload": {"padding": "x" * 560}}).encode()


def per_second(step) -> float:
    """Runs `step` (which returns how many operations it did) for SECONDS_EACH: operations per second."""
    done, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < SECONDS_EACH:
        done += step()
    return done / elapsed


def small_document(n: int) -> dict:
    return {"_id": f"{n:09d}", "status": "PENDING", "version": 0, "customer_id": "BENCH0001", "total": 10997}


def store_rates(uri: str) -> dict[str, float]:
    client = MongoClient(uri, serverSelectionTimeoutMS=5000)
    documents = client[SCRATCH].documents
    ids = itertools.count()

    def insert_one() -> int:
        documents.insert_one(small_document(next(ids)))
        return 1

    def insert_many() -> int:
        documents.insert_many([small_document(next(ids)) for _ in range(MANY)])
        return MANY

    try:
        client.drop_database(SCRATCH)  # what a run that was stopped midway left
        rates = {"store_insert_one_per_s": per_second(insert_one),
                 "store_insert_many_docs_per_s": per_second(insert_many)}
        existing = itertools.cycle(f"{n:09d}" for n in range(next(ids)))

        def update_one() -> int:  # by _id, as the sites do
            documents.update_one({"_id": next(existing)}, {"$set": {"status": "PAID"}, "$inc": {"version": 1}})
            return 1

        rates["store_update_one_per_s"] = per_second(update_one)
        return rates
    finally:
        client.drop_database(SCRATCH)
        client.close()


def broker_rate() -> float:
    """Messages per second with the project's producer settings (acks=all, idempotent), keyed like events."""
    admin = KafkaAdminClient(bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS, client_id="bench")
    try:
        admin.create_topics({SCRATCH: {"num_partitions": settings.KAFKA_TOPIC_PARTITIONS,
                                       "replication_factor": settings.KAFKA_REPLICATION_FACTOR}},
                            wait_for_metadata=True)
    except TopicAlreadyExistsError:  # left by a run that was stopped midway
        pass
    producer = KafkaProducer(**kafka.producer_config())
    keys = (f"{n:09d}".encode() for n in itertools.count())

    def send_and_wait() -> int:
        for _ in range(ACKS_EVERY):
            producer.send(SCRATCH, key=next(keys), value=MESSAGE)
        producer.flush(timeout=30)
        return ACKS_EVERY

    try:
        return per_second(send_and_wait)
    finally:
        producer.close(timeout=5)
        admin.delete_topics([SCRATCH])
        admin.close()
