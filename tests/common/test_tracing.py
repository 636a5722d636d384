"""The span pipeline of every process (common.tracing), with an exporter of the test's own in Zipkin's place."""

import os
import subprocess
import sys
import threading

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from common import tracing
from tests.stack import REPO


class StuckBackend(SpanExporter):
    """A trace backend that does not answer until released."""

    def __init__(self):
        self.released = threading.Event()

    def export(self, spans):
        self.released.wait(timeout=30)
        return SpanExportResult.SUCCESS


def dropped(reason: str) -> float:
    return tracing.SPANS_DROPPED.labels(reason)._value.get()


def test_a_stuck_backend_costs_spans_not_time_and_the_spans_it_costs_are_counted(monkeypatch):
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "4")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1")
    backend = StuckBackend()
    provider = TracerProvider()
    provider.add_span_processor(tracing.exporting(backend))
    tracer = provider.get_tracer("test")
    before = dropped("queue_full")
    try:
        for _ in range(20):
            tracer.start_span("work").end()  # returns at once: the queue is bounded, nothing waits for the backend
        assert dropped("queue_full") - before >= 20 - 4 - 2  # all but a full queue and what was being exported
    finally:
        backend.released.set()
        provider.shutdown()


def test_a_backend_that_refuses_spans_has_them_counted_as_lost():
    class Down(SpanExporter):
        def export(self, spans):
            raise ConnectionRefusedError("zipkin is down")

    provider = TracerProvider()
    processor = tracing.exporting(Down())
    provider.add_span_processor(processor)
    before = dropped("export_failed")
    for _ in range(3):
        provider.get_tracer("test").start_span("work").end()
    processor.force_flush()
    assert dropped("export_failed") - before == 3
    provider.shutdown()


WHAT_TRACING_DOES = """
from common import kafka, tracing
from common.events import new_event
event = new_event("order_cancelled", order_id="o-1", payload={"requested_by": "customer"}, producer="test")
print(tracing.ENABLED, "headers" in kafka.event_record(event), type(tracing.batch_trace([], "group")).__name__)
"""


def test_otel_sdk_disabled_true_leaves_records_without_trace_headers_and_batches_without_spans():
    def run(disabled: str) -> list[str]:
        return subprocess.run([sys.executable, "-c", WHAT_TRACING_DOES], cwd=REPO, capture_output=True, text=True,
                              env={**os.environ, "OTEL_SDK_DISABLED": disabled}, check=True).stdout.split()

    assert run("true") == ["False", "False", "_Untraced"]
    assert run("false") == ["True", "True", "BatchTrace"]


TRACE_ID, SPAN_ID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
TRACEPARENTS = [
    f"00-{TRACE_ID}-{SPAN_ID}-01", f"00-{TRACE_ID}-{SPAN_ID}-00", f" 00-{TRACE_ID}-{SPAN_ID}-01 ",
    f"\t00-{TRACE_ID}-{SPAN_ID}-01\n", f"\n00-{TRACE_ID}-{SPAN_ID}-01", f"00-{TRACE_ID}-{SPAN_ID}-01\r",
    f"01-{TRACE_ID}-{SPAN_ID}-01-what-a-later-version-adds",  # a later version may add fields
    f"00-{TRACE_ID}-{SPAN_ID}-01-more",  # version 00 may not
    f"ff-{TRACE_ID}-{SPAN_ID}-01", f"00-{'0' * 32}-{SPAN_ID}-01", f"00-{TRACE_ID}-{'0' * 16}-01",
    f"00-{TRACE_ID.upper()}-{SPAN_ID}-01", f"00-{TRACE_ID[:-1]}-{SPAN_ID}-01", f"00-{TRACE_ID}-{SPAN_ID}-1",
    f"00-{TRACE_ID}-{SPAN_ID[:-1]}g-01", f"00_{TRACE_ID}_{SPAN_ID}_01", "", "garbage", "00-1-2-3",
]


def test_a_traceparent_is_read_and_written_as_opentelemetry_s_own_propagator_does():
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    w3c = TraceContextTextMapPropagator()
    for traceparent in TRACEPARENTS:
        theirs = trace.get_current_span(w3c.extract({"traceparent": traceparent})).get_span_context()
        ours = tracing.span_context_of(traceparent)
        assert (ours or trace.INVALID_SPAN_CONTEXT) == theirs, traceparent
        assert tracing.span_context_of(traceparent.encode()) == ours
        if ours:
            carrier = {}
            w3c.inject(carrier, trace.set_span_in_context(trace.NonRecordingSpan(ours)))
            assert tracing.traceparent_of(ours) == carrier["traceparent"]
    assert tracing.traceparent_of(trace.INVALID_SPAN_CONTEXT) is None


