"""`./manage_all.sh experiment scale`: a second consumer joins payment-service under load and takes half of the
partitions (how much faster payments go is a figure it prints, not a fact to test on a shared machine)."""

import re

import pytest
from django.conf import settings

from tests.experiments.run import experiment, figures

pytestmark = [pytest.mark.experiment, pytest.mark.faults]


def test_a_second_consumer_takes_half_of_the_partitions():
    # slow payments at a low rate, so that one consumer falls behind even on a busy machine
    output = experiment("scale", "--rate", "3", "--payment-seconds", "1", "--join-after", "10", "--after", "15")

    before, after = output.split("==> consumer-payment-2 joins the group", 1)
    assert "consumer-payment-1" in before and "consumer-payment-2" not in before.split("restarts with slow")[1]
    # the assignment once both are members: each owns half of order_placed's partitions, none owned twice
    owned = re.findall(r"^ +(consumer-payment-\d) .*order_placed\[([\d,]+)\]", after, re.M)[:2]
    assert [member for member, _ in owned] == ["consumer-payment-1", "consumer-payment-2"], after
    first, second = ({int(p) for p in partitions.split(",")} for _, partitions in owned)
    assert first | second == set(range(settings.KAFKA_TOPIC_PARTITIONS)) and not first & second, owned
    assert len(first) == len(second), owned
    figures(r"payments per second: one consumer ([\d.]+), two consumers ([\d.]+)", output)  # printed, not judged
