"""Docker Hub receiver: image pushes authenticated by the key route."""
import hashlib
import json

from conftest import fixture_bytes, headers_of

SECRET = "hub-s3cret"
EXTRA = f"""  - name: hub
    type: dockerhub
    secrets: [literal:{SECRET}]
"""
KEY = hashlib.sha256(("hub" + SECRET).encode()).hexdigest()
JSON = {"Content-Type": "application/json"}


def test_dockerhub_push_and_official_image(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    body = fixture_bytes("dockerhub/push.json")
    r = gw.post(f"/webhooks/hub/{KEY}", body, JSON)
    assert r.status_code == 202, r.text
    official = fixture_bytes("dockerhub/push-official.json")
    r = gw.post(f"/webhooks/hub/{KEY}", official, JSON)
    assert r.status_code == 202, r.text
    msgs = {headers_of(m)["ce_repo"]: m for m in kafka.read("hookbus.image", 2)}
    h, d = headers_of(msgs["docker.io/acme/app"]), json.loads(msgs["docker.io/acme/app"].value())
    assert h["ce_type"] == "dev.hookbus.image.push"
    assert h["ce_tag"] == "v2.0.1" and h["ce_subject"] == "docker.io/acme/app:v2.0.1"
    assert h["ce_provider"] == "dockerhub" and h["ce_source"] == "/receivers/hub"
    # No delivery id: the id is the hash of receiver name + body.
    assert h["ce_id"] == hashlib.sha256(b"hub" + body).hexdigest()
    assert d["kind"] == "image" and d["registry"] == "docker.io" and d["image"] == "acme/app"
    assert d["actor"] == "acmebot" and "https://hub.docker.com/r/acme/app" in d["repository"]["urls"]
    h = headers_of(msgs["docker.io/library/nginx"])
    assert h["ce_subject"] == "docker.io/library/nginx:1.27-alpine"


def test_dockerhub_rejects_wrong_key_and_bad_payload(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    body = fixture_bytes("dockerhub/push.json")
    wrong = hashlib.sha256(b"hubnot-the-secret").hexdigest()
    assert gw.post(f"/webhooks/hub/{wrong}", body, JSON).status_code == 401
    assert gw.post("/webhooks/hub", body, JSON).status_code == 401
    # The shared token check is the fallback for a proxy that adds a header.
    r = gw.post("/webhooks/hub", body, {**JSON, "Authorization": f"Bearer {SECRET}"})
    assert r.status_code == 202, r.text
    r = gw.post(f"/webhooks/hub/{KEY}", b'{"push_data": {}}', JSON)
    assert r.status_code == 400
    # Only the token-authenticated push was published.
    assert len(kafka.read("hookbus.image", 2, timeout=3)) == 1
