"""Trace context end to end (W3C Trace Context as the CloudEvents distributed
tracing extension): the gateway continues a sender's traceparent (same trace
id, its own span id) or starts a trace when there is none or it is invalid,
passes tracestate only with a valid traceparent, keeps a CloudEvent's own
traceparent; hookbus-http's POST, hookbus-exec's TRACEPARENT and
hookbus-kargo's Warehouse PATCH, hookbus-flux's source PATCH (the client
hookbus-argocd shares) and hookbus-image-updater's POST carry child spans of the gateway's span; the
gateway's and the consumers' log lines carry trace_id."""
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import GITHUB_SECRET, TOKEN, fixture_bytes, headers_of, sign, wait_for
from consumers import ConsumerProc, kafka  # noqa: F401 (fixture)
from kube_helpers import FakeKube as KubeFake
from kube_helpers import KubeConsumer
from kube_helpers import write_kubeconfig as write_kube_config
from test_flux import GITLAB_SECRET
from test_flux import OBJECTS as FLUX_OBJECTS
from test_flux import RECEIVERS as FLUX_RECEIVERS
from test_image_updater import SECRET as IU_SECRET
from test_image_updater import FakeImageUpdater, ImageUpdaterConsumer, image_event
from test_image_updater import produce as produce_image
from test_kargo import WAREHOUSES, FakeKube, Kargo, push_body, write_kubeconfig

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE}-{PARENT}-01"
TRACESTATE = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
TP_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def parse_tp(value):
    """(trace id, span id, flags) of a version 00 traceparent; fails on anything else."""
    m = TP_RE.match(value or "")
    assert m, f"not a version 00 traceparent: {value!r}"
    trace, span, flags = m.groups()
    assert trace != "0" * 32 and span != "0" * 16
    return trace, span, flags


def post_push(gw, delivery, **trace_headers):
    """A signed GitHub push with delivery id `delivery` and the given trace headers
    (None: not sent)."""
    body = push_body()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "push",
               "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sign(GITHUB_SECRET, body)}
    headers.update({k: v for k, v in trace_headers.items() if v is not None})
    r = gw.post("/webhooks/acme-github", body, headers)
    assert r.status_code == 202, r.text
    return r


def published(gw, delivery):
    """The gateway's 'event published' log record of the event with id delivery."""
    def find():
        for rec in gw.lines():
            if rec.get("msg") == "event published" and rec.get("id") == delivery:
                return rec
        return None
    return wait_for(find, timeout=10, what=f"'event published' for {delivery}")


def by_id(kafka, count):
    return {headers_of(m)["ce_id"]: headers_of(m) for m in kafka.read("hookbus.git", count)}


def test_gateway_continues_the_senders_trace(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap)
    post_push(gw, "d-cont", traceparent=TRACEPARENT, tracestate=TRACESTATE)
    h = by_id(kafka, 1)["d-cont"]
    trace, span, flags = parse_tp(h["ce_traceparent"])
    assert trace == TRACE and flags == "01"
    assert span != PARENT  # the gateway's own span, a child of the sender's
    assert h["ce_tracestate"] == TRACESTATE
    assert published(gw, "d-cont")["trace_id"] == TRACE


@pytest.mark.parametrize("header", [
    None,
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
    f"00-{TRACE}-0000000000000000-01",                           # all-zero parent id
    f"00-{TRACE.upper()}-{PARENT}-01",                            # uppercase hex
    f"ff-{TRACE}-{PARENT}-01",                                    # forbidden version
    f"00-{TRACE}-{PARENT}-01-extra",                              # version 00 is 55 chars
    "garbage",
])
def test_gateway_starts_a_trace_without_a_valid_traceparent(kafka, make_gateway, header):
    gw = make_gateway(kafka.bootstrap)
    post_push(gw, "d-new", traceparent=header, tracestate=TRACESTATE)
    h = by_id(kafka, 1)["d-new"]
    trace, _, flags = parse_tp(h["ce_traceparent"])
    assert trace != TRACE and flags == "01"
    assert "ce_tracestate" not in h  # only with a valid traceparent
    assert published(gw, "d-new")["trace_id"] == trace


