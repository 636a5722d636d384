"""`./manage_all.sh experiment replay GROUP`: the group reads all its topics again and nothing is applied twice."""

import pytest

from tests.experiments.run import experiment, figures

pytestmark = [pytest.mark.experiment, pytest.mark.faults]


def test_a_group_reset_to_the_beginning_reads_everything_again_and_changes_nothing():
    output = experiment("replay", "shipment-service")

    (read_again,) = figures(r"(\d+) events read again, nothing applied twice", output)
    assert read_again > 0
    compared = [line.split()[0] for line in output.split("Before and after", 1)[1].splitlines()
                if line.startswith("    ") and ":" in line and "note:" not in line]
    assert compared and set(compared) == {"same"}, output
