"""The spool: a webhook answered 202 is never lost, even when Kafka is down,
the gateway crashes, or the spool's last record is torn."""
import json
import os
import pathlib
import subprocess

import pytest
import requests

from conftest import FIXTURES, GITHUB_SECRET, github_post, headers_of, wait_for

# Runs on mock and/or real Kafka (--kafka, conftest.py).
pytestmark = pytest.mark.real_kafka

SPOOL_CONFIG = """
listen: 127.0.0.1:0
tls:
  enabled: false
kafka:
  brokers: {brokers}
  properties:
    reconnect.backoff.ms: "50"
    reconnect.backoff.max.ms: "500"
delivery_timeout_ms: 1000
spool:
  dir: {spool}
  max_bytes: {max_bytes}
receivers:
  - name: acme-github
    type: github
    secrets: [env:E2E_GITHUB_SECRET]
"""


def spool_config(kafka, spool, max_bytes=1 << 20):
    return SPOOL_CONFIG.format(brokers=kafka.bootstrap, spool=spool, max_bytes=max_bytes)


def push(gw, repo, seq):
    """A signed GitHub push of `repo` whose commit encodes seq; returns the response."""
    body = json.loads((FIXTURES / "github" / "push.json").read_text())
    for k in ("clone_url", "html_url", "ssh_url", "git_url"):
        body["repository"].pop(k, None)
    body["repository"]["clone_url"] = f"https://github.com/acme/{repo}.git"
    body["ref"] = "refs/heads/main"
    body["after"] = f"{seq:040x}"
    return github_post(gw, "push", json.dumps(body).encode(), delivery=f"{repo}-{seq}")


def metric(gw, name):
    for line in requests.get(gw.url("/metrics"), timeout=5).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def kafka_down(kafka, gw):
    assert kafka.command("down 1") == "ok"


def published(kafka, count, timeout=30):
    """The hookbus.git messages once `count` arrived (then any stragglers)."""
    # Each try reads for up to 5 s (it returns once `count` arrived): a fresh
    # reader's first fetch from a just restarted Apache Kafka node can take
    # longer than a second on a busy machine.
    wait_for(lambda: len(kafka.read("hookbus.git", count, timeout=5)) >= count, timeout=timeout,
             what=f"{count} events in kafka")
    return kafka.read_all("hookbus.git", settle=1.5)


def assert_order_and_no_duplicates(msgs, expected):
    hs = [headers_of(m) for m in msgs]
    ids = [h["ce_id"] for h in hs]
    assert len(ids) == len(set(ids)), f"duplicate event ids: {ids}"
    assert sorted(ids) == sorted(expected)
    per_repo = {}
    for h in hs:
        per_repo.setdefault(h["ce_repo"], []).append(int(h["ce_commit"], 16))
    for repo, seqs in per_repo.items():
        assert seqs == sorted(seqs), f"{repo} out of order: {seqs}"


def test_kafka_down_every_webhook_is_spooled_then_replayed_in_order(kafka, make_gateway,
                                                                     tmp_path):
    gw = make_gateway(kafka.bootstrap, config=spool_config(kafka, tmp_path / "spool"))
    kafka_down(kafka, gw)
    ids = []
    for seq in range(8):
        repo = ("app", "lib")[seq % 2]
        r = push(gw, repo, seq)
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "spooled" and r.json()["spooled"] == 1
        ids.append(f"{repo}-{seq}")
    assert metric(gw, "hookbus_gateway_spool_records") == 8
    assert metric(gw, "hookbus_gateway_spool_bytes") > 0
    assert metric(gw, "hookbus_gateway_spool_max_bytes") == 1 << 20
    # Kafka unreachable but the spool has room: still ready to accept.
    assert requests.get(gw.url("/readyz"), timeout=5).status_code == 200
    assert kafka.command("up 1") == "ok"
    assert_order_and_no_duplicates(published(kafka, 8), ids)
    wait_for(lambda: metric(gw, "hookbus_gateway_spool_records") == 0, what="empty spool")
    assert metric(gw, "hookbus_gateway_spool_bytes") == 0
    assert metric(gw, "hookbus_gateway_spool_replayed_events_total") == 8
    # Drained: the next webhook goes straight to Kafka again.
    r = push(gw, "app", 100)
    assert r.status_code == 202 and "status" not in r.json()


