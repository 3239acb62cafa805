"""hookbus-kargo end to end: webhook -> gateway -> Kafka (mock-kafka) ->
hookbus-kargo -> refresh annotation on Warehouses of tests/tools/fake-kube,
the Kubernetes API server of these tests.

The fake holds Warehouses of every selection strategy for two repositories;
each test asserts the exact set of Warehouses patched, so a Warehouse that is
refreshed without reason fails as surely as one that is missed.
"""
import concurrent.futures
import json
import os
import re
import subprocess
import time

import pytest
import requests

from conftest import BIN, ROOT, TOKEN, Gateway, fixture_bytes, github_post, wait_for
from kube_helpers import KUBE_TOKEN, FakeKube, write_kubeconfig

# Runs on mock and/or real Kafka (--kafka, conftest.py).
pytestmark = pytest.mark.real_kafka

NS = "kargo-demo"


def git(name, url="https://github.com/acme/app.git", ns=NS, labels=None, **fields):
    return {"metadata": {"name": name, "namespace": ns, "labels": labels or {}},
            "spec": {"subscriptions": [{"git": {"repoURL": url, **fields}}]}}


def image(name, url, ns=NS, **fields):
    return {"metadata": {"name": name, "namespace": ns},
            "spec": {"subscriptions": [{"image": {"repoURL": url, **fields}}]}}


def chart(name, url, ns=NS, **fields):
    return {"metadata": {"name": name, "namespace": ns},
            "spec": {"subscriptions": [{"chart": {"repoURL": url, **fields}}]}}


WAREHOUSES = [
    # github.com/acme/app, every URL form and strategy
    git("main-https"),
    git("main-scp", url="git@github.com:Acme/App.git", branch="main"),
    git("main-ssh-other-ns", url="ssh://git@github.com/acme/app", ns="team-b"),
    git("dev-branch", branch="dev"),
    git("semver-1", commitSelectionStrategy="SemVer", semverConstraint="^1.0.0"),
    git("semver-2", commitSelectionStrategy="SemVer", semverConstraint="^2.0.0"),
    git("lexical-v1", commitSelectionStrategy="Lexical", allowTagsRegexes=["^v1\\."]),
    git("newest-tag-ignore-v1", commitSelectionStrategy="NewestTag",
        ignoreTagsRegexes=["^v1\\."]),
    git("paths-charts", includePaths=["charts"]),
    git("paths-deploy", includePaths=["deploy", "glob:k8s/**/*.yaml"]),
    git("paths-all-excluded", excludePaths=["glob:**/*.md", "src", "regex:^charts/"]),
    git("bad-regex", commitSelectionStrategy="NewestTag", allowTagsRegexes=["(unclosed"]),
    # other repositories and kinds
    git("other-repo", url="https://github.com/acme/other"),
    image("image-ghcr", "ghcr.io/acme/app"),
    image("nginx-semver", "nginx", constraint="^1.26.0"),
    image("nginx-digest-latest", "docker.io/library/nginx", imageSelectionStrategy="Digest",
          constraint="latest"),
    image("nginx-lexical-ignore", "index.docker.io/library/nginx",
          imageSelectionStrategy="Lexical", ignoreTagsRegexes=["^1\\."]),
    chart("chart-oci", "oci://ghcr.io/acme/charts/app", semverConstraint="^0.3"),
]


class Kargo(Gateway):
    """hookbus-kargo as a process; lines() and stop() (SIGTERM, exit 0, no
    sanitizer report) are the gateway's."""

    def __init__(self, tmp_path, brokers, kubeconfig, extra="", debounce="1s", env=None):
        self.config_path = tmp_path / "kargo.yaml"
        self.config_path.write_text(f"""
kafka:
  brokers: {brokers}
  group: e2e-kargo
  topics: [hookbus.git, hookbus.image]
  properties: {{auto.offset.reset: earliest}}
debounce: {debounce}
retry: {{max_attempts: 5, initial_backoff: 200ms, max_backoff: 1s}}
admin_listen: 127.0.0.1:0
kargo:
  kubeconfig: {kubeconfig}
  resync_interval: 10m
  page_size: 4
{extra}
""")
        self.log_path = tmp_path / "kargo.log"
        self.log = open(self.log_path, "w")
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen(
            [str(BIN / "hookbus-kargo"), "--config", str(self.config_path), "--log-format",
             "json", "--log-level", "debug"],
            stdout=self.log, stderr=subprocess.STDOUT, env=e)
        self.port = wait_for(self._port, timeout=15, what="hookbus-kargo's admin listener")
        wait_for(self.ready, timeout=30, what="hookbus-kargo to be ready")

    def _port(self):
        if self.proc.poll() is not None:
            raise AssertionError("hookbus-kargo exited: " + self.log_path.read_text())
        for rec in self.lines():
            if rec.get("msg") == "listening" and rec.get("what") == "admin":
                return rec["port"]
        return None

    def ready(self):
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def metric(self, name):
        text = requests.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
        total = 0.0
        found = False
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
                found = True
        return total if found else None

    def metric_line(self, series):
        text = requests.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
        for line in text.splitlines():
            if line.startswith(series + " "):
                return float(line.rsplit(" ", 1)[1])
        return None


@pytest.fixture
def kube(tmp_path):
    k = FakeKube(tmp_path, WAREHOUSES)
    yield k
    k.stop()


@pytest.fixture
def make_kargo(tmp_path, kafka, kube):
    started = []

    def start(**kw):
        kc = tmp_path / "kubeconfig"
        write_kubeconfig(kc, kube.url)
        k = Kargo(tmp_path, kafka.bootstrap, kc, **kw)
        started.append(k)
        return k

    yield start
    for k in started:
        k.stop()


def push_body(ref="refs/heads/main", files=("charts/app/values.yaml", "src/main.c", "README.md")):
    body = json.loads(fixture_bytes("github/push.json"))
    body["ref"] = ref
    body["commits"] = body["commits"][:1]
    body["commits"][0]["added"] = list(files)
    body["commits"][0]["modified"] = []
    body["commits"][0]["removed"] = []
    return json.dumps(body).encode()


def ce_post(gw, ce_type, repo, tag, eid):
    headers = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json",
               "ce-specversion": "1.0", "ce-id": eid, "ce-source": "/e2e",
               "ce-type": ce_type, "ce-repo": repo, "ce-tag": tag,
               "ce-subject": f"{repo}:{tag}", "ce-partitionkey": repo}
    return gw.post("/webhooks/ce", json.dumps({"repository": {"id": repo}, "tag": tag}).encode(),
                   headers)


def wait_refreshed(kube, expected, kargo, acted):
    """Waits until hookbus-kargo acted on `acted` events and the patches
    cover expected, then returns the refreshed list."""
    wait_for(lambda: (kargo.metric("hookbus_consumer_acted_total") or 0) >= acted, timeout=30,
             what=f"{acted} events acted on")
    wait_for(lambda: set(kube.refreshed()) >= set(expected), timeout=10,
             what=f"refreshes of {expected}, have {kube.refreshed()}")
    return kube.refreshed()


def test_branch_push_refreshes_exactly_the_right_warehouses(kube, gateway, make_kargo):
    kargo = make_kargo()
    r = github_post(gateway, "push", push_body())
    assert r.status_code == 202, r.text
    expected = sorted(f"{ns}/{n}" for ns, n in [
        (NS, "main-https"), (NS, "main-scp"), ("team-b", "main-ssh-other-ns"),
        (NS, "paths-charts"), (NS, "bad-regex")])
    # bad-regex is NewestTag: a branch push is no tag, but its rule is invalid,
    # so it matches every event of its repository (logged once, never dropped)
    got = wait_refreshed(kube, expected, kargo, 1)
    assert got == expected
    for p in kube.patches():
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", p["refresh"]), p
        assert p["body"] == {"metadata": {"annotations": {"kargo.akuity.io/refresh": p["refresh"]}}}
    lines = kargo.lines()
    done = [l for l in lines if l.get("msg") == "warehouses refreshed"]
    assert done and done[-1]["refreshed"] == len(expected)
    skipped = {l["warehouse"]: l["reason"] for l in lines if l.get("msg") == "warehouse skipped"}
    assert skipped == {f"{NS}/dev-branch": "branch", f"{NS}/semver-1": "not_tag",
                       f"{NS}/semver-2": "not_tag", f"{NS}/lexical-v1": "not_tag",
                       f"{NS}/newest-tag-ignore-v1": "not_tag", f"{NS}/paths-deploy": "paths",
                       f"{NS}/paths-all-excluded": "paths"}
    invalid = [l for l in lines if "invalid rule" in l.get("msg", "")]
    assert [l["warehouse"] for l in invalid] == ["bad-regex"]
    assert kargo.metric("hookbus_kargo_refreshes_total") == len(expected)
    assert kargo.metric_line('hookbus_kargo_skips_total{reason="paths"}') == 2


def test_tag_push_refreshes_tag_strategies_only(kube, gateway, make_kargo):
    kargo = make_kargo()
    r = github_post(gateway, "push", fixture_bytes("github/push-tag.json"))
    assert r.status_code == 202, r.text
    expected = sorted(f"{NS}/{n}" for n in ["semver-1", "lexical-v1", "bad-regex"])
    assert wait_refreshed(kube, expected, kargo, 1) == expected


def test_image_pushes_match_docker_hub_short_names_and_strategies(kube, gateway, make_kargo):
    kargo = make_kargo()
    assert ce_post(gateway, "dev.hookbus.image.push", "docker.io/library/nginx", "1.27.0",
                   "img-1").status_code == 202
    assert wait_refreshed(kube, [f"{NS}/nginx-semver"], kargo, 1) == [f"{NS}/nginx-semver"]
    assert ce_post(gateway, "dev.hookbus.image.push", "docker.io/library/nginx", "latest",
                   "img-2").status_code == 202
    want = sorted([f"{NS}/nginx-semver", f"{NS}/nginx-digest-latest", f"{NS}/nginx-lexical-ignore"])
    assert wait_refreshed(kube, want, kargo, 2) == want
    assert ce_post(gateway, "dev.hookbus.chart.push", "ghcr.io/acme/charts/app", "0.3.1",
                   "chart-1").status_code == 202
    assert f"{NS}/chart-oci" in wait_refreshed(kube, [f"{NS}/chart-oci"], kargo, 3)
    assert len(kube.patches()) == 4


def test_warehouse_added_while_running_is_picked_up_from_the_watch(kube, gateway, make_kargo):
    kargo = make_kargo()
    lists = kube.get("/_fake/stats")["lists"]
    n = kargo.metric("hookbus_kargo_warehouses")
    kube.post("/_fake/warehouses", git("late-comer", url="https://github.com/acme/other.git",
                                       branch="release"))
    wait_for(lambda: kargo.metric("hookbus_kargo_warehouses") == n + 1, timeout=10,
             what="the new Warehouse in hookbus-kargo's view")
    body = json.loads(push_body(ref="refs/heads/release"))
    body["repository"]["clone_url"] = "https://github.com/acme/other.git"
    body["repository"]["full_name"] = "acme/other"
    body["repository"]["html_url"] = "https://github.com/acme/other"
    body["repository"]["ssh_url"] = "git@github.com:acme/other.git"
    body["repository"]["git_url"] = "git://github.com/acme/other.git"
    body["repository"]["url"] = "https://github.com/acme/other"
    body["repository"]["name"] = "other"
    r = github_post(gateway, "push", json.dumps(body).encode())
    assert r.status_code == 202, r.text
    assert wait_refreshed(kube, [f"{NS}/late-comer"], kargo, 1) == [f"{NS}/late-comer"]
    # from the watch, not from a relist
    assert kube.get("/_fake/stats")["lists"] == lists

    # deleted Warehouses leave the view; a relist after 410 Gone rebuilds it
    requests.delete(kube.url + f"/_fake/warehouses/{NS}/late-comer", timeout=5)
    wait_for(lambda: kargo.metric("hookbus_kargo_warehouses") == n, timeout=10,
             what="the deleted Warehouse to leave the view")
    kube.post("/_fake/compact", {})
    kube.post("/_fake/warehouses", git("after-compact", url="https://github.com/acme/other"))
    wait_for(lambda: kube.get("/_fake/stats")["lists"] > lists, timeout=10,
             what="a relist after 410 Gone")
    wait_for(lambda: kargo.metric("hookbus_kargo_warehouses") == n + 1, timeout=10,
             what="the Warehouse created during the relist")


def test_hundred_pushes_in_the_debounce_window_give_one_refresh_each(kube, gateway, make_kargo):
    kargo = make_kargo(debounce="5s")

    def post(i):
        return github_post(gateway, "push", push_body(), delivery=f"burst-{i}").status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(post, range(100)))
    assert codes == [202] * 100
    expected = sorted(f"{ns}/{n}" for ns, n in [
        (NS, "main-https"), (NS, "main-scp"), ("team-b", "main-ssh-other-ns"),
        (NS, "paths-charts"), (NS, "bad-regex")])
    got = wait_refreshed(kube, expected, kargo, 100)
    assert got == expected, "one refresh per Warehouse, not one per push"


def test_refreshes_reuse_api_connections(kube, gateway, make_kargo):
    kargo = make_kargo()
    expected = sorted(f"{ns}/{n}" for ns, n in [
        (NS, "main-https"), (NS, "main-scp"), ("team-b", "main-ssh-other-ns"),
        (NS, "paths-charts"), (NS, "bad-regex")])
    for i in range(4):
        r = github_post(gateway, "push", push_body(), delivery=f"reuse-{i}")
        assert r.status_code == 202, r.text
        # acted on: its PATCHes answered and the handle back in the pool
        wait_for(lambda: (kargo.metric("hookbus_consumer_acted_total") or 0) >= i + 1,
                 timeout=30, what=f"push {i} acted on")
    assert len(kube.patches()) == 20
    assert sorted(set(kube.refreshed())) == expected
    # 20 PATCHes, one after another: a kept connection each time, not one per PATCH
    assert 1 <= kube.get("/_fake/stats")["patch_connections"] <= 2


def test_failed_patches_are_retried_and_a_deleted_warehouse_is_done(kube, gateway, make_kargo):
    kargo = make_kargo()
    kube.post("/_fake/fail", {"codes": [500, 409]})
    assert ce_post(gateway, "dev.hookbus.image.push", "ghcr.io/acme/app", "2.0.0",
                   "retry-1").status_code == 202
    assert wait_refreshed(kube, [f"{NS}/image-ghcr"], kargo, 1) == [f"{NS}/image-ghcr"]
    assert kargo.metric("hookbus_kargo_patch_errors_total") == 2
    # gone between the event and the patch: 404 counts as done
    kube.post("/_fake/fail", {"codes": [404]})
    assert ce_post(gateway, "dev.hookbus.image.push", "ghcr.io/acme/app", "2.0.1",
                   "gone-1").status_code == 202
    wait_for(lambda: (kargo.metric("hookbus_consumer_acted_total") or 0) >= 2, timeout=30,
             what="the second event acted on")
    assert len(kube.patches()) == 1


def test_wrong_token_is_not_ready_and_names_the_cluster(tmp_path, kafka, kube):
    kc = tmp_path / "kubeconfig"
    write_kubeconfig(kc, kube.url, token="not-the-token-xyzzy")
    cfg = tmp_path / "k.yaml"
    cfg.write_text(f"kafka: {{brokers: {kafka.bootstrap}, topics: [hookbus.git]}}\n"
                   f"admin_listen: 127.0.0.1:0\nkargo: {{kubeconfig: {kc}}}\n")
    log = tmp_path / "k.log"
    with open(log, "w") as f:
        p = subprocess.Popen([str(BIN / "hookbus-kargo"), "--config", str(cfg), "--log-format",
                              "json"], stdout=f, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "HTTP 401" in log.read_text(), timeout=15, what="the 401 in the log")
        text = log.read_text()
        assert "cluster fake" in text and "xyzzy" not in text
        port = next(json.loads(l)["port"] for l in text.splitlines()
                    if '"what":"admin"' in l.replace(" ", ""))
        assert requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 503
    finally:
        p.terminate()
        assert p.wait(20) == 0


def test_namespaces_and_label_selector_limit_the_view(kube, gateway, make_kargo):
    kube.post("/_fake/warehouses", git("labelled", ns="team-b", labels={"hookbus": "yes"}))
    kargo = make_kargo(extra="  namespaces: [team-b]\n  label_selector: hookbus=yes\n")
    assert kargo.metric("hookbus_kargo_warehouses") == 1
    r = github_post(gateway, "push", push_body())
    assert r.status_code == 202
    assert wait_refreshed(kube, ["team-b/labelled"], kargo, 1) == ["team-b/labelled"]


def test_check_config_and_kubeconfig_flag(tmp_path, kube):
    cfg = ROOT / "config" / "kargo.yaml"
    r = subprocess.run([str(BIN / "hookbus-kargo"), "--config", str(cfg), "--check-config"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("kargo:\n  namespaces: {a: b}\n")
    r = subprocess.run([str(BIN / "hookbus-kargo"), "--config", str(bad), "--check-config"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "bad.yaml:2" in r.stderr, r.stderr
    r = subprocess.run([str(BIN / "hookbus-kargo"), "--config", str(cfg), "--check-config",
                        "--kubeconfig", "/nonexistent"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0, r.stderr


def test_in_cluster_tls_and_token_rotation(tmp_path, kafka, gateway):
    """The in-cluster service account: KUBERNETES_SERVICE_HOST/PORT, the token
    and ca.crt of the service-account directory, TLS verified against that CA;
    a rotated token file is read again without a restart."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=30)
    kube = FakeKube(tmp_path, WAREHOUSES, tls=(str(cert), str(key)))
    assert kube.url.startswith("https://")
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text(KUBE_TOKEN + "\n")
    (sa / "ca.crt").write_text(cert.read_text())
    port = kube.url.rsplit(":", 1)[1]
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port}
    os_env_kubeconfig = os.environ.pop("KUBECONFIG", None)
    kargo = None
    try:
        kargo = Kargo(tmp_path, kafka.bootstrap, '""', env=env,
                      extra=f"  service_account_dir: {sa}\n")
        assert any(l.get("msg") == "watching kargo warehouses" and l.get("cluster") == "in-cluster"
                   and l.get("server") == f"https://127.0.0.1:{port}" for l in kargo.lines())
        assert ce_post(gateway, "dev.hookbus.image.push", "ghcr.io/acme/app", "1.0.0",
                       "incluster-1").status_code == 202
        assert wait_refreshed(kube, [f"{NS}/image-ghcr"], kargo, 1)

        # kubelet rotates the projected token; the API server stops accepting the old one
        kube.post("/_fake/token", {"token": "rotated-token-2"})
        (sa / "token").write_text("rotated-token-2\n")
        assert ce_post(gateway, "dev.hookbus.image.push", "ghcr.io/acme/app", "1.0.1",
                       "incluster-2").status_code == 202
        wait_for(lambda: (kargo.metric("hookbus_consumer_acted_total") or 0) >= 2, timeout=30,
                 what="the second event acted on")
        assert len(kube.patches()) == 2

        # the token is revoked under an open watch: the new watch gets 401 until
        # the file holds the new one, then the client lists again (410)
        n = kargo.metric("hookbus_kargo_warehouses")
        kube.post("/_fake/token", {"token": "rotated-token-3"})
        kube.post("/_fake/compact", {})
        wait_for(lambda: any(l.get("msg") == "watching warehouses failed"
                             and "HTTP 401" in l.get("error", "") for l in kargo.lines()),
                 timeout=15, what="the watch's 401 in the log")
        (sa / "token").write_text("rotated-token-3\n")
        kube.post("/_fake/warehouses", git("after-rotation", url="https://github.com/acme/x"))
        wait_for(lambda: kargo.metric("hookbus_kargo_warehouses") == n + 1, timeout=30,
                 what="the view to recover with the new token")
        assert "rotated-token" not in kargo.log_path.read_text()
    finally:
        if os_env_kubeconfig is not None:
            os.environ["KUBECONFIG"] = os_env_kubeconfig
        if kargo:
            kargo.stop()
        kube.stop()

