"""Which tests run, in which order, and the figures the fault tests measure (printed at the end of the run).

- The three-broker tests (marker `cluster`) start a stack of their own, so they run only when asked for: a `-m`
  that names `cluster`, or a path inside tests/cluster. Any other `-m` composes with that default.
- `--quick` leaves out every test that needs fault injection, a three-broker cluster, an experiment or a
  browser (`./manage_all.sh test --quick`).
- The fast tests run first: the tests of one module's logic, then the sites' APIs and pages, then whole
  stories, fuzzing and benchmark, and the fault tests, experiments and browser last.
"""

from pathlib import Path

TESTS = Path(__file__).resolve().parent
QUICK_LEAVES_OUT = {"faults", "cluster", "experiment", "browser"}
# The tests of the markers --quick leaves out run last; the others folder by folder in this order (a folder not
# listed first), fast first.
SLOW_LAST = ["console", "ops", "infra", "e2e", "fuzz", "bench", "faults", "experiments", "browser", "cluster"]

FAULT_REPORT: list[str] = []


def pytest_addoption(parser):
    parser.addoption("--quick", action="store_true",
                     help=f"leave out the tests marked {', '.join(sorted(QUICK_LEAVES_OUT))}")


def cluster_asked_for(config) -> bool:
    if "cluster" in (config.option.markexpr or ""):
        return True
    paths = (Path(config.invocation_params.dir, arg.split("::")[0]).resolve() for arg in config.args)
    return any(path.is_relative_to(TESTS / "cluster") for path in paths)


def leaves_out(config) -> set[str]:
    markers = set() if cluster_asked_for(config) else {"cluster"}
    return markers | QUICK_LEAVES_OUT if config.getoption("quick") else markers


def slowness(item) -> tuple[bool, int]:
    folder = Path(item.path).relative_to(TESTS).parts[0]
    slow = bool(QUICK_LEAVES_OUT & {mark.name for mark in item.iter_markers()})
    return slow, SLOW_LAST.index(folder) + 1 if folder in SLOW_LAST else 0


def pytest_collection_modifyitems(config, items):
    left_out = leaves_out(config)
    kept = [item for item in items if not left_out & {mark.name for mark in item.iter_markers()}]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = sorted(kept, key=slowness)  # a stable sort: within a folder, the collection order


def pytest_terminal_summary(terminalreporter):
    if FAULT_REPORT:
        terminalreporter.section("fault tests: orders, final states, duplicates, time to converge")
        for line in FAULT_REPORT:
            terminalreporter.write_line(line)
