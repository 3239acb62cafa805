"""hookbus-image-updater end to end: registry webhooks through a real gateway
and Kafka end as requests on a fake Argo CD Image Updater webhook server
(tests/tools/fake-image-updater), which validates them as the real one does."""
import hashlib
import json
import os
import socket
import subprocess
import uuid

import pytest
import requests
from confluent_kafka import Producer

from conftest import (BIN, FIXTURES, ROOT, Gateway, fixture_bytes, github_post, headers_of,
                      wait_for)

FAKE = ROOT / "tests" / "tools" / "fake-image-updater"
SECRET = "iu-cloudevents-s3cret"
DLQ = "hookbus.dlq"

HUB_SECRET, QUAY_SECRET, HARBOR_SECRET, ECR_SECRET = "hub-s", "quay-s", "harbor-s", "ecr-s"
RECEIVERS = f"""  - name: hub
    type: dockerhub
    secrets: [literal:{HUB_SECRET}]
  - name: quay
    type: quay
    secrets: [literal:{QUAY_SECRET}]
  - name: harbor
    type: harbor
    secrets: [literal:{HARBOR_SECRET}]
"""
ECR_RECEIVER = f"""  - name: ecr
    type: ecr
    secrets: [literal:{ECR_SECRET}]
"""
JSON = {"Content-Type": "application/json"}
HARBOR_DIGEST = "sha256:76525f02955aec223342400a080c73024c995c9db1ba2eabf7505cf3bdf3f1f0"
ECR_HOST = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
ECR_CE_HOST = "210987654321.dkr.ecr.eu-central-1.amazonaws.com"
ECR_DIGEST = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234abcd"


