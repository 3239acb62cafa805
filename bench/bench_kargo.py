#!/usr/bin/python3
"""End-to-end latency, coalescing and memory of hookbus-kargo.

webhook POST -> gateway -> Kafka (mock-kafka) -> hookbus-kargo -> refresh
annotation PATCHed on a Warehouse of tests/tools/fake-kube (the fake
Kubernetes API), observed by a watch on the fake API server.

1. Latency: N signed GitHub pushes, one at a time at a steady rate, debounce 0;
   each latency is from the POST to the MODIFIED watch event of its refresh.
2. Coalescing: N pushes for one repository as fast as 16 senders go, inside a
   5 s debounce window; the number of refresh PATCHes (ideal: 1).
3. Memory: hookbus-kargo's VmRSS idle and VmHWM after the load.
Prints a table, writes bench/results/kargo.json and the table into
bench/README.md. Loopback only; every loop is bounded.

With --kafka real3 Kafka is a 3-node Apache Kafka cluster
(tests/tools/kafka-cluster: replication factor 3, min.insync.replicas 2; the
gateway produces with acks=all) and the brokers' CPU per event is read from
/proc/<pid>/stat of their JVMs; results in kargo-real3.json and their own
section of bench/README.md.

Usage: bench/bench_kargo.py BIN_DIR [--count 1000] [--rate 50] [--kafka mock|real3]
"""
import argparse
import concurrent.futures
import json
import os
import pathlib
import shutil
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(ROOT / "bench"))
RESULTS = ROOT / "bench" / "results"


class _Config:
    """Stands in for Kargo's config path: rewrites the consumer settings the
    test class fixes (group, kafka.properties) as the file is written."""

    def __init__(self, path, group, props):
        self.path, self.group, self.props = path, group, props

    def write_text(self, text):
        text = text.replace("group: e2e-kargo", f"group: {self.group}")
        text = text.replace("properties: {auto.offset.reset: earliest}",
                            "properties: {" + ", ".join(f"{k}: '{v}'" for k, v in
                                                        self.props.items()) + "}")
        return self.path.write_text(text)

    def __fspath__(self):
        return str(self.path)

    def __str__(self):
        return str(self.path)


def start_kargo(tk, tmp, brokers, kc, debounce, group, props):
    class BenchKargo(tk.Kargo):
        def __setattr__(self, name, value):
            if name == "config_path":
                value = _Config(value, group, props)
            super().__setattr__(name, value)
    tmp.mkdir()
    return BenchKargo(tmp, brokers, kc, debounce=debounce)


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))] if s else float("nan")


