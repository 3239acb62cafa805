"""OTLP/HTTP span export (tracing.otlp_endpoint) end to end.

tests/tools/otlp-receiver decodes every export with the official
opentelemetry-proto classes (google.protobuf.json_format.Parse into
ExportTraceServiceRequest, unknown fields refused), so these tests also prove
the JSON is the real OTLP schema. A delivery with a traceparent gives a
gateway span (SERVER, a child of the sender's span) and the consumers'
action spans (CONSUMER, children of the gateway's span, and the parents of
what the actions send on); a collector that hangs or refuses never fails or
slows a delivery, and what could not be exported is counted in /metrics."""
import os
import socket
import subprocess
import time

import pytest
import requests

from conftest import BASE_CONFIG, BIN, GITHUB_SECRET, ROOT, SLOW, TOKEN, github_post, wait_for
from consumers import ConsumerProc, kafka  # noqa: F401 (fixture)
from test_trace import (CONSUMER, EXEC_SCRIPT, PARENT, TRACE, TRACEPARENT, TRACESTATE, by_id,
                        parse_tp, post_push, recorder)  # noqa: F401 (fixture)

OTLP_PYTHON = ROOT / "build" / "otlp" / "venv" / "bin" / "python"
RECEIVER = ROOT / "tests" / "tools" / "otlp-receiver"
SERVER, CONSUMER_KIND = 2, 5
STATUS_ERROR = 2


