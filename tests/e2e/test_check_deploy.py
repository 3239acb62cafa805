"""scripts/check_deploy.py (make check-deploy) finds what breaks a deployment.

Each test copies the deployment files into a temporary tree, breaks one thing
the way a careless edit would, and expects the checker to name it.
"""
import shutil
import subprocess
import sys

import pytest

from conftest import BIN, ROOT

FILES = ("docker-compose.yml", "Dockerfile", "Makefile", ".yamllint", "tests/tools/kafka/pom.xml")
DIRS = ("config", "deploy", "consumers")


@pytest.fixture
def tree(tmp_path):
    for f in FILES:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / f, tmp_path / f)
    for d in DIRS:
        shutil.copytree(ROOT / d, tmp_path / d)
    return tmp_path


def check(tree, *groups):
    argv = [sys.executable, str(ROOT / "scripts" / "check_deploy.py"), "--root", str(tree),
            "--bin-dir", str(BIN)]
    for g in groups:
        argv += ["--only", g]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout + r.stderr


def edit(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def fails(tree, groups, *expected):
    rc, out = check(tree, *groups)
    assert rc == 1, out
    fail_lines = [line for line in out.splitlines() if " FAIL " in line]
    for e in expected:
        assert any(e in line for line in fail_lines), f"no FAIL mentions {e!r}:\n{out}"
    return fail_lines


def test_the_repository_passes(tree):
    rc, out = check(tree)
    assert rc == 0, out
    assert "docker-compose config -q" in out
    assert "config/compose/gateway.yaml: hookbus-gateway --check-config" in out
    assert "compose service gateway: hookbus-gateway" in out
    assert "StatefulSet/hookbus-gateway hookbus-gateway --config" in out
    assert "Dockerfile: runtime packages cover" in out


def test_compose_service_without_a_secret_the_config_needs(tree):
    edit(tree / "docker-compose.yml",
         "      GITLAB_WEBHOOK_TOKEN: ${GITLAB_WEBHOOK_TOKEN:?set it in .env (see config/example.env)}\n", "")
    fails(tree, ["configs"], "compose service gateway", "GITLAB_WEBHOOK_TOKEN")


def test_compose_file_that_compose_rejects(tree):
    edit(tree / "docker-compose.yml", "        condition: service_healthy",
         "        condition: service_happy")
    fails(tree, ["compose"], "docker-compose config -q")


def test_topic_script_that_does_not_parse(tree):
    edit(tree / "docker-compose.yml", "        create() {", "        create() (")
    fails(tree, ["compose"], "compose service kafka-init: its script does not parse")


def test_config_named_after_no_binary(tree):
    shutil.copy(tree / "config" / "gateway.yaml", tree / "config" / "gatewy.yaml")
    fails(tree, ["configs"], "config/gatewy.yaml: no binary hookbus-gatewy")


def test_config_with_an_unknown_key(tree):
    edit(tree / "config" / "gateway.yaml", "delivery_timeout_ms:", "delivery_timeout:")
    fails(tree, ["configs"], "config/gateway.yaml: hookbus-gateway --check-config")


def test_gateway_config_names_a_secret_the_secret_lacks(tree):
    edit(tree / "deploy" / "kubernetes" / "gateway.yaml", "file:/etc/hookbus/secrets/harbor",
         "file:/etc/hookbus/secrets/harbour")
    fails(tree, ["kubernetes"], "StatefulSet/hookbus-gateway hookbus-gateway --config", "harbour")


def test_service_port_and_probe_port_typos(tree):
    gw = tree / "deploy" / "kubernetes" / "gateway.yaml"
    edit(gw, "      targetPort: admin", "      targetPort: admn")
    edit(gw, "httpGet: {path: /healthz, port: admin}", "httpGet: {path: /healthz, port: 9091}")
    fails(tree, ["kubernetes"], "targetPort admn", "livenessProbe port 9091")


def test_missing_configmap_rbac_subject_and_unlisted_file(tree):
    k = tree / "deploy" / "kubernetes"
    edit(k / "kargo.yaml", "configMap: {name: hookbus-kargo}", "configMap: {name: hookbus-kargo-config}")
    edit(k / "kargo-rbac.yaml", "    name: hookbus-kargo\n    namespace: hookbus",
         "    name: kargo\n    namespace: hookbus")
    shutil.copy(k / "ingress.yaml", k / "ingress-copy.yaml")
    fails(tree, ["kubernetes"], "ConfigMap hookbus-kargo-config does not exist",
          "ServiceAccount hookbus/kargo does not exist", "ingress-copy.yaml: not listed")


def test_root_container_and_deprecated_api(tree):
    k = tree / "deploy" / "kubernetes"
    edit(k / "image-updater.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false")
    edit(k / "ingress.yaml", "apiVersion: networking.k8s.io/v1", "apiVersion: extensions/v1beta1")
    fails(tree, ["kubernetes"], "container image-updater: needs readOnlyRootFilesystem",
          "Ingress/hookbus-gateway: apiVersion extensions/v1beta1")


def test_runtime_image_without_a_library_the_binaries_link(tree):
    edit(tree / "Dockerfile", "librdkafka1 ", "")
    edit(tree / "Dockerfile", "libyaml-dev ", "")
    fails(tree, ["dockerfile"], "runtime stage lacks librdkafka1", "build stage lacks libyaml-dev")


def test_compose_kafka_differs_from_the_tested_one(tree):
    edit(tree / "docker-compose.yml", "image: apache/kafka:4.1.1", "image: apache/kafka:3.9.1")
    rc, out = check(tree, "compose")
    assert rc == 1
    assert "compose service kafka: apache/kafka:3.9.1, but the tests run Kafka 4.1.1" in out
