"""The consumer runtime's console (hookbus-exec as the example; every consumer
has it): GET /api/v1/events lists recent events newest first with their
decision (filtered, deduplicated, debounced, acted, retrying, dead_lettered),
attempts, error and action time; /ui/ serves the page; admin.token is required
when set, and without one the console is served on a loopback admin_listen only."""
import json
import os
import shutil
import subprocess
import tempfile

import requests

from conftest import ROOT, wait_for
from consumers import ConsumerProc, kafka, make_attrs, produce, produce_raw  # noqa: F401
from test_consumer_exec import CONFIG, env, start_exec  # noqa: F401 (fixtures)

TOKEN = "consumer-console-token"
XSS = "<img src=x onerror=alert(1)>"


def events(c, token=None, **params):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = requests.get(f"http://127.0.0.1:{c.port}/api/v1/events", params=params,
                     headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def by_id(evs):
    return {e["id"]: e for e in evs}


def test_events_with_their_decisions(kafka, env, start_exec):
    (env["out"] / "FAIL_retry-1").write_text("1")  # one 75, then success
    (env["out"] / "FAIL_dead-1").write_text("always1")
    c = start_exec(debounce_key="", extra="filter:\n  - exact: {provider: github}\n")
    produce(kafka.bootstrap, "hookbus.git", [
        (make_attrs("ok-1", subject=XSS), {}),
        (make_attrs("ok-1"), {}),  # the same id again: deduplicated
        (make_attrs("other-1", provider="gitlab"), {}),  # filtered
        (make_attrs("retry-1"), {}),
        (make_attrs("dead-1"), {}),
    ])
    produce_raw(kafka.bootstrap, "hookbus.git", b"\x00junk")
    want = {"ok-1": "acted", "other-1": "filtered", "retry-1": "acted", "dead-1": "dead_lettered"}

    def settled():
        evs = events(c)
        got = by_id(e for e in evs if e["id"])
        if len(evs) == 6 and all(got.get(k, {}).get("decision") == v for k, v in want.items()):
            return evs
        return None
    try:
        evs = wait_for(settled, timeout=30, what="every decision")
    except AssertionError:
        raise AssertionError(repr(events(c)))
    seqs = [e["seq"] for e in evs]
    assert seqs == sorted(seqs, reverse=True)
    got = by_id(e for e in evs if e["id"] and e["decision"] != "deduplicated")
    assert [e["decision"] for e in evs if e["id"] == "ok-1"].count("deduplicated") == 1
    ok = got["ok-1"]
    assert ok["subject"] == XSS and ok["type"] == "dev.hookbus.git.push"
    assert ok["topic"] == "hookbus.git" and ok["attempts"] == 1 and ok["action_time"]
    assert ok["error"] is None
    assert got["retry-1"]["attempts"] == 2 and got["retry-1"]["error"] is None
    dead = got["dead-1"]
    assert dead["attempts"] == 1 and dead["error"] == "exit status 1: boom for dead-1"
    assert got["other-1"]["action_time"] is None
    junk = [e for e in evs if not e["id"]]
    assert len(junk) == 1 and junk[0]["decision"] == "dead_lettered"
    assert junk[0]["error"].startswith("undecodable: ")
    # The decision filter and the limit.
    assert [e["id"] for e in events(c, decision="filtered")] == ["other-1"]
    assert len(events(c, limit=2)) == 2
    r = requests.get(f"http://127.0.0.1:{c.port}/api/v1/events?limit=0", timeout=10)
    assert r.status_code == 400
    r = requests.get(f"http://127.0.0.1:{c.port}/ui/", timeout=10)
    assert r.status_code == 200 and "default-src 'none'" in r.headers["Content-Security-Policy"]
    assert "ok-1" not in r.text  # a static page: data only through the API


def custom_exec(kafka, env, tmp_path, **replace):
    """hookbus-exec with CONFIG's text edited (keys start_exec cannot override)."""
    cfg = CONFIG.format(brokers=kafka.bootstrap, group="g", script=env["script"], debounce="0",
                        debounce_key='""', concurrency=1, extra="", props="{}", drain="5s")
    for old, new in replace.items():
        assert old in cfg
        cfg = cfg.replace(old, new)
    return ConsumerProc(tmp_path, "hookbus-exec", cfg, env={"OUT_DIR": str(env["out"])},
                        wait_joined=False)


def test_retrying_is_shown_while_it_waits(kafka, env, tmp_path):
    (env["out"] / "FAIL_slow-1").write_text("9")
    c = custom_exec(kafka, env, tmp_path, **{
        "retry: {max_attempts: 4, initial_backoff: 50ms, max_backoff: 200ms}":
        "retry: {max_attempts: 3, initial_backoff: 2s, max_backoff: 2s}"})
    try:
        check_retrying(kafka, c)
    finally:
        c.stop()


def check_retrying(kafka, c):
    c.wait_assigned()
    produce(kafka.bootstrap, "hookbus.git", [(make_attrs("slow-1"), {})])
    e = wait_for(lambda: by_id(events(c)).get("slow-1", {}).get("decision") == "retrying"
                 and by_id(events(c))["slow-1"], timeout=20, what="retrying")
    assert e["attempts"] == 1 and e["error"] == "exit status 75: ran slow-1"
    e = wait_for(lambda: by_id(events(c)).get("slow-1", {}).get("decision") == "dead_lettered"
                 and by_id(events(c))["slow-1"], timeout=30, what="dead_lettered")
    assert e["attempts"] == 3


def test_debounced_then_acted(kafka, env, start_exec):
    c = start_exec(debounce="1s", debounce_key="repo")
    produce(kafka.bootstrap, "hookbus.git", [(make_attrs("deb-1"), {}), (make_attrs("deb-2"), {})])
    wait_for(lambda: {e["decision"] for e in events(c)} == {"debounced"} and len(events(c)) == 2,
             timeout=20, what="two debounced events")
    wait_for(lambda: {e["decision"] for e in events(c)} == {"acted"}, timeout=20, what="acted")


def test_token(kafka, env, start_exec):
    c = start_exec(extra=f"admin:\n  token: literal:{TOKEN}\n")
    produce(kafka.bootstrap, "hookbus.git", [(make_attrs("t-1"), {})])
    for tok in (None, "wrong", TOKEN + "x"):
        headers = {"Authorization": f"Bearer {tok}"} if tok else {}
        r = requests.get(f"http://127.0.0.1:{c.port}/api/v1/events", headers=headers, timeout=10)
        assert r.status_code == 401 and "t-1" not in r.text
    wait_for(lambda: [e["id"] for e in events(c, token=TOKEN)] == ["t-1"], what="t-1")
    r = requests.get(f"http://127.0.0.1:{c.port}/ui/", timeout=10)
    assert r.status_code == 401 and "<html" in r.text


def test_open_listener_without_token_serves_no_console(kafka, env, tmp_path):
    c = custom_exec(kafka, env, tmp_path,
                    **{"admin_listen: 127.0.0.1:0": "admin_listen: 0.0.0.0:0"})
    try:
        check_open_listener(c)
    finally:
        c.stop()


def check_open_listener(c):
    r = requests.get(f"http://127.0.0.1:{c.port}/api/v1/events", timeout=10)
    assert r.status_code == 401 and "admin.token" in r.json()["error"]
    assert requests.get(f"http://127.0.0.1:{c.port}/healthz", timeout=10).status_code == 200


def test_events_page_in_chromium(kafka, env, start_exec, tmp_path):
    """tests/browser/events.js drives the page (see test_console_browser.py)."""
    node = shutil.which("node")
    assert node and (ROOT / "tests/browser/node_modules/playwright-core").is_dir(), \
        "node and playwright-core are needed: scripts/install-deps.sh, make browser-deps"
    (env["out"] / "FAIL_dead-1").write_text("always1")
    c = start_exec(debounce_key="", extra=f"filter:\n  - exact: {{provider: github}}\n"
                                         f"admin:\n  token: literal:{TOKEN}\n")
    produce(kafka.bootstrap, "hookbus.git", [
        (make_attrs("ok-1", subject="<img src=x onerror=window.__xss=1>"), {}),
        (make_attrs("other-1", provider="gitlab"), {}),
        (make_attrs("dead-1"), {}),
    ])
    shots = ROOT / "docs" if os.environ.get("HOOKBUS_SCREENSHOTS") == "1" else tmp_path
    short = tempfile.mkdtemp(prefix="hb-")  # Chromium's socket path must stay short
    try:
        r = subprocess.run([node, str(ROOT / "tests/browser/events.js")], capture_output=True,
                           text=True, timeout=120, cwd=ROOT / "tests/browser",
                           env=dict(os.environ, HB_ADMIN=f"http://127.0.0.1:{c.port}",
                                    HB_ADMIN_TOKEN=TOKEN, HB_SHOTS=str(shots), TMPDIR=short))
    finally:
        shutil.rmtree(short, ignore_errors=True)
    assert r.returncode == 0, r.stderr[-4000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {"ok": True}
