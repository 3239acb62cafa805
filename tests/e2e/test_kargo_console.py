"""hookbus-kargo in the consumer console: for each event, /api/v1/events shows
which Warehouses it refreshed and which it skipped, with the skip metric's reasons;
/api/v1/warehouses lists the cache; `hookbus-kargo explain --event FILE` prints
the same decision for a structured event against the live cluster."""
import json
import subprocess

import requests

from conftest import BIN, github_post, wait_for
from test_kargo import NS, WAREHOUSES, kube, make_kargo, push_body  # noqa: F401 (fixtures)


def test_event_detail_names_refreshed_and_skipped_warehouses(kube, gateway, make_kargo):
    kargo = make_kargo()
    r = github_post(gateway, "push", push_body(), delivery="kargo-console-1")
    assert r.status_code == 202, r.text

    def acted():
        evs = requests.get(f"http://127.0.0.1:{kargo.port}/api/v1/events", timeout=5).json()
        return [e for e in evs if e["id"] == "kargo-console-1" and e["decision"] == "acted"]
    [ev] = wait_for(acted, timeout=30, what="the push acted on")
    refresh, _, skip = ev["detail"].partition("; skip ")
    assert refresh.startswith("refresh ")
    assert set(refresh[len("refresh "):].split(", ")) == {
        f"{NS}/main-https", f"{NS}/main-scp", "team-b/main-ssh-other-ns", f"{NS}/paths-charts",
        f"{NS}/bad-regex"}
    assert set(skip.split(", ")) == {
        f"{NS}/dev-branch (branch)", f"{NS}/semver-1 (not_tag)", f"{NS}/semver-2 (not_tag)",
        f"{NS}/lexical-v1 (not_tag)", f"{NS}/newest-tag-ignore-v1 (not_tag)",
        f"{NS}/paths-deploy (paths)", f"{NS}/paths-all-excluded (paths)"}
    assert sorted(kube.refreshed()) == sorted(refresh[len("refresh "):].split(", "))

    # An event for a repository no Warehouse watches.
    body = push_body().replace(b"Acme/App", b"Acme/Nobody").replace(b"acme/app", b"acme/nobody")
    assert github_post(gateway, "push", body, delivery="kargo-console-2").status_code == 202

    def none():
        evs = requests.get(f"http://127.0.0.1:{kargo.port}/api/v1/events", timeout=5).json()
        return [e for e in evs if e["id"] == "kargo-console-2" and e["decision"] == "acted"]
    [ev] = wait_for(none, timeout=30, what="the second push acted on")
    assert ev["detail"].startswith("skip (no_warehouse for github.com/acme/nobody")


def test_warehouses_lists_the_cache_with_subscription_ids(kube, make_kargo):
    kargo = make_kargo()
    whs = requests.get(f"http://127.0.0.1:{kargo.port}/api/v1/warehouses", timeout=5).json()
    names = [(w["namespace"], w["name"]) for w in whs]
    assert names == sorted(names) and len(names) == len(WAREHOUSES)
    by = {f"{w['namespace']}/{w['name']}": w["subscriptions"] for w in whs}
    assert by[f"{NS}/main-scp"] == ["github.com/acme/app"]
    assert by["team-b/main-ssh-other-ns"] == ["github.com/acme/app"]
    assert by[f"{NS}/image-ghcr"] == ["ghcr.io/acme/app"]
    assert by[f"{NS}/nginx-semver"] == ["docker.io/library/nginx"]
    r = requests.get(f"http://127.0.0.1:{kargo.port}/api/v1/nothing", timeout=5)
    assert r.status_code == 404


def structured(msg):
    """A binary-mode Kafka message as a structured CloudEvent (JSON)."""
    ev = {}
    for k, v in msg.headers():
        if k.startswith("ce_"):
            ev[k[3:]] = v.decode()
        elif k == "content-type":
            ev["datacontenttype"] = v.decode()
    ev["data"] = json.loads(msg.value())
    return ev


def test_explain_prints_the_decision_the_console_shows(kafka, kube, gateway, make_kargo,
                                                       tmp_path):
    kargo = make_kargo()
    assert github_post(gateway, "push", push_body(), delivery="explain-1").status_code == 202

    def acted():
        evs = requests.get(f"http://127.0.0.1:{kargo.port}/api/v1/events", timeout=5).json()
        return [e for e in evs if e["id"] == "explain-1" and e["decision"] == "acted"]
    [ev] = wait_for(acted, timeout=30, what="the push acted on")
    [msg] = kafka.read("hookbus.git", 1)
    event = tmp_path / "event.json"
    event.write_text(json.dumps(structured(msg)))
    r = subprocess.run([str(BIN / "hookbus-kargo"), "explain", "--event", str(event),
                        "--config", str(kargo.config_path), "--log-level", "error"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"explain-1: {ev['detail']}\n"
    # An event that is not a CloudEvent, and a missing FILE.
    event.write_text("{}")
    r = subprocess.run([str(BIN / "hookbus-kargo"), "explain", "--event", str(event),
                        "--config", str(kargo.config_path)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "event.json" in r.stderr
    r = subprocess.run([str(BIN / "hookbus-kargo"), "explain"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "usage" in r.stderr
