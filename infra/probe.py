"""Is a component ready? A real request, retried until a deadline (used by manage_all.sh).

    probe.py kafka HOST:PORT [--deadline SECONDS]   that node is a serving (unfenced) broker of its cluster
    probe.py mongo URI       [--deadline SECONDS]   the `ping` command
    probe.py http URL        [--deadline SECONDS]   a 2xx answer

Exit status 0 when ready; 1, with the last error on stderr, when the deadline passes.
"""

import argparse
import logging
import sys
import time
import urllib.request


def kafka_ready(address: str) -> None:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=address, request_timeout_ms=3000)
    try:
        # A node of a cluster answers before the controller lets it lead anything: ready once it is an unfenced broker.
        brokers = admin.describe_cluster()["brokers"]
        serving = {f"{broker['host']}:{broker['port']}" for broker in brokers if not broker.get("is_fenced")}
        if address not in serving:
            raise RuntimeError(f"{address} is not a serving broker yet (serving: {', '.join(sorted(serving))})")
    finally:
        admin.close()


def mongo_ready(uri: str) -> None:
    from pymongo import MongoClient

    with MongoClient(uri, serverSelectionTimeoutMS=2000, connectTimeoutMS=2000) as client:
        client.admin.command("ping")


def http_ready(url: str) -> None:
    with urllib.request.urlopen(url, timeout=3) as response:
        response.read()


PROBES = {"kafka": kafka_ready, "mongo": mongo_ready, "http": http_ready}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=PROBES)
    parser.add_argument("target")
    parser.add_argument("--deadline", type=float, default=60, help="seconds to keep trying (0: try once)")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # the clients log every refused connection; the last error is enough

    deadline = time.monotonic() + args.deadline
    while True:
        try:
            PROBES[args.kind](args.target)
            return 0
        except Exception as error:  # any failure means "not ready yet"
            if time.monotonic() >= deadline:
                print(f"{args.kind} at {args.target} not ready: {error}", file=sys.stderr)
                return 1
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
