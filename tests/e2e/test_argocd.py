"""hookbus-argocd end to end: a signed webhook -> gateway -> Kafka
(mock-kafka) -> hookbus-argocd -> refresh annotations on Applications and
ApplicationSets of tests/tools/fake-kube.

Each test asserts the exact set of objects patched and the exact patch, so
an Application refreshed without reason fails as surely as one missed.
"""
import json
import re
import subprocess

import pytest

from conftest import BIN, ROOT, TOKEN, fixture_bytes, sign, wait_for
from kube_helpers import FakeKube, KubeConsumer, write_kubeconfig

NS = "argocd"
GITLAB = "https://gitlab.example.com/Acme/App.git"
BITBUCKET = "git@bitbucket.org:acme/app.git"
REFRESH = "argocd.argoproj.io/refresh"
APPSET_REFRESH = "argocd.argoproj.io/application-set-refresh"
PATHS = "argocd.argoproj.io/manifest-generate-paths"
GITLAB_SECRET = "gitlab-secret-token"
BITBUCKET_SECRET = "bitbucket-cloud-secret"
RECEIVERS = f"""  - name: acme-gitlab
    type: gitlab
    secrets: [literal:{GITLAB_SECRET}]
  - name: acme-bitbucket
    type: bitbucket
    secrets: [literal:{BITBUCKET_SECRET}]
"""


def app(name, sources=None, paths=None, **source):
    meta = {"name": name, "namespace": NS}
    if paths is not None:
        meta["annotations"] = {PATHS: paths}
    spec = {"sources": sources} if sources else {"source": source}
    return {"kind": "Application", "metadata": meta, "spec": spec}


def appset(name, generators):
    return {"kind": "ApplicationSet", "metadata": {"name": name, "namespace": NS},
            "spec": {"generators": generators}}


OBJECTS = [
    # gitlab.example.com/acme/app, a monorepo
    app("gl-web", repoURL=GITLAB, path="apps/web", targetRevision="HEAD", paths="."),
    app("gl-api", repoURL=GITLAB, path="apps/api", targetRevision="main", paths="."),
    app("gl-docs-abs", repoURL="https://gitlab.example.com/acme/app", path="apps/api",
        paths="/docs; ."),
    app("gl-glob", repoURL=GITLAB, path="apps/other", paths="/apps/*/values.yaml"),
    app("gl-no-paths", repoURL=GITLAB, path="apps/api", targetRevision="refs/heads/main"),
    app("gl-dev", repoURL=GITLAB, path="apps/web", targetRevision="dev"),
    app("gl-semver", repoURL=GITLAB, path="apps/web", targetRevision=">=1.0.0 <2.0.0"),
    app("gl-pinned", repoURL=GITLAB, path="apps/web",
        targetRevision="da1560886d4f094c3e6c9ef40349f7d38b5d27d7"),
    # multi-source: a Helm chart from OCI plus values from the monorepo
    app("multi-chart-values", paths="/envs", sources=[
        {"repoURL": "ghcr.io/acme/charts", "chart": "app", "targetRevision": "1.2.*"},
        {"repoURL": GITLAB, "targetRevision": "main", "ref": "values"}]),
    app("multi-two-repos", sources=[
        {"repoURL": "https://github.com/acme/other", "path": "x", "targetRevision": "HEAD"},
        {"repoURL": GITLAB, "path": "apps/web", "targetRevision": "HEAD"}], paths="."),
    app("oci-manifests", repoURL="oci://ghcr.io/acme/manifests/app", targetRevision="latest"),
    # bitbucket.org/acme/app: its pushes name no paths
    app("bb-mono", repoURL=BITBUCKET, path="apps/api", targetRevision="main", paths="."),
    app("bb-dev", repoURL="https://bitbucket.org/acme/app", targetRevision="dev"),
    # ApplicationSets
    appset("set-gl", [{"git": {"repoURL": GITLAB, "revision": "HEAD",
                               "directories": [{"path": "apps/*"}]}}]),
    appset("set-bb-matrix", [{"matrix": {"generators": [
        {"git": {"repoURL": "https://bitbucket.org/acme/app.git", "revision": "main",
                 "files": [{"path": "envs/*.json"}]}},
        {"list": {"elements": [{"cluster": "a"}]}}]}}]),
    appset("set-gl-release", [{"git": {"repoURL": GITLAB, "revision": "release"}}]),
    appset("set-other", [{"git": {"repoURL": "https://github.com/acme/other", "revision": "HEAD"}}]),
]