def test_future_version_and_bad_tracestate(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap)
    # A higher version: parsed by the version 00 layout, written back as 00.
    post_push(gw, "d-future", traceparent=f"cc-{TRACE}-{PARENT}-01-more-fields",
              tracestate="a=" + "x" * 600)
    post_push(gw, "d-again", traceparent=TRACEPARENT, tracestate="Upper=1")
    got = by_id(kafka, 2)
    for d in ("d-future", "d-again"):
        assert parse_tp(got[d]["ce_traceparent"])[0] == TRACE
        assert "ce_tracestate" not in got[d]  # over 512 characters / an invalid key
    # A request without a traceparent gets a trace of its own each time.
    post_push(gw, "d-x1")
    post_push(gw, "d-x2")
    got = by_id(kafka, 4)
    assert parse_tp(got["d-x1"]["ce_traceparent"])[0] != parse_tp(got["d-x2"]["ce_traceparent"])[0]


def test_cloudevents_receiver_keeps_the_events_own_context(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap)
    own = f"00-{'ab' * 16}-{'cd' * 8}-00"
    base = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json",
            "ce-specversion": "1.0", "ce-source": "/e2e", "ce-type": "dev.hookbus.git.push",
            "ce-repo": "github.com/acme/app", "ce-partitionkey": "github.com/acme/app",
            "traceparent": TRACEPARENT}
    body = json.dumps({"repository": {"id": "github.com/acme/app"}}).encode()
    r = gw.post("/webhooks/ce", body, dict(base, **{"ce-id": "ce-own", "ce-traceparent": own,
                                                    "ce-tracestate": "vendor=1"}))
    assert r.status_code == 202, r.text
    r = gw.post("/webhooks/ce", body, dict(base, **{"ce-id": "ce-bad", "ce-traceparent": "00-x"}))
    assert r.status_code == 202, r.text
    got = by_id(kafka, 2)
    assert got["ce-own"]["ce_traceparent"] == own
    assert got["ce-own"]["ce_tracestate"] == "vendor=1"
    trace, span, _ = parse_tp(got["ce-bad"]["ce_traceparent"])  # replaced by the gateway's
    assert trace == TRACE and span != PARENT


class Recorder:
    """An HTTP server that records the headers of every POST and answers 200."""

    def __init__(self):
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


EXEC_SCRIPT = """#!/bin/sh
printf '%s\\n%s\\n' "$TRACEPARENT" "$TRACESTATE" > "$OUT_DIR/trace.tmp"
mv "$OUT_DIR/trace.tmp" "$OUT_DIR/trace"
"""

CONSUMER = """
kafka:
  brokers: {brokers}
  group: {group}
  topics: [hookbus.git]
  properties: {{auto.offset.reset: earliest}}
admin_listen: 127.0.0.1:0
retry: {{max_attempts: 2, initial_backoff: 50ms, max_backoff: 100ms}}
{extra}
"""


@pytest.fixture
def recorder():
    r = Recorder()
    yield r
    r.stop()


