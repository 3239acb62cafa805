"""`make dist`: the install tree the Dockerfile's runtime stage copies
(`make install DESTDIR=... PREFIX=/usr`), used only from that tree.

There is no Docker engine here, so this stands in for running the image: the
tree's gateway starts with the image's default command and environment
(/etc/hookbus/gateway.yaml, HOOKBUS_ADMIN_LISTEN), the Dockerfile's own
HEALTHCHECK command probes it, a signed webhook goes through to Kafka (the
mock cluster from build/bin), and the tree's hookbus-tail reads the event back.
"""
import json
import os
import pathlib
import re
import shlex
import signal
import subprocess

import pytest
import requests

from conftest import BIN, ROOT, MockKafka, sign, wait_for

DIST = pathlib.Path(os.environ.get("HOOKBUS_DIST_DIR", BIN.parent / "dist"))
SECRET = "dist-github-secret"

pytestmark = pytest.mark.skipif(not (DIST / "usr" / "bin" / "hookbus-gateway").exists(),
                                reason=f"no install tree in {DIST}: run `make dist` (make test-e2e does)")


def tree_env(extra=None):
    """Only the tree's binaries on PATH (plus the system's sh and curl), no
    HOOKBUS_* from the caller, no library path into the build directory."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HOOKBUS_") and k not in ("LD_LIBRARY_PATH", "PATH")}
    env["PATH"] = f"{DIST}/usr/bin:/usr/bin:/bin"
    env.update(extra or {})
    return env


def dockerfile_healthcheck():
    """The argv of the Dockerfile's HEALTHCHECK CMD (exec form)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    m = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])\s*$", text, flags=re.M)
    assert m, "the Dockerfile has no HEALTHCHECK ... CMD [...]"
    return json.loads(m.group(1))


def dockerfile_env():
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    env = {}
    for line in re.findall(r"^ENV (.*)$", text, flags=re.M):
        for word in shlex.split(line):
            k, _, v = word.partition("=")
            env[k] = v
    return env


def test_tree_holds_binaries_library_configs_and_schemas():
    built = sorted(p.name for p in BIN.glob("hookbus-*"))
    assert "hookbus-gateway" in built and "hookbus-tail" in built
    for name in built:
        p = DIST / "usr" / "bin" / name
        assert os.access(p, os.X_OK), f"{name} missing from the tree"
        dyn = subprocess.run(["readelf", "-d", str(p)], capture_output=True, text=True,
                             check=True).stdout
        assert "RPATH" not in dyn and "RUNPATH" not in dyn, f"{name} carries a library path"
    assert not (DIST / "usr" / "bin" / "mock-kafka").exists(), "a test tool was installed"
    assert (DIST / "usr" / "lib" / "libhookbus.a").is_file()
    headers = {p.name for p in (ROOT / "lib" / "include" / "hookbus").glob("*.h")}
    assert {p.name for p in (DIST / "usr" / "include" / "hookbus").glob("*.h")} == headers
    pc = (DIST / "usr" / "lib" / "pkgconfig" / "hookbus.pc").read_text()
    assert "prefix=/usr\n" in pc and "@" not in pc
    for f in (ROOT / "config").glob("*.yaml"):
        assert (DIST / "etc" / "hookbus" / f.name).read_text() == f.read_text()
    schemas = {p.name for p in (ROOT / "schemas").iterdir() if p.suffix in (".avsc", ".json")}
    assert "cloudevent.avsc" in schemas
    assert {p.name for p in (DIST / "usr" / "share" / "hookbus" / "schemas").iterdir()} == schemas
    for src, dst in (("deploy/prometheus/hookbus-rules.yaml", "prometheus/hookbus-rules.yaml"),
                     ("deploy/grafana/hookbus.json", "grafana/hookbus.json")):
        assert (DIST / "usr" / "share" / "hookbus" / dst).read_text() == (ROOT / src).read_text()


