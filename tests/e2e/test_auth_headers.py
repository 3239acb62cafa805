"""Credentials carried in the headers alone (a bearer token, a token header,
GitLab's X-Gitlab-Token) are checked when the headers arrive: a wrong one is
answered 401 before the body is sent, a right one's body is authenticated and
takes nothing from the pre-authentication budget. Signatures over the body
(GitHub's HMAC, GitLab's signing token) still wait for it, under the budget."""
import base64
import json
import socket
import threading
import time

import requests

from conftest import GITHUB_SECRET, TOKEN, fixture_bytes, sign, wait_for
from fixture_walk import standard_webhooks_headers

SW_KEY = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
GL_TOKEN = "gitlab-plain-token"
BUDGET = 65536

CONFIG = """
listen: 127.0.0.1:0
tls:
  enabled: false
kafka:
  brokers: {brokers}
limits:
  max_body_bytes: 2097152
  unauthenticated_body_bytes: {budget}
  request_timeout_ms: 20000
receivers:
  - name: acme-github
    type: github
    secrets: [env:E2E_GITHUB_SECRET]
  - name: gen
    type: generic
    secrets: [literal:{token}]
  - name: gen-key
    type: generic
    secrets: [literal:{token}]
    token_header: X-Api-Key
  - name: gl
    type: gitlab
    secrets: ["literal:{sw}", "literal:{gl}"]
"""


def start(kafka, make_gateway):
    return make_gateway(kafka.bootstrap, config=CONFIG.format(
        brokers=kafka.bootstrap, budget=BUDGET, token=TOKEN, sw=SW_KEY, gl=GL_TOKEN))


def gauge(gw, name):
    for line in requests.get(gw.url("/metrics"), timeout=5).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def read_answer(sock, timeout=5.0):
    """Reads one whole response (head and Content-Length body) before a deadline."""
    deadline = time.monotonic() + timeout
    buf = b""
    while True:
        if b"\r\n\r\n" in buf:
            head, body = buf.split(b"\r\n\r\n", 1)
            n = int(next((l.split(b":", 1)[1] for l in head.split(b"\r\n")
                          if l.lower().startswith(b"content-length:")), b"0"))
            if len(body) >= n:
                return head.decode("latin-1"), body[:n]
        assert time.monotonic() < deadline, f"no complete answer: {buf!r}"
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        assert chunk, f"closed before a complete answer: {buf!r}"
        buf += chunk


def headers_only(gw, path, fields, length):
    """Sends the request line and headers announcing length body bytes, never
    the body, and returns the answer."""
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
    try:
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in fields.items())
        s.sendall((head + f"Content-Length: {length}\r\n\r\n").encode())
        return read_answer(s)
    finally:
        s.close()


def generic_body(size):
    doc = {"ref": "main", "repository": "https://github.com/acme/lib", "pad": ""}
    doc["pad"] = "x" * (size - len(json.dumps(doc)))
    return json.dumps(doc).encode()


def test_wrong_token_is_401_before_the_body(kafka, make_gateway):
    gw = start(kafka, make_gateway)
    cases = [("/webhooks/gen", {"Authorization": "Bearer wrong"}),
             ("/webhooks/gen-key", {"X-Api-Key": "wrong"}),
             ("/webhooks/gen", {}),
             ("/webhooks/gl", {"X-Gitlab-Token": "wrong", "X-Gitlab-Event": "Push Hook"})]
    for path, fields in cases:
        # 1.5 MB announced (over the budget too), nothing of it sent: the
        # answer comes from the headers alone.
        head, body = headers_only(gw, path, fields, 1500000)
        assert head.startswith("HTTP/1.1 401"), (path, head)
        assert json.loads(body) == {"error": "authentication failed"}
    assert gauge(gw, "hookbus_gateway_unauthenticated_body_bytes") == 0
    audits = [l for l in gw.lines() if l.get("audit") == "401"]
    assert len(audits) == len(cases), audits
    text = requests.get(gw.url("/metrics"), timeout=5).text
    assert 'hookbus_gateway_requests_total{receiver="gen",code="401"} 2' in text
    # A small body sent with a wrong token (no Expect) is read and dropped,
    # then 401, so that the client reads the answer.
    r = gw.post("/webhooks/gen", generic_body(2000), {"Authorization": "Bearer wrong",
                                                     "Content-Type": "application/json"})
    assert r.status_code == 401 and r.json() == {"error": "authentication failed"}