class Watch(threading.Thread):
    """Counts MODIFIED events of the Warehouses from a watch on the fake API."""

    def __init__(self, kube, token):
        super().__init__(daemon=True)
        import requests
        self.kube, self.token, self.requests = kube, token, requests
        self.times = []
        self.cond = threading.Condition()
        self.stop_flag = False

    def run(self):
        try:
            self.watch()
        except Exception:  # the fake API server stops at the end
            pass

    def watch(self):
        rv = self.kube.get("/_fake/stats")["resourceVersion"]
        url = (self.kube.url + "/apis/kargo.akuity.io/v1alpha1/warehouses?watch=true"
               f"&resourceVersion={rv}&timeoutSeconds=600")
        with self.requests.get(url, stream=True, timeout=(5, 600),
                               headers={"Authorization": "Bearer " + self.token}) as r:
            for line in r.iter_lines():
                if self.stop_flag:
                    return
                if not line:
                    continue
                ev = json.loads(line)
                if ev.get("type") == "MODIFIED":
                    with self.cond:
                        self.times.append(time.monotonic())
                        self.cond.notify_all()

    def wait_count(self, n, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.times) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.times[n - 1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin_dir")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=50.0, help="webhooks per second (latency)")
    ap.add_argument("--fetch-wait-ms", type=int, default=None,
                    help="the consumer's fetch.wait.max.ms (see below)")
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument("--kafka", choices=("mock", "real3"), default="mock")
    a = ap.parse_args()
    real = a.kafka == "real3"
    if a.fetch_wait_ms is None:  # the mock's artefact below; a real broker needs no help
        a.fetch_wait_ms = 500 if real else 2
    os.environ["HOOKBUS_BIN_DIR"] = str(pathlib.Path(a.bin_dir).resolve())
    import conftest
    import test_kargo as tk
    from bench_gateway import cpu_seconds, machine, mem_kb, update_readme

    RESULTS.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="hookbus-bench-kargo-"))
    procs = []
    try:
        kafka = conftest.RealKafka(nodes=3) if real else conftest.MockKafka()
        procs.append(kafka)
        brokers = kafka.node_pids() if real else [kafka.proc.pid]
        (tmp / "gw").mkdir()
        gw = conftest.Gateway(tmp / "gw", conftest.BASE_CONFIG.format(
            brokers=kafka.bootstrap, format="binary", timeout=5000, max_body=2097152,
            token=conftest.TOKEN), env={"E2E_GITHUB_SECRET": conftest.GITHUB_SECRET})
        procs.append(gw)
        (tmp / "kube").mkdir()
        kube = tk.FakeKube(tmp / "kube", [tk.git("main-https")])
        procs.append(kube)
        kc = tmp / "kubeconfig"
        tk.write_kubeconfig(kc, kube.url)
        body = tk.push_body()

        # 1. latency, debounce 0
        # librdkafka's fetch.wait.max.ms (500 ms) is how long a fetch waits for
        # data. A real broker answers a waiting fetch as soon as data arrives
        # (fetch.min.bytes 1); the mock broker only at the timeout, so every
        # event would wait for it: p50 500 ms with the default, and with W ms
        # a uniform 0..W (measured p50 4.6 ms at 10). 2 ms keeps that
        # artefact at ~1 ms on average, near a real broker's round trip, for
        # ~2 % CPU of the consumer and ~4 % of the mock broker while idle
        # (bench/README.md).
        props = {"auto.offset.reset": "earliest", "fetch.wait.max.ms": a.fetch_wait_ms}
        kargo = start_kargo(tk, tmp / "k1", kafka.bootstrap, kc, "0ms", "bench-latency", props)
        procs.append(kargo)
        idle_kb = mem_kb(kargo.proc.pid, "VmRSS")
        watch = Watch(kube, tk.KUBE_TOKEN)
        watch.start()
        time.sleep(0.5)  # the watch is established
        lat, lat_gw, lost, interval = [], [], 0, 1.0 / a.rate
        cpu_k0 = cpu_seconds(brokers)
        start = time.monotonic()
        for i in range(a.count):
            slot = start + i * interval
            now = time.monotonic()
            if slot > now:
                time.sleep(slot - now)
            t0 = time.monotonic()
            r = conftest.github_post(gw, "push", body, delivery=f"lat-{i}")
            assert r.status_code == 202, r.text
            lat_gw.append((time.monotonic() - t0) * 1000)
            seen = watch.wait_count(i + 1 - lost, 5.0)
            if seen is None:
                lost += 1
                continue
            lat.append((seen - t0) * 1000)
        broker_cpu_us = (cpu_seconds(brokers) - cpu_k0) * 1e6 / max(a.count, 1)
        hwm_kb = mem_kb(kargo.proc.pid, "VmHWM")
        kargo.stop()
        procs.remove(kargo)

        # 2. coalescing: debounce 5 s, a group of its own (a restarted member of
        # the first would wait for the group's rebalance)
        kargo2 = start_kargo(tk, tmp / "k2", kafka.bootstrap, kc, "5s", "bench-burst", props)
        procs.append(kargo2)
        # The new group reads the latency run's events first: let them be acted
        # on and their (one, coalesced) refresh pass before the burst.
        conftest.wait_for(lambda: (kargo2.metric("hookbus_consumer_acted_total") or 0)
                          >= a.count - lost, timeout=120, what="the backlog acted on")
        time.sleep(6)
        before = len(kube.refreshed())
        acted0 = kargo2.metric("hookbus_consumer_acted_total") or 0
        t0 = time.monotonic()

        def post(i):
            return conftest.github_post(gw, "push", body, delivery=f"burst-{i}").status_code

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(post, range(a.count)))
        send_s = time.monotonic() - t0
        conftest.wait_for(lambda: (kargo2.metric("hookbus_consumer_acted_total") or 0)
                          >= acted0 + a.count, timeout=120, what="every burst event acted on")
        conftest.wait_for(lambda: len(kube.refreshed()) > before, timeout=30,
                          what="the coalesced refresh")
        time.sleep(6)  # one more debounce window: a late second refresh would show
        refreshes = len(kube.refreshed()) - before
        hwm2_kb = mem_kb(kargo2.proc.pid, "VmHWM")
        # events the runtime freed on arrival (burst folding; None: a build without it)
        folded = kargo2.metric("hookbus_consumer_folded_total")

        info = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "machine": machine(), "count": a.count, "rate_per_s": a.rate,
                "consumer_fetch_wait_max_ms": a.fetch_wait_ms,
                "kafka": ("Apache Kafka 4.1.1, 3 KRaft nodes, replication factor 3, "
                          "min.insync.replicas 2, acks=all" if real else "mock-kafka"),
                "broker_cpu_us_per_event_latency_run": broker_cpu_us,
                "latency_ms": {"p50": percentile(lat, 50), "p90": percentile(lat, 90),
                               "p99": percentile(lat, 99), "max": max(lat) if lat else None,
                               "measured": len(lat), "lost": lost,
                               "gateway_202_p50": percentile(lat_gw, 50),
                               "gateway_202_p99": percentile(lat_gw, 99)},
                "coalescing": {"webhooks": a.count, "accepted": codes.count(202),
                               "send_seconds": send_s, "debounce": "5s",
                               "refreshes": refreshes, "folded": folded},
                "kargo_memory_kb": {"idle": idle_kb, "vmhwm_latency_run": hwm_kb,
                                    "vmhwm_burst_run": hwm2_kb},
                "targets": {"p50_max_ms": 20, "p99_max_ms": 100, "consumer_rss_max_mb": 16}}
        (RESULTS / ("kargo-real3.json" if real else "kargo.json")).write_text(
            json.dumps(info, indent=2) + "\n")
        L = info["latency_ms"]
        text = "\n".join([
            "| measure | value |", "| --- | ---: |",
            f"| end-to-end latency p50 ({len(lat)} webhooks at {a.rate:.0f}/s) | {L['p50']:.1f} ms |",
            f"| end-to-end latency p90 | {L['p90']:.1f} ms |",
            f"| end-to-end latency p99 | {L['p99']:.1f} ms |",
            f"| of which POST -> 202 (Kafka acknowledged), p50 / p99 | "
            f"{L['gateway_202_p50']:.1f} / {L['gateway_202_p99']:.1f} ms |",
            f"| webhooks without a refresh seen within 5 s | {lost} |",
            f"| coalescing: {a.count} pushes in {send_s:.2f} s, debounce 5 s -> refreshes | "
            f"{refreshes} |",
            f"| events folded on arrival (backlog + burst, burst run) | "
            f"{'-' if folded is None else int(folded)} |",
            f"| hookbus-kargo RSS idle | {idle_kb / 1024:.1f} MB |",
            f"| hookbus-kargo peak RSS (latency run / burst run) | {hwm_kb / 1024:.1f} / "
            f"{hwm2_kb / 1024:.1f} MB |",
            f"| Kafka's CPU per event, latency run ({'3 broker JVMs' if real else 'mock'}) | "
            f"{broker_cpu_us:.0f} us |"])
        print(text)
        if not a.no_readme:
            update_readme(text, info, "kargo-bench-real3" if real else "kargo-bench")
    finally:
        for p in reversed(procs):
            p.stop()
        if os.environ.get("BENCH_KEEP"):
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
