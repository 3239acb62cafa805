#!/usr/bin/python3
"""Gateway throughput, latency and memory against a static nginx baseline.

Starts mock-kafka and the gateway (acks=all, plain HTTP) and a static nginx
`return 202` on loopback, then drives each with the same wrk load: a signed
~4 KB GitHub push and a Docker Hub push on its key route, at several
connection counts. Prints a table, writes bench/results/gateway.json, the
gnuplot PNG bench/results/latency.png, and the table into bench/README.md.
Loopback only; every run is bounded by wrk's duration.

With --kafka real3 the gateway publishes to a 3-node Apache Kafka cluster
(tests/tools/kafka-cluster: replication factor 3, min.insync.replicas 2,
acks=all) instead; only the gateway's plain-HTTP GitHub target runs, the
brokers' CPU per event is read from /proc/<pid>/stat of their JVMs, and the
events in Kafka are counted against the 202s. Results: gateway-real3.json and
their own section of bench/README.md.

Usage: bench/bench_gateway.py BIN_DIR [--duration S] [--conns 8,32,64,256]
                              [--kafka mock|real3]
"""
import argparse
import hashlib
import hmac
import json
import os
import pathlib
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import baselines

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
RESULTS = ROOT / "bench" / "results"
SECRET = "bench-github-secret"
HUB_SECRET = "bench-hub-secret"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def github_body():
    """The push fixture grown to ~4 KB with more commits (as a busy push)."""
    push = json.loads((ROOT / "tests/fixtures/github/push.json").read_bytes())
    base = push["commits"][0]
    i = 0
    while len(json.dumps(push).encode()) < 4096:
        c = dict(base, id="%040x" % (i + 1), message="change %d" % i,
                 modified=["services/api/handler_%d.go" % i, "charts/app/values.yaml"])
        push["commits"].append(c)
        i += 1
    return json.dumps(push).encode()


def mem_kb(pid, field):
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_seconds(pids):
    """utime + stime of the processes (and their child processes: nginx's
    workers), in seconds."""
    total, hz = 0, os.sysconf("SC_CLK_TCK")
    todo = list(pids)
    while todo:
        pid = todo.pop()
        try:
            f = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
            for t in pathlib.Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (t / "children").read_text().split()]
        except OSError:
            pass
    return total / hz


def wrk(url, body_file, headers, conns, duration, threads=2):
    args = ["wrk", "-t", str(min(threads, conns)), "-c", str(conns), "-d", f"{duration}s",
            "--timeout", "5s", "-s", str(ROOT / "bench" / "post.lua"), url, "--",
            str(body_file), *[f"{k}:{v}" for k, v in headers.items()]]
    out = subprocess.run(args, capture_output=True, text=True, timeout=duration + 60)
    m = re.search(r"^WRK_JSON (.*)$", out.stdout, re.M)
    if not m:
        raise RuntimeError("wrk printed no summary:\n" + out.stdout + out.stderr)
    r = json.loads(m.group(1))
    secs = r["duration_us"] / 1e6
    errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    return {"conns": conns, "rps": r["requests"] / secs, "p50_ms": r["p50_us"] / 1000,
            "p90_ms": r["p90_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
            "max_ms": r["max_us"] / 1000, "requests": r["requests"], "errors": errors,
            "non2xx": r["status"], "socket_errors": errors - r["status"]}


def load1():
    """The 1-minute load average: how busy the machine was (2 cores here)."""
    return pathlib.Path("/proc/loadavg").read_text().split()[0]


def machine():
    model = "?"
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(),
            "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
            .splitlines()[0] if shutil.which("wrk") else "?"}


