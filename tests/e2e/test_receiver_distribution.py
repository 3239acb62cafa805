"""Distribution receiver (and the gitlab-registry alias): registry
notifications, where only tagged manifest pushes become events."""
import hashlib
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


def test_distribution_single_manifest_push_uses_event_id(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    r = gw.post("/webhooks/registry", fixture_bytes("distribution/manifest-push.json"), HEADERS)
    assert r.status_code == 202, r.text
    [m] = kafka.read("hookbus.image", 1)
    h, d = headers_of(m), json.loads(m.value())
    assert h["ce_id"] == "320678d8-ca14-430f-8bb6-4ca139cd83f7"
    assert h["ce_type"] == "dev.hookbus.image.push" and h["ce_provider"] == "distribution"
    assert h["ce_repo"] == "registry.example.com:5000/acme/app"
    assert h["ce_tag"] == "v3.2.0"
    assert h["ce_digest"] == "sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf"
    assert h["ce_subject"] == "registry.example.com:5000/acme/app:v3.2.0"
    assert d["media_type"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert d["registry"] == "registry.example.com:5000" and d["image"] == "acme/app"
    assert d["actor"] == "ci-bot"


def test_distribution_mixed_envelope_fans_out_manifest_pushes_only(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    body = fixture_bytes("distribution/push-mixed.json")
    r = gw.post("/webhooks/registry", body, HEADERS)
    assert r.status_code == 202, r.text
    base = hashlib.sha256(b"registry" + body).hexdigest()
    msgs = {headers_of(m)["ce_id"]: m for m in kafka.read("hookbus.image", 2)}
    assert set(msgs) == {base + "/1", base + "/2"}
    h1, h2 = headers_of(msgs[base + "/1"]), headers_of(msgs[base + "/2"])
    assert h1["ce_subject"] == "localhost:5000/hello-world:1.0"
    assert h2["ce_subject"] == "localhost:5000/hello-world:latest"
    assert json.loads(msgs[base + "/2"].value())["media_type"] == "application/vnd.oci.image.index.v1+json"


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
