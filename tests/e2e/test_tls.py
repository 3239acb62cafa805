"""TLS: the self-signed certificate can be pinned by its logged fingerprint,
old protocol versions are refused, plain HTTP fails cleanly."""
import hashlib
import socket
import ssl

import pytest
import urllib3

from conftest import FIXTURES, GITHUB_SECRET, sign

CONFIG = """
listen: 127.0.0.1:0
tls:
  enabled: true
  min_version: "{min_version}"
kafka:
  brokers: {brokers}
receivers:
  - name: acme-github
    type: github
    secrets: [env:E2E_GITHUB_SECRET]
"""


def tls_gateway(kafka, make_gateway, min_version="1.2"):
    return make_gateway(kafka.bootstrap, config=CONFIG.format(brokers=kafka.bootstrap,
                                                              min_version=min_version))


def logged_fingerprint(gw):
    return next(l["fingerprint_sha256"] for l in gw.lines() if "SELF-SIGNED" in l.get("msg", ""))


def handshake(port, version):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = version
    ctx.maximum_version = version
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw) as s:
            return s.version()


def test_client_pinned_to_the_self_signed_fingerprint_connects(kafka, make_gateway):
    gw = tls_gateway(kafka, make_gateway)
    fp = logged_fingerprint(gw)
    body = (FIXTURES / "github" / "push.json").read_bytes()
    pool = urllib3.PoolManager(cert_reqs="CERT_NONE", assert_fingerprint=fp)
    r = pool.request("POST", gw.url("/webhooks/acme-github"), body=body,
                     headers={"Content-Type": "application/json", "X-GitHub-Event": "push",
                              "X-GitHub-Delivery": "pinned-1",
                              "X-Hub-Signature-256": sign(GITHUB_SECRET, body)})
    assert r.status == 202
    # A client pinned to another fingerprint refuses the connection.
    other = urllib3.PoolManager(cert_reqs="CERT_NONE", assert_fingerprint="00" * 32,
                                retries=False)
    with pytest.raises(urllib3.exceptions.SSLError):
        other.request("GET", gw.url("/healthz"))


def test_tls_1_1_is_refused_and_1_2_accepted(kafka, make_gateway):
    gw = tls_gateway(kafka, make_gateway)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        handshake(gw.port, ssl.TLSVersion.TLSv1_1)
    assert handshake(gw.port, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    assert handshake(gw.port, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"


def test_min_version_1_3_refuses_1_2(kafka, make_gateway):
    gw = tls_gateway(kafka, make_gateway, min_version="1.3")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        handshake(gw.port, ssl.TLSVersion.TLSv1_2)
    assert handshake(gw.port, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"


def test_plain_http_to_the_tls_port_fails_cleanly(kafka, make_gateway):
    gw = tls_gateway(kafka, make_gateway)
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            reply = s.recv(4096)
        except ConnectionResetError:
            reply = b""
    assert not reply.startswith(b"HTTP/1.1 200"), reply
    # The gateway is unharmed.
    assert handshake(gw.port, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
