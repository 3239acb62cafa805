"""The official CloudEvents SDKs read what the gateway publishes (issue 16).

Every fixture is posted through two gateways on one Kafka cluster, one in
binary content mode and one in structured (`kafka.format: structured`), so
each expected event is on the topics twice. Then the example consumers of
examples/consumers/{go,java,python,js} (built by `make sdk-interop` into
build/sdk/<lang>/run) read all of it as one consumer group each, in --dump
mode: every message is decoded and validated by that language's SDK and
printed as one JSON line. Each decoded event is compared attribute by
attribute, and its data, with what the gateway published as read directly
with confluent-kafka; those in turn are checked against the fixtures'
.expect.json. A reader that rejects a message exits non-zero. The Java
consumer replays the messages confluent-kafka read when the cluster is
librdkafka's mock (see test_java_sdk_decodes_every_published_event).
"""
import base64
import datetime
import json
import os
import pathlib
import re
import subprocess
import threading

import pytest
from confluent_kafka import Consumer, TopicPartition

from conftest import (BASE_CONFIG, PARTITIONS, ROOT, TOKEN, TOPICS, MockKafka, headers_of,
                      wait_for)
from fixture_walk import fixtures, receivers_yaml

# Runs on mock and/or real Kafka (--kafka, conftest.py): on Apache Kafka the
# Java consumer reads the cluster itself.
pytestmark = pytest.mark.real_kafka

SDK_DIR = pathlib.Path(os.environ.get("HOOKBUS_SDK_DIR", ROOT / "build" / "sdk"))
STRUCTURED = "application/cloudevents+json"
# Attributes an SDK adds to the events it decodes, tolerated only where the
# published event has no such attribute: sdk-go's kafka_sarama binding adds the
# message's kafkatopic / kafkapartition / kafkaoffset as extensions; the
# Python SDK (both modes) and the JavaScript SDK (binary mode) set time to
# "now" when an event has none (a forwarded CloudEvent need not have one).
INVENTED = {("go", "kafkatopic"), ("go", "kafkapartition"), ("go", "kafkaoffset"),
            ("python", "time"), ("js", "time")}
# Events an SDK cannot decode although they are valid CloudEvents (time is
# OPTIONAL in the spec): cloudevents@10 for JavaScript reads a structured event
# with `new Date(event.time).toISOString()`, which throws "Invalid time value"
# when the event has no time. The reader must reject exactly these.
KNOWN_REJECTS = {"js": lambda mode, ev: mode == "structured" and "time" not in ev}


def config(brokers, fmt):
    base = BASE_CONFIG.format(brokers=brokers, format=fmt, timeout=10000,
                              max_body=2097152, token=TOKEN)
    return base[: base.index("receivers:")] + receivers_yaml()


def post_all(gw):
    """Posts every fixture; returns {(id, receiver): (fixture name, expected event)}."""
    want = {}
    for f in fixtures():
        path, headers = f.request()
        r = gw.post(path, f.body, headers)
        assert r.status_code == f.status, "%s: %s %s" % (f.name, r.status_code, r.text)
        events = f.events
        if f.status == 202:
            ids = r.json()["ids"]
            assert len(ids) == len(events), f.name
            events = [dict(e, id=i) if e["id"] == "(random)" and re.fullmatch("[0-9a-f]{32}", i)
                      else e for e, i in zip(events, ids)]
        for e in events:
            want[(e["id"], e["receiver"])] = (f.name, e)
    return want


def b64(data):
    return base64.b64encode(data or b"").decode()


def published(kafka, records):
    """What the gateway put on the topics, read without any SDK:
    {(mode, id, receiver): attributes + data}. Appends each message to
    records as a JSON line (the Java consumer's --replay input)."""
    out = {}
    for topic in TOPICS:
        for m in kafka.read_all(topic, settle=1.0):
            records.append(json.dumps({
                "topic": m.topic(), "partition": m.partition(), "offset": m.offset(),
                "key": m.key().decode() if m.key() is not None else None,
                "headers": {k: b64(v) for k, v in m.headers() or []}, "value": b64(m.value())}))
            h = headers_of(m)
            if h.get("content-type", "").startswith(STRUCTURED):
                mode, ev = "structured", json.loads(m.value())
                # JSON data goes as a JSON value (the SDKs give it to consumers
                # as bytes otherwise), also when the sender padded it.
                assert "data_base64" not in ev, ev
            else:
                mode = "binary"
                ev = {k[3:]: v for k, v in h.items() if k.startswith("ce_")}
                if "content-type" in h:
                    ev["datacontenttype"] = h["content-type"]
                ev["data"] = json.loads(m.value())
            assert m.key().decode() == ev.get("partitionkey"), ev["id"]
            key = (mode, ev["id"], ev["receiver"])
            assert key not in out, "published twice: %s" % (key,)
            out[key] = ev
    return out


