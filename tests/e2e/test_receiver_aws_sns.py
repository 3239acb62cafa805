"""aws-sns end to end, over real sockets: a local CA and an HTTPS server stand in for
sns.<region>.amazonaws.com (the signing certificate and the SubscribeURL). Signed
SubscriptionConfirmations (SignatureVersion 1 and 2) are confirmed by a GET of SubscribeURL;
a Notification carrying an EventBridge ECR event is published as the ecr receiver does; a
certificate URL outside cert_host, a topic outside topic_arns and a bad signature are 401
without a fetch; the certificate is fetched once and cached."""
import base64
import datetime
import http.server
import json
import ssl
import threading

import pytest
from conftest import FIXTURES, headers_of, wait_for
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

TOPIC = "arn:aws:sns:us-west-2:123456789012:ecr-pushes"


def make_cert(name, key, issuer_name, issuer_key, ca=False, san=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
         .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(hours=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


class FakeSns:
    """HTTPS on localhost with a test CA: /cert.pem (the signing certificate) and
    /confirm (the SubscribeURL); counts the requests per path."""

    def __init__(self, tmp_path):
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ca = make_cert("hookbus test CA", ca_key, "hookbus test CA", ca_key, ca=True)
        srv_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        srv = make_cert("localhost", srv_key, "hookbus test CA", ca_key, san="localhost")
        self.sign_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        sign_cert = make_cert("sns.us-west-2.amazonaws.com", self.sign_key, "hookbus test CA",
                              ca_key)
        self.ca_file = tmp_path / "ca.pem"
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        (tmp_path / "srv.pem").write_bytes(
            srv.public_bytes(serialization.Encoding.PEM) + srv_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
        cert_pem = sign_cert.public_bytes(serialization.Encoding.PEM)
        self.hits = {}
        hits = self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.split("?")[0]
                hits[path] = hits.get(path, 0) + 1
                body = cert_pem if path == "/cert.pem" else b"<ConfirmSubscriptionResponse/>"
                self.send_response(200 if path in ("/cert.pem", "/confirm") else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(tmp_path / "srv.pem"))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.base = "https://localhost:%d" % self.port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def sign(self, msg, version="1", cert_url=None):
        """Adds SigningCertURL, SignatureVersion and Signature to msg (AWS's string to sign)."""
        names = (["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
                 if msg["Type"] == "Notification" else
                 ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn",
                  "Type"])
        text = "".join("%s\n%s\n" % (n, msg[n]) for n in names if n in msg).encode()
        alg = hashes.SHA1() if version == "1" else hashes.SHA256()
        sig = self.sign_key.sign(text, padding.PKCS1v15(), alg)
        return dict(msg, SignatureVersion=version, Signature=base64.b64encode(sig).decode(),
                    SigningCertURL=cert_url or self.base + "/cert.pem")


@pytest.fixture
def sns(tmp_path):
    s = FakeSns(tmp_path)
    yield s
    s.httpd.shutdown()


def extra(sns):
    return """  - name: sns
    type: aws-sns
    topic_arns: ["%s"]
    cert_host: "^localhost:[0-9]+$"
    ca_file: %s
""" % (TOPIC, sns.ca_file)


def post(gw, msg):
    return gw.post("/webhooks/sns", json.dumps(msg).encode(),
                   {"Content-Type": "text/plain; charset=UTF-8",
                    "x-amz-sns-message-type": msg["Type"]})


def confirmation(sns, token="tok-1"):
    return {"Type": "SubscriptionConfirmation", "MessageId": "m-" + token, "Token": token,
            "TopicArn": TOPIC, "Message": "You have chosen to subscribe.",
            "SubscribeURL": sns.base + "/confirm?Action=ConfirmSubscription&Token=" + token,
            "Timestamp": "2026-11-23T11:30:00.000Z"}


def test_confirmation_v1_and_v2_fetch_the_certificate_once(kafka, make_gateway, sns):
    gw = make_gateway(kafka.bootstrap, extra=extra(sns))
    r = post(gw, sns.sign(confirmation(sns, "a"), "1"))
    assert r.status_code == 200, r.text
    assert "confirmed" in r.json()["message"]
    r = post(gw, sns.sign(confirmation(sns, "b"), "2"))
    assert r.status_code == 200, r.text
    assert sns.hits == {"/cert.pem": 1, "/confirm": 2}


def test_notification_with_an_ecr_event_is_published(kafka, make_gateway, sns):
    gw = make_gateway(kafka.bootstrap, extra=extra(sns))
    msg = {"Type": "Notification", "MessageId": "n-1", "TopicArn": TOPIC,
           "Subject": "ECR push", "Timestamp": "2026-11-23T11:31:00.000Z",
           "Message": (FIXTURES / "ecr" / "eventbridge-push.json").read_text()}
    r = post(gw, sns.sign(msg, "2"))
    assert r.status_code == 202, r.text
    [m] = kafka.read("hookbus.image", 1)
    h = headers_of(m)
    assert h["ce_type"] == "dev.hookbus.image.push"
    assert h["ce_subject"] == "123456789012.dkr.ecr.us-west-2.amazonaws.com/team/orders:v4.2.0"
    # A changed message no longer matches its signature.
    bad = sns.sign(msg, "2")
    bad["Message"] = bad["Message"].replace("v4.2.0", "v6.6.6")
    assert post(gw, bad).status_code == 401
    unsub = sns.sign(dict(confirmation(sns, "u"), Type="UnsubscribeConfirmation"), "1")
    r = post(gw, unsub)
    assert r.status_code == 200 and r.json()["status"] == "ignored"


def test_refusals_fetch_nothing(kafka, make_gateway, sns):
    gw = make_gateway(kafka.bootstrap, extra=extra(sns))
    # The certificate URL on a host outside cert_host (same server, by IP): 401, no fetch.
    outside = sns.sign(confirmation(sns), "1",
                       cert_url="https://127.0.0.1:%d/cert.pem" % sns.port)
    r = post(gw, outside)
    assert r.status_code == 401
    plain = sns.sign(confirmation(sns), "1",
                     cert_url="http://localhost:%d/cert.pem" % sns.port)
    assert post(gw, plain).status_code == 401
    other_topic = sns.sign(dict(confirmation(sns), TopicArn=TOPIC + "-other"), "1")
    assert post(gw, other_topic).status_code == 401
    assert sns.hits == {}
    # A SubscribeURL outside cert_host is not visited, even when the signature verifies.
    c = confirmation(sns, "x")
    c["SubscribeURL"] = "https://127.0.0.1:%d/confirm?Token=x" % sns.port
    r = post(gw, sns.sign(c, "2"))
    assert r.status_code == 400
    wait_for(lambda: sns.hits.get("/cert.pem") == 1, what="certificate fetched")
    assert "/confirm" not in sns.hits
