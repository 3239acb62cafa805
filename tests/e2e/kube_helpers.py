"""Helpers for the e2e tests of the consumers that act on a Kubernetes
cluster (hookbus-kargo, hookbus-argocd, hookbus-flux): tests/tools/fake-kube
as a process, a kubeconfig pointing at it, and a consumer process with its
admin port, readiness and metrics."""
import json
import os
import subprocess

import requests

from conftest import BIN, ROOT, Gateway, wait_for

FAKE_KUBE = ROOT / "tests" / "tools" / "fake-kube"
KUBE_TOKEN = "kube-token-for-tests"


class FakeKube:
    def __init__(self, tmp_path, objects, tls=None):
        seed = tmp_path / "objects.json"
        seed.write_text(json.dumps(objects))
        self.log = open(tmp_path / "fake-kube.log", "w")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", str(FAKE_KUBE), "--token", KUBE_TOKEN, "--warehouses", str(seed),
             "--bookmark-interval", "0.5"] + (["--tls-cert", tls[0], "--tls-key", tls[1]] if tls else []),
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http"), "fake-kube printed no URL"
        self.verify = tls[0] if tls else True

    def get(self, path):
        r = requests.get(self.url + path, timeout=5, verify=self.verify)
        r.raise_for_status()
        return r.json()

    def post(self, path, obj):
        r = requests.post(self.url + path, json=obj, timeout=5, verify=self.verify)
        r.raise_for_status()
        return r.json()

    def patches(self):
        return self.get("/_fake/patches")

    def refreshed(self):
        return sorted(f"{p['namespace']}/{p['name']}" for p in self.patches() if p["refresh"])

    def annotated(self, annotation):
        """Sorted "resource/ns/name" of every object patched with annotation."""
        return sorted(f"{p['resource']}/{p['namespace']}/{p['name']}" for p in self.patches()
                      if annotation in p["annotations"])

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


def write_kubeconfig(path, server, token=KUBE_TOKEN):
    path.write_text(f"""apiVersion: v1
kind: Config
current-context: test
contexts:
- name: test
  context: {{cluster: fake, user: tester}}
- name: unused
  context: {{cluster: nowhere, user: tester}}
clusters:
- name: fake
  cluster:
    server: {server}
users:
- name: tester
  user:
    token: {token}
""")


class KubeConsumer(Gateway):
    """A consumer binary (hookbus-argocd, ...) with a config in tmp_path;
    lines() and stop() (SIGTERM, exit 0, no sanitizer report) are the
    gateway's."""

    def __init__(self, tmp_path, binary, config, env=None):
        self.name = binary
        self.config_path = tmp_path / f"{binary}.yaml"
        self.config_path.write_text(config)
        self.log_path = tmp_path / f"{binary}.log"
        self.log = open(self.log_path, "w")
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen(
            [str(BIN / binary), "--config", str(self.config_path), "--log-format", "json",
             "--log-level", "debug"], stdout=self.log, stderr=subprocess.STDOUT, env=e)
        self.port = wait_for(self._port, timeout=15, what=f"{binary}'s admin listener")
        wait_for(self.ready, timeout=30, what=f"{binary} to be ready")

    def _port(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited: " + self.log_path.read_text())
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
        """The sum of every series of metric name, None when absent."""
        text = requests.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
        total, found = 0.0, False
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

    def wait_acted(self, n):
        wait_for(lambda: (self.metric("hookbus_consumer_acted_total") or 0) >= n, timeout=30,
                 what=f"{n} events acted on by {self.name}")
