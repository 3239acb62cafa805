"""hookbus-poller against real servers: Git over smart HTTP (with basic
credentials), over git daemon and over ssh (sshd, a pinned host key), Debian's docker-registry fed by skopeo, a
Helm repository directory, and a 429-answering proxy. A new tag, a moved
branch and a new chart version each become exactly one event; the first sight
of a source and a restart emit nothing; a change made while the poller was
down is published once after the restart."""
import json
import subprocess
from datetime import datetime

import pytest
import jsonschema

from conftest import BIN, ROOT, headers_of, wait_for
from consumers import ConsumerProc, kafka, make_attrs, produce  # noqa: F401 (fixture)
from poller_peers import (GitDaemon, GitHttpServer, GitRepo, HelmRepo, Registry,
                          SilentServer, TooManyRequests)

GIT, IMAGE = "hookbus.git", "hookbus.image"


def config(kafka, sources, interval="1s", webhook_interval="30m", **poller):
    return json.dumps({
        "kafka": {"brokers": kafka.bootstrap},
        "admin_listen": "127.0.0.1:0",
        "poller": {"interval": interval, "webhook_interval": webhook_interval,
                   "sources": sources, **poller},
    })


def start(tmp_path, kafka, sources, name="poller", env=None, **kw):
    # The mock cluster has no controller to create topics with: the state
    # topic is made here (a real cluster gets it from the poller, compacted).
    if not kafka.real:  # Apache Kafka: the poller creates it (compacted)
        kafka.command("topic hookbus.poller.state 1")
    e = {"HOOKBUS_LOG_LEVEL": "debug", "GIT_PASSWORD": "s3cret"}
    e.update(env or {})
    return ConsumerProc(tmp_path, "hookbus-poller", config(kafka, sources, **kw), name=name,
                        env=e)


def polls(p, key, n):
    """Waits until source `key` has been polled n times in this run."""
    wait_for(lambda: sum(1 for r in p.lines() if r.get("msg") == "polled" and
                         r.get("source") == key and r.get("failures") == 0) >= n,
             timeout=30, what=f"{n} polls of {key}")


def events(kafka, topic):
    """Every event of topic: (attrs, data)."""
    out = []
    for m in kafka.read_all(topic, settle=0.3):
        h = headers_of(m)
        attrs = {k[3:]: v for k, v in h.items() if k.startswith("ce_")}
        out.append((attrs, json.loads(m.value())))
    return out


def validate(attrs, data):
    schema = json.loads((ROOT / "schemas" / f"{attrs['type']}.schema.json").read_text())
    jsonschema.validate(data, schema)


@pytest.mark.real_kafka  # also on Apache Kafka (--kafka=both): the poller creates its state topic
def test_git_http_and_daemon(tmp_path, kafka):
    root = tmp_path / "repos"
    root.mkdir()
    repo = GitRepo(root)
    repo.push_tag("v0.1.0")
    web = GitHttpServer(root, user="bot", password="s3cret")
    daemon = GitDaemon(root, tmp_path / "daemon.log")
    http_url = f"http://127.0.0.1:{web.port}/app.git"
    git_url = f"git://127.0.0.1:{daemon.port}/app.git"
    key_http = f"git:127.0.0.1:{web.port}/app"
    key_daemon = f"git:127.0.0.1:{daemon.port}/app"
    p = start(tmp_path, kafka, [
        {"git": http_url, "credentials": {"username": "bot", "password": "env:GIT_PASSWORD"}},
        {"git": git_url}])
    try:
        # First sight: state only, no event.
        polls(p, key_http, 2)
        polls(p, key_daemon, 2)
        assert events(kafka, GIT) == []
        assert any(a for _, _, a in web.requests), "the credentials were sent"

        sha = repo.push_commit("second")
        tag_sha = repo.push_tag("v1.0.0")  # annotated: published as its commit
        got = wait_for(lambda: (lambda e: e if len(e) >= 4 else None)(events(kafka, GIT)),
                       timeout=30, what="4 git events")
        n = len([r for r in p.lines() if r.get("msg") == "polled"])
        polls(p, key_http, 1 + sum(1 for r in p.lines() if r.get("msg") == "polled" and
                                    r.get("source") == key_http))
        polls(p, key_daemon, 1 + sum(1 for r in p.lines() if r.get("msg") == "polled" and
                                      r.get("source") == key_daemon))
        assert n < len([r for r in p.lines() if r.get("msg") == "polled"])
        got = events(kafka, GIT)
        assert len(got) == 4, got  # exactly one push and one tag per source
        for port in (web.port, daemon.port):
            repo_id = f"127.0.0.1:{port}/app"
            mine = {a["type"]: (a, d) for a, d in got if a["repo"] == repo_id}
            push_a, push_d = mine["dev.hookbus.git.push"]
            tag_a, tag_d = mine["dev.hookbus.git.tag"]
            assert push_a["ref"] == "refs/heads/main" and push_a["commit"] == sha
            assert push_a["source"] == "/pollers/poller" and push_a["provider"] == "poller"
            assert push_a["subject"] == f"{repo_id}@refs/heads/main"
            assert push_d["branch"] == "main" and push_d["deleted"] is False
            assert push_d["before"] and push_d["before"] != sha
            assert tag_a["tag"] == "v1.0.0" and tag_a["commit"] == tag_sha
            assert tag_a["ref"] == "refs/tags/v1.0.0"
            assert len(push_a["id"]) == 32 and push_a["id"] != tag_a["id"]
            validate(push_a, push_d)
            validate(tag_a, tag_d)
        m = p.metrics()
        assert m["hookbus_poller_changes_total"] == 4

        # A restart reads the state: nothing again. A change made while it is
        # down is published once.
        first = {a["id"] for a, _ in got}
        p.stop()
        sha2 = repo.push_commit("while down", branch="feature")
        p.start(wait_joined=False)  # the mock takes a while to rebalance
        polls(p, key_http, 2)
        polls(p, key_daemon, 2)
        got = events(kafka, GIT)
        assert len(got) == 6, got
        new = [(a, d) for a, d in got if a["id"] not in first]  # partitions interleave
        assert {a["ref"] for a, _ in new} == {"refs/heads/feature"}
        assert all(a["commit"] == sha2 and "before" not in d for a, d in new)
        assert "hookbus_poller_changes_total" in p.metrics()
    finally:
        p.stop()
        web.stop()
        daemon.stop()


