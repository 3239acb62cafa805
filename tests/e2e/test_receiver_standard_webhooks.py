"""Standard Webhooks end to end, over a real socket: the standard-webhooks type (v1 HMAC
with a whsec_ key, v1a Ed25519 with a whpk_ key) and GitLab's signing token. Forged,
replayed (fresh timestamp on a captured signature), stale and future deliveries are
refused with 401, and so is an exact replay inside the tolerance (same webhook-id,
timestamp and signature as a delivery answered 2xx); a sender's retry (same webhook-id, new
timestamp) keeps the event id, and a retry after a 503 is accepted."""
import base64
import json
import time

from conftest import fixture_bytes, headers_of, wait_for
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fixture_walk import standard_webhooks_headers

KEY = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
SIGNER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUB = "whpk_" + base64.b64encode(
    SIGNER.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
EXTRA = """  - name: sw
    type: standard-webhooks
    secrets: ["literal:%s", "literal:%s"]
  - name: gl
    type: gitlab
    secrets: ["literal:%s", "literal:plain-gitlab-token"]
""" % (KEY, PUB, KEY)
BODY = json.dumps({"ref": "refs/heads/main", "repository": "https://git.example.org/acme/app",
                   "commit": "0123456789abcdef0123456789abcdef01234567"}).encode()


def post_sw(gw, msg_id, body=BODY, timestamp=None, headers=None, key=KEY):
    h = {"Content-Type": "application/json", "webhook-id": msg_id}
    h.update(standard_webhooks_headers(key, msg_id, body, timestamp))
    h.update(headers or {})
    return gw.post("/webhooks/sw", body, h)


def test_v1_signature_and_retry_keep_the_id(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    r = post_sw(gw, "msg_a1")
    assert r.status_code == 202, r.text
    assert r.json()["ids"] == ["msg_a1"]
    # The sender's retry: same webhook-id, a new timestamp and signature.
    r = post_sw(gw, "msg_a1", timestamp=int(time.time()) - 30)
    assert r.status_code == 202, r.text
    msgs = kafka.read("hookbus.other", 2)
    assert [headers_of(m)["ce_id"] for m in msgs] == ["msg_a1", "msg_a1"]
    assert headers_of(msgs[0])["ce_type"] == "dev.hookbus.ref.requested"


def test_v1a_ed25519_signature_in_a_list(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    ts = str(int(time.time()))
    sig = base64.b64encode(SIGNER.sign(b"msg_b2." + ts.encode() + b"." + BODY)).decode()
    # A list: an unknown version and a wrong v1 first, then the valid v1a.
    h = {"Content-Type": "application/json", "webhook-id": "msg_b2", "webhook-timestamp": ts,
         "webhook-signature": "v2,AAAA v1,%s v1a,%s" % (
             base64.b64encode(b"x" * 32).decode(), sig)}
    r = gw.post("/webhooks/sw", BODY, h)
    assert r.status_code == 202, r.text
    assert headers_of(kafka.read("hookbus.other", 1)[0])["ce_id"] == "msg_b2"
    # The same signature over another body is a forgery.
    assert gw.post("/webhooks/sw", BODY + b" ", h).status_code == 401


def test_forged_replayed_stale_and_future_are_401(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    wrong = "whsec_" + base64.b64encode(b"not the key, not the key, not th").decode()
    assert post_sw(gw, "msg_c1", key=wrong).status_code == 401
    # Replay: a captured delivery's signature with a fresh timestamp.
    captured = standard_webhooks_headers(KEY, "msg_c2", BODY, int(time.time()) - 3600)
    replay = {"Content-Type": "application/json", "webhook-id": "msg_c2",
              "webhook-timestamp": str(int(time.time())),
              "webhook-signature": captured["webhook-signature"]}
    assert gw.post("/webhooks/sw", BODY, replay).status_code == 401
    # The captured delivery as it was: stale (beyond the 5-minute tolerance).
    assert post_sw(gw, "msg_c2", timestamp=int(time.time()) - 3600).status_code == 401
    assert post_sw(gw, "msg_c3", timestamp=int(time.time()) - 400).status_code == 401
    assert post_sw(gw, "msg_c4", timestamp=int(time.time()) + 400).status_code == 401
    # An id changed under a valid signature.
    good = standard_webhooks_headers(KEY, "msg_c5", BODY)
    assert gw.post("/webhooks/sw", BODY, dict(good, **{"webhook-id": "msg_c6"})).status_code == 401
    assert gw.post("/webhooks/sw", BODY, {"Content-Type": "application/json"}).status_code == 401
    # Within the tolerance it is accepted (the refusals above were not about the route).
    assert post_sw(gw, "msg_c7", timestamp=int(time.time()) - 200).status_code == 202
    assert [headers_of(m)["ce_id"] for m in kafka.read("hookbus.other", 1)] == ["msg_c7"]


def test_gitlab_signing_token(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    body = fixture_bytes("gitlab/push.json")
    base = {"Content-Type": "application/json", "X-Gitlab-Event": "Push Hook",
            "X-Gitlab-Event-UUID": "uuid-1", "webhook-id": "idem-1", "Idempotency-Key": "idem-1"}
    r = gw.post("/webhooks/gl", body, dict(base, **standard_webhooks_headers(KEY, "idem-1", body)))
    assert r.status_code == 202, r.text
    assert r.json()["ids"] == ["idem-1"]
    # A bad signature is not rescued by a valid X-Gitlab-Token next to it.
    bad = standard_webhooks_headers(KEY, "idem-1", body + b" ")
    r = gw.post("/webhooks/gl", body, dict(base, **bad, **{"X-Gitlab-Token": "plain-gitlab-token"}))
    assert r.status_code == 401
    stale = standard_webhooks_headers(KEY, "idem-1", body, int(time.time()) - 900)
    assert gw.post("/webhooks/gl", body, dict(base, **stale)).status_code == 401
    # Older instances: X-Gitlab-Token alone.
    old = {k: v for k, v in base.items() if k not in ("webhook-id", "Idempotency-Key")}
    old["X-Gitlab-Event-UUID"] = "uuid-2"
    r = gw.post("/webhooks/gl", body, dict(old, **{"X-Gitlab-Token": "plain-gitlab-token"}))
    assert r.status_code == 202, r.text
    ids = sorted(headers_of(m)["ce_id"] for m in kafka.read("hookbus.git", 2))
    assert ids == ["idem-1", "uuid-2"]


def test_exact_replay_inside_the_window_is_401(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA)
    h = {"Content-Type": "application/json", "webhook-id": "msg_r1"}
    h.update(standard_webhooks_headers(KEY, "msg_r1", BODY))
    assert gw.post("/webhooks/sw", BODY, h).status_code == 202
    # The captured delivery sent again as is, well inside the 5 minutes.
    r = gw.post("/webhooks/sw", BODY, h)
    assert r.status_code == 401 and r.json() == {"error": "authentication failed"}
    assert any(l.get("audit") == "401" and "replay" in l.get("reason", "") for l in gw.lines())
    # The sender's own retry signs a new timestamp: accepted, same event id.
    assert post_sw(gw, "msg_r1", timestamp=int(time.time()) - 1).status_code == 202
    # GitLab's signing token: the same.
    body = fixture_bytes("gitlab/push.json")
    g = {"Content-Type": "application/json", "X-Gitlab-Event": "Push Hook", "webhook-id": "gl-r1"}
    g.update(standard_webhooks_headers(KEY, "gl-r1", body))
    assert gw.post("/webhooks/gl", body, g).status_code == 202
    assert gw.post("/webhooks/gl", body, g).status_code == 401
    # Replayed to another receiver with the same key: that receiver has not seen it.
    assert gw.post("/webhooks/sw", body, g).status_code != 401
    # X-Gitlab-Token deliveries are not Standard Webhooks: sent twice, both accepted.
    old = {"Content-Type": "application/json", "X-Gitlab-Event": "Push Hook",
           "X-Gitlab-Token": "plain-gitlab-token", "X-Gitlab-Event-UUID": "uuid-r"}
    assert [gw.post("/webhooks/gl", body, old).status_code for _ in range(2)] == [202, 202]


def test_retry_after_a_503_is_accepted(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, extra=EXTRA, timeout=1000)
    h = {"Content-Type": "application/json", "webhook-id": "msg_s1"}
    h.update(standard_webhooks_headers(KEY, "msg_s1", BODY))
    assert kafka.command("down 1") == "ok"
    r = gw.post("/webhooks/sw", BODY, h)
    assert r.status_code == 503, r.text
    assert kafka.command("up 1") == "ok"
    # The same delivery again, byte for byte: nothing was accepted, so it gets in.
    wait_for(lambda: gw.post("/webhooks/sw", BODY, h).status_code == 202, timeout=30,
             interval=0.5, what="the retry accepted")
    assert gw.post("/webhooks/sw", BODY, h).status_code == 401
    assert [headers_of(m)["ce_id"] for m in kafka.read("hookbus.other", 1)] == ["msg_s1"]
