"""The gateway console's API (/api/v1/deliveries, redeliver, /ui/) on admin_listen:
what is recorded, what never is (secrets), filters, bounds, the bearer token."""
import hashlib
import json
import subprocess

import requests

from conftest import (BASE_CONFIG, BIN, GITHUB_SECRET, TOKEN, fixture_bytes, github_post,
                      wait_for)

ADMIN_TOKEN = "console-token-0123456789"


def console_config(kafka, keep=200, max_body=65536, token=f"literal:{ADMIN_TOKEN}",
                   admin_listen="127.0.0.1:0"):
    cfg = BASE_CONFIG.format(brokers=kafka.bootstrap, format="binary", timeout=5000,
                             max_body=2097152, token=TOKEN)
    cfg += f"admin_listen: {admin_listen}\n"
    if token:
        cfg += f"admin:\n  token: {token}\n"
    cfg += f"deliveries:\n  keep: {keep}\n  max_body_bytes: {max_body}\n"
    return cfg


class Console:
    """The admin listener of a running gateway, with the bearer token."""

    def __init__(self, gw, token=ADMIN_TOKEN):
        self.gw = gw
        self.token = token
        self.port = wait_for(self._port, what="the admin listener")
        self.base = f"http://127.0.0.1:{self.port}"

    def _port(self):
        for rec in self.gw.lines():
            if rec.get("msg") == "listening" and rec.get("what") == "admin":
                return rec["port"]
        return None

    def request(self, method, path, token=None, **kw):
        tok = self.token if token is None else token
        headers = {"Authorization": f"Bearer {tok}"} if tok else {}
        return requests.request(method, self.base + path, headers=headers, timeout=15, **kw)

    def get(self, path, **kw):
        r = self.request("GET", path, **kw)
        assert r.status_code == 200, r.text
        return r.json()

    def deliveries(self, **params):
        return self.get("/api/v1/deliveries", params=params)


def start(kafka, make_gateway, **kw):
    gw = make_gateway(kafka.bootstrap, config=console_config(kafka, **kw))
    return gw, Console(gw)


def generic_post(gw, body, token=TOKEN, request_id="req-1"):
    return gw.post("/webhooks/gen", body, {"Content-Type": "application/json",
                                          "Authorization": token, "X-Request-Id": request_id})


def test_deliveries_are_recorded_newest_first_without_secrets(kafka, make_gateway):
    gw, con = start(kafka, make_gateway)
    push = fixture_bytes("github/push.json")
    assert github_post(gw, "push", push).status_code == 202
    assert github_post(gw, "ping", fixture_bytes("github/ping.json"),
                       delivery="ping-1").status_code == 200
    assert github_post(gw, "push", push, delivery="forged-1",
                       secret="wrong-secret").status_code == 401
    body = json.dumps({"ref": "main", "repository": "https://github.com/acme/lib"}).encode()
    assert generic_post(gw, body).status_code == 202
    key = hashlib.sha256(("gen" + TOKEN).encode()).hexdigest()
    assert gw.post(f"/webhooks/gen/{key}", body,
                   {"Content-Type": "application/json",
                    "Cookie": "session=cookie-secret-42"}).status_code == 202

    got = con.deliveries()
    assert [d["status"] for d in got] == [202, 202, 401, 200, 202]
    ids = [int(d["id"]) for d in got]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 5
    keyed, gen, forged, ping, first = got
    assert first["receiver"] == "acme-github" and first["event"] == "push"
    assert first["delivery_id"] == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert first["reason"] == "published" and first["remote"] == "127.0.0.1"
    assert first["latency_ms"] >= 0 and first["authentic"] is True
    ev = first["events"][0]
    assert ev["id"] == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert ev["type"] == "dev.hookbus.git.push"
    assert ev["subject"] == "github.com/acme/app@refs/heads/main"
    msgs = kafka.read("hookbus.git", 3)
    placed = {(m.partition(), m.offset()) for m in msgs}
    assert ev["topic"] == "hookbus.git" and (ev["partition"], ev["offset"]) in placed
    assert ping["event"] == "ping" and ping["events"] == [] and ping["delivery_id"] == "ping-1"
    assert forged["reason"] == "authentication failed" and forged["authentic"] is False
    assert forged["redeliverable"] is False
    assert gen["delivery_id"] == "req-1" and gen["events"][0]["id"] == "req-1"
    assert keyed["path"] == "/webhooks/gen/<key>"

    detail = con.get(f"/api/v1/deliveries/{first['id']}")
    assert detail["body"] == push.decode() and detail["redeliverable"] is True
    assert detail["headers"]["X-GitHub-Event"] == "push"
    lowered = {k.lower() for k in detail["headers"]}
    assert "x-hub-signature-256" not in lowered and "authorization" not in lowered
    detail_forged = con.get(f"/api/v1/deliveries/{forged['id']}")
    assert detail_forged["body"] is None and "not authenticated" in detail_forged["body_note"]
    assert "authorization" not in {k.lower() for k in con.get(f"/api/v1/deliveries/{gen['id']}")["headers"]}
    assert "cookie" not in {k.lower() for k in con.get(f"/api/v1/deliveries/{keyed['id']}")["headers"]}

    # No secret, signature, key or cookie anywhere in what the console answers.
    everything = json.dumps(got) + "".join(
        con.request("GET", f"/api/v1/deliveries/{d['id']}").text for d in got)
    for secret in (GITHUB_SECRET, TOKEN, key, "cookie-secret-42", "sha256=",
                   ADMIN_TOKEN):
        assert secret not in everything, secret
    assert con.request("GET", "/api/v1/deliveries/999999").status_code == 404
    assert con.request("GET", "/api/v1/deliveries/abc").status_code == 404