def test_a_saved_traceparent_that_is_not_one_starts_a_trace_of_its_own():
    provider = TracerProvider()
    with provider.get_tracer("test").start_as_current_span("request"):
        context = tracing.context_from("garbage")
        assert context is not None and not trace.get_current_span(context).get_span_context().is_valid
        assert tracing.context_from(None) is None  # none saved: the current span goes on


# ---------------------------------------------------------------- what goes to Zipkin

def finished_spans(resource_attributes: dict, make) -> list:
    """The spans `make(tracer)` makes, as the SDK hands them to an exporter."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanLimits
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    class Keep(SpanExporter):
        def __init__(self):
            self.spans = []

        def export(self, spans):
            self.spans.extend(spans)
            return SpanExportResult.SUCCESS

    kept = Keep()
    provider = TracerProvider(resource=Resource(resource_attributes), span_limits=SpanLimits(max_span_attributes=6))
    provider.add_span_processor(SimpleSpanProcessor(kept))
    make(provider.get_tracer("test-scope", None))
    return kept.spans


def as_upstream_writes_them(spans, max_tag_value_length=None) -> list[dict]:
    """OpenTelemetry's own Zipkin JSON for the spans, with the two changes the project's encoder makes."""
    import json

    from opentelemetry.exporter.zipkin.json.v2 import JsonV2Encoder
    from opentelemetry.exporter.zipkin.node_endpoint import NodeEndpoint

    theirs = json.loads(JsonV2Encoder(max_tag_value_length).serialize(spans, NodeEndpoint()))
    for encoded, span in zip(theirs, spans, strict=True):
        for repeated in ("service.name", "otel.library.name", "otel.library.version"):
            encoded.get("tags", {}).pop(repeated, None)
        if remote := tracing._remote_service(span.kind, span.attributes):
            encoded["remoteEndpoint"] = {"serviceName": remote}
    return theirs


def as_ours_writes_them(spans, max_tag_value_length=None) -> list[dict]:
    import json

    from opentelemetry.exporter.zipkin.node_endpoint import NodeEndpoint

    return json.loads(tracing._ZipkinEncoder(max_tag_value_length).serialize(spans, NodeEndpoint()))


def every_kind_of_span(tracer) -> None:
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode

    with tracer.start_as_current_span("request", kind=SpanKind.SERVER, attributes={
            "http.method": "POST", "http.status_code": 201, "order_id": "o-1", "service.name": "its own"}) as request:
        request.add_event("retried", {"attempt": 2, "why": "a long reason " * 20})
        with tracer.start_as_current_span("orders.insert", kind=SpanKind.CLIENT, attributes={
                "db.system": "mongodb", "ratio": 0.25, "flag": True, "no": False}):
            pass
        tracer.start_span("order_placed create", kind=SpanKind.PRODUCER, attributes={
            "messaging.destination.name": "order_placed", "messaging.kafka.message.key": "o-1"}).end()
    batch = tracer.start_span("process batch", kind=SpanKind.CONSUMER, links=[Link(request.get_span_context())],
                              attributes={"messaging.destination.name": "t", "messaging.batch.message_count": 2,
                                          "messaging.batch.trace_ids": ["a" * 32, "b" * 32], "nums": (1, 2.5),
                                          "flags": [True, False], "gaps": ["x", None]})
    batch.set_status(Status(StatusCode.ERROR, "dead-lettered: no order_id"))
    batch.end()
    full = tracer.start_span("too many", attributes={f"a{i}": i for i in range(9)})  # the limit is 6
    full.set_status(Status(StatusCode.OK))
    full.end()
    failed = tracer.start_span("failed", kind=SpanKind.CONSUMER)
    failed.set_status(Status(StatusCode.ERROR))
    failed.end()
    odd = tracer.start_span("odd values", attributes={"surrogate": "\ud800 alone", "unicode": "ü ✓ 注文",
                                                            "big": 2**70, "negative": -3, "empty": ""})
    odd.end()


def test_the_spans_json_for_zipkin_is_opentelemetry_s_own_less_the_repeated_tags_plus_the_remote_end():
    for resource in ({"service.name": "order-service"}, {"service.name": "x", "deployment.environment": "dev"}, {}):
        spans = finished_spans(resource, every_kind_of_span)
        assert len(spans) == 7
        for limit in (None, 0, 1, 12, 128):
            assert as_ours_writes_them(spans, limit) == as_upstream_writes_them(spans, limit), (resource, limit)