def plot(rows, png):
    """Latency (p50, p99) against connections, gateway and nginx, with gnuplot."""
    if not shutil.which("gnuplot"):
        return False
    data = png.with_suffix(".dat")
    with open(data, "w") as f:
        for name in ("gateway-github", "nginx"):
            f.write(f"# {name}\n")
            for r in rows:
                if r["target"] == name:
                    f.write(f"{r['conns']} {r['p50_ms']:.3f} {r['p99_ms']:.3f} {r['rps']:.0f}\n")
            f.write("\n\n")
    script = f"""set terminal png size 900,540
set output '{png}'
set title 'hookbus-gateway (signed GitHub push, acks=all) vs static nginx, loopback'
set xlabel 'concurrent connections'
set ylabel 'latency (ms)'
set logscale xy
set xrange [5:400]
set key top left
set grid
plot '{data}' index 0 using 1:2 with linespoints title 'gateway p50', \\
     '{data}' index 0 using 1:3 with linespoints title 'gateway p99', \\
     '{data}' index 1 using 1:2 with linespoints title 'nginx p50', \\
     '{data}' index 1 using 1:3 with linespoints title 'nginx p99'
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    data.unlink()
    return True


def table(rows, notes, broker=True):
    out = ["| target | conns | req/s | p50 ms | p90 ms | p99 ms | errors | server CPU us/req |"
           + (" broker CPU us/event |" if broker else ""),
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if broker else "")]
    for r in rows:
        cpu, bk = r.get("cpu_us_per_req"), r.get("broker_cpu_us_per_event")
        out.append(f"| {r['target']} | {r['conns']} | {r['rps']:.0f} | {r['p50_ms']:.2f} | "
                   f"{r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} | "
                   f"{'%.1f' % cpu if cpu is not None else '-'} |"
                   + (f" {'%.0f' % bk if bk is not None else '-'} |" if broker else ""))
    out.append("")
    out += [f"- {n}" for n in notes]
    return "\n".join(out)


def find(rows, target, conns):
    return next((r for r in rows if r["target"] == target and r["conns"] == conns), None)


def ratio(rows, a, b, conns):
    ra, rb = find(rows, a, conns), find(rows, b, conns)
    return ra["rps"] / rb["rps"] if ra and rb and rb["rps"] else None


def targets(rows, with_nginx, rss=None):
    """Issue 23's targets (and the earlier ones) against the rows: a list of
    (target, measured, met). Reported, never asserted."""
    out = []
    for c in (32, 256):
        g = find(rows, "gateway-github", c)
        if g and g.get("cpu_us_per_req") is not None:
            out.append((f"gateway CPU per signed GitHub push, {c} connections: <= 45 us",
                        f"{g['cpu_us_per_req']:.1f} us", g["cpu_us_per_req"] <= 45))
    for c, limit in ((32, 5), (256, 25)):
        g = find(rows, "gateway-github-cold", c)
        if g:
            out.append((f"p99 from a cold start, {c} connections: <= {limit} ms",
                        f"{g['p99_ms']:.2f} ms", g["p99_ms"] <= limit))
    for c in (32, 256):
        v = ratio(rows, "gateway-github", "gobridge", c)
        if v is not None:
            out.append((f"gateway / Go bridge throughput, {c} connections: >= 2.4 x",
                        f"{v:.2f} x", v >= 2.4))
    if with_nginx:
        for c in (32, 256):
            v = ratio(rows, "gateway-github", "nginx", c)
            if v is not None:
                out.append((f"gateway / nginx `return 202` throughput, {c} connections: >= 0.45",
                            f"{v:.2f}", v >= 0.45))
        g = find(rows, "gateway-github", 32)
        if g:
            out.append(("p99 after a warm-up, 32 connections: <= 10 ms (earlier target)",
                        f"{g['p99_ms']:.2f} ms", g["p99_ms"] <= 10))
    if rss:
        out.append(("gateway peak RSS (VmHWM) over the run: <= 32 MB (earlier target)",
                    f"{rss['vmhwm_kb'] / 1024:.1f} MB", rss["vmhwm_kb"] <= 32 * 1024))
    errs = sum(r["errors"] for r in rows if r["target"].startswith("gateway"))
    out.append(("errors in every gateway run: 0", str(errs), errs == 0))
    return out


def targets_table(tg):
    out = ["| target | measured | |", "| --- | ---: | --- |"]
    out += [f"| {t} | {m} | {'met' if ok else '**missed**'} |" for t, m, ok in tg]
    return "\n".join(out)


def update_readme(text, info, section="gateway-bench"):
    """Replaces the section between <!-- SECTION:begin/end --> of bench/README.md."""
    readme = ROOT / "bench" / "README.md"
    begin, end = f"<!-- {section}:begin -->", f"<!-- {section}:end -->"
    how = (f"{info['duration']} s per point ({info.get('cold_duration', '-')} s from a cold "
           f"start), wrk with 2 threads on the same machine; extra "
           f"kafka.properties: {', '.join(info['kafka_properties']) or 'none'}"
           if "duration" in info else "everything on the same machine")
    load = (f"; load average (1 min) {info['load_start']} at the start, {info['load_end']} at "
            f"the end" if "load_start" in info else "")
    body = (f"{begin}\nMeasured {info['date']} on {info['machine']['nproc']} x "
            f"{info['machine']['cpu']} (Linux {info['machine']['kernel']}), {how}{load}.\n\n"
            f"{text}\n{end}")
    s = readme.read_text() if readme.exists() else ""
    if begin in s and end in s:
        s = s[:s.index(begin)] + body + s[s.index(end) + len(end):]
    else:
        s += "\n" + body + "\n"
    readme.write_text(s)


def gateway_config(brokers, props=(), threads=None, limits=()):
    """The gateway configuration of every bench run, up to its receivers:
    plain HTTP, acks=all (the gateway forces it anyway), room for wrk's
    connections, which all come from 127.0.0.1 (no per-address limit);
    props: extra kafka.properties, limits: extra limits, (key, value) pairs."""
    return "\n".join(
        ["listen: 127.0.0.1:0"] + ([f"threads: {threads}"] if threads else []) +
        ["tls:", "  enabled: false", "kafka:", f"  brokers: {brokers}", "  properties:",
         "    acks: all"] + [f"    {k}: '{v}'" for k, v in props] +
        ["limits:", "  max_connections: 4096", "  max_connections_per_ip: 0"] +
        [f"  {k}: {v}" for k, v in limits] + [""])


def github_receiver(secret):
    return f"receivers:\n  - name: gh\n    type: github\n    secrets: [literal:{secret}]\n"


def github_headers(body):
    """The headers GitHub sends with every delivery (the delivery id names the
    event, as in production; without it the id is the body's hash)."""
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-GitHub-Event": "push", "X-Hub-Signature-256": sig,
            "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            "X-GitHub-Hook-ID": "292430182", "User-Agent": "GitHub-Hookshot/044aadd"}


def check_answers(url, body, headers):
    """A signed push must get 202 and a wrongly signed one 401, or the
    benchmark of that server is meaningless (the Go bridge's smoke check)."""
    import requests
    h = {"Content-Type": "application/json", **headers}
    r = requests.post(url, data=body, headers=h, timeout=30, verify=False)
    assert r.status_code == 202, (url, r.status_code, r.text)
    bad = dict(h, **{"X-Hub-Signature-256": "sha256=" + "0" * 64})
    r = requests.post(url, data=body, headers=bad, timeout=30, verify=False)
    assert r.status_code == 401, (url, r.status_code, r.text)


def measure(name, url, body_file, headers, conns, duration, server_pids, broker_pids=()):
    """One wrk point; CPU of the server (and of the brokers) from /proc over it,
    divided by the requests answered."""
    cpu0 = cpu_seconds(server_pids)
    k0 = cpu_seconds(broker_pids) if broker_pids else None
    r = wrk(url, body_file, headers, conns, duration)
    n = r["requests"]
    r["cpu_us_per_req"] = (cpu_seconds(server_pids) - cpu0) * 1e6 / n if n else None
    if broker_pids:
        r["broker_cpu_us_per_event"] = (cpu_seconds(broker_pids) - k0) * 1e6 / n if n else None
    r["target"] = name
    bk = r.get("broker_cpu_us_per_event")
    print(f"{name:20} c={conns:4} {r['rps']:9.0f} req/s  p50 {r['p50_ms']:7.2f} ms  "
          f"p99 {r['p99_ms']:7.2f} ms  errors {r['errors']}  CPU "
          f"{r['cpu_us_per_req'] or 0:.1f} us/req"
          + (f"  broker {bk:.0f} us/event" if bk is not None else ""), flush=True)
    return r


def cold_start(conftest, tmp, config, body_file, headers, conns, duration, broker_pids):
    """A fresh gateway under load at once: started, /readyz answered 200 (what
    an orchestrator waits for before sending traffic), then wrk with no
    warm-up request. The row's p99 is that of the first `duration` seconds."""
    import requests

    def ready():
        try:
            return requests.get(g.url("/readyz"), timeout=2).status_code == 200
        except requests.RequestException:
            return False

    d = tmp / f"gw-cold-{conns}"
    d.mkdir()
    t0 = time.monotonic()
    g = conftest.Gateway(d, config)
    try:
        conftest.wait_for(ready, timeout=30, what="the fresh gateway's /readyz")
        ready_s = time.monotonic() - t0
        r = measure("gateway-github-cold", g.url("/webhooks/gh"), body_file, headers, conns,
                    duration, [g.proc.pid], broker_pids)
        r["start_to_ready_s"] = ready_s
        return r
    finally:
        g.stop()


def under_perf(args, url, body_file, headers, conns, duration):
    """A wrk run while `perf ARGS` watches; (wrk's result, perf's exit status,
    perf's stderr) once perf was stopped with SIGINT."""
    import signal
    perf = subprocess.Popen(["perf", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        r = wrk(url, body_file, headers, conns, duration)
    finally:
        perf.send_signal(signal.SIGINT)
        err = perf.communicate(timeout=120)[1]
    return r, perf.returncode, err


def profile(pid, url, body_file, headers, conns, duration, tmp):
    """`perf record -g` of pid while wrk runs: the top 15 symbols by self %,
    or None without a working perf."""
    import signal
    if not shutil.which("perf"):
        return None
    data = tmp / "perf.data"
    r, rc, err = under_perf(["record", "-g", "--call-graph", "dwarf,8192", "-F", "999", "-q",
                             "-o", str(data), "-p", str(pid)],
                            url, body_file, headers, conns, duration)
    # perf exits with 130 (or dies of the SIGINT) once it wrote the data.
    if rc not in (0, 130, -signal.SIGINT) or not data.exists():
        print("perf record failed: " + err.strip(), flush=True)
        return None
    rep = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--stdio",
                          "-g", "none", "--sort", "dso,symbol", "--percent-limit", "0.1"],
                         capture_output=True, text=True, timeout=600)
    top = []
    for line in rep.stdout.splitlines():
        m = re.match(r"^\s+([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.+?)(\s+-)*\s*$", line)
        if m:
            top.append({"self_pct": float(m.group(1)), "dso": m.group(2),
                        "kernel": m.group(3) == "k", "symbol": m.group(4)})
    rep = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--stdio",
                          "-g", "none", "--sort", "dso", "--percent-limit", "1"],
                         capture_output=True, text=True, timeout=600)
    dsos = [{"self_pct": float(m.group(1)), "dso": m.group(2)}
            for m in (re.match(r"^\s+([\d.]+)%\s+(\S+)\s*$", ln) for ln in rep.stdout.splitlines())
            if m]
    callers, inclusive = stacks(data, [t["symbol"] for t in top if not t["kernel"]][:3])
    return {"rps": r["rps"], "conns": conns, "duration": duration, "top": top[:15],
            "by_object": dsos, "callers": callers, "gateway_inclusive": inclusive}


