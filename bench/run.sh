#!/bin/sh
# make bench: every benchmark in bench/, results in bench/results/.
set -eu
bin=${1:-build/bin}
/usr/bin/python3 bench/bench_gateway.py "$bin"