@pytest.mark.real_kafka
def test_git_timeout_keeps_the_others_polling(tmp_path, kafka):
    """Servers that accept the connection and never answer (smart HTTP and
    git://) fail their polls at git_timeout, while a healthy source in the
    same poller keeps its schedule and publishes its change."""
    root = tmp_path / "repos"
    root.mkdir()
    repo = GitRepo(root)
    daemon = GitDaemon(root, tmp_path / "daemon.log")
    silent_http, silent_git = SilentServer(), SilentServer()
    good_key = f"git:127.0.0.1:{daemon.port}/app"
    hung = {f"git:127.0.0.1:{silent_http.port}/hung", f"git:127.0.0.1:{silent_git.port}/hung"}
    p = start(tmp_path, kafka, [
        {"git": f"http://127.0.0.1:{silent_http.port}/hung.git"},
        {"git": f"git://127.0.0.1:{silent_git.port}/hung.git"},
        {"git": f"git://127.0.0.1:{daemon.port}/app.git"}], git_timeout="3s")
    try:
        polls(p, good_key, 2)
        sha = repo.push_commit("while two servers hang")
        got = wait_for(lambda: events(kafka, GIT), timeout=30, what="the healthy source's event")
        assert [(a["ref"], a["commit"]) for a, _ in got] == [("refs/heads/main", sha)]
        # Each hung source failed by its deadline, as a timeout, more than once.
        wait_for(lambda: {r["source"] for r in p.lines() if r.get("msg") == "poll failed" and
                          r.get("failures", 0) >= 2} >= hung, timeout=30,
                 what="two timed-out polls of each hung source")
        failed = [r for r in p.lines() if r.get("msg") == "poll failed"]
        assert {r["source"] for r in failed} == hung
        assert all(r["reason"] == "timeout" and "git_timeout" in r["error"] for r in failed)
        assert silent_http.conns and silent_git.conns  # they were reached
        m = p.metrics()
        assert m['hookbus_poller_errors_total{reason="timeout"}'] >= 4
        assert m['hookbus_poller_errors_total{reason="error"}'] == 0
        # The healthy source kept its 1 s schedule (+-10 %) meanwhile: the hung
        # listings (3 s each) run beside the poll loop, not in it.
        times = [datetime.fromisoformat(r["time"].replace("Z", "+00:00")) for r in p.lines()
                 if r.get("msg") == "polled" and r.get("source") == good_key]
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
        assert len(gaps) >= 4 and max(gaps) < 2.0, gaps
    finally:
        p.stop()
        daemon.stop()
        silent_http.stop()
        silent_git.stop()