def test_right_token_body_is_not_held_against_the_budget(kafka, make_gateway):
    gw = start(kafka, make_gateway)
    big = generic_body(1000000)  # 15 times the budget
    # A right-token body larger than the budget, held half sent: nothing counted.
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
    try:
        s.sendall((f"POST /webhooks/gen HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(big)}\r\n\r\n"
                   ).encode() + big[:500000])
        # An unsigned HMAC request's body still counts: 40000 bytes held.
        h = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
        try:
            h.sendall(b"POST /webhooks/acme-github HTTP/1.1\r\nHost: x\r\n"
                      b"X-GitHub-Event: push\r\nX-Hub-Signature-256: sha256=00\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 40000\r\n\r\n{")
            wait_for(lambda: gauge(gw, "hookbus_gateway_unauthenticated_body_bytes") == 40000,
                     what="the HMAC body counted")
            s.sendall(big[500000:])
            head, body = read_answer(s, timeout=15)
            assert head.startswith("HTTP/1.1 202"), (head, body)
            assert gauge(gw, "hookbus_gateway_unauthenticated_body_bytes") == 40000
        finally:
            h.close()
    finally:
        s.close()
    wait_for(lambda: gauge(gw, "hookbus_gateway_unauthenticated_body_bytes") == 0,
             what="budget given back")
    # An HMAC receiver's body over the budget is still refused before it is read.
    head, _ = headers_only(gw, "/webhooks/acme-github",
                           {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=00"},
                           BUDGET + 1)
    assert head.startswith("HTTP/1.1 503"), head
    # Through requests too: token header and GitLab token, bodies over the budget.
    r = gw.post("/webhooks/gen-key", big, {"X-Api-Key": TOKEN, "Content-Type": "application/json"})
    assert r.status_code == 202, r.text
    push = json.loads(fixture_bytes("gitlab/push.json"))
    push["pad"] = "y" * 200000
    r = gw.post("/webhooks/gl", json.dumps(push).encode(),
                {"X-Gitlab-Token": GL_TOKEN, "X-Gitlab-Event": "Push Hook",
                 "Content-Type": "application/json"})
    assert r.status_code == 202, r.text


def test_signatures_still_wait_for_the_body(kafka, make_gateway):
    gw = start(kafka, make_gateway)
    body = fixture_bytes("gitlab/push.json")
    h = {"X-Gitlab-Event": "Push Hook", "Content-Type": "application/json",
         "webhook-id": "msg_gl1"}
    h.update(standard_webhooks_headers(SW_KEY, "msg_gl1", body))
    assert gw.post("/webhooks/gl", body, h).status_code == 202
    # A bad signature next to a right X-Gitlab-Token is still 401 (after the body).
    bad = dict(h, **{"webhook-id": "msg_gl2", "X-Gitlab-Token": GL_TOKEN})
    assert gw.post("/webhooks/gl", body, bad).status_code == 401
    gh = fixture_bytes("github/push.json")
    r = gw.post("/webhooks/acme-github", gh, {"X-GitHub-Event": "push",
                                              "X-GitHub-Delivery": "d-1",
                                              "X-Hub-Signature-256": sign(GITHUB_SECRET, gh),
                                              "Content-Type": "application/json"})
    assert r.status_code == 202, r.text


def test_many_wrong_tokens_at_once_hold_nothing(kafka, make_gateway):
    """Twenty wrong-token requests announcing 2 MB each, concurrently: every
    one is 401 from its headers and the budget stays empty."""
    gw = start(kafka, make_gateway)
    results = []

    def one():
        results.append(headers_only(gw, "/webhooks/gen", {"Authorization": "Bearer no"},
                                    2000000)[0])

    threads = [threading.Thread(target=one) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 20 and all(h.startswith("HTTP/1.1 401") for h in results), results
    assert gauge(gw, "hookbus_gateway_unauthenticated_body_bytes") == 0
