"""Bitbucket Server / Data Center receiver end to end: repo:refs_changed fan-out."""
import json

from conftest import fixture_bytes, headers_of, sign

SECRET = "bitbucket-server-secret"
REQ = "4f3a4b53-2d1e-4c77-a0b9-8e6d5c4b3a21"
EXTRA = """  - name: acme-bbs
    type: bitbucket-server
    secrets: [literal:%s]
""" % SECRET
REPO = "bitbucket.example.com/scm/acme/app"
H1 = "178864a7d521b6f5e720b386b2c2b0ef8563e0dc"


def post(gw, fixture, event="repo:refs_changed", delivery=REQ, secret=SECRET):
    body = fixture_bytes("bitbucket-server/" + fixture)
    headers = {"Content-Type": "application/json; charset=UTF-8", "X-Event-Key": event,
               "X-Request-Id": delivery, "X-Hub-Signature": sign(secret, body)}
    return gw.post("/webhooks/acme-bbs", body, headers)


def test_refs_changed_fans_out(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    r = post(gw, "refs-changed.json")
    assert r.status_code == 202, r.text
    # Four changes; the tag deletion is not acted on.
    assert r.json() == {"accepted": 3, "ids": [REQ + "/1", REQ + "/2", REQ + "/3"]}
    msgs = {headers_of(m)["ce_id"]: m for m in kafka.read("hookbus.git", 3)}
    h1, d1 = headers_of(msgs[REQ + "/1"]), json.loads(msgs[REQ + "/1"].value())
    assert h1["ce_type"] == "dev.hookbus.git.push"
    assert h1["ce_provider"] == "bitbucket-server"
    assert h1["ce_repo"] == REPO
    assert h1["ce_ref"] == "refs/heads/main" and h1["ce_commit"] == H1
    assert h1["ce_subject"] == REPO + "@refs/heads/main"
    assert d1["repository"]["urls"] == [
        "https://bitbucket.example.com/scm/acme/app.git",
        "ssh://git@bitbucket.example.com:7999/acme/app.git",
        "https://bitbucket.example.com/projects/ACME/repos/app/browse"]
    assert d1["branch"] == "main" and d1["deleted"] is False
    assert d1["before"] == "ecddabb624f6f5ba43816f5926e580a5f680a932"
    assert d1["actor"] == "alice" and d1["provider_event"] == "repo:refs_changed"
    h2 = headers_of(msgs[REQ + "/2"])
    assert h2["ce_type"] == "dev.hookbus.git.tag" and h2["ce_tag"] == "v3.1.0"
    assert h2["ce_commit"] == H1
    h3, d3 = headers_of(msgs[REQ + "/3"]), json.loads(msgs[REQ + "/3"].value())
    assert h3["ce_ref"] == "refs/heads/old-feature"
    assert d3["deleted"] is True and "commit" not in d3


def test_single_change_has_the_plain_request_id(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    r = post(gw, "refs-changed-branch.json")
    assert r.status_code == 202 and r.json()["ids"] == [REQ]


def test_bad_signature_is_401(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    assert post(gw, "refs-changed.json", secret="wrong").status_code == 401
    body = fixture_bytes("bitbucket-server/refs-changed.json")
    r = gw.post("/webhooks/acme-bbs", body,
                {"Content-Type": "application/json", "X-Event-Key": "repo:refs_changed"})
    assert r.status_code == 401
    assert kafka.read_all("hookbus.git", settle=0.5) == []


def test_ping_and_other_events_are_200(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    r = post(gw, "ping.json", event="diagnostics:ping")
    assert r.status_code == 200 and r.json()["status"] == "ignored"
    r = post(gw, "pr-opened.json", event="pr:comment:added")
    assert r.status_code == 200
    for t in ("hookbus.git", "hookbus.image", "hookbus.other"):
        assert kafka.read_all(t, settle=0.3) == []