@pytest.fixture
def kube(tmp_path):
    k = FakeKube(tmp_path, OBJECTS)
    yield k
    k.stop()


@pytest.fixture
def make_argocd(tmp_path, kafka, kube):
    started = []

    def start(extra="", debounce="300ms"):
        kc = tmp_path / "kubeconfig"
        write_kubeconfig(kc, kube.url)
        c = KubeConsumer(tmp_path, "hookbus-argocd", f"""
kafka:
  brokers: {kafka.bootstrap}
  group: e2e-argocd
  topics: [hookbus.git, hookbus.image]
  properties: {{auto.offset.reset: earliest}}
debounce: {debounce}
retry: {{max_attempts: 5, initial_backoff: 200ms, max_backoff: 1s}}
admin_listen: 127.0.0.1:0
argocd:
  kubeconfig: {kc}
  page_size: 3
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


def gitlab_push(gw, files, delivery="5b0c1e2f-0004-4a6b-9c8d-7e6f5a4b3c21"):
    body = json.loads(fixture_bytes("gitlab/push.json"))
    body["commits"] = body["commits"][:1]
    body["commits"][0].update(added=list(files), modified=[], removed=[])
    body["total_commits_count"] = 1
    headers = {"Content-Type": "application/json", "X-Gitlab-Event": "Push Hook",
               "X-Gitlab-Event-UUID": delivery, "X-Gitlab-Token": GITLAB_SECRET}
    r = gw.post("/webhooks/acme-gitlab", json.dumps(body).encode(), headers)
    assert r.status_code == 202, r.text


def bitbucket_push(gw):
    body = fixture_bytes("bitbucket/repo-push-branch.json")
    headers = {"Content-Type": "application/json", "X-Event-Key": "repo:push",
               "X-Request-UUID": "c7d8e9f0-0002-4a1b-8c2d-3e4f5a6b7c8d",
               "X-Hub-Signature": sign(BITBUCKET_SECRET, body)}
    r = gw.post("/webhooks/acme-bitbucket", body, headers)
    assert r.status_code == 202, r.text


def ce_post(gw, ce_type, repo, tag, eid):
    headers = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json",
               "ce-specversion": "1.0", "ce-id": eid, "ce-source": "/e2e",
               "ce-type": ce_type, "ce-repo": repo, "ce-tag": tag,
               "ce-subject": f"{repo}:{tag}", "ce-partitionkey": repo}
    r = gw.post("/webhooks/ce", json.dumps({"repository": {"id": repo}, "tag": tag}).encode(),
                headers)
    assert r.status_code == 202, r.text


def apps(*names):
    return sorted(f"applications/{NS}/{n}" for n in names)


def sets(*names):
    return sorted(f"applicationsets/{NS}/{n}" for n in names)


def wait_patched(kube, consumer, acted, expected):
    consumer.wait_acted(acted)
    wait_for(lambda: set(kube.annotated(REFRESH) + kube.annotated(APPSET_REFRESH)) >= set(expected),
             timeout=10, what=f"patches of {expected}")
    return sorted(kube.annotated(REFRESH) + kube.annotated(APPSET_REFRESH))


def skipped(consumer):
    return {l["object"]: l["reason"] for l in consumer.lines() if l.get("msg") == "object skipped"}


def test_gitlab_push_honours_manifest_generate_paths(kube, gw, make_argocd):
    argocd = make_argocd()
    gitlab_push(gw, ["apps/web/values.yaml", "docs/index.md"])
    expected = apps("gl-web", "gl-docs-abs", "gl-glob", "gl-no-paths", "multi-two-repos") + \
        sets("set-gl")
    assert wait_patched(kube, argocd, 1, expected) == expected
    for p in kube.patches():
        if p["resource"] == "applications":
            assert p["body"] == {"metadata": {"annotations": {REFRESH: "normal"}}}, p
        else:
            assert p["body"] == {"metadata": {"annotations": {APPSET_REFRESH: "true"}}}, p
    assert skipped(argocd) == {
        f"{NS}/gl-api": "paths", f"{NS}/gl-dev": "branch", f"{NS}/gl-semver": "not_tag",
        f"{NS}/gl-pinned": "pinned", f"{NS}/multi-chart-values": "paths",
        f"{NS}/set-gl-release": "branch"}
    assert argocd.metric_line('hookbus_argocd_skips_total{reason="paths"}') == 2
    assert argocd.metric_line('hookbus_argocd_refreshes_total{resource="applications"}') == 5
    assert argocd.metric_line('hookbus_argocd_refreshes_total{resource="applicationsets"}') == 1


def test_gitlab_push_outside_every_path_refreshes_no_path_filtered_app(kube, gw, make_argocd):
    argocd = make_argocd()
    gitlab_push(gw, ["envs/prod/values.yaml"])
    expected = apps("gl-no-paths", "multi-chart-values") + sets("set-gl")
    assert wait_patched(kube, argocd, 1, expected) == expected


def test_bitbucket_push_without_paths_refreshes_path_filtered_apps(kube, gw, make_argocd):
    argocd = make_argocd()
    bitbucket_push(gw)
    expected = apps("bb-mono") + sets("set-bb-matrix")
    assert wait_patched(kube, argocd, 1, expected) == expected
    assert skipped(argocd) == {f"{NS}/bb-dev": "branch"}


def test_chart_and_oci_pushes_refresh_helm_and_oci_sources(kube, gw, make_argocd):
    argocd = make_argocd()
    ce_post(gw, "dev.hookbus.chart.push", "ghcr.io/acme/charts/app", "1.2.7", "chart-1")
    assert wait_patched(kube, argocd, 1, apps("multi-chart-values")) == apps("multi-chart-values")
    ce_post(gw, "dev.hookbus.chart.push", "ghcr.io/acme/charts/app", "1.3.0", "chart-2")
    ce_post(gw, "dev.hookbus.image.push", "ghcr.io/acme/manifests/app", "latest", "oci-1")
    expected = apps("multi-chart-values", "oci-manifests")
    assert wait_patched(kube, argocd, 3, expected) == expected
    assert len(kube.patches()) == 2
    assert skipped(argocd) == {f"{NS}/multi-chart-values": "constraint"}


def test_hard_refresh_spread_by_jitter(kube, gw, make_argocd):
    argocd = make_argocd(extra="  refresh: hard\n  jitter: 1200ms\n  jitter_threshold: 2\n"
                               "  applicationsets: false\n")
    gitlab_push(gw, ["apps/web/values.yaml", "docs/index.md"])
    expected = apps("gl-web", "gl-docs-abs", "gl-glob", "gl-no-paths", "multi-two-repos")
    assert wait_patched(kube, argocd, 1, expected) == expected
    patches = kube.patches()
    assert {p["annotations"][REFRESH] for p in patches} == {"hard"}
    times = sorted(p["time"] for p in patches)
    # 5 Applications over 1.2 s: 240 ms apart, the last ~960 ms after the first
    assert times[-1] - times[0] >= 0.8, times
    assert min(b - a for a, b in zip(times, times[1:])) >= 0.2, times
    assert [l for l in argocd.lines() if l.get("msg") == "refreshed"][-1]["spread_ms"] >= 900


def test_application_added_while_running_is_picked_up(kube, gw, make_argocd):
    argocd = make_argocd()
    n = argocd.metric_line('hookbus_argocd_objects{resource="applications"}')
    kube.post("/_fake/objects", app("late", repoURL=BITBUCKET, path="x", targetRevision="main"))
    wait_for(lambda: argocd.metric_line('hookbus_argocd_objects{resource="applications"}') == n + 1,
             timeout=10, what="the new Application in the view")
    bitbucket_push(gw)
    expected = apps("bb-mono", "late") + sets("set-bb-matrix")
    assert wait_patched(kube, argocd, 1, expected) == expected


def test_failed_patches_are_retried(kube, gw, make_argocd):
    argocd = make_argocd(extra="  applicationsets: false\n")
    kube.post("/_fake/fail", {"codes": [500, 429]})
    bitbucket_push(gw)
    assert wait_patched(kube, argocd, 1, apps("bb-mono")) == apps("bb-mono")
    assert argocd.metric("hookbus_argocd_patch_errors_total") == 2
    failed = [l for l in argocd.lines() if l.get("msg") == "refresh failed"]
    assert [l["retry"] for l in failed] == [True, True] and "HTTP 500" in failed[0]["error"]


def test_check_config(tmp_path):
    for cfg in (ROOT / "config" / "argocd.yaml", ROOT / "config" / "compose" / "argocd.yaml"):
        r = subprocess.run([str(BIN / "hookbus-argocd"), "--config", str(cfg), "--check-config"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("argocd:\n  refresh: soft\n")
    r = subprocess.run([str(BIN / "hookbus-argocd"), "--config", str(bad), "--check-config"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and re.search(r"bad\.yaml:2.*normal or hard", r.stderr), r.stderr
