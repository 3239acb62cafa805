"""GitLab receiver end to end: Push Hook, Tag Push Hook, System Hook, token auth.
Happy paths and ignored events of the fixtures run in the fixture walk
(test_all_fixtures.py); these tests cover what the walk does not."""
import base64
import json

from conftest import fixture_bytes, headers_of

SECRET = "gitlab-secret-token"
UUID = "9cf2ad2a-8b4a-4ad5-a7a7-a2a8f9a1c6f1"
EXTRA = """  - name: acme-gitlab
    type: gitlab
    secrets: [literal:%s, literal:old-gitlab-token]
""" % SECRET


def post(gw, event, fixture, token=SECRET, delivery=UUID, extra_headers=None):
    headers = {"Content-Type": "application/json", "X-Gitlab-Event": event,
               "X-Gitlab-Event-UUID": delivery, "User-Agent": "GitLab/17.5.0"}
    if token is not None:
        headers["X-Gitlab-Token"] = token
    headers.update(extra_headers or {})
    return gw.post("/webhooks/acme-gitlab", fixture_bytes("gitlab/" + fixture), headers)


def test_truncated_commit_list_and_other_token_forms(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    # More commits than GitLab listed: the paths are a lower bound.
    assert post(gw, "Push Hook", "push-truncated.json", token="old-gitlab-token",
                delivery="t1").status_code == 202
    # No X-Gitlab-Token: the shared token rules (Bearer, Basic password) apply.
    assert post(gw, "Push Hook", "push.json", token=None, delivery="t2",
                extra_headers={"Authorization": "Bearer " + SECRET}).status_code == 202
    basic = base64.b64encode(b"gitlab:" + SECRET.encode()).decode()
    assert post(gw, "Push Hook", "push.json", token=None, delivery="t3",
                extra_headers={"Authorization": "Basic " + basic}).status_code == 202
    msgs = {headers_of(m)["ce_id"]: json.loads(m.value()) for m in kafka.read("hookbus.git", 3)}
    assert msgs["t1"]["changed_paths_truncated"] is True
    assert set(msgs) == {"t1", "t2", "t3"}


def test_wrong_token_is_401(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    assert post(gw, "Push Hook", "push.json", token="wrong").status_code == 401
    assert post(gw, "Push Hook", "push.json", token=None).status_code == 401
    assert kafka.read_all("hookbus.git", settle=0.5) == []


def test_ignored_events_are_200(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    r = post(gw, "Note Hook", "merge-request.json")
    assert r.status_code == 200 and r.json()["status"] == "ignored"
    r = post(gw, "Tag Push Hook", "tag-delete.json")
    assert r.status_code == 200 and "tag deletion" in r.json()["message"]
    r = post(gw, "Pipeline Hook", "merge-request.json")
    assert r.status_code == 200
    for t in ("hookbus.git", "hookbus.image", "hookbus.other"):
        assert kafka.read_all(t, settle=0.3) == []
