"""gunicorn settings of every site, for manage_all.sh and docker-compose alike (`gunicorn -c` this file).

A request spends most of its time waiting for the store, so a few threads per process keep the CPU
busy; more threads only queue for Python's interpreter lock. A process per four cores does the rest:
the web is about a quarter of what an order costs the stack it shares the machine with (consumers, store,
broker). On 2 cores one process took a quarter less CPU per `POST` than one per core, and `POST` p99 at 100
orders/s fell from 73-106 to 50-58 ms: one producer batches all the site's records, and two processes per
site only competed with the rest for the cores (docs/performance.md). WEB_WORKERS sets it.
"""

import os

workers = int(os.environ.get("WEB_WORKERS", max(1, (os.cpu_count() or 1) // 4)))
threads = int(os.environ.get("WEB_THREADS", 4))
keepalive = 5  # seconds a client's connection stays open for its next request (clients reuse connections)
graceful_timeout = 10
accesslog = None  # each request's line comes from the site itself, as JSON with its order id (common/logging.py)
errorlog = "-"
