"""Random bytes, random JSON and mutated envelopes on every topic (hypothesis): each lands in the topic's
dead-letter topic once for every consumer group that reads the topic, with the reason; no consumer crashes or
stalls, and nothing in any store changes.

Every fuzzed value is invalid by construction (a mutation of a valid event that left it valid would be a new
event, free to act), and is checked to be so before it is sent.
"""

import importlib
import json
import uuid
from collections import defaultdict

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kafka import KafkaConsumer, TopicPartition

from common import kafka, mongo, outbox
from common.events import SCHEMA_VERSION, TOPICS, Envelope, PoisonEvent, new_event, parse_event
from inventory import store as inventory_store
from orders import store as order_store
from tests.factories import OrderRequestFactory
from tests.faults.pipeline import wait_until_consumed
from tests.stack import BOOTSTRAP, SITES, STATE, alive, order_status, url, wait_for

PER_TOPIC = {"bytes": 4, "json": 4, "mutated": 16}  # records of each kind sent to each topic

# A valid payload of each topic: what the mutations start from.
LINES = [{"product_id": "P001", "quantity": 1}]
VALID_PAYLOADS = {
    "order_placed": {"customer_id": "FUZZ", "items": [{**LINES[0], "unit_price": 2999}], "total_amount": 2999,
                     "currency": "USD", "shipping_address": "1 Fuzz Street"},
    "order_cancelled": {"requested_by": "customer"},
    "payment_processed": {"payment_id": "PAY-FUZZ", "status": "COMPLETED", "amount": 2999, "lines": LINES,
                          "shipping_address": "1 Fuzz Street"},
    "payment_refunded": {"payment_id": "PAY-FUZZ", "amount": 2999, "reason": "OUT_OF_STOCK"},
    "inventory_updated": {"reservation_id": "RES-FUZZ", "status": "RESERVED", "lines": LINES,
                          "shipping_address": "1 Fuzz Street"},
    "shipment_processed": {"shipment_id": "SHIP-FUZZ", "status": "SHIPPED", "carrier": "FuzzPost",
                           "tracking_number": "FZ1"},
}


def valid_event(topic: str) -> dict:
    return new_event(topic, order_id=str(uuid.uuid4()), payload=VALID_PAYLOADS[topic],
                     producer=TOPICS[topic].producer).to_dict()


def readers() -> dict[str, set[str]]:
    """The consumer groups that read each topic, from each site's handler registry."""
    groups = defaultdict(set)
    for site in SITES:
        site_settings = importlib.import_module(f"{site}_site.settings")
        handlers = importlib.import_module(f"{site_settings.INSTALLED_APPS[-1]}.handlers").HANDLERS
        for topic in handlers:
            groups[topic].add(site_settings.SERVICE)
    return groups


# ---------------------------------------------------------------- what is sent

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=8)
# A JSON container where an envelope field expects a string, number, uuid or date: no field coerces it.
containers = st.lists(json_values, max_size=3) | st.dictionaries(st.text(max_size=10), json_values, max_size=3)


def random_bytes() -> st.SearchStrategy[bytes]:
    def not_a_json_object(raw: bytes) -> bool:
        try:
            return not isinstance(json.loads(raw), dict)
        except ValueError:
            return True
    return st.binary(max_size=120).filter(not_a_json_object)


def random_json() -> st.SearchStrategy[bytes]:
    def without_event_id(value):
        if isinstance(value, dict):
            value.pop("event_id", None)
        return json.dumps(value).encode()
    return json_values.map(without_event_id)


def mutated(topic: str) -> st.SearchStrategy[bytes]:
    """A valid event of the topic with one thing broken."""
    payload_fields = TOPICS[topic].payload.model_fields
    required_payload = [name for name, field in payload_fields.items() if field.is_required()]
    envelope_fields = [name for name in Envelope.model_fields if name != "payload"]

    def changed(path: tuple[str, ...], value):
        event = valid_event(topic)
        *within, name = path
        target = event["payload"] if within else event
        target[name] = value
        return json.dumps(event).encode()

    def dropped(path: tuple[str, ...]):
        event = valid_event(topic)
        *within, name = path
        del (event["payload"] if within else event)[name]
        return json.dumps(event).encode()

    valid_bytes = st.builds(lambda: json.dumps(valid_event(topic)).encode())
    return st.one_of(
        st.sampled_from([(name,) for name in Envelope.model_fields]).map(dropped),
        st.tuples(st.sampled_from(envelope_fields).map(lambda name: (name,)), containers).map(lambda a: changed(*a)),
        st.one_of(st.text(), st.integers(), st.none(), st.lists(json_values, max_size=3)).map(
            lambda value: changed(("payload",), value)),
        st.integers().filter(lambda version: version != SCHEMA_VERSION).map(
            lambda version: changed(("schema_version",), version)),
        st.sampled_from([other for other in TOPICS if other != topic]).map(
            lambda other: changed(("event_type",), other)),
        st.text(min_size=65, max_size=100).map(lambda long_id: changed(("order_id",), long_id)),
        st.sampled_from([("payload", name) for name in required_payload]).map(dropped),
        # a JSON object is not a string, a number or a list: wrong for every payload field
        st.tuples(st.sampled_from([("payload", name) for name in payload_fields]),
                  st.dictionaries(st.text(max_size=10), json_values, max_size=3)).map(lambda a: changed(*a)),
        # cut short: a proper prefix of a JSON object is never JSON
        valid_bytes.flatmap(lambda raw: st.integers(0, len(raw) - 1).map(lambda n: raw[:n])),
        # a byte that is never UTF-8
        valid_bytes.flatmap(lambda raw: st.integers(0, len(raw)).map(lambda n: raw[:n] + b"\xff" + raw[n:])),
    )


