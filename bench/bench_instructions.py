#!/usr/bin/python3
"""The gateway's user-space instructions per signed GitHub push, counted by
valgrind's callgrind: a figure that, unlike CPU time, does not move with what
else runs on the machine, so that two builds compare on a noisy one.

Two runs of the same configuration (mock-kafka, acks=all, 2 HTTP threads,
plain HTTP) under callgrind, one answering FEW pushes and one MANY (8
keep-alive senders each); the difference of their instruction totals divided
by the difference of the pushes is the cost of one push, start-up and
shutdown cancelling out. The kernel's part is not counted (see `--perf` in
bench_gateway.py for that), and under valgrind OpenSSL takes its generic
SHA-256 code instead of the CPU's SHA extensions, so the HMAC weighs more
here than on the machine. Writes bench/results/instructions.json and its
section of bench/README.md.

Usage: bench/bench_instructions.py BIN_DIR [--few N] [--many N] [--no-readme]
"""
import argparse
import collections
import concurrent.futures
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

import bench_gateway as bg

SENDERS = 8


def run(bin_dir, pushes, tmp):
    """Answers `pushes` signed pushes (after 8 unmeasured ones) on a gateway
    under callgrind; returns the callgrind output files (one per dump)."""
    out = tmp / f"cg-{pushes}"
    out.mkdir()
    os.environ["HOOKBUS_WRAPPER"] = (f"valgrind --tool=callgrind --dump-instr=no "
                                     f"--callgrind-out-file={out}/callgrind.out")
    import conftest
    import requests
    conftest.WRAPPER = os.environ["HOOKBUS_WRAPPER"].split()
    conftest.SLOW = 6
    kafka = conftest.MockKafka()
    gw = None
    try:
        # librdkafka's statistics (once a second, for /readyz's producer id)
        # cost per second, not per push; under callgrind a second is a few
        # dozen pushes, so they are off here. The first request through each
        # new code path is slow under callgrind (translation): room for it
        # before the head and request time-outs cut the senders behind it.
        cfg = (bg.gateway_config(kafka.bootstrap, [("statistics.interval.ms", "0")], threads=2,
                                 limits=[("header_timeout_ms", 120000),
                                         ("request_timeout_ms", 240000)]) +
               bg.github_receiver(bg.SECRET))
        (out / "gw").mkdir()
        gw = conftest.Gateway(out / "gw", cfg)
        body = bg.github_body()
        headers = bg.github_headers(body)
        url = gw.url("/webhooks/gh")

        def send(n):
            with requests.Session() as s:
                for _ in range(n):
                    r = s.post(url, data=body, headers=headers, timeout=120)
                    assert r.status_code == 202, (r.status_code, r.text)

        with concurrent.futures.ThreadPoolExecutor(SENDERS) as ex:
            list(ex.map(send, [1] * SENDERS))
            list(ex.map(send, [pushes // SENDERS] * SENDERS))
    finally:
        if gw:
            gw.stop()
        kafka.stop()
    return sorted(out.glob("callgrind.out*"))


def totals(files):
    """Instructions in all, and per function (self), from callgrind's files."""
    total, fns = 0, collections.Counter()
    for f in files:
        for line in f.read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                total += int(line.split()[1])
                break
        ann = subprocess.run(["callgrind_annotate", "--threshold=100", str(f)],
                             capture_output=True, text=True, timeout=600).stdout
        for line in ann.splitlines():
            m = re.match(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*:.*)$", line)
            if m and not m.group(2).startswith("=>"):
                fns[m.group(2)] += int(m.group(1).replace(",", ""))
    return total, fns


def short(fn):
    """`file.c:function [object]` without directories."""
    m = re.match(r"^(?:\S*/)?([^/\s]+):(\S+)(?:\s+\[(?:\S*/)?([^/\]]+)\])?", fn)
    if not m:
        return fn
    name = m.group(2) if m.group(1) == "???" else f"{m.group(2)} ({m.group(1)})"
    return f"`{name}` {m.group(3) or ''}".strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin_dir")
    ap.add_argument("--few", type=int, default=80)
    ap.add_argument("--many", type=int, default=400)
    ap.add_argument("--no-readme", action="store_true")
    a = ap.parse_args()
    os.environ["HOOKBUS_BIN_DIR"] = str(pathlib.Path(a.bin_dir).resolve())
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="hookbus-bench-instructions-"))
    t_few, f_few = totals(run(a.bin_dir, a.few, tmp))
    t_many, f_many = totals(run(a.bin_dir, a.many, tmp))
    n = (a.many // SENDERS - a.few // SENDERS) * SENDERS
    per = (t_many - t_few) / n
    top = sorted(((f_many[k] - f_few.get(k, 0)) / n, k) for k in f_many)[::-1][:15]
    info = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": bg.machine(), "pushes": [a.few, a.many],
            "instructions_per_push": round(per), "github_body_bytes": len(bg.github_body()),
            "top": [{"instructions": round(v), "function": k} for v, k in top]}
    bg.RESULTS.mkdir(parents=True, exist_ok=True)
    (bg.RESULTS / "instructions.json").write_text(json.dumps(info, indent=2) + "\n")
    lines = [f"**{per:,.0f}** user-space instructions per signed {info['github_body_bytes']}-byte "
             f"GitHub push (callgrind, {a.many} against {a.few} pushes); by function (self):", "",
             "| instructions | function |", "| ---: | --- |"]
    lines += [f"| {v:,.0f} | {short(k).replace('|', '/')} |" for v, k in top]
    text = "\n".join(lines)
    print(text, flush=True)
    if not a.no_readme:
        bg.update_readme(text, info, section="instructions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
