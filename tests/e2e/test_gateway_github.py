"""GitHub receiver end to end: real gateway, real mock Kafka, real consumer."""
import json
import re
import socket
import urllib.parse

import pytest
import requests

from conftest import (GITHUB_SECRET, fixture_bytes, github_post, headers_of, sign)

# Runs on mock and/or real Kafka (--kafka, conftest.py).
pytestmark = pytest.mark.real_kafka

DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_signed_push_is_published_with_every_attribute(kafka, gateway):
    body = fixture_bytes("github/push.json")
    r = github_post(gateway, "push", body)
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 1, "ids": [DELIVERY]}
    [m] = kafka.read("hookbus.git", 1)
    h = headers_of(m)
    assert h["ce_specversion"] == "1.0"
    assert h["ce_id"] == DELIVERY
    assert h["ce_source"] == "/receivers/acme-github"
    assert h["ce_type"] == "dev.hookbus.git.push"
    assert h["ce_subject"] == "github.com/acme/app@refs/heads/main"
    assert TIME_RE.match(h["ce_time"])
    assert h["content-type"] == "application/json"
    assert h["ce_dataschema"] == "urn:hookbus:schema:dev.hookbus.git.push:1"
    assert h["ce_provider"] == "github"
    assert h["ce_receiver"] == "acme-github"
    assert h["ce_repo"] == "github.com/acme/app"
    assert h["ce_ref"] == "refs/heads/main"
    assert h["ce_commit"] == "7113728f27ae82c7b1a177c8d03f9e96e0adf247"
    assert h["ce_partitionkey"] == "github.com/acme/app"
    assert "ce_tag" not in h and "ce_digest" not in h
    assert m.key() == b"github.com/acme/app"
    data = json.loads(m.value())
    assert data == {
        "provider": "github",
        "receiver": "acme-github",
        "kind": "git",
        "repository": {"id": "github.com/acme/app",
                       "urls": ["https://github.com/Acme/App.git", "https://github.com/Acme/App",
                                "git@github.com:Acme/App.git", "git://github.com/Acme/App.git"]},
        "ref": "refs/heads/main",
        "branch": "main",
        "commit": "7113728f27ae82c7b1a177c8d03f9e96e0adf247",
        "before": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
        "deleted": False,
        "actor": "octocat",
        "changed_paths": ["charts/app/values.yaml", "src/main.c", "README.md", "old.txt",
                          "docs/index.md"],
        "changed_paths_truncated": False,
        "delivery_id": DELIVERY,
        "provider_event": "push",
    }
    # Nothing went anywhere else.
    assert kafka.read_all("hookbus.image", settle=0.3) == []


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


def test_form_encoded_push_is_accepted(kafka, gateway):
    payload = fixture_bytes("github/push.json")
    body = ("payload=" + urllib.parse.quote_plus(payload.decode())).encode()
    r = github_post(gateway, "push", body, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 202, r.text
    [m] = kafka.read("hookbus.git", 1)
    assert json.loads(m.value())["commit"] == "7113728f27ae82c7b1a177c8d03f9e96e0adf247"


def test_tag_push_create_and_release(kafka, gateway):
    assert github_post(gateway, "push", fixture_bytes("github/push-tag.json"), "d1").status_code == 202
    assert github_post(gateway, "create", fixture_bytes("github/create-tag.json"), "d2").status_code == 202
    assert github_post(gateway, "release", fixture_bytes("github/release-published.json"),
                       "d3").status_code == 202
    msgs = {headers_of(m)["ce_id"]: m for m in kafka.read("hookbus.git", 3)}
    h1, d1 = headers_of(msgs["d1"]), json.loads(msgs["d1"].value())
    assert h1["ce_type"] == "dev.hookbus.git.tag"
    assert h1["ce_tag"] == "v1.2.3" and h1["ce_ref"] == "refs/tags/v1.2.3"
    assert d1["tag"] == "v1.2.3" and "branch" not in d1
    h2 = headers_of(msgs["d2"])
    assert h2["ce_type"] == "dev.hookbus.git.tag" and h2["ce_tag"] == "v1.2.3"
    h3, d3 = headers_of(msgs["d3"]), json.loads(msgs["d3"].value())
    assert h3["ce_type"] == "dev.hookbus.git.release"
    assert h3["ce_subject"] == "github.com/acme/app@refs/tags/v2.0.0"
    assert d3["tag"] == "v2.0.0" and d3["prerelease"] is False
    assert h3["ce_dataschema"] == "urn:hookbus:schema:dev.hookbus.git.release:1"


def test_branch_deletion_is_marked(kafka, gateway):
    r = github_post(gateway, "push", fixture_bytes("github/push-delete-branch.json"))
    assert r.status_code == 202
    [m] = kafka.read("hookbus.git", 1)
    d = json.loads(m.value())
    assert d["deleted"] is True and d["branch"] == "feature-x"
    assert "commit" not in d and "ce_commit" not in headers_of(m)


def test_ghcr_package_and_chart(kafka, gateway):
    r = github_post(gateway, "package", fixture_bytes("github/package-published.json"), "p1")
    assert r.status_code == 202, r.text
    r = github_post(gateway, "registry_package",
                    fixture_bytes("github/registry-package-chart.json"), "p2")
    assert r.status_code == 202, r.text
    msgs = {headers_of(m)["ce_id"]: m for m in kafka.read("hookbus.image", 2)}
    h, d = headers_of(msgs["p1"]), json.loads(msgs["p1"].value())
    assert h["ce_type"] == "dev.hookbus.image.push"
    assert h["ce_repo"] == "ghcr.io/acme/app"
    assert h["ce_tag"] == "v1.4.0"
    assert h["ce_digest"] == "sha256:" + "ab" * 32
    assert h["ce_subject"] == "ghcr.io/acme/app:v1.4.0"
    assert d["kind"] == "image" and d["registry"] == "ghcr.io" and d["image"] == "acme/app"
    assert d["media_type"] == "application/vnd.oci.image.manifest.v1+json"
    h2, d2 = headers_of(msgs["p2"]), json.loads(msgs["p2"].value())
    assert h2["ce_type"] == "dev.hookbus.chart.push"
    assert h2["ce_repo"] == "ghcr.io/acme/charts/app"
    assert d2["kind"] == "chart" and d2["tag"] == "0.3.1"
