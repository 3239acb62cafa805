"""Azure DevOps receiver end to end: git.push service hooks, Basic-auth token."""
import base64
import json

from conftest import fixture_bytes, headers_of

SECRET = "azure-devops-hook-password"
EXTRA = """  - name: acme-ado
    type: azure-devops
    secrets: [literal:%s]
""" % SECRET
EVENT_ID = "03c164c2-8912-4d5e-8009-3707d5f83734"
REPO = "dev.azure.com/fabrikam/fabrikam-fiber-git/_git/fabrikam-fiber-git"
N = "33b55f7cb7e7e245323987634f960cf4a6e6bc74"


def post(gw, fixture, password=SECRET):
    body = fixture_bytes("azure-devops/" + fixture)
    auth = base64.b64encode(b"hookbus:" + password.encode()).decode()
    return gw.post("/webhooks/acme-ado", body, {"Content-Type": "application/json; charset=utf-8",
                                                 "Authorization": "Basic " + auth})


def test_git_push_fans_out_per_ref_update(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    r = post(gw, "git-push.json")
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 2, "ids": [EVENT_ID + "/1", EVENT_ID + "/2"]}
    msgs = {headers_of(m)["ce_id"]: m for m in kafka.read("hookbus.git", 2)}
    h1, d1 = headers_of(msgs[EVENT_ID + "/1"]), json.loads(msgs[EVENT_ID + "/1"].value())
    assert h1["ce_type"] == "dev.hookbus.git.push"
    assert h1["ce_provider"] == "azure-devops"
    assert h1["ce_repo"] == REPO
    assert h1["ce_ref"] == "refs/heads/main" and h1["ce_commit"] == N
    assert h1["ce_subject"] == REPO + "@refs/heads/main"
    assert d1["repository"]["urls"] == [
        "https://dev.azure.com/fabrikam/Fabrikam-Fiber-Git/_git/Fabrikam-Fiber-Git",
        "git@ssh.dev.azure.com:v3/fabrikam/Fabrikam-Fiber-Git/Fabrikam-Fiber-Git"]
    assert d1["branch"] == "main" and d1["deleted"] is False
    assert d1["before"] == "aad331d8d3b131fa9ae03cf5e53965b51942618a"
    assert d1["actor"] == "fabrikamfiber4@hotmail.com"
    assert d1["delivery_id"] == EVENT_ID and d1["provider_event"] == "git.push"
    h2 = headers_of(msgs[EVENT_ID + "/2"])
    assert h2["ce_type"] == "dev.hookbus.git.tag" and h2["ce_tag"] == "v4.0.0"
    assert h2["ce_commit"] == N


def test_branch_deletion_is_marked(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    r = post(gw, "git-push-delete-branch.json")
    assert r.status_code == 202, r.text
    [m] = kafka.read("hookbus.git", 1)
    d = json.loads(m.value())
    assert d["ref"] == "refs/heads/old-feature" and d["deleted"] is True
    assert "commit" not in d


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
