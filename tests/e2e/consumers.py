"""Helpers for consumer e2e tests: a consumer process (hookbus-exec,
hookbus-http, ...) with its admin port read from its log, and test events
produced straight to Kafka in the three forms the runtime decodes (binary,
structured, avro)."""
import io
import json
import os
import shutil
import signal
import subprocess

import avro.io
import avro.schema
import pytest
import requests
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from conftest import BIN, PARTITIONS, ROOT, TOPICS, start_kafka, wait_for

AVRO_SCHEMA = avro.schema.parse((ROOT / "schemas" / "cloudevent.avsc").read_text())
DLQ = "hookbus.dlq"


@pytest.fixture
def kafka(request):
    """Replaces conftest's fixture in the modules that import it: the hookbus
    topics plus the dead-letter topic (mock or real, as conftest's)."""
    k = start_kafka(getattr(request, "param", "mock"), topics=TOPICS + (DLQ,))
    yield k
    k.stop()


class ConsumerProc:
    """A consumer binary with a config file in tmp_path; admin_listen should be
    127.0.0.1:0 (the port is read back from the log)."""

    def __init__(self, tmp_path, binary, config, name="consumer", env=None, wait_joined=True):
        self.dir = tmp_path
        self.name = name
        self.config_path = tmp_path / f"{name}.yaml"
        self.config_path.write_text(config)
        self.log_path = tmp_path / f"{name}.log"
        self.binary = binary
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.start(wait_joined)

    def start(self, wait_joined=True):
        self.log = open(self.log_path, "a")
        self.mark = self.log_path.stat().st_size
        self.proc = subprocess.Popen(
            [str(BIN / self.binary), "--config", str(self.config_path), "--log-format", "json"],
            stdout=self.log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        self.port = wait_for(lambda: self._find("listening", what="admin", key="port"),
                             timeout=15, what=f"{self.name} to listen")
        if wait_joined:
            self.wait_assigned()

    def lines(self):
        """Log records of the current run."""
        out = []
        with open(self.log_path, errors="replace") as f:
            f.seek(self.mark)
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def _find(self, msg, key=None, **match):
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited: " + self.log_path.read_text()[-3000:])
        for rec in self.lines():
            if rec.get("msg") == msg and all(rec.get(k) == v for k, v in match.items()):
                return rec.get(key, True) if key else rec
        return None

    def wait_log(self, msg, timeout=20, **match):
        return wait_for(lambda: self._find(msg, **match), timeout=timeout, what=f"log '{msg}'")

    def assigned(self):
        """Partitions of the latest assignment, or None before the first."""
        n = None
        for rec in self.lines():
            if rec.get("msg") == "partitions assigned":
                n = rec["count"]
            elif rec.get("msg") == "partitions revoked":
                n = 0
        return n

    def wait_assigned(self, timeout=30):
        wait_for(lambda: self._find("partitions assigned"), timeout=timeout,
                 what=f"{self.name} to join its group")

    def get(self, path):
        return requests.get(f"http://127.0.0.1:{self.port}{path}", timeout=10)

    def metrics(self):
        """{series: value} from /metrics (labels kept in the series name)."""
        out = {}
        for line in self.get("/metrics").text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def kill9(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def stop(self):
        """SIGTERM, then insists on a clean exit (status 0, no sanitizer report)."""
        killed = False
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                stacks = thread_stacks(self.proc.pid)
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                killed = True
        self.log.close()
        text = self.log_path.read_text(errors="replace")
        assert not killed, f"{self.name} did not stop on SIGTERM:\n" + text[-3000:] + stacks
        assert self.proc.returncode == 0, f"{self.name} exited {self.proc.returncode}:\n" + text[-3000:]
        assert "Sanitizer" not in text and "runtime error" not in text, text[-3000:]


def thread_stacks(pid):
    """Every thread's backtrace of a process that hangs (gdb, when installed)."""
    if not shutil.which("gdb"):
        return ""
    r = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "thread apply all bt"],
                       capture_output=True, text=True, timeout=60)
    return "\nthreads:\n" + r.stdout[-12000:]


def make_attrs(id, type="dev.hookbus.git.push", repo="github.com/acme/app", **extra):
    a = {"specversion": "1.0", "id": id, "source": "/receivers/test", "type": type,
         "subject": repo, "repo": repo, "provider": "github", "datacontenttype": "application/json"}
    a.update(extra)
    return a


def encode(attrs, data, mode):
    """(value, headers) of one event in the given Kafka content mode."""
    body = json.dumps(data).encode()
    if mode == "binary":
        headers = [(f"ce_{k}", str(v).encode()) for k, v in attrs.items() if k != "datacontenttype"]
        headers.append(("content-type", attrs.get("datacontenttype", "application/json").encode()))
        return body, headers
    if mode == "structured":
        ev = dict(attrs)
        ev["data"] = data
        return json.dumps(ev).encode(), [("content-type", b"application/cloudevents+json")]
    if mode == "avro":
        buf = io.BytesIO()
        avro.io.DatumWriter(AVRO_SCHEMA).write({"attribute": dict(attrs), "data": body},
                                                avro.io.BinaryEncoder(buf))
        return buf.getvalue(), [("content-type", b"application/cloudevents+avro")]
    raise ValueError(mode)


def produce(bootstrap, topic, events, mode="binary", partition=None):
    """events: [(attrs, data)]; keyed by repo (so one repo stays in one partition)."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for attrs, data in events:
        value, headers = encode(attrs, data, mode)
        kw = {"partition": partition} if partition is not None else {}
        p.produce(topic, value=value, key=attrs.get("repo", "").encode(), headers=headers, **kw)
    assert p.flush(15) == 0


def produce_raw(bootstrap, topic, value, key=b"k", headers=None):
    p = Producer({"bootstrap.servers": bootstrap})
    p.produce(topic, value=value, key=key, headers=headers or [])
    assert p.flush(15) == 0


def read_topic(bootstrap, topic, count, timeout=20.0):
    """count messages of topic from the beginning (a real consumer)."""
    import time
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "e2e-dlq-reader",
                  "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            m = c.poll(0.1)
            if m is not None and not m.error():
                out.append(m)
        return out
    finally:
        c.close()
