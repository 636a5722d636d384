"""One trace per order across every service (OpenTelemetry, exported to Zipkin).

- A request's span is Django's (its store calls are pymongo's spans under it).
- Each record a producer makes gets a PRODUCER span, and that span's W3C `traceparent` goes into the
  record's headers. The outbox keeps the traceparent of the request that made an event, so the relay's
  re-send continues the same trace.
- A consumer's poll batch gets a span that links to the records' contexts (a batch mixes orders); each
  record of it gets a CONSUMER span whose parent is the context in its headers, and the events a record
  causes are made under that span: so an order's trace runs from its POST through every hop.
- Every span of an order's work carries `order_id` (Zipkin finds the trace by that tag).

Standard switches: OTEL_SDK_DISABLED=true turns it all off (nothing here then runs per record or per
request), OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG choose what is sampled (default: every trace),
OTEL_EXPORTER_ZIPKIN_ENDPOINT says where spans go. Spans wait in a bounded queue and leave from a
background thread: a Zipkin that is down or slow never slows an order; the spans it misses are counted
in `orderpipe_spans_dropped_total` on /metrics.
"""

import json
import logging
import os
from contextlib import contextmanager

import orjson
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.zipkin.json.v2 import JsonV2Encoder
from opentelemetry.sdk.resources import SERVICE_NAME
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import Counter

log = logging.getLogger(__name__)

ENABLED = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() != "true"
# what the health and metrics probes ask every few seconds is nobody's order
NOT_TRACED_URLS = "health,ready,metrics"

SPANS_DROPPED = Counter("orderpipe_spans_dropped_total", "Spans not delivered to the trace backend", ["reason"])

_tracer = trace.get_tracer("orderpipe")
TRACEPARENT = "traceparent"
_TRACEPARENT = TraceContextTextMapPropagator._TRACEPARENT_HEADER_FORMAT_RE  # the propagator's own pattern


def setup(service: str, *, web: bool = False) -> None:
    """Once per process, in the process that makes the spans: a gunicorn worker (after the fork: its export
    thread would not survive one), `runconsumer`, `runrelay`."""
    if not ENABLED:
        return
    from opentelemetry.exporter.zipkin.json import ZipkinExporter
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource

    # The service and what OTEL_RESOURCE_ATTRIBUTES adds, not the SDK's own name and version: Zipkin repeats every
    # resource attribute as a tag of every span, and encoding them cost a tenth of each span's CPU.
    resource = Resource({SERVICE_NAME: service}).merge(OTELResourceDetector().detect())
    provider = TracerProvider(resource=resource)  # the sampler: from the environment (OTEL_TRACES_SAMPLER)
    provider.add_span_processor(_OrderOfParent())
    exporter = ZipkinExporter()
    exporter.encoder = _ZipkinEncoder(exporter.encoder.max_tag_value_length)
    provider.add_span_processor(exporting(exporter))
    trace.set_tracer_provider(provider)
    # the standard switch of OpenTelemetry's auto-instrumentation, honoured here: e.g. `pymongo` leaves out the
    # spans of store calls, the largest share of what tracing costs a consumer
    disabled = {name.strip() for name in os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",")}
    if "pymongo" not in disabled:
        PymongoInstrumentor().instrument()
    if web and "django" not in disabled:
        from opentelemetry.instrumentation.django import DjangoInstrumentor

        DjangoInstrumentor().instrument(excluded_urls=NOT_TRACED_URLS)


def exporting(exporter: SpanExporter) -> BatchSpanProcessor:
    """Spans queue (OTEL_BSP_MAX_QUEUE_SIZE, 2048) for a background thread that sends them in batches; what does
    not fit, or does not get through, is counted and dropped."""
    processor = BatchSpanProcessor(_CountedExporter(exporter))
    # The processor reports what it drops (queue full) to this hook of its own; count it where Prometheus looks.
    processor._batch_processor._metrics = _QueueDrops()
    return processor


