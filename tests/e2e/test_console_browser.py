"""The gateway console in headless Chromium (tests/browser/console.js, playwright-core
from tests/browser/package-lock.json, installed by `make browser-deps`) against a real
gateway and Kafka: deliveries appear as webhooks arrive, filters, the XSS probe stays
text, a wrong token is refused, redeliver publishes the same id again (checked here,
in Kafka). Screenshots go to docs/ when HOOKBUS_SCREENSHOTS=1."""
import json
import os
import shutil
import subprocess
import tempfile

from conftest import ROOT, TOKEN
from test_console import ADMIN_TOKEN, Console, console_config

BROWSER_DIR = ROOT / "tests" / "browser"
CHROMIUM = "/usr/bin/chromium"


def test_console_in_chromium(kafka, make_gateway, tmp_path):
    assert (BROWSER_DIR / "node_modules" / "playwright-core").is_dir(), \
        "playwright-core is not installed: make browser-deps"
    assert os.access(CHROMIUM, os.X_OK), "chromium is not installed: scripts/install-deps.sh"
    node = shutil.which("node")
    assert node, "node is not installed: scripts/install-deps.sh"
    gw = make_gateway(kafka.bootstrap, config=console_config(kafka))
    con = Console(gw)
    shots = ROOT / "docs" if os.environ.get("HOOKBUS_SCREENSHOTS") == "1" else tmp_path
    # Chromium's profile lock is a Unix socket under TMPDIR: keep its path short
    # (sun_path is 108 bytes; pytest-xdist's tmp_path is longer).
    short = tempfile.mkdtemp(prefix="hb-")
    env = dict(os.environ, HB_GATEWAY=gw.base, HB_ADMIN=con.base, HB_ADMIN_TOKEN=ADMIN_TOKEN,
               HB_GENERIC_TOKEN=TOKEN, HB_SHOTS=str(shots), TMPDIR=short)
    try:
        r = subprocess.run([node, str(BROWSER_DIR / "console.js")], capture_output=True,
                           text=True, timeout=120, env=env, cwd=BROWSER_DIR)
    finally:
        shutil.rmtree(short, ignore_errors=True)
    assert r.returncode == 0, r.stderr[-4000:] + r.stdout[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["redelivered"] == ["browser-xss"]
    # Kafka holds the probe's event twice, with the same id.
    msgs = kafka.read("hookbus.other", 3)
    ids = sorted(dict(m.headers())["ce_id"].decode() for m in msgs)
    assert ids == ["browser-1", "browser-xss", "browser-xss"]
    assert (shots / "console-deliveries.png").stat().st_size > 10000
