"""The Kafka console's pages over real HTTP against the test stack: what a person would look for on each."""

import html
import json
import re
import uuid

import pytest
import requests
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition

from tests.factories import OrderRequestFactory, ProductFactory
from tests.stack import BOOTSTRAP, console_url, order_status, url, wait_for

# Nobody consumes dead-letter topics, so records the tests put there change nothing in the pipeline.
QUIET_TOPIC = "payment_refunded.DLT"


@pytest.fixture(scope="module")
def producer():
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP)
    yield producer
    producer.close()


def send(producer, topic: str, key: str, value: bytes, headers=()):
    return producer.send(topic, key=key.encode(), value=value, headers=list(headers)).get(timeout=10)


def page(path: str, **params) -> str:
    answer = requests.get(console_url(path), params=params, timeout=30)
    assert answer.status_code == 200, answer.text[:500]
    return html.unescape(answer.text)


def topic_row(name: str) -> list[str]:
    """The cells of a topic's row on the topics page."""
    row = re.search(rf'<tr id="topic-{re.escape(name)}">(.*?)</tr>', page("/topics"), re.S).group(1)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def test_the_topics_page_lists_every_topic_with_its_count_and_rate(producer):
    names = re.findall(r'<tr id="topic-([^"]+)">', page("/topics"))
    assert {"order_placed", "order_placed.DLT", "shipment_processed", "shipment_processed.DLT"} <= set(names)
    before = int(topic_row(QUIET_TOPIC)[3])
    for _ in range(3):
        send(producer, QUIET_TOPIC, "count-me", b"{}")
    cells = topic_row(QUIET_TOPIC)
    assert int(cells[3]) == before + 3  # messages
    assert re.fullmatch(r"\d+(\.\d+)?", cells[4]), cells  # msg/s: a figure of the last seconds, not a fact to test
    assert cells[1] == "6" and cells[2] == "1"  # partitions, replication


def test_a_produced_record_shows_on_its_topic_page_with_key_headers_and_json(producer):
    key = f"console-{uuid.uuid4()}"
    value = json.dumps({"event_type": "payment_refunded", "order_id": key}).encode()
    send(producer, QUIET_TOPIC, key, value, [("dlt.reason", b"invalid event: payload.amount: missing")])
    text = page(f"/topics/{QUIET_TOPIC}", order_id=key)
    assert key in text
    assert "dlt.reason" in text and "invalid event: payload.amount: missing" in text
    assert '"event_type": "payment_refunded"' in text  # pretty-printed: a space after the colon
    assert "Read without a consumer group" in text
    newest = page(f"/topics/{QUIET_TOPIC}", limit=1)
    assert key in newest  # the newest record of the topic


def test_records_from_a_partition_and_offset(producer):
    key = f"console-{uuid.uuid4()}"
    sent = [send(producer, QUIET_TOPIC, key, f'{{"n": {n}}}'.encode()) for n in range(3)]
    first = sent[1]
    text = page(f"/topics/{QUIET_TOPIC}", partition=first.partition, offset=first.offset, limit=2)
    assert '"n": 1' in text and '"n": 2' in text and '"n": 0' not in text


def test_an_order_is_followed_across_topics_in_causal_order():
    product = ProductFactory(available=5)  # stock of its own, whatever other tests ordered
    items = [{"product_id": product["_id"], "quantity": 1, "price": 10.0}]
    order = requests.post(url("order", "/orders"), json=OrderRequestFactory(items=items), timeout=10).json()
    order_id = order["order_id"]
    wait_for(lambda: order_status(order_id) == "SHIPPED", timeout=60, what="the order to ship")

    def all_four():
        text = page("/orders", order_id=order_id)
        hops = re.findall(r'<span class="type">(\w+)</span>', text)
        return len(hops) >= 4 and (text, hops)
    text, hops = wait_for(all_four, timeout=30, what="the order's four events on the console")
    assert hops == ["order_placed", "payment_processed", "inventory_updated", "shipment_processed"]
    assert len(re.findall(r"\+\d+ ms", text)) == 3  # the time between each hop and its cause
    assert "only that partition of each topic is read" in " ".join(text.split())


