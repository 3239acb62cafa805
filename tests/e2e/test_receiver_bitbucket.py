"""Bitbucket Cloud receiver end to end: repo:push fan-out, X-Hub-Signature."""
import hashlib
import json

from conftest import fixture_bytes, headers_of, sign

SECRET = "bitbucket-cloud-secret"
REQ = "0d8f3d44-7c1a-4b55-9e2b-6a1f0c3d2e11"
EXTRA = """  - name: acme-bitbucket
    type: bitbucket
    secrets: [literal:%s]
""" % SECRET
REPO = "bitbucket.org/acme/app"
H_NEW = "e3f1a2b4c5d6e7f8091a2b3c4d5e6f708192a3b4"


def post(gw, fixture, event="repo:push", delivery=REQ, secret=SECRET, path="/webhooks/acme-bitbucket"):
    body = fixture_bytes("bitbucket/" + fixture)
    headers = {"Content-Type": "application/json", "X-Event-Key": event,
               "X-Request-UUID": delivery, "X-Hook-UUID": "{1c2d}",
               "User-Agent": "Bitbucket-Webhooks/2.0"}
    if secret is not None:
        headers["X-Hub-Signature"] = sign(secret, body)
    return gw.post(path, body, headers)


def test_push_fans_out_one_event_per_change(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    r = post(gw, "repo-push.json")
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 2, "ids": [REQ + "/1", REQ + "/2"]}
    msgs = {headers_of(m)["ce_id"]: m for m in kafka.read("hookbus.git", 2)}
    h1, d1 = headers_of(msgs[REQ + "/1"]), json.loads(msgs[REQ + "/1"].value())
    assert h1["ce_type"] == "dev.hookbus.git.push"
    assert h1["ce_provider"] == "bitbucket"
    assert h1["ce_repo"] == REPO
    assert h1["ce_ref"] == "refs/heads/main"
    assert h1["ce_commit"] == H_NEW
    assert h1["ce_subject"] == REPO + "@refs/heads/main"
    assert d1["repository"]["urls"] == ["https://bitbucket.org/acme/app",
                                        "https://bitbucket.org/acme/app.git"]
    assert d1["branch"] == "main" and d1["deleted"] is False
    assert d1["before"] == "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
    assert d1["actor"] == "alice" and d1["provider_event"] == "repo:push"
    assert d1["delivery_id"] == REQ
    h2 = headers_of(msgs[REQ + "/2"])
    assert h2["ce_type"] == "dev.hookbus.git.tag"
    assert h2["ce_tag"] == "v2.0.0" and h2["ce_ref"] == "refs/tags/v2.0.0"
    assert h2["ce_commit"] == H_NEW


def test_deletions(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    # A tag deletion next to a branch deletion: only the branch is published.
    r = post(gw, "repo-push-deletions.json", delivery="del")
    assert r.status_code == 202, r.text
    assert r.json()["ids"] == ["del"]
    [m] = kafka.read("hookbus.git", 1)
    h, d = headers_of(m), json.loads(m.value())
    assert h["ce_ref"] == "refs/heads/feature-x"
    assert d["deleted"] is True and "commit" not in d
    r = post(gw, "repo-push-tag-delete.json", delivery="tagdel")
    assert r.status_code == 200 and "tag deletion" in r.json()["message"]


def test_unsigned_webhook_uses_token_or_key_route(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    key = hashlib.sha256(("acme-bitbucket" + SECRET).encode()).hexdigest()
    r = post(gw, "repo-push-branch.json", secret=None, delivery="k1",
             path="/webhooks/acme-bitbucket/" + key)
    assert r.status_code == 202, r.text
    [m] = kafka.read("hookbus.git", 1)
    assert headers_of(m)["ce_id"] == "k1"
    assert post(gw, "repo-push-branch.json", secret=None).status_code == 401


def test_bad_signature_is_401(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    assert post(gw, "repo-push.json", secret="wrong").status_code == 401
    assert kafka.read_all("hookbus.git", settle=0.5) == []


def test_other_events_are_200(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    # Pull request events other than created/updated/fulfilled/rejected.
    r = post(gw, "pullrequest-created.json", event="pullrequest:comment_created")
    assert r.status_code == 200 and r.json()["status"] == "ignored"
    for t in ("hookbus.git", "hookbus.image", "hookbus.other"):
        assert kafka.read_all(t, settle=0.3) == []
