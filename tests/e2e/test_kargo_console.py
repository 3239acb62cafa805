"""hookbus-kargo in the consumer console: for each event, /api/v1/events shows
which Warehouses it refreshed and which it skipped, with the skip metric's reasons;
/api/v1/warehouses lists the cache."""
import requests

from conftest import github_post, wait_for
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
