"""One trace per order, as Zipkin shows it: found by the order's `order_id` tag, through Zipkin's own API, with
the spans the real processes of the test stack sent it."""

import json
import uuid
from datetime import UTC, datetime

import requests
from django.conf import settings

from common import kafka, mongo, outbox
from orders import store
from tests.factories import OrderRequestFactory, ProductFactory, order_placed, seed_items
from tests.stack import manage_all, order_status, url, wait_for, zipkin_url
from tests.tracing.traces import (
    SERVICES,
    SETTLE,
    SHIPPED_HOPS,
    assert_hop,
    assert_one_tree_of_the_order,
    order_trace,
    place,
    spans_named,
    trace_holding,
    traces_of,
)


def test_an_order_that_ships_is_one_trace_through_all_five_services_hop_by_hop():
    order_id = place(OrderRequestFactory(items=seed_items()))
    wait_for(lambda: order_status(order_id) == "SHIPPED", timeout=SETTLE, what="the order to ship")
    spans = order_trace(order_id, SHIPPED_HOPS)

    by_id = assert_one_tree_of_the_order(spans, order_id)
    assert {span["localEndpoint"]["serviceName"] for span in spans} == SERVICES
    for hop in SHIPPED_HOPS:
        assert_hop(spans, by_id, order_id, *hop)
    # the request's store calls are in it too
    assert any(span.get("kind") == "CLIENT" and span["tags"].get("db.system") == "mongodb" for span in spans)
    # the timeline names the same trace
    timeline = requests.get(url("order", f"/orders/{order_id}/timeline"), timeout=10).json()
    assert timeline[0]["trace_id"] == spans[0]["traceId"]


def test_zipkin_draws_each_service_and_topic_of_the_pipeline_in_its_dependency_graph():
    started = datetime.now(UTC)
    order_id = place(OrderRequestFactory(items=seed_items()))
    wait_for(lambda: order_status(order_id) == "SHIPPED", timeout=SETTLE, what="the order to ship")
    order_trace(order_id, SHIPPED_HOPS)
    expected = {("order-service", "mongodb")}
    for topic, producer, readers in SHIPPED_HOPS:
        expected |= {(producer, topic)} | {(topic, reader) for reader in readers}

    # Zipkin works the graph out of the traces it holds, for the period asked: since this order was placed
    now = datetime.now(UTC)
    answer = requests.get(zipkin_url("/api/v2/dependencies"), timeout=10, params={
        "endTs": int(now.timestamp() * 1000), "lookback": int((now - started).total_seconds() * 1000) + 1000})
    assert answer.status_code == 200, answer.text
    drawn = {(link["parent"], link["child"]) for link in answer.json()}
    assert expected <= drawn, expected - drawn


def test_a_batch_span_links_to_the_traces_of_its_records_and_holds_the_batch_store_calls():
    """(Zipkin keeps no links: the batch span names the traces it links to in a tag.)"""
    order_id = place(OrderRequestFactory(items=seed_items()))
    trace_id = order_trace(order_id, SHIPPED_HOPS[:1])[0]["traceId"]

    def batch_of_the_order():
        answer = requests.get(zipkin_url("/api/v2/traces"), timeout=10, params={
            "serviceName": "payment-service", "spanName": "process batch", "limit": 200})
        for spans in answer.json():
            for span in spans:
                if span["tags"].get("messaging.destination.name") == "order_placed" and trace_id in json.loads(
                        span["tags"].get("messaging.batch.trace_ids", "[]")):
                    return span, spans
        return None

    batch, batch_trace = wait_for(batch_of_the_order, timeout=SETTLE, interval=1, what="the batch's span")
    assert batch.get("kind") == "CONSUMER" and "parentId" not in batch and batch["traceId"] != trace_id
    assert batch["tags"]["messaging.consumer.group.name"] == "payment-service"
    assert any(span.get("parentId") == batch["id"] and span["tags"].get("db.system") == "mongodb"
               for span in batch_trace), "the handler's store calls are children of the batch span"


