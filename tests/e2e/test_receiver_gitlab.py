"""GitLab receiver end to end: Push Hook, Tag Push Hook, System Hook, token auth."""
import base64
import json

from conftest import fixture_bytes, headers_of

SECRET = "gitlab-secret-token"
UUID = "9cf2ad2a-8b4a-4ad5-a7a7-a2a8f9a1c6f1"
EXTRA = """  - name: acme-gitlab
    type: gitlab
    secrets: [literal:%s, literal:old-gitlab-token]
""" % SECRET
SHA = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"


def post(gw, event, fixture, token=SECRET, delivery=UUID, extra_headers=None):
    headers = {"Content-Type": "application/json", "X-Gitlab-Event": event,
               "X-Gitlab-Event-UUID": delivery, "User-Agent": "GitLab/17.5.0"}
    if token is not None:
        headers["X-Gitlab-Token"] = token
    headers.update(extra_headers or {})
    return gw.post("/webhooks/acme-gitlab", fixture_bytes("gitlab/" + fixture), headers)


def test_push_hook_is_published(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    r = post(gw, "Push Hook", "push.json")
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 1, "ids": [UUID]}
    [m] = kafka.read("hookbus.git", 1)
    h = headers_of(m)
    assert h["ce_type"] == "dev.hookbus.git.push"
    assert h["ce_id"] == UUID
    assert h["ce_source"] == "/receivers/acme-gitlab"
    assert h["ce_provider"] == "gitlab"
    assert h["ce_repo"] == "gitlab.example.com/acme/app"
    assert h["ce_ref"] == "refs/heads/main"
    assert h["ce_commit"] == SHA
    assert h["ce_subject"] == "gitlab.example.com/acme/app@refs/heads/main"
    d = json.loads(m.value())
    assert d["repository"] == {"id": "gitlab.example.com/acme/app",
                               "urls": ["https://gitlab.example.com/Acme/App.git",
                                        "git@gitlab.example.com:Acme/App.git",
                                        "https://gitlab.example.com/Acme/App"]}
    assert d["branch"] == "main" and d["deleted"] is False
    assert d["before"] == "95790bf891e76fee5e1747ab589903a6a1f80f22"
    assert d["actor"] == "jsmith"
    assert d["changed_paths"] == ["CHANGELOG", "app/controller/application.rb", "README.md",
                                  "old/notes.txt"]
    assert d["changed_paths_truncated"] is False
    assert d["delivery_id"] == UUID and d["provider_event"] == "push"


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


def test_tag_push_and_branch_deletion(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    assert post(gw, "Tag Push Hook", "tag-push.json", delivery="g1").status_code == 202
    assert post(gw, "Push Hook", "push-delete-branch.json", delivery="g2").status_code == 202
    msgs = {headers_of(m)["ce_id"]: m for m in kafka.read("hookbus.git", 2)}
    h1, d1 = headers_of(msgs["g1"]), json.loads(msgs["g1"].value())
    assert h1["ce_type"] == "dev.hookbus.git.tag"
    assert h1["ce_tag"] == "v1.0.0" and h1["ce_ref"] == "refs/tags/v1.0.0"
    assert h1["ce_commit"] == "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7"
    assert h1["ce_subject"] == "gitlab.example.com/acme/app@refs/tags/v1.0.0"
    assert d1["tag"] == "v1.0.0" and "branch" not in d1
    h2, d2 = headers_of(msgs["g2"]), json.loads(msgs["g2"].value())
    assert h2["ce_type"] == "dev.hookbus.git.push"
    assert d2["deleted"] is True and d2["branch"] == "feature-x"
    assert "commit" not in d2 and "ce_commit" not in h2 and "changed_paths" not in d2


def test_system_hook_push_uses_repository_urls(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    r = post(gw, "System Hook", "system-hook-push.json")
    assert r.status_code == 202, r.text
    [m] = kafka.read("hookbus.git", 1)
    h = headers_of(m)
    assert h["ce_repo"] == "gitlab.example.com/acme/app"
    assert h["ce_ref"] == "refs/heads/release"


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
