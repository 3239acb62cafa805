"""What only Apache Kafka makes meaningful (issue 16): replication and
min.insync.replicas, a real group coordinator, topics that do not exist with
auto-creation off, SASL (PLAIN, SCRAM-SHA-512) over TLS. Each test starts its
own cluster with tests/tools/kafka-cluster (KRaft; 3 nodes: replication factor 3,
min.insync.replicas 2) and stops it. They are skipped with --kafka=mock.

Figures (startup, failover pause, duplicates) are printed; `pytest -s` shows
them."""
import json
import os
import subprocess
import threading
import time

import pytest
import requests
import confluent_kafka
from confluent_kafka import Consumer

from conftest import (BIN, FIXTURES, GITHUB_SECRET, KAFKA_LIBS, ROOT, TOPICS, RealKafka, github_post,
                      headers_of, wait_for)
from consumers import DLQ, ConsumerProc, make_attrs, produce
from test_consumer_exec import CONFIG as EXEC_CONFIG, FAST_GROUP, SCRIPT

pytestmark = pytest.mark.real_kafka_only

GATEWAY_CONFIG = """
listen: 127.0.0.1:0
tls:
  enabled: false
kafka:
  brokers: {brokers}
  properties:
    reconnect.backoff.ms: "50"
    reconnect.backoff.max.ms: "500"
{props}
delivery_timeout_ms: {timeout}
{spool}
receivers:
  - name: acme-github
    type: github
    secrets: [env:E2E_GITHUB_SECRET]
"""


def gateway_config(kafka, timeout=30000, spool=None, props=None):
    extra = "".join(f"    {k}: \"{v}\"\n" for k, v in (props or {}).items())
    sp = f"spool:\n  dir: {spool}\n" if spool else ""
    return GATEWAY_CONFIG.format(brokers=kafka.bootstrap, props=extra.rstrip("\n"),
                                 timeout=timeout, spool=sp)


def push(gw, repo, seq):
    """A signed GitHub push of acme/<repo> whose `after` encodes seq; delivery id repo-seq."""
    body = json.loads((FIXTURES / "github" / "push.json").read_text())
    for k in ("clone_url", "html_url", "ssh_url", "git_url"):
        body["repository"].pop(k, None)
    body["repository"]["clone_url"] = f"https://github.com/acme/{repo}.git"
    body["ref"] = "refs/heads/main"
    body["after"] = f"{seq:040x}"
    return github_post(gw, "push", json.dumps(body).encode(), delivery=f"{repo}-{seq}")


def check_delivered(msgs, ids, exactly_once=True):
    """Every id of `ids` is in msgs (once, unless exactly_once is False), and per
    repository the pushes are in the order they were accepted. Returns the
    number of duplicates."""
    hs = [headers_of(m) for m in msgs]
    got = [h["ce_id"] for h in hs]
    assert set(got) == set(ids), f"missing: {set(ids) - set(got)}, extra: {set(got) - set(ids)}"
    dups = len(got) - len(set(got))
    if exactly_once:
        assert dups == 0, f"duplicates: {sorted(i for i in set(got) if got.count(i) > 1)}"
    per_repo = {}
    for h in hs:
        seq = int(h["ce_commit"], 16)
        seqs = per_repo.setdefault(h["ce_repo"], [])
        if seq not in seqs:  # a duplicate repeats an earlier one
            seqs.append(seq)
    for repo, seqs in per_repo.items():
        assert seqs == sorted(seqs), f"{repo} out of order: {seqs}"
    return dups


@pytest.fixture
def cluster3():
    k = RealKafka(nodes=3)
    print(f"\n3-node cluster ready in {k.startup_seconds:.1f} s")
    yield k
    k.stop()


def leader_of(kafka, topic, partition):
    c = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": "e2e-md"})
    try:
        return c.list_topics(topic, timeout=10).topics[topic].partitions[partition].leader
    finally:
        c.close()


