"""`./manage_all.sh bench`: place orders against a running `up` and measure the whole pipeline.

Places orders (as fast as C clients can, or at a fixed rate; for a count or a duration) and follows the events
that end them on Kafka, instead of asking the order site for each (that would cost the site CPU). Reports the
POST latency, the end-to-end latency (POST → SHIPPED or CANCELLED), the sustained rate, the CPU each component
spent per order, the peak consumer lag per group and the peak RSS per process; then, in the same run, the
store's and the broker's raw rates, and the pipeline as a fraction of each. With `--tracing-overhead`, the
same orders once to warm the stack up (not counted), then twice: as the stack runs (traced), then with its sites
restarted untraced (OTEL_SDK_DISABLED=true), and the CPU per order of each (the sites are restarted traced at the
end). Give it a `--rate` to compare the two at the same load. The progress bar goes to stderr;
the last line of stdout is one JSON object with every figure. Exits 1 if any order failed.
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import django
import requests
from django.conf import settings
from kafka.errors import KafkaError
from pymongo.errors import PyMongoError
from tqdm import tqdm

from bench import drift, orders, raw, watch
from common.events import TOPICS, OrderEnd

MANAGE_ALL = Path(__file__).resolve().parent.parent / "manage_all.sh"
INFRASTRUCTURE = ("kafka", "ferretdb", "zipkin", "mongo-express", "console")  # not the sites' own processes
SAMPLE_CHECKED = 20  # orders whose final status is also read from the order site afterwards
SAMPLE_WAIT_SECONDS = 10
LATE_SECONDS = 0.1  # fixed rate: a POST that starts later than this after its due time missed the schedule
ASSUMED_FAST_RATE = 100  # orders/s, to size the stock check of `--duration` without `--rate`


def parse_args() -> argparse.Namespace:
    offset = int(os.environ.get("ORDERPIPE_PORT_OFFSET", "0"))
    parser = argparse.ArgumentParser(prog="./manage_all.sh bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--orders", type=int, help="place this many orders (default 500)")
    size.add_argument("--duration", type=float, help="place orders for this many seconds")
    parser.add_argument("--rate", type=float, help="orders per second (default: as fast as possible)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients when as fast as possible")
    parser.add_argument("--timeout", type=float, default=120,
                        help="seconds to wait after the last POST for every order to be final (default 120)")
    parser.add_argument("--no-raw", action="store_true", help="skip the raw store and broker rates")
    parser.add_argument("--tracing-overhead", action="store_true",
                        help="measure traced and untraced (the sites restarted with OTEL_SDK_DISABLED=true)")
    parser.add_argument("--rounds", type=int, default=1, help="with --tracing-overhead: traced/untraced pairs")
    parser.add_argument("--report-every", type=float,
                        help="seconds per interval of the drift table (default: 300 with a --duration of 25 min+)")
    parser.add_argument("--order-site", default=f"http://127.0.0.1:{8001 + offset}")
    parser.add_argument("--inventory-site", default=f"http://127.0.0.1:{8003 + offset}")
    parser.add_argument("--run-dir", type=Path, help="the stack's pid files (default: $ORDERPIPE_STATE/run)")
    args = parser.parse_args()
    if args.orders is None and args.duration is None:
        args.orders = 500
    if args.rate and args.duration:
        args.orders = round(args.rate * args.duration)
    if args.report_every is None and (args.duration or 0) >= 25 * 60:
        args.report_every = 300
    return args


def planned_orders(args) -> int:
    return args.orders if args.orders is not None else round(args.duration * ASSUMED_FAST_RATE)


def stock_warnings(inventory_site: str, count: int) -> list[str]:
    """Warnings for the products this run may sell more of than there are."""
    try:
        available = {p["product_id"]: p["available"]
                     for p in requests.get(f"{inventory_site}/inventory", timeout=10).json()}
    except (requests.RequestException, ValueError) as error:
        return [f"could not read the stock from {inventory_site}/inventory: {error}"]
    return [f"{product} has {available.get(product, 0)} units available, {count} orders may take {units}: "
            f"some will be CANCELLED (out of stock); restock it or start a fresh stack"
            for product, units in sorted(orders.units_needed(count).items()) if available.get(product, 0) < units]


def place_orders(args, placed: list[orders.Placed], stop: threading.Event) -> None:
    if args.rate:
        orders.place_at_rate(args.order_site, placed, stop, rate=args.rate, count=args.orders, clients=args.clients)
    else:
        until = time.monotonic() + args.duration if args.duration else None
        orders.place_as_fast_as_possible(args.order_site, placed, stop, clients=args.clients, count=args.orders,
                                         until=until)


def run_pipeline(args, components: watch.Components) -> dict:
    """Places the orders and waits for them to be final, watching everything meanwhile."""
    finals = watch.FinalEvents(settings.KAFKA_BOOTSTRAP_SERVERS)  # at the topics' end before the first POST
    lag = watch.ConsumerLag(settings.KAFKA_BOOTSTRAP_SERVERS, list(TOPICS))
    samplers = [watch.Every(lag.sample), watch.Every(components.sample_rss)]
    if args.report_every:
        samplers.append(drift.Intervals(components, Path(settings.STATE_DIR), args.report_every))
    for thread in [finals, *samplers]:
        thread.start()
    placed: list[orders.Placed] = []
    stop = threading.Event()  # set on Ctrl-C, so that the clients stop placing orders
    placing = threading.Thread(target=place_orders, args=(args, placed, stop), name="placing", daemon=True)
    try:
        events_before, cpu_before, client_cpu_before = lag.events_so_far(), components.cpu_ticks(), time.process_time()
        started = time.monotonic()
        placing.start()
        accepted, deadline = wait_with_progress(args, placing, placed, finals, samplers)
        final = {i: finals.final[i] for i in accepted if i in finals.final}
        last_final = max((seen for seen, _ in final.values()), default=time.monotonic())
        # The order site applies the final events after they are seen: the orders are done, and their CPU all
        # spent, once every consumer group has caught up (the order site's consumer, which reads 3-4 events per
        # order, is last). Not all final: they are errors, and the run ends at once.
        caught_up = lag.wait_until_caught_up(deadline) if len(final) == len(accepted) else None
        cpu_after, client_cpu_after = components.cpu_ticks(), time.process_time()
        events = lag.events_so_far() - events_before
    finally:
        stop.set()
        for thread in [*samplers, finals]:
            thread.stop()
        lag.close()

    ended = caught_up or last_final
    return {"placed": sorted(placed, key=lambda p: p.n), "final": final, "window": max(ended - started, 1e-9),
            "caught_up_after": None if caught_up is None else max(caught_up - last_final, 0.0),
            "events": events, "cpu": watch.cpu_seconds_between(cpu_before, cpu_after),
            "client_cpu": client_cpu_after - client_cpu_before, "peak_lag": lag.peak,
            "lag_samples_failed": lag.failed_samples,
            "marks": next((s.marks for s in samplers if isinstance(s, drift.Intervals)), None)}


def wait_with_progress(args, placing: threading.Thread, placed: list[orders.Placed],
                       finals: watch.FinalEvents, samplers: list) -> tuple[list[str], float]:
    """Shows orders placed and final until all are placed, then until all are final or `--timeout` has passed
    since the last POST. Returns the ids of the orders the site accepted, and that deadline. The drift intervals
    end with the placing (the last one only if it is at least half an interval long)."""
    with (tqdm(total=args.orders, desc="placed", unit="order", file=sys.stderr, position=0) as placed_bar,
          tqdm(total=args.orders, desc="final ", unit="order", file=sys.stderr, position=1) as final_bar):
        # Each refresh looks only at what is new: over an hour's 200,000 orders, rereading them all four times a
        # second cost the client a third of a core by the end, taken from the stack it measures.
        accepted: list[str] = []
        unfinished: list[str] = []  # accepted and not seen final yet: the orders in flight
        seen = 0

        def show() -> list[str]:
            nonlocal seen, unfinished
            new = placed[seen:]
            seen += len(new)
            accepted.extend(p.order_id for p in new if p.order_id)
            unfinished = [order_id for order_id in unfinished + [p.order_id for p in new if p.order_id]
                          if order_id not in finals.final]
            placed_bar.update(seen - placed_bar.n)
            final_bar.update(len(accepted) - len(unfinished) - final_bar.n)  # an order seen final stays final
            return accepted

        while placing.is_alive():
            placing.join(timeout=0.25)
            show()
        accepted = show()
        for intervals in (s for s in samplers if isinstance(s, drift.Intervals)):
            intervals.stop()
            if time.monotonic() - intervals.marks[-1]["at"] >= intervals.seconds / 2:
                intervals.mark()
        placed_bar.close()  # now, so that it shows the rate of placing (a closed bar ignores updates)
        deadline = time.monotonic() + args.timeout
        while finals.wait_until_final(unfinished, min(0.25, deadline - time.monotonic())) < len(unfinished):
            show()
            if time.monotonic() >= deadline:
                break
        show()
    return accepted, deadline


def order_status(session: requests.Session, order_site: str, order_id: str) -> str:
    try:
        return session.get(f"{order_site}/orders/{order_id}", timeout=10).json().get("status")
    except (requests.RequestException, ValueError) as error:
        return f"no answer ({error})"


def sample_mismatches(order_site: str, final: dict[str, tuple[float, str]]) -> list[str]:
    """Reads a few orders from the order site: it must show the status their final event said."""
    session = requests.Session()
    deadline = time.monotonic() + SAMPLE_WAIT_SECONDS  # the order site applies the final event a moment later
    mismatches = []
    for order_id in random.Random(0).sample(sorted(final), min(SAMPLE_CHECKED, len(final))):
        expected = final[order_id][1]
        while (shown := order_status(session, order_site, order_id)) != expected:
            if time.monotonic() > deadline:
                mismatches.append(f"order {order_id}: its events say {expected}, the order site says {shown}")
                break
            time.sleep(0.1)
    return mismatches


def percentiles(seconds: list[float]) -> dict[str, float] | None:
    if not seconds:
        return None
    cuts = statistics.quantiles(seconds, n=100, method="inclusive") if len(seconds) > 1 else seconds * 99
    return {f"p{p}": round(cuts[p - 1] * 1000, 1) for p in (50, 95, 99)}


def machine() -> dict:
    models = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
              if line.startswith("model name")]
    return {"cores": os.cpu_count(), "cpu": models[0] if models else "unknown"}


def measure(args) -> tuple[dict, list[str]]:
    """The whole run: the figures for the JSON line, and the errors."""
    components = watch.Components(args.run_dir or Path(settings.STATE_DIR) / "run")
    warnings = stock_warnings(args.inventory_site, planned_orders(args))
    warnings += [f"{name} (pid {pid}) is not running" for name, pid in components.leaders.items()
                 if not Path(f"/proc/{pid}").exists()]
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)

    run = run_pipeline(args, components)
    placed, final, window = run["placed"], run["final"], run["window"]
    accepted = sum(1 for p in placed if p.order_id)
    errors = [p.error for p in placed if p.error]
    errors += [f"order {p.order_id}: not SHIPPED or CANCELLED {args.timeout:g} s after the last POST"
               for p in placed if p.order_id and p.order_id not in final]
    if run["caught_up_after"] is None and len(final) == accepted:
        errors.append(f"the consumer groups had not caught up {args.timeout:g} s after the last POST")
    errors += sample_mismatches(args.order_site, final)

    statuses = [status for _, status in final.values()]
    per_order_ms = lambda seconds: round(seconds * 1000 / max(accepted, 1), 2)
    cpu_ms = {name: per_order_ms(run["cpu"].get(name, 0.0)) for name in components.leaders}
    figures = {
        "orders": len(placed),
        "accepted": accepted,
        "shipped": statuses.count(OrderEnd.SHIPPED),
        "cancelled": statuses.count(OrderEnd.CANCELLED),
        "errors": len(errors),
        "mode": f"{args.rate:g} orders/s" if args.rate else f"as fast as possible, {args.clients} clients",
        "declined_share": 1 / orders.DECLINED_EVERY,
        "post_ms": percentiles([p.seconds for p in placed if p.order_id]),
        "e2e_ms": percentiles([final[p.order_id][0] - p.started for p in placed if p.order_id in final]),
        "window_s": round(window, 2),
        "caught_up_after_last_final_s": run["caught_up_after"] and round(run["caught_up_after"], 2),
        "orders_per_s": round(len(final) / window, 2),
        "events": run["events"],
        "events_per_s": round(run["events"] / window, 2),
        "cpu_ms_per_order": {**cpu_ms, "total": round(sum(cpu_ms.values()), 2)},
        "bench_client_cpu_ms_per_order": per_order_ms(run["client_cpu"]),
        "peak_lag": run["peak_lag"],
        "lag_samples_failed": run["lag_samples_failed"],
        "rss_mb": {name: round(components.peak_rss[name] / 2**20, 1)
                   for name in sorted(components.peak_rss, key=watch.start_order)},
    }
    if args.rate:
        late = [p.late for p in placed if p.late > LATE_SECONDS]
        figures["schedule"] = {"late_posts": len(late), "max_late_ms": round(max(late, default=0) * 1000, 1)}
    if not args.no_raw:
        with tqdm(total=2, desc="raw rates", file=sys.stderr) as bar:
            figures["raw"] = raw.store_rates(settings.MONGODB_URI)
            bar.update()
            figures["raw"]["broker_msgs_per_s"] = raw.broker_rate()
            bar.update()
        figures["raw"] = {name: round(rate, 1) for name, rate in figures["raw"].items()}
        figures["fraction"] = fractions(figures)
    if run["marks"]:
        figures["intervals"] = drift.intervals(run["marks"], placed, final)
        figures["drift"] = drift.verdict(figures["intervals"])
    figures["machine"] = machine()
    figures["warnings"] = warnings
    figures["error_list"] = errors[:20]
    return figures, errors


def fractions(figures: dict) -> dict:
    raw_rates, orders_per_s = figures["raw"], figures["orders_per_s"]
    return {
        "orders_per_s_of_store_insert_one": round(orders_per_s / raw_rates["store_insert_one_per_s"], 4),
        "orders_per_s_of_store_insert_many_docs": round(orders_per_s / raw_rates["store_insert_many_docs_per_s"], 4),
        "orders_per_s_of_store_update_one": round(orders_per_s / raw_rates["store_update_one_per_s"], 4),
        "events_per_s_of_broker_msgs": round(figures["events_per_s"] / raw_rates["broker_msgs_per_s"], 4),
    }


def report(f: dict) -> list[str]:
    """The human-readable lines."""
    ms = lambda p: "  ".join(f"{name} {value:.1f} ms" for name, value in p.items()) if p else "-"
    lines = [
        f"orders          {f['orders']} placed ({f['mode']}; {f['declined_share']:.0%} above the approval limit),"
        f" {f['shipped']} SHIPPED, {f['cancelled']} CANCELLED, {f['errors']} errors",
        f"POST /orders    {ms(f['post_ms'])}",
        f"end to end      {ms(f['e2e_ms'])}   (POST sent → SHIPPED or CANCELLED event seen)",
        f"sustained       {f['orders_per_s']:.1f} orders/s, {f['events_per_s']:.1f} events/s over {f['window_s']:.1f} s"
        f" (first POST → all final and every consumer caught up, {f['caught_up_after_last_final_s'] or 0:.1f} s"
        f" after the last final event)",
    ]
    if "schedule" in f:
        late, limit = f["schedule"], f"{LATE_SECONDS * 1000:.0f} ms"
        if late["late_posts"]:
            lines.append(f"schedule        NOT kept: {late['late_posts']} POSTs started more than {limit} late"
                         f" (at most {late['max_late_ms']:.0f} ms)")
        else:
            lines.append(f"schedule        kept: every POST started within {limit} of its due time")
    lines.append(f"{'component':<22}{'CPU ms/order':>13}{'peak RSS MB':>13}")
    for name, cpu in f["cpu_ms_per_order"].items():
        if name != "total":
            rss = sum(mb for process, mb in f["rss_mb"].items() if process.split("/")[0] == name)
            lines.append(f"{name:<22}{cpu:>13.2f}{rss:>13.1f}")
    lines.append(f"{'stack total':<22}{f['cpu_ms_per_order']['total']:>13.2f}{sum(f['rss_mb'].values()):>13.1f}")
    lines.append(f"{'bench client':<22}{f['bench_client_cpu_ms_per_order']:>13.2f}   (not in the stack's total)")
    lines.append("peak lag        " + ", ".join(f"{group} {'-' if n is None else n}"
                                                for group, n in f["peak_lag"].items())
                 + f" (events not committed; {f['lag_samples_failed']} samples unanswered)")
    if "raw" in f:
        r, share = f["raw"], {name: f"{value:.1%}" for name, value in f["fraction"].items()}
        lines += [
            f"raw store       insert_one {r['store_insert_one_per_s']:.0f}/s, insert_many"
            f" {r['store_insert_many_docs_per_s']:.0f} docs/s ({raw.MANY} a call), update_one"
            f" {r['store_update_one_per_s']:.0f}/s",
            f"raw broker      {r['broker_msgs_per_s']:.0f} msgs/s ({len(raw.MESSAGE)} B each, the project's producer"
            f" settings, acks awaited every {raw.ACKS_EVERY})",
            f"pipeline share  orders/s is {share['orders_per_s_of_store_insert_one']} of insert_one/s,"
            f" {share['orders_per_s_of_store_insert_many_docs']} of insert_many docs/s,"
            f" {share['orders_per_s_of_store_update_one']} of update_one/s",
            f"                events/s is {share['events_per_s_of_broker_msgs']} of the broker's msgs/s",
            "                (raw: one client alone on the store or the broker, in this run; an order takes several"
            " writes and ~4 events)",
        ]
    if "intervals" in f:
        lines += drift.report(f["intervals"], f["drift"])
    lines.append(f"machine         {f['machine']['cores']} cores, {f['machine']['cpu']}")
    lines += [f"error           {error}" for error in f["error_list"][:10]]
    return lines


def sites_cpu_ms(figures: dict) -> float:
    """CPU ms per order of the sites' own processes (web, consumers, relay): where tracing runs."""
    return sum(ms for name, ms in figures["cpu_ms_per_order"].items()
               if name != "total" and not name.startswith(INFRASTRUCTURE))