def key(name, secret):
    return hashlib.sha256((name + secret).encode()).hexdigest()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeImageUpdater:
    def __init__(self, *args, scheme="http", verify=False):
        self.proc = subprocess.Popen([str(FAKE), *args], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        assert line and line[0] == "listening", "fake-image-updater did not start"
        self.base = f"{scheme}://127.0.0.1:{line[1]}"
        self.verify = verify

    def get(self, path):
        return requests.get(self.base + path, timeout=5, verify=self.verify).json()

    def accepted(self):
        return self.get("/_fake/requests")

    def log(self):
        return self.get("/_fake/log")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        assert self.proc.returncode == 0


class ImageUpdaterConsumer(Gateway):
    """hookbus-image-updater with a config written from the arguments (the process
    handling of the gateway's test class: lines(), stop())."""

    def __init__(self, tmp_path, brokers, url, extra="", env=None, retry="6"):
        self.admin = free_port()
        self.config_path = tmp_path / "image-updater.yaml"
        self.config_path.write_text(f"""
kafka:
  brokers: {brokers}
  group: iu-{uuid.uuid4().hex[:8]}
  topics: [hookbus.image]
dedup_window: 10m
debounce: 300ms
retry: {{max_attempts: {retry}, initial_backoff: 100ms, max_backoff: 400ms}}
dead_letter_topic: {DLQ}
admin_listen: 127.0.0.1:{self.admin}
image_updater:
  url: {url}
  secret: env:E2E_IU_SECRET
  timeout: 5s
{extra}""")
        self.log_path = tmp_path / "image-updater.log"
        self.log = open(self.log_path, "w")
        e = dict(os.environ)
        e.update({"E2E_IU_SECRET": SECRET})
        e.update(env or {})
        self.proc = subprocess.Popen(
            [str(BIN / "hookbus-image-updater"), "--config", str(self.config_path),
             "--log-format", "json"], stdout=self.log, stderr=subprocess.STDOUT, env=e)
        wait_for(self._ready, timeout=30, what="hookbus-image-updater to be ready")

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("hookbus-image-updater exited: " + self.log_path.read_text())
        try:
            return requests.get(f"http://127.0.0.1:{self.admin}/readyz", timeout=1).status_code \
                == 200
        except requests.RequestException:
            return False

    def stop(self):
        """Gateway.stop's checks: exit 0 on SIGTERM, no sanitizer report."""
        super().stop()
        text = self.log_path.read_text(errors="replace")
        # The secret never reaches the logs.
        assert SECRET not in text


@pytest.fixture
def started():
    """Processes a test started, stopped (newest first) when it ends."""
    procs = []
    yield procs
    for p in reversed(procs):
        p.stop()


@pytest.fixture
def fakes(started):
    def start(*args, **kw):
        started.append(FakeImageUpdater(*args, **kw))
        return started[-1]
    return start


@pytest.fixture
def consumers(tmp_path, started):
    def start(*args, **kw):
        d = tmp_path / f"iu{len(started)}"
        d.mkdir()
        started.append(ImageUpdaterConsumer(d, *args, **kw))
        return started[-1]
    return start


def produce(kafka, events):
    """Produces normalized image events (binary mode) straight to hookbus.image."""
    p = Producer({"bootstrap.servers": kafka.bootstrap})
    for ev in events:
        headers = [("ce_specversion", "1.0"), ("content-type", "application/json")]
        headers += [("ce_" + k, v) for k, v in ev.items() if k != "data"]
        p.produce("hookbus.image", key=ev["repo"], value=json.dumps(ev.get("data", {})),
                  headers=headers)
    assert p.flush(10) == 0


def image_event(eid, repo, tag, digest=None, source="/receivers/test"):
    ev = {"id": eid, "source": source, "type": "dev.hookbus.image.push", "repo": repo,
          "partitionkey": repo, "subject": f"{repo}:{tag}", "tag": tag,
          "time": "2026-11-23T16:09:55.000Z",
          "data": {"kind": "image", "tag": tag, "repository": {"id": repo, "urls": [repo]}}}
    if digest:
        ev["digest"] = digest
    return ev


def triples(accepted):
    return sorted((a["registry"], a["repository"], a["tag"]) for a in accepted)


def test_registry_webhooks_reach_image_updater(kafka, make_gateway, fakes, consumers):
    ecr_in_gateway = (FIXTURES / "ecr" / "eventbridge-push.json").exists()
    gw = make_gateway(kafka.bootstrap, extra=RECEIVERS + (ECR_RECEIVER if ecr_in_gateway else ""))
    fake = fakes("--secret", SECRET)
    consumers(kafka.bootstrap, fake.base + "/webhook")

    hub = key("hub", HUB_SECRET)
    for body in ("dockerhub/push.json", "dockerhub/push-official.json"):
        assert gw.post(f"/webhooks/hub/{hub}", fixture_bytes(body), JSON).status_code == 202
    r = gw.post(f"/webhooks/quay/{key('quay', QUAY_SECRET)}", fixture_bytes("quay/repo-push.json"),
                JSON)
    assert r.status_code == 202, r.text
    r = gw.post("/webhooks/harbor", fixture_bytes("harbor/push-artifact.json"),
                {**JSON, "Authorization": HARBOR_SECRET})
    assert r.status_code == 202, r.text
    r = github_post(gw, "package", fixture_bytes("github/package-published.json"), "p1")
    assert r.status_code == 202, r.text
    # A chart push is not sent (charts: false).
    r = github_post(gw, "registry_package", fixture_bytes("github/registry-package-chart.json"),
                    "p2")
    assert r.status_code == 202, r.text
    if ecr_in_gateway:
        # EventBridge's raw event, and the CloudEvent Image Updater's docs have
        # EventBridge send: both reach Image Updater the same way.
        for body in ("ecr/eventbridge-push.json", "ecr/cloudevents-push.json"):
            r = gw.post("/webhooks/ecr", fixture_bytes(body),
                        {**JSON, "Authorization": ECR_SECRET})
            assert r.status_code == 202, r.text
    else:
        # The ecr receiver is not in this build: the event it would publish.
        produce(kafka, [image_event("13cde686-328b-6117-af20-0e5566167482",
                                    ECR_HOST + "/team/orders", "v4.2.0", ECR_DIGEST,
                                    "/receivers/ecr"),
                        image_event("4c8e3a1f-2b6d-9e0a-7c5b-1d3f5e7a9b0c",
                                    ECR_CE_HOST + "/shop/cart", "2026.11.23-1", None,
                                    "/receivers/ecr")])

    want = sorted([
        ("docker.io", "acme/app", "v2.0.1"),
        ("docker.io", "nginx", "1.27-alpine"),  # docker.io/library/nginx, as Image Updater names it
        ("quay.io", "acme/app", "v1"), ("quay.io", "acme/app", "latest"),
        ("harbor.example.com", "acme/app", "v1"), ("harbor.example.com", "acme/app", "latest"),
        ("ghcr.io", "acme/app", "v1.4.0"),
        (ECR_HOST, "team/orders", "v4.2.0"),
        (ECR_CE_HOST, "shop/cart", "2026.11.23-1"),
    ])
    wait_for(lambda: len(fake.accepted()) >= len(want), timeout=30, what="every request")
    got = fake.accepted()
    assert triples(got) == want
    assert all(e["status"] == 200 for e in fake.log())
    by = {(a["registry"], a["repository"], a["tag"]): a for a in got}
    assert by[("ghcr.io", "acme/app", "v1.4.0")]["digest"] == "sha256:" + "ab" * 32
    assert by[("harbor.example.com", "acme/app", "latest")]["digest"] == HARBOR_DIGEST
    assert by[(ECR_HOST, "team/orders", "v4.2.0")]["digest"] == ECR_DIGEST
    for a in got:
        assert a["headers"]["X-Webhook-Secret"] == SECRET
        assert a["headers"]["Content-Type"] == "application/cloudevents+json"
        ev = a["event"]
        assert ev["specversion"] == "1.0" and "image" in ev["type"]
        assert ev["subject"] == f"{a['repository']}:{a['tag']}"
        assert ev["data"]["registry"] == a["registry"]


def test_debounce_sends_one_request_per_tag(kafka, fakes, consumers):
    fake = fakes("--secret", SECRET)
    consumers(kafka.bootstrap, fake.base + "/webhook",
              extra="  registry_aliases: {index.docker.io: registry-1.docker.io}\n"
                    "  strip_library_prefix: false\n")
    repo = "docker.io/library/nginx"
    produce(kafka, [image_event("a", repo, "1.27"), image_event("b", repo, "1.27"),
                    image_event("c", repo, "1.28"), image_event("d", "ghcr.io/acme/app", "v1")])
    wait_for(lambda: len(fake.accepted()) >= 3, timeout=20, what="three requests")
    got = fake.accepted()
    nginx = [a for a in got if a["repository"] == "library/nginx"]
    # One request per distinct tag, the newest event of each, the newest tag last.
    assert [(a["registry"], a["tag"], a["event"]["id"]) for a in nginx] == [
        ("registry-1.docker.io", "1.27", "b"), ("registry-1.docker.io", "1.28", "c")]
    assert triples([a for a in got if a not in nginx]) == [("ghcr.io", "acme/app", "v1")]
    assert len(got) == 3


def test_unavailable_image_updater_is_retried(kafka, fakes, consumers):
    fake = fakes("--secret", SECRET, "--fail", "2", "--fail-status", "503")
    c = consumers(kafka.bootstrap, fake.base + "/webhook")
    produce(kafka, [image_event("r1", "ghcr.io/acme/app", "v2")])
    wait_for(lambda: fake.accepted(), timeout=20, what="the request after two 503s")
    assert [e["status"] for e in fake.log()] == [503, 503, 200]
    assert triples(fake.accepted()) == [("ghcr.io", "acme/app", "v2")]
    failed = [l for l in c.lines() if l.get("msg") == "image updater request failed"]
    assert len(failed) == 2 and all(l["status"] == 503 for l in failed)
    metrics = requests.get(f"http://127.0.0.1:{c.admin}/metrics", timeout=5).text
    assert 'hookbus_image_updater_requests_total{outcome="retry"} 2' in metrics
    assert 'hookbus_image_updater_requests_total{outcome="ok"} 1' in metrics
    # Nothing was dead-lettered.
    assert kafka.read(DLQ, 1, timeout=1) == []


def test_wrong_secret_is_dead_lettered(kafka, fakes, consumers):
    kafka.command(f"topic {DLQ} 3")
    fake = fakes("--secret", "not-" + SECRET)
    consumers(kafka.bootstrap, fake.base + "/webhook")
    produce(kafka, [image_event("w1", "quay.io/acme/app", "v3")])
    msgs = kafka.read(DLQ, 1, timeout=20)
    assert len(msgs) == 1
    h = headers_of(msgs[0])
    assert "invalid webhook secret" in h["hookbus_error"] and "400" in h["hookbus_error"]
    # Permanent: asked once, never retried.
    assert fake.log() == [{"status": 400, "text": "invalid webhook secret"}]
    assert fake.accepted() == []


@pytest.fixture
def tls_cert(tmp_path):
    cert, key_ = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=argocd-image-updater", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key_), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key_


def test_tls_self_signed_image_updater(kafka, fakes, consumers, tls_cert):
    kafka.command(f"topic {DLQ} 3")
    cert, key_ = tls_cert
    fake = fakes("--secret", SECRET, "--tls-cert", str(cert), "--tls-key", str(key_),
                 scheme="https", verify=str(cert))
    # The CA file verifies Image Updater's certificate.
    consumers(kafka.bootstrap, fake.base + "/webhook", extra=f"  tls_ca_file: {cert}\n")
    produce(kafka, [image_event("t1", "ghcr.io/acme/app", "v5")])
    wait_for(lambda: fake.accepted(), timeout=20, what="the request over TLS")
    assert triples(fake.accepted()) == [("ghcr.io", "acme/app", "v5")]
    # Without it the self-signed certificate fails verification: retried, then
    # dead-lettered with a hint.
    consumers(kafka.bootstrap, fake.base + "/webhook", retry="2")
    produce(kafka, [image_event("t2", "ghcr.io/acme/app", "v6")])
    msgs = kafka.read(DLQ, 1, timeout=20)
    assert len(msgs) == 1 and "insecure_skip_verify" in headers_of(msgs[0])["hookbus_error"]


def test_check_config(tmp_path):
    exe = str(BIN / "hookbus-image-updater")
    env = {**os.environ, "CLOUDEVENTS_WEBHOOK_SECRET": "x"}
    r = subprocess.run([exe, "--check-config", "--config", str(ROOT / "config/image-updater.yaml")],
                       env=env, capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("kafka: {brokers: x, topics: [hookbus.image]}\n"
                   "image_updater:\n  secret: env:CLOUDEVENTS_WEBHOOK_SECRET\n")
    r = subprocess.run([exe, "--check-config", "--config", str(bad)], env=env,
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and "image_updater.url" in r.stderr
    cases = {"  url: ftp://iu/webhook\n": "not an http(s) URL",
             "  url: https://iu/webhook?type=docker.io\n": "type=cloudevents",
             "  url: https://iu/webhook\n  registry_aliases: {docker.io: a, index.docker.io: b}\n":
                 "more than one alias",
             "  url: https://iu/webhook\n  registry_aliases: [a]\n": "registry_aliases",
             "  url: https://iu/webhook\n  tls_ca_file: /nonexistent/ca.pem\n": "tls_ca_file",
             "  url: https://iu/webhook\n  timeout: soon\n": "timeout",
             "  url: https://iu/webhook\n  typo: 1\n": "image_updater.typo"}
    for section, why in cases.items():
        bad.write_text("kafka: {brokers: x, topics: [hookbus.image]}\n"
                       "image_updater:\n  secret: literal:x\n" + section)
        r = subprocess.run([exe, "--check-config", "--config", str(bad)], env=env,
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 2 and why in r.stderr, (section, r.stderr)
    # The environment supplies what the file lacks (HOOKBUS_IMAGE_UPDATER_URL).
    bad.write_text("kafka: {brokers: x, topics: [hookbus.image]}\n"
                   "image_updater:\n  secret: literal:x\n")
    r = subprocess.run([exe, "--check-config", "--config", str(bad)],
                       env={**env, "HOOKBUS_IMAGE_UPDATER_URL": "https://iu:8080/webhook"},
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