def test_an_order_refused_for_want_of_stock_shows_the_refund_in_its_trace():
    scarce = ProductFactory(available=1)
    order_id = place(OrderRequestFactory(items=[{"product_id": scarce["_id"], "quantity": 2, "price": 10.00}],
                                         total_amount=20.00))
    wait_for(lambda: order_status(order_id) == "CANCELLED", timeout=SETTLE, what="the order to be cancelled")
    hops = [*SHIPPED_HOPS[:2], ("inventory_updated", "inventory-service", {"order-service", "payment-service"}),
            ("payment_refunded", "payment-service", {"order-service"})]
    spans = order_trace(order_id, hops)

    by_id = assert_one_tree_of_the_order(spans, order_id)
    for hop in hops:
        assert_hop(spans, by_id, order_id, *hop)
    [refund] = spans_named(spans, "payment_refunded create", "payment-service", "PRODUCER")
    assert by_id[refund["parentId"]]["name"] == "inventory_updated process"  # the compensation, caused by the refusal
    assert not spans_named(spans, "shipment_processed create", "shipment-service", "PRODUCER")


def test_a_declined_payment_ends_the_trace_at_the_payment():
    price = float(settings.PAYMENT_APPROVAL_LIMIT) + 0.01
    order_id = place(OrderRequestFactory(items=[{"product_id": "P001", "quantity": 1, "price": price}],
                                         total_amount=price))
    wait_for(lambda: order_status(order_id) == "CANCELLED", timeout=SETTLE, what="the order to be cancelled")
    spans = order_trace(order_id, SHIPPED_HOPS[:2])
    by_id = assert_one_tree_of_the_order(spans, order_id)
    for hop in SHIPPED_HOPS[:2]:
        assert_hop(spans, by_id, order_id, *hop)
    assert not spans_named(spans, "inventory_updated create", "inventory-service", "PRODUCER")


def test_a_dead_lettered_record_says_why_in_the_trace_it_came_with_and_a_replay_goes_on_in_it():
    trace_id, parent_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    key = f"poison-{uuid.uuid4().hex[:8]}"
    poison = {**order_placed().to_dict(), "schema_version": 99}
    kafka.producer().send("order_placed", key=key.encode(), value=json.dumps(poison).encode(),
                          headers=[("traceparent", f"00-{trace_id}-{parent_id}-01".encode())]).get(timeout=10)

    consumed_span = ("order_placed process", "payment-service", "CONSUMER")
    spans = trace_holding(trace_id, ("order_placed.DLT create", "payment-service", "PRODUCER"), consumed_span)
    [consumed] = spans_named(spans, *consumed_span)
    assert consumed["parentId"] == parent_id  # in the trace of the record's producer
    assert consumed["tags"]["otel.status_code"] == "ERROR"
    assert "dead-lettered: invalid event: schema_version: " in consumed["tags"]["error"]
    assert consumed["tags"]["dead_letter.topic"] == "order_placed.DLT" and consumed["tags"]["order_id"] == key
    [letter] = spans_named(spans, "order_placed.DLT create", "payment-service", "PRODUCER")
    assert letter["parentId"] == consumed["id"]

    manage_all("manage", "payment", "dlt", "replay", "order_placed")  # (still poison: dead-lettered again)

    def replay_consumed():
        spans = trace_holding(trace_id, ("order_placed create", "payment-service", "PRODUCER"))
        replays = {span["parentId"]: span["id"] for span in
                   spans_named(spans, "order_placed create", "payment-service", "PRODUCER")}
        processed = spans_named(spans, "order_placed process", "payment-service", "CONSUMER")
        return letter["id"] in replays and any(span["parentId"] == replays[letter["id"]] for span in processed)

    wait_for(replay_consumed, timeout=SETTLE, interval=1, what="the replay, and the replayed record's process span")