def test_node_killed_and_restarted_under_load_loses_nothing(cluster3, make_gateway, tmp_path):
    """3 nodes, RF 3, min.insync 2: SIGKILL the leader of hookbus.git/0 while
    four senders push steadily, then restart it: every request is answered 202
    straight from Kafka, every event is there once, in order per repository."""
    kafka = cluster3
    gw = make_gateway(kafka.bootstrap, config=gateway_config(kafka, timeout=30000,
                                                             spool=tmp_path / "spool"))
    stop = threading.Event()
    results = {}  # repo -> [(seq, status, spooled, seconds)]

    def sender(repo):
        out = results.setdefault(repo, [])
        seq = 0
        deadline = time.monotonic() + 120
        while not stop.is_set() and time.monotonic() < deadline:
            t = time.monotonic()
            r = push(gw, repo, seq)
            out.append((seq, r.status_code, r.json().get("status") == "spooled",
                        time.monotonic() - t))
            seq += 1

    threads = [threading.Thread(target=sender, args=(f"r{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: sum(len(v) for v in results.values()) >= 100, timeout=60,
                 what="100 pushes before the kill")
        victim = leader_of(kafka, "hookbus.git", 0)
        killed_at = time.monotonic()
        assert kafka.command(f"stop {victim}") == "ok"
        n_at_kill = sum(len(v) for v in results.values())
        wait_for(lambda: sum(len(v) for v in results.values()) >= n_at_kill + 100, timeout=90,
                 what="100 pushes with a node down")
        assert kafka.command(f"start {victim}") == "ok"
        restarted = time.monotonic() - killed_at
        n_at_start = sum(len(v) for v in results.values())
        wait_for(lambda: sum(len(v) for v in results.values()) >= n_at_start + 100, timeout=60,
                 what="100 pushes after the restart")
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    answers = [a for v in results.values() for a in v]
    assert all(a[1] == 202 for a in answers), [a for a in answers if a[1] != 202][:5]
    spooled = sum(1 for a in answers if a[2])
    pause = max(a[3] for a in answers)
    ids = [f"{repo}-{a[0]}" for repo, v in results.items() for a in v]
    msgs = kafka.read_all("hookbus.git", settle=2.0, timeout=60)
    check_delivered(msgs, ids)
    print(f"\nfailover: {len(answers)} pushes, node {victim} down {restarted:.1f} s, "
          f"longest answer {pause * 1000:.0f} ms, spooled {spooled}, lost 0, duplicates 0")
    assert spooled == 0, "a single node down must not need the spool (min.insync.replicas 2)"


def test_two_nodes_down_answers_from_spool_then_delivers(cluster3, make_gateway, tmp_path):
    """Below min.insync.replicas: Kafka cannot acknowledge, so answers are 202
    "spooled", /readyz says why; once the nodes are back every event arrives."""
    kafka = cluster3
    gw = make_gateway(kafka.bootstrap, config=gateway_config(kafka, timeout=3000,
                                                             spool=tmp_path / "spool"))
    assert push(gw, "warm", 0).status_code == 202
    victims = [n for n in (1, 2, 3) if n != leader_of(kafka, "hookbus.git", 0)]
    for n in victims:
        assert kafka.command(f"stop {n}") == "ok"
    ids = ["warm-0"]
    for seq in range(6):
        r = push(gw, "app", seq)
        assert r.status_code == 202, r.text
        assert r.json().get("status") == "spooled", r.text
        ids.append(f"app-{seq}")
    ready = requests.get(gw.url("/readyz"), timeout=5)
    assert ready.status_code == 200, ready.text  # the spool takes them: still ready
    assert "degraded" in ready.json(), ready.text
    print(f"\n/readyz with 2 of 3 nodes down: {ready.text}")
    for n in victims:
        assert kafka.command(f"start {n}") == "ok"
    wait_for(lambda: len({headers_of(m)["ce_id"] for m in kafka.read_all(
        "hookbus.git", settle=0.5)}) >= len(ids), timeout=120, what="the spool to drain")
    msgs = kafka.read_all("hookbus.git", settle=2.0)
    # A message that timed out in the gateway may still have reached the
    # leader's log and been committed once the followers returned: at least
    # once, never lost.
    dups = check_delivered(msgs, ids, exactly_once=False)
    print(f"spool replay: {len(ids)} events delivered, duplicates {dups}")
    wait_for(lambda: "degraded" not in requests.get(gw.url("/readyz"), timeout=5).json(),
             timeout=30, what="/readyz no longer degraded")


def not_ready(gw):
    """/readyz's body when it answers 503, else None."""
    r = requests.get(gw.url("/readyz"), timeout=5)
    return r.json() if r.status_code == 503 else None


def test_missing_topic_readyz_false_then_topics_command_creates_them(make_gateway, tmp_path):
    kafka = RealKafka(nodes=1, topics=())
    try:
        gw = make_gateway(kafka.bootstrap, config=gateway_config(kafka, timeout=10000))

        # (503 "kafka unreachable" comes first, until the producer connected)
        missing = {"ready": False, "error": "kafka topic hookbus.git does not exist"}
        wait_for(lambda: not_ready(gw) == missing, timeout=20, what=f"/readyz 503 {missing}")
        t = time.monotonic()
        r = push(gw, "app", 1)
        took = time.monotonic() - t
        assert r.status_code == 503, r.text  # no spool: refused at once, not after 10 s
        assert took < 3, f"answered after {took:.1f} s"
        assert any(rec.get("msg", "").startswith("kafka topic does not exist")
                   for rec in gw.lines())
        cmd = [str(BIN / "hookbus-gateway"), "--config", str(gw.config_path), "topics",
               "--partitions", "3", "--replication-factor", "1", "--topic", DLQ]
        env = dict(os.environ, E2E_GITHUB_SECRET=GITHUB_SECRET)
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             timeout=60, env=env)
        assert out.returncode == 0, out.stderr
        assert sorted(out.stdout.splitlines()) == sorted(
            f"created\t{t}" for t in TOPICS + (DLQ,)), out.stdout
        again = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=60, env=env)
        assert again.returncode == 0 and "exists\thookbus.git" in again.stdout, again
        wait_for(lambda: requests.get(gw.url("/readyz"), timeout=5).status_code == 200,
                 timeout=20, what="/readyz 200 once the topics exist")
        assert push(gw, "app", 2).status_code == 202
        assert [headers_of(m)["ce_id"] for m in kafka.read("hookbus.git", 1)] == ["app-2"]
    finally:
        kafka.stop()


