"""A long run in intervals (`bench --duration 3600 --rate 60`): does anything drift?

Every interval (5 minutes by default) the benchmark notes each process's RSS, the store's size on disk and the
CPU each component has used; at the end it adds the POST and end-to-end p99 of the orders placed in each
interval. The first interval is warm-up. The store's size grows with the orders, so what is judged is how much
each order adds to it. The verdict compares the first WINDOW intervals after it with the last
WINDOW: each figure must stay within DRIFT_LIMIT.
"""

import statistics
import threading
import time
from pathlib import Path

from bench import watch

WINDOW = 2  # intervals compared at each end: 10 minutes of 5-minute intervals
DRIFT_LIMIT = 0.10
MIN_INTERVALS = 1 + 2 * WINDOW  # warm-up, then two windows that do not overlap


def store_bytes(state_dir: Path) -> int | None:
    """The FerretDB store's files (SQLite databases and their WAL); None for an external store."""
    data = state_dir / "ferretdb" / "data"
    return sum(path.stat().st_size for path in data.glob("*") if path.is_file()) if data.is_dir() else None


class Intervals(threading.Thread):
    """Notes the stack's memory, store size and CPU at the end of every interval until stopped."""

    def __init__(self, components: watch.Components, state_dir: Path, seconds: float):
        super().__init__(name="intervals", daemon=True)
        self.components, self.state_dir, self.seconds = components, state_dir, seconds
        self.marks: list[dict] = []
        self.stopped = threading.Event()

    def mark(self) -> None:
        processes = self.components.processes()
        self.marks.append({"at": time.monotonic(),
                           "rss_mb": {name: round(stat.rss_bytes / 2**20, 1) for name, (_, stat) in processes.items()},
                           "store_mb": _mb(store_bytes(self.state_dir)),
                           "cpu": self.components.cpu_ticks()})

    def run(self) -> None:
        self.mark()
        while not self.stopped.wait(self.seconds):
            self.mark()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=10)


def _mb(size: int | None) -> float | None:
    return None if size is None else round(size / 2**20, 1)


def p99_ms(seconds: list[float]) -> float | None:
    if len(seconds) < 2:
        return None
    return round(statistics.quantiles(seconds, n=100, method="inclusive")[98] * 1000, 1)


def intervals(marks: list[dict], placed: list, final: dict) -> list[dict]:
    """One entry per interval: its end (minutes from the start), orders placed in it, their POST and end-to-end
    p99, the CPU ms per order of the stack in it, and RSS and store size at its end."""
    rows = []
    for start, end in zip(marks, marks[1:], strict=False):
        inside = [p for p in placed if p.order_id and start["at"] <= p.started < end["at"]]
        cpu = sum(watch.cpu_seconds_between(start["cpu"], end["cpu"]).values())
        rows.append({
            "minute": round((end["at"] - marks[0]["at"]) / 60, 2),
            "orders": len(inside),
            "post_p99_ms": p99_ms([p.seconds for p in inside]),
            "e2e_p99_ms": p99_ms([final[p.order_id][0] - p.started for p in inside if p.order_id in final]),
            "cpu_ms_per_order": round(cpu * 1000 / len(inside), 2) if inside else None,
            "store_mb": end["store_mb"],
            # the store grows with every order: what would drift is how much each one adds
            "store_kb_per_order": (round((end["store_mb"] - start["store_mb"]) * 1024 / len(inside), 2)
                                   if inside and None not in (start["store_mb"], end["store_mb"]) else None),
            "rss_mb": end["rss_mb"],
        })
    return rows


def verdict(rows: list[dict]) -> dict | None:
    """Each figure's change from the first window after warm-up to the last window, and whether all stay within
    DRIFT_LIMIT; None if the run had too few intervals."""
    if len(rows) < MIN_INTERVALS:
        return None
    first, last = rows[1:1 + WINDOW], rows[-WINDOW:]
    names = ["post_p99_ms", "e2e_p99_ms", "cpu_ms_per_order", "store_kb_per_order"]
    names += [f"rss_mb.{process}" for process in rows[-1]["rss_mb"]]

    def value(row: dict, name: str):
        return row["rss_mb"].get(name.split(".", 1)[1]) if name.startswith("rss_mb.") else row[name]

    changes = {}
    for name in names:
        before, after = [[value(row, name) for row in window] for window in (first, last)]
        if None in before + after or not statistics.mean(before):
            continue
        changes[name] = round(statistics.mean(after) / statistics.mean(before) - 1, 4)
    drifting = sorted(name for name, change in changes.items() if abs(change) > DRIFT_LIMIT)
    # an interval's row holds the minute it ends at: the first window starts where the warm-up ends
    return {"compared": f"minutes {rows[0]['minute']:g}-{first[-1]['minute']:g} with "
                        f"{rows[-WINDOW - 1]['minute']:g}-{last[-1]['minute']:g}",
            "limit": DRIFT_LIMIT, "changes": changes, "drifting": drifting}


def report(rows: list[dict], result: dict | None) -> list[str]:
    """The intervals as a table, one column per interval, and the verdict."""
    cell = lambda value: "-" if value is None else f"{value:g}"
    table = [("minute", [r["minute"] for r in rows]), ("orders", [r["orders"] for r in rows]),
             ("POST p99 ms", [r["post_p99_ms"] for r in rows]), ("e2e p99 ms", [r["e2e_p99_ms"] for r in rows]),
             ("CPU ms/order", [r["cpu_ms_per_order"] for r in rows]), ("store MB", [r["store_mb"] for r in rows]),
             ("store KB/order", [r["store_kb_per_order"] for r in rows])]
    table += [(f"RSS MB {name}", [r["rss_mb"].get(name) for r in rows])
              for name in sorted(rows[-1]["rss_mb"], key=watch.start_order)] if rows else []
    lines = [f"{label:<36}" + "".join(f"{cell(v):>9}" for v in values) for label, values in table]
    if result is None:
        lines.append(f"drift           not judged: it takes {MIN_INTERVALS} intervals (warm-up, {WINDOW} at each end)")
    else:
        worst = sorted(result["changes"].items(), key=lambda item: -abs(item[1]))[:5]
        lines.append(f"drift           {result['compared']}: "
                     + ("every figure within" if not result["drifting"] else
                        f"{', '.join(result['drifting'])} beyond") + f" {result['limit']:.0%}; largest changes: "
                     + ", ".join(f"{name} {change:+.1%}" for name, change in worst))
    return lines
