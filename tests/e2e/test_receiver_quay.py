"""Quay receiver: repository push notifications, one event per updated tag."""
import hashlib
import json

from conftest import fixture_bytes, headers_of

SECRET = "quay-s3cret"
EXTRA = f"""  - name: quay
    type: quay
    secrets: [literal:{SECRET}]
"""
KEY = hashlib.sha256(("quay" + SECRET).encode()).hexdigest()
JSON = {"Content-Type": "application/json"}


def test_quay_push_fans_out_per_tag(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    body = fixture_bytes("quay/repo-push.json")
    r = gw.post(f"/webhooks/quay/{KEY}", body, JSON)
    assert r.status_code == 202, r.text
    base = hashlib.sha256(b"quay" + body).hexdigest()
    msgs = {headers_of(m)["ce_id"]: m for m in kafka.read("hookbus.image", 2)}
    assert set(msgs) == {base + "/1", base + "/2"}
    h1, d1 = headers_of(msgs[base + "/1"]), json.loads(msgs[base + "/1"].value())
    h2 = headers_of(msgs[base + "/2"])
    assert h1["ce_type"] == "dev.hookbus.image.push" and h1["ce_provider"] == "quay"
    assert h1["ce_repo"] == "quay.io/acme/app" and h1["ce_tag"] == "v1"
    assert h1["ce_subject"] == "quay.io/acme/app:v1"
    assert h2["ce_tag"] == "latest" and h2["ce_subject"] == "quay.io/acme/app:latest"
    assert d1["kind"] == "image" and d1["registry"] == "quay.io" and d1["image"] == "acme/app"
    assert "https://quay.io/repository/acme/app" in d1["repository"]["urls"]


def test_quay_self_hosted_registry_host(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    r = gw.post(f"/webhooks/quay/{KEY}", fixture_bytes("quay/repo-push-self-hosted.json"), JSON)
    assert r.status_code == 202, r.text
    [m] = kafka.read("hookbus.image", 1)
    h, d = headers_of(m), json.loads(m.value())
    assert h["ce_repo"] == "registry.corp.example.com/platform/api"
    assert h["ce_tag"] == "2024.11.3" and d["registry"] == "registry.corp.example.com"


def test_quay_rejects_wrong_key_and_ignores_no_tags(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    body = fixture_bytes("quay/repo-push.json")
    wrong = hashlib.sha256(b"quaywrong").hexdigest()
    assert gw.post(f"/webhooks/quay/{wrong}", body, JSON).status_code == 401
    assert gw.post("/webhooks/quay", body, {**JSON, "Authorization": "nope"}).status_code == 401
    empty = json.loads(body)
    empty["updated_tags"] = []
    r = gw.post(f"/webhooks/quay/{KEY}", json.dumps(empty).encode(), JSON)
    assert r.status_code == 200, r.text
    assert kafka.read_all("hookbus.image") == []