def test_registry_tags_and_digests(tmp_path, kafka):
    reg = Registry(tmp_path)
    try:
        d1 = reg.push(tmp_path, "acme/app", "1.0", "one")
        key = f"image:{reg.host}/acme/app"
        p = start(tmp_path, kafka, [{"image": f"{reg.host}/acme/app", "plain_http": True}])
        try:
            polls(p, key, 2)
            assert events(kafka, IMAGE) == []
            d2 = reg.push(tmp_path, "acme/app", "1.1", "two")      # a new tag
            d3 = reg.push(tmp_path, "acme/app", "1.0", "three")    # a moved tag
            assert len({d1, d2, d3}) == 3
            got = wait_for(lambda: (lambda e: e if len(e) >= 2 else None)(events(kafka, IMAGE)),
                           timeout=30, what="2 image events")
            before = sum(1 for r in p.lines() if r.get("msg") == "polled")
            polls(p, key, before + 1)
            got = events(kafka, IMAGE)
            assert sorted((a["tag"], a["digest"]) for a, _ in got) == [("1.0", d3), ("1.1", d2)]
            for a, d in got:
                assert a["type"] == "dev.hookbus.image.push"
                assert a["repo"] == f"{reg.host}/acme/app"
                assert d["registry"] == reg.host and d["image"] == "acme/app"
                validate(a, d)
        finally:
            p.stop()
    finally:
        reg.stop()


def test_oci_helm_chart_is_a_chart_push(tmp_path, kafka):
    """A Helm chart pushed to an OCI registry (config media type
    application/vnd.cncf.helm.config.v1+json) is published as chart.push; an
    image pushed to the same registry stays image.push."""
    reg = Registry(tmp_path)
    try:
        reg.push(tmp_path, "acme/charts/app", "1.0.0", "1.0.0", chart=True)
        reg.push(tmp_path, "acme/app", "1.0", "one")
        chart_key, image_key = f"image:{reg.host}/acme/charts/app", f"image:{reg.host}/acme/app"
        p = start(tmp_path, kafka, [
            {"image": f"{reg.host}/acme/charts/app", "plain_http": True},
            {"image": f"{reg.host}/acme/app", "plain_http": True}])
        try:
            polls(p, chart_key, 2)
            polls(p, image_key, 2)
            d_chart = reg.push(tmp_path, "acme/charts/app", "1.1.0", "1.1.0", chart=True)
            d_image = reg.push(tmp_path, "acme/app", "1.1", "two")
            got = wait_for(lambda: (lambda e: e if len(e) >= 2 else None)(events(kafka, IMAGE)),
                           timeout=30, what="two events")
            by_repo = {a["repo"]: (a, d) for a, d in got}
            ca, cd = by_repo[f"{reg.host}/acme/charts/app"]
            ia, _ = by_repo[f"{reg.host}/acme/app"]
            assert ca["type"] == "dev.hookbus.chart.push", ca
            assert ca["tag"] == "1.1.0" and ca["digest"] == d_chart
            assert ia["type"] == "dev.hookbus.image.push" and ia["digest"] == d_image
            validate(ca, cd)
            assert len(events(kafka, IMAGE)) == 2
        finally:
            p.stop()
    finally:
        reg.stop()


def test_tag_filter(tmp_path, kafka):
    """`tags:` limits the git tags, image tags and chart versions published and
    tracked; branches are not filtered."""
    root = tmp_path / "repos"
    root.mkdir()
    repo = GitRepo(root)
    daemon = GitDaemon(root, tmp_path / "daemon.log")
    reg = Registry(tmp_path)
    helm = HelmRepo(tmp_path / "helm")
    p = None
    try:
        repo.push_tag("v0.1.0")
        repo.push_tag("nightly-1", annotated=False)
        reg.push(tmp_path, "acme/app", "1.0", "one")
        reg.push(tmp_path, "acme/app", "dev", "dev")
        helm.write_index(["1.0.0", "2.0.0"])
        keys = {"git": f"git:127.0.0.1:{daemon.port}/app", "image": f"image:{reg.host}/acme/app",
                "chart": f"chart:127.0.0.1:{helm.port}/charts/app"}
        p = start(tmp_path, kafka, [
            {"git": f"git://127.0.0.1:{daemon.port}/app.git", "tags": r"^v\d+\.\d+\.\d+$"},
            {"image": f"{reg.host}/acme/app", "plain_http": True, "tags": r"^1\."},
            {"chart": helm.url, "name": "app", "tags": r"^2\."}])
        for k in keys.values():
            polls(p, k, 2)
        # Tracked: main + v0.1.0; 1.0; 2.0.0 (the others are not in the state).
        first = {r["source"]: r["items"] for r in p.lines() if r.get("msg") == "source first seen"}
        assert first == {keys["git"]: 2, keys["image"]: 1, keys["chart"]: 1}, first
        sha = repo.push_commit("branches are not filtered")
        tag_sha = repo.push_tag("v1.0.0")
        repo.push_tag("nightly-2", annotated=False)
        d = reg.push(tmp_path, "acme/app", "1.1", "two")
        reg.push(tmp_path, "acme/app", "dev2", "dev2")
        helm.write_index(["1.0.0", "2.0.0", "2.1.0", "3.0.0"])
        want_git = {("dev.hookbus.git.push", "refs/heads/main", sha),
                    ("dev.hookbus.git.tag", "refs/tags/v1.0.0", tag_sha)}
        want_image = {("dev.hookbus.image.push", "1.1"), ("dev.hookbus.chart.push", "2.1.0")}
        wait_for(lambda: {(a["type"], a["ref"], a["commit"]) for a, _ in events(kafka, GIT)}
                 == want_git and {(a["type"], a["tag"]) for a, _ in events(kafka, IMAGE)}
                 == want_image, timeout=30, what="the filtered events")
        # Two more polls each: nothing else comes.
        for k in keys.values():
            n = sum(1 for r in p.lines() if r.get("msg") == "polled" and r.get("source") == k)
            polls(p, k, n + 2)
        assert len(events(kafka, GIT)) == 2 and len(events(kafka, IMAGE)) == 2
        assert [a["digest"] for a, _ in events(kafka, IMAGE) if a["tag"] == "1.1"] == [d]
    finally:
        if p:
            p.stop()
        daemon.stop()
        reg.stop()
        helm.stop()


