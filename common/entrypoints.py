"""What a site's manage.py and wsgi.py call, so the four sites share one version of each."""

import os
import sys


def manage(settings_module: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


def wsgi(settings_module: str):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()
