"""Azure DevOps receiver end to end: git.push service hooks, Basic-auth token.
Happy paths and ignored events of the fixtures run in the fixture walk
(test_all_fixtures.py); these tests cover what the walk does not."""
import base64

from conftest import fixture_bytes

SECRET = "azure-devops-hook-password"
EXTRA = """  - name: acme-ado
    type: azure-devops
    secrets: [literal:%s]
""" % SECRET
N = "33b55f7cb7e7e245323987634f960cf4a6e6bc74"


def post(gw, fixture, password=SECRET):
    body = fixture_bytes("azure-devops/" + fixture)
    auth = base64.b64encode(b"hookbus:" + password.encode()).decode()
    return gw.post("/webhooks/acme-ado", body, {"Content-Type": "application/json; charset=utf-8",
                                                 "Authorization": "Basic " + auth})


def test_wrong_password_is_401(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    assert post(gw, "git-push.json", password="wrong").status_code == 401
    r = gw.post("/webhooks/acme-ado", fixture_bytes("azure-devops/git-push.json"),
                {"Content-Type": "application/json"})
    assert r.status_code == 401
    assert kafka.read_all("hookbus.git", settle=0.5) == []


def test_other_event_types_are_200(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    # A merge attempt that hit conflicts is not a merge.
    r = post(gw, "pullrequest-merge-conflicts.json")
    assert r.status_code == 200 and r.json()["status"] == "ignored"
    for t in ("hookbus.git", "hookbus.image", "hookbus.other"):
        assert kafka.read_all(t, settle=0.3) == []