def restart_sites(run_dir: Path, **environment) -> None:
    names = [path.stem for path in run_dir.glob("*.pid") if path.stem.startswith(("web-", "consumer-", "relay-"))]
    # not this process's Django settings and path (the order site's), nor its tracing switch
    env = {name: value for name, value in os.environ.items()
           if name not in ("OTEL_SDK_DISABLED", "DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    for command in ("down", "up"):
        subprocess.run([str(MANAGE_ALL), command, *names], env={**env, **environment}, check=True,
                       stdout=subprocess.DEVNULL, timeout=600)


def tracing_overhead(args) -> tuple[dict, list[str]]:
    """The same measurement traced (the stack as it runs) and untraced, alternately for `--rounds` rounds (other
    work on the machine changes the CPU an order costs, so one pair can mislead); the figures, and the overhead."""
    run_dir = args.run_dir or Path(settings.STATE_DIR) / "run"
    runs, errors = {"traced": [], "untraced": []}, []
    try:
        # Not counted: the same orders once before the first round. A broker or Zipkin that `up` just started
        # spends its first seconds compiling (the JIT), and counted, that went to the first traced run: Kafka
        # measured 2.66 ms per order there against 1.35 in the untraced run after it.
        print("warm-up (not counted):", file=sys.stderr)
        warm_up, more = measure(args)
        errors += more
        for round_number in range(args.rounds):
            for mode in runs:
                # every run on freshly started sites: the first traced run on the stack as `up` left it measured
                # its warm-up too (the highest overhead of every set of rounds)
                restart_sites(run_dir, **({"OTEL_SDK_DISABLED": "true"} if mode == "untraced" else {}))
                print(f"round {round_number + 1}, {mode}:", file=sys.stderr)
                figures, more = measure(args)
                runs[mode].append(figures)
                errors += more
    finally:
        restart_sites(run_dir)  # traced again
    # medians: from 3 rounds on, one round that the machine's other work (or a restart gone wrong) upset does not
    # move them; the overhead is the median of the rounds' own overheads (each traced run against its untraced one)
    median = lambda mode, cpu: statistics.median(cpu(figures) for figures in runs[mode])
    sites = {mode: round(median(mode, sites_cpu_ms), 2) for mode in runs}
    stack = {mode: round(median(mode, lambda f: f["cpu_ms_per_order"]["total"]), 2) for mode in runs}
    pairs = list(zip(runs["traced"], runs["untraced"], strict=True))
    per_round = {"sites": [sites_cpu_ms(on) / sites_cpu_ms(off) - 1 for on, off in pairs],
                 "stack": [on["cpu_ms_per_order"]["total"] / off["cpu_ms_per_order"]["total"] - 1 for on, off in pairs]}
    overhead = {"rounds": args.rounds, "warm_up_orders": warm_up["orders"], "sites_cpu_ms_per_order": sites,
                "stack_cpu_ms_per_order": stack,
                "sites_overhead": round(statistics.median(per_round["sites"]), 4),
                "stack_overhead": round(statistics.median(per_round["stack"]), 4),
                "sites_overhead_per_round": [round(o, 4) for o in per_round["sites"]],
                # the milliseconds themselves: a percentage also moves with what the untraced stack costs
                "stack_added_cpu_ms_per_order": round(statistics.median(
                    on["cpu_ms_per_order"]["total"] - off["cpu_ms_per_order"]["total"] for on, off in pairs), 2),
                "zipkin_cpu_ms_per_order": round(median("traced", lambda f: f["cpu_ms_per_order"].get("zipkin", 0)), 2)}
    return {"traced": runs["traced"][-1], "untraced": runs["untraced"][-1], "tracing": overhead}, errors


def overhead_report(figures: dict) -> list[str]:
    t = figures["tracing"]
    sites, stack = t["sites_cpu_ms_per_order"], t["stack_cpu_ms_per_order"]
    return [
        "traced (the last round):", *report(figures["traced"]), "", "untraced (the last round):",
        *report(figures["untraced"]), "",
        f"tracing         {t['rounds']} round(s), medians: the sites' CPU per order {sites['untraced']:.2f} ms"
        f" untraced, {sites['traced']:.2f} ms traced; their overhead, the median of the rounds'"
        f" {t['sites_overhead']:+.1%} ("
        + ", ".join(f"{o:+.1%}" for o in t["sites_overhead_per_round"]) + ")",
        f"                whole stack {stack['untraced']:.2f} → {stack['traced']:.2f} ms, the median of the rounds'"
        f" overheads {t['stack_overhead']:+.1%} ({t['stack_added_cpu_ms_per_order']:+.2f} ms, the median of the"
        f" rounds'); Zipkin itself {t['zipkin_cpu_ms_per_order']:.2f} ms",
    ]


def stack_ready(order_site: str, command: str) -> bool:
    """Whether the order site answers ready; if not, says so on stderr."""
    try:
        if requests.get(f"{order_site}/ready", timeout=5).status_code == 200:
            return True
    except requests.RequestException:
        pass
    print(f"{command}: the order site at {order_site} is not ready: start the stack (./manage_all.sh up)",
          file=sys.stderr)
    return False


def main() -> int:
    args = parse_args()
    django.setup()
    if not stack_ready(args.order_site, "bench"):
        return 2
    try:
        figures, errors = tracing_overhead(args) if args.tracing_overhead else measure(args)
    except (KafkaError, PyMongoError) as error:
        print(f"bench: the broker or the store failed: {error!r}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted, no figures", file=sys.stderr)
        return 130
    print("\n".join(overhead_report(figures) if args.tracing_overhead else report(figures)))
    print(json.dumps(figures), flush=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
