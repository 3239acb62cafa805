"""Gitea / Forgejo / Gogs receiver end to end: unprefixed hex HMAC-SHA256.
Happy paths and ignored events of the fixtures run in the fixture walk
(test_all_fixtures.py); these tests cover what the walk does not."""
import hashlib
import hmac

from conftest import fixture_bytes, headers_of

SECRET = "gitea-hook-secret"
DELIVERY = "f6a0b7d2-3c1e-4b8a-9d6f-2e5c7a1b0c9d"
EXTRA = """  - name: acme-gitea
    type: gitea
    secrets: [literal:%s]
""" % SECRET


def sig(body, secret=SECRET):
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(gw, event, fixture, delivery=DELIVERY, family="Gitea", secret=SECRET):
    body = fixture_bytes("gitea/" + fixture)
    headers = {"Content-Type": "application/json", f"X-{family}-Event": event,
               f"X-{family}-Delivery": delivery, f"X-{family}-Signature": sig(body, secret)}
    return gw.post("/webhooks/acme-gitea", body, headers)


def test_forgejo_and_gogs_headers(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    assert post(gw, "push", "push.json", "fj", family="Forgejo").status_code == 202
    assert post(gw, "push", "push.json", "gg", family="Gogs").status_code == 202
    ids = sorted(headers_of(m)["ce_id"] for m in kafka.read("hookbus.git", 2))
    assert ids == ["fj", "gg"]


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
