#!/usr/bin/python3
"""Builds the seed corpora of the fuzz targets (fuzz/corpus/<target>/) from
tests/fixtures, the configs and the CESQL unit tests. Run from the source
tree; the output is committed, so rerun only when the fixtures change.
Seeds are named by content hash, so reruns are idempotent."""
import base64
import glob
import hashlib
import hmac
import io
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")
OUT = os.path.join(ROOT, "fuzz", "corpus")
SECRET = b"It's a Secret to Everybody"  # the first secret of fuzz_auth.c

# fixture directory -> (receiver type, {file stem -> event header lines})
RECEIVERS = {
    "github": ("github", lambda stem: {
        "create-tag": "X-GitHub-Event: create", "release-published": "X-GitHub-Event: release",
        "package-published": "X-GitHub-Event: package",
        "registry-package-chart": "X-GitHub-Event: registry_package",
        "issues-opened": "X-GitHub-Event: issues", "ping": "X-GitHub-Event: ping",
    }.get(stem, "X-GitHub-Event: push") + "\nX-GitHub-Delivery: 72d3162e-cc78-11e3"),
    "gitlab": ("gitlab", lambda stem: "X-Gitlab-Event: " + {
        "tag-push": "Tag Push Hook", "tag-delete": "Tag Push Hook",
        "merge-request": "Merge Request Hook", "system-hook-push": "System Hook",
    }.get(stem, "Push Hook")),
    "gitea": ("gitea", lambda stem: "X-Gitea-Event: " + {
        "create-tag": "create", "delete-branch": "delete", "issues-opened": "issues",
        "release-published": "release",
    }.get(stem, "push") + "\nX-Gitea-Delivery: 3"),
    "bitbucket": ("bitbucket", lambda stem: "X-Event-Key: " + (
        "pullrequest:created" if stem.startswith("pullrequest") else "repo:push")),
    "bitbucket-server": ("bitbucket-server", lambda stem: "X-Event-Key: " + {
        "ping": "diagnostics:ping", "pr-opened": "pr:opened"}.get(stem, "repo:refs_changed")),
    "azure-devops": ("azure-devops", lambda stem: ""),
    "dockerhub": ("dockerhub", lambda stem: ""),
    "quay": ("quay", lambda stem: ""),
    "harbor": ("harbor", lambda stem: "ce-type: harbor.artifact.pushed\nce-id: 1"
               if "cloudevents" in stem else ""),
    "distribution": ("distribution", lambda stem: "Content-Type: "
                     "application/vnd.docker.distribution.events.v1+json"),
    "acr": ("acr", lambda stem: ""),
}

GENERIC = [
    {"ref": "refs/heads/main", "repository": "https://github.com/acme/app", "commit": "ab12"},
    {"ref": "v1.2.3", "repo": {"clone_url": "git@gitlab.com:acme/app.git"}},
    {"action": "published", "release": {"tag_name": "v2.0.0"}, "url": "https://x.org/a/b"},
    {"freight": {"commits": [{"repoURL": "https://github.com/acme/app", "tag": "v1",
                              "id": "abc"}, {"repoURL": "https://github.com/a/b",
                                             "branch": "dev"}]}},
    {"app": {"metadata": {"annotations": {"git.ref": "refs/tags/v3"}},
             "spec": {"sources": [{"repoURL": "https://github.com/acme/deploy"}]},
             "status": {"sync": {"revision": "deadbeef"}}}},
]

CESQL_EXTRA = [
    "type = 'dev.hookbus.git.push' AND repo LIKE 'github.com/%'",
    "EXISTS subject AND NOT (count > 10 OR draft)",
    "UPPER(ref) || LOWER('X') = 'REFS/HEADS/MAINx'",
    "ABS(count) + LENGTH(repo) * 3 / 0 % 2",
    "SUBSTRING(repo, -3, 2) IN ('ap', 'pp', 'x')",
    "CONCAT_WS('-', 'a', repo, INT(TRUE)) = BOOL('true')",
    "time >= '2026-01-01' XOR empty = ''",
    "missing = 1 AND MISSINGFN(1)",
]


