from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The read-only Kafka console: topics, messages, consumer groups, one order's events."""

    name = "console"