def test_kill_9_after_spooled_202_loses_nothing(kafka, make_gateway, tmp_path):
    cfg = spool_config(kafka, tmp_path / "spool")
    gw = make_gateway(kafka.bootstrap, config=cfg)
    kafka_down(kafka, gw)
    ids = []
    for seq in range(5):
        r = push(gw, "app", seq)
        assert r.status_code == 202 and r.json()["status"] == "spooled", r.text
        ids.append(f"app-{seq}")
    gw.kill9()
    assert kafka.command("up 1") == "ok"
    gw2 = make_gateway(kafka.bootstrap, config=cfg)
    assert_order_and_no_duplicates(published(kafka, 5), ids)
    assert any(l.get("msg", "").startswith("spool: events left by an earlier run")
               and l.get("records") == 5 for l in gw2.lines())


def test_corrupt_last_record_is_reported_and_the_intact_ones_delivered(kafka, make_gateway,
                                                                        tmp_path):
    spool = tmp_path / "spool"
    cfg = spool_config(kafka, spool)
    gw = make_gateway(kafka.bootstrap, config=cfg)
    kafka_down(kafka, gw)
    for seq in range(3):
        assert push(gw, "app", seq).status_code == 202
    gw.stop()
    segments = sorted(spool.glob("*.spool"))
    assert segments
    last = segments[-1]
    data = bytearray(last.read_bytes())
    data[-1] ^= 0xFF  # the last record's payload no longer matches its CRC
    last.write_bytes(bytes(data))
    assert kafka.command("up 1") == "ok"
    gw2 = make_gateway(kafka.bootstrap, config=cfg)
    msgs = published(kafka, 2)
    assert [headers_of(m)["ce_id"] for m in msgs] == ["app-0", "app-1"]
    corrupt = [l for l in gw2.lines() if l.get("msg") == "spool: corrupt or torn record skipped"]
    assert len(corrupt) == 1 and corrupt[0]["where"] == "tail"
    assert metric(gw2, "hookbus_gateway_spool_corrupt_records_total") == 1
    wait_for(lambda: not list(spool.glob("*.spool")), what="replayed segments removed")


