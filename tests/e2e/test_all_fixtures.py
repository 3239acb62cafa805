"""Every fixture through one running gateway into Kafka (issue 3), and every
event read back validated against its data schemas (issue 5).

One gateway carries the receivers of tests/fixtures/receivers.yaml (one of
every type, as config/all-receivers.yaml does); each fixture request is posted
with its sender's credential and must get the expected status; then every
expected event is read back from Kafka with a real consumer and compared
attribute by attribute (binary content mode: ce_* headers, data as the value),
and its data is validated against schemas/<type>.schema.json and .avsc.
"""
import hashlib
import io
import json
import re

import avro.io
import jsonschema
import pytest

from conftest import BASE_CONFIG, TOKEN, headers_of
from fixture_walk import fixtures, receivers_yaml
from test_schemas import FirstMatchWriter, SCHEMAS, avro_datum, avro_schema

# Runs on mock and/or real Kafka (--kafka, conftest.py).
pytestmark = pytest.mark.real_kafka


def config(brokers):
    base = BASE_CONFIG.format(brokers=brokers, format="binary", timeout=10000,
                              max_body=2097152, token=TOKEN)
    base = base[: base.index("receivers:")]
    return base + receivers_yaml()


# Receivers that keep the sender's event (its id and time) instead of building one.
PASS_THROUGH = {"cloudevents", "cdevents"}
# The acceptance time the gateway stamps: RFC 3339, UTC, milliseconds.
TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def check_ids(f, headers, ids):
    """The id rule (README "Where hookbus extends or pins down DESIGN"): the
    sender's delivery id (a header, or an id in the body), else the SHA-256 of
    receiver name + body; a fan-out suffixes /1, /2, ... in payload order."""
    if f.receiver in PASS_THROUGH:
        return
    bases = set()
    for k, i in enumerate(ids, 1):
        if len(ids) > 1:
            assert i.endswith("/%d" % k), "%s: id %s" % (f.name, i)
            i = i[: -len("/%d" % k)]
        bases.add(i)
    assert len(bases) == 1, "%s: ids %s" % (f.name, ids)
    base = bases.pop()
    assert (base == hashlib.sha256(f.receiver.encode() + f.body).hexdigest()
            or base in headers.values() or base.encode() in f.body
            or re.fullmatch("[0-9a-f]{32}", base)), "%s: id %s" % (f.name, base)


def validate_data(event_type, data):
    schema = json.loads((SCHEMAS / ("%s.schema.json" % event_type)).read_text())
    jsonschema.Draft202012Validator(schema).validate(data)
    avsc = avro_schema(event_type)
    datum = avro_datum(data)
    assert avro.io.validate(avsc, datum, raise_on_error=True)
    assert set(datum) <= {f.name for f in avsc.fields}
    buf = io.BytesIO()
    FirstMatchWriter(avsc).write(datum, avro.io.BinaryEncoder(buf))


def test_every_fixture_through_kafka(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, config=config(kafka.bootstrap))
    want = {}
    all_fixtures = fixtures()
    assert len({f.receiver for f in all_fixtures}) >= 22
    for f in all_fixtures:
        path, headers = f.request()
        r = gw.post(path, f.body, headers)
        assert r.status_code == f.status, "%s: %s %s" % (f.name, r.status_code, r.text)
        answer = r.json()
        events = f.events
        if f.status == 202:
            ids = answer["ids"]
            assert answer["accepted"] == len(ids) == len(events), f.name
            # "(random)": an id the gateway draws per request (opaque without X-Request-Id).
            events = [dict(e, id=i) if e["id"] == "(random)" and re.fullmatch("[0-9a-f]{32}", i)
                      else e for e, i in zip(events, ids)]
            assert ids == [e["id"] for e in events], f.name
            check_ids(f, headers, ids)
        elif f.status == 200:
            assert answer["status"] == "ignored" and answer["message"], f.name
            assert not events, f.name
        else:
            assert answer["error"], f.name
        if "message" in f.expect:
            said = answer.get("message") or answer.get("error")
            assert f.expect["message"] in said, "%s: %r" % (f.name, said)
        for e in events:
            want[(e["id"], e["receiver"])] = (f.name, e)
    got = {}
    for topic in ("hookbus.git", "hookbus.image", "hookbus.other"):
        for m in kafka.read_all(topic, settle=2.0):
            h = headers_of(m)
            got[(h["ce_id"], h["ce_receiver"])] = (topic, h, m.value(), m.key())
    assert set(got) == set(want), "missing %s, unexpected %s" % (
        sorted(set(want) - set(got)), sorted(set(got) - set(want)))
    for key, (name, e) in want.items():
        topic, h, value, msg_key = got[key]
        for attr, v in e.items():
            if attr == "data":
                continue
            # The Kafka binding carries datacontenttype as the content-type header.
            header = "content-type" if attr == "datacontenttype" else "ce_" + attr
            assert h.get(header) == v, "%s: %s is %r, want %r" % (name, attr, h.get(header), v)
        # No attribute beyond the expected ones, and the acceptance time.
        extra = {k for k in h if k.startswith("ce_")} - {"ce_" + a for a in e} - {"ce_time"}
        assert not extra, "%s: unexpected %s" % (name, sorted(extra))
        if e["receiver"] not in PASS_THROUGH:
            assert TIME_RE.fullmatch(h["ce_time"]), "%s: time %r" % (name, h.get("ce_time"))
        assert json.loads(value) == e["data"], name
        assert msg_key.decode() == e.get("partitionkey"), name
        t = e["type"]
        want_topic = ("hookbus.git" if t.startswith("dev.hookbus.git.") else
                      "hookbus.image" if t in ("dev.hookbus.image.push", "dev.hookbus.chart.push")
                      else "hookbus.other")
        assert topic == want_topic, name
        if t.startswith("dev.hookbus."):
            validate_data(t, json.loads(value))
