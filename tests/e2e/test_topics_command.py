"""`hookbus-gateway topics`: its argument errors (exit 2, a message naming the
argument) and the embedded cluster. Creating topics on Apache Kafka is in
test_real_kafka.py."""
import subprocess

import pytest

from conftest import BIN

CONFIG = """
kafka:
  brokers: {brokers}
receivers:
  - name: gen
    type: generic
    secrets: [literal:token-123]
"""


def topics(tmp_path, *args, brokers="127.0.0.1:9"):
    cfg = tmp_path / "gateway.yaml"
    cfg.write_text(CONFIG.format(brokers=brokers))
    return subprocess.run([str(BIN / "hookbus-gateway"), "--config", str(cfg), "topics", *args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)


@pytest.mark.parametrize("args, message", [
    (["--partitions", "0"], "--partitions: invalid value '0'"),
    (["--partitions", "x"], "--partitions: invalid value 'x'"),
    (["--replication-factor", "0"], "--replication-factor: invalid value '0'"),
    (["--timeout", "5"], "--timeout: invalid value '5'"),
    (["--bogus", "1"], "--bogus: unknown argument"),
    (["--topic"], "--topic: unknown argument, or its value is missing"),
])
def test_bad_arguments_exit_2(tmp_path, args, message):
    r = topics(tmp_path, *args)
    assert r.returncode == 2, r
    assert r.stderr == f"hookbus-gateway topics: {message}\n"
    assert r.stdout == ""


def test_embedded_cluster_has_nothing_to_create(tmp_path):
    r = topics(tmp_path, brokers="embedded")
    assert r.returncode == 2 and "'embedded': nothing to create" in r.stderr


def test_unreachable_cluster_fails_within_the_timeout(tmp_path):
    r = topics(tmp_path, "--timeout", "1000")
    assert r.returncode == 1, r
    # librdkafka's connection warnings are logged first; the reason is the last line
    last = r.stderr.splitlines()[-1]
    assert last.startswith("hookbus-gateway topics: ") and "controller" in last, r.stderr
    assert r.stdout == ""