def test_filters_and_limit(kafka, make_gateway):
    gw, con = start(kafka, make_gateway)
    push = fixture_bytes("github/push.json")
    body = json.dumps({"ref": "main", "repository": "https://github.com/acme/lib"}).encode()
    assert github_post(gw, "push", push).status_code == 202
    assert generic_post(gw, body, token="wrong").status_code == 401
    assert generic_post(gw, body, request_id="req-2").status_code == 202
    assert generic_post(gw, b'{"hello": 1}').status_code == 400

    assert [d["status"] for d in con.deliveries(receiver="gen")] == [400, 202, 401]
    assert [d["receiver"] for d in con.deliveries(receiver="acme-github")] == ["acme-github"]
    assert con.deliveries(receiver="nobody") == []
    assert [d["status"] for d in con.deliveries(status="4xx")] == [400, 401]
    assert [d["status"] for d in con.deliveries(status="401")] == [401]
    assert [d["receiver"] for d in con.deliveries(status="202")] == ["gen", "acme-github"]
    assert len(con.deliveries(limit=2)) == 2
    assert con.request("GET", "/api/v1/deliveries?limit=0").status_code == 400
    names = [r["name"] for r in con.get("/api/v1/receivers")]
    assert names == ["acme-github", "gen", "gen-fixed", "ce"]


def test_redeliver_publishes_the_same_ids(kafka, make_gateway):
    gw, con = start(kafka, make_gateway)
    body = json.dumps({"freight": {"commits": [
        {"repoURL": "https://github.com/acme/a.git", "tag": "v1.0.0", "id": "a" * 40},
        {"repoURL": "https://github.com/acme/b.git", "tag": "v2.0.0", "id": "b" * 40}]}}).encode()
    r = generic_post(gw, body, request_id="req-9")
    assert r.status_code == 202 and r.json()["ids"] == ["req-9/1", "req-9/2"]
    assert generic_post(gw, body, token="wrong").status_code == 401
    forged, orig = con.deliveries()
    before = kafka.read("hookbus.other", 2)
    assert sorted(headers_id(m) for m in before) == ["req-9/1", "req-9/2"]

    r = con.request("POST", f"/api/v1/deliveries/{orig['id']}/redeliver")
    assert r.status_code == 202, r.text
    out = r.json()
    assert out["ids"] == ["req-9/1", "req-9/2"] and out["redelivered"] == orig["id"]
    after = kafka.read("hookbus.other", 4)
    assert sorted(headers_id(m) for m in after) == ["req-9/1", "req-9/1", "req-9/2", "req-9/2"]
    placed = {(m.partition(), m.offset()) for m in after} - {(m.partition(), m.offset()) for m in before}
    assert {(e["partition"], e["offset"]) for e in out["events"]} == placed

    latest = con.deliveries()[0]
    assert latest["reason"] == f"redelivery of delivery {orig['id']}"
    assert latest["remote"] == "console" and latest["delivery_id"] == "req-9"
    assert [e["id"] for e in latest["events"]] == ["req-9/1", "req-9/2"]

    r = con.request("POST", f"/api/v1/deliveries/{forged['id']}/redeliver")
    assert r.status_code == 409 and "not kept" in r.json()["error"]
    assert con.request("POST", "/api/v1/deliveries/424242/redeliver").status_code == 404
    assert con.request("GET", f"/api/v1/deliveries/{orig['id']}/redeliver").status_code == 405


