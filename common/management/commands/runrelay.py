import logging
import signal
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from common import outbox, tracing
from common.consumer import TRANSIENT_ERRORS
from common.registry import site_chores, site_outboxes

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = ("Re-send events left in this site's outboxes (a crash between write and send, or the broker away), "
            "and do the site's housekeeping now and then.")

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=0.5, help="seconds between scans")
        parser.add_argument("--chores-every", type=float, default=10, help="seconds between housekeeping runs")

    def handle(self, *args, **options):
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        collections, chores, chores_due = site_outboxes(), site_chores(), 0.0
        tracing.setup(settings.SERVICE)
        log.info("relaying outboxes every %.1fs", options["interval"])
        while not stop.wait(options["interval"]):
            try:
                with tracing.untraced_store():  # a scan every half second is nobody's order; a re-send is traced
                    outbox.relay([get() for get in collections], older_than=settings.OUTBOX_RELAY_AFTER_SECONDS)
                if time.monotonic() >= chores_due:
                    for chore in chores:
                        chore()
                    chores_due = time.monotonic() + options["chores_every"]
            except TRANSIENT_ERRORS as error:
                log.warning("relay deferred: %s", error)
            except Exception:  # a bad mark must not stop every other event from being relayed: say so, go on
                log.exception("relay pass failed; trying again")
