"""hookbus-http end to end: events from mock-kafka POSTed to a local Python
HTTP server in binary mode (ce- headers, percent-encoding), structured mode
and template mode (with X-Hub-Signature-256 and secret headers); 503 is
retried, 400 dead-lettered, an unreachable server retried."""
import datetime
import email.utils
import hashlib
import hmac
import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import BIN, ROOT, wait_for
from consumers import (DLQ, ConsumerProc, kafka, make_attrs, produce,  # noqa: F401 (fixture)
                       read_topic)

CONFIG = """
kafka:
  brokers: {brokers}
  topics: [hookbus.git, hookbus.image]
admin_listen: 127.0.0.1:0
retry: {{max_attempts: 3, initial_backoff: 50ms, max_backoff: {max_backoff}}}
url: {url}
{extra}
"""


class Receiver:
    """An HTTP server that records requests; status_for(path, body) picks the answer."""

    def __init__(self):
        self.requests = []
        self.times = []  # monotonic arrival time of each request
        self.plan = {}  # id -> list of statuses (or (status, Retry-After)) to answer, then 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append((self.path, dict(self.headers.items()), body))
                outer.times.append(time.monotonic())
                key = self.headers.get("ce-id") or self.path
                plan = outer.plan.get(key) or []
                status = plan.pop(0) if plan else 200
                status, retry_after = status if isinstance(status, tuple) else (status, None)
                self.send_response(status)
                if retry_after:
                    self.send_header("Retry-After",
                                     retry_after() if callable(retry_after) else retry_after)
                msg = b"no thanks" if status >= 400 else b"ok"
                self.send_header("Content-Length", str(len(msg)))
                self.end_headers()
                self.wfile.write(msg)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def start_http(tmp_path, kafka):
    started = []

    def start(url, extra="", env=None, max_backoff="200ms"):
        c = ConsumerProc(tmp_path, "hookbus-http",
                         CONFIG.format(brokers=kafka.bootstrap, url=url, extra=extra,
                                       max_backoff=max_backoff),
                         name=f"http{len(started)}", env=env)
        started.append(c)
        return c

    yield start
    for c in started:
        c.stop()


def lower(headers):
    return {k.lower(): v for k, v in headers.items()}


def test_binary_mode_ce_headers_and_body(kafka, receiver, start_http):
    start_http(receiver.url + "/hook")
    data = {"ref": "refs/heads/main", "msg": "héllo"}
    attrs = make_attrs("bin-1", ref="refs/heads/feature x", subject='50% "off"')
    produce(kafka.bootstrap, "hookbus.git", [(attrs, data)], mode="structured")
    wait_for(lambda: receiver.requests, what="a request")
    path, headers, body = receiver.requests[0]
    h = lower(headers)
    assert path == "/hook"
    assert h["ce-specversion"] == "1.0" and h["ce-id"] == "bin-1"
    assert h["ce-type"] == "dev.hookbus.git.push" and h["ce-source"] == "/receivers/test"
    assert h["ce-repo"] == "github.com/acme/app"
    assert h["ce-ref"] == "refs/heads/feature%20x"  # HTTP binding percent-encoding
    assert h["ce-subject"] == "50%25%20%22off%22"
    assert h["content-type"] == "application/json"
    assert "ce-datacontenttype" not in h
    assert json.loads(body) == data
    assert "x-hub-signature-256" not in h


def test_structured_mode_signature_and_secret_header(kafka, receiver, start_http):
    start_http(receiver.url + "/s", extra="mode: structured\nsign_secret: env:E2E_SIGN\n"
               "headers: {X-Token: env:E2E_TOKEN, X-Static: plain-value}\n",
               env={"E2E_SIGN": "s3cret", "E2E_TOKEN": "tok-123"})
    produce(kafka.bootstrap, "hookbus.git", [(make_attrs("st-1"), {"a": [1, 2]})], mode="avro")
    wait_for(lambda: receiver.requests, what="a request")
    _, headers, body = receiver.requests[0]
    h = lower(headers)
    assert h["content-type"].startswith("application/cloudevents+json")
    ev = json.loads(body)
    assert ev["id"] == "st-1" and ev["data"] == {"a": [1, 2]} and ev["specversion"] == "1.0"
    want = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert h["x-hub-signature-256"] == want
    assert h["x-token"] == "tok-123" and h["x-static"] == "plain-value"


