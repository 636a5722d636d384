"""The Go tests of the packages the store patches change (infra/ferretdb/), run from the patched source.

`./manage_all.sh setup` builds them next to the patched binary (`<binary>.tests/`): FerretDB's own tests of
those packages, and the ones the patches add (0008's schema cache, 0009's memory functions, 0010's kept
statements, 0011's queue of writers, 0012's query ended by its context, 0013's batches of updates). What the
patches change that Python cannot see from outside is proved here.
"""

import os
import subprocess
from pathlib import Path

import pytest


def test_the_patched_packages_pass_their_go_tests(tmp_path):
    binary = os.environ.get("ORDERPIPE_FERRETDB_BIN")
    if not binary:
        pytest.skip("no FerretDB build here (an external store): ./manage_all.sh test builds it")
    tests = sorted(Path(f"{binary}.tests").glob("*.test"))  # the packages build_ferretdb names
    assert tests, f"no Go tests next to {binary}: `./manage_all.sh setup` builds them with the binary"
    # in a folder of its own: the backend's tests make their SQLite files in the current one, and FerretDB's test
    # helpers look for the repository's root (a .git folder) above it
    (tmp_path / ".git").mkdir()
    for package in tests:
        run = subprocess.run([package, "-test.count=1"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, f"{package.name}:\n" + run.stdout[-4000:] + run.stderr[-2000:]
        assert run.stdout.strip().endswith("PASS"), package.name
