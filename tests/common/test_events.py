"""The envelope and payload serializers: what is a valid event, and what is poison."""

import json
from dataclasses import replace

import pytest

from common.events import PoisonEvent, parse_event
from tests.factories import follow_up, order_placed


def test_an_event_survives_the_trip_through_bytes():
    event = order_placed(lines=[("P001", 2), ("P002", 1)])
    assert parse_event(event.to_bytes(), "order_placed") == event
    assert event.causation_id is None and event.correlation_id == event.order_id


def test_a_derived_event_has_the_same_id_every_time_it_is_made():
    cause = order_placed()
    payload = {"payment_id": "p", "status": "COMPLETED", "amount": 1000, "lines": [{"product_id": "P001",
               "quantity": 1}], "shipping_address": "x"}
    first, second = (follow_up(cause, "payment_processed", payload) for _ in range(2))
    assert first.event_id == second.event_id != cause.event_id
    assert first.causation_id == cause.event_id and first.correlation_id == cause.order_id


def test_derived_event_ids_stay_the_same_across_releases():
    """Events already on the topics were made by an earlier release: a redelivered one must make the ids it made."""
    cause = replace(order_placed(), event_id="00000000-0000-4000-8000-000000000001")
    payment = {"payment_id": "p", "status": "COMPLETED", "amount": 1000, "lines": [{"product_id": "P001",
               "quantity": 1}], "shipping_address": "x"}
    reservation = {"reservation_id": "r", "status": "RESERVED", "lines": [{"product_id": "P001", "quantity": 1}],
                   "shipping_address": "x"}
    assert follow_up(cause, "payment_processed", payment).event_id == "f2542f03-43e7-520a-ac0d-448f6d5ffc1e"
    assert follow_up(cause, "inventory_updated", reservation).event_id == "3bfa5b3a-5c1a-5b96-9264-a972b210ebbd"


def test_making_an_invalid_event_fails_before_it_can_reach_an_outbox():
    with pytest.raises(Exception, match="total_amount"):
        order_placed(total_amount=1)


def poison(mutate):
    data = order_placed().to_dict()
    mutate(data)
    return json.dumps(data).encode()


shipped = follow_up(order_placed(), "shipment_processed",
                    {"shipment_id": "s", "status": "SHIPPED", "carrier": "UPS", "tracking_number": "1"})


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (None, "not JSON"),
        (poison(lambda d: d.update(schema_version=2)), "unknown schema version 2"),
        (poison(lambda d: d.pop("event_id")), "event_id"),
        (poison(lambda d: d["payload"].update(items=[])), "items"),
        (poison(lambda d: d["payload"]["items"][0].update(quantity=0)), "quantity"),
        (poison(lambda d: d["payload"].update(total_amount=5)), "total_amount"),
        (shipped.to_bytes(), "event_type 'shipment_processed' arrived on topic 'order_placed'"),
    ],
)
def test_poison_events_are_refused_with_a_reason(raw, reason):
    with pytest.raises(PoisonEvent, match=reason):
        parse_event(raw, "order_placed")