def test_registry_429_is_waited_for(tmp_path, kafka):
    reg = Registry(tmp_path)
    proxy = None
    try:
        reg.push(tmp_path, "acme/app", "1.0", "one")
        proxy = TooManyRequests(reg.port, count=2, retry_after=1)
        host = f"127.0.0.1:{proxy.port}"
        key = f"image:{host}/acme/app"
        p = start(tmp_path, kafka, [{"image": f"{host}/acme/app", "plain_http": True}])
        try:
            polls(p, key, 1)
            assert proxy.served_429 == 2
            waits = p.metrics()[f'hookbus_poller_rate_limit_waits_total{{host="{host}"}}']
            assert waits >= 2
            limited = [r for r in p.lines() if r.get("msg") == "rate limited"]
            assert limited and limited[0]["retry_after_ms"] == 1000
            assert p.metrics()['hookbus_poller_errors_total{reason="error"}'] == 0  # waited, not failed
            d = reg.push(tmp_path, "acme/app", "2.0", "two")
            got = wait_for(lambda: events(kafka, IMAGE), timeout=30, what="the image event")
            assert [(a["tag"], a["digest"]) for a, _ in got] == [("2.0", d)]
        finally:
            p.stop()
    finally:
        if proxy:
            proxy.stop()
        reg.stop()


def test_host_budget(tmp_path, kafka):
    """30 requests a minute to one host: a burst of 30, then one every 2 s,
    however short the interval."""
    reg = Registry(tmp_path)
    proxy = None
    try:
        reg.push(tmp_path, "acme/app", "1.0", "one")
        proxy = TooManyRequests(reg.port, count=0)  # counts, never limits
        host = f"127.0.0.1:{proxy.port}"
        cfg = json.loads(config(kafka, [{"image": f"{host}/acme/app", "plain_http": True}],
                                interval="100ms"))
        cfg["poller"]["host_requests_per_minute"] = 30
        if not kafka.real:  # Apache Kafka: the poller creates it (compacted)
            kafka.command("topic hookbus.poller.state 1")
        p = ConsumerProc(tmp_path, "hookbus-poller", json.dumps(cfg), name="poller",
                         env={"HOOKBUS_LOG_LEVEL": "debug"})
        try:
            series = f'hookbus_poller_rate_limit_waits_total{{host="{host}"}}'
            wait_for(lambda: p.metrics().get(series, 0) >= 3, timeout=30,
                     what="waits for the host's budget")
            start = proxy.requests[0]
            span = proxy.requests[-1] - start
            # the burst, then 0.5 a second (and the one in flight)
            assert len(proxy.requests) <= 30 + span * 0.5 + 1, (len(proxy.requests), span)
            assert len(proxy.requests) >= 30
            assert p.metrics()['hookbus_poller_errors_total{reason="error"}'] == 0
        finally:
            p.stop()
    finally:
        if proxy:
            proxy.stop()
        reg.stop()


def test_registry_token_flow(tmp_path, kafka):
    from poller_peers import TokenAuth
    reg = Registry(tmp_path)
    auth = None
    try:
        reg.push(tmp_path, "acme/app", "1.0", "one")
        reg.push(tmp_path, "acme/app", "1.1", "two")
        auth = TokenAuth(reg.port, "bot", "s3cret")
        host = f"127.0.0.1:{auth.port}"
        key = f"image:{host}/acme/app"
        p = start(tmp_path, kafka, [{"image": f"{host}/acme/app", "plain_http": True,
                                     "credentials": {"username": "bot",
                                                     "password": "env:GIT_PASSWORD"}}])
        try:
            polls(p, key, 2)
            first = [r for r in p.lines() if r.get("msg") == "source first seen"]
            assert first and first[0]["items"] == 2
            # One token for the lists and HEADs of both polls: it is kept.
            assert len(auth.token_requests) == 1, auth.token_requests
            path, basic = auth.token_requests[0]
            assert "service=test-registry" in path
            assert "scope=repository%3Aacme%2Fapp%3Apull" in path
            assert basic.startswith("Basic ")
            d = reg.push(tmp_path, "acme/app", "2.0", "three")
            got = wait_for(lambda: events(kafka, IMAGE), timeout=30, what="the image event")
            assert [(a["tag"], a["digest"]) for a, _ in got] == [("2.0", d)]
            assert "s3cret" not in p.log_path.read_text()
        finally:
            p.stop()
    finally:
        if auth:
            auth.stop()
        reg.stop()