class Collector:
    """tests/tools/otlp-receiver on a free port; status: what it answers."""

    def __init__(self, tmp_path, status=200):
        assert OTLP_PYTHON.exists(), "run `make otlp-proto` (part of make test-e2e)"
        port_file = tmp_path / f"otlp-{status}.port"
        self.proc = subprocess.Popen([str(OTLP_PYTHON), str(RECEIVER), "--port-file",
                                      str(port_file), "--status", str(status)])
        port = wait_for(lambda: port_file.exists() and port_file.read_text(), timeout=20,
                        what="the OTLP receiver")
        self.base = f"http://127.0.0.1:{port}"
        self.endpoint = self.base + "/v1/traces"

    def received(self):
        r = requests.get(self.base + "/spans", timeout=5).json()
        assert not r["errors"], f"exports that are not OTLP JSON: {r['errors']}"
        return r

    def spans(self):
        return self.received()["spans"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def collector(tmp_path):
    c = Collector(tmp_path)
    yield c
    c.stop()


def tracing(endpoint, **extra):
    keys = {"otlp_endpoint": endpoint, "flush_interval": "100ms", **extra}
    return "tracing:\n" + "".join(f"  {k}: {v}\n" for k, v in keys.items())


def gateway_config(kafka, endpoint, **extra):
    return BASE_CONFIG.format(brokers=kafka.bootstrap, format="binary", timeout=5000,
                              max_body=2097152, token=TOKEN) + tracing(endpoint, **extra)


def metric(text, series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_delivery_spans_link_sender_gateway_and_actions(kafka, make_gateway, collector,
                                                        recorder, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    script = tmp_path / "act.sh"
    script.write_text(EXEC_SCRIPT)
    script.chmod(0o755)
    trace_keys = tracing(collector.endpoint)
    http = ConsumerProc(tmp_path, "hookbus-http",
                        CONSUMER.format(brokers=kafka.bootstrap, group="otlp-http",
                                        extra=f"url: {recorder.url}\n" + trace_keys), name="http")
    ex = ConsumerProc(tmp_path, "hookbus-exec",
                      CONSUMER.format(brokers=kafka.bootstrap, group="otlp-exec",
                                      extra=f"command: [{script}]\ntimeout: 30s\n" + trace_keys),
                      name="exec", env={"OUT_DIR": str(out)})
    try:
        gw = make_gateway(kafka.bootstrap, config=gateway_config(kafka, collector.endpoint))
        before = time.time_ns()
        post_push(gw, "d-otlp", traceparent=TRACEPARENT, tracestate=TRACESTATE)
        gw_span_id = parse_tp(by_id(kafka, 1)["d-otlp"]["ce_traceparent"])[1]

        def in_trace():
            spans = [s for s in collector.spans() if s["traceId"] == TRACE]
            services = {s["service"] for s in spans}
            return spans if {"hookbus-gateway", "hookbus-http", "hookbus-exec"} <= services \
                else None
        spans = wait_for(in_trace, timeout=30, what="spans of the gateway and both consumers")
        gw_spans = [s for s in spans if s["service"] == "hookbus-gateway"]
        assert len(gw_spans) == 1, gw_spans
        g = gw_spans[0]
        assert g["spanId"] == gw_span_id  # the span the events carry
        assert g["parentSpanId"] == PARENT  # the sender's
        assert g["kind"] == SERVER and g["name"] == "POST /webhooks/{receiver}"
        assert g["status"] != STATUS_ERROR
        a = g["attributes"]
        assert a["hookbus.receiver"] == "acme-github"
        assert a["http.response.status_code"] == 202 and a["hookbus.events"] == 1
        assert a["http.request.method"] == "POST"
        assert before - 10**9 <= g["start"] <= g["end"] <= time.time_ns()

        posted = parse_tp(recorder.requests[0]["traceparent"])
        ran = parse_tp((out / "trace").read_text().split("\n")[0])
        for service, sent in (("hookbus-http", posted), ("hookbus-exec", ran)):
            act = [s for s in spans if s["service"] == service]
            assert len(act) == 1, act
            s = act[0]
            assert s["parentSpanId"] == gw_span_id
            assert s["spanId"] == sent[1]  # what the action passed on is this span
            assert s["kind"] == CONSUMER_KIND and s["name"] == f"{service} act"
            assert s["attributes"]["hookbus.outcome"] == "done"
            assert s["attributes"]["cloudevents.event_id"] == "d-otlp"
            assert s["attributes"]["hookbus.attempt"] == 1
            assert g["start"] <= s["start"] <= s["end"]
        assert metric(requests.get(gw.url("/metrics"), timeout=5).text,
                      "hookbus_otlp_spans_exported_total") >= 1
        assert http.metrics()["hookbus_otlp_spans_exported_total"] >= 1
    finally:
        http.stop()
        ex.stop()


def test_requests_without_traceparent_and_refused_ones(kafka, make_gateway, collector):
    gw = make_gateway(kafka.bootstrap, config=gateway_config(kafka, collector.endpoint))
    unsampled = "5" * 32
    post_push(gw, "d-unsampled", traceparent=f"00-{unsampled}-{PARENT}-00")  # not recorded
    post_push(gw, "d-root")
    root = parse_tp(by_id(kafka, 2)["d-root"]["ce_traceparent"])
    r = github_post(gw, "push", b'{"zen": 1}', secret="wrong-" + GITHUB_SECRET)
    assert r.status_code == 401

    def both():
        spans = collector.spans()
        return spans if len(spans) >= 2 else None
    spans = wait_for(both, timeout=20, what="two gateway spans")
    ok = [s for s in spans if s["traceId"] == root[0]]
    assert len(ok) == 1 and ok[0]["spanId"] == root[1] and ok[0]["parentSpanId"] == ""
    refused = [s for s in spans if s["attributes"]["http.response.status_code"] == 401]
    assert len(refused) == 1
    s = refused[0]
    assert s["attributes"]["hookbus.events"] == 0
    assert s["attributes"]["hookbus.reason"] == "authentication failed"
    assert s["status"] != STATUS_ERROR  # a 4xx is the client's error, not the server's
    assert len(s["traceId"]) == 32 and s["traceId"] != root[0]
    # The sender said "not sampled": that trace has no span (the two above
    # were exported after it, one request after the other).
    assert not [s for s in collector.spans() if s["traceId"] == unsampled]


@pytest.fixture
def hanging_collector():
    """A port that accepts connections (the kernel's backlog) and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    yield f"http://127.0.0.1:{s.getsockname()[1]}/v1/traces"
    s.close()


def test_hanging_collector_never_slows_deliveries(kafka, make_gateway, hanging_collector):
    gw = make_gateway(kafka.bootstrap, config=gateway_config(
        kafka, hanging_collector, queue_size=4, batch_size=2, timeout="30s"))
    slowest = 0.0
    for i in range(30):
        t0 = time.monotonic()
        post_push(gw, f"d-hang-{i}")
        slowest = max(slowest, time.monotonic() - t0)
    # Every webhook was answered while the exporter waited on the collector.
    assert slowest < 2.0 * SLOW, f"a delivery took {slowest:.2f} s"
    text = requests.get(gw.url("/metrics"), timeout=5).text
    dropped = metric(text, 'hookbus_otlp_spans_dropped_total{reason="queue_full"}')
    assert dropped is not None and dropped >= 30 - 4 - 2, text
    assert metric(text, "hookbus_otlp_spans_exported_total") == 0


def test_failing_collector_is_counted(kafka, make_gateway, tmp_path):
    refusing = Collector(tmp_path, status=503)
    try:
        gw = make_gateway(kafka.bootstrap, config=gateway_config(kafka, refusing.endpoint))
        for i in range(3):
            post_push(gw, f"d-503-{i}")

        def failed():
            t = requests.get(gw.url("/metrics"), timeout=5).text
            n = metric(t, 'hookbus_otlp_spans_dropped_total{reason="export_failed"}')
            return t if n and n >= 3 else None
        text = wait_for(failed, timeout=20, what="the failed exports to be counted")
        assert metric(text, "hookbus_otlp_export_failures_total") >= 1
        assert refusing.received()["requests"] >= 1  # it was asked, and it was OTLP JSON
        assert any(r.get("msg", "").startswith("span export failed") for r in gw.lines())
    finally:
        refusing.stop()


def test_bad_endpoint_is_a_config_error(tmp_path):
    cfg = tmp_path / "gw.yaml"
    cfg.write_text("receivers: []\ntracing:\n  otlp_endpoint: collector:4318\n")
    r = subprocess.run([str(BIN / "hookbus-gateway"), "--config", str(cfg), "--check-config"],
                       capture_output=True, text=True, env=dict(os.environ))
    assert r.returncode == 2
    assert "gw.yaml:3: tracing.otlp_endpoint: must be an http:// or https:// URL" in r.stderr
