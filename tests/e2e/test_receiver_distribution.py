"""Distribution receiver (and the gitlab-registry alias): registry
notifications, where only tagged manifest pushes become events.
Happy paths and ignored events of the fixtures run in the fixture walk
(test_all_fixtures.py); these tests cover what the walk does not."""
import json

from conftest import fixture_bytes, headers_of

SECRET = "registry-notify-token"
EXTRA = f"""  - name: registry
    type: distribution
    secrets: [literal:{SECRET}]
  - name: gl-registry
    type: gitlab-registry
    secrets: [literal:{SECRET}]
    token_header: X-Registry-Token
"""
CT = "application/vnd.docker.distribution.events.v1+json"
HEADERS = {"Content-Type": CT, "Authorization": f"Bearer {SECRET}"}


def test_gitlab_registry_alias(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    r = gw.post("/webhooks/gl-registry", fixture_bytes("distribution/gitlab-registry-push.json"),
                {"Content-Type": CT, "X-Registry-Token": SECRET})
    assert r.status_code == 202, r.text
    [m] = kafka.read("hookbus.image", 1)
    h, d = headers_of(m), json.loads(m.value())
    assert h["ce_provider"] == "gitlab-registry" and h["ce_source"] == "/receivers/gl-registry"
    assert h["ce_repo"] == "registry.gitlab.example.com/group/project/api"
    assert h["ce_tag"] == "main-4f2a9c1" and d["actor"] == "gitlab-ci-token"


def test_distribution_auth_and_ignored_events(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    body = fixture_bytes("distribution/manifest-push.json")
    assert gw.post("/webhooks/registry", body,
                   {**HEADERS, "Authorization": "Bearer wrong"}).status_code == 401
    assert gw.post("/webhooks/registry", body, {"Content-Type": CT}).status_code == 401
    assert gw.post("/webhooks/gl-registry", body,
                   {"Content-Type": CT, "X-Registry-Token": "wrong"}).status_code == 401
    r = gw.post("/webhooks/registry", fixture_bytes("distribution/blob-push-and-pull.json"),
                HEADERS)
    assert r.status_code == 200, r.text
    untagged = json.loads(body)
    del untagged["events"][0]["target"]["tag"]
    r = gw.post("/webhooks/registry", json.dumps(untagged).encode(), HEADERS)
    assert r.status_code == 200, r.text
    assert kafka.read_all("hookbus.image") == []
