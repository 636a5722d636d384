"""One log line per HTTP request and one per event a consumer handled, each naming its order.

The lines are JSON when the output is a file (each component's log under `manage_all.sh`) and plain
text on a terminal (common/settings.py LOGGING), so `./manage_all.sh logs --order ID` (infra/logs.py)
can gather one order's lines from every component's log.
"""

import json
import logging
import time

import orjson
from pythonjsonlogger.json import JsonEncoder
from pythonjsonlogger.orjson import OrjsonFormatter

from common import tracing

request_log = logging.getLogger("orderpipe.requests")
event_log = logging.getLogger("orderpipe.events")


class RequestLogMiddleware:
    """One line per request: method, path, status, time taken, and the order it concerns if any."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        milliseconds = round((time.perf_counter() - started) * 1000, 1)
        fields = {"method": request.method, "path": request.path, "status": response.status_code,
                  "duration_ms": milliseconds}
        order_id = _order_id(request, response)
        if order_id:
            fields["order_id"] = order_id
        request_log.info("%s %s %d %.1f ms", request.method, request.path, response.status_code, milliseconds,
                         extra=fields)
        return response


class JsonFormatter(OrjsonFormatter):
    """python-json-logger's orjson formatter (half the standard encoder's time, and a consumer writes a line per
    event), falling back to the standard encoder for what orjson refuses, so that no line is lost: integers beyond
    64 bits, and strings with a lone surrogate (which a JSON event's `\\ud800` escape decodes to)."""

    def jsonify_log_record(self, log_data) -> str:
        try:
            return super().jsonify_log_record(log_data)
        except orjson.JSONEncodeError:
            return json.dumps(log_data, cls=JsonEncoder)


class TraceIds(logging.Filter):
    """Every line logged within a span names it (trace_id, span_id): a log line and its trace meet."""

    def filter(self, record) -> bool:
        if tracing.ENABLED and not hasattr(record, "trace_id"):
            record.__dict__.update(tracing.log_ids())
        return True


def _order_id(request, response) -> str | None:
    """From the path (`/orders/<order_id>`, `/payments/<order_id>`, …), else from the answer (`POST /orders`)."""
    match = request.resolver_match
    if match and "order_id" in match.kwargs:
        return match.kwargs["order_id"]
    data = getattr(response, "data", None)  # a DRF Response still has the data it renders
    return data.get("order_id") if isinstance(data, dict) else None


def log_handled_events(deliveries, trace_ids=lambda position: {}) -> None:
    """One line per event of a batch whose results are written and whose caused events the broker has; with
    `trace_ids(position)`, each names the span of its record (common.tracing)."""
    if not event_log.isEnabledFor(logging.INFO):
        return
    for event, position in deliveries:
        event_log.info(
            "%s handled: order %s, %s[%d]@%d", event.event_type, event.order_id, position.topic,
            position.partition, position.offset,
            extra={"order_id": event.order_id, "event_id": event.event_id, "event_type": event.event_type,
                   "correlation_id": event.correlation_id, "topic": position.topic,
                   "partition": position.partition, "offset": position.offset, **trace_ids(position)},
        )