class _ZipkinEncoder(JsonV2Encoder):
    """Zipkin's JSON as OpenTelemetry's encoder writes it, with two changes and written for speed.

    - The remote end of each hop, which OpenTelemetry's exporter leaves out: Zipkin draws its dependency graph from
      it. A record's span has its topic there (the graph shows each topic between the service that writes it and
      those that read it), a store call the store (`mongodb`).
    - No tags that every span would repeat for nothing: its service (its endpoint says it) and the deprecated
      `otel.library.*` copies of `otel.scope.*`. A tenth fewer bytes per span for Zipkin to take in and keep.

    The base class reads each span's attributes through its mapping interface, one key at a time, and its
    resource's and scope's again for every span: 17 µs of the 43 a consumer's span cost in all (6.7 here). This
    copies the attributes at once, converts only what is not a string already, keeps the resource's tags once,
    and writes the JSON with orjson, without spaces; anything unusual (a list, an event) goes through the base
    class's own code.
    tests/common/test_tracing.py compares what it writes with the base class's, span by span."""

    def __init__(self, max_tag_value_length: int | None = None):
        super().__init__(max_tag_value_length)
        self._resource_tags = (None, {})  # (the resource, its tags): every span of a process shares one

    def serialize(self, spans, local_endpoint) -> bytes:
        endpoint = self._encode_local_endpoint(local_endpoint)
        encoded = [self._encode_span(span, endpoint) for span in spans]
        try:
            return orjson.dumps(encoded)
        except TypeError:  # a lone surrogate in a string, which orjson refuses: escaped, as the base class has it
            return json.dumps(encoded, separators=(",", ":")).encode()

    def _encode_span(self, span, encoded_local_endpoint) -> dict:
        context = span.context
        start = span.start_time
        encoded = {"traceId": format(context.trace_id, "032x"), "id": format(context.span_id, "016x"),
                   "name": span.name, "timestamp": (start + 500) // 1000,
                   "duration": (span.end_time - start + 500) // 1000,  # microseconds, rounded as the base class does
                   "localEndpoint": encoded_local_endpoint, "kind": self.SPAN_KIND_MAP[span.kind]}
        attributes = span.attributes.copy()  # the SDK's own dict, copied in one step
        if tags := self._span_tags(span, attributes):
            encoded["tags"] = tags
        if span.events:
            encoded["annotations"] = self._extract_annotations_from_events(span.events)
        if context.trace_flags.sampled:
            encoded["debug"] = True
        if span.parent is not None:
            encoded["parentId"] = format(span.parent.span_id, "016x")
        if remote := _remote_service(span.kind, attributes):
            encoded["remoteEndpoint"] = {"serviceName": remote}
        return encoded

    def _span_tags(self, span, attributes: dict) -> dict[str, str]:
        tags = self._tags_of(attributes)
        tags.update(self._tags_of_resource(span.resource))
        tags.pop(SERVICE_NAME, None)  # the base class's tags: the resource's win over the span's own
        if (scope := span.instrumentation_scope) is not None:
            tags["otel.scope.name"] = scope.name
            tags["otel.scope.version"] = scope.version
        status = span.status.status_code
        if status is not StatusCode.UNSET:
            tags["otel.status_code"] = status.name
            if status is StatusCode.ERROR:
                tags["error"] = span.status.description or ""
        for what, count in (("attributes", span.dropped_attributes), ("events", span.dropped_events),
                            ("links", span.dropped_links)):
            if count:
                tags[f"otel.dropped_{what}_count"] = str(count)
        return tags

    def _tags_of(self, attributes: dict) -> dict[str, str]:
        tags = {}
        limit = self.max_tag_value_length if self.max_tag_value_length and self.max_tag_value_length > 0 else None
        for key, value in attributes.items():
            if type(value) is not str:
                if type(value) is int or type(value) is float:
                    value = str(value)
                else:  # a bool, a list, what cannot be a tag: as the base class has it
                    tags.update(super()._extract_tags_from_dict({key: value}))
                    continue
            tags[key] = value[:limit] if limit else value
        return tags

    def _tags_of_resource(self, resource) -> dict[str, str]:
        if resource is not self._resource_tags[0]:
            self._resource_tags = (resource, self._tags_of(dict(resource.attributes)) if resource else {})
        return self._resource_tags[1]


def _remote_service(kind: SpanKind, attributes) -> str | None:
    """What Zipkin should name the other end of a span: the topic of one record's PRODUCER or CONSUMER span (not
    a batch's, which holds many), the database system of a store call."""
    if kind in (SpanKind.PRODUCER, SpanKind.CONSUMER) and "messaging.batch.message_count" not in attributes:
        return attributes.get("messaging.destination.name")
    if kind is SpanKind.CLIENT:
        return attributes.get("db.system")
    return None


