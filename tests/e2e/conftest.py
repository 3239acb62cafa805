"""Fixtures for the end-to-end suite: real processes on loopback.

Every test gets its own Kafka cluster, its own gateway on a free port (port 0,
read back from the gateway's log) and its own temporary directory, and stops
them afterwards, so tests can run in parallel and leave nothing behind. Waits
use deadlines, never fixed sleeps.

The Kafka is tests/tools/mock-kafka (librdkafka's mock cluster: the wire
protocol, not Kafka) by default. Modules marked `real_kafka` run their tests
once per Kafka chosen with `--kafka=mock|real|both` (`make test-e2e` says
both): `real` is Apache Kafka itself, one KRaft node per test started by
tests/tools/kafka-cluster, with the same interface (bootstrap, read,
read_all, command "down 1" / "up 1"). Tests marked `real_kafka_only` need
real Kafka (replication, a real group coordinator, SASL) and run unless
`--kafka=mock`.
"""
import hashlib
import hmac
import json
import os
import shlex
import pathlib
import subprocess
import time

import pytest
import requests
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from procs import stop_process

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("HOOKBUS_BIN_DIR", ROOT / "build" / "bin"))
# A command the gateway runs under (make valgrind sets it), and how much longer
# than usual the test then waits for it.
WRAPPER = shlex.split(os.environ.get("HOOKBUS_WRAPPER", ""))
SLOW = 6 if WRAPPER else 1
FIXTURES = ROOT / "tests" / "fixtures"
TOPICS = ("hookbus.git", "hookbus.image", "hookbus.other")
PARTITIONS = 3