SYSCALLS = ("recvfrom", "sendmsg", "writev", "write", "epoll_ctl", "epoll_wait", "futex",
            "poll")


def syscall_counts(pid, url, body_file, headers, conns, duration):
    """`perf stat` of pid while wrk runs: context switches and the request
    path's system calls, per request answered (robust where CPU time is not:
    they do not move with what else runs on the machine). None without perf."""
    if not shutil.which("perf"):
        return None
    events = ["context-switches"] + [f"syscalls:sys_enter_{s}" for s in SYSCALLS]
    r, _, err = under_perf(["stat", "-x", ",", "-e", ",".join(events), "-p", str(pid)],
                           url, body_file, headers, conns, duration)
    counts = {}
    for line in err.splitlines():
        f = line.split(",")
        if len(f) > 2 and f[0].strip().isdigit() and r["requests"]:
            counts[f[2].replace("syscalls:sys_enter_", "")] = int(f[0]) / r["requests"]
    return {"conns": conns, "rps": r["rps"], "per_request": counts} if counts else None


def stacks(data, leaves):
    """From `perf script` (DWARF call chains): for each symbol in leaves, the
    nearest named function outside libc on the stack when it ran, by share of its
    samples (libc's strcmp or malloc say little alone); and the gateway's
    functions by inclusive share of all samples (a sample counts once per
    function on its stack)."""
    out = subprocess.run(["perf", "script", "-i", str(data), "-F", "comm,ip,sym,dso"],
                         capture_output=True, text=True, timeout=600).stdout
    total, near, incl = 0, {s: {} for s in leaves}, {}
    for sample in out.split("\n\n"):
        frames = []
        for ln in sample.splitlines()[1:]:
            m = re.match(r"^\s*[0-9a-f]+ (.+) \((.*)\)\s*$", ln)
            if m:
                frames.append((m.group(1), m.group(2).rsplit("/", 1)[-1]))
        if not frames:
            continue
        # An inlined frame: the object of the frame below it (its caller),
        # but glibc's internal aliases (__GI_*) are libc's.
        dso = "?"
        for i in range(len(frames) - 1, -1, -1):
            if frames[i][1] == "inlined":
                frames[i] = (frames[i][0],
                             "libc.so.6" if frames[i][0].startswith("__GI_") else dso)
            else:
                dso = frames[i][1]
        total += 1
        own = [f for f, dso in frames if dso == "hookbus-gateway"]
        for f in set(own):
            incl[f] = incl.get(f, 0) + 1
        if frames[0][0] in near:
            caller = next((f if dso == "hookbus-gateway" else
                           f"{'?' if f.startswith('[unknown]') else f} ({dso})"
                           for f, dso in frames[1:] if not dso.startswith("libc.")
                           and dso != "[unknown]" and f != frames[0][0]), "?")
            d = near[frames[0][0]]
            d[caller] = d.get(caller, 0) + 1
    callers = {}
    for sym, d in near.items():
        n = sum(d.values()) or 1
        callers[sym] = [(v * 100 / n, f) for f, v in sorted(d.items(), key=lambda kv: -kv[1])][:4]
    inclusive = [(v * 100 / (total or 1), f)
                 for f, v in sorted(incl.items(), key=lambda kv: -kv[1])][:12]
    return callers, inclusive


