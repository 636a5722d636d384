"""Which events a site handles: each app may have a `handlers` module with

    HANDLERS = {"<topic>": handler}   # handler(batch: list[Delivery]) -> the events to send (common.consumer)
    OUTBOXES = [collection_getter]    # collections whose requests send events through the outbox (runrelay)
"""

import importlib
from importlib.util import find_spec

from django.apps import apps


def _handler_modules():
    for app in apps.get_app_configs():
        name = f"{app.name}.handlers"
        if app.name != "common" and find_spec(name) is not None:
            yield importlib.import_module(name)


def site_handlers() -> dict:
    handlers = {}
    for module in _handler_modules():
        handlers.update(getattr(module, "HANDLERS", {}))
    return handlers


def site_outboxes() -> list:
    return [getter for module in _handler_modules() for getter in getattr(module, "OUTBOXES", [])]