def wait_for(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Polls predicate until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


KAFKA_CLUSTER = ROOT / "tests" / "tools" / "kafka-cluster"
KAFKA_LIBS = ROOT / "build" / "kafka" / "libs"


def pytest_addoption(parser):
    parser.addoption("--kafka", choices=("mock", "real", "both"), default="mock",
                     help="the Kafka of the modules marked real_kafka (default: mock)")


def pytest_configure(config):
    config.addinivalue_line("markers", "real_kafka: run on mock and/or real Kafka (--kafka)")
    config.addinivalue_line("markers", "real_kafka_only: needs Apache Kafka itself")


def pytest_generate_tests(metafunc):
    """The `kafka` fixture of a module marked real_kafka is parametrized by --kafka."""
    if "kafka" not in metafunc.fixturenames or not metafunc.definition.get_closest_marker(
            "real_kafka"):
        return
    choice = metafunc.config.getoption("--kafka")
    kinds = ["mock", "real"] if choice == "both" else [choice]
    metafunc.parametrize("kafka", kinds, indirect=True)


def pytest_collection_modifyitems(config, items):
    if config.getoption("--kafka") != "mock":
        return
    skip = pytest.mark.skip(reason="needs Apache Kafka: --kafka=real or both (make test-e2e)")
    for item in items:
        if item.get_closest_marker("real_kafka_only"):
            item.add_marker(skip)


class KafkaReader:
    """What tests do with either Kafka: read topics back, send control commands."""

    real = False
    client = {}  # extra client properties of the readers (SASL, TLS)

    def command(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def stop(self):
        stop_process(self.proc, 30)

    def read(self, topic, count, timeout=10.0):
        """Reads `count` messages of topic from the beginning with a real consumer."""
        c = Consumer({**self.client, "bootstrap.servers": self.bootstrap, "group.id": "e2e-reader",
                      "enable.auto.commit": False, "enable.partition.eof": False})
        try:
            c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
            out = []
            deadline = time.monotonic() + timeout
            while len(out) < count and time.monotonic() < deadline:
                m = c.poll(0.1)
                if m is None or m.error():
                    continue
                out.append(m)
            return out
        finally:
            c.close()

    def read_all(self, topic, settle=1.0, timeout=20.0):
        """Every message in topic: reads up to each partition's high watermark
        (taken when called, so a slow consumer start cannot cut the read
        short), then `settle` s more for stragglers."""
        c = Consumer({**self.client, "bootstrap.servers": self.bootstrap, "group.id": "e2e-reader",
                      "enable.auto.commit": False, "enable.partition.eof": False})
        try:
            high = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                    for p in range(PARTITIONS)}
            c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
            out, seen = [], {p: 0 for p in range(PARTITIONS)}
            deadline = time.monotonic() + timeout
            settled = None
            while time.monotonic() < (settled or deadline):
                if settled is None and all(seen[p] >= high[p] for p in high):
                    settled = time.monotonic() + settle
                m = c.poll(0.1)
                if m is None or m.error():
                    continue
                out.append(m)
                seen[m.partition()] = m.offset() + 1
            return out
        finally:
            c.close()


class MockKafka(KafkaReader):
    def __init__(self, brokers=1, topics=TOPICS):
        self.proc = subprocess.Popen(
            [str(BIN / "mock-kafka"), "--brokers", str(brokers), "--partitions", str(PARTITIONS)]
            + [a for t in topics for a in ("--topic", t)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.bootstrap = self.proc.stdout.readline().strip()
        assert self.bootstrap, "mock-kafka printed no bootstrap list"


class RealKafka(KafkaReader):
    """Apache Kafka: `nodes` KRaft nodes from tests/tools/kafka-cluster (auto-creation
    off, so the topics are created here). Commands: "stop I" / "start I" (or the
    mock's "down I" / "up I"), "topic NAME P". With `sasl=(user, password)` the
    bootstrap is the SASL_SSL listener (SCRAM-SHA-512 and PLAIN) and `ca` the CA
    file of its certificate; readers then need `client` set to the SASL
    properties."""

    real = True

    def __init__(self, nodes=1, topics=TOPICS, sasl=None, auto_create=False, libs=KAFKA_LIBS):
        if not libs.is_dir():
            pytest.fail(f"Apache Kafka is not in {libs}: run `make kafka`")
        args = [str(KAFKA_CLUSTER), str(nodes), "--partitions", str(PARTITIONS)]
        args += [a for t in topics for a in ("--topic", t)]
        if sasl:
            args += ["--sasl", f"{sasl[0]}:{sasl[1]}"]
        if auto_create:
            args.append("--auto-create")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(["/usr/bin/python3", *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True,
                                     env=dict(os.environ, HOOKBUS_KAFKA_LIBS=str(libs)))
        self.bootstrap = self.proc.stdout.readline().strip()
        self.startup_seconds = time.monotonic() - self.started
        assert self.bootstrap, "kafka-cluster printed no bootstrap list"
        self.ca = self.proc.stdout.readline().strip() if sasl else None
        self.nodes = nodes

    def node_pids(self):
        """The broker JVMs' process ids (for CPU accounting in bench/)."""
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid), "java"],
                             stdout=subprocess.PIPE, text=True).stdout
        return [int(p) for p in out.split()]


def start_kafka(kind, topics=TOPICS):
    return RealKafka(topics=topics) if kind == "real" else MockKafka(topics=topics)


@pytest.fixture
def kafka(request):
    k = start_kafka(getattr(request, "param", "mock"))
    yield k
    k.stop()


def sign(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Gateway:
    def __init__(self, tmp_path, config, env=None, args=()):
        self.dir = tmp_path
        self.config_path = tmp_path / "gateway.yaml"
        self.config_path.write_text(config)
        self.log_path = tmp_path / "gateway.log"
        self.log = open(self.log_path, "w")
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen(
            [*WRAPPER, str(BIN / "hookbus-gateway"), "--config", str(self.config_path),
             "--log-format", "json", *args],
            stdout=self.log, stderr=subprocess.STDOUT, env=e)
        self.port = wait_for(self._port, timeout=15 * SLOW, what="the gateway to listen")
        self.scheme = "https" if "tls:\n  enabled: true" in config or "enabled: true" in config else "http"
        self.base = f"{self.scheme}://127.0.0.1:{self.port}"

    def lines(self):
        out = []
        for line in self.log_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def _port(self):
        if self.proc.poll() is not None:
            raise AssertionError("gateway exited: " + self.log_path.read_text())
        for rec in self.lines():
            if rec.get("msg") == "listening" and rec.get("what") == "webhooks":
                return rec["port"]
        return None

    def url(self, path):
        return self.base + path

    def post(self, path, body, headers=None, **kw):
        return requests.post(self.url(path), data=body, headers=headers or {}, timeout=15 * SLOW,
                             verify=False, **kw)

    def kill9(self):
        """SIGKILL (a crash): the fixture then checks nothing about the exit."""
        self.proc.kill()
        self.proc.wait()
        self.crashed = True

    def stop(self):
        """SIGTERM, then insists on a clean exit: status 0 and no sanitizer report
        (under `make asan` a leak or UB at shutdown fails the test)."""
        killed = False
        if getattr(self, "crashed", False):
            self.log.close()
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                killed = True
        self.log.close()
        text = self.log_path.read_text(errors="replace")
        assert not killed, "gateway did not stop on SIGTERM:\n" + text[-3000:]
        assert self.proc.returncode == 0, f"gateway exited {self.proc.returncode}:\n" + text[-3000:]
        assert "Sanitizer" not in text and "runtime error" not in text, text[-3000:]


GITHUB_SECRET = "it's-a-secret-to-everybody"
TOKEN = "generic-token-123"

BASE_CONFIG = """
listen: 127.0.0.1:0
tls:
  enabled: false
kafka:
  brokers: {brokers}
  format: {format}
delivery_timeout_ms: {timeout}
limits:
  max_body_bytes: {max_body}
receivers:
  - name: acme-github
    type: github
    secrets: [env:E2E_GITHUB_SECRET, literal:old-rotated-secret]
  - name: gen
    type: generic
    secrets: [literal:{token}]
  - name: gen-fixed
    type: generic
    secrets: [literal:{token}]
    token_header: X-Api-Key
    repository: https://gitlab.example.com/Team/Service.git
  - name: ce
    type: cloudevents
    secrets: [literal:{token}]
"""


@pytest.fixture
def make_gateway(tmp_path):
    started = []

    def start(brokers, fmt="binary", timeout=5000, max_body=2097152, extra="", env=None,
              config=None):
        cfg = config or (BASE_CONFIG.format(brokers=brokers, format=fmt, timeout=timeout,
                                             max_body=max_body, token=TOKEN) + extra)
        e = {"E2E_GITHUB_SECRET": GITHUB_SECRET}
        e.update(env or {})
        d = tmp_path / f"gw{len(started)}"
        d.mkdir()
        g = Gateway(d, cfg, env=e)
        started.append(g)
        return g

    yield start
    for g in started:
        g.stop()


@pytest.fixture
def gateway(kafka, make_gateway):
    return make_gateway(kafka.bootstrap)


def fixture_bytes(path):
    return (FIXTURES / path).read_bytes()


def github_post(gw, event, body, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958",
                secret=GITHUB_SECRET, content_type="application/json"):
    headers = {"Content-Type": content_type, "X-GitHub-Event": event,
               "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sign(secret, body),
               "User-Agent": "GitHub-Hookshot/abc"}
    return gw.post("/webhooks/acme-github", body, headers)


def headers_of(msg):
    return {k: (v.decode() if v is not None else None) for k, v in (msg.headers() or [])}
