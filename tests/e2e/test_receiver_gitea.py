"""Gitea / Forgejo / Gogs receiver end to end: unprefixed hex HMAC-SHA256."""
import hashlib
import hmac
import json

from conftest import fixture_bytes, headers_of

SECRET = "gitea-hook-secret"
DELIVERY = "f6a0b7d2-3c1e-4b8a-9d6f-2e5c7a1b0c9d"
EXTRA = """  - name: acme-gitea
    type: gitea
    secrets: [literal:%s]
""" % SECRET
REPO = "gitea.example.com/acme/app"


def sig(body, secret=SECRET):
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(gw, event, fixture, delivery=DELIVERY, family="Gitea", secret=SECRET):
    body = fixture_bytes("gitea/" + fixture)
    headers = {"Content-Type": "application/json", f"X-{family}-Event": event,
               f"X-{family}-Delivery": delivery, f"X-{family}-Signature": sig(body, secret)}
    return gw.post("/webhooks/acme-gitea", body, headers)


def test_push_is_published(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    r = post(gw, "push", "push.json")
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 1, "ids": [DELIVERY]}
    [m] = kafka.read("hookbus.git", 1)
    h = headers_of(m)
    assert h["ce_type"] == "dev.hookbus.git.push"
    assert h["ce_id"] == DELIVERY
    assert h["ce_provider"] == "gitea"
    assert h["ce_repo"] == REPO
    assert h["ce_ref"] == "refs/heads/main"
    assert h["ce_commit"] == "5c2b9e4d7f1a3c8e6b0d2f4a6c8e0b2d4f6a8c0e"
    assert h["ce_subject"] == REPO + "@refs/heads/main"
    d = json.loads(m.value())
    assert d["repository"]["urls"] == ["https://gitea.example.com/acme/App.git",
                                       "git@gitea.example.com:acme/App.git",
                                       "https://gitea.example.com/acme/App"]
    assert d["branch"] == "main" and d["deleted"] is False and d["actor"] == "alice"
    assert d["changed_paths"] == ["charts/app/values.yaml", "src/main.go", "README.md",
                                  "legacy.txt"]
    assert d["changed_paths_truncated"] is False
    assert d["provider_event"] == "push" and d["delivery_id"] == DELIVERY


def test_forgejo_and_gogs_headers(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    assert post(gw, "push", "push.json", "fj", family="Forgejo").status_code == 202
    assert post(gw, "push", "push.json", "gg", family="Gogs").status_code == 202
    ids = sorted(headers_of(m)["ce_id"] for m in kafka.read("hookbus.git", 2))
    assert ids == ["fj", "gg"]


def test_tags_release_and_branch_deletion(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    assert post(gw, "push", "push-tag.json", "t1").status_code == 202
    assert post(gw, "create", "create-tag.json", "t2").status_code == 202
    assert post(gw, "release", "release-published.json", "t3").status_code == 202
    assert post(gw, "delete", "delete-branch.json", "t4").status_code == 202
    msgs = {headers_of(m)["ce_id"]: m for m in kafka.read("hookbus.git", 4)}
    for i in ("t1", "t2"):
        h = headers_of(msgs[i])
        assert h["ce_type"] == "dev.hookbus.git.tag"
        assert h["ce_tag"] == "v1.2.0" and h["ce_ref"] == "refs/tags/v1.2.0"
        assert h["ce_subject"] == REPO + "@refs/tags/v1.2.0"
    assert headers_of(msgs["t2"])["ce_commit"] == "5c2b9e4d7f1a3c8e6b0d2f4a6c8e0b2d4f6a8c0e"
    h3, d3 = headers_of(msgs["t3"]), json.loads(msgs["t3"].value())
    assert h3["ce_type"] == "dev.hookbus.git.release"
    assert d3["tag"] == "v1.2.0" and d3["release_name"] == "1.2.0" and d3["prerelease"] is False
    h4, d4 = headers_of(msgs["t4"]), json.loads(msgs["t4"].value())
    assert h4["ce_type"] == "dev.hookbus.git.push" and h4["ce_ref"] == "refs/heads/feature-x"
    assert d4["deleted"] is True and "commit" not in d4


def test_bad_signature_is_401(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    assert post(gw, "push", "push.json", secret="wrong").status_code == 401
    body = fixture_bytes("gitea/push.json")
    r = gw.post("/webhooks/acme-gitea", body,
                {"Content-Type": "application/json", "X-Gitea-Event": "push"})
    assert r.status_code == 401
    # The GitHub-style prefixed form is not what Gitea sends.
    r = gw.post("/webhooks/acme-gitea", body,
                {"Content-Type": "application/json", "X-Gitea-Event": "push",
                 "X-Gitea-Signature": "sha256=" + sig(body)})
    assert r.status_code == 401
    assert kafka.read_all("hookbus.git", settle=0.5) == []


def test_ignored_events_are_200(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    r = post(gw, "issues", "issues-opened.json")
    assert r.status_code == 200 and r.json()["status"] == "ignored"
    for t in ("hookbus.git", "hookbus.image", "hookbus.other"):
        assert kafka.read_all(t, settle=0.3) == []
