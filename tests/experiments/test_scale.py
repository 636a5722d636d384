"""`./manage_all.sh experiment scale`: a second consumer joins payment-service under load, takes half of the
partitions, and the group takes payments faster."""

import pytest

from tests.experiments.run import experiment, figures

pytestmark = [pytest.mark.experiment, pytest.mark.faults]


def test_a_second_consumer_takes_half_the_partitions_and_payments_go_faster():
    # slow payments at a low rate, so that one consumer falls behind even on a busy machine
    output = experiment("scale", "--rate", "3", "--payment-seconds", "1", "--join-after", "10", "--after", "15")

    before, after = output.split("==> consumer-payment-2 joins the group", 1)
    assert "consumer-payment-1" in before and "consumer-payment-2" not in before.split("restarts with slow")[1]
    owners = [line.split()[0] for line in after.splitlines() if "order_placed[" in line]
    assert owners[:2] == ["consumer-payment-1", "consumer-payment-2"], after
    one, two = figures(r"payments per second: one consumer ([\d.]+), two consumers ([\d.]+)", output)
    assert two >= 1.3 * one > 0
