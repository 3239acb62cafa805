"""hookbus-kargo and pull requests (issue 21), and burst folding (issue 23).

Pull requests: a signed GitHub `pull_request` webhook -> gateway -> Kafka ->
hookbus-kargo -> the refresh annotation on exactly the Promotions of
tests/tools/fake-kube that Kargo 1.11's own receivers would refresh: Running,
a `git-wait-for-pr` step reached (up to status.currentStep) whose output
names the pull request's URL (status.state[as].pr.url). Promotions not yet
at that step, finished ones, ones waiting on another pull request, and every
Warehouse are left alone. The Promotion's status is moved by a status
subresource patch, as Kargo's controller does (no new generation).

Folding: a burst of pushes for one repository inside one debounce window is
folded as it arrives (hookbus_consumer_folded_total), still makes one
refresh per Warehouse, and every offset is committed after it; a window that
fails for good dead-letters a record per folded message naming its topic,
partition and offset.
"""
import json

import pytest
import requests
from confluent_kafka import Consumer, TopicPartition

from conftest import PARTITIONS, fixture_bytes, github_post, wait_for
from consumers import DLQ, kafka, produce, read_topic  # noqa: F401  (kafka: topics + DLQ)
from kube_helpers import KUBE_TOKEN
from test_kargo import NS, WAREHOUSES, git, kube, make_kargo, push_body  # noqa: F401

pytestmark = pytest.mark.real_kafka

PR_URL = "https://github.com/Acme/App/pull/42"  # html_url of the fixture's pull request

STEPS = [
    {"uses": "git-clone", "config": {"repoURL": "https://github.com/acme/app.git"}},
    {"uses": "git-open-pr", "as": "open-pr",
     "config": {"repoURL": "https://github.com/acme/app.git"}},
    {"uses": "git-wait-for-pr", "as": "wait-for-pr",
     "config": {"repoURL": "https://github.com/acme/app.git",
                "prNumber": "${{ outputs['open-pr'].pr.id }}"}},
    {"uses": "argocd-update"},
]


def promotion(name, phase="Running", current=2, pr_url=PR_URL, ns=NS, steps=None):
    state = {"open-pr": {"pr": {"id": 42}}}
    if pr_url:
        state["wait-for-pr"] = {"pr": {"id": 42, "url": pr_url, "open": True, "merged": False}}
    return {"kind": "Promotion",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"stage": "prod", "freight": "abc123", "steps": steps or STEPS},
            "status": {"phase": phase, "currentStep": current, "state": state}}


PROMOTIONS = [
    promotion("waiting"),
    promotion("waiting-other-ns", ns="team-b"),
    promotion("not-yet-at-the-step", current=1),
    promotion("succeeded", phase="Succeeded"),
    promotion("other-pr", pr_url="https://github.com/Acme/App/pull/43"),
]


@pytest.fixture
def kube_promos(kube):
    for p in PROMOTIONS:
        kube.post("/_fake/objects", p)
    return kube


def pr_body(action="closed", merged=True):
    body = json.loads(fixture_bytes("github/pull-request-merged.json"))
    body["action"] = action
    body["pull_request"]["merged"] = merged
    return json.dumps(body).encode()


def refreshed_promotions(kube):
    return sorted(f"{p['namespace']}/{p['name']}" for p in kube.patches()
                  if p["resource"] == "promotions" and p["refresh"])


