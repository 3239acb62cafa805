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


def start_nginx(tmp, port, tls_port):
    """nginx `return 202` on port, and the same over TLS on tls_port with a
    self-signed P-256 certificate (as the gateway's generated one)."""
    d = tmp / "nginx"
    for sub in ("logs", "tmp"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=localhost", "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
                   check=True, capture_output=True)
    conf = d / "nginx.conf"
    conf.write_text(f"""daemon off;
worker_processes auto;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/tmp/body;
  proxy_temp_path {d}/tmp/proxy;
  fastcgi_temp_path {d}/tmp/fastcgi;
  uwsgi_temp_path {d}/tmp/uwsgi;
  scgi_temp_path {d}/tmp/scgi;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port};
    location / {{ default_type application/json; return 202 '{{"accepted":1}}'; }}
  }}
  server {{
    listen 127.0.0.1:{tls_port} ssl;
    ssl_certificate {d}/cert.pem;
    ssl_certificate_key {d}/key.pem;
    location / {{ default_type application/json; return 202 '{{"accepted":1}}'; }}
  }}
}}
""")
    p = subprocess.Popen(["nginx", "-p", str(d), "-c", str(conf), "-e", str(d / "logs/error.log")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            socket.create_connection(("127.0.0.1", tls_port), 0.2).close()
            return p
        except OSError:
            time.sleep(0.05)
    p.terminate()
    raise RuntimeError("nginx did not start: " + (d / "logs/error.log").read_text())


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


def table(rows, ratios, ratios_tls, rss):
    out = ["| target | conns | req/s | p50 ms | p90 ms | p99 ms | errors | server CPU us/req |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        cpu = r.get("cpu_us_per_req")
        out.append(f"| {r['target']} | {r['conns']} | {r['rps']:.0f} | {r['p50_ms']:.2f} | "
                   f"{r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} | "
                   f"{'%.1f' % cpu if cpu is not None else '-'} |")
    out.append("")
    for c, v in sorted(ratios.items(), key=lambda kv: int(kv[0])):
        out.append(f"- gateway (GitHub push) / nginx throughput at {c} connections: "
                   f"**{v * 100:.0f} %**")
    for c, v in sorted(ratios_tls.items(), key=lambda kv: int(kv[0])):
        out.append(f"- over TLS, gateway / nginx throughput at {c} connections: "
                   f"**{v * 100:.0f} %**")
    out.append(f"- gateway peak RSS (VmHWM) over the whole run: **{rss['vmhwm_kb'] / 1024:.1f} MB** "
               f"(idle after start: {rss['idle_kb'] / 1024:.1f} MB)")
    return "\n".join(out)


def update_readme(text, info, section="gateway-bench"):
    """Replaces the section between <!-- SECTION:begin/end --> of bench/README.md."""
    readme = ROOT / "bench" / "README.md"
    begin, end = f"<!-- {section}:begin -->", f"<!-- {section}:end -->"
    how = (f"{info['duration']} s per point, wrk with 2 threads on the same machine; extra "
           f"kafka.properties: {', '.join(info['kafka_properties']) or 'none'}"
           if "duration" in info else "everything on the same machine")
    body = (f"{begin}\nMeasured {info['date']} on {info['machine']['nproc']} x "
            f"{info['machine']['cpu']} (Linux {info['machine']['kernel']}), {how}.\n\n"
            f"{text}\n{end}")
    s = readme.read_text() if readme.exists() else ""
    if begin in s and end in s:
        s = s[:s.index(begin)] + body + s[s.index(end) + len(end):]
    else:
        s += "\n" + body + "\n"
    readme.write_text(s)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin_dir")
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--conns", default="8,32,64,256")
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument("--prop", action="append", default=[],
                    help="an extra kafka.properties entry KEY=VALUE (e.g. linger.ms=1)")
    ap.add_argument("--kafka", choices=("mock", "real3"), default="mock")
    a = ap.parse_args()
    if a.kafka == "real3":
        return main_real3(a)
    os.environ["HOOKBUS_BIN_DIR"] = str(pathlib.Path(a.bin_dir).resolve())
    import conftest  # noqa: E402  (reads HOOKBUS_BIN_DIR)

    conns = [int(c) for c in a.conns.split(",")]
    RESULTS.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="hookbus-bench-"))
    kafka = gw = gw_tls = nginx = None
    try:
        kafka = conftest.MockKafka()
        config = f"""listen: 127.0.0.1:0
tls:
  enabled: false
kafka:
  brokers: {kafka.bootstrap}
  properties:
    acks: all
{{props}}limits:
  max_connections: 4096
receivers:
  - name: gh
    type: github
    secrets: [literal:{SECRET}]
  - name: hub
    type: dockerhub
    secrets: [literal:{HUB_SECRET}]
""".replace("{props}", "".join(f"    {p.split('=', 1)[0]}: '{p.split('=', 1)[1]}'\n"
                                      for p in a.prop))
        (tmp / "gw").mkdir()
        gw = conftest.Gateway(tmp / "gw", config)
        time.sleep(0.5)  # let the producer connect before the idle reading
        idle_kb = mem_kb(gw.proc.pid, "VmRSS")
        gh = tmp / "github.json"
        gh.write_bytes(github_body())
        hub = tmp / "hub.json"
        hub.write_bytes((ROOT / "tests/fixtures/dockerhub/push.json").read_bytes())
        sig = "sha256=" + hmac.new(SECRET.encode(), gh.read_bytes(), hashlib.sha256).hexdigest()
        key = hashlib.sha256(("hub" + HUB_SECRET).encode()).hexdigest()
        # The headers GitHub sends with every delivery (the delivery id names
        # the event, as in production; without it the id is the body's hash).
        gh_headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": sig,
                      "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
                      "X-GitHub-Hook-ID": "292430182", "User-Agent": "GitHub-Hookshot/044aadd"}
        # A sanity request of each before measuring: 202 or the bench is meaningless.
        import requests
        for path, body, h in ((f"/webhooks/gh", gh.read_bytes(), gh_headers),
                              (f"/webhooks/hub/{key}", hub.read_bytes(), {})):
            r = requests.post(gw.url(path), data=body, timeout=10,
                              headers={"Content-Type": "application/json", **h})
            assert r.status_code == 202, (path, r.status_code, r.text)
        # The same gateway configuration over TLS (self-signed certificate).
        (tmp / "gw-tls").mkdir()
        gw_tls = conftest.Gateway(tmp / "gw-tls", config.replace("enabled: false", "enabled: true"))
        nport, nport_tls = free_port(), free_port()
        nginx = start_nginx(tmp, nport, nport_tls)
        targets = [("gateway-github", gw.url("/webhooks/gh"), gh, gh_headers, conns),
                   ("gateway-dockerhub", gw.url(f"/webhooks/hub/{key}"), hub, {},
                    [c for c in conns if c in (32, 256)] or conns),
                   ("gateway-github-tls", gw_tls.url("/webhooks/gh"), gh, gh_headers,
                    [c for c in conns if c in (32, 256)] or conns),
                   ("nginx", f"http://127.0.0.1:{nport}/webhooks/gh", gh, gh_headers, conns),
                   ("nginx-tls", f"https://127.0.0.1:{nport_tls}/webhooks/gh", gh, gh_headers,
                    [c for c in conns if c in (32, 256)] or conns)]
        rows = []
        for c in conns:
            for name, url, body, h, cs in targets:
                if c not in cs:
                    continue
                pid = {"gateway-github": gw, "gateway-dockerhub": gw,
                       "gateway-github-tls": gw_tls}.get(name)
                pid = pid.proc.pid if pid else nginx.pid
                cpu0 = cpu_seconds([pid])
                r = wrk(url, body, h, c, a.duration)
                r["cpu_us_per_req"] = ((cpu_seconds([pid]) - cpu0) * 1e6 / r["requests"]
                                       if r["requests"] else None)
                r["target"] = name
                rows.append(r)
                print(f"{name:18} c={c:4} {r['rps']:9.0f} req/s  p50 {r['p50_ms']:7.2f} ms  "
                      f"p99 {r['p99_ms']:7.2f} ms  errors {r['errors']}", flush=True)
        rss = {"idle_kb": idle_kb, "vmhwm_kb": mem_kb(gw.proc.pid, "VmHWM"),
               "vmrss_end_kb": mem_kb(gw.proc.pid, "VmRSS")}
        ratios, ratios_tls = {}, {}
        for c in conns:
            for gname, nname, out in (("gateway-github", "nginx", ratios),
                                      ("gateway-github-tls", "nginx-tls", ratios_tls)):
                g = [r for r in rows if r["target"] == gname and r["conns"] == c]
                n = [r for r in rows if r["target"] == nname and r["conns"] == c]
                if g and n and n[0]["rps"]:
                    out[str(c)] = g[0]["rps"] / n[0]["rps"]
        info = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "machine": machine(), "duration": a.duration,
                "github_body_bytes": gh.stat().st_size, "dockerhub_body_bytes": hub.stat().st_size,
                "kafka": "mock-kafka (librdkafka mock cluster), acks=all",
                "kafka_properties": a.prop, "rows": rows,
                "ratio_gateway_to_nginx": ratios, "ratio_gateway_tls_to_nginx_tls": ratios_tls,
                "gateway_memory": rss,
                "targets": {"ratio_256_min": 0.40, "p99_32_max_ms": 10, "rss_max_mb": 32}}
        out = RESULTS / ("gateway-props.json" if a.prop else "gateway.json")
        out.write_text(json.dumps(info, indent=2) + "\n")
        text = table(rows, ratios, ratios_tls, rss)
        print()
        print(text)
        png = RESULTS / ("latency-props.png" if a.prop else "latency.png")
        if plot(rows, png):
            print(f"plot: {png.relative_to(ROOT)}")
        if not a.no_readme:
            update_readme(text, info)
    finally:
        if nginx:
            nginx.terminate()
            nginx.wait(10)
        for g in (gw, gw_tls):
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
    """The gateway against a 3-node Apache Kafka (acks=all, RF 3, min.insync 2)."""
    os.environ["HOOKBUS_BIN_DIR"] = str(pathlib.Path(a.bin_dir).resolve())
    import conftest  # noqa: E402
    import requests

    conns = [int(c) for c in a.conns.split(",")]
    RESULTS.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="hookbus-bench-real3-"))
    kafka = gw = None
    try:
        kafka = conftest.RealKafka(nodes=3)
        print(f"3-node Kafka ready in {kafka.startup_seconds:.1f} s", flush=True)
        (tmp / "gw").mkdir()
        gw = conftest.Gateway(tmp / "gw", f"""listen: 127.0.0.1:0
tls:
  enabled: false
kafka:
  brokers: {kafka.bootstrap}
limits:
  max_connections: 4096
receivers:
  - name: gh
    type: github
    secrets: [literal:{SECRET}]
""")
        gh = tmp / "github.json"
        gh.write_bytes(github_body())
        sig = "sha256=" + hmac.new(SECRET.encode(), gh.read_bytes(), hashlib.sha256).hexdigest()
        headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": sig,
                   "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
                   "User-Agent": "GitHub-Hookshot/044aadd"}
        r = requests.post(gw.url("/webhooks/gh"), data=gh.read_bytes(), timeout=30,
                          headers={"Content-Type": "application/json", **headers})
        assert r.status_code == 202, (r.status_code, r.text)
        brokers = kafka.node_pids()
        assert len(brokers) == 3, brokers
        rows, accepted = [], 1
        for c in conns:
            cpu_gw0, cpu_k0 = cpu_seconds([gw.proc.pid]), cpu_seconds(brokers)
            r = wrk(gw.url("/webhooks/gh"), gh, headers, c, a.duration)
            n = r["requests"] or 1
            r["cpu_us_per_req"] = (cpu_seconds([gw.proc.pid]) - cpu_gw0) * 1e6 / n
            r["broker_cpu_us_per_event"] = (cpu_seconds(brokers) - cpu_k0) * 1e6 / n
            r["target"] = "gateway-github (3-node Kafka)"
            accepted += r["requests"] - r["non2xx"]
            rows.append(r)
            print(f"c={c:4} {r['rps']:9.0f} req/s  p50 {r['p50_ms']:7.2f} ms  "
                  f"p99 {r['p99_ms']:7.2f} ms  errors {r['errors']}  broker CPU "
                  f"{r['broker_cpu_us_per_event']:.0f} us/event", flush=True)
        in_kafka = kafka_events(kafka.bootstrap, "hookbus.git")
        info = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "machine": machine(), "duration": a.duration, "kafka_properties": [],
                "kafka": "Apache Kafka 4.1.1, 3 KRaft nodes (tests/tools/kafka-cluster), "
                         "replication factor 3, min.insync.replicas 2, acks=all",
                "kafka_startup_seconds": kafka.startup_seconds, "rows": rows,
                "answered_2xx": accepted, "events_in_kafka": in_kafka,
                "gateway_vmhwm_kb": mem_kb(gw.proc.pid, "VmHWM")}
        (RESULTS / "gateway-real3.json").write_text(json.dumps(info, indent=2) + "\n")
        out = ["| conns | req/s | p50 ms | p90 ms | p99 ms | errors | gateway CPU us/req | "
               "brokers' CPU us/event (3 JVMs) |",
               "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in rows:
            out.append(f"| {r['conns']} | {r['rps']:.0f} | {r['p50_ms']:.2f} | "
                       f"{r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} | "
                       f"{r['cpu_us_per_req']:.1f} | {r['broker_cpu_us_per_event']:.0f} |")
        out.append("")
        out.append(f"- {accepted} pushes answered 2xx, {in_kafka} events in `hookbus.git` "
                   f"(the requests still in flight when wrk stops, up to one per connection, are published but not counted)")
        out.append(f"- cluster startup (3 nodes, to the first acks=all produce): "
                   f"{kafka.startup_seconds:.1f} s")
        text = "\n".join(out)
        print()
        print(text)
        if not a.no_readme:
            update_readme(text, info, "gateway-bench-real3")
    finally:
        if gw:
            gw.stop()
        if kafka:
            kafka.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