def runs(out):
    p = out / "runs"
    return [line.split() for line in p.read_text().splitlines()] if p.exists() else []


def test_group_kill9_moves_partitions_and_loses_nothing(tmp_path):
    """Two hookbus-exec in one group on Kafka's own group coordinator: the
    partitions are shared; kill -9 of one hands its partitions to the other,
    which acts on what the dead one had not committed (counted), nothing lost."""
    kafka = RealKafka(nodes=1, topics=TOPICS + (DLQ,))
    out = tmp_path / "out"
    out.mkdir()
    script = tmp_path / "act.sh"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    procs = []

    def start(name):
        cfg = EXEC_CONFIG.format(brokers=kafka.bootstrap, group="real-group", script=script,
                                 debounce="0", debounce_key='""', concurrency=2, extra="",
                                 props=FAST_GROUP, drain="5s")
        c = ConsumerProc(tmp_path, "hookbus-exec", cfg, name=name,
                         env={"OUT_DIR": str(out), "INSTANCE": name}, wait_joined=False)
        procs.append(c)
        return c

    try:
        a, b = start("a"), start("b")
        wait_for(lambda: a.assigned() and b.assigned() and a.assigned() + b.assigned() == 6,
                 timeout=60, what="the group to share the 6 partitions")
        repos = [f"github.com/acme/r{i}" for i in range(12)]
        produce(kafka.bootstrap, "hookbus.git",
                [(make_attrs(f"s-{i}", repo=repos[i % 12]), {}) for i in range(24)])
        wait_for(lambda: len(runs(out)) >= 24, timeout=30, what="24 runs")
        assert {r[0] for r in runs(out)} == {"a", "b"}
        # Hold every action of the next batch, so "a" dies with work in hand.
        second = [f"t-{i}" for i in range(24)]
        for i in second:
            (out / f"WAIT_{i}").write_text("")
        produce(kafka.bootstrap, "hookbus.git",
                [(make_attrs(i, repo=repos[n % 12]), {}) for n, i in enumerate(second)])
        wait_for(lambda: any(r[0] == "a" and r[1].startswith("t-") for r in runs(out)),
                 timeout=30, what="a to start a held action")
        held_by_a = {r[1] for r in runs(out) if r[0] == "a" and r[1].startswith("t-")}
        killed = time.monotonic()
        a.kill9()
        for i in second:
            (out / f"GO_{i}").write_text("")
        wait_for(lambda: b.assigned() == 6, timeout=60, what="b to take every partition")
        moved = time.monotonic() - killed
        wait_for(lambda: set(second) <= {r[1] for r in runs(out) if r[0] == "b"}
                 or set(second) <= {r[1] for r in runs(out)}, timeout=60,
                 what="every held event acted on")
        done_by_b = {r[1] for r in runs(out) if r[0] == "b"}
        assert held_by_a <= done_by_b, f"not re-delivered to b: {held_by_a - done_by_b}"
        ids = [r[1] for r in runs(out)]
        assert set(ids) == {f"s-{i}" for i in range(24)} | set(second)
        redelivered = len(ids) - len(set(ids))
        assert redelivered >= len(held_by_a)
        print(f"\ngroup: partitions moved to b {moved:.1f} s after kill -9, "
              f"re-deliveries {redelivered}, lost 0")
    finally:
        for c in procs:
            if c.proc.poll() is None:
                c.stop()
        kafka.stop()


