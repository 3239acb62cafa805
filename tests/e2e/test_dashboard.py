"""The Grafana dashboard (deploy/grafana/hookbus.json), the Prometheus rules
and the README's metrics table against what the binaries really expose.

A gateway (exporting spans to a collector that is not there, so the
hookbus_otlp_* families exist), hookbus-kargo, hookbus-argocd, hookbus-flux
and hookbus-poller (against tests/tools/fake-kube; one poller discovers a
Warehouse whose chart repository does not answer, another polls a Helm
repository with Warehouse discovery and Kargo's credentials) and
hookbus-image-updater (against tests/tools/fake-image-updater) are started
and driven until every series they create lazily exists; their /metrics
must pass `promtool check metrics`, every metric a dashboard panel, a
dashboard variable or an alerting/recording rule queries must be among them,
and the README's table must list exactly the metric families they expose.
Grafana is not in Debian: the dashboard's PromQL is checked for syntax by
promtool (as recording rules), not rendered.
"""
import json
import re
import subprocess

import pytest
import requests
import yaml

from conftest import GITHUB_SECRET, ROOT, github_post, wait_for
from consumers import ConsumerProc, kafka  # noqa: F401  (the fixture with the DLQ topic)
from kube_helpers import FakeKube, write_kubeconfig
from poller_peers import HelmRepo
from prom import (DASHBOARD, PROMTOOL, RULES, metric_names, promtool_check_metrics,
                  scraped_names)
from test_image_updater import SECRET as IU_SECRET
from test_image_updater import FakeImageUpdater, ImageUpdaterConsumer
from test_kargo import kube, make_kargo, push_body  # noqa: F401  (fixtures)
from consumers import ConsumerProc
from kube_helpers import FakeKube, KubeConsumer, write_kubeconfig

GATEWAY_CONFIG = """
listen: 127.0.0.1:0
tls:
  enabled: false
kafka:
  brokers: {brokers}
spool:
  dir: {spool}
tracing:
  otlp_endpoint: http://127.0.0.1:{dead_port}/v1/traces
  flush_interval: 100ms
receivers:
  - name: acme-github
    type: github
    secrets: [env:E2E_GITHUB_SECRET]
"""


# For hookbus-argocd and hookbus-flux: one object the push (github.com/acme/app,
# main) refreshes and one it skips; for hookbus-poller's discovery, a
# Warehouse with a chart repository on a port nothing listens on.
def _app(name, revision):
    return {"kind": "Application", "metadata": {"name": name, "namespace": "argocd"},
            "spec": {"source": {"repoURL": "https://github.com/acme/app", "path": ".",
                                "targetRevision": revision}}}


def _gitrepo(name, branch):
    return {"kind": "GitRepository", "metadata": {"name": name, "namespace": "flux-system"},
            "spec": {"url": "https://github.com/acme/app", "ref": {"branch": branch}}}


def _warehouse(chart_url):
    return {"metadata": {"name": "polled", "namespace": "demo"},
            "spec": {"subscriptions": [{"chart": {"repoURL": chart_url, "name": "app"}}]}}


def _kube_consumer(tmp_path, binary, brokers, kubeconfig):
    section = binary.split("-", 1)[1]
    return KubeConsumer(tmp_path, binary, f"""
kafka:
  brokers: {brokers}
  group: dashboard-{section}
  topics: [hookbus.git]
  properties: {{auto.offset.reset: earliest}}
admin_listen: 127.0.0.1:0
{section}:
  kubeconfig: {kubeconfig}
""")


def _closed_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def dashboard():
    return json.loads(DASHBOARD.read_text())


def dashboard_exprs(d):
    """[(panel title, expr)] of every panel target."""
    out = []
    for p in d["panels"]:
        for t in p.get("targets", []):
            out.append((p["title"], t["expr"]))
    return out


def as_plain_promql(expr):
    """The expression Prometheus receives once Grafana has filled in its
    variables (all jobs, a 5m rate window)."""
    e = expr.replace("$__rate_interval", "5m")
    return re.sub(r"\$\w+", ".*", e)


def rule_exprs():
    doc = yaml.safe_load(RULES.read_text())
    return [(r.get("alert") or r["record"], r["expr"]) for g in doc["groups"] for r in g["rules"]]


