"""Runs an experiment the way a user does (`./manage_all.sh experiment …`) against the test stack."""

import re

from tests.stack import manage_all


def experiment(*args: str) -> str:
    """Its output, once it has ended with exit status 0 and a PASS line."""
    done = manage_all("experiment", *args, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    assert done.stdout.rstrip().splitlines()[-1].startswith(f"PASS: experiment {' '.join(args)}"), output[-5000:]
    return done.stdout


def figures(pattern: str, output: str) -> tuple:
    """The numbers a line of the output gives (the pattern's groups), as floats."""
    found = re.search(pattern, output)
    assert found, f"no line matches {pattern!r} in:\n{output[-3000:]}"
    return tuple(float(group) for group in found.groups())
