"""Prometheus metrics of a site's processes, served at GET /metrics."""

from prometheus_client import Counter, Histogram

EVENTS_CONSUMED = Counter("orderpipe_events_consumed_total", "Events taken from Kafka", ["topic", "outcome"])
HANDLE_SECONDS = Histogram("orderpipe_event_handle_seconds", "Time to handle one event", ["topic"])
EVENTS_PUBLISHED = Counter("orderpipe_events_published_total", "Events sent from an outbox", ["topic"])
