"""ACR receiver: Azure Container Registry push and ping webhooks.
Happy paths and ignored events of the fixtures run in the fixture walk
(test_all_fixtures.py); these tests cover what the walk does not."""
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
    r = gw.post("/webhooks/acr", body, {**JSON, "Authorization": f"Bearer {SECRET}"})
    assert r.status_code == 202, r.text
    # The same delivery twice: both published, with the event id from the body.
    msgs = kafka.read("hookbus.image", 2)
    assert [headers_of(m)["ce_id"] for m in msgs] == ["cb8c3971-9adc-488b-bdd8-43cbb4974ff5"] * 2


def test_acr_auth_ping_and_ignored_actions(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    body = fixture_bytes("acr/push.json")
    assert gw.post("/webhooks/acr", body, {**JSON, "X-Acr-Token": "wrong"}).status_code == 401
    assert gw.post("/webhooks/acr", body, JSON).status_code == 401
    wrong = hashlib.sha256(b"acrwrong").hexdigest()
    assert gw.post(f"/webhooks/acr/{wrong}", body, JSON).status_code == 401
    untagged = json.loads(body)
    del untagged["target"]["tag"]
    r = gw.post("/webhooks/acr", json.dumps(untagged).encode(), {**JSON, "X-Acr-Token": SECRET})
    assert r.status_code == 200, r.text
    assert kafka.read_all("hookbus.image") == []
