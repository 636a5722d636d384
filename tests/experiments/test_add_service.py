"""`./manage_all.sh experiment add-service`: the notification site runs, and an order that ships and one that is
declined each get their notification."""

import re

import pytest

from tests.experiments.run import experiment

pytestmark = pytest.mark.experiment


def test_an_order_that_ships_and_one_declined_each_get_a_notification():
    output = experiment("add-service")

    counts = re.findall(r"\((ships|is declined)\): (\d+) notification\(s\)", output)
    assert [outcome for outcome, _ in counts] == ["ships", "is declined"], output
    assert all(int(count) >= 1 for _, count in counts), output
