"""Harbor receiver: PUSH_ARTIFACT in Harbor's default and CloudEvents formats.
Happy paths and ignored events of the fixtures run in the fixture walk
(test_all_fixtures.py); these tests cover what the walk does not."""
import hashlib
import json

from conftest import fixture_bytes, headers_of

SECRET = "harbor-auth-header-value"
EXTRA = f"""  - name: harbor
    type: harbor
    secrets: [literal:{SECRET}]
"""
HEADERS = {"Content-Type": "application/json", "Authorization": SECRET}


def test_harbor_cloudevents_format_structured_and_binary(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    body = fixture_bytes("harbor/push-artifact-cloudevents.json")
    r = gw.post("/webhooks/harbor", body,
                {**HEADERS, "Content-Type": "application/cloudevents+json"})
    assert r.status_code == 202, r.text
    ce = json.loads(body)
    binary = {**HEADERS, "ce-specversion": "1.0", "ce-id": "binary-1",
              "ce-type": "harbor.artifact.pushed", "ce-source": ce["source"],
              "ce-operator": "bob"}
    r = gw.post("/webhooks/harbor", json.dumps(ce["data"]).encode(), binary)
    assert r.status_code == 202, r.text
    msgs = {headers_of(m)["ce_id"]: m for m in kafka.read("hookbus.image", 2)}
    assert set(msgs) == {ce["id"], "binary-1"}
    for mid, actor in ((ce["id"], "alice"), ("binary-1", "bob")):
        h, d = headers_of(msgs[mid]), json.loads(msgs[mid].value())
        assert h["ce_repo"] == "harbor.example.com/platform/api" and h["ce_tag"] == "2.4.0"
        assert h["ce_subject"] == "harbor.example.com/platform/api:2.4.0"
        assert d["actor"] == actor and d["provider_event"] == "harbor.artifact.pushed"
        assert d["delivery_id"] == mid


def test_harbor_auth_and_ignored_events(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    body = fixture_bytes("harbor/push-artifact.json")
    assert gw.post("/webhooks/harbor", body,
                   {**HEADERS, "Authorization": "wrong"}).status_code == 401
    assert gw.post("/webhooks/harbor", body,
                   {"Content-Type": "application/json"}).status_code == 401
    key = hashlib.sha256(("harbor" + "wrong").encode()).hexdigest()
    assert gw.post(f"/webhooks/harbor/{key}", body, HEADERS).status_code == 401
    for name in ("pull-artifact.json", "scanning-completed.json"):
        r = gw.post("/webhooks/harbor", fixture_bytes("harbor/" + name), HEADERS)
        assert r.status_code == 200, r.text
    # A digest-only push (Harbor repeats the digest as the tag) is not acted on.
    untagged = json.loads(body)
    for res in untagged["event_data"]["resources"]:
        res["tag"] = res["digest"]
    r = gw.post("/webhooks/harbor", json.dumps(untagged).encode(), HEADERS)
    assert r.status_code == 200, r.text
    assert kafka.read_all("hookbus.image") == []
