"""SIGHUP: configuration, secrets and the TLS certificate are reloaded
without dropping connections; an invalid configuration is refused and the
running one keeps serving."""
import hashlib
import signal
import ssl
import subprocess

import requests

from conftest import FIXTURES, github_post, wait_for

CONFIG = """
listen: 127.0.0.1:0
tls:
  enabled: false
kafka:
  brokers: {brokers}
receivers:
  - name: acme-github
    type: github
    secrets: [{secrets}]
"""


def push(gw, secret, delivery="d", session=None):
    body = (FIXTURES / "github" / "push.json").read_bytes()
    if session is None:
        return github_post(gw, "push", body, delivery=delivery, secret=secret)
    from conftest import sign
    return session.post(gw.url("/webhooks/acme-github"), data=body, timeout=15, verify=False,
                        headers={"Content-Type": "application/json", "X-GitHub-Event": "push",
                                 "X-GitHub-Delivery": delivery,
                                 "X-Hub-Signature-256": sign(secret, body)})


def count(gw, msg):
    return sum(1 for l in gw.lines() if l.get("msg") == msg)


def hup(gw, text, expect):
    """Writes the new config, sends SIGHUP and waits for the outcome line."""
    before = count(gw, expect)
    gw.config_path.write_text(text)
    gw.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: count(gw, expect) > before, what=expect)


def test_rotated_secret_old_and_new_both_work_then_old_is_dropped(kafka, make_gateway):
    cfg = CONFIG.format(brokers=kafka.bootstrap, secrets="literal:old-secret")
    gw = make_gateway(kafka.bootstrap, config=cfg)
    session = requests.Session()  # a keep-alive connection that lives across reloads
    assert push(gw, "old-secret", "1", session).status_code == 202
    assert push(gw, "new-secret", "2").status_code == 401
    hup(gw, CONFIG.format(brokers=kafka.bootstrap,
                          secrets="literal:new-secret, literal:old-secret"),
        "configuration reloaded")
    assert push(gw, "new-secret", "3", session).status_code == 202
    assert push(gw, "old-secret", "4", session).status_code == 202
    hup(gw, CONFIG.format(brokers=kafka.bootstrap, secrets="literal:new-secret"),
        "configuration reloaded")
    assert push(gw, "new-secret", "5", session).status_code == 202
    assert push(gw, "old-secret", "6", session).status_code == 401
    audits = [l for l in gw.lines() if l.get("audit") == "401"]
    assert len(audits) == 2 and all(a["receiver"] == "acme-github" and a["remote"] == "127.0.0.1"
                                    and a["reason"] for a in audits)
    assert "old-secret" not in gw.log_path.read_text()  # secrets never reach the log
    text = requests.get(gw.url("/metrics"), timeout=5).text
    assert 'hookbus_gateway_config_reloads_total{result="ok"} 2' in text


def test_invalid_config_is_refused_and_the_gateway_keeps_serving(kafka, make_gateway):
    cfg = CONFIG.format(brokers=kafka.bootstrap, secrets="literal:s1")
    gw = make_gateway(kafka.bootstrap, config=cfg)
    bad = cfg.replace("type: github", "type: no-such-type")
    hup(gw, bad, "reload refused: invalid configuration; the running one stays")
    line = [l for l in gw.lines() if l.get("msg", "").startswith("reload refused")][-1]
    assert "receivers[acme-github].type" in line["error"]
    assert push(gw, "s1", "a").status_code == 202
    # A secret that cannot be resolved is refused the same way.
    hup(gw, CONFIG.format(brokers=kafka.bootstrap, secrets="env:HOOKBUS_E2E_UNSET_VARIABLE"),
        "reload refused: invalid configuration; the running one stays")
    assert push(gw, "s1", "b").status_code == 202
    # Restart-only settings are reported, the rest applies.
    hup(gw, cfg.replace("listen: 127.0.0.1:0", "listen: 127.0.0.1:1"), "configuration reloaded")
    assert any(l.get("msg") == "reload: setting changed but needs a restart to apply"
               and l.get("key") == "listen" for l in gw.lines())
    assert push(gw, "s1", "c").status_code == 202


def make_cert(path, cn):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", f"/CN={cn}",
                    "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(path / f"{cn}.key"), "-out", str(path / f"{cn}.crt")],
                   check=True, capture_output=True)
    return path / f"{cn}.crt", path / f"{cn}.key"


def served_fingerprint(port):
    pem = ssl.get_server_certificate(("127.0.0.1", port))
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def test_tls_certificate_is_reloaded_on_sighup(kafka, make_gateway, tmp_path):
    crt, key = make_cert(tmp_path, "first")
    live_crt, live_key = tmp_path / "live.crt", tmp_path / "live.key"
    live_crt.write_bytes(crt.read_bytes())
    live_key.write_bytes(key.read_bytes())
    cfg = f"""
listen: 127.0.0.1:0
tls:
  enabled: true
  cert_file: {live_crt}
  key_file: {live_key}
kafka:
  brokers: {kafka.bootstrap}
receivers:
  - name: acme-github
    type: github
    secrets: [literal:s1]
"""
    gw = make_gateway(kafka.bootstrap, config=cfg)
    first = served_fingerprint(gw.port)
    session = requests.Session()
    assert push(gw, "s1", "1", session).status_code == 202
    crt2, key2 = make_cert(tmp_path, "second")
    live_crt.write_bytes(crt2.read_bytes())
    live_key.write_bytes(key2.read_bytes())
    hup(gw, cfg, "configuration reloaded")
    second = served_fingerprint(gw.port)
    assert second != first
    assert any(l.get("msg") == "TLS certificate loaded" and l.get("fingerprint_sha256") == second
               for l in gw.lines())
    # The connection opened before the reload still works.
    assert push(gw, "s1", "2", session).status_code == 202
    # A key that does not match the certificate is refused; the old one stays.
    live_key.write_bytes(key.read_bytes())
    hup(gw, cfg, "reload refused; the running configuration stays")
    assert served_fingerprint(gw.port) == second
    assert push(gw, "s1", "3").status_code == 202