def test_every_binary_runs_from_the_tree(tmp_path):
    for p in sorted((DIST / "usr" / "bin").glob("hookbus-*")):
        r = subprocess.run([p.name, "--version"], env=tree_env(), cwd=tmp_path,
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(p.name + " "), r.stdout


def test_users_consumer_builds_against_the_installed_library(tmp_path):
    """hookbus.pc, the headers and libhookbus.a are enough to build a program."""
    pcdir = tmp_path / "pkgconfig"
    pcdir.mkdir()
    pc = (DIST / "usr" / "lib" / "pkgconfig" / "hookbus.pc").read_text()
    (pcdir / "hookbus.pc").write_text(pc.replace("prefix=/usr\n", f"prefix={DIST}/usr\n", 1))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "hookbus"],
                           env=dict(os.environ, PKG_CONFIG_PATH=str(pcdir)),
                           capture_output=True, text=True, check=True).stdout.split()
    assert f"-I{DIST}/usr/include" in flags and "-lhookbus" in flags
    (tmp_path / "main.c").write_text(
        '#include <stdio.h>\n#include <hookbus/repo.h>\n'
        'int main(void) {\n  char id[HB_REPO_ID_MAX];\n'
        '  if (hb_repo_git_id("git@GitHub.com:Acme/App.git", id, sizeof(id)) < 0) return 1;\n'
        '  puts(id);\n  return 0;\n}\n')
    lib = (DIST / "usr" / "lib" / "libhookbus.a").read_bytes()
    san = ["-fsanitize=address,undefined"] if b"__asan_" in lib else []
    subprocess.run(["cc", "-std=c11", *san, "-o", str(tmp_path / "prog"), str(tmp_path / "main.c"),
                    *flags, "-lpthread", "-lm"], check=True, timeout=120)
    out = subprocess.run([str(tmp_path / "prog")], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "github.com/acme/app"


def gateway_ports(log_path):
    ports = {}
    for line in log_path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("msg") == "listening":
            ports[rec["what"]] = rec["port"]
    return ports if {"webhooks", "admin"} <= ports.keys() else None


def test_image_command_accepts_a_webhook_and_tail_reads_it(tmp_path):
    kafka = MockKafka()
    gw = None
    log_path = tmp_path / "gateway.log"
    try:
        # The image's environment and default command, with loopback ports and
        # the mock cluster instead of kafka:9092.
        image_env = dockerfile_env()
        assert image_env.get("HOOKBUS_ADMIN_LISTEN") == "0.0.0.0:9090"
        env = tree_env(dict(image_env, HOOKBUS_ADMIN_LISTEN="127.0.0.1:0",
                            HOOKBUS_LISTEN="127.0.0.1:0", HOOKBUS_KAFKA_BROKERS=kafka.bootstrap,
                            GITHUB_WEBHOOK_SECRET=SECRET, GENERIC_WEBHOOK_TOKEN="dist-token"))
        with open(log_path, "w") as log:
            gw = subprocess.Popen(["hookbus-gateway", "--config", str(DIST / "etc/hookbus/gateway.yaml"),
                                   "--log-format", "json"],
                                  env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)

        def ports():
            assert gw.poll() is None, "gateway exited:\n" + log_path.read_text()
            return gateway_ports(log_path)
        p = wait_for(ports, timeout=15, what="the gateway's listeners")

        # The Dockerfile's HEALTHCHECK, pointed at this admin port (the image's
        # default URL is the same path on 9090), passes; against a closed port it fails.
        probe = dockerfile_healthcheck()
        url = f"http://127.0.0.1:{p['admin']}/healthz"
        r = subprocess.run(probe, env=tree_env({"HOOKBUS_HEALTHCHECK_URL": url}),
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, r.stderr
        r = subprocess.run(probe, env=tree_env({"HOOKBUS_HEALTHCHECK_URL": "http://127.0.0.1:9/healthz"}),
                           capture_output=True, text=True, timeout=20)
        assert r.returncode != 0
        wait_for(lambda: requests.get(f"http://127.0.0.1:{p['admin']}/readyz", timeout=5).status_code == 200,
                 timeout=15, what="/readyz")
        # With an admin listener, the webhook port does not serve the metrics.
        r = requests.get(f"https://127.0.0.1:{p['webhooks']}/metrics", verify=False, timeout=5)
        assert r.status_code == 404, r.text
        assert requests.get(f"http://127.0.0.1:{p['admin']}/metrics", timeout=5).status_code == 200

        # config/gateway.yaml serves TLS (a self-signed certificate without files).
        body = json.dumps({
            "ref": "refs/heads/main", "before": "0" * 40, "after": "a" * 40,
            "repository": {"full_name": "acme/dist", "clone_url": "https://github.com/acme/dist.git"},
            "commits": [], "sender": {"login": "octocat"}}).encode()
        resp = requests.post(f"https://127.0.0.1:{p['webhooks']}/webhooks/acme-github", data=body,
                             headers={"Content-Type": "application/json", "X-GitHub-Event": "push",
                                      "X-GitHub-Delivery": "dist-1",
                                      "X-Hub-Signature-256": sign(SECRET, body)},
                             verify=False, timeout=15)
        assert resp.status_code == 202, resp.text
        assert resp.json()["ids"] == ["dist-1"]

        tail = subprocess.run(["hookbus-tail", "--brokers", kafka.bootstrap, "--topic", "hookbus.git",
                               "--from-beginning", "--count", "1", "--output", "json",
                               "--idle-exit", "20s"],
                              env=tree_env(), cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert tail.returncode == 0, tail.stderr
        event = json.loads(tail.stdout.splitlines()[0])
        assert event["id"] == "dist-1"
        assert event["type"] == "dev.hookbus.git.push"
        assert event["repo"] == "github.com/acme/dist"
        assert event["source"] == "/receivers/acme-github"
    finally:
        if gw is not None and gw.poll() is None:
            gw.send_signal(signal.SIGTERM)
            try:
                gw.wait(20)
            except subprocess.TimeoutExpired:
                gw.kill()
                gw.wait()
                pytest.fail("gateway did not stop on SIGTERM")
        kafka.stop()
    text = log_path.read_text(errors="replace")
    assert gw.returncode == 0, text[-3000:]
    assert "Sanitizer" not in text and "runtime error" not in text, text[-3000:]
