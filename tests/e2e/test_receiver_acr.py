"""ACR receiver: Azure Container Registry push and ping webhooks."""
import hashlib
import json

from conftest import fixture_bytes, headers_of

SECRET = "acr-custom-header-token"
EXTRA = f"""  - name: acr
    type: acr
    secrets: [literal:{SECRET}]
    token_header: X-Acr-Token
"""
JSON = {"Content-Type": "application/json"}


def test_acr_push_with_custom_header_and_authorization(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    body = fixture_bytes("acr/push.json")
    r = gw.post("/webhooks/acr", body, {**JSON, "X-Acr-Token": SECRET})
    assert r.status_code == 202, r.text
    [m] = kafka.read("hookbus.image", 1)
    h, d = headers_of(m), json.loads(m.value())
    assert h["ce_id"] == "cb8c3971-9adc-488b-bdd8-43cbb4974ff5"
    assert h["ce_type"] == "dev.hookbus.image.push" and h["ce_provider"] == "acr"
    assert h["ce_repo"] == "acmeregistry.azurecr.io/team/web" and h["ce_tag"] == "v5.0.2"
    assert h["ce_digest"] == "sha256:80f0d5c8786bb9e621a45ece0db56d11cdc624ad20da9fe62e9d25490f331d7d"
    assert h["ce_subject"] == "acmeregistry.azurecr.io/team/web:v5.0.2"
    assert d["registry"] == "acmeregistry.azurecr.io" and d["image"] == "team/web"
    assert d["media_type"] == "application/vnd.docker.distribution.manifest.v2+json"
    r = gw.post("/webhooks/acr", body, {**JSON, "Authorization": f"Bearer {SECRET}"})
    assert r.status_code == 202, r.text


def test_acr_auth_ping_and_ignored_actions(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    body = fixture_bytes("acr/push.json")
    assert gw.post("/webhooks/acr", body, {**JSON, "X-Acr-Token": "wrong"}).status_code == 401
    assert gw.post("/webhooks/acr", body, JSON).status_code == 401
    wrong = hashlib.sha256(b"acrwrong").hexdigest()
    assert gw.post(f"/webhooks/acr/{wrong}", body, JSON).status_code == 401
    for name in ("ping.json", "delete.json"):
        r = gw.post("/webhooks/acr", fixture_bytes("acr/" + name), {**JSON, "X-Acr-Token": SECRET})
        assert r.status_code == 200, r.text
    untagged = json.loads(body)
    del untagged["target"]["tag"]
    r = gw.post("/webhooks/acr", json.dumps(untagged).encode(), {**JSON, "X-Acr-Token": SECRET})
    assert r.status_code == 200, r.text
    assert kafka.read_all("hookbus.image") == []