def test_dashboard_is_well_formed_and_its_promql_parses(tmp_path):
    d = dashboard()
    assert d["uid"] == "hookbus" and d["title"]
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    graphs = [p for p in d["panels"] if p["type"] != "row"]
    assert len(graphs) >= 15
    for p in graphs:
        assert p["title"] and p["description"], p
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["targets"], p["title"]
        assert {"x", "y", "w", "h"} <= set(p["gridPos"]), p["title"]
    # The issue's list: deliveries per receiver and status, publish latency,
    # spool, Kafka errors, consumer lag, actions, dead letters.
    text = json.dumps(d)
    for metric in ("hookbus_gateway_requests_total", "hookbus_gateway_publish_seconds_bucket",
                   "hookbus_gateway_spool_bytes", "hookbus_gateway_kafka_delivery_errors_total",
                   "hookbus_consumer_lag", "hookbus_consumer_acted_total",
                   "hookbus_consumer_dead_lettered_total"):
        assert metric in text, metric
    # promtool parses each expression (as a recording rule); a syntax error fails.
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:expr_{i}", "expr": as_plain_promql(e)}
        for i, (_, e) in enumerate(dashboard_exprs(d))]}]}
    f = tmp_path / "dashboard-rules.yaml"
    f.write_text(yaml.safe_dump(rules))
    p = subprocess.run([PROMTOOL, "check", "rules", str(f)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"SUCCESS: {len(dashboard_exprs(d))} rules found" in p.stdout


def test_metric_name_parser():
    assert metric_names('sum by (receiver, code) (rate(hookbus_gateway_requests_total'
                        '{job=~"$gateway_job",code=~"5.."}[$__rate_interval]))') == \
        {"hookbus_gateway_requests_total"}
    assert metric_names("hookbus_consumer:lag:sum > 0 and delta(hookbus_consumer:lag:sum[10m])"
                        " > 0") == set()
    assert metric_names("a_total / on (job) b_seconds unless c offset 5m") == \
        {"a_total", "b_seconds", "c"}


def poller_scrape(kafka, tmp_path):
    """hookbus-poller's /metrics once it polled a Helm repository (the
    per-host budget series) with Warehouse discovery and Kargo's credentials
    on (the discovery series)."""
    d = tmp_path / "poller"
    d.mkdir()
    helm = HelmRepo(d / "helm")
    helm.write_index(["1.0.0"])
    kube = FakeKube(d, [{"metadata": {"name": "w", "namespace": "demo"},
                         "spec": {"subscriptions": []}}])
    p = None
    try:
        write_kubeconfig(d / "kubeconfig", kube.url)
        if not kafka.real:  # Apache Kafka: the poller creates it (compacted)
            kafka.command("topic hookbus.poller.state 1")
        p = ConsumerProc(d, "hookbus-poller", json.dumps({
            "kafka": {"brokers": kafka.bootstrap}, "admin_listen": "127.0.0.1:0",
            "kube": {"kubeconfig": str(d / "kubeconfig")},
            "poller": {"interval": "1s", "sources": [{"chart": helm.url, "name": "app"}],
                       "discover": {"kargo": True, "kargo_credentials": True}}}),
            name="poller", wait_joined=False)
        wait_for(lambda: p.metrics().get("hookbus_poller_polls_total", 0) >= 1 and
                 p.get("/readyz").status_code == 200, timeout=30, what="a poll, discovery")
        return p.get("/metrics").text
    finally:
        if p:
            p.stop()
        kube.stop()
        helm.stop()


@pytest.fixture
def scrapes(kafka, make_gateway, make_kargo, tmp_path):  # noqa: F811
    """{binary: /metrics text} once every lazily created series exists."""
    dead = _closed_port()
    gw = make_gateway(kafka.bootstrap, config=GATEWAY_CONFIG.format(
        brokers=kafka.bootstrap, spool=tmp_path / "spool", dead_port=dead))
    kargo = make_kargo()
    fake = FakeImageUpdater("--secret", IU_SECRET)
    d = tmp_path / "iu"
    d.mkdir()
    k8s_dir = tmp_path / "k8s"
    k8s_dir.mkdir()
    chart_url = f"http://127.0.0.1:{dead}/charts"
    k8s = FakeKube(k8s_dir, [_app("follows-main", "main"), _app("follows-dev", "dev"),
                             _gitrepo("main", "main"), _gitrepo("dev", "dev"),
                             _warehouse(chart_url)])
    kc = k8s_dir / "kubeconfig"
    write_kubeconfig(kc, k8s.url)
    started = []
    try:
        iu = ImageUpdaterConsumer(d, kafka.bootstrap, fake.base + "/webhook")
        started.append(iu)
        for binary in ("hookbus-argocd", "hookbus-flux"):
            started.append(_kube_consumer(k8s_dir, binary, kafka.bootstrap, kc))
        argocd, flux = started[1], started[2]
        creds = poller_scrape(kafka, tmp_path)  # creates the state topic on the mock
        poller = ConsumerProc(k8s_dir, "hookbus-poller", json.dumps({
            "kafka": {"brokers": kafka.bootstrap}, "admin_listen": "127.0.0.1:0",
            "kube": {"kubeconfig": str(kc), "resync_interval": "0"},
            "poller": {"interval": "1s", "sources": [], "discover": {"kargo": True}}}),
            name="poller", wait_joined=False)
        started.append(poller)
        # A push (202: published, bytes; kargo refreshes and skips) and a 401.
        r = github_post(gw, "push", push_body())
        assert r.status_code == 202, r.text
        r = github_post(gw, "push", push_body(), secret="wrong-" + GITHUB_SECRET)
        assert r.status_code == 401
        wait_for(lambda: kargo.metric("hookbus_kargo_skips_total"), timeout=30,
                 what="hookbus-kargo to act and skip")
        for c in (argocd, flux):
            for m in ("refreshes_total", "skips_total"):
                name = f"hookbus_{c.name.split('-', 1)[1]}_{m}"
                wait_for(lambda: c.metric(name), timeout=30, what=f"{c.name}: {name}")
        wait_for(lambda: poller.metrics().get('hookbus_poller_errors_total{reason="error"}'), timeout=30,
                 what="hookbus-poller to poll the discovered chart repository and fail")
        wait_for(lambda: "hookbus_otlp_spans_dropped_total{reason=\"export_failed\"} 0" not in
                 requests.get(gw.url("/metrics"), timeout=5).text, timeout=30,
                 what="the gateway's failed span export to be counted")
        yield {
            "hookbus-poller (credentials)": creds,
            "hookbus-gateway": requests.get(gw.url("/metrics"), timeout=5).text,
            "hookbus-kargo": requests.get(f"http://127.0.0.1:{kargo.port}/metrics",
                                          timeout=5).text,
            "hookbus-image-updater": requests.get(f"http://127.0.0.1:{iu.admin}/metrics",
                                                  timeout=5).text,
            "hookbus-argocd": requests.get(f"http://127.0.0.1:{argocd.port}/metrics",
                                           timeout=5).text,
            "hookbus-flux": requests.get(f"http://127.0.0.1:{flux.port}/metrics",
                                         timeout=5).text,
            "hookbus-poller": poller.get("/metrics").text,
        }
    finally:
        for c in reversed(started):
            c.stop()
        fake.stop()
        k8s.stop()


def test_metrics_follow_conventions_and_everything_queried_exists(scrapes):
    names = set()
    for binary, text in scrapes.items():
        rc, out = promtool_check_metrics(text)
        assert rc == 0 and not out.strip(), f"{binary}: promtool check metrics:\n{out}"
        names |= scraped_names(text)
    for name in names:  # base units, counters end in _total
        assert not re.search(r"_(ms|milliseconds|minutes|kb|mb)(_|$)", name), name
    d = dashboard()
    for title, expr in dashboard_exprs(d):
        missing = metric_names(expr) - names
        assert not missing, f"dashboard panel {title!r} queries {missing}, not in /metrics"
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            m = re.match(r"label_values\((\w+),", v["query"]["query"])
            assert m and m.group(1) in names, v
    for rule, expr in rule_exprs():
        missing = metric_names(expr) - names
        assert not missing, f"rule {rule} queries {missing}, not in /metrics"
        for pattern in re.findall(r'__name__=~"([^"]+)"', expr):
            assert any(re.fullmatch(pattern, n) for n in names), (rule, pattern)


def test_readme_lists_exactly_the_exposed_metrics(scrapes):
    families = set()
    for text in scrapes.values():
        families |= {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Observability", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(hookbus_[a-z0-9_]+)` \| (counter|gauge|histogram) \|", section,
                      re.M)
    listed = {n for n, _ in rows}
    assert len(listed) == len(rows), "a metric listed twice"
    assert listed == families, (f"missing from the README: {sorted(families - listed)}; "
                                f"not exposed: {sorted(listed - families)}")
    kinds = {}
    for text in scrapes.values():
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, n, k = line.split()
                kinds[n] = k
    for n, k in rows:
        assert kinds[n] == k, f"README says {n} is a {k}, /metrics says {kinds[n]}"
