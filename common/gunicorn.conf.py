"""gunicorn settings of every site, for manage_all.sh and docker-compose alike (`gunicorn -c` this file).

A request spends most of its time waiting for the store, so a few threads per process keep the CPU
busy; more threads only queue for Python's interpreter lock. One process per core does the rest.
"""

import os

workers = int(os.environ.get("WEB_WORKERS", os.cpu_count() or 1))
threads = int(os.environ.get("WEB_THREADS", 4))
keepalive = 5  # seconds a client's connection stays open for its next request (clients reuse connections)
graceful_timeout = 10
accesslog = None  # each request's line comes from the site itself, as JSON with its order id (common/logging.py)
errorlog = "-"