def fuzz(topic: str) -> st.SearchStrategy[list[tuple[bytes | None, bytes]]]:
    """The records for one topic: (key, value), so many of each kind."""
    def exactly(count: int, values: st.SearchStrategy[bytes]):
        return st.lists(st.tuples(st.none() | st.binary(max_size=40), values), min_size=count, max_size=count)
    kinds = (exactly(PER_TOPIC["bytes"], random_bytes()), exactly(PER_TOPIC["json"], random_json()),
             exactly(PER_TOPIC["mutated"], mutated(topic)))
    return st.tuples(*kinds).map(lambda drawn: [record for kind in drawn for record in kind])


# ---------------------------------------------------------------- what is checked


class DeadLetters:
    """Reads what arrives on every dead-letter topic from now on, by where the original came from."""

    def __init__(self):
        self.consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False)
        partitions = [TopicPartition(topic.dead_letter, p) for topic in TOPICS.values()
                      for p in self.consumer.partitions_for_topic(topic.dead_letter)]
        self.consumer.assign(partitions)
        self.consumer.seek_to_end(*partitions)
        for partition in partitions:
            self.consumer.position(partition)  # resolve "the end" now, before anything is sent
        self.by_origin = defaultdict(list)

    def read(self) -> None:
        for records in self.consumer.poll(timeout_ms=500).values():
            for record in records:
                headers = {name: value.decode() for name, value in record.headers}
                origin = (headers["dlt.topic"], int(headers["dlt.partition"]), int(headers["dlt.offset"]))
                self.by_origin[origin].append((record, headers))

    def close(self) -> None:
        self.consumer.close()


def store_state() -> dict:
    """Every collection's count in every database, and every product's stock."""
    client = mongo.client()
    counts = {f"{db}.{name}": client[db][name].count_documents({}) for db in client.list_database_names()
              for name in client[db].list_collection_names()}
    stock = {p["_id"]: {k: p.get(k) for k in ("available", "reserved", "shipped", "received")}
             for p in inventory_store.products().find({})}
    return {"counts": counts, "stock": stock}


def consumer_pids() -> dict[str, int]:
    return {path.stem: int(path.read_text()) for path in (STATE / "run").glob("consumer-*.pid")}


def test_the_fuzz_starts_from_valid_events():
    assert set(VALID_PAYLOADS) == set(TOPICS), "every topic needs a valid payload here to mutate"
    for topic in TOPICS:
        parse_event(json.dumps(valid_event(topic)).encode(), topic)


def quiet() -> None:
    """Nothing left from earlier tests: every order event sent, and every group caught up."""
    wait_for(lambda: not outbox.pending(order_store.orders()), timeout=60, what="the order outbox to empty")
    wait_until_consumed()


# One example per topic: hypothesis draws the whole batch (and prints it if the test fails), sent and checked at once.
@pytest.mark.parametrize("topic", TOPICS)
@settings(max_examples=1, phases=[Phase.generate], database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_fuzzed_events_are_dead_lettered_by_every_reader_and_change_nothing(topic, data):
    records = data.draw(fuzz(topic), label="records (key, value)")
    reasons = []  # what each record's dead letters must say
    for _, value in records:  # invalid by construction; checked, so that a valid one cannot slip through and act
        with pytest.raises(PoisonEvent) as poison:
            parse_event(value, topic)
        reasons.append(str(poison.value))
    groups = readers()[topic]
    pids = consumer_pids()
    assert pids, "no consumer is running"
    quiet()
    before = store_state()
    dead_letters = DeadLetters()
    try:
        producer = kafka.producer()
        sending = [(key, value, reason, producer.send(topic, key=key, value=value))
                   for (key, value), reason in zip(records, reasons, strict=True)]
        sent = {}
        for key, value, reason, future in sending:
            metadata = future.get(timeout=30)
            sent[(topic, metadata.partition, metadata.offset)] = (key, value, reason)

        def every_reader_dead_lettered_all():
            dead_letters.read()
            return all({h["dlt.group"] for _, h in dead_letters.by_origin[origin]} >= groups for origin in sent)
        wait_for(every_reader_dead_lettered_all, timeout=180, interval=0, what="every fuzzed record's dead letters")
        quiet()
        dead_letters.read()
    finally:
        dead_letters.close()

    for origin, (key, value, reason) in sent.items():
        letters = dead_letters.by_origin[origin]
        assert sorted(h["dlt.group"] for _, h in letters) == sorted(groups), (origin, key, value)
        for record, headers in letters:
            assert record.topic == TOPICS[topic].dead_letter
            assert (record.key, record.value, headers["dlt.reason"]) == (key, value, reason)
    assert store_state() == before, "a fuzzed event changed what is stored"
    assert consumer_pids() == pids and all(alive(pid) for pid in pids.values()), "a consumer died"

    # and nothing stalled: an order placed now goes all the way
    order_id = requests.post(url("order", "/orders"), json=OrderRequestFactory(), timeout=10).json()["order_id"]
    wait_for(lambda: order_status(order_id) == "SHIPPED", timeout=120, what="an order placed after the fuzz")
