"""The benchmark: `./manage_all.sh bench` (bench/bench.py) against a running `up`."""
