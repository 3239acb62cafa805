"""Bitbucket Server / Data Center receiver end to end: repo:refs_changed fan-out.
Happy paths and ignored events of the fixtures run in the fixture walk
(test_all_fixtures.py); these tests cover what the walk does not."""

from conftest import fixture_bytes, sign

SECRET = "bitbucket-server-secret"
REQ = "4f3a4b53-2d1e-4c77-a0b9-8e6d5c4b3a21"
EXTRA = """  - name: acme-bbs
    type: bitbucket-server
    secrets: [literal:%s]
""" % SECRET


def post(gw, fixture, event="repo:refs_changed", delivery=REQ, secret=SECRET):
    body = fixture_bytes("bitbucket-server/" + fixture)
    headers = {"Content-Type": "application/json; charset=UTF-8", "X-Event-Key": event,
               "X-Request-Id": delivery, "X-Hub-Signature": sign(secret, body)}
    return gw.post("/webhooks/acme-bbs", body, headers)


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