def test_helm_new_version(tmp_path, kafka):
    helm = HelmRepo(tmp_path / "helm")
    helm.write_index(["1.0.0"])
    key = f"chart:127.0.0.1:{helm.port}/charts/app"
    p = start(tmp_path, kafka, [{"chart": helm.url, "name": "app"}])
    try:
        polls(p, key, 2)
        assert events(kafka, IMAGE) == []
        helm.write_index(["1.0.0", "1.1.0"])
        got = wait_for(lambda: events(kafka, IMAGE), timeout=30, what="the chart event")
        before = sum(1 for r in p.lines() if r.get("msg") == "polled")
        polls(p, key, before + 1)
        got = events(kafka, IMAGE)
        assert len(got) == 1, got
        a, d = got[0]
        assert a["type"] == "dev.hookbus.chart.push" and a["tag"] == "1.1.0"
        assert a["repo"] == f"127.0.0.1:{helm.port}/charts/app"
        assert d["kind"] == "chart"
        validate(a, d)
    finally:
        p.stop()
        helm.stop()


def test_webhook_stretches_the_interval(tmp_path, kafka):
    helm = HelmRepo(tmp_path / "helm")
    helm.write_index(["1.0.0"])
    repo = f"127.0.0.1:{helm.port}/charts/app"
    key = f"chart:{repo}"
    p = start(tmp_path, kafka, [{"chart": helm.url, "name": "app"}], interval="1s",
              webhook_interval="1h")
    try:
        polls(p, key, 1)
        assert all(r["next_ms"] < 2000 for r in p.lines()
                   if r.get("msg") == "polled" and r.get("source") == key)
        produce(kafka.bootstrap, IMAGE, [(make_attrs("wh-1", type="dev.hookbus.chart.push",
                                                     repo=repo, tag="1.0.0"), {})])
        wait_for(lambda: any(r.get("msg") == "polled" and r.get("source") == key and
                             r["next_ms"] > 3000000 for r in p.lines()),
                 timeout=30, what="a poll scheduled at webhook_interval")
    finally:
        p.stop()
        helm.stop()


SRC = [{"image": "ghcr.io/acme/app"}]


@pytest.mark.parametrize("cfg, message", [
    ({"poller": {"sources": SRC, "discover": {"image_updater": "yes please"}}},
     "poller.discover.image_updater: 'yes please' must be true or false"),
    ({"poller": {"sources": SRC}, "kube": {"namespaces": ["a"]}},
     "kube: only read with poller.discover.kargo, image_updater or image_updater_annotations"),
    ({"poller": {"sources": SRC, "discover": {"kargo": True}}, "kube": {"bogus": 1}},
     "unknown key 'kube.bogus'"),
    ({"poller": {"sources": [{"git": "https://x/a.git", "image": "ghcr.io/a/b"}]}},
     "exactly one of"),
    ({"poller": {"sources": [{"chart": "https://charts.example.com"}]}}, "name: required"),
    ({"poller": {"sources": [{"git": "git@github.com:a/b.git",
                              "credentials": {"ssh_key_file": "/k"}}]}},
     "ssh_host_key_sha256: required"),
    ({"poller": {"sources": SRC, "bogus": 1}}, "unknown key 'poller.bogus'"),
])
def test_check_config(tmp_path, cfg, message):
    ok = subprocess.run([str(BIN / "hookbus-poller"), "--config",
                         str(ROOT / "config" / "poller.yaml"), "--check-config"],
                        capture_output=True, text=True, env={"GIT_TOKEN": "t"})
    assert ok.returncode == 0, ok.stderr
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(cfg))
    bad = subprocess.run([str(BIN / "hookbus-poller"), "--config", str(path), "--check-config"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and message in bad.stderr + bad.stdout, bad.stderr


def start_discovering(tmp_path, kafka, kube, discover, **kube_cfg):
    """hookbus-poller with no configured source, discovering (poller.discover)
    in the fake cluster kube."""
    from kube_helpers import write_kubeconfig
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(kubeconfig, kube.url)
    if not kafka.real:  # Apache Kafka: the poller creates it (compacted)
        kafka.command("topic hookbus.poller.state 1")
    cfg = json.loads(config(kafka, []))
    cfg["poller"]["discover"] = discover
    cfg["kube"] = {"kubeconfig": str(kubeconfig), **kube_cfg}
    return ConsumerProc(tmp_path, "hookbus-poller", json.dumps(cfg), name="poller",
                        env={"HOOKBUS_LOG_LEVEL": "debug"})


def warehouse(name, *subs, ns="demo"):
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"subscriptions": list(subs)}}


