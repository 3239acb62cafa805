"""kafka.format: avro end to end: the gateway writes application/cloudevents+avro
values; they decode with an independent Avro implementation (Debian's
python3-avro) against schemas/cloudevent.avsc, and hookbus-tail reads them."""
import io
import json
import subprocess

import avro.io
import avro.schema

from conftest import BIN, ROOT, fixture_bytes, github_post, headers_of
from test_schemas import from_avro_data

SCHEMA = avro.schema.parse((ROOT / "schemas" / "cloudevent.avsc").read_text())


def decode(value):
    reader = avro.io.DatumReader(SCHEMA)
    buf = io.BytesIO(value)
    rec = reader.read(avro.io.BinaryDecoder(buf))
    assert buf.read() == b"", "trailing bytes after the Avro record"
    return rec


def test_avro_values_decode_with_python_avro_and_tail(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, fmt="avro")
    r = github_post(gw, "push", fixture_bytes("github/push.json"), "avro-1")
    assert r.status_code == 202, r.text
    [m] = kafka.read("hookbus.git", 1)
    assert headers_of(m)["content-type"] == "application/cloudevents+avro"
    assert m.key() == b"github.com/acme/app"
    rec = decode(m.value())
    attrs = rec["attribute"]
    assert attrs["specversion"] == "1.0" and attrs["id"] == "avro-1"
    assert attrs["type"] == "dev.hookbus.git.push"
    assert attrs["source"] == "/receivers/acme-github"
    assert attrs["repo"] == "github.com/acme/app" and attrs["ref"] == "refs/heads/main"
    assert attrs["datacontenttype"] == "application/json"
    data = from_avro_data(rec["data"])
    assert data["repository"]["id"] == "github.com/acme/app"
    assert data["branch"] == "main" and data["deleted"] is False
    assert data["changed_paths"][0] == "charts/app/values.yaml"
    # hookbus-tail decodes the same message back to the structured JSON form.
    t = subprocess.run([str(BIN / "hookbus-tail"), "--brokers", kafka.bootstrap,
                        "--from-beginning", "--count", "1", "--output", "json",
                        "--idle-exit", "20s"], capture_output=True, text=True, timeout=60)
    assert t.returncode == 0, t.stderr
    ev = json.loads(t.stdout)
    assert ev["id"] == "avro-1" and ev["data"]["commit"] == data["commit"]
    assert ev["data"] == data
