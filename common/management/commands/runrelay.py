import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from common import outbox, tracing
from common.consumer import TRANSIENT_ERRORS
from common.entrypoints import settle_heap
from common.registry import site_outboxes

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Re-send events left in this site's outboxes (a crash between write and send, or the broker away)."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=0.5, help="seconds between scans")

    def handle(self, *args, **options):
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        collections = site_outboxes()
        tracing.setup(settings.SERVICE)
        settle_heap()
        log.info("relaying outboxes every %.1fs", options["interval"])
        while not stop.wait(options["interval"]):
            try:
                with tracing.untraced_store():  # a scan every half second is nobody's order; a re-send is traced
                    outbox.relay([get() for get in collections], older_than=settings.OUTBOX_RELAY_AFTER_SECONDS)
            except TRANSIENT_ERRORS as error:
                log.warning("relay deferred: %s", error)
            except Exception:  # a bad mark must not stop every other event from being relayed: say so, go on
                log.exception("relay pass failed; trying again")