def test_discovers_kargo_warehouses(tmp_path, kafka):
    from kube_helpers import FakeKube
    import requests
    root = tmp_path / "repos"
    root.mkdir()
    repo = GitRepo(root)
    web = GitHttpServer(root)
    helm = HelmRepo(tmp_path / "helm")
    helm.write_index(["1.0.0"])
    git_url = f"http://127.0.0.1:{web.port}/app.git"
    git_key = f"git:127.0.0.1:{web.port}/app"
    chart_key = f"chart:127.0.0.1:{helm.port}/charts/app"
    # Two Warehouses on one repository: it is polled once.
    kube = FakeKube(tmp_path, [warehouse("a", {"git": {"repoURL": git_url}}),
                               warehouse("b", {"git": {"repoURL": git_url + "/"}},
                                         {"image": {"repoURL": "not a repo ::"}})])
    p = start_discovering(tmp_path, kafka, kube, {"kargo": True}, resync_interval="0")
    try:
        polls(p, git_key, 2)
        assert [r["source"] for r in p.lines() if r.get("msg") == "source discovered"] == [git_key]
        # ready once the consumer joined its group too, which can come after the
        # first polls (slower under ASan)
        wait_for(lambda: p.get("/readyz").status_code == 200, timeout=30, what="/readyz 200")
        # A Warehouse added later: its chart repository is polled too.
        kube.post("/_fake/warehouses", warehouse(
            "c", {"chart": {"repoURL": helm.url, "name": "app"}}))
        polls(p, chart_key, 2)
        sha = repo.push_commit("found by discovery")
        helm.write_index(["1.0.0", "2.0.0"])
        got = wait_for(lambda: (lambda g, i: (g, i) if g and i else None)(
            events(kafka, GIT), events(kafka, IMAGE)), timeout=30, what="both events")
        (ga, _), = got[0]
        (ia, _), = got[1]
        assert ga["commit"] == sha and ga["ref"] == "refs/heads/main"
        assert ia["type"] == "dev.hookbus.chart.push" and ia["tag"] == "2.0.0"
        assert p.metrics()["hookbus_poller_sources"] == 2
        # Deleting one of the two Warehouses keeps the repository; deleting the
        # chart's drops it.
        requests.delete(kube.url + "/_fake/warehouses/demo/a", timeout=5)
        requests.delete(kube.url + "/_fake/warehouses/demo/c", timeout=5)
        p.wait_log("source dropped", source=chart_key)
        wait_for(lambda: p.metrics()["hookbus_poller_sources"] == 1, what="one source left")
        n = sum(1 for r in p.lines() if r.get("msg") == "polled" and r.get("source") == git_key)
        polls(p, git_key, n + 1)
        assert not any(r.get("msg") == "source dropped" and r.get("source") == git_key
                       for r in p.lines())
    finally:
        p.stop()
        kube.stop()
        web.stop()
        helm.stop()


def cred_secret(name, ns, cred_type, repo_url, user, password, regex=False):
    data = {"repoURL": repo_url, "username": user, "password": password}
    if regex:
        data["repoURLIsRegex"] = "true"
    return {"kind": "Secret", "metadata": {"name": name, "namespace": ns,
                                           "labels": {"kargo.akuity.io/cred-type": cred_type}},
            "stringData": data}