def test_torn_tail_after_a_crash_does_not_stop_the_gateway(kafka, make_gateway, tmp_path):
    spool = tmp_path / "spool"
    cfg = spool_config(kafka, spool)
    gw = make_gateway(kafka.bootstrap, config=cfg)
    kafka_down(kafka, gw)
    assert push(gw, "app", 0).status_code == 202
    gw.kill9()
    # A crash in the middle of an append: half a header, then half a record.
    seg = sorted(spool.glob("*.spool"))[-1]
    good = seg.read_bytes()
    with open(seg, "ab") as f:
        f.write(good[: len(good) // 2])
    assert kafka.command("up 1") == "ok"
    gw2 = make_gateway(kafka.bootstrap, config=cfg)
    msgs = published(kafka, 1)
    assert [headers_of(m)["ce_id"] for m in msgs] == ["app-0"]
    assert metric(gw2, "hookbus_gateway_spool_corrupt_records_total") == 1


def test_spool_full_is_503_with_retry_after_and_nothing_accepted_is_lost(kafka, make_gateway,
                                                                        tmp_path):
    gw = make_gateway(kafka.bootstrap,
                      config=spool_config(kafka, tmp_path / "spool", max_bytes=16384))
    kafka_down(kafka, gw)
    accepted, refused = [], None
    for seq in range(40):
        r = push(gw, "app", seq)
        if r.status_code == 202:
            accepted.append(f"app-{seq}")
            continue
        refused = r
        break
    assert accepted, "nothing fit in the spool"
    assert refused is not None and refused.status_code == 503, "the spool never filled"
    assert int(refused.headers["Retry-After"]) > 0
    assert "spool full" in refused.json()["error"]
    # Kafka unreachable and the spool full: not ready.
    wait_for(lambda: requests.get(gw.url("/readyz"), timeout=5).status_code == 503,
             what="readyz 503")
    assert kafka.command("up 1") == "ok"
    assert_order_and_no_duplicates(published(kafka, len(accepted)), accepted)
    wait_for(lambda: requests.get(gw.url("/readyz"), timeout=5).status_code == 200,
             what="ready again")


def test_spool_disabled_gives_503_with_retry_after(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap, timeout=1000)
    kafka_down(kafka, gw)
    r = push(gw, "app", 0)
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert "spool disabled" in r.json()["error"]


def test_event_kafka_refuses_for_good_is_set_aside_and_does_not_block(kafka, make_gateway,
                                                                       tmp_path):
    spool = tmp_path / "spool"
    gw = make_gateway(kafka.bootstrap, config=spool_config(kafka, spool))
    kafka_down(kafka, gw)
    big = json.loads((FIXTURES / "github" / "push.json").read_text())
    big["after"] = f"{1:040x}"
    big["commits"] = [{"id": f"{i:040x}", "added": [f"src/module-{i}/{'x' * 60}.c"],
                       "modified": [], "removed": []} for i in range(900)]
    r = github_post(gw, "push", json.dumps(big).encode(), delivery="big")
    assert r.status_code == 202 and r.json()["status"] == "spooled"
    for seq in (2, 3):
        assert push(gw, "app", seq).status_code == 202
    gw.stop()
    assert kafka.command("up 1") == "ok"
    # This time Kafka (here the client's message.max.bytes) refuses the big event for good.
    cfg = spool_config(kafka, spool).replace(
        'reconnect.backoff.ms: "50"', 'reconnect.backoff.ms: "50"\n    message.max.bytes: "20000"')
    gw2 = make_gateway(kafka.bootstrap, config=cfg)
    msgs = published(kafka, 2)
    assert [headers_of(m)["ce_id"] for m in msgs] == ["app-2", "app-3"]
    assert (spool / "rejected.spool").stat().st_size > 20000
    assert any(l.get("msg", "").startswith("spool: kafka refused an event for good")
               and l.get("id") == "big" for l in gw2.lines())
    assert metric(gw2, "hookbus_gateway_spool_rejected_events_total") == 1


def mount_tmpfs(path, size):
    """A tmpfs of `size` at path (tests run as root); skips when mount is refused."""
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                        str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the full-disk case: {r.stderr.strip()}")
    return path


def test_full_spool_disk_is_503_then_every_202_reaches_kafka_once_in_order(kafka, make_gateway,
                                                                            tmp_path):
    disk = mount_tmpfs(tmp_path / "disk", "64k")
    try:
        # spool.max_bytes far above the disk: the disk fills first.
        cfg = spool_config(kafka, disk / "spool", max_bytes=64 << 20)
        gw = make_gateway(kafka.bootstrap, config=cfg)
        kafka_down(kafka, gw)
        accepted, refused = [], None
        for seq in range(200):
            r = push(gw, "app", seq)
            if r.status_code == 202:
                accepted.append(f"app-{seq}")
                continue
            refused = r
            break
        assert accepted, "nothing fit on the disk"
        assert refused is not None and refused.status_code == 503, "the disk never filled"
        assert int(refused.headers["Retry-After"]) > 0
        assert refused.json()["error"].startswith("not durable")
        ready = requests.get(gw.url("/readyz"), timeout=5)
        assert ready.status_code == 503, ready.text
        assert kafka.command("up 1") == "ok"
        # Kafka is back: replay progress is recorded on the full disk and
        # every event answered 202 arrives once, in order.
        assert_order_and_no_duplicates(published(kafka, len(accepted)), accepted)
        wait_for(lambda: metric(gw, "hookbus_gateway_spool_records") == 0, what="empty spool")
        wait_for(lambda: requests.get(gw.url("/readyz"), timeout=5).status_code == 200,
                 what="ready again")
        assert not any(l.get("msg") == "spool: cannot record replay progress" for l in gw.lines())
        r = push(gw, "app", 1000)
        assert r.status_code == 202 and "status" not in r.json(), r.text
        gw.stop()
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def big_push(size):
    """A GitHub push of about `size` bytes (long commit messages)."""
    body = json.loads((FIXTURES / "github" / "push.json").read_text())
    body["after"] = f"{7:040x}"
    n = size // 10000
    body["commits"] = [{"id": f"{i:040x}", "message": "m" * 10000, "added": [], "modified": [],
                        "removed": []} for i in range(n)]
    return json.dumps(body).encode()


def test_event_over_kafka_message_limit_is_413_never_a_202(kafka, make_gateway, tmp_path):
    spool = tmp_path / "spool"
    cfg = spool_config(kafka, spool, max_bytes=64 << 20).replace(
        "    secrets: [env:E2E_GITHUB_SECRET]",
        "    secrets: [env:E2E_GITHUB_SECRET]\n    include_original: true")
    gw = make_gateway(kafka.bootstrap, config=cfg)
    body = big_push(1_500_000)
    assert 1_400_000 < len(body) < 2_000_000
    # Kafka up: refused before producing, with the reason.
    r = github_post(gw, "push", body, delivery="big-1")
    assert r.status_code == 413, r.text
    assert "message.max.bytes" in r.json()["error"]
    # Kafka down: not spooled either (replay could never deliver it).
    kafka_down(kafka, gw)
    r = github_post(gw, "push", body, delivery="big-2")
    assert r.status_code == 413, r.text
    assert metric(gw, "hookbus_gateway_spooled_events_total") == 0
    # A normal push still goes through the spool, and only it reaches Kafka.
    assert push(gw, "app", 1).status_code == 202
    assert kafka.command("up 1") == "ok"
    msgs = published(kafka, 1)
    assert [headers_of(m)["ce_id"] for m in msgs] == ["app-1"]
    assert not (spool / "rejected.spool").exists()
