from django.conf import settings
from django.core.management.base import BaseCommand

from common.kafka import ensure_topics


class Command(BaseCommand):
    help = "Create every event topic and its dead-letter topic (partitions and replication from settings)."

    def handle(self, *args, **options):
        created = ensure_topics()
        self.stdout.write(
            f"topics: {len(created)} created"
            f" ({settings.KAFKA_TOPIC_PARTITIONS} partitions, replication {settings.KAFKA_REPLICATION_FACTOR})"
            + (f": {', '.join(created)}" if created else ", all present")
        )