def test_discovered_sources_use_kargo_credentials(tmp_path, kafka):
    """Warehouses' Git repositories behind basic auth are polled with the
    credentials of Kargo's Secrets in their namespace: one by repoURL, one by
    a repoURLIsRegex pattern, one from a shared namespace
    (kargo_shared_namespaces); a repository whose project has no Secret for
    it (the Secret is in another project's namespace) is refused. No secret in the log or
    the metrics."""
    from kube_helpers import FakeKube
    root = tmp_path / "repos"
    root.mkdir()
    app, lib, common = GitRepo(root, name="app"), GitRepo(root, name="lib"), GitRepo(root, "common")
    GitRepo(root, name="private")
    password = "kargo-s3cret-pw"
    web = GitHttpServer(root, user="kargo", password=password)
    base = f"http://127.0.0.1:{web.port}"
    key = {n: f"git:127.0.0.1:{web.port}/{n}" for n in ("app", "lib", "common", "private")}
    kube = FakeKube(tmp_path, [
        warehouse("app", {"git": {"repoURL": f"{base}/app.git"}}, ns="demo"),
        warehouse("lib", {"git": {"repoURL": f"{base}/lib.git"}}, ns="team"),
        warehouse("private", {"git": {"repoURL": f"{base}/private.git"}}, ns="nocreds"),
        warehouse("common", {"git": {"repoURL": f"{base}/common.git"}}, ns="team2"),
        cred_secret("common", "kargo-shared", "git", f"{base}/common", "kargo", password),
        cred_secret("app-repo", "demo", "git", f"{base}/app.git", "kargo", password),
        cred_secret("wrong-type", "demo", "image", f"{base}/app.git", "kargo", "nope"),
        cred_secret("all-of-host", "team", "git", rf"^http://127\.0\.0\.1:{web.port}/.*",
                    "kargo", password, regex=True),
        # the right URL, but in a namespace no Warehouse of it is in
        cred_secret("elsewhere", "demo", "git", f"{base}/private.git", "kargo", password)])
    p = start_discovering(tmp_path, kafka, kube, {"kargo": True, "kargo_credentials": True,
                                                  "kargo_shared_namespaces": ["kargo-shared"]})
    try:
        for n in ("app", "lib", "common"):
            polls(p, key[n], 2)
        sha_app = app.push_commit("private app")
        sha_lib = lib.push_commit("private lib")
        sha_common = common.push_commit("private common")
        got = wait_for(lambda: (lambda e: e if len(e) >= 3 else None)(events(kafka, GIT)),
                       timeout=30, what="the private repositories' events")
        assert {(a["repo"], a["commit"]) for a, _ in got} == {
            (f"127.0.0.1:{web.port}/app", sha_app), (f"127.0.0.1:{web.port}/lib", sha_lib),
            (f"127.0.0.1:{web.port}/common", sha_common)}
        failed = p.wait_log("poll failed", source=key["private"])
        assert failed["reason"] == "error"
        assert not any(r.get("msg") == "polled" and r.get("source") == key["private"] and
                       r.get("failures") == 0 for r in p.lines())
        assert any(a for _, _, a in web.requests), "credentials were sent"
        found = {r["source"] for r in p.lines() if r.get("msg") == "credentials found"}
        assert found == {key["app"], key["lib"], key["common"]}
        assert p.metrics()['hookbus_poller_discovery_objects{resource="secrets"}'] == 5
        assert password not in p.log_path.read_text()
        assert password not in p.get("/metrics").text
    finally:
        p.stop()
        kube.stop()
        web.stop()


def test_git_over_ssh_with_a_pinned_host_key(tmp_path, kafka):
    from poller_peers import SshGitServer
    root = tmp_path / "repos"
    root.mkdir()
    repo = GitRepo(root)
    GitRepo(root, name="other")
    ssh = SshGitServer(tmp_path)
    key = f"git:127.0.0.1:{ssh.port}{root}/app".lower()
    wrong = "SHA256:" + "A" * 43
    # Under ASan: libgit2 1.5 leaks in its known_hosts check when a key is
    # refused (the file says why); nothing else is suppressed.
    supp = ROOT / "tests" / "e2e" / "lsan-libgit2-ssh.supp"
    lsan = {"LSAN_OPTIONS": f"suppressions={supp}:print_suppressions=0"}
    p = start(tmp_path, kafka, env=lsan, sources=[
        {"git": ssh.url(f"{root}/app.git"),
         "credentials": {"ssh_key_file": ssh.client_key, "ssh_host_key_sha256": ssh.fingerprint}},
        {"git": ssh.url(f"{root}/other.git"),
         "credentials": {"ssh_key_file": ssh.client_key, "ssh_host_key_sha256": wrong}}])
    try:
        polls(p, key, 2)
        sha = repo.push_commit("over ssh")
        got = wait_for(lambda: events(kafka, GIT), timeout=30, what="the ssh push event")
        assert [(a["ref"], a["commit"]) for a, _ in got] == [("refs/heads/main", sha)]
        # A host whose key is not the pinned one is refused, every time.
        failed = p.wait_log("poll failed")
        assert failed["source"].endswith("/other") and failed["failures"] >= 1
        assert "hostkey" in failed["error"]
        assert p.metrics()['hookbus_poller_errors_total{reason="error"}'] >= 1
    finally:
        p.stop()
        ssh.stop()


