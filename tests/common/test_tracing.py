"""The span pipeline of every process (common.tracing), with an exporter of the test's own in Zipkin's place."""

import os
import subprocess
import sys
import threading

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
