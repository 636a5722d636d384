"""Reading one order's trace back from Zipkin's API, and what every trace of an order must look like."""

import requests

from tests.stack import url, wait_for, zipkin_url

SETTLE = 60  # seconds: an order to finish and every process to send its spans, on a loaded machine
# Each hop of an order that ships: the topic, the service that makes the event, the services that read it.
SHIPPED_HOPS = [
    ("order_placed", "order-service", {"payment-service", "notification-service"}),
    ("payment_processed", "payment-service", {"order-service", "inventory-service", "notification-service"}),
    ("inventory_updated", "inventory-service", {"order-service", "payment-service", "shipment-service"}),
    ("shipment_processed", "shipment-service", {"order-service", "payment-service", "inventory-service",
                                                "notification-service"}),
]
SERVICES = {"order-service", "payment-service", "inventory-service", "shipment-service", "notification-service"}


def place(body) -> str:
    response = requests.post(url("order", "/orders"), json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["order_id"]


def traces_of(order_id: str) -> list[list[dict]]:
    answer = requests.get(zipkin_url("/api/v2/traces"), timeout=10,
                          params={"annotationQuery": f"order_id={order_id}", "limit": 10})
    assert answer.status_code == 200, answer.text
    return answer.json()


def spans_named(spans: list[dict], name: str, service: str, kind: str | None = None) -> list[dict]:
    return [s for s in spans if s["name"] == name.lower() and s["localEndpoint"]["serviceName"] == service
            and s.get("kind") == kind]


def hops_arrived(spans: list[dict], hops) -> bool:
    """Every hop's PRODUCER span and each reader's CONSUMER span are in (each process sends its spans apart)."""
    return all(spans_named(spans, f"{topic} create", producer, "PRODUCER")
               and all(spans_named(spans, f"{topic} process", reader, "CONSUMER") for reader in readers)
               for topic, producer, readers in hops)


def order_trace(order_id: str, hops) -> list[dict]:
    """The order's trace, once the spans of all its hops have reached Zipkin; there must be exactly one."""
    traces = wait_for(lambda: (found := traces_of(order_id)) and hops_arrived(found[0], hops) and found,
                      timeout=SETTLE, interval=1, what=f"the trace of order {order_id} in Zipkin")
    assert len(traces) == 1, [{span["traceId"] for span in t} for t in traces]
    return traces[0]


def assert_one_tree_of_the_order(spans: list[dict], order_id: str) -> dict:
    """One root (the POST), every other span's parent in the trace, `order_id` on every span; the spans by id."""
    by_id = {span["id"]: span for span in spans}
    roots = [span for span in spans if "parentId" not in span]
    assert [(root["localEndpoint"]["serviceName"], root.get("kind"), root["name"]) for root in roots] == [
        ("order-service", "SERVER", "post orders")]
    assert all(span["parentId"] in by_id for span in spans if span is not roots[0]), "a span's parent is missing"
    assert {span["tags"].get("order_id") for span in spans} == {order_id}
    return by_id


def assert_hop(spans: list[dict], by_id: dict, order_id: str, topic: str, producer: str, readers: set[str]) -> None:
    """The event is made under its cause (the POST, or the record that caused it); each reader's span is a child of
    the span that made the record, with the record's messaging attributes."""
    [made] = spans_named(spans, f"{topic} create", producer, "PRODUCER")
    cause = by_id[made["parentId"]]
    assert cause["localEndpoint"]["serviceName"] == producer and cause.get("kind") in ("SERVER", "CONSUMER", None)
    assert made["tags"]["messaging.destination.name"] == topic
    assert made["tags"]["messaging.kafka.message.key"] == order_id
    for reader in readers:
        consumed = spans_named(spans, f"{topic} process", reader, "CONSUMER")
        assert consumed and {span["parentId"] for span in consumed} == {made["id"]}, (topic, reader)
        tags = consumed[0]["tags"]
        assert tags["messaging.system"] == "kafka" and tags["messaging.consumer.group.name"] == reader
        assert tags["messaging.destination.name"] == topic and tags["messaging.kafka.message.key"] == order_id
        assert int(tags["messaging.kafka.offset"]) >= 0 and tags["messaging.destination.partition.id"].isdigit()


def trace_holding(trace_id: str, *wanted: tuple[str, str, str]) -> list[dict]:
    """The spans of a trace, once each wanted (name, service, kind) span has reached Zipkin: each process sends
    its spans apart, so one span's arrival says nothing of another's."""

    def spans():
        answer = requests.get(zipkin_url(f"/api/v2/trace/{trace_id}"), timeout=10)
        found = answer.json() if answer.status_code == 200 else []
        return all(spans_named(found, *span) for span in wanted) and found

    return wait_for(spans, timeout=SETTLE, interval=1, what=f"the spans {wanted} in trace {trace_id}")