def test_request_in_flight_keeps_its_configuration_across_a_reload(kafka, make_gateway,
                                                                     tmp_path):
    import threading
    cfg = CONFIG.format(brokers=kafka.bootstrap, secrets="literal:s1").replace(
        "receivers:", f"delivery_timeout_ms: 3000\nspool:\n  dir: {tmp_path / 'spool'}\n"
                      "receivers:").replace(
        f"brokers: {kafka.bootstrap}",
        f"brokers: {kafka.bootstrap}\n  properties: {{reconnect.backoff.max.ms: '500'}}")
    gw = make_gateway(kafka.bootstrap, config=cfg)
    assert kafka.command("down 1") == "ok"
    result = {}
    t = threading.Thread(target=lambda: result.update(r=push(gw, "s1", "in-flight")))
    t.start()
    # The request waits for Kafka; meanwhile its receiver disappears from the config.
    wait_for(lambda: 'hookbus_gateway_request_bytes_total{receiver="acme-github"}' in
             requests.get(gw.url("/metrics"), timeout=5).text, what="the request in flight")
    hup(gw, cfg.replace("name: acme-github", "name: renamed"), "configuration reloaded")
    t.join(20)
    assert result["r"].status_code == 202 and result["r"].json()["status"] == "spooled"
    assert push(gw, "s1", "after").status_code == 404
    assert kafka.command("up 1") == "ok"
    msgs = kafka.read("hookbus.git", 1, timeout=20)
    assert [dict(m.headers())["ce_id"].decode() for m in msgs] == ["in-flight"]


def reload_metric(gw, result):
    for line in requests.get(gw.url("/metrics"), timeout=5, verify=False).text.splitlines():
        if line.startswith(f'hookbus_gateway_config_reloads_total{{result="{result}"}} '):
            return float(line.split()[1])
    return None


def test_refused_reload_is_counted_as_refused(kafka, make_gateway):
    cfg = CONFIG.format(brokers=kafka.bootstrap, secrets="literal:s1")
    gw = make_gateway(kafka.bootstrap, config=cfg)
    assert reload_metric(gw, "refused") == 0
    hup(gw, cfg.replace("type: github", "type: no-such-type"),
        "reload refused: invalid configuration; the running one stays")
    wait_for(lambda: reload_metric(gw, "refused") == 1, what="refused reload counted")
    assert reload_metric(gw, "ok") == 0
    hup(gw, cfg, "configuration reloaded")
    assert reload_metric(gw, "ok") == 1 and reload_metric(gw, "refused") == 1


def test_generated_certificate_survives_sighup(kafka, make_gateway):
    cfg = f"""
listen: 127.0.0.1:0
tls:
  enabled: true
kafka:
  brokers: {kafka.bootstrap}
receivers:
  - name: acme-github
    type: github
    secrets: [literal:s1]
"""
    gw = make_gateway(kafka.bootstrap, config=cfg)
    pinned = served_fingerprint(gw.port)
    assert any("SELF-SIGNED" in l.get("msg", "") and l.get("fingerprint_sha256") == pinned
               for l in gw.lines())
    for _ in range(2):
        hup(gw, cfg.replace("secrets: [literal:s1]", "secrets: [literal:s2]"),
            "configuration reloaded")
        assert served_fingerprint(gw.port) == pinned
    assert push(gw, "s2", "after-reload").status_code == 202


def test_reload_to_a_new_topic_waits_for_its_metadata_then_publishes_there(kafka, make_gateway):
    """A reload that names a topic the gateway never produced to creates its
    handle at once: /readyz is 200 again only once the topic's metadata (with
    a leader) is known, and the next push lands in the new topic."""
    cfg = CONFIG.format(brokers=kafka.bootstrap, secrets="literal:s1")
    gw = make_gateway(kafka.bootstrap, config=cfg)
    wait_for(lambda: requests.get(gw.url("/readyz"), timeout=5).status_code == 200,
             what="/readyz 200 after the start")
    assert push(gw, "s1", "before").status_code == 202
    assert kafka.command("topic hookbus.git.reloaded 3") == "ok"
    hup(gw, cfg.replace("kafka:\n", "kafka:\n  topics:\n    git: hookbus.git.reloaded\n"),
        "configuration reloaded")
    wait_for(lambda: requests.get(gw.url("/readyz"), timeout=5).status_code == 200,
             what="/readyz 200 with the new topic's metadata")
    r = push(gw, "s1", "after")
    assert r.status_code == 202, r.text
    msgs = kafka.read("hookbus.git.reloaded", 1)
    assert len(msgs) == 1
    headers = dict(msgs[0].headers())
    assert headers["ce_id"] == b"after"
