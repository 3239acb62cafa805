#!/bin/sh
# make bench: every benchmark in bench/, results in bench/results/ and the
# tables in bench/README.md. Loopback only, each run bounded in time.
set -eu
bin=${1:-build/bin}
/usr/bin/python3 bench/bench_gateway.py "$bin"
# The same gateway on a 3-node Apache Kafka (make kafka fetched it).
/usr/bin/python3 bench/bench_gateway.py "$bin" --kafka real3 --conns 8,32,256
# hookbus-kargo's end-to-end latency and coalescing, once it is built here.
if [ -x "$bin/hookbus-kargo" ] && [ -f tests/e2e/test_kargo.py ]; then
    /usr/bin/python3 bench/bench_kargo.py "$bin"
    /usr/bin/python3 bench/bench_kargo.py "$bin" --kafka real3
else
    echo "bench: no hookbus-kargo in $bin: end-to-end and coalescing benchmarks skipped"
fi
