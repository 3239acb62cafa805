"""Quay receiver: repository push notifications, one event per updated tag.
Happy paths and ignored events of the fixtures run in the fixture walk
(test_all_fixtures.py); these tests cover what the walk does not."""
import hashlib
import json

from conftest import fixture_bytes

SECRET = "quay-s3cret"
EXTRA = f"""  - name: quay
    type: quay
    secrets: [literal:{SECRET}]
"""
KEY = hashlib.sha256(("quay" + SECRET).encode()).hexdigest()
JSON = {"Content-Type": "application/json"}


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
