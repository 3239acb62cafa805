"""Docker Hub receiver: image pushes authenticated by the key route.
Happy paths and ignored events of the fixtures run in the fixture walk
(test_all_fixtures.py); these tests cover what the walk does not."""
import hashlib

from conftest import fixture_bytes

SECRET = "hub-s3cret"
EXTRA = f"""  - name: hub
    type: dockerhub
    secrets: [literal:{SECRET}]
"""
KEY = hashlib.sha256(("hub" + SECRET).encode()).hexdigest()
JSON = {"Content-Type": "application/json"}


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