class _CountedExporter(SpanExporter):
    """The Zipkin exporter, counting the spans of every batch it could not deliver instead of raising."""

    def __init__(self, exporter: SpanExporter):
        self.exporter = exporter

    def export(self, spans) -> SpanExportResult:
        try:
            result = self.exporter.export(spans)
        except Exception as error:  # Zipkin down: a refused connection, a timeout
            log.debug("spans not exported: %s", error)
            result = SpanExportResult.FAILURE
        if result is not SpanExportResult.SUCCESS:
            SPANS_DROPPED.labels("export_failed").inc(len(spans))
        return result

    def shutdown(self) -> None:
        self.exporter.shutdown()


class _QueueDrops:
    """The BatchSpanProcessor's metrics hook: spans dropped because its queue was full (a slow backend)."""

    def register_queue_size(self, get_queue_size) -> None:
        pass

    def drop_items(self, count: int, error_type: str = "queue_full") -> None:
        SPANS_DROPPED.labels(error_type).inc(count)

    def finish_items(self, count: int) -> None:
        pass


class _OrderOfParent(SpanProcessor):
    """A span started under a span of an order's work is part of it too (a store call under POST /orders)."""

    def on_start(self, span, parent_context: Context | None = None) -> None:
        if "order_id" in span.attributes:  # a record's span, made with it
            return
        parent = trace.get_current_span(parent_context)
        if isinstance(parent, ReadableSpan) and parent.attributes and "order_id" in parent.attributes:
            span.set_attribute("order_id", parent.attributes["order_id"])


# ---------------------------------------------------------------- contexts


def current_traceparent() -> str | None:
    """The current span's W3C traceparent, to keep with an event that is sent later (the outbox)."""
    if not ENABLED:
        return None
    return traceparent_of(trace.get_current_span().get_span_context())


def traceparent_of(context: SpanContext) -> str | None:
    """A span context as a W3C traceparent, `00-<trace id>-<span id>-<flags>` (None: no span)."""
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def span_context_of(traceparent: str | bytes | None) -> SpanContext | None:
    """The remote span context a W3C traceparent names; None for what OpenTelemetry's propagator refuses (its
    own pattern and checks). Read here, not through the propagator, whose getter, trace state and contexts,
    once per record, were ~8 % of a traced consumer's CPU."""
    if isinstance(traceparent, bytes):
        traceparent = traceparent.decode(errors="replace")
    match = _TRACEPARENT.search(traceparent or "")
    if not match:
        return None
    version, trace_id, span_id, flags, more = match.groups()
    if version == "ff" or (version == "00" and more):
        return None
    context = SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=True, trace_flags=TraceFlags(int(flags, 16)))
    return context if context.is_valid else None


def context_from(traceparent: str | bytes | None) -> Context | None:
    """The context a saved or received traceparent names: None (the current one) when there is none, a new trace
    when it is not a valid one."""
    if not traceparent or not ENABLED:
        return None
    return _parent(span_context_of(traceparent)) or Context()


def _parent(remote: SpanContext | None) -> Context | None:
    return trace.set_span_in_context(NonRecordingSpan(remote)) if remote else None


def traceparent_header(headers) -> bytes | None:
    """The traceparent in a Kafka record's headers, if any."""
    for name, value in headers or ():
        if name == TRACEPARENT:
            return value
    return None


def trace_id_of(traceparent: str | bytes | None) -> str | None:
    """The trace id in a traceparent, if that trace was sampled (recorded)."""
    return _sampled_trace_id(span_context_of(traceparent))


def _sampled_trace_id(context: SpanContext | None) -> str | None:
    return format(context.trace_id, "032x") if context and context.trace_flags.sampled else None


def tag_order(order_id: str) -> None:
    """The current span (a request's) is work of this order."""
    if ENABLED:
        trace.get_current_span().set_attribute("order_id", order_id)


@contextmanager
def order_work(name: str, order_id: str, *, continues: str | None):
    """A span of the order's own trace (the one `continues` names), for a request that acts on an existing
    order (cancel, re-drive): what it sends joins the order's trace, and the span links back to the request."""
    if not ENABLED:
        yield
        return
    request = trace.get_current_span().get_span_context()
    links = [Link(request)] if request.is_valid else None
    with _tracer.start_as_current_span(name, context=context_from(continues), links=links,
                                       attributes={"order_id": order_id}):
        yield


def untraced_store():
    """Store calls made within are not traced (a poll of the outbox); spans made here on purpose still are."""
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    return suppress_instrumentation()