def headers_id(msg):
    return dict(msg.headers())["ce_id"].decode()


def test_bounds_keep_and_max_body(kafka, make_gateway):
    gw, con = start(kafka, make_gateway, keep=3, max_body=64)
    body = json.dumps({"ref": "main", "repository": "https://github.com/acme/lib"}).encode()
    assert len(body) <= 64
    for i in range(5):
        assert generic_post(gw, body, request_id=f"r{i}").status_code == 202
    assert github_post(gw, "push", fixture_bytes("github/push.json")).status_code == 202
    gen = con.deliveries(receiver="gen")
    assert [d["delivery_id"] for d in gen] == ["r4", "r3", "r2"]
    assert len(con.deliveries()) == 4  # the other receiver keeps its own 3
    big = con.deliveries(receiver="acme-github")[0]
    assert big["redeliverable"] is False
    detail = con.get(f"/api/v1/deliveries/{big['id']}")
    assert detail["body"] is None and "max_body_bytes" in detail["body_note"]
    r = con.request("POST", f"/api/v1/deliveries/{big['id']}/redeliver")
    assert r.status_code == 409


def test_token_is_required_and_console_is_admin_only(kafka, make_gateway):
    gw, con = start(kafka, make_gateway)
    body = json.dumps({"ref": "main", "repository": "https://github.com/acme/lib"}).encode()
    assert generic_post(gw, body).status_code == 202
    for path in ("/api/v1/deliveries", "/api/v1/receivers", "/api/v1/deliveries/1"):
        for tok in ("", "wrong", ADMIN_TOKEN + "x", ADMIN_TOKEN[:-1]):
            r = con.request("GET", path, token=tok or "")
            assert r.status_code == 401, (path, tok)
            assert "req-1" not in r.text
    r = con.request("POST", "/api/v1/deliveries/1/redeliver", token="wrong")
    assert r.status_code == 401
    # Nothing was redelivered: a second message does not arrive within 2 s.
    assert len(kafka.read("hookbus.other", 2, timeout=2)) == 1
    r = con.request("GET", "/ui/", token="")
    assert r.status_code == 401 and "<html" in r.text and "req-1" not in r.text
    r = con.request("GET", "/ui/")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    assert con.get("/api/v1/deliveries")[0]["delivery_id"] == "req-1"
    # The webhook listener serves none of it.
    for path in ("/api/v1/deliveries", "/ui/"):
        r = requests.get(gw.url(path), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                         timeout=10)
        assert r.status_code == 404


def test_open_admin_listen_needs_a_token(kafka, tmp_path):
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(console_config(kafka, token=None, admin_listen="0.0.0.0:0"))
    r = subprocess.run([str(BIN / "hookbus-gateway"), "--config", str(cfg), "--check-config"],
                       capture_output=True, text=True, timeout=30,
                       env={"E2E_GITHUB_SECRET": GITHUB_SECRET})
    assert r.returncode != 0 and "admin.token" in r.stderr, r.stderr
    cfg.write_text(console_config(kafka, admin_listen="0.0.0.0:0"))
    r = subprocess.run([str(BIN / "hookbus-gateway"), "--config", str(cfg), "--check-config"],
                       capture_output=True, text=True, timeout=30,
                       env={"E2E_GITHUB_SECRET": GITHUB_SECRET})
    assert r.returncode == 0, r.stderr
    cfg.write_text(console_config(kafka, token=None))  # loopback: no token needed
    r = subprocess.run([str(BIN / "hookbus-gateway"), "--config", str(cfg), "--check-config"],
                       capture_output=True, text=True, timeout=30,
                       env={"E2E_GITHUB_SECRET": GITHUB_SECRET})
    assert r.returncode == 0, r.stderr


def test_loopback_console_without_token(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, config=console_config(kafka, token=None))
    con = Console(gw, token="")
    assert generic_post(gw, json.dumps({"ref": "main", "repository": "https://github.com/a/b"}
                                       ).encode()).status_code == 202
    assert con.deliveries()[0]["status"] == 202