def test_the_relay_resends_an_event_in_the_trace_saved_with_it():
    """A request stored its order and the event's outbox mark, then died before sending: the relay process sends
    the event later, under the traceparent the mark kept, and the pipeline goes on in that trace."""
    trace_id, request_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    event = order_placed()
    now = datetime.now(UTC)
    outbox.mark_pending(store.orders(), event.order_id, event, recorded_as="placed_event_id")
    mongo.collection("orders", outbox.MARKS).update_one(
        {"_id": event.event_id}, {"$set": {"traceparent": f"00-{trace_id}-{request_span}-01"}})
    store.order_insert({"_id": event.order_id, **event.payload, "status": "PENDING", "status_rank": 0,
                        "final": False, "reason": None, "created_at": now, "updated_at": now,
                        "placed_event_id": event.event_id})

    resent_span = ("order_placed create", "order-service", "PRODUCER")
    paid_span = ("order_placed process", "payment-service", "CONSUMER")
    spans = trace_holding(trace_id, resent_span, paid_span)
    [resent] = spans_named(spans, *resent_span)
    assert resent["parentId"] == request_span and resent["tags"]["order_id"] == event.order_id
    [paid] = spans_named(spans, *paid_span)
    assert paid["parentId"] == resent["id"]


def test_an_order_s_log_lines_name_its_trace_and_their_spans():
    order_id = place(OrderRequestFactory(items=seed_items()))
    spans = order_trace(order_id, SHIPPED_HOPS)
    span_ids = {span["id"] for span in spans}
    chain = {("web-order", None), ("consumer-payment-1", "order_placed"), ("consumer-shipment-1", "inventory_updated"),
             ("consumer-order-1", "shipment_processed")}

    def lines():
        answer = manage_all("logs", "--order", order_id, "--json", check=False)
        found = [json.loads(line) for line in answer.stdout.splitlines()]
        return chain <= {(line["component"], line.get("event_type")) for line in found} and found

    for line in wait_for(lines, timeout=SETTLE, what="the order's log lines"):
        assert line["trace_id"] == spans[0]["traceId"] and line["span_id"] in span_ids, line


def test_housekeeping_makes_no_traces_of_its_own():
    """Deleting the outbox marks of events the broker has (in the background, many orders at a time) and the
    readiness probe's store call are nobody's order: no traces of their own in Zipkin, where a person looks for
    orders."""
    started = datetime.now(UTC)
    session = requests.Session()  # one kept-alive connection: every request goes to the same web worker
    marks = mongo.collection("orders", outbox.MARKS)
    first = session.post(url("order", "/orders"), json=OrderRequestFactory(items=seed_items()), timeout=10)
    assert first.status_code == 201, first.text
    wait_for(lambda: marks.count_documents({"document_id": first.json()["order_id"]}) == 0, timeout=SETTLE,
             what="the first order's outbox mark to be deleted")
    assert session.get(url("order", "/ready"), timeout=10).status_code == 200
    # The worker sends its spans in the order they ended: once the second request's span is in Zipkin, so is any
    # span of the deletion and the probe before it.
    second = session.post(url("order", "/orders"), json=OrderRequestFactory(items=seed_items()), timeout=10)
    assert second.status_code == 201, second.text
    wait_for(lambda: (found := traces_of(second.json()["order_id"])) and spans_named(
        found[0], "post orders", "order-service", "SERVER"), timeout=SETTLE, what="the second request's span in Zipkin")

    now = datetime.now(UTC)
    for name in ("orders.delete", "admin.ping"):
        answer = requests.get(zipkin_url("/api/v2/traces"), timeout=10, params={
            "serviceName": "order-service", "spanName": name, "endTs": int(now.timestamp() * 1000),
            "lookback": int((now - started).total_seconds() * 1000) + 1000, "limit": 10})
        assert answer.status_code == 200, answer.text
        assert answer.json() == [], name