def log_ids() -> dict:
    """trace_id and span_id of the current span, for a log line (empty when there is none)."""
    if not ENABLED:
        return {}
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}


# ---------------------------------------------------------------- Kafka


def record_headers(topic: str, order_id: str, parent: Context | None = None) -> list[tuple[str, bytes]]:
    """The headers of a new record: the traceparent of its PRODUCER span, a child of `parent` (default: the
    current span). The span covers making the record; the broker's acknowledgement is awaited elsewhere."""
    span = _tracer.start_span(f"{topic} create", context=parent, kind=SpanKind.PRODUCER, attributes={
        "messaging.system": "kafka", "messaging.operation.type": "create", "messaging.operation.name": "create",
        "messaging.destination.name": topic, "messaging.kafka.message.key": order_id, "order_id": order_id})
    span.end()
    traceparent = traceparent_of(span.get_span_context())
    return [(TRACEPARENT, traceparent.encode())] if traceparent else []


class BatchTrace:
    """The spans of one poll batch: the batch's own (current while it is handled, linked to its records'
    contexts) and one CONSUMER span per record, in the trace of the record's producer, ended with the batch."""

    def __init__(self, records: list, group: str):
        self.group = group
        received = [span_context_of(traceparent_header(record.headers)) for record in records]
        topics = sorted({record.topic for record in records})
        self.span = _tracer.start_span("process batch", kind=SpanKind.CONSUMER, links=[
            Link(remote) for remote in received if remote], attributes={
            **self._common(topics[0] if len(topics) == 1 else None), "messaging.batch.message_count": len(records),
            # Zipkin keeps no links: the linked records' traces, where a person can look them up
            "messaging.batch.trace_ids": sorted({_sampled_trace_id(remote) or "" for remote in received})})
        self.records = {}  # (topic, partition, offset) → the record's span
        self.by_event = {}  # event id → the span of the record that carried it
        for record, remote in zip(records, received, strict=True):
            key = record.key.decode(errors="replace") if record.key else ""
            self.records[record.topic, record.partition, record.offset] = _tracer.start_span(
                f"{record.topic} process", context=_parent(remote), kind=SpanKind.CONSUMER, attributes={
                    **self._common(record.topic), "messaging.destination.partition.id": str(record.partition),
                    "messaging.kafka.offset": record.offset, "messaging.kafka.message.key": key, "order_id": key})

    def _common(self, topic: str | None) -> dict:
        attributes = {"messaging.system": "kafka", "messaging.operation.type": "process",
                      "messaging.operation.name": "process", "messaging.consumer.group.name": self.group}
        if topic:
            attributes["messaging.destination.name"] = topic
        return attributes

    def __enter__(self):
        self.active = trace.use_span(self.span, end_on_exit=True)
        self.active.__enter__()
        return self

    def __exit__(self, *error):
        for span in self.records.values():
            if error[1] is not None:
                span.set_status(Status(StatusCode.ERROR, f"batch not handled: {error[1]}"))
            span.end()
        return self.active.__exit__(*error)

    def carried(self, record, event) -> None:
        self.by_event[event.event_id] = self.records[record.topic, record.partition, record.offset]

    def cause_of(self, event) -> Context | None:
        """The context to make `event` in: that of the record which caused it."""
        span = self.by_event.get(event.causation_id)
        return trace.set_span_in_context(span) if span else None

    def context_at(self, record) -> Context:
        return trace.set_span_in_context(self.records[record.topic, record.partition, record.offset])

    def dead_lettered(self, record, reason: str) -> None:
        span = self.records[record.topic, record.partition, record.offset]
        span.set_attribute("dead_letter.topic", f"{record.topic}.DLT")
        span.set_status(Status(StatusCode.ERROR, f"dead-lettered: {reason}"))

    def log_ids(self, position) -> dict:
        context = self.records[position.topic, position.partition, position.offset].get_span_context()
        return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}


class _Untraced:
    """What a batch's trace is when tracing is off: nothing, at the cost of a method call."""

    def __enter__(self):
        return self

    def __exit__(self, *error):
        return False

    def carried(self, record, event) -> None:
        pass

    def cause_of(self, event) -> None:
        return None

    def context_at(self, record) -> None:
        return None

    def dead_lettered(self, record, reason: str) -> None:
        pass

    def log_ids(self, position) -> dict:
        return {}


def batch_trace(records: list, group: str) -> BatchTrace | _Untraced:
    return BatchTrace(records, group) if ENABLED else _Untraced()
