"""`./manage_all.sh bench --idle [SECONDS]`: what a running stack costs while it does nothing.

Each component's CPU (ms per second, every process of its group, from /proc) and memory (peak RSS of its
processes) over SECONDS (default 60) in which nobody places an order. The README's idle figures (one broker
against three) come from it. The last line of stdout is one JSON object with every figure.
"""

import argparse
import json
import time
from pathlib import Path

from bench import watch


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="./manage_all.sh bench --idle", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("seconds", type=float, nargs="?", default=60, help="how long to watch (default 60)")
    parser.add_argument("--run-dir", type=Path, required=True, help="the stack's pid files")
    return parser.parse_args()


def measure(components: watch.Components, seconds: float) -> dict:
    rss = watch.Every(components.sample_rss)
    before, started = components.cpu_ticks(), time.monotonic()
    rss.start()
    time.sleep(seconds)
    rss.stop()
    cpu = watch.cpu_seconds_between(before, components.cpu_ticks())
    elapsed = time.monotonic() - started
    cpu_ms_per_s = {name: round(cpu.get(name, 0.0) * 1000 / elapsed, 1) for name in components.leaders}
    rss_mb = {name: round(sum(peak for process, peak in components.peak_rss.items()
                              if process.split("/")[0] == name) / 2**20, 1) for name in components.leaders}
    return {"seconds": round(elapsed, 1),
            "cpu_ms_per_s": {**cpu_ms_per_s, "total": round(sum(cpu_ms_per_s.values()), 1)},
            "rss_mb": {**rss_mb, "total": round(sum(rss_mb.values()), 1)}}


def main() -> None:
    args = parse_args()
    figures = measure(watch.Components(args.run_dir), args.seconds)
    print(f"idle for {figures['seconds']:g} s\n{'component':<26}{'CPU ms/s':>10}{'RSS MB':>10}")
    for name, cpu in figures["cpu_ms_per_s"].items():
        print(f"{'stack total' if name == 'total' else name:<26}{cpu:>10.1f}{figures['rss_mb'][name]:>10.1f}")
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
