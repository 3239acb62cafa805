"""azure-eventgrid end to end, over a real socket: the Event Grid schema's subscription
validation (answered with its validationResponse, nothing published), the CloudEvents
schema's OPTIONS abuse-protection handshake, and ACR pushes in a batch published one
event per entry."""
import hashlib
import json

import requests
from conftest import fixture_bytes, headers_of

SECRET = "eventgrid-key-1"
EXTRA = """  - name: acr-grid
    type: azure-eventgrid
    secrets: ["literal:%s"]
""" % SECRET
KEY = hashlib.sha256(("acr-grid" + SECRET).encode()).hexdigest()


def test_subscription_validation_is_answered_with_the_code(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    body = fixture_bytes("azure-eventgrid/subscription-validation.json")
    h = {"Content-Type": "application/json", "aeg-event-type": "SubscriptionValidation"}
    r = gw.post("/webhooks/acr-grid/" + KEY, body, h)
    assert r.status_code == 200, r.text
    assert r.json() == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}
    # Without the key (or a token) the validation is refused like any delivery.
    assert gw.post("/webhooks/acr-grid", body, h).status_code == 401
    # Then a batch: one event per pushed image, the delete skipped.
    r = gw.post("/webhooks/acr-grid/" + KEY,
                fixture_bytes("azure-eventgrid/batch-push-and-delete.json"),
                {"Content-Type": "application/json", "aeg-event-type": "Notification"})
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 2
    msgs = kafka.read("hookbus.image", 2)
    subjects = sorted(headers_of(m)["ce_subject"] for m in msgs)
    assert subjects == ["acmeprod.azurecr.io/platform/api:v1.8.1",
                        "acmeprod.azurecr.io/platform/worker:2026.11.23"]
    assert all(json.loads(m.value())["registry"] == "acmeprod.azurecr.io" for m in msgs)


def test_cloudevents_options_handshake(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    r = requests.options(gw.url("/webhooks/acr-grid/" + KEY),
                         headers={"WebHook-Request-Origin": "eventgrid.azure.net"},
                         timeout=10, verify=False)
    assert r.status_code == 200, r.text
    assert r.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"
    assert "POST" in r.headers["Allow"]
    r = requests.options(gw.url("/webhooks/acr-grid"),
                         headers={"WebHook-Request-Origin": "evil.example.com"},
                         timeout=10, verify=False)
    assert r.status_code == 400 and "WebHook-Allowed-Origin" not in r.headers
    assert requests.options(gw.url("/webhooks/acr-grid"), timeout=10,
                            verify=False).status_code == 400
    # Other receiver types still allow POST only.
    r = gw.post("/webhooks/acr-grid", fixture_bytes("azure-eventgrid/cloudevents-chart-pushed.json"),
                {"Content-Type": "application/cloudevents+json",
                 "Authorization": "Bearer " + SECRET})
    assert r.status_code == 202, r.text
    [m] = kafka.read("hookbus.image", 1)
    assert headers_of(m)["ce_type"] == "dev.hookbus.chart.push"
    assert headers_of(m)["ce_id"] == "e5c4a6d8-5555-4a0e-8c6f-4b8d0e2a5c7f"


def test_options_on_other_types_is_405(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA + """  - name: gh
    type: github
    secrets: ["literal:x"]
""")
    r = requests.options(gw.url("/webhooks/gh"),
                         headers={"WebHook-Request-Origin": "eventgrid.azure.net"},
                         timeout=10, verify=False)
    assert r.status_code == 405
