"""Figures the fault tests measure, printed at the end of the run (CI's log keeps them)."""

FAULT_REPORT: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if FAULT_REPORT:
        terminalreporter.section("fault tests: orders, final states, duplicates, time to converge")
        for line in FAULT_REPORT:
            terminalreporter.write_line(line)
