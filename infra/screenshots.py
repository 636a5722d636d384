"""`./manage_all.sh screenshots`: retake the README's pictures of the Kafka console (docs/images/console-*.png)
and of an order's trace in Zipkin (docs/images/zipkin-trace-of-an-order.png) from the real pages, with headless
Chromium, while a burst of orders flows through a running `up`.

The burst is the benchmark's (`./manage_all.sh bench --rate R --duration S`), so the overview shows rates and
lag; the follow-an-order and trace pictures are of the README's sample order (infra/demo.py), placed during the
burst.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from demo import FINAL, SAMPLE_ORDER

ROOT = Path(__file__).resolve().parent.parent
# (file, path on the console, window height): what the README shows, each at 1280 pixels wide
PICTURES = [
    ("console-overview.png", "/", 1000),
    ("console-follow-an-order.png", "/orders?order_id={order_id}", 800),
    ("console-topic.png", "/topics/order_placed?limit=5", 1000),
]


def screenshot(url: str, path: Path, height: int) -> None:
    # a virtual time budget: Zipkin's page is drawn by its scripts after the load, which the picture must wait for
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--hide-scrollbars", f"--window-size=1280,{height}", "--virtual-time-budget=10000",
                    f"--screenshot={path}", url],
                   check=True, capture_output=True, timeout=120)
    print(f"    {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}  ←  {url}")


def place_sample_order(order_site: str) -> str:
    answer = requests.post(f"{order_site}/orders", json=SAMPLE_ORDER, timeout=30)
    answer.raise_for_status()
    order_id = answer.json()["order_id"]
    deadline = time.monotonic() + 60
    while requests.get(f"{order_site}/orders/{order_id}", timeout=10).json()["status"] not in FINAL:
        if time.monotonic() > deadline:
            raise SystemExit(f"the sample order {order_id} did not finish within 60 s")
        time.sleep(0.2)
    return order_id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--order-site", required=True)
    parser.add_argument("--console", required=True)
    parser.add_argument("--zipkin", required=True, help="Zipkin's UI, e.g. http://127.0.0.1:9411/zipkin/")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--rate", type=float, default=15, help="orders per second of the burst (default 15)")
    parser.add_argument("--after", type=float, default=10, help="seconds of burst before the first picture")
    args = parser.parse_args()

    duration = args.after + 20  # the pictures take a few seconds each on a busy machine
    print(f"A burst of {args.rate:g} orders/s for {duration:g}s (./manage_all.sh bench); pictures after "
          f"{args.after:g}s")
    with tempfile.TemporaryFile("w+") as bench_output:
        bench = subprocess.Popen([str(ROOT / "manage_all.sh"), "bench", "--rate", f"{args.rate:g}", "--duration",
                                  f"{duration:g}", "--no-raw"], stdout=bench_output, stderr=subprocess.STDOUT)
        try:
            order_id = place_sample_order(args.order_site)
            time.sleep(args.after)
            args.out.mkdir(parents=True, exist_ok=True)
            for name, path, height in PICTURES:
                screenshot(args.console + path.format(order_id=order_id), args.out / name, height)
            placement = requests.get(f"{args.order_site}/orders/{order_id}/timeline", timeout=10).json()[0]
            if placement["trace_id"]:  # (not with OTEL_SDK_DISABLED=true)
                screenshot(f"{args.zipkin}traces/{placement['trace_id']}", args.out / "zipkin-trace-of-an-order.png",
                           1000)
        finally:
            status = bench.wait(timeout=duration + 300)
        if status != 0:
            bench_output.seek(0)
            print(f"the burst failed (./manage_all.sh bench, exit status {status}):\n{bench_output.read()[-3000:]}")
            return 1
    print("the burst's orders all finished; look at the pictures before you commit them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
