from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from common import tracing
from common.consumer import ConsumerLoop
from common.entrypoints import settle_heap
from common.registry import site_handlers


class Command(BaseCommand):
    help = "Run this site's Kafka consumer loop: its handlers, a poll batch at a time, in consumer group <service>."

    def add_arguments(self, parser):
        parser.add_argument("--max-messages", type=int, help="stop after this many events")
        parser.add_argument("--idle-timeout", type=float, help="stop after this many seconds without an event")
        parser.add_argument("--instance", help="a stable name for this process (Kafka static membership), "
                            "so that a restart takes its partitions back without a rebalance")

    def handle(self, *args, **options):
        handlers = site_handlers()
        if not handlers:
            raise CommandError("no app of this site registers handlers (a `handlers` module with HANDLERS)")
        tracing.setup(settings.SERVICE)
        settle_heap()
        ConsumerLoop(
            group=settings.SERVICE,
            handlers=handlers,
            instance=options["instance"],
            max_messages=options["max_messages"],
            idle_timeout=options["idle_timeout"],
        ).run()
