"""Bitbucket Cloud receiver end to end: repo:push fan-out, X-Hub-Signature.
Happy paths and ignored events of the fixtures run in the fixture walk
(test_all_fixtures.py); these tests cover what the walk does not."""
import hashlib

from conftest import fixture_bytes, headers_of, sign

SECRET = "bitbucket-cloud-secret"
REQ = "0d8f3d44-7c1a-4b55-9e2b-6a1f0c3d2e11"
EXTRA = """  - name: acme-bitbucket
    type: bitbucket
    secrets: [literal:%s]
""" % SECRET


def post(gw, fixture, event="repo:push", delivery=REQ, secret=SECRET, path="/webhooks/acme-bitbucket"):
    body = fixture_bytes("bitbucket/" + fixture)
    headers = {"Content-Type": "application/json", "X-Event-Key": event,
               "X-Request-UUID": delivery, "X-Hook-UUID": "{1c2d}",
               "User-Agent": "Bitbucket-Webhooks/2.0"}
    if secret is not None:
        headers["X-Hub-Signature"] = sign(secret, body)
    return gw.post(path, body, headers)


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