def test_template_mode_like_a_stoker_gateway_sync(kafka, receiver, start_http):
    start_http(receiver.url + "/webhook/ns/sync",
               extra="mode: template\n"
                     "template: '{\"ref\": \"${tag}\", \"repo\": \"${data.repository.name}\"}'\n"
                     "sign_secret: literal:stoker\n")
    attrs = make_attrs("t-1", type="dev.hookbus.git.tag", tag='v1.0.0"x')
    produce(kafka.bootstrap, "hookbus.git", [(attrs, {"repository": {"name": "app"}})])
    wait_for(lambda: receiver.requests, what="a request")
    path, headers, body = receiver.requests[0]
    assert path == "/webhook/ns/sync"
    assert json.loads(body) == {"ref": 'v1.0.0"x', "repo": "app"}
    h = lower(headers)
    assert h["content-type"] == "application/json"
    assert h["x-hub-signature-256"] == "sha256=" + hmac.new(b"stoker", body, hashlib.sha256).hexdigest()


def test_503_is_retried_and_400_dead_lettered(kafka, receiver, start_http):
    receiver.plan = {"r-503": [503, 503], "r-400": [400]}
    c = start_http(receiver.url)
    produce(kafka.bootstrap, "hookbus.git",
            [(make_attrs("r-503"), {}), (make_attrs("r-400", repo="github.com/acme/x"), {})])
    wait_for(lambda: [lower(h)["ce-id"] for _, h, _ in receiver.requests].count("r-503") == 3,
             timeout=20, what="two retries of r-503")
    [m] = read_topic(kafka.bootstrap, DLQ, 1)
    h = {k: v.decode() for k, v in m.headers()}
    assert h["ce_id"] == "r-400"
    assert h["hookbus_error"] == "HTTP 400: no thanks"
    assert h["hookbus_attempts"] == "1" and h["hookbus_consumer"] == "hookbus-http"
    ids = [lower(h)["ce-id"] for _, h, _ in receiver.requests]
    assert ids.count("r-400") == 1
    wait_for(lambda: c.metrics().get("hookbus_consumer_acted_total") == 1, what="acted")
    m = c.metrics()
    assert m["hookbus_consumer_retried_total"] == 2
    assert m["hookbus_consumer_dead_lettered_total"] == 1


def test_retry_after_stretches_the_backoff(kafka, receiver, start_http):
    """A 503 / 429 with Retry-After waits at least that long (the configured
    backoff alone would be 50-100 ms), within retry.max_backoff."""
    def in_3s():  # an HTTP date, made when the answer is sent
        return email.utils.format_datetime(
            datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=3),
            usegmt=True)
    receiver.plan = {"r-ra": [(503, "2"), (429, in_3s)]}
    start_http(receiver.url, max_backoff="10s")
    produce(kafka.bootstrap, "hookbus.git", [(make_attrs("r-ra"), {})])
    wait_for(lambda: [lower(h)["ce-id"] for _, h, _ in receiver.requests].count("r-ra") == 3,
             timeout=30, what="two retries of r-ra")
    t = receiver.times
    assert t[1] - t[0] >= 1.9, t  # delta-seconds
    assert t[2] - t[1] >= 1.0, t  # an HTTP date some seconds ahead (second resolution)


def test_unreachable_server_is_retried_then_dead_lettered(kafka, start_http):
    c = start_http("http://127.0.0.1:9/nothing-listens-here", extra="timeout: 1s\n")
    produce(kafka.bootstrap, "hookbus.git", [(make_attrs("u-1"), {})])
    [m] = read_topic(kafka.bootstrap, DLQ, 1)
    h = {k: v.decode() for k, v in m.headers()}
    assert h["hookbus_attempts"] == "3"
    assert "connect" in h["hookbus_error"].lower()
    assert c.metrics()["hookbus_consumer_retried_total"] == 2


def test_check_config(tmp_path):
    r = subprocess.run([str(BIN / "hookbus-http"), "--config", str(ROOT / "config" / "http.yaml"),
                        "--check-config"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    bad = tmp_path / "bad.yaml"
    for text, want in [("url: ftp://x\n", "url"),
                       ("url: http://x\nmode: template\n", "template"),
                       ("url: http://x\nmode: template\ntemplate: '${tag'\n", "placeholder"),
                       ("url: http://x\nheaders: {X-A: env:E2E_NOT_SET_ANYWHERE}\n", "headers.X-A"),
                       ("url: http://x\nmode: fancy\n", "mode")]:
        bad.write_text(text)
        r = subprocess.run([str(BIN / "hookbus-http"), "--config", str(bad), "--check-config"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, text
        assert want in r.stderr, r.stderr
