#!/usr/bin/env python
"""Django's command line for the notification site (runserver, migrate, runconsumer, …)."""

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1]))  # the repository root, for the shared `common` app
from common.entrypoints import manage  # noqa: E402

manage("notification_site.settings")
