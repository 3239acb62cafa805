"""The webhooks listener's worker loops (gateway/workers.c): each worker runs
its own connections and, when woken for them, Kafka's delivery reports, so a
report often resumes a connection of another worker (which must then be
woken), and one that runs inside the request itself (produce refused at once)
must be answered without waiting for the next event of the loop."""
import concurrent.futures
import json
import os
import subprocess
import time
import types

import pytest
import requests

from conftest import BIN, FIXTURES, GITHUB_SECRET, sign, wait_for

# Runs on mock and/or real Kafka (--kafka, conftest.py).
pytestmark = pytest.mark.real_kafka

CONFIG = """
listen: 127.0.0.1:0
threads: {threads}
tls:
  enabled: false
kafka:
  brokers: {brokers}
  properties:
{properties}
delivery_timeout_ms: {timeout}
receivers:
  - name: acme-github
    type: github
    secrets: [env:E2E_GITHUB_SECRET]
"""


def config(kafka, threads, timeout=5000, properties=None):
    props = properties or {"linger.ms": "1"}
    return CONFIG.format(threads=threads, brokers=kafka.bootstrap, timeout=timeout,
                         properties="\n".join(f'    {k}: "{v}"' for k, v in props.items()))


def push(session, gw, delivery, timeout=15):
    body = json.loads((FIXTURES / "github" / "push.json").read_text())
    body["after"] = delivery.encode().hex()[:40].ljust(40, "0")
    data = json.dumps(body).encode()
    return session.post(gw.url("/webhooks/acme-github"), data=data, timeout=timeout,
                        headers={"Content-Type": "application/json", "X-GitHub-Event": "push",
                                 "X-GitHub-Delivery": delivery,
                                 "X-Hub-Signature-256": sign(GITHUB_SECRET, data)})


@pytest.mark.parametrize("threads", [1, 4])
def test_concurrent_keep_alive_senders_are_all_answered_and_published(kafka, make_gateway,
                                                                      threads):
    """16 keep-alive senders at once: with 4 workers their connections spread
    over the loops and most reports run on a worker that does not own the
    request (a lost wake-up would leave a sender waiting for its 202)."""
    gw = make_gateway(kafka.bootstrap, config=config(kafka, threads))

    def sender(n):
        session = requests.Session()
        return [(f"w{n}-{i}", push(session, gw, f"w{n}-{i}").status_code) for i in range(8)]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = [a for got in pool.map(sender, range(16)) for a in got]
    assert [a for a in answers if a[1] != 202] == []
    ids = {dict(m.headers())["ce_id"].decode()
           for m in kafka.read_all("hookbus.git")}
    assert {d for d, _ in answers} <= ids
    lines = gw.lines()
    assert any(l.get("msg") == "listening" and l.get("threads") == threads for l in lines)


def request_bytes(session, gw):
    for line in session.get(gw.url("/metrics"), timeout=5).text.splitlines():
        if line.startswith("hookbus_gateway_request_bytes_total{"):
            return float(line.split()[-1])
    return 0.0


def test_produce_refused_inside_the_request_is_answered_at_once(kafka, make_gateway):
    """One worker, Kafka down and room for one message in the producer's
    queue: the first push waits for its delivery timeout; the second is
    refused by librdkafka inside the request (queue full), so its report
    runs inside the worker's own MHD_run. It must be answered while the
    first still waits, not when something else next wakes the loop: nothing
    else does here (the metrics connection is kept alive, librdkafka retries
    the broker after the first push's delivery timeout)."""
    gw = make_gateway(kafka.bootstrap, config=config(
        kafka, 1, timeout=8000, properties={"queue.buffering.max.messages": "1",
                                            "reconnect.backoff.ms": "20000",
                                            "reconnect.backoff.max.ms": "20000"}))
    metrics = requests.Session()
    assert push(requests.Session(), gw, "warm-up").status_code == 202
    before = request_bytes(metrics, gw)
    assert kafka.command("down 1") == "ok"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(push, requests.Session(), gw, "first", 30)
        # /metrics is served by the same (only) worker, after the handler
        # that counted the first body's bytes has produced it: queued now.
        wait_for(lambda: request_bytes(metrics, gw) > before, what="the first push in the gateway")
        started = time.monotonic()
        second = push(requests.Session(), gw, "second", timeout=20)
        waited = time.monotonic() - started
        assert second.status_code == 503 and "Queue full" in second.json()["error"], second.text
        assert not first.done(), "the refused push was answered only with the first one"
        assert waited < 6, f"the refused push took {waited:.1f} s"
        assert first.result().status_code == 503  # its delivery timeout, no spool


def fault_build():
    out = subprocess.run([str(BIN / "hookbus-gateway"), "--version"], capture_output=True,
                         text=True, check=True).stdout
    return "(fault injection)" in out


def test_reports_queued_before_the_workers_took_them_are_served(kafka, make_gateway):
    """Kafka unreachable from the start: librdkafka queues its first errors
    before it was told to announce reports on the workers' eventfd, and
    announces again only once that queue was served. HOOKBUS_FAULT makes the
    producer's poll thread leave them unserved until the workers take over
    (as a thread not yet scheduled on a busy machine does). Before the
    gateway woke its workers once at the hand-over, nothing served the queue
    again and the push waited forever instead of its 503 at the delivery
    timeout (seen as a timeout of
    test_kafka_unreachable_gives_503_within_the_delivery_timeout under load)."""
    if not fault_build():
        pytest.skip("needs the fault-injection (sanitizer) build: make asan")
    nowhere = types.SimpleNamespace(bootstrap="127.0.0.1:9")  # nothing listens there
    gw = make_gateway(nowhere.bootstrap, config=config(nowhere, 2, timeout=1500),
                      env={"HOOKBUS_FAULT": "producer.reports_late:1"})
    started = time.monotonic()
    r = push(requests.Session(), gw, "late", timeout=20)
    assert r.status_code == 503 and "not durable" in r.json()["error"], r.text
    assert time.monotonic() - started < 10
    assert any(l.get("msg") == "kafka error" for l in gw.lines())


def thread_names(gw):
    tasks = f"/proc/{gw.proc.pid}/task"
    names = []
    for t in os.listdir(tasks):
        try:
            with open(f"{tasks}/{t}/comm") as f:
                names.append(f.read().strip())
        except FileNotFoundError:  # a thread that just ended
            pass
    return names


def test_workers_run_the_delivery_reports_and_no_poll_thread_is_left(kafka, make_gateway):
    """`threads` workers serve, and the producer's poll thread ("gw-reports")
    that ran the reports before the listener started has ended."""
    gw = make_gateway(kafka.bootstrap, config=config(kafka, 3))
    assert push(requests.Session(), gw, "one").status_code == 202
    names = thread_names(gw)
    assert names.count("gw-http") == 3, names
    assert "gw-reports" not in names, names
