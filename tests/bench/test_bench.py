"""`./manage_all.sh bench` against the test stack: a short run places its orders, sees each one end, and reports
every figure in its last line. How fast is the benchmark's business: nothing here asserts on time."""

import json
import os
import subprocess

import pytest
from pymongo import MongoClient

from bench import drift
from bench.watch import GROUPS
from tests.stack import MANAGE_ALL, STATE, STORE_URI, process_env

ORDERS = 200
RAW_RATES = {"store_insert_one_per_s", "store_insert_many_docs_per_s", "store_update_one_per_s", "broker_msgs_per_s"}


def test_a_short_run_follows_every_order_to_its_end_and_reports_every_figure():
    result = subprocess.run([str(MANAGE_ALL), "bench", "--orders", str(ORDERS)], env=process_env(),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    *table, last = result.stdout.strip().splitlines()
    figures = json.loads(last)

    assert table, "the human-readable lines come before the JSON line"
    assert figures["orders"] == ORDERS
    assert figures["errors"] == 0, figures["error_list"]
    assert figures["shipped"] + figures["cancelled"] == ORDERS
    assert figures["cancelled"] >= 1, "a few orders are above the approval limit: the decline path ran"
    for latency in ("post_ms", "e2e_ms"):
        assert 0 < figures[latency]["p50"] <= figures[latency]["p95"] <= figures[latency]["p99"], latency
    assert figures["orders_per_s"] > 0 and figures["events"] >= 2 * ORDERS

    components = {path.stem for path in (STATE / "run").glob("*.pid")}
    assert components and components <= set(figures["cpu_ms_per_order"])
    assert figures["cpu_ms_per_order"]["total"] > 0
    assert components <= {process.split("/")[0] for process in figures["rss_mb"]}
    # every group's lag was measured (a sample the broker did not answer is counted apart, not taken as no lag)
    assert set(figures["peak_lag"]) == set(GROUPS) and None not in figures["peak_lag"].values(), figures["peak_lag"]

    assert set(figures["raw"]) == RAW_RATES and all(rate > 0 for rate in figures["raw"].values())
    assert all(0 < share for share in figures["fraction"].values())
    assert figures["machine"]["cores"] == os.cpu_count()  # the machine it ran on


def test_a_run_in_intervals_reports_each_one_and_judges_the_drift():
    result = subprocess.run([str(MANAGE_ALL), "bench", "--duration", "15", "--rate", "8", "--report-every", "3",
                             "--no-raw"], env=process_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    *table, last = result.stdout.strip().splitlines()
    figures = json.loads(last)

    intervals = figures["intervals"]
    assert len(intervals) >= drift.MIN_INTERVALS, intervals
    assert sum(row["orders"] for row in intervals) <= figures["accepted"]
    for row in intervals:
        assert row["orders"] > 0 and row["post_p99_ms"] > 0 and row["e2e_p99_ms"] > 0, row
        assert row["store_mb"] > 0 and {"ferretdb", "kafka", "web-order"} <= set(row["rss_mb"]), row
    assert [row["minute"] for row in intervals] == sorted(row["minute"] for row in intervals)
    assert {"post_p99_ms", "e2e_p99_ms", "store_kb_per_order", "rss_mb.ferretdb"} <= set(figures["drift"]["changes"])
    assert any(line.startswith("drift ") for line in table)
    assert any(line.startswith("RSS MB ferretdb") for line in table)


def test_drift_is_a_change_beyond_the_limit_between_the_first_and_the_last_windows():
    def row(minute, rss):
        return {"minute": minute, "orders": 100, "post_p99_ms": 50.0, "e2e_p99_ms": 400.0, "cpu_ms_per_order": 18.0,
                "store_mb": 10.0 + minute, "store_kb_per_order": 2.0, "rss_mb": {"web-order": rss}}

    steady = [row(5 * (i + 1), 100.0) for i in range(6)]
    assert drift.verdict(steady)["drifting"] == []
    assert drift.verdict(steady)["compared"] == "minutes 5-15 with 20-30"
    leaking = [row(5 * (i + 1), 100.0 + 10 * i) for i in range(6)]  # 115 MB at first, 145 MB at the end: +26 %
    assert drift.verdict(leaking)["drifting"] == ["rss_mb.web-order"]
    assert drift.verdict(steady[:drift.MIN_INTERVALS - 1]) is None


def test_the_page_benchmark_fills_the_store_to_each_size_and_times_every_list_page():
    orders_before = MongoClient(STORE_URI)["orders"]["orders"].estimated_document_count()
    sizes = [orders_before + 1000, orders_before + 1150]  # enough for the deep pages (page 50 of 20 skips 980)
    result = subprocess.run([str(MANAGE_ALL), "bench", "--pages", "--sizes", ",".join(map(str, sizes)),
                             "--samples", "3", "--budget", "5"], env=process_env(), capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])

    assert [size["orders"] for size in figures["sizes"]] == sizes
    assert figures["sizes"][1]["filled_orders"] == 150  # the second size goes on from the first
    for size in figures["sizes"]:
        for name, page in size["pages"].items():
            assert "error" not in page and page["samples"] >= 3 and 0 < page["p50"] <= page["p95"], (name, page)
            assert page["rows"] >= 1, name  # every page shows something: a clone, or the order a search lands on
        assert {"web-order", "web-notification"} <= {name.split("/")[0] for name in size["web_peak_rss_mb"]}


def test_the_tracing_overhead_is_measured_traced_and_untraced_in_one_run():
    result = subprocess.run([str(MANAGE_ALL), "bench", "--orders", "40", "--rate", "10", "--no-raw",
                             "--tracing-overhead"], env=process_env(), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])

    assert figures["tracing"]["warm_up_orders"] == 40  # placed first, and counted in neither mode
    for mode in ("traced", "untraced"):
        assert figures[mode]["shipped"] + figures[mode]["cancelled"] == 40, mode
        assert figures["tracing"]["sites_cpu_ms_per_order"][mode] > 0
    assert figures["traced"]["cpu_ms_per_order"]["zipkin"] > figures["untraced"]["cpu_ms_per_order"]["zipkin"], \
        "spans reached Zipkin only in the traced run"
    assert any(line.startswith("tracing ") for line in result.stdout.splitlines())


def test_the_store_mix_measures_each_ferretdb_build_on_a_fresh_store_of_its_own():
    with MongoClient(STORE_URI) as client:
        if "ferretdbVersion" not in client.admin.command("buildInfo"):
            pytest.skip("the stack's store is MongoDB: no FerretDB build to measure")
    result = subprocess.run([str(MANAGE_ALL), "bench", "--store-mix", "--rounds", "2", "--documents", "30"],
                            env=process_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    *table, last = result.stdout.strip().splitlines()
    figures = json.loads(last)

    names = sorted(os.path.basename(binary) for binary in figures["binaries"])
    assert len(names) == 2 and names[1].endswith("-upstream"), names  # `test` built upstream's for the differential
    for binary, measured in figures["binaries"].items():
        assert len(measured["runs"]) == 2 and all(cpu > 0 for cpu in measured["runs"]), binary
        assert min(measured["runs"]) <= measured["cpu_ms_per_operation"] <= max(measured["runs"]), binary
    assert len(table) == 2
    assert not list((STATE / "store-mix").iterdir()), "each run's store is removed after it"