def test_merged_pull_request_refreshes_exactly_the_waiting_promotions(kube_promos, gateway,
                                                                      make_kargo):
    kube = kube_promos
    kargo = make_kargo()
    assert kargo.metric("hookbus_kargo_promotions") == len(PROMOTIONS)
    r = github_post(gateway, "pull_request", pr_body(), delivery="pr-merged-1")
    assert r.status_code == 202, r.text
    want = [f"{NS}/waiting", "team-b/waiting-other-ns"]
    wait_for(lambda: (kargo.metric("hookbus_consumer_acted_total") or 0) >= 1, timeout=30,
             what="the pull request event acted on")
    wait_for(lambda: refreshed_promotions(kube) == want, timeout=10,
             what=f"refreshes of {want}, have {refreshed_promotions(kube)}")
    patches = kube.patches()
    assert all(p["resource"] == "promotions" for p in patches), "no Warehouse for a PR event"
    for p in patches:  # Kargo's api.RefreshObject: a merge patch of the annotation alone
        assert p["body"] == {"metadata": {"annotations": {"kargo.akuity.io/refresh": p["refresh"]}}}
    assert kargo.metric("hookbus_kargo_promotion_refreshes_total") == 2
    note = [l for l in kargo.lines() if l.get("msg") == "pull request event matches promotions"]
    assert note and note[-1]["pull_request"] == PR_URL and note[-1]["matched"] == 2

    # An opened pull request wakes nothing: the step waits for merged or closed.
    r = github_post(gateway, "pull_request", fixture_bytes("github/pull-request-opened.json"),
                    delivery="pr-opened-1")
    assert r.status_code == 202, r.text
    wait_for(lambda: (kargo.metric("hookbus_consumer_acted_total") or 0) >= 2, timeout=30,
             what="the opened event acted on")
    assert kargo.metric_line('hookbus_kargo_promotion_skips_total{reason="pr_open"}') == 1
    assert len(kube.patches()) == 2


def test_a_promotion_reaching_the_step_later_is_seen_from_its_status(kube_promos, gateway,
                                                                    make_kargo):
    kube = kube_promos
    kargo = make_kargo()
    # The controller moves "not-yet-at-the-step" on: a status patch, same generation.
    item = f"{kube.url}/apis/kargo.akuity.io/v1alpha1/namespaces/{NS}/promotions/" \
        "not-yet-at-the-step"
    auth = {"Authorization": "Bearer " + KUBE_TOKEN}
    before = requests.get(item, headers=auth, timeout=5).json()
    r = requests.patch(item + "/status", json={"status": {"currentStep": 2}},
                       headers={**auth, "Content-Type": "application/merge-patch+json"},
                       timeout=5)
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["status"]["currentStep"] == 2
    # "waiting" finishes meanwhile: it leaves the index
    kube.post("/_fake/objects", promotion("waiting", phase="Succeeded"))
    wait_for(lambda: any(l.get("msg") == "object updated" and l.get("name") == "not-yet-at-the-step"
                         and l.get("resource_version") == after["metadata"]["resourceVersion"]
                         for l in kargo.lines()),
             timeout=15, what="the status change in hookbus-kargo's view")
    wait_for(lambda: any(l.get("msg") == "object updated" and l.get("name") == "waiting"
                         and l.get("keys") == 0 for l in kargo.lines()),
             timeout=15, what="the finished Promotion out of the index")
    r = github_post(gateway, "pull_request", pr_body(), delivery="pr-merged-2")
    assert r.status_code == 202, r.text
    want = [f"{NS}/not-yet-at-the-step", "team-b/waiting-other-ns"]
    wait_for(lambda: refreshed_promotions(kube) == want, timeout=30,
             what=f"refreshes of {want}, have {refreshed_promotions(kube)}")


def test_promotions_off_watches_and_refreshes_none(kube_promos, gateway, make_kargo):
    kube = kube_promos
    kargo = make_kargo(extra="  promotions: false\n")
    assert kargo.metric("hookbus_kargo_promotions") is None
    r = github_post(gateway, "pull_request", pr_body(), delivery="pr-merged-3")
    assert r.status_code == 202, r.text
    wait_for(lambda: (kargo.metric("hookbus_consumer_acted_total") or 0) >= 1, timeout=30,
             what="the pull request event acted on")
    assert kube.patches() == []


