"""The fixture walk shared by test_all_fixtures.py and test_schemas.py.

tests/fixtures/<dir>/<name>.expect.json describes one request a sender makes
(headers, body file, receiver) and what the gateway must answer and publish;
tests/fixtures/receivers.yaml configures the receivers and auth.json says how
each one is authenticated. tests/unit/test_receivers.c walks the same files.
"""
import base64
import hashlib
import hmac
import json
import pathlib
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
AUTH = json.loads((FIXTURES / "auth.json").read_text())


class Fixture:
    def __init__(self, path):
        self.path = path
        self.name = "%s/%s" % (path.parent.name, path.name[: -len(".expect.json")])
        self.expect = json.loads(path.read_text())
        self.receiver = self.expect.get("receiver", path.parent.name)
        body = self.expect.get("body", path.name[: -len(".expect.json")] + ".json")
        self.body = (path.parent / body).read_bytes()
        self.status = self.expect["status"]
        self.events = self.expect["events"]

    def request(self):
        """(path, headers) of the request with its sender's credential."""
        a = AUTH["receivers"][self.receiver]
        secret = AUTH["secret"]
        headers = dict(self.expect["headers"])
        path = "/webhooks/" + self.receiver
        kind = a["kind"]
        if kind == "hmac":
            mac = hmac.new(secret.encode(), self.body, getattr(hashlib, a["alg"])).hexdigest()
            headers[a["header"]] = a.get("prefix", "") + mac
        elif kind == "header":
            headers[a["header"]] = secret
        elif kind == "bearer":
            headers["Authorization"] = "Bearer " + secret
        elif kind == "basic":
            headers["Authorization"] = "Basic " + base64.b64encode(
                ("hookbus:" + secret).encode()).decode()
        elif kind == "key":
            path += "/" + hashlib.sha256((self.receiver + secret).encode()).hexdigest()
        elif kind == "standard-webhooks":
            headers.update(standard_webhooks_headers(a["key"], headers["webhook-id"], self.body))
        elif kind == "ed25519":
            headers[a["header"]] = ed25519_sign(a["seed"], self.body
                                                + headers[a["nonce"]].encode())
        return path, headers


def standard_webhooks_headers(key, msg_id, body, timestamp=None):
    """webhook-timestamp and webhook-signature (v1) of body with a whsec_ key."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    raw = base64.b64decode(key[len("whsec_"):])
    mac = hmac.new(raw, msg_id.encode() + b"." + ts.encode() + b"." + body, hashlib.sha256)
    return {"webhook-timestamp": ts,
            "webhook-signature": "v1," + base64.b64encode(mac.digest()).decode()}


def ed25519_sign(seed_b64, message):
    """The base64 Ed25519 signature of message with the key of a 32-byte seed."""
    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed_b64))
    return base64.b64encode(key.sign(message)).decode()


def fixtures():
    return [Fixture(p) for p in sorted(FIXTURES.glob("*/*.expect.json"))]


def receivers_yaml():
    """The receivers: section of receivers.yaml with its paths made absolute."""
    return (FIXTURES / "receivers.yaml").read_text().replace("@FIXTURES@", str(FIXTURES))
