"""Generic and cloudevents receivers, formats, health, metrics, failures, TLS,
the command line, and hookbus-tail reading what the gateway wrote."""
import hashlib
import json
import subprocess

import pytest
import requests
import urllib3

from conftest import (BASE_CONFIG, BIN, GITHUB_SECRET, ROOT, TOKEN, fixture_bytes,
                      github_post, headers_of, wait_for)

urllib3.disable_warnings()


def test_generic_ref_with_bearer_basic_and_header_tokens(kafka, gateway):
    body = json.dumps({"ref": "refs/tags/v3.1.0",
                       "repository": "git@github.com:Acme/Lib.git"}).encode()
    r = gateway.post("/webhooks/gen", body, {"Content-Type": "application/json",
                                            "Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 202, r.text
    r = gateway.post("/webhooks/gen", body, {"Content-Type": "application/json"},
                     auth=("anyone", TOKEN))
    assert r.status_code == 202
    r = gateway.post("/webhooks/gen", body, {"Content-Type": "application/json",
                                            "Authorization": "Bearer nope"})
    assert r.status_code == 401
    r = gateway.post("/webhooks/gen-fixed", json.dumps({"ref": "main"}).encode(),
                     {"Content-Type": "application/json", "X-Api-Key": TOKEN})
    assert r.status_code == 202
    msgs = kafka.read("hookbus.other", 3)
    hs = [headers_of(m) for m in msgs]
    assert [h["ce_type"] for h in hs] == ["dev.hookbus.ref.requested"] * 3
    by_repo = {h["ce_repo"]: (h, json.loads(m.value())) for h, m in zip(hs, msgs)}
    h, d = by_repo["github.com/acme/lib"]
    assert h["ce_tag"] == "v3.1.0" and d["kind"] == "other" and d["provider"] == "generic"
    # Without a delivery id the id is the hex SHA-256 of receiver name + body.
    assert h["ce_id"] == hashlib.sha256(b"gen" + body).hexdigest()
    h, d = by_repo["gitlab.example.com/team/service"]
    assert d["branch"] == "main" and h["ce_ref"] == "refs/heads/main"


def test_key_route_authenticates_senders_that_cannot_sign(kafka, gateway):
    key = hashlib.sha256(("gen" + TOKEN).encode()).hexdigest()
    body = json.dumps({"ref": "main", "repository": "https://github.com/acme/lib"}).encode()
    r = gateway.post(f"/webhooks/gen/{key}", body, {"Content-Type": "application/json"})
    assert r.status_code == 202, r.text
    r = gateway.post(f"/webhooks/gen/{'0' * 64}", body, {"Content-Type": "application/json"})
    assert r.status_code == 401
    # The key route works for signing senders too.
    gh_key = hashlib.sha256(("acme-github" + GITHUB_SECRET).encode()).hexdigest()
    r = gateway.post(f"/webhooks/acme-github/{gh_key}", fixture_bytes("github/push.json"),
                     {"Content-Type": "application/json", "X-GitHub-Event": "push"})
    assert r.status_code == 202


def test_generic_kargo_promotion_fans_out(kafka, gateway):
    body = json.dumps({"freight": {"commits": [
        {"repoURL": "https://github.com/acme/a.git", "tag": "v1.0.0", "id": "a" * 40},
        {"repoURL": "https://github.com/acme/b.git", "tag": "v2.0.0", "id": "b" * 40}]}}).encode()
    r = gateway.post("/webhooks/gen", body, {"Content-Type": "application/json",
                                            "Authorization": TOKEN, "X-Request-Id": "req-9"})
    assert r.status_code == 202
    assert r.json()["ids"] == ["req-9/1", "req-9/2"]


def test_generic_unrecognized_body_is_400(gateway):
    r = gateway.post("/webhooks/gen", b'{"hello": 1}', {"Content-Type": "application/json",
                                                       "Authorization": TOKEN})
    assert r.status_code == 400


def test_cloudevents_binary_and_structured_pass_through(kafka, gateway):
    r = gateway.post("/webhooks/ce", b'{"x": 1}', {
        "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json",
        "ce-specversion": "1.0", "ce-id": "ev-1", "ce-source": "/my/source",
        "ce-type": "com.example.built", "ce-repo": "github.com/acme/app",
        "ce-comment": "caf%C3%A9"})
    assert r.status_code == 202, r.text
    ev = {"specversion": "1.0", "id": "ev-2", "source": "/my/source",
          "type": "dev.hookbus.image.push", "sequence": 7, "data": {"k": "v"}}
    r = gateway.post("/webhooks/ce", json.dumps(ev).encode(),
                     {"Authorization": TOKEN, "Content-Type": "application/cloudevents+json"})
    assert r.status_code == 202, r.text
    [m1] = kafka.read("hookbus.other", 1)
    h = headers_of(m1)
    assert h["ce_id"] == "ev-1" and h["ce_type"] == "com.example.built"
    assert h["ce_receiver"] == "ce" and h["ce_provider"] == "cloudevents"
    assert h["ce_comment"] == "café"
    assert m1.key() == b"github.com/acme/app"
    assert json.loads(m1.value()) == {"x": 1}
    [m2] = kafka.read("hookbus.image", 1)
    h2 = headers_of(m2)
    assert h2["ce_id"] == "ev-2" and h2["ce_sequence"] == "7"
    assert json.loads(m2.value()) == {"k": "v"}
    # Invalid events are refused.
    r = gateway.post("/webhooks/ce", b'{"specversion": "1.0", "id": "x"}',
                     {"Authorization": TOKEN, "Content-Type": "application/cloudevents+json"})
    assert r.status_code == 400
    r = gateway.post("/webhooks/ce", b"{}", {"Authorization": TOKEN,
                                             "Content-Type": "application/json"})
    assert r.status_code == 415


def test_structured_format(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, fmt="structured")
    assert github_post(gw, "push", fixture_bytes("github/push.json")).status_code == 202
    [m] = kafka.read("hookbus.git", 1)
    assert headers_of(m)["content-type"].startswith("application/cloudevents+json")
    ev = json.loads(m.value())
    assert ev["specversion"] == "1.0" and ev["type"] == "dev.hookbus.git.push"
    assert ev["repo"] == "github.com/acme/app" and ev["datacontenttype"] == "application/json"
    assert ev["data"]["branch"] == "main"
    assert m.key() == b"github.com/acme/app"


def test_health_ready_metrics(kafka, gateway):
    assert requests.get(gateway.url("/healthz"), timeout=5).status_code == 200
    wait_for(lambda: requests.get(gateway.url("/readyz"), timeout=5).status_code == 200,
             what="readyz")
    github_post(gateway, "push", fixture_bytes("github/push.json"))
    github_post(gateway, "push", fixture_bytes("github/push.json"), secret="bad")
    text = requests.get(gateway.url("/metrics"), timeout=5).text
    assert 'hookbus_gateway_requests_total{receiver="acme-github",code="202"} 1' in text
    assert 'hookbus_gateway_requests_total{receiver="acme-github",code="401"} 1' in text
    assert 'hookbus_gateway_auth_failures_total{receiver="acme-github"} 1' in text
    assert 'hookbus_gateway_events_published_total{receiver="acme-github"} 1' in text
    assert "# TYPE hookbus_gateway_publish_seconds histogram" in text
    assert 'hookbus_gateway_publish_seconds_bucket{le="+Inf"} 1' in text


def test_readyz_waits_for_the_producer_id(kafka, make_gateway):
    """An idempotent producer sends nothing before the cluster gives it an id
    (InitProducerId). A broker without a block of ids answers "coordinator
    load in progress" and librdkafka asks again 500 ms later, which stalled
    the first webhooks after a start on a fresh cluster: /readyz says so
    until the id comes (librdkafka's statistics tell), then 200."""
    if kafka.real:
        pytest.skip("the mock cluster gives the broker's answers")
    # the next six InitProducerId (API key 22) answers: COORDINATOR_LOAD_IN_PROGRESS (14)
    assert kafka.command("errors 22 14 6") == "ok"
    gw = make_gateway(kafka.bootstrap)
    wait_for(lambda: "idempotent producer its id" in requests.get(gw.url("/readyz"),
                                                                  timeout=5).text,
             timeout=10, what="/readyz naming the missing producer id")
    r = requests.get(gw.url("/readyz"), timeout=5)
    assert r.status_code == 503 and r.json()["ready"] is False, r.text
    wait_for(lambda: requests.get(gw.url("/readyz"), timeout=5).status_code == 200, timeout=30,
             what="ready once the id is assigned")
    assigned = [l for l in gw.lines() if l.get("msg") == "kafka producer id assigned"]
    assert len(assigned) == 1 and assigned[0]["producer_id"] >= 0, assigned
    assert github_post(gw, "push", fixture_bytes("github/push.json")).status_code == 202


def test_readyz_names_a_producer_id_the_cluster_refuses(kafka, make_gateway):
    """A cluster that refuses the producer its id (CLUSTER_AUTHORIZATION_FAILED,
    31) never lets it send: librdkafka calls that fatal, and /readyz stays 503
    naming the state instead of routing webhooks to a gateway that can only
    fail them."""
    if kafka.real:
        pytest.skip("the mock cluster gives the broker's answers")
    assert kafka.command("errors 22 31 1") == "ok"
    gw = make_gateway(kafka.bootstrap)
    wait_for(lambda: "state FatalError" in requests.get(gw.url("/readyz"), timeout=5).text,
             timeout=10, what="/readyz naming the refused producer id")
    assert requests.get(gw.url("/readyz"), timeout=5).status_code == 503
    assert any("Cluster authorization failed" in l.get("reason", "") for l in gw.lines()
               if l.get("msg") == "kafka error")


def test_kafka_unreachable_gives_503_within_the_delivery_timeout(kafka, make_gateway):
    kafka.stop()
    gw = make_gateway(kafka.bootstrap, timeout=1500)
    r = github_post(gw, "push", fixture_bytes("github/push.json"))
    assert r.status_code == 503
    assert r.headers["Retry-After"]
    assert "not durable" in r.json()["error"]
    assert requests.get(gw.url("/readyz"), timeout=5).status_code == 503


def test_tls_with_a_self_signed_certificate(kafka, make_gateway):
    cfg = f"""
listen: 127.0.0.1:0
tls:
  enabled: true
kafka:
  brokers: {kafka.bootstrap}
receivers:
  - name: acme-github
    type: github
    secrets: [env:E2E_GITHUB_SECRET]
"""
    gw = make_gateway(kafka.bootstrap, config=cfg)
    assert gw.base.startswith("https://")
    r = github_post(gw, "push", fixture_bytes("github/push.json"))
    assert r.status_code == 202
    assert any("SELF-SIGNED" in l.get("msg", "") for l in gw.lines())
    # Plain HTTP to the TLS port fails.
    try:
        requests.post(gw.base.replace("https", "http") + "/webhooks/acme-github", data=b"{}",
                      timeout=5)
        plain_ok = True
    except requests.exceptions.RequestException:
        plain_ok = False
    assert not plain_ok


def run_gateway_cli(*args, env=None):
    return subprocess.run([str(BIN / "hookbus-gateway"), *args], capture_output=True, text=True,
                          timeout=30, env=env)


def test_urls_and_check_config(tmp_path):
    cfg = tmp_path / "g.yaml"
    cfg.write_text("""public_url: https://hooks.example.com/
receivers:
  - name: hub
    type: generic
    secrets: [literal:s3cret]
""")
    r = run_gateway_cli("--config", str(cfg), "urls")
    assert r.returncode == 0, r.stderr
    key = hashlib.sha256(b"hubs3cret").hexdigest()
    assert r.stdout.splitlines() == [
        "hub\tgeneric\thttps://hooks.example.com/webhooks/hub",
        f"hub\tkey-route\thttps://hooks.example.com/webhooks/hub/{key}"]
    assert run_gateway_cli("--config", str(cfg), "--check-config").returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("listen: 127.0.0.1:0\nkafka:\n  brokerz: x\n")
    r = run_gateway_cli("--config", str(bad), "--check-config")
    assert r.returncode == 2
    assert f"{bad}:3: unknown key 'kafka.brokerz'" in r.stderr
    bad.write_text("receivers:\n  - name: x\n    type: github\n")
    r = run_gateway_cli("--config", str(bad), "--check-config")
    assert r.returncode == 2 and "no secrets" in r.stderr and ":2:" in r.stderr
    bad.write_text("limits:\n  max_body_bytes: lots\n")
    r = run_gateway_cli("--config", str(bad), "--check-config")
    assert r.returncode == 2 and "limits.max_body_bytes" in r.stderr and ":2:" in r.stderr
    bad.write_text("receivers:\n  - name: x\n    type: github\n    secrets: [env:E2E_NOPE_UNSET]\n")
    r = run_gateway_cli("--config", str(bad), "--check-config")
    assert r.returncode == 2 and "E2E_NOPE_UNSET" in r.stderr
    # Environment overrides beat the file.
    import os
    env = dict(os.environ, HOOKBUS_PUBLIC_URL="https://other.example.com")
    r = run_gateway_cli("--config", str(cfg), "urls", env=env)
    assert "https://other.example.com/webhooks/hub" in r.stdout
    for config in (ROOT / "config").glob("*.yaml"):
        if "gateway" in config.name or config.name == "dev.yaml":
            r = run_gateway_cli("--config", str(config), "--check-config",
                                env=dict(os.environ, GITHUB_WEBHOOK_SECRET="x",
                                         GENERIC_WEBHOOK_TOKEN="y"))
            assert r.returncode == 0, (config, r.stderr)


def test_tail_prints_what_the_gateway_published(kafka, gateway):
    for i in range(3):
        assert github_post(gateway, "push", fixture_bytes("github/push.json"),
                           f"t-{i}").status_code == 202
    r = subprocess.run([str(BIN / "hookbus-tail"), "--brokers", kafka.bootstrap,
                        "--from-beginning", "--count", "3", "--output", "json",
                        "--idle-exit", "20s"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    events = [json.loads(l) for l in r.stdout.splitlines()]
    assert sorted(e["id"] for e in events) == ["t-0", "t-1", "t-2"]
    assert all(e["data"]["repository"]["id"] == "github.com/acme/app" for e in events)
    r = subprocess.run([str(BIN / "hookbus-tail"), "--brokers", kafka.bootstrap,
                        "--from-beginning", "--count", "1", "--filter-sql", "id = 't-1'",
                        "--idle-exit", "20s"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    assert "dev.hookbus.git.push" in r.stdout and "id=t-1" in r.stdout
    assert len(r.stdout.splitlines()) == 1


def test_tls_with_configured_certificate_files(kafka, make_gateway, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-subj", "/CN=127.0.0.1", "-days", "1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    cfg = f"""
listen: 127.0.0.1:0
tls:
  enabled: true
  cert_file: {cert}
  key_file: {key}
  min_version: "1.3"
kafka:
  brokers: {kafka.bootstrap}
receivers:
  - name: acme-github
    type: github
    secrets: [env:E2E_GITHUB_SECRET]
"""
    gw = make_gateway(kafka.bootstrap, config=cfg)
    body = fixture_bytes("github/push.json")
    from conftest import sign
    r = requests.post(gw.url("/webhooks/acme-github"), data=body, timeout=10, verify=str(cert),
                      headers={"Content-Type": "application/json", "X-GitHub-Event": "push",
                               "X-GitHub-Delivery": "tls-1",
                               "X-Hub-Signature-256": sign(GITHUB_SECRET, body)})
    assert r.status_code == 202
    assert not any("SELF-SIGNED" in l.get("msg", "") for l in gw.lines())


def test_requests_during_startup_are_answered(kafka, make_gateway):
    """A sender (or a probe) hammering the port while the gateway starts: every
    connection that gets an answer gets a real one, and the gateway neither
    crashes nor leaks (its exit status and sanitizer output are checked when
    the fixture stops it). The listening socket is open before the server's
    state is complete; a request in that window once read a NULL config."""
    import socket
    import threading
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    body = json.dumps({"ref": "main", "repository": "https://github.com/acme/lib"}).encode()
    request = (f"POST /webhooks/gen HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               f"Authorization: Bearer {TOKEN}\r\nContent-Length: {len(body)}\r\n"
               f"Connection: close\r\n\r\n").encode() + body
    statuses, stop = [], threading.Event()

    def hammer():
        while not stop.is_set() and len(statuses) < 20:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
                    c.sendall(request)
                    reply = b""
                    while b"\r\n" not in reply:
                        chunk = c.recv(4096)
                        if not chunk:
                            break
                        reply += chunk
                    if reply:
                        statuses.append(reply.split(b" ", 2)[1])
            except OSError:
                pass  # not listening yet

    t = threading.Thread(target=hammer)
    t.start()
    try:
        config = BASE_CONFIG.format(brokers=kafka.bootstrap, format="binary", timeout=5000,
                                    max_body=2097152, token=TOKEN).replace(
            "listen: 127.0.0.1:0", f"listen: 127.0.0.1:{port}\nadmin_listen: 127.0.0.1:0")
        gw = make_gateway(kafka.bootstrap, config=config)
        wait_for(lambda: len(statuses) >= 20 or None, timeout=60, what="20 answers")
    finally:
        stop.set()
        t.join(30)
    assert gw.proc.poll() is None, "the gateway died during startup"
    # 202 once Kafka is reachable; 503 only while it is not yet.
    assert set(statuses) <= {b"202", b"503"}, statuses
    assert b"202" in statuses, statuses


def test_tail_json_is_one_line_per_event_with_pretty_data(kafka):
    """A structured event whose JSON data is pretty-printed (as the CloudEvents
    conformance Kafka scenarios are) still prints as one JSON line (issue 17)."""
    from confluent_kafka import Producer
    value = ('{"specversion": "1.0", "id": "pretty-1", "source": "/s", "type": "t.x",\n'
             ' "datacontenttype": "application/json",\n'
             ' "data": {\n   "ref": "refs/heads/main",\n   "list": [1,\r\n 2]\n }\n}')
    p = Producer({"bootstrap.servers": kafka.bootstrap})
    p.produce("hookbus.other", value=value.encode(), key=b"k",
              headers=[("content-type", b"application/cloudevents+json")])
    assert p.flush(10) == 0
    r = subprocess.run([str(BIN / "hookbus-tail"), "--brokers", kafka.bootstrap,
                        "--topic", "hookbus.other", "--from-beginning", "--count", "1",
                        "--output", "json", "--idle-exit", "20s"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1, r.stdout
    ev = json.loads(lines[0])
    assert ev["id"] == "pretty-1" and ev["data"] == {"ref": "refs/heads/main", "list": [1, 2]}