def committed(bootstrap, group, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        parts = c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
        return sum(max(p.offset, 0) for p in parts)
    finally:
        c.close()


def push_event(i):
    attrs = {"specversion": "1.0", "id": f"burst-{i}", "source": "/e2e",
             "type": "dev.hookbus.git.push", "repo": "github.com/acme/app",
             "ref": "refs/heads/main", "subject": "github.com/acme/app@refs/heads/main",
             "datacontenttype": "application/json", "partitionkey": "github.com/acme/app"}
    data = {"repository": {"id": "github.com/acme/app"}, "ref": "refs/heads/main",
            "commit": f"{i:040x}", "changed_paths": ["charts/app/values.yaml", f"src/{i}.c"]}
    return attrs, data


MAIN_WAREHOUSES = sorted(f"{ns}/{n}" for ns, n in [
    (NS, "main-https"), (NS, "main-scp"), ("team-b", "main-ssh-other-ns"),
    (NS, "paths-charts"), (NS, "bad-regex")])


def test_a_folded_burst_makes_one_refresh_and_commits_every_offset(kafka, kube, make_kargo):
    n = 1000
    # The whole burst is in Kafka before hookbus-kargo starts, so it is read in
    # one go after the assignment: a window opens at its first event and closes
    # a fixed time later, and a burst still being produced when it closed (a
    # starved CI machine) would rightly make a second action.
    produce(kafka.bootstrap, "hookbus.git", [push_event(i) for i in range(n)])
    kargo = make_kargo(debounce="5s")
    wait_for(lambda: (kargo.metric("hookbus_consumer_acted_total") or 0) >= n, timeout=60,
             what=f"{n} events acted on")
    assert kargo.metric("hookbus_consumer_folded_total") == n  # none held whole
    assert kargo.metric("hookbus_consumer_actions_total") == 1
    assert sorted(kube.refreshed()) == MAIN_WAREHOUSES  # each once
    wait_for(lambda: committed(kafka.bootstrap, "e2e-kargo", "hookbus.git") == n, timeout=30,
             what=f"all {n} offsets committed")
    # every event's decision is still on the console
    events = requests.get(f"http://127.0.0.1:{kargo.port}/api/v1/events?limit=5",
                          timeout=5).json()
    items = events["events"] if isinstance(events, dict) else events
    assert items and all(e.get("detail", "").startswith("refresh ") for e in items), items


def test_a_folded_window_given_up_dead_letters_records_naming_its_messages(kafka, kube,
                                                                          make_kargo):
    n = 20
    kargo = make_kargo(debounce="2s", extra=f"dead_letter_topic: {DLQ}\n")
    kube.post("/_fake/fail", {"codes": [403]})  # RBAC: a permanent failure
    events = [push_event(i) for i in range(n)]
    for attrs, data in events:
        attrs["repo"] = attrs["partitionkey"] = "github.com/acme/other"
    produce(kafka.bootstrap, "hookbus.git", events)
    wait_for(lambda: (kargo.metric("hookbus_consumer_dead_lettered_total") or 0) >= n,
             timeout=60, what=f"{n} dead letters")
    assert kargo.metric("hookbus_consumer_folded_total") == n
    msgs = read_topic(kafka.bootstrap, DLQ, n)
    assert len(msgs) == n
    seen = set()
    for m in msgs:
        h = {k: v.decode() for k, v in m.headers()}
        assert not m.value() and m.key() == b"github.com/acme/other"
        assert h["hookbus_source_topic"] == "hookbus.git" and "403" in h["hookbus_error"]
        seen.add((int(h["hookbus_source_partition"]), int(h["hookbus_source_offset"]),
                  h["hookbus_event_id"]))
    assert {e for _, _, e in seen} == {f"burst-{i}" for i in range(n)}
    assert len({(p, o) for p, o, _ in seen}) == n
    wait_for(lambda: committed(kafka.bootstrap, "e2e-kargo", "hookbus.git") == n, timeout=30,
             what=f"all {n} offsets committed after the dead letters")
    assert kube.patches() == []
