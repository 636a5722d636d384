"""`./manage_all.sh bench --idle` against the test stack: what each component costs doing nothing, every one
of them named. What the figures are is the benchmark's business: nothing here asserts on time."""

import json

from tests.stack import STATE, manage_all


def test_the_idle_cost_covers_every_component_of_the_stack():
    result = manage_all("bench", "--idle", "2")
    *table, last = result.stdout.strip().splitlines()
    figures = json.loads(last)

    components = {path.stem for path in (STATE / "run").glob("*.pid")}
    assert components and set(figures["cpu_ms_per_s"]) == set(figures["rss_mb"]) == components | {"total"}
    assert all(table_line.split()[0] in components for table_line in table[2:-1])
    assert all(mb > 0 for mb in figures["rss_mb"].values()), "every running process has some memory"