def profile_text(p):
    out = [f"`perf record -g -p <gateway>` over a {p['duration']} s wrk run at "
           f"{p['conns']} connections ({p['rps']:.0f} req/s under perf); top 15 symbols by "
           f"self time (`perf report --no-children --sort dso,symbol`):", "",
           "| self % | symbol | object |", "| ---: | --- | --- |"]
    for t in p["top"]:
        sym = t["symbol"].replace("|", "\\|")
        out.append(f"| {t['self_pct']:.2f} | `{sym}` | {t['dso']} |")
    out += ["", "By object: " + ", ".join(f"{d['dso']} {d['self_pct']:.1f} %"
                                         for d in p.get("by_object", []))]
    for sym, names in p.get("callers", {}).items():
        if names:
            out.append(f"- `{sym}`: nearest caller outside libc: " +
                       ", ".join(f"`{n}` {v:.0f} %" for v, n in names))
    if p.get("gateway_inclusive"):
        out += ["", "Gateway functions by inclusive share of the samples: " +
                ", ".join(f"`{n}` {v:.1f} %" for v, n in p["gateway_inclusive"])]
    sc = p.get("syscalls")
    if sc:
        out += ["", f"Per request at {sc['conns']} connections (`perf stat -p <gateway>`, another "
                f"run, {sc['rps']:.0f} req/s): " +
                ", ".join(f"{k} {v:.2f}" for k, v in sc["per_request"].items())]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin_dir")
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--cold-duration", type=int, default=3,
                    help="seconds of each cold-start point (a fresh gateway, no warm-up)")
    ap.add_argument("--conns", default="8,32,64,256")
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument("--prop", action="append", default=[],
                    help="an extra kafka.properties entry KEY=VALUE (e.g. linger.ms=1)")
    ap.add_argument("--kafka", choices=("mock", "real3"), default="mock")
    ap.add_argument("--peers", default=str(ROOT / "build" / "bench-peers"),
                    help="where `make bench-peers` put gobridge")
    ap.add_argument("--perf", action="store_true",
                    help="also record a perf profile of the gateway at 256 connections")
    ap.add_argument("--smoke", action="store_true",
                    help="no load: check that each server answers (make bench-smoke)")
    a = ap.parse_args()
    if a.smoke:
        return main_smoke(a)
    if a.kafka == "real3":
        return main_real3(a)
    os.environ["HOOKBUS_BIN_DIR"] = str(pathlib.Path(a.bin_dir).resolve())
    import conftest  # noqa: E402  (reads HOOKBUS_BIN_DIR)
    import requests

    conns = [int(c) for c in a.conns.split(",")]
    pair = [c for c in conns if c in (32, 256)] or conns
    RESULTS.mkdir(parents=True, exist_ok=True)
    load_start = load1()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="hookbus-bench-"))
    kafka = gw = gw_tls = nginx = bridge = None
    try:
        kafka = conftest.MockKafka()
        broker = [kafka.proc.pid]
        config = (gateway_config(kafka.bootstrap, [p.split("=", 1) for p in a.prop]) +
                  github_receiver(SECRET) +
                  f"  - name: hub\n    type: dockerhub\n    secrets: [literal:{HUB_SECRET}]\n")
        gh = tmp / "github.json"
        gh.write_bytes(github_body())
        gh_headers = github_headers(gh.read_bytes())
        hub = tmp / "hub.json"
        hub.write_bytes((ROOT / "tests/fixtures/dockerhub/push.json").read_bytes())
        key = hashlib.sha256(("hub" + HUB_SECRET).encode()).hexdigest()
        rows = []
        (tmp / "gw").mkdir()
        gw = conftest.Gateway(tmp / "gw", config)
        time.sleep(0.5)  # let the producer connect before the idle reading
        idle_kb = mem_kb(gw.proc.pid, "VmRSS")
        # A sanity request of each before measuring: 202 or the bench is meaningless.
        check_answers(gw.url("/webhooks/gh"), gh.read_bytes(), gh_headers)
        r = requests.post(gw.url(f"/webhooks/hub/{key}"), data=hub.read_bytes(), timeout=10,
                          headers={"Content-Type": "application/json"})
        assert r.status_code == 202, ("dockerhub", r.status_code, r.text)
        # The same gateway configuration over TLS (self-signed certificate).
        (tmp / "gw-tls").mkdir()
        gw_tls = conftest.Gateway(tmp / "gw-tls", config.replace("enabled: false", "enabled: true"))
        nport, nport_tls = free_port(), free_port()
        nginx = baselines.start_nginx(tmp, nport, nport_tls)
        bridge = baselines.GoBridge(pathlib.Path(a.peers) / "gobridge", kafka.bootstrap, SECRET,
                                    tmp / "gobridge.log")
        check_answers(bridge.url("/webhooks/gh"), gh.read_bytes(), gh_headers)
        G, T, N = [gw.proc.pid], [gw_tls.proc.pid], [nginx.pid]
        targets_ = [("gateway-github", gw.url("/webhooks/gh"), gh, gh_headers, conns, G, broker),
                    ("gateway-dockerhub", gw.url(f"/webhooks/hub/{key}"), hub, {}, pair, G,
                     broker),
                    ("gateway-github-tls", gw_tls.url("/webhooks/gh"), gh, gh_headers, pair, T,
                     broker),
                    ("gobridge", bridge.url("/webhooks/gh"), gh, gh_headers, pair,
                     [bridge.proc.pid], broker),
                    ("nginx", f"http://127.0.0.1:{nport}/webhooks/gh", gh, gh_headers, conns, N,
                     ()),
                    ("nginx-tls", f"https://127.0.0.1:{nport_tls}/webhooks/gh", gh, gh_headers,
                     pair, N, ())]
        for c in conns:
            for name, url, body, h, cs, pids, bk in targets_:
                if c in cs:
                    rows.append(measure(name, url, body, h, c, a.duration, pids, bk))
        rss = {"idle_kb": idle_kb, "vmhwm_kb": mem_kb(gw.proc.pid, "VmHWM"),
               "vmrss_end_kb": mem_kb(gw.proc.pid, "VmRSS")}
        # From a cold start: each on its own fresh gateway (the same running broker).
        for c in pair:
            rows.append(cold_start(conftest, tmp, config, gh, gh_headers, c, a.cold_duration,
                                   broker))
        prof = (profile(gw.proc.pid, gw.url("/webhooks/gh"), gh, gh_headers, 256, a.duration,
                        tmp) if a.perf else None)
        if prof:
            prof["syscalls"] = syscall_counts(gw.proc.pid, gw.url("/webhooks/gh"), gh, gh_headers,
                                              256, a.duration)
        ratios = {}
        for name, a_, b in (("nginx", "gateway-github", "nginx"),
                            ("nginx_tls", "gateway-github-tls", "nginx-tls"),
                            ("gobridge", "gateway-github", "gobridge")):
            ratios[name] = {str(c): ratio(rows, a_, b, c) for c in conns
                            if ratio(rows, a_, b, c) is not None}
        tg = targets(rows, True, rss)
        info = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "load_start": load_start, "load_end": load1(),
                "machine": machine(), "duration": a.duration, "cold_duration": a.cold_duration,
                "github_body_bytes": gh.stat().st_size, "dockerhub_body_bytes": hub.stat().st_size,
                "kafka": "mock-kafka (librdkafka mock cluster), acks=all",
                "kafka_properties": a.prop, "rows": rows, "ratios": ratios,
                "gateway_memory": rss, "profile_256": prof,
                "targets": [{"target": t, "measured": m, "met": ok} for t, m, ok in tg]}
        out = RESULTS / ("gateway-props.json" if a.prop else "gateway.json")
        out.write_text(json.dumps(info, indent=2) + "\n")
        notes = [f"gateway (GitHub push, {gh.stat().st_size} bytes) / {n} throughput at {c} "
                 f"connections: **{v * 100:.0f} %**"
                 for key_, n in (("nginx", "nginx"), ("nginx_tls", "nginx over TLS"),
                                 ("gobridge", "Go bridge"))
                 for c, v in sorted(ratios[key_].items(), key=lambda kv: int(kv[0]))]
        notes.append(f"gateway peak RSS (VmHWM) over the whole run: **{rss['vmhwm_kb'] / 1024:.1f}"
                     f" MB** (idle after start: {rss['idle_kb'] / 1024:.1f} MB)")
        notes += [f"cold start at {r['conns']} connections: process start to /readyz 200 in "
                  f"{r['start_to_ready_s']:.2f} s, then wrk at once"
                  for r in rows if r["target"] == "gateway-github-cold"]
        text = table(rows, notes) + "\n\nTargets (issue 23; reported, never asserted):\n\n" + \
            targets_table(tg)
        print()
        print(text)
        png = RESULTS / ("latency-props.png" if a.prop else "latency.png")
        if plot(rows, png):
            print(f"plot: {png.relative_to(ROOT)}")
        if prof:
            ptext = profile_text(prof)
            print()
            print(ptext)
        if not a.no_readme:
            update_readme(text, info)
            if prof:
                update_readme(ptext, info, "gateway-profile")
    finally:
        for p in (nginx,):
            if p:
                p.terminate()
                p.wait(10)
        for g in (gw, gw_tls, bridge):
            if g:
                g.stop()
        if kafka:
            kafka.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main_smoke(a):
    """The bench's pieces work, in seconds and without load: the gateway and
    the Go bridge answer a signed push 202 and a wrongly signed one 401, nginx
    answers 202, and wrk with post.lua reports its summary line."""
    os.environ["HOOKBUS_BIN_DIR"] = str(pathlib.Path(a.bin_dir).resolve())
    import conftest  # noqa: E402
    import requests

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="hookbus-bench-smoke-"))
    kafka = gw = nginx = bridge = None
    try:
        kafka = conftest.MockKafka()
        gh = tmp / "github.json"
        gh.write_bytes(github_body())
        headers = github_headers(gh.read_bytes())
        (tmp / "gw").mkdir()
        gw = conftest.Gateway(tmp / "gw", f"""listen: 127.0.0.1:0
tls:
  enabled: false
kafka:
  brokers: {kafka.bootstrap}
receivers:
  - name: gh
    type: github
    secrets: [literal:{SECRET}]
""")
        check_answers(gw.url("/webhooks/gh"), gh.read_bytes(), headers)
        bridge = baselines.GoBridge(pathlib.Path(a.peers) / "gobridge", kafka.bootstrap, SECRET,
                                    tmp / "gobridge.log")
        check_answers(bridge.url("/webhooks/gh"), gh.read_bytes(), headers)
        nport = free_port()
        nginx = baselines.start_nginx(tmp, nport, free_port())
        r = requests.post(f"http://127.0.0.1:{nport}/webhooks/gh", data=gh.read_bytes(), timeout=10)
        assert r.status_code == 202, ("nginx", r.status_code, r.text)
        w = wrk(bridge.url("/webhooks/gh"), gh, headers, 2, 1)
        assert w["requests"] > 0 and w["errors"] == 0, w
        # Every 202 is an event in Kafka (the gateway's check one more).
        events = kafka_events(kafka.bootstrap, "hookbus.git")
        assert events >= 2 + w["requests"], (events, w["requests"])
        print(f"bench smoke: gateway and gobridge 202/401, nginx 202, wrk {w['requests']} "
              f"pushes through gobridge, {events} events in hookbus.git: ok")
    finally:
        if nginx:
            nginx.terminate()
            nginx.wait(10)
        for g in (gw, bridge):
            if g:
                g.stop()
        if kafka:
            kafka.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def kafka_events(bootstrap, topic):
    """Messages in topic: the sum of its partitions' high watermarks."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-count"})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                   for p in parts)
    finally:
        c.close()


def main_real3(a):
    """The gateway against a 3-node Apache Kafka (acks=all, RF 3, min.insync 2),
    warm and from a cold start, and the Go bridge on the same cluster."""
    os.environ["HOOKBUS_BIN_DIR"] = str(pathlib.Path(a.bin_dir).resolve())
    import conftest  # noqa: E402

    conns = [int(c) for c in a.conns.split(",")]
    pair = [c for c in conns if c in (32, 256)] or conns
    RESULTS.mkdir(parents=True, exist_ok=True)
    load_start = load1()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="hookbus-bench-real3-"))
    kafka = gw = bridge = None
    try:
        kafka = conftest.RealKafka(nodes=3)
        print(f"3-node Kafka ready in {kafka.startup_seconds:.1f} s", flush=True)
        config = gateway_config(kafka.bootstrap) + github_receiver(SECRET)
        gh = tmp / "github.json"
        gh.write_bytes(github_body())
        headers = github_headers(gh.read_bytes())
        brokers = kafka.node_pids()
        assert len(brokers) == 3, brokers
        rows = []
        (tmp / "gw").mkdir()
        gw = conftest.Gateway(tmp / "gw", config)
        check_answers(gw.url("/webhooks/gh"), gh.read_bytes(), headers)
        bridge = baselines.GoBridge(pathlib.Path(a.peers) / "gobridge", kafka.bootstrap, SECRET,
                                    tmp / "gobridge.log")
        check_answers(bridge.url("/webhooks/gh"), gh.read_bytes(), headers)
        # The brokers' JVMs start cold (-XX:TieredStopAtLevel=1 aside): an
        # unmeasured run first, so that the first point is not their warm-up.
        warm = wrk(gw.url("/webhooks/gh"), gh, headers, 32, 3)
        accepted = 2 + warm["requests"] - warm["non2xx"]  # with the two checks' 202s
        for c in conns:
            rows.append(measure("gateway-github", gw.url("/webhooks/gh"), gh, headers, c,
                                a.duration, [gw.proc.pid], brokers))
            if c in pair:
                rows.append(measure("gobridge", bridge.url("/webhooks/gh"), gh, headers, c,
                                    a.duration, [bridge.proc.pid], brokers))
        # From a cold start: a fresh gateway each, on the running (warm) cluster.
        for c in pair:
            rows.append(cold_start(conftest, tmp, config, gh, headers, c, a.cold_duration,
                                   brokers))
        accepted += sum(r["requests"] - r["non2xx"] for r in rows)
        in_kafka = kafka_events(kafka.bootstrap, "hookbus.git")
        tg = targets(rows, False)
        info = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "load_start": load_start, "load_end": load1(),
                "machine": machine(), "duration": a.duration, "cold_duration": a.cold_duration,
                "kafka_properties": [],
                "kafka": "Apache Kafka 4.1.1, 3 KRaft nodes (tests/tools/kafka-cluster), "
                         "replication factor 3, min.insync.replicas 2, acks=all",
                "kafka_startup_seconds": kafka.startup_seconds, "rows": rows,
                "answered_2xx": accepted, "events_in_kafka": in_kafka,
                "gateway_vmhwm_kb": mem_kb(gw.proc.pid, "VmHWM"),
                "targets": [{"target": t, "measured": m, "met": ok} for t, m, ok in tg]}
        (RESULTS / "gateway-real3.json").write_text(json.dumps(info, indent=2) + "\n")
        notes = [f"gateway / Go bridge throughput at {c} connections: **{v * 100:.0f} %**"
                 for c in pair for v in [ratio(rows, "gateway-github", "gobridge", c)] if v]
        notes += [f"cold start at {r['conns']} connections: process start to /readyz 200 in "
                  f"{r['start_to_ready_s']:.2f} s, then wrk at once"
                  for r in rows if r["target"] == "gateway-github-cold"]
        notes.append(f"{accepted} pushes answered 2xx (gateways and Go bridge), {in_kafka} events "
                     f"in `hookbus.git` (the requests still in flight when wrk stops, up to one "
                     f"per connection, are published but not counted)")
        notes.append(f"cluster startup (3 nodes, to the first acks=all produce): "
                     f"{kafka.startup_seconds:.1f} s")
        text = (table(rows, notes).replace("broker CPU us/event", "brokers' CPU us/event (3 JVMs)")
                + "\n\nTargets (issue 23; reported, never asserted):\n\n" + targets_table(tg))
        print()
        print(text)
        if not a.no_readme:
            update_readme(text, info, "gateway-bench-real3")
    finally:
        for g in (gw, bridge):
            if g:
                g.stop()
        if kafka:
            kafka.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
