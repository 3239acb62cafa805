#!/bin/sh
# Runs every libFuzzer target in DIR (default build/fuzz) over its committed
# seeds (fuzz/corpus/<target>) plus a fixed number of new inputs. Bounded in
# runs and in time; new inputs go to a scratch directory, never the corpus.
# Usage: scripts/fuzz-smoke.sh [DIR]   (FUZZ_RUNS, FUZZ_MAX_SECONDS override)
set -eu
dir=${1:-build/fuzz}
runs=${FUZZ_RUNS:-20000}
max=${FUZZ_MAX_SECONDS:-6}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
for bin in "$dir"/fuzz_*; do
    [ -x "$bin" ] || continue
    t=$(basename "$bin")
    mkdir -p "$scratch/$t"
    start=$(date +%s)
    if "$bin" -runs="$runs" -max_total_time="$max" -max_len=65536 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=0 -artifact_prefix="$scratch/$t-" \
        "$scratch/$t" "fuzz/corpus/$t" >"$scratch/$t.log" 2>&1; then
        echo "fuzz-smoke: $t ok: $(grep -o 'Done [0-9]* runs' "$scratch/$t.log" || echo 'time limit'), $(($(date +%s) - start)) s"
    else
        status=1
        echo "fuzz-smoke: $t FAILED:" >&2
        tail -40 "$scratch/$t.log" >&2
        for a in "$scratch/$t"-*; do
            [ -e "$a" ] && cp "$a" "build/" && echo "fuzz-smoke: crash input saved as build/$(basename "$a")" >&2
        done
    fi
done
exit $status