def instant(text):
    """An RFC 3339 time as an aware datetime (fractions cut to microseconds:
    SDKs print up to nanoseconds, datetime holds six digits)."""
    m = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", text, re.I)
    assert m, "not an RFC 3339 time: %r" % text
    frac = (m.group(2) or ".0")[:7]
    zone = "+00:00" if m.group(3).upper() == "Z" else m.group(3)
    return datetime.datetime.fromisoformat(m.group(1) + frac + zone)


def sarama_version(kafka):
    """KAFKA_VERSION for sarama (Go), which does not negotiate protocol versions:
    0.10.2 is the oldest with consumer groups and what librdkafka's mock cluster
    speaks; Apache Kafka 4 refuses requests older than 2.1 (KIP-896). The other
    readers negotiate and ignore it."""
    return "0.10.2.0" if isinstance(kafka, MockKafka) else "2.1.0"


def run_reader(lang, brokers, count, results, replay=None, version="2.1.0"):
    cmd = [str(SDK_DIR / lang / "run"), "--brokers", brokers, "--group", "interop-" + lang,
           "--topics", ",".join(TOPICS), "--dump", "--max-events", str(count),
           "--idle-exit", "30"] + (["--replay", str(replay)] if replay else [])
    env = dict(os.environ, KAFKA_VERSION=version)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
        results[lang] = (p.returncode, p.stdout, p.stderr)
    except subprocess.TimeoutExpired as e:
        results[lang] = (None, e.stdout or "", e.stderr or "")


def compare(lang, got_lines, want):
    """Problems found in one reader's output (empty: it decoded everything
    right); `want` holds only the events the reader is expected to decode."""
    problems = []
    got = {}
    for line in got_lines:
        rec = json.loads(line)
        # JSON data must come out as the JSON value, not as bytes (data_base64).
        ev = rec["event"]
        key = (rec["mode"], ev.get("id"), ev.get("receiver"))
        if key in got:
            problems.append("%s: %s decoded twice" % (lang, key))
        got[key] = ev
    if set(got) != set(want):
        problems.append("%s: missing %s, unexpected %s" % (
            lang, sorted(set(want) - set(got))[:5], sorted(set(got) - set(want))[:5]))
    for key in sorted(set(got) & set(want)):
        pub, ev = want[key], got[key]
        for attr in sorted(set(pub) | set(ev)):
            a, b = pub.get(attr), ev.get(attr)
            if (lang, attr) in INVENTED and a is None:
                continue
            if attr == "time" and a is not None and b is not None:
                same = instant(a) == instant(b)
            else:
                same = a == b
            if not same:
                problems.append("%s %s %s: %s is %r, published %r" % (lang, key[0], key[1], attr,
                                                                      b, a))
    return problems


