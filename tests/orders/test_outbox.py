"""The outbox relay sends an event only if the write that announces it happened."""

from common import outbox
from common.events import new_event
from orders import store
from tests.stack import records_for


def test_a_cancel_whose_write_was_refused_is_never_relayed_and_one_that_was_written_is(placed):
    """Two cancel requests raced: both marked, one recorded on the order. Only that one goes."""
    refused = new_event("order_cancelled", order_id=placed.order_id, payload={"requested_by": "customer"},
                        producer="order-service")
    outbox.mark_pending(store.orders(), placed.order_id, refused, recorded_as="cancel.event_id")
    # (the request died here, or the order became final: the order never recorded this cancel)
    accepted = new_event("order_cancelled", order_id=placed.order_id, payload={"requested_by": "staff"},
                         producer="order-service")
    outbox.mark_pending(store.orders(), placed.order_id, accepted, recorded_as="cancel.event_id")
    store.order_cancel_request(placed.order_id, {"event_id": accepted.event_id, "requested_by": "staff",
                                                 "note": None, "requested_at": accepted.occurred_at})

    outbox.relay([store.orders()], older_than=0)
    sent = [record.value for record in records_for("order_cancelled", placed.order_id)]
    assert len(sent) == 1 and accepted.event_id.encode() in sent[0]
    # the order records another cancel, so the refused one can never go: its mark is gone too
    assert [mark for mark in outbox.pending(store.orders()) if mark["document_id"] == placed.order_id] == []
