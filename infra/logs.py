"""One order's log lines from every component's log, merged in time order (`./manage_all.sh logs --order ID`).

    logs.py LOG_DIR --order ORDER_ID [--json]

The sites and consumers write one JSON object per line (common/logging.py); the lines whose `order_id`
is ORDER_ID are printed oldest first, each with the component whose log it came from (the file's name).
--json prints them as JSON, with a `component` field added. Lines that are not JSON (the broker's, the
store's, gunicorn's own) are skipped.
"""

import argparse
import json
import signal
import sys
from datetime import datetime
from pathlib import Path


def order_lines(log_dir: Path, order_id: str) -> list[dict]:
    found = []
    for log in sorted(log_dir.glob("*.log")):
        with log.open(encoding="utf-8", errors="replace") as lines:  # orjson writes UTF-8, whatever the locale
            for line in lines:
                if order_id not in line:  # most lines are other orders': skip them before parsing
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and entry.get("order_id") == order_id and "timestamp" in entry:
                    found.append({"component": log.stem, **entry})
    return sorted(found, key=lambda entry: datetime.fromisoformat(entry["timestamp"]))


def main() -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `logs --order ID | head` ends quietly, without a traceback
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log_dir", type=Path)
    parser.add_argument("--order", required=True, metavar="ORDER_ID")
    parser.add_argument("--json", action="store_true", help="one JSON object per line, with its component")
    args = parser.parse_args()

    lines = order_lines(args.log_dir, args.order)
    if not lines:
        print(f"no log line names order {args.order} in {args.log_dir}", file=sys.stderr)
        return 1
    width = max(len(entry["component"]) for entry in lines)
    for entry in lines:
        if args.json:
            print(json.dumps(entry))
        else:
            when = datetime.fromisoformat(entry["timestamp"]).strftime("%H:%M:%S.%f")[:-3]
            print(f"{when}  {entry['component']:<{width}}  {entry['level']:<7}  {entry['message']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