def interop(kafka, make_gateway, langs, tmp_path, replay=False):
    """Posts every fixture through both gateways and runs the readers of langs
    (replay: on the messages as read by confluent-kafka, without a broker)."""
    missing = [lang for lang in langs if not (SDK_DIR / lang / "run").exists()]
    assert not missing, "not built (make sdk-interop): %s" % missing
    binary = make_gateway(kafka.bootstrap, config=config(kafka.bootstrap, "binary"))
    structured = make_gateway(kafka.bootstrap, config=config(kafka.bootstrap, "structured"))
    # Opaque events without X-Request-Id get a random id per request, so the
    # two gateways' ids differ there.
    want = {("binary", *k): v for k, v in post_all(binary).items()}
    want.update({("structured", *k): v for k, v in post_all(structured).items()})
    records = []
    pub = published(kafka, records)
    replay_file = tmp_path / "records.jsonl"
    replay_file.write_text("\n".join(records) + "\n")
    # What the gateway published is what the fixtures expect, in both modes.
    assert set(pub) == set(want)
    for (mode, *k), ev in pub.items():
        name, e = want[(mode, *k)]
        for attr, v in e.items():
            assert ev.get(attr) == v, "%s %s: %s is %r, want %r" % (name, mode, attr,
                                                                 ev.get(attr), v)
        assert ev["specversion"] == "1.0", name

    results, decodable, rejects = {}, {}, {}
    for lang in langs:
        known = KNOWN_REJECTS.get(lang, lambda mode, ev: False)
        rejects[lang] = {k for k, ev in pub.items() if known(k[0], ev)}
        decodable[lang] = {k: ev for k, ev in pub.items() if k not in rejects[lang]}
    threads = [threading.Thread(target=run_reader, args=(lang, kafka.bootstrap, len(pub), results,
                                                         replay_file if replay else None,
                                                         sarama_version(kafka)))
               for lang in langs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    problems = []
    for lang in langs:
        status, out, err = results[lang]
        rejected = err.count("undecodable ")
        if rejected != len(rejects[lang]):
            problems.append("%s rejected %d messages, known SDK defects %d: %s" % (
                lang, rejected, len(rejects[lang]), err[-2000:]))
        if status != (1 if rejects[lang] else 0):
            problems.append("%s exited %s: %s" % (lang, status, err[-2000:]))
        problems += compare(lang, out.splitlines(), decodable[lang])
    assert not problems, "\n".join(problems[:40])


def test_go_python_js_sdks_decode_every_published_event(kafka, make_gateway, tmp_path):
    interop(kafka, make_gateway, ("go", "python", "js"), tmp_path)


def test_java_sdk_decodes_every_published_event(kafka, make_gateway, tmp_path):
    # librdkafka's mock cluster answers the Java client's ApiVersions v3 with a
    # response the client reads as a 1179648 ms throttle, so the client never
    # sends another request (its TRACE log: "Connection to node -1 is throttled
    # for 1179648 ms"); older clients that start with v2 fail on its Fetch
    # replies. There the Java consumer decodes the messages as confluent-kafka
    # read them (--replay: same SDK deserializer, no Kafka client); on Apache
    # Kafka it consumes them itself.
    interop(kafka, make_gateway, ("java",), tmp_path, replay=isinstance(kafka, MockKafka))


def committed(brokers, group):
    """{(topic, partition): (committed offset, high watermark)} of group,
    read with OffsetFetch (no group join)."""
    c = Consumer({"bootstrap.servers": brokers, "group.id": group, "enable.auto.commit": False})
    try:
        tps = [TopicPartition(t, p) for t in TOPICS for p in range(PARTITIONS)]
        return {(tp.topic, tp.partition): (tp.offset,
                                           c.get_watermark_offsets(tp, timeout=10)[1])
                for tp in c.committed(tps, timeout=10)}
    finally:
        c.close()


@pytest.mark.parametrize("lang", ["go", "python", "js", "java"])
def test_example_acts_commits_and_stops_on_sigterm(lang, kafka, make_gateway):
    """The example's own mode: prints a line per matching event, commits every
    message it handled, and stops cleanly on SIGTERM. (Java: on Apache Kafka
    only, see above.)"""
    if lang == "java" and isinstance(kafka, MockKafka):
        pytest.skip("the Java Kafka client cannot talk to librdkafka's mock cluster")
    gw = make_gateway(kafka.bootstrap, config=config(kafka.bootstrap, "binary"))
    by_name = {f.name: f for f in fixtures()}
    ids = []
    # A push (acted on) and an image push (filtered out by --type, still committed).
    for name in ("github/push", "dockerhub/push"):
        path, headers = by_name[name].request()
        r = gw.post(path, by_name[name].body, headers)
        assert r.status_code == 202, r.text
        ids += r.json()["ids"]
    group = "ex-" + lang
    cmd = [str(SDK_DIR / lang / "run"), "--brokers", kafka.bootstrap, "--group", group,
           "--type", "dev.hookbus.git."]
    env = dict(os.environ, KAFKA_VERSION=sarama_version(kafka))
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(p.stdout), daemon=True)
    reader.start()

    def all_committed():
        offsets = committed(kafka.bootstrap, group)
        return sum(high for _, high in offsets.values()) == len(ids) and all(
            off == high for off, high in offsets.values() if high > 0)
    try:
        wait_for(lambda: lines, timeout=60, what="%s to act" % lang)
        wait_for(all_committed, timeout=30, interval=0.2, what="%s to commit" % lang)
    finally:
        p.terminate()
        status = p.wait(30)
        reader.join(10)
    assert status == 0, p.stderr.read()
    assert len(lines) == 1, lines
    assert lines[0].startswith("dev.hookbus.git.push github.com/acme/app@refs/heads/main id=%s "
                               % ids[0]), lines