def save(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def message(first, headers, body):
    """The framing of fuzz/harness.h."""
    head = (first + "\n" if first is not None else "")
    head += "".join(h + "\n" for h in headers.split("\n") if h)
    return head.encode() + b"\n" + body


def read(path):
    with open(path, "rb") as f:
        return f.read()


def receivers():
    for d, (rtype, hdrs) in RECEIVERS.items():
        for path in sorted(glob.glob(os.path.join(FIX, d, "*.json"))):
            stem = os.path.basename(path)[:-5]
            body = read(path)
            t = "gitlab-registry" if stem == "gitlab-registry-push" else rtype
            h = hdrs(stem)
            if "Content-Type" not in h:
                h += "\nContent-Type: application/json"
            save("fuzz_receiver", message(t, h, body))
            if d == "github" and stem == "push":
                form = b"payload=" + re.sub(rb"[^A-Za-z0-9]", lambda m: b"%%%02X" % m.group()[0],
                                            body)
                save("fuzz_receiver", message(t, h.replace("application/json",
                                                           "application/x-www-form-urlencoded"),
                                              form))
                save("fuzz_receiver", message(t, h + "\n:include-original: true", body))
    for g in GENERIC:
        save("fuzz_receiver", message("generic", "Content-Type: application/json\nX-Request-Id: r1",
                                      json.dumps(g).encode()))
    save("fuzz_receiver", message("generic", "Content-Type: application/json\n"
                                  ":repository: https://github.com/acme/fixed", b'{"ref": "main"}'))
    for path in sorted(glob.glob(os.path.join(FIX, "events", "*.json"))):
        body = read(path)
        save("fuzz_receiver", message("cloudevents", "Content-Type: application/cloudevents+json",
                                      body))
        ev = json.loads(body)
        batch = json.dumps([ev, ev]).encode()
        save("fuzz_receiver", message("cloudevents",
                                      "Content-Type: application/cloudevents-batch+json", batch))
        heads = "\n".join("ce-%s: %s" % (k, v) for k, v in ev.items()
                          if k not in ("data", "data_base64", "datacontenttype"))
        save("fuzz_receiver", message("cloudevents", heads + "\nContent-Type: application/json",
                                      json.dumps(ev.get("data", {})).encode()))


def walk():
    """Every fixture of tests/fixtures/*/*.expect.json as its sender sends it:
    for fuzz_receiver (receiver name of receivers.yaml, headers, body) and,
    signed with the fixture secret, for fuzz_auth."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
    import fixture_walk
    for f in fixture_walk.fixtures():
        path, headers = f.request()
        plain = "\n".join("%s: %s" % kv for kv in f.expect["headers"].items())
        save("fuzz_receiver", message(f.receiver, plain, f.body))
        key = path.rsplit("/", 1)[1] if path.count("/") == 3 else None
        signed = "\n".join("%s: %s" % kv for kv in headers.items())
        save("fuzz_auth", message(None, signed + ("\n:key: " + key if key else ""), f.body))
    # gar: Google's OIDC push tokens (valid, expired, wrong audience).
    for t in sorted(glob.glob(os.path.join(FIX, "gar", "token-*.txt"))):
        body = read(os.path.join(FIX, "gar", "insert-tag.json"))
        save("fuzz_auth", message(None, "Authorization: Bearer " + read(t).decode().strip(), body))


def auth():
    body = read(os.path.join(FIX, "github", "push.json"))
    sig256 = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    sig1 = hmac.new(SECRET, body, hashlib.sha1).hexdigest()
    basic = base64.b64encode(b"user:" + SECRET).decode()
    key = hashlib.sha256(b"fuzz" + SECRET).hexdigest()
    for h in ["X-Hub-Signature-256: sha256=" + sig256, "X-Hub-Signature: sha1=" + sig1,
              "X-Gitea-Signature: " + sig256, "X-Hub-Signature-256: sha256=" + sig256.upper(),
              "Authorization: Bearer " + SECRET.decode(), "Authorization: Basic " + basic,
              "Authorization: " + SECRET.decode(), "X-Gitlab-Token: " + SECRET.decode(),
              ":token-header: X-Token\nX-Token: " + SECRET.decode(), ":key: " + key,
              "ce-type: harbor.artifact.pushed\nAuthorization: " + SECRET.decode(),
              "X-Hub-Signature-256: sha256=\nAuthorization: Basic Og=="]:
        save("fuzz_auth", message(None, h, body))


def events():
    """Structured JSON, binary Kafka messages and Avro values of every event."""
    try:
        import avro.io
        import avro.schema
        with open(os.path.join(ROOT, "schemas", "cloudevent.avsc")) as f:
            schema = avro.schema.parse(f.read())
    except ImportError:
        schema = None
    paths = sorted(glob.glob(os.path.join(FIX, "events", "*.json")))
    paths.append(os.path.join(FIX, "avro", "python-event.json"))
    for path in paths:
        text = read(path)
        ev = json.loads(text)
        save("fuzz_event_json", text)
        save("fuzz_kafka_decode", message(None, "content-type: application/cloudevents+json\n"
                                          ":key: " + ev.get("partitionkey", "k"), text))
        heads = ["ce_%s: %s" % (k, v if not isinstance(v, bool) else str(v).lower())
                 for k, v in ev.items() if k not in ("data", "data_base64", "datacontenttype")]
        if "datacontenttype" in ev:
            heads.append("content-type: " + ev["datacontenttype"])
        data = json.dumps(ev["data"]).encode() if "data" in ev else \
            base64.b64decode(ev.get("data_base64", ""))
        save("fuzz_kafka_decode", message(None, "\n".join(heads), data))
        if schema:
            attrs = {k: v for k, v in ev.items() if k not in ("data", "data_base64")}
            datum = {"attribute": attrs,
                     "data": json.dumps(ev["data"]) if "data" in ev else data}
            buf = io.BytesIO()
            try:
                avro.io.DatumWriter(schema).write(datum, avro.io.BinaryEncoder(buf))
            except Exception as e:  # a schema mismatch: keep the other seeds
                print("avro seed skipped for %s: %s" % (path, e), file=sys.stderr)
                continue
            save("fuzz_avro", buf.getvalue())
            save("fuzz_kafka_decode", message(None, "content-type: application/cloudevents+avro",
                                              buf.getvalue()))
    save("fuzz_avro", read(os.path.join(FIX, "avro", "python-event.bin")))
    save("fuzz_kafka_decode", message(None, "content-type: application/cloudevents+avro",
                                      read(os.path.join(FIX, "avro", "python-event.bin"))))


def cesql():
    src = read(os.path.join(ROOT, "tests", "unit", "test_cesql.c")).decode()
    for m in re.finditer(r'expect_[a-z]+\(\s*"((?:[^"\\]|\\.)*)"', src):
        save("fuzz_cesql", m.group(1).encode().decode("unicode_escape").encode())
    for e in CESQL_EXTRA:
        save("fuzz_cesql", e)
    save("fuzz_cesql", '[{"exact": {"type": "dev.hookbus.git.push"}}, {"any": [{"prefix": '
                       '{"repo": "github.com/"}}, {"not": {"sql": "draft"}}]}]')


def config():
    for path in sorted(glob.glob(os.path.join(ROOT, "config", "*.yaml"))):
        text = read(path)
        # Secrets from the environment or files are skipped by the driver.
        save("fuzz_config", re.sub(rb"(env|file):[^\s\"']+", b"literal:s3cret", text))
    save("fuzz_config", "listen: 127.0.0.1:0\ntls: {enabled: false}\nreceivers:\n"
                        "  - {name: gh, type: github, secrets: ['literal:x']}\n"
                        "  - {name: g, type: generic, insecure_no_auth: true, repository: "
                        "'https://github.com/a/b'}\nkafka: {properties: {acks: all}}\n")


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def spool_record(ms, receiver, eid, topic, key, headers, value):
    """One record of gateway/spool.c: "HBS1", payload length, CRC32C of the
    length and payload (little-endian), then the payload."""
    def s16(b):
        return len(b).to_bytes(2, "little") + b

    def b32(b):
        return b"\xff\xff\xff\xff" if b is None else len(b).to_bytes(4, "little") + b
    p = ms.to_bytes(8, "little") + s16(receiver) + s16(eid) + s16(topic) + b32(key)
    p += len(headers).to_bytes(2, "little")
    for k, v in headers:
        p += s16(k) + b32(v)
    p += b32(value)
    n = len(p).to_bytes(4, "little")
    return b"HBS1" + n + crc32c(p, crc32c(n)).to_bytes(4, "little") + p


def spool():
    """Spool segments (first byte: the driver's mode) from the binary events."""
    records = []
    for path in sorted(glob.glob(os.path.join(FIX, "events", "*.json")))[:4]:
        ev = json.loads(read(path))
        heads = [(("ce_" + k).encode(), str(v).encode()) for k, v in ev.items()
                 if k not in ("data", "data_base64", "datacontenttype")]
        heads.append((b"content-type", b"application/json"))
        records.append(spool_record(1700000000000, ev["receiver"].encode(), ev["id"].encode(),
                                    b"hookbus.git", ev.get("partitionkey", "").encode(), heads,
                                    json.dumps(ev.get("data", {})).encode()))
    records.append(spool_record(1, b"", b"", b"t", None, [(b"h", None)], None))
    for mode in (b"\x00", b"\x01"):
        save("fuzz_spool", mode + records[0])
        save("fuzz_spool", mode + b"".join(records))
        save("fuzz_spool", mode + records[1] + b"garbage" + records[2] + records[3][:40])


if __name__ == "__main__":
    receivers()
    walk()
    auth()
    events()
    cesql()
    config()
    spool()
    for d in sorted(os.listdir(OUT)):
        print("%s: %d seeds" % (d, len(os.listdir(os.path.join(OUT, d)))))
