"""What a site's manage.py and wsgi.py call, so the four sites share one version of each."""

import os
import sys


def manage(settings_module: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


def wsgi(settings_module: str, *, traced: bool = True):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application

    from common import tracing

    if traced:  # before the application loads its middleware; gunicorn imports this in each worker, after the fork
        tracing.setup(settings.SERVICE, web=True)

    return get_wsgi_application()
