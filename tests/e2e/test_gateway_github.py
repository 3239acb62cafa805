"""GitHub receiver end to end: real gateway, real mock Kafka, real consumer.
Happy paths and ignored events of the fixtures run in the fixture walk
(test_all_fixtures.py); these tests cover what the walk does not."""
import socket

import pytest
import requests

from conftest import (GITHUB_SECRET, fixture_bytes, github_post, headers_of, sign)

# Runs on mock and/or real Kafka (--kafka, conftest.py).
pytestmark = pytest.mark.real_kafka

DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def test_redelivery_gives_the_same_event_id(kafka, gateway):
    body = fixture_bytes("github/push.json")
    ids = [github_post(gateway, "push", body).json()["ids"] for _ in range(2)]
    assert ids[0] == ids[1] == [DELIVERY]
    msgs = kafka.read("hookbus.git", 2)
    assert [headers_of(m)["ce_id"] for m in msgs] == [DELIVERY, DELIVERY]


def test_rotated_secret_is_accepted(kafka, gateway):
    body = fixture_bytes("github/push.json")
    r = github_post(gateway, "push", body, secret="old-rotated-secret")
    assert r.status_code == 202


def test_bad_and_missing_signatures_are_401_and_nothing_is_published(kafka, gateway):
    body = fixture_bytes("github/push.json")
    r = github_post(gateway, "push", body, secret="wrong")
    assert r.status_code == 401
    assert r.json() == {"error": "authentication failed"}
    r = gateway.post("/webhooks/acme-github", body,
                     {"Content-Type": "application/json", "X-GitHub-Event": "push"})
    assert r.status_code == 401
    # A signature over other bytes (body tampered after signing).
    r = gateway.post("/webhooks/acme-github", body + b" ",
                     {"Content-Type": "application/json", "X-GitHub-Event": "push",
                      "X-Hub-Signature-256": sign(GITHUB_SECRET, body)})
    assert r.status_code == 401
    # The audit log names receiver and reason, never the secret.
    log = gateway.log_path.read_text()
    audits = [l for l in gateway.lines() if l.get("audit") == "401"]
    assert len(audits) == 3
    assert {a["receiver"] for a in audits} == {"acme-github"}
    assert GITHUB_SECRET not in log
    assert kafka.read_all("hookbus.git", settle=0.5) == []


def test_unauthenticated_request_learns_nothing_about_the_body(gateway):
    r = gateway.post("/webhooks/acme-github", b"{not json",
                     {"Content-Type": "application/json", "X-GitHub-Event": "push",
                      "X-Hub-Signature-256": "sha256=" + "0" * 64})
    assert r.status_code == 401


def test_wrong_method_unknown_receiver_unknown_path(gateway):
    r = requests.get(gateway.url("/webhooks/acme-github"), timeout=5)
    assert r.status_code == 405
    assert r.headers["Allow"] == "POST"
    assert r.json()["error"]
    r = gateway.post("/webhooks/nobody", b"{}", {"Content-Type": "application/json"})
    assert r.status_code == 404
    r = gateway.post("/elsewhere", b"{}")
    assert r.status_code == 404
    r = gateway.post("/webhooks/acme-github/a/b", b"{}")
    assert r.status_code == 404


def test_body_over_limit_is_413(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, max_body=1024)
    body = fixture_bytes("github/push.json")
    assert len(body) > 1024
    r = github_post(gw, "push", body)
    assert r.status_code == 413
    # Chunked (no Content-Length): what is over the limit is discarded, 413.
    sock = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    head = (f"POST /webhooks/acme-github HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: application/json\r\nX-GitHub-Event: push\r\n"
            f"X-Hub-Signature-256: {sign(GITHUB_SECRET, body)}\r\n"
            f"Transfer-Encoding: chunked\r\n\r\n").encode()
    sock.sendall(head + b"%x\r\n" % 1100 + body[:1100] + b"\r\n" +
                 b"%x\r\n" % (len(body) - 1100) + body[1100:] + b"\r\n0\r\n\r\n")
    reply = b""
    try:
        while b"\r\n\r\n" not in reply:
            data = sock.recv(4096)
            if not data:
                break
            reply += data
    finally:
        sock.close()
    assert reply.startswith(b"HTTP/1.1 413"), reply
    assert kafka.read_all("hookbus.git", settle=0.3) == []


def test_malformed_json_is_400(kafka, gateway):
    body = b'{"ref": "refs/heads/main", '
    r = github_post(gateway, "push", body)
    assert r.status_code == 400
    assert "malformed" in r.json()["error"]
    body = fixture_bytes("github/push.json") + b" trailing"
    r = github_post(gateway, "push", body)
    assert r.status_code == 400
    r = github_post(gateway, "push", b'{"repository": {}}')
    assert r.status_code == 400


def test_unsupported_content_type_is_415(gateway):
    r = github_post(gateway, "push", b"<xml/>", content_type="application/xml")
    assert r.status_code == 415


def test_ping_is_200_and_nothing_is_published(kafka, gateway):
    r = github_post(gateway, "ping", fixture_bytes("github/ping.json"))
    assert r.status_code == 200
    assert r.json()["status"] == "ignored"
    r = github_post(gateway, "issues", fixture_bytes("github/issues-opened.json"))
    assert r.status_code == 200
    assert "not acted on" in r.json()["message"]
    for t in ("hookbus.git", "hookbus.image", "hookbus.other"):
        assert kafka.read_all(t, settle=0.3) == []
