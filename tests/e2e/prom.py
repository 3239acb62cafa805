"""Helpers for the observability tests: a real Prometheus (Debian's
/usr/bin/prometheus) with its own config, data directory and port; the
project's rule file with test-length `for:` durations; promtool; and the
metric names that PromQL expressions and /metrics scrapes mention."""
import re
import shutil
import socket
import subprocess

import requests
import yaml

from procs import stop_process

from conftest import ROOT, wait_for

RULES = ROOT / "deploy" / "prometheus" / "hookbus-rules.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "hookbus.json"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rules_for_tests(path, for_duration="3s"):
    """Writes the real rule file to path with every alert's `for:` set to
    for_duration (production waits minutes; the expressions, labels and
    annotations stay the project's own). Returns path."""
    doc = yaml.safe_load(RULES.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "alert" in rule and "for" in rule:
                rule["for"] = for_duration
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


class Prometheus:
    """A Prometheus scraping `targets` ({job: "host:port"}) every second,
    evaluating `rule_files` every second."""

    def __init__(self, tmp_path, targets, rule_files=()):
        self.dir = tmp_path
        cfg = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s",
                       "scrape_timeout": "900ms"},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [t]}]}
                               for job, t in targets.items()],
        }
        self.config = tmp_path / "prometheus.yml"
        self.config.write_text(yaml.safe_dump(cfg, sort_keys=False))
        self.log_path = tmp_path / "prometheus.log"
        for _ in range(5):  # a free port can be taken between the probe and the bind
            self.port = free_port()
            self.base = f"http://127.0.0.1:{self.port}"
            self.log = open(self.log_path, "w")
            self.proc = subprocess.Popen(
                [PROMETHEUS, f"--config.file={self.config}",
                 f"--storage.tsdb.path={tmp_path / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=self.log, stderr=subprocess.STDOUT)
            if wait_for(self._ready_or_exited, timeout=60, what="prometheus to be ready") == "up":
                return
            self.log.close()
        raise AssertionError("prometheus did not start: " + self.log_path.read_text()[-3000:])

    def _ready_or_exited(self):
        if self.proc.poll() is not None:
            return "exited"
        try:
            if requests.get(self.base + "/-/ready", timeout=1).status_code == 200:
                return "up"
        except requests.RequestException:
            pass
        return None

    def api(self, path, **params):
        r = requests.get(self.base + "/api/v1/" + path, params=params, timeout=10)
        r.raise_for_status()
        body = r.json()
        assert body["status"] == "success", body
        return body["data"]

    def targets_up(self):
        """{job: health} of the active targets."""
        return {t["labels"]["job"]: t["health"] for t in self.api("targets")["activeTargets"]}

    def query(self, expr):
        return self.api("query", query=expr)["result"]

    def alerts(self, name=None):
        """The pending and firing alerts (optionally of one name)."""
        return [a for a in self.api("alerts")["alerts"]
                if name is None or a["labels"]["alertname"] == name]

    def rule_health(self):
        """{rule name: (health, lastError)} of every loaded rule."""
        out = {}
        for g in self.api("rules")["groups"]:
            for r in g["rules"]:
                out[r["name"]] = (r["health"], r.get("lastError", ""))
        return out

    def stop(self):
        stop_process(self.proc)
        self.log.close()


# PromQL words that look like metric names: functions, aggregations,
# keywords and the suffixes of histogram series.
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group", "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "offset", "bool", "rate", "irate", "increase", "delta", "idelta",
    "deriv", "histogram_quantile", "label_replace", "label_join", "abs", "clamp_min",
    "clamp_max", "vector", "scalar", "time", "absent", "sum_over_time", "avg_over_time",
    "max_over_time", "min_over_time", "changes", "resets", "round", "ceil", "floor", "sort",
    "sort_desc", "predict_linear", "le", "inf", "nan",
}


def metric_names(expr):
    """The metric names an expression selects: identifiers that are neither
    PromQL words, label names ({...} and by/on (...) lists), strings, durations
    nor recording-rule names (they contain ':'). Grafana's $__rate_interval and
    the like are dropped too."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)    # strings
    e = re.sub(r"\{[^}]*\}", "", e)                 # label matchers
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    e = re.sub(r"\[[^\]]*\]", "", e)                # ranges
    e = re.sub(r"\$\w+", "", e)                     # dashboard variables
    e = re.sub(r"(?<![\w:])\d[\w.]*", "", e)          # numbers, durations (offset 5m)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        w = m.group(0)
        if w.lower() in PROMQL_WORDS or ":" in w:
            continue
        after = e[m.end():].lstrip()
        if after.startswith("("):  # a function call
            continue
        names.add(w)
    return names


def scraped_names(text):
    """Metric family names in a /metrics text (from its # TYPE lines), with
    the histogram series suffixes (_bucket, _sum, _count) of each."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()[:4]
            names.add(name)
            if kind == "histogram":
                names.update(name + s for s in ("_bucket", "_sum", "_count"))
    return names


def promtool_check_metrics(text):
    """promtool check metrics on a scrape: (exit status, output)."""
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr
