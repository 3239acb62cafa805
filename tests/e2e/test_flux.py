"""hookbus-flux end to end: a signed webhook -> gateway -> Kafka (mock-kafka)
-> hookbus-flux -> reconcile.fluxcd.io/requestedAt on exactly the Flux
sources of tests/tools/fake-kube that the event moves."""
import json
import re
import subprocess

import pytest

from conftest import BIN, ROOT, TOKEN, fixture_bytes, wait_for
from kube_helpers import FakeKube, KubeConsumer, write_kubeconfig

NS = "flux-system"
REQUESTED = "reconcile.fluxcd.io/requestedAt"
GITLAB_SECRET = "gitlab-secret-token"
HARBOR_SECRET = "harbor-auth-header-value"
RECEIVERS = f"""  - name: acme-gitlab
    type: gitlab
    secrets: [literal:{GITLAB_SECRET}]
  - name: harbor
    type: harbor
    secrets: [literal:{HARBOR_SECRET}]
"""
OTHER_DIGEST = "sha256:" + "0" * 64


def obj(kind, name, ns=NS, **spec):
    return {"kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": spec}


OBJECTS = [
    obj("GitRepository", "gr-main", url="https://gitlab.example.com/acme/app", ref={"branch": "main"}),
    obj("GitRepository", "gr-ssh-default", url="ssh://git@gitlab.example.com/Acme/App.git"),
    obj("GitRepository", "gr-name", url="https://gitlab.example.com/acme/app.git",
        ref={"name": "refs/heads/main"}),
    obj("GitRepository", "gr-dev", url="https://gitlab.example.com/acme/app", ref={"branch": "dev"}),
    obj("GitRepository", "gr-semver", url="https://gitlab.example.com/acme/app",
        ref={"semver": ">=1.0.0", "branch": "main"}),
    obj("GitRepository", "gr-commit", url="https://gitlab.example.com/acme/app",
        ref={"branch": "main", "commit": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"}),
    obj("OCIRepository", "oci-harbor", url="oci://harbor.example.com/acme/app", ref={"tag": "v1"}),
    obj("OCIRepository", "oci-harbor-latest", url="oci://harbor.example.com/acme/app"),
    obj("OCIRepository", "oci-harbor-semver", url="oci://harbor.example.com/acme/app",
        ref={"semver": "^2.0.0"}),
    obj("OCIRepository", "oci-harbor-digest", url="oci://harbor.example.com/acme/app",
        ref={"digest": OTHER_DIGEST}),
    obj("ImageRepository", "ir-harbor", image="harbor.example.com/acme/app"),
    obj("ImageRepository", "ir-other", image="harbor.example.com/acme/other"),
    obj("HelmRepository", "hr-oci", type="oci", url="oci://ghcr.io/acme/charts"),
    obj("HelmRepository", "hr-elsewhere", type="oci", url="oci://ghcr.io/acme/other-charts"),
    obj("HelmChart", "hc-app", chart="app", version="1.2.x",
        sourceRef={"kind": "HelmRepository", "name": "hr-oci"}),
    obj("HelmChart", "hc-app-2", chart="app", version=">=2.0.0",
        sourceRef={"kind": "HelmRepository", "name": "hr-oci"}),
    obj("HelmChart", "hc-db", chart="db", sourceRef={"kind": "HelmRepository", "name": "hr-oci"}),
    obj("HelmChart", "hc-app-other-ns", ns="apps", chart="app",
        sourceRef={"kind": "HelmRepository", "name": "hr-oci"}),
]


@pytest.fixture
def kube(tmp_path):
    k = FakeKube(tmp_path, OBJECTS)
    yield k
    k.stop()


@pytest.fixture
def make_flux(tmp_path, kafka, kube):
    started = []

    def start(extra=""):
        kc = tmp_path / "kubeconfig"
        write_kubeconfig(kc, kube.url)
        c = KubeConsumer(tmp_path, "hookbus-flux", f"""
kafka:
  brokers: {kafka.bootstrap}
  group: e2e-flux
  topics: [hookbus.git, hookbus.image]
  properties: {{auto.offset.reset: earliest}}
debounce: 300ms
retry: {{max_attempts: 5, initial_backoff: 200ms, max_backoff: 1s}}
admin_listen: 127.0.0.1:0
flux:
  kubeconfig: {kc}
  page_size: 2
{extra}
""")
        started.append(c)
        return c

    yield start
    for c in started:
        c.stop()


@pytest.fixture
def gw(kafka, make_gateway):
    return make_gateway(kafka.bootstrap, extra=RECEIVERS)


def refreshed(kube):
    return kube.annotated(REQUESTED)


def wait_patched(kube, flux, acted, expected):
    flux.wait_acted(acted)
    wait_for(lambda: set(refreshed(kube)) >= set(expected), timeout=10,
             what=f"patches of {expected}, have {refreshed(kube)}")
    return refreshed(kube)


def skipped(flux):
    return {l["resource"] + "/" + l["object"]: l["reason"] for l in flux.lines()
            if l.get("msg") == "object skipped"}


def test_gitlab_push_refreshes_git_repositories_following_the_branch(kube, gw, make_flux):
    flux = make_flux()
    headers = {"Content-Type": "application/json", "X-Gitlab-Event": "Push Hook",
               "X-Gitlab-Event-UUID": "flux-gl-1", "X-Gitlab-Token": GITLAB_SECRET}
    r = gw.post("/webhooks/acme-gitlab", fixture_bytes("gitlab/push.json"), headers)
    assert r.status_code == 202, r.text
    expected = [f"gitrepositories/{NS}/gr-main", f"gitrepositories/{NS}/gr-name"]
    assert wait_patched(kube, flux, 1, expected) == expected
    for p in kube.patches():
        stamp = p["annotations"][REQUESTED]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", stamp), p
        assert p["body"] == {"metadata": {"annotations": {REQUESTED: stamp}}}
    # Flux's default branch is master; semver and commit win over the branch
    assert skipped(flux) == {
        f"gitrepositories/{NS}/gr-ssh-default": "branch", f"gitrepositories/{NS}/gr-dev": "branch",
        f"gitrepositories/{NS}/gr-semver": "not_tag", f"gitrepositories/{NS}/gr-commit": "pinned"}
    assert flux.metric_line('hookbus_flux_refreshes_total{resource="gitrepositories"}') == 2


def test_harbor_push_refreshes_oci_and_image_repositories(kube, gw, make_flux):
    flux = make_flux()
    body = fixture_bytes("harbor/push-artifact.json")  # tags v1 and latest, one digest
    r = gw.post("/webhooks/harbor", body, {"Content-Type": "application/json",
                                           "Authorization": HARBOR_SECRET})
    assert r.status_code == 202, r.text
    expected = sorted([f"ocirepositories/{NS}/oci-harbor", f"ocirepositories/{NS}/oci-harbor-latest",
                       f"imagerepositories/{NS}/ir-harbor"])
    assert wait_patched(kube, flux, 2, expected) == expected
    assert len(kube.patches()) == 3, "one patch per object for the two events of the push"
    reasons = {}
    for l in flux.lines():
        if l.get("msg") == "object skipped":
            reasons.setdefault(l["resource"] + "/" + l["object"], set()).add(l["reason"])
    # v1 is outside ^2.0.0, latest is no version; the tag of each misses the other's rule
    assert reasons == {f"ocirepositories/{NS}/oci-harbor-semver": {"constraint", "not_semver"},
                       f"ocirepositories/{NS}/oci-harbor-digest": {"pinned"},
                       f"ocirepositories/{NS}/oci-harbor": {"tag"},
                       f"ocirepositories/{NS}/oci-harbor-latest": {"tag"}}


def test_chart_push_reaches_helm_charts_through_their_repository(kube, gw, make_flux):
    flux = make_flux()
    headers = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json",
               "ce-specversion": "1.0", "ce-id": "chart-1", "ce-source": "/e2e",
               "ce-type": "dev.hookbus.chart.push", "ce-repo": "ghcr.io/acme/charts/app",
               "ce-tag": "1.2.4", "ce-partitionkey": "ghcr.io/acme/charts/app"}
    r = gw.post("/webhooks/ce", json.dumps({"tag": "1.2.4"}).encode(), headers)
    assert r.status_code == 202, r.text
    expected = sorted([f"helmrepositories/{NS}/hr-oci", f"helmcharts/{NS}/hc-app"])
    assert wait_patched(kube, flux, 1, expected) == expected
    assert skipped(flux) == {f"helmcharts/{NS}/hc-app-2": "constraint"}


def test_resources_subset_and_check_config(tmp_path, kube, gw, make_flux):
    flux = make_flux(extra="  resources: ocirepositories\n")
    assert flux.metric("hookbus_flux_objects") == 4
    for cfg in (ROOT / "config" / "flux.yaml", ROOT / "config" / "compose" / "flux.yaml"):
        r = subprocess.run([str(BIN / "hookbus-flux"), "--config", str(cfg), "--check-config"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("flux:\n  resources: gitrepositories,kustomizations\n")
    r = subprocess.run([str(BIN / "hookbus-flux"), "--config", str(bad), "--check-config"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "unknown resource 'kustomizations'" in r.stderr, r.stderr
