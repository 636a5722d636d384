"""What a site's manage.py and wsgi.py call, so the four sites share one version of each, and what every
long-running process (web worker, consumer, relay) does once it has loaded."""

import gc
import os
import sys

# Python's default is a young collection every 700 new container objects. A batch's objects (records, events, spans)
# are freed by reference counting when it ends, so those collections mostly walk objects about to go anyway.
YOUNG_COLLECTION_EVERY = 10_000


def manage(settings_module: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


def wsgi(settings_module: str, *, traced: bool = True):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application
    from django.urls import get_resolver

    from common import tracing

    if traced:  # before the application loads its middleware; gunicorn imports this in each worker, after the fork
        tracing.setup(settings.SERVICE, web=True)

    application = get_wsgi_application()
    # loads the URLconf, and so the views and serializers, now: not in each worker's first request (140 ms, +8 MB)
    get_resolver().check()
    settle_heap()
    return application


def settle_heap() -> None:
    """Once a long-running process has loaded what it runs on: Python's collector leaves that alone from now on.

    Django, DRF, the drivers and OpenTelemetry are ~100,000 objects that live as long as the process, and every full
    collection walked them all: a sixth of what a traced consumer's spans cost (docs/performance.md, "Tracing's
    cost"). Frozen, they are left out of every collection, and young objects are collected less often. Cycles are
    still collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])
