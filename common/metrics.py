"""Prometheus metrics of a site's processes, served at GET /metrics."""

from prometheus_client import Counter, Histogram

EVENTS_CONSUMED = Counter("orderpipe_events_consumed_total", "Events taken from Kafka", ["topic", "outcome"])
BATCH_SIZE = Histogram("orderpipe_batch_events", "Events in one poll batch", buckets=(1, 5, 10, 25, 50, 100, 250, 500))
BATCH_SECONDS = Histogram("orderpipe_batch_handle_seconds", "Time to handle one poll batch, sends included")
EVENTS_PUBLISHED = Counter("orderpipe_events_published_total", "Events sent from an outbox", ["topic"])
CONSUMER_RESTARTS = Counter("orderpipe_consumer_restarts_total", "Kafka clients replaced because they stalled")
