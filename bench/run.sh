#!/bin/sh
# make bench: every benchmark in bench/, results in bench/results/ and the
# tables in bench/README.md. Loopback only, each run bounded in time.
# Usage: bench/run.sh [BIN_DIR] [PEERS_DIR]   (PEERS_DIR: make bench-peers)
set -eu
bin=${1:-build/bin}
peers=${2:-build/bench-peers}
# The mock broker: gateway warm and from a cold start, TLS, the Go bridge and
# nginx, and the gateway's perf profile at 256 connections.
/usr/bin/python3 bench/bench_gateway.py "$bin" --peers "$peers" --perf
# Instructions per signed push under callgrind: the figure that does not move with the machine.
/usr/bin/python3 bench/bench_instructions.py "$bin"
# The same gateway (and the Go bridge) on a 3-node Apache Kafka (make kafka fetched it).
/usr/bin/python3 bench/bench_gateway.py "$bin" --peers "$peers" --kafka real3 --conns 8,32,256
# hookbus-kargo's end-to-end latency and coalescing, once it is built here.
if [ -x "$bin/hookbus-kargo" ] && [ -f tests/e2e/test_kargo.py ]; then
    /usr/bin/python3 bench/bench_kargo.py "$bin"
    /usr/bin/python3 bench/bench_kargo.py "$bin" --kafka real3
else
    echo "bench: no hookbus-kargo in $bin: end-to-end and coalescing benchmarks skipped"
fi