def test_http_and_exec_actions_are_child_spans(kafka, make_gateway, recorder, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    script = tmp_path / "act.sh"
    script.write_text(EXEC_SCRIPT)
    script.chmod(0o755)
    http = ConsumerProc(tmp_path, "hookbus-http",
                        CONSUMER.format(brokers=kafka.bootstrap, group="trace-http",
                                        extra=f"url: {recorder.url}\n"), name="http")
    ex = ConsumerProc(tmp_path, "hookbus-exec",
                      CONSUMER.format(brokers=kafka.bootstrap, group="trace-exec",
                                      extra=f"command: [{script}]\ntimeout: 30s\n"),
                      name="exec", env={"OUT_DIR": str(out), "TRACEPARENT": "inherited-junk"})
    try:
        gw = make_gateway(kafka.bootstrap)
        post_push(gw, "d-chain", traceparent=TRACEPARENT, tracestate=TRACESTATE)
        gw_span = parse_tp(by_id(kafka, 1)["d-chain"]["ce_traceparent"])[1]

        wait_for(lambda: recorder.requests, timeout=20, what="hookbus-http's POST")
        h = recorder.requests[0]
        trace, span, flags = parse_tp(h["traceparent"])
        assert (trace, flags) == (TRACE, "01")
        assert span not in (gw_span, PARENT)  # its own span, child of the gateway's
        assert h["tracestate"] == TRACESTATE
        assert h["ce-traceparent"].split("-")[2] == gw_span  # the event's context, unchanged
        rec = http.wait_log("event forwarded")
        assert rec["trace_id"] == TRACE

        wait_for(lambda: (out / "trace").exists(), timeout=20, what="the exec command")
        tp, state = (out / "trace").read_text().split("\n")[:2]
        trace, span, _ = parse_tp(tp)
        assert trace == TRACE and span not in (gw_span, PARENT)
        assert state == TRACESTATE
        assert ex.wait_log("command finished")["trace_id"] == TRACE
    finally:
        http.stop()
        ex.stop()


def test_kargo_patch_carries_traceparent(kafka, make_gateway, tmp_path):
    kube = FakeKube(tmp_path, WAREHOUSES)
    kc = tmp_path / "kubeconfig"
    write_kubeconfig(kc, kube.url)
    kargo = None
    try:
        kargo = Kargo(tmp_path, kafka.bootstrap, kc, debounce="100ms")
        gw = make_gateway(kafka.bootstrap)
        post_push(gw, "d-kargo", traceparent=TRACEPARENT)
        gw_span = parse_tp(by_id(kafka, 1)["d-kargo"]["ce_traceparent"])[1]
        patches = wait_for(lambda: [p for p in kube.patches() if p["refresh"]], timeout=20,
                           what="a Warehouse PATCH")
        for p in patches:
            trace, span, _ = parse_tp(p["traceparent"])
            assert trace == TRACE and span not in (gw_span, PARENT)

        def refreshed_line():
            return next((r for r in kargo.lines() if r.get("msg") == "warehouses refreshed"), None)
        assert wait_for(refreshed_line, timeout=20, what="'warehouses refreshed'")["trace_id"] == TRACE
    finally:
        if kargo:
            kargo.stop()
        kube.stop()


def test_image_updater_post_carries_traceparent(kafka, tmp_path):
    fake = FakeImageUpdater("--secret", IU_SECRET)
    iu = None
    try:
        iu = ImageUpdaterConsumer(tmp_path, kafka.bootstrap, fake.base + "/webhook")
        traced = dict(image_event("iu-1", "ghcr.io/acme/app", "v1"), traceparent=TRACEPARENT,
                      tracestate=TRACESTATE)
        bare = image_event("iu-2", "ghcr.io/acme/other", "v2")
        produce_image(kafka, [traced, bare])
        wait_for(lambda: len(fake.accepted()) >= 2, timeout=20, what="two requests")
        got = {a["event"]["id"]: {k.lower(): v for k, v in a["headers"].items()}
               for a in fake.accepted()}
        trace, span, _ = parse_tp(got["iu-1"]["traceparent"])
        assert trace == TRACE and span != PARENT
        assert got["iu-1"]["tracestate"] == TRACESTATE
        trace2, _, _ = parse_tp(got["iu-2"]["traceparent"])  # no context: a new trace
        assert trace2 != TRACE and "tracestate" not in got["iu-2"]

        def notified():
            recs = [r for r in iu.lines() if r.get("msg") == "image updater notified"]
            return recs if len(recs) >= 2 else None
        ids = {r["trace_id"] for r in wait_for(notified, timeout=20, what="two log lines")}
        assert ids == {TRACE, trace2}
    finally:
        if iu:
            iu.stop()
        fake.stop()


def test_flux_patch_carries_traceparent(kafka, make_gateway, tmp_path):
    """The shared Kubernetes client (lib/kube_consumer.c) of hookbus-flux and hookbus-argocd."""
    kube = KubeFake(tmp_path, FLUX_OBJECTS)
    kc = tmp_path / "kubeconfig-flux"
    write_kube_config(kc, kube.url)
    flux = None
    try:
        flux = KubeConsumer(tmp_path, "hookbus-flux", f"""
kafka:
  brokers: {kafka.bootstrap}
  group: trace-flux
  topics: [hookbus.git]
  properties: {{auto.offset.reset: earliest}}
debounce: 100ms
admin_listen: 127.0.0.1:0
flux:
  kubeconfig: {kc}
""")
        gw = make_gateway(kafka.bootstrap, extra=FLUX_RECEIVERS)
        headers = {"Content-Type": "application/json", "X-Gitlab-Event": "Push Hook",
                   "X-Gitlab-Event-UUID": "trace-gl-1", "X-Gitlab-Token": GITLAB_SECRET,
                   "traceparent": TRACEPARENT}
        r = gw.post("/webhooks/acme-gitlab", fixture_bytes("gitlab/push.json"), headers)
        assert r.status_code == 202, r.text
        patches = wait_for(lambda: kube.patches(), timeout=20, what="a Flux source PATCH")
        for p in patches:
            trace, span, _ = parse_tp(p["traceparent"])
            assert trace == TRACE and span != PARENT

        def refreshed_line():
            return next((r for r in flux.lines() if r.get("msg") == "refreshed"), None)
        assert wait_for(refreshed_line, timeout=20, what="'refreshed'")["trace_id"] == TRACE
    finally:
        if flux:
            flux.stop()
        kube.stop()