SASL_USER, SASL_PASSWORD = "hookbus", "sasl-secret-8f2c1e"
# librdkafka before 2.6.1 appends its nonce twice in SCRAM's client-final
# message; Kafka 4 checks the nonce strictly (RFC 5802) and refuses it
# (librdkafka PR 4895). Debian 12 ships 2.0.2.
SCRAM_OK = confluent_kafka.libversion()[1] >= 0x020601ff


# The last Apache Kafka line that takes the SCRAM of librdkafka < 2.6.1 (`make
# kafka` fetches it beside the pinned version, for this test only).
KAFKA_SCRAM_LIBS = ROOT / "build" / "kafka-3.9" / "libs"


@pytest.mark.parametrize("mechanism,libs", [
    ("PLAIN", KAFKA_LIBS),
    pytest.param("SCRAM-SHA-512", KAFKA_LIBS, marks=pytest.mark.xfail(
        not SCRAM_OK, strict=True, reason="librdkafka < 2.6.1 cannot do SCRAM with Kafka 4")),
    pytest.param("SCRAM-SHA-512", KAFKA_SCRAM_LIBS, id="SCRAM-SHA-512-kafka-3.9"),
])
def test_sasl_over_tls_end_to_end(make_gateway, tmp_path, mechanism, libs):
    """The gateway and a consumer reach a SASL_SSL listener configured through
    kafka.properties; a wrong password is not ready; no password reaches a log."""
    kafka = RealKafka(nodes=1, topics=TOPICS + (DLQ,), sasl=(SASL_USER, SASL_PASSWORD),
                      libs=libs)
    sasl = {"security.protocol": "SASL_SSL", "sasl.mechanisms": mechanism,
            "sasl.username": SASL_USER, "sasl.password": SASL_PASSWORD,
            "ssl.ca.location": kafka.ca}
    kafka.client = dict(sasl)
    consumer = None
    try:
        gw = make_gateway(kafka.bootstrap, config=gateway_config(kafka, props=sasl))
        wait_for(lambda: requests.get(gw.url("/readyz"), timeout=5).status_code == 200,
                 timeout=30, what="gateway ready over SASL_SSL")
        r = push(gw, "secure", 1)
        assert r.status_code == 202 and "status" not in r.json(), r.text
        assert [headers_of(m)["ce_id"] for m in kafka.read("hookbus.git", 1)] == ["secure-1"]

        # a consumer over the same listener
        out = tmp_path / "out"
        out.mkdir()
        script = tmp_path / "act.sh"
        script.write_text(SCRIPT)
        script.chmod(0o755)
        props = "{" + ", ".join(f"{k}: '{v}'" for k, v in sasl.items()) + "}"
        cfg = EXEC_CONFIG.format(brokers=kafka.bootstrap, group="sasl-group", script=script,
                                 debounce="0", debounce_key='""', concurrency=1, extra="",
                                 props=props, drain="5s")
        consumer = ConsumerProc(tmp_path, "hookbus-exec", cfg, name="exec",
                                env={"OUT_DIR": str(out)})
        wait_for(lambda: "secure-1" in [r[1] for r in runs(out)], timeout=30,
                 what="the consumer to act on the pushed event")

        bad = dict(sasl, **{"sasl.password": "wrong-password-71ab"})
        gw_bad = make_gateway(kafka.bootstrap, config=gateway_config(kafka, timeout=2000,
                                                                     props=bad))
        body = wait_for(lambda: not_ready(gw_bad), timeout=30, what="/readyz 503")
        print(f"\n/readyz with a wrong {mechanism} password: {body}")
        assert push(gw_bad, "secure", 2).status_code == 503
        consumer.stop()
        consumer = None
        for log in (gw.log_path, gw_bad.log_path, tmp_path / "exec.log"):
            text = log.read_text(errors="replace")
            assert SASL_PASSWORD not in text and "wrong-password-71ab" not in text, log
        assert not any("secure-2" == headers_of(m)["ce_id"]
                       for m in kafka.read_all("hookbus.git", settle=0.5))
    finally:
        if consumer:
            consumer.stop()
        kafka.stop()