def test_a_group_s_lag_is_shown_per_partition_and_in_total(producer):
    group = f"console-test-{uuid.uuid4().hex[:8]}"
    key = f"console-{uuid.uuid4()}"
    sent = [send(producer, QUIET_TOPIC, key, b"{}") for _ in range(3)]
    partition = TopicPartition(QUIET_TOPIC, sent[0].partition)
    # a group that committed the offset of the first of the three records: three behind
    consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=group, enable_auto_commit=False)
    consumer.assign([partition])
    consumer.commit({partition: OffsetAndMetadata(sent[0].offset, "", -1)})
    consumer.close()

    end = sent[-1].offset + 1
    # The topic's other partitions, where the group committed nothing, count from their earliest record: that is
    # where a consumer of the group would start (earlier tests left records there).
    reader = KafkaConsumer(bootstrap_servers=BOOTSTRAP)
    others = [TopicPartition(QUIET_TOPIC, p) for p in reader.partitions_for_topic(QUIET_TOPIC)
              if p != partition.partition]
    ends, earliest = reader.end_offsets(others), reader.beginning_offsets(others)
    reader.close()
    total = 3 + sum(ends[tp] - earliest[tp] for tp in others)

    text = page("/groups")
    section = re.search(rf'<section id="{group}">(.*?)</section>', text, re.S).group(1)
    assert re.search(rf"{group}: Empty, lag <span[^>]*>{total}</span>", section)
    row = re.search(rf"{QUIET_TOPIC}</a></td><td[^>]*>{partition.partition}</td>(.*?)</tr>", section, re.S).group(1)
    assert re.findall(r">(\d+)<", row) == [str(sent[0].offset), str(end), "3"]  # committed, end, lag
    other = others[0]
    row = re.search(rf"{QUIET_TOPIC}</a></td><td[^>]*>{other.partition}</td>(.*?)</tr>", section, re.S).group(1)
    assert re.findall(r">([^<>\s]+)<", row) == ["–", str(ends[other]), str(ends[other] - earliest[other])]
    assert f"{group}</a>: Empty, lag {total}" in page("/")  # the overview lists groups that are not a site's


def test_the_overview_draws_each_site_and_who_reads_each_topic():
    text = page("/")
    for site in ("order", "payment", "inventory", "shipment"):
        assert f'id="site-{site}"' in text
    flow = re.search(r'<div class="flow" id="flow-order_placed">(.*?)</div>', text, re.S).group(1)
    assert re.search(r'<span class="box">order</span>', flow)  # the producer
    assert re.search(r'<span class="box">payment <span class="note">lag', flow)  # the payment-service group
    assert "msg/s" in flow


def test_reading_the_console_creates_no_consumer_group():
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    try:
        before = {g["group_id"] for g in admin.list_groups()}
        for path in ("/", "/topics", "/groups", "/topics/order_placed", "/orders?order_id=nobody"):
            page(path)
        assert {g["group_id"] for g in admin.list_groups()} == before
    finally:
        admin.close()


@pytest.mark.parametrize(("path", "params", "status", "says"), [
    ("/topics/no_such_topic", {}, 404, "no topic"),
    ("/topics/__consumer_offsets", {}, 404, "no topic"),  # exists on the broker, but is not one of ours
    ("/topics/order_placed", {"partition": "99", "offset": "0"}, 400, "partition"),
    ("/topics/order_placed", {"partition": "0", "offset": "-1"}, 400, "offset"),
    ("/topics/order_placed", {"partition": "0", "offset": "x"}, 400, "offset"),
    ("/topics/order_placed", {"partition": "0", "offset": str(2**64)}, 400, "offset"),
    ("/topics/order_placed", {"partition": "0"}, 400, "give both a partition and an offset"),
    ("/topics/order_placed", {"limit": "100000"}, 400, "limit"),
    ("/topics/order_placed", {"order_id": "<script>"}, 400, "order_id"),
    ("/orders", {"order_id": "a b"}, 400, "order_id"),
    ("/orders", {"order_id": "x" * 65}, 400, "order_id"),
])
def test_bad_input_is_a_4xx_page_that_says_why(path, params, status, says):
    answer = requests.get(console_url(path), params=params, timeout=30)
    assert answer.status_code == status, answer.text[:300]
    assert says in html.unescape(answer.text)
    assert "<script>" not in answer.text  # what was typed is escaped, never run


def test_the_console_only_answers_reads():
    answer = requests.post(console_url("/topics/order_placed"), data={"partition": "0"}, timeout=10)
    assert answer.status_code == 405