def test_discovers_image_updater_annotations(tmp_path, kafka):
    """Image Updater 0.x: the images of the argocd-image-updater.argoproj.io/
    image-list annotation of Argo CD Applications are polled; a changed
    annotation changes the sources."""
    from kube_helpers import FakeKube
    reg = Registry(tmp_path)
    kube = None
    try:
        reg.push(tmp_path, "acme/app", "1.0", "one")
        reg.push(tmp_path, "acme/web", "1.0", "web")

        def app(images):
            return {"kind": "Application", "metadata": {
                "name": "guestbook", "namespace": "argocd",
                "annotations": {"argocd-image-updater.argoproj.io/image-list": images}},
                "spec": {"project": "default"}}
        kube = FakeKube(tmp_path, [])
        kube.post("/_fake/objects", app(f"app={reg.host}/acme/app:~1.0, {reg.host}/acme/app"))
        kube.post("/_fake/objects", {"kind": "Application", "metadata": {
            "name": "plain", "namespace": "argocd"}, "spec": {"project": "default"}})
        p = start_discovering(tmp_path, kafka, kube, {"image_updater_annotations": True,
                                                      "plain_http_registries": [reg.host]})
        key, web_key = f"image:{reg.host}/acme/app", f"image:{reg.host}/acme/web"
        try:
            polls(p, key, 2)
            assert [r["source"] for r in p.lines() if r.get("msg") == "source discovered"] == [key]
            d = reg.push(tmp_path, "acme/app", "1.1", "two")
            got = wait_for(lambda: events(kafka, IMAGE), timeout=30, what="the image event")
            assert [(a["tag"], a["digest"]) for a, _ in got] == [("1.1", d)]
            assert p.metrics()['hookbus_poller_discovery_objects{resource="applications"}'] == 2
            # The annotation now names the web image only: app is dropped.
            kube.post("/_fake/objects", app(f"web={reg.host}/acme/web:1.x"))
            p.wait_log("source dropped", source=key)
            polls(p, web_key, 2)
        finally:
            p.stop()
    finally:
        if kube:
            kube.stop()
        reg.stop()


def test_discovers_image_updater_images(tmp_path, kafka):
    from kube_helpers import FakeKube
    reg = Registry(tmp_path)
    kube = None
    try:
        reg.push(tmp_path, "acme/app", "1.0", "one")
        iu = {"kind": "ImageUpdater", "metadata": {"name": "apps", "namespace": "argocd"},
              "spec": {"applicationRefs": [
                  {"namePattern": "app-*", "images": [
                      {"alias": "app", "imageName": f"{reg.host}/acme/app:~1.0"},
                      {"alias": "app2", "imageName": f"{reg.host}/acme/app"}]}]}}
        kube = FakeKube(tmp_path, [])
        kube.post("/_fake/objects", iu)
        p = start_discovering(tmp_path, kafka, kube,
                              {"image_updater": True, "plain_http_registries": [reg.host]})
        key = f"image:{reg.host}/acme/app"
        try:
            polls(p, key, 2)
            assert [r["source"] for r in p.lines() if r.get("msg") == "source discovered"] == [key]
            d = reg.push(tmp_path, "acme/app", "1.1", "two")
            got = wait_for(lambda: events(kafka, IMAGE), timeout=30, what="the image event")
            assert [(a["tag"], a["digest"]) for a, _ in got] == [("1.1", d)]
            assert p.metrics()['hookbus_poller_discovery_objects{resource="imageupdaters"}'] == 1
        finally:
            p.stop()
    finally:
        if kube:
            kube.stop()
        reg.stop()


def test_discovered_source_follows_warehouse_tag_rules(tmp_path, kafka):
    """A Warehouse's image subscription with allowTags (a regex) and ignoreTags
    (exact names): the discovered source tracks and publishes only the tags
    the Warehouse would consider."""
    from kube_helpers import FakeKube
    reg = Registry(tmp_path)
    kube = None
    try:
        reg.push(tmp_path, "acme/app", "1.0", "one")
        reg.push(tmp_path, "acme/app", "dev", "dev")
        kube = FakeKube(tmp_path, [warehouse("app", {"image": {
            "repoURL": f"{reg.host}/acme/app", "imageSelectionStrategy": "Lexical",
            "allowTags": r"^1\.", "ignoreTags": ["1.9"]}})])
        p = start_discovering(tmp_path, kafka, kube,
                              {"kargo": True, "plain_http_registries": [reg.host]})
        key = f"image:{reg.host}/acme/app"
        try:
            polls(p, key, 2)
            # Tracked: 1.0 only (dev is not allowed).
            first = [r["items"] for r in p.lines()
                     if r.get("msg") == "source first seen" and r.get("source") == key]
            assert first == [1], first
            reg.push(tmp_path, "acme/app", "2.0", "two")   # not allowed
            reg.push(tmp_path, "acme/app", "1.9", "nine")  # ignored
            d = reg.push(tmp_path, "acme/app", "1.1", "eleven")
            got = wait_for(lambda: events(kafka, IMAGE), timeout=30, what="the image event")
            n = sum(1 for r in p.lines() if r.get("msg") == "polled" and r.get("source") == key)
            polls(p, key, n + 2)  # two more polls: nothing else comes
            got = events(kafka, IMAGE)
            assert [(a["tag"], a["digest"]) for a, _ in got] == [("1.1", d)], got
        finally:
            p.stop()
    finally:
        if kube:
            kube.stop()
        reg.stop()
