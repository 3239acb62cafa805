#!/usr/bin/python3
"""make check-deploy: cheap checks of everything that deploys hookbus.

  scripts/check_deploy.py [--bin-dir build/bin] [--root DIR] [--only GROUP]...

GROUP is compose, yamllint, configs, kubernetes or dockerfile (default: all).

1. docker-compose.yml: `docker-compose config -q` (Debian's docker-compose)
   with config/example.env as the .env file, every profile enabled; `bash -n`
   of the scripts services run with `sh -c` / `bash -c` (kafka-init).
2. yamllint (settings in .yamllint) over the compose file, config/ and deploy/.
3. Every YAML file under config/ (recursively) loads with its binary's
   --check-config, with config/example.env's variables set (and a placeholder
   for any other env: secret reference the file makes). The binary is
   named by the file: `<name>.yaml` is loaded by hookbus-<name> (gateway.yaml:
   hookbus-gateway, kargo.yaml: hookbus-kargo, image-updater.yaml:
   hookbus-image-updater); dev.yaml is the gateway's; a line
   `# binary: hookbus-NAME` among the file's leading comments overrides the name.
   A binary that has sources but is not built yet is skipped with a message.
4. The compose wiring: each hookbus service's own command (--config path
   through its bind mounts) and environment load with --check-config.
5. Kubernetes manifests (deploy/kubernetes/): every document has apiVersion,
   kind and metadata.name, a known apiVersion for its kind, and references that
   resolve (ConfigMaps, Secrets and their keys, ServiceAccounts, Services and
   their ports, probe ports, volume mounts, selectors, RBAC roles); every file
   is listed by a kustomization.yaml; hookbus containers run non-root with a
   read-only root filesystem and resource requests; and every hookbus
   container's --config, materialized from its mounted ConfigMaps and Secrets,
   loads with --check-config. `kubectl kustomize` runs too when kubectl is
   installed (kubectl apply --dry-run needs an API server, which CI has not).
6. Dockerfile: the runtime stage installs the package of every shared library
   the built binaries link, and the build stage the -dev package of every
   pkg-config module in the Makefile's PKGS.
"""
import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "kubernetes"
EXAMPLE_ENV = ROOT / "config" / "example.env"
PROFILES = ("kargo", "argocd", "flux", "image-updater", "poller", "exec", "http")
# File stems that are not a binary's name.
STEM_ALIASES = {"dev": "gateway"}
# Kinds the manifests may use, with the apiVersion Kubernetes serves them at.
API_VERSIONS = {
    "Namespace": "v1", "ConfigMap": "v1", "Secret": "v1", "Service": "v1",
    "ServiceAccount": "v1", "Deployment": "apps/v1", "StatefulSet": "apps/v1",
    "Ingress": "networking.k8s.io/v1", "NetworkPolicy": "networking.k8s.io/v1",
    "PodDisruptionBudget": "policy/v1",
    "ClusterRole": "rbac.authorization.k8s.io/v1", "ClusterRoleBinding": "rbac.authorization.k8s.io/v1",
    "Role": "rbac.authorization.k8s.io/v1", "RoleBinding": "rbac.authorization.k8s.io/v1",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
WORKLOADS = {"Deployment", "StatefulSet"}
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class Report:
    def __init__(self):
        self.failures = 0

    def ok(self, msg):
        print(f"check-deploy: ok    {msg}")

    def skip(self, msg):
        print(f"check-deploy: SKIP  {msg}")

    def fail(self, msg):
        self.failures += 1
        print(f"check-deploy: FAIL  {msg}")


def rel(path):
    try:
        return str(pathlib.Path(path).relative_to(ROOT))
    except ValueError:
        return str(path)


def read_env_file(path):
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            env[k.strip()] = v.strip()
    return env


def clean_env(extra):
    """The caller's environment without HOOKBUS_* overrides, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKBUS_")}
    env.update(extra)
    return env


# The binaries docs/design.md names; consumers/<name>/ adds hookbus-<name>.
DESIGN_BINARIES = {"hookbus-gateway", "hookbus-tail", "hookbus-kargo", "hookbus-image-updater",
                   "hookbus-exec", "hookbus-http"}


class Binaries:
    def __init__(self, bin_dir):
        self.dir = pathlib.Path(bin_dir)
        self.known = DESIGN_BINARIES | {
            "hookbus-" + d.name for d in (ROOT / "consumers").iterdir() if d.is_dir()}

    def path(self, name):
        """(path, None) when built; (None, why) otherwise."""
        if name not in self.known:
            return None, f"no binary {name} in this repository"
        p = self.dir / name
        if not os.access(p, os.X_OK):
            return None, f"{name} is not built yet ({rel(p)}): not checked"
        return p, None

    def check_config(self, name, config, env, cwd=ROOT):
        """Runs NAME --config CONFIG --check-config: (ok, output)."""
        p, _ = self.path(name)
        try:
            r = subprocess.run([str(p), "--config", str(config), "--check-config"], env=env,
                               cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=30)
        except subprocess.TimeoutExpired:
            return False, "timed out after 30 s"
        return r.returncode == 0, (r.stdout + r.stderr).strip()

    def config_of(self, rep, where, argv):
        """The --config of argv when its binary is built; else reports why not
        (SKIP: not built, FAIL: no --config) and returns None."""
        _, why = self.path(argv[0])
        if why:
            rep.skip(f"{where}: {why}")
            return None
        cfg = config_arg(argv)
        if not cfg:
            rep.fail(f"{where}: {argv[0]} has no --config")
        return cfg

    def report(self, rep, label, name, config, env):
        """check_config, reported as ok or FAIL under label."""
        ok, out = self.check_config(name, config, env)
        if ok:
            rep.ok(label)
        else:
            rep.fail(f"{label}: {out}")


# 1, 2 -----------------------------------------------------------------------

def compose_cmd(*args):
    cmd = ["docker-compose", "--project-directory", str(ROOT), "-f", str(ROOT / "docker-compose.yml"),
           "--env-file", str(EXAMPLE_ENV)]
    for p in PROFILES:
        cmd += ["--profile", p]
    return cmd + list(args)


def check_kafka_version(rep, compose):
    """The apache/kafka image of the compose file is the Kafka the tests run
    (tests/tools/kafka/pom.xml's kafka.version)."""
    pom = ROOT / "tests" / "tools" / "kafka" / "pom.xml"
    m = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom.read_text()) \
        if pom.is_file() else None
    if not m:
        rep.fail(f"{pom.relative_to(ROOT)}: no <kafka.version>")
        return
    for name, svc in sorted(compose.get("services", {}).items()):
        image = svc.get("image", "")
        if image.startswith("apache/kafka:"):
            tag = image.split(":", 1)[1]
            if tag != m.group(1):
                rep.fail(f"compose service {name}: {image}, but the tests run Kafka "
                         f"{m.group(1)} (tests/tools/kafka/pom.xml)")
            else:
                rep.ok(f"compose service {name}: {image}, the Kafka the tests run")


def check_compose_file(rep):
    if not shutil.which("docker-compose"):
        rep.fail("docker-compose is not installed (scripts/install-deps.sh installs it)")
        return None
    # `config` validates exactly as `config -q` does, and prints the result.
    r = subprocess.run(compose_cmd("config"), capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        rep.fail(f"docker-compose config -q: {r.stderr.strip()}")
        return None
    rep.ok("docker-compose.yml: docker-compose config -q (env file config/example.env, all profiles)")
    compose = yaml.safe_load(r.stdout)
    check_kafka_version(rep, compose)
    for name, svc in sorted(compose.get("services", {}).items()):
        entry = svc.get("entrypoint") or []
        if len(entry) == 2 and entry[0].endswith(("/sh", "/bash")) and entry[1] == "-c":
            script = " ".join(svc.get("command") or []).replace("$$", "$")
            r = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
            if r.returncode != 0:
                rep.fail(f"compose service {name}: its script does not parse: {r.stderr.strip()}")
            else:
                rep.ok(f"compose service {name}: bash -n of its script")
    return compose


def check_yamllint(rep):
    if not shutil.which("yamllint"):
        rep.fail("yamllint is not installed (scripts/install-deps.sh installs it)")
        return
    targets = ["docker-compose.yml", "config", "deploy", ".yamllint"]
    r = subprocess.run(["yamllint", "-s", "-f", "parsable", *targets], cwd=ROOT,
                       capture_output=True, text=True)
    if r.returncode != 0:
        rep.fail("yamllint:\n" + (r.stdout + r.stderr).strip())
    else:
        rep.ok("yamllint -s " + " ".join(targets))


# 3 --------------------------------------------------------------------------

def binary_for(path):
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        m = re.match(r"#\s*binary:\s*(hookbus-[a-z0-9-]+)\s*$", line)
        if m:
            return m.group(1)
    stem = path.name.rsplit(".", 1)[0]
    return "hookbus-" + STEM_ALIASES.get(stem, stem)


def check_config_dir(rep, bins):
    env = clean_env(read_env_file(EXAMPLE_ENV))
    files = sorted(p for p in (ROOT / "config").rglob("*") if p.suffix in (".yaml", ".yml"))
    for f in files:
        name = binary_for(f)
        if name not in bins.known:
            rep.fail(f"{rel(f)}: no binary {name}: name the file after the binary that loads it "
                     f"(kargo.yaml for hookbus-kargo) or start it with '# binary: hookbus-NAME'")
            continue
        _, why = bins.path(name)
        if why:
            rep.skip(f"{rel(f)}: {why}")
            continue
        # A standalone example may name secrets example.env does not set: give
        # them a value (the compose and Kubernetes wiring checks do not).
        fenv = dict(env)
        for var in re.findall(r"\benv:([A-Za-z_][A-Za-z0-9_]*)", f.read_text()):
            fenv.setdefault(var, "placeholder-for-check-deploy")
        bins.report(rep, f"{rel(f)}: {name} --check-config", name, f, fenv)


# 4 --------------------------------------------------------------------------

def config_arg(argv):
    for i, a in enumerate(argv):
        if a == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--config="):
            return a.split("=", 1)[1]
    return None


def rewrite_paths(text, mounts):
    """Replaces container paths (mount targets) by where they are here, in one
    pass, so that a replacement is never rewritten again by a shorter target."""
    if not mounts:
        return text
    targets = sorted((t.rstrip("/") for t in mounts), key=len, reverse=True)
    local = {t.rstrip("/"): str(src) for t, src in mounts.items()}
    pattern = r"(?<![\w./-])(" + "|".join(map(re.escape, targets)) + r")(?=[/\s\]\"',]|$)"
    return re.sub(pattern, lambda m: local[m.group(1)], text, flags=re.M)


def check_compose_wiring(rep, bins, compose):
    if not compose:
        return
    for name, svc in sorted(compose.get("services", {}).items()):
        if "build" not in svc:
            continue
        cmd = svc.get("command") or []
        if isinstance(cmd, str):
            cmd = cmd.split()
        if not cmd or not cmd[0].startswith("hookbus-"):
            rep.fail(f"compose service {name}: command does not start with a hookbus binary: {cmd}")
            continue
        binary = cmd[0]
        cfg = bins.config_of(rep, f"compose service {name}", cmd)
        if not cfg:
            continue
        with tempfile.TemporaryDirectory(prefix="check-deploy-") as tmp:
            mounts = {}
            for v in svc.get("volumes", []):
                if isinstance(v, str):
                    parts = v.split(":")
                    source, target = parts[0], parts[1]
                    vtype = "bind" if source.startswith(("/", ".", "~")) else "volume"
                else:
                    source, target, vtype = v.get("source"), v["target"], v.get("type")
                if vtype == "bind" and os.path.exists(source):
                    mounts[target] = pathlib.Path(source)
                else:  # a named volume, or a host file this machine has not: an empty stand-in
                    stand_in = pathlib.Path(tmp) / ("vol" + str(len(mounts)))
                    stand_in.mkdir()
                    mounts[target] = stand_in
            host_cfg = pathlib.Path(rewrite_paths(cfg, mounts))
            if not host_cfg.is_file():
                rep.fail(f"compose service {name}: {cfg} is not in any of its mounts")
                continue
            local = pathlib.Path(tmp) / host_cfg.name
            local.write_text(rewrite_paths(host_cfg.read_text(), mounts))
            env = clean_env({k: str(v) for k, v in (svc.get("environment") or {}).items()})
            bins.report(rep, f"compose service {name}: {binary} --config {cfg} (its mounts and environment)",
                        binary, local, env)


# 5 --------------------------------------------------------------------------

def load_manifests(rep):
    docs = []
    for f in sorted(K8S.rglob("*.yaml")):
        if f.name == "kustomization.yaml":
            continue
        try:
            for d in yaml.safe_load_all(f.read_text()):
                if d is not None:
                    docs.append((f, d))
        except yaml.YAMLError as e:
            rep.fail(f"{rel(f)}: {e}")
    return docs


def check_kustomizations(rep):
    listed = set()
    for k in sorted(K8S.rglob("kustomization.yaml")):
        kd = yaml.safe_load(k.read_text()) or {}
        for r in kd.get("resources", []):
            p = (k.parent / r).resolve()
            if not p.exists():
                rep.fail(f"{rel(k)}: resource {r} does not exist")
            listed.add(p)
    for f in sorted(K8S.rglob("*.yaml")):
        if f.name != "kustomization.yaml" and f.resolve() not in listed:
            rep.fail(f"{rel(f)}: not listed in any kustomization.yaml")
    if shutil.which("kubectl"):
        for k in sorted(K8S.rglob("kustomization.yaml")):
            r = subprocess.run(["kubectl", "kustomize", str(k.parent)], capture_output=True, text=True)
            if r.returncode != 0:
                rep.fail(f"kubectl kustomize {rel(k.parent)}: {r.stderr.strip()}")
            else:
                rep.ok(f"kubectl kustomize {rel(k.parent)}")
    else:
        rep.skip("kubectl kustomize: kubectl is not installed (the checks below still run)")


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


class Cluster:
    """The manifests as a set of objects, indexed by (kind, namespace, name)."""

    def __init__(self, docs):
        self.objs = {}
        for f, d in docs:
            md = d.get("metadata") or {}
            ns = None if d.get("kind") in CLUSTER_SCOPED else md.get("namespace", "hookbus")
            self.objs[(d.get("kind"), ns, md.get("name"))] = (f, d)

    def get(self, kind, ns, name):
        return self.objs.get((kind, ns, name), (None, None))[1]

    def pod_templates(self):
        for (kind, ns, name), (f, d) in self.objs.items():
            if kind in WORKLOADS:
                yield f, d, ns, name, d["spec"]["template"]


def check_objects(rep, cl):
    seen = 0
    for (kind, ns, name), (f, d) in sorted(cl.objs.items(), key=lambda kv: str(kv[0])):
        where = f"{rel(f)}: {kind}/{name}"
        seen += 1
        if not d.get("apiVersion") or not kind or not name:
            rep.fail(f"{rel(f)}: a document lacks apiVersion, kind or metadata.name")
            continue
        if API_VERSIONS.get(kind) != d["apiVersion"]:
            rep.fail(f"{where}: apiVersion {d['apiVersion']} (expected {API_VERSIONS.get(kind, '?')})")
        if not DNS1123.match(name):
            rep.fail(f"{where}: name is not a DNS-1123 name")
        if kind not in CLUSTER_SCOPED and not (d.get("metadata") or {}).get("namespace"):
            rep.fail(f"{where}: no metadata.namespace")
        check = {"Service": check_service, "Ingress": check_ingress,
                 "NetworkPolicy": check_netpol, "PodDisruptionBudget": check_pdb,
                 "RoleBinding": check_binding, "ClusterRoleBinding": check_binding}.get(kind)
        if check:
            check(rep, cl, where, ns, d)
        if kind in WORKLOADS:
            check_workload(rep, cl, where, ns, d)
    rep.ok(f"deploy/kubernetes: {seen} objects checked")


def template_ports(tpl):
    ports = set()
    for c in tpl["spec"].get("containers", []):
        for p in c.get("ports", []):
            ports.add(p.get("name"))
            ports.add(p["containerPort"])
    return ports


def check_service(rep, cl, where, ns, d):
    sel = d["spec"].get("selector") or {}
    pods = [t for _, _, wns, _, t in cl.pod_templates()
            if wns == ns and matches(sel, t["metadata"].get("labels", {}))]
    if not pods:
        rep.fail(f"{where}: selector {sel} matches no pod template")
        return
    for p in d["spec"].get("ports", []):
        target = p.get("targetPort", p["port"])
        if not all(target in template_ports(t) for t in pods):
            rep.fail(f"{where}: targetPort {target} is not a port of the selected pods")


def check_ingress(rep, cl, where, ns, d):
    for rule in d["spec"].get("rules", []):
        for path in rule.get("http", {}).get("paths", []):
            b = path["backend"]["service"]
            svc = cl.get("Service", ns, b["name"])
            if not svc:
                rep.fail(f"{where}: backend Service {b['name']} does not exist")
                continue
            port = b["port"]
            names = {p.get("name") for p in svc["spec"]["ports"]} | {p["port"] for p in svc["spec"]["ports"]}
            if port.get("name", port.get("number")) not in names:
                rep.fail(f"{where}: Service {b['name']} has no port {port}")


def check_netpol(rep, cl, where, ns, d):
    sel = (d["spec"].get("podSelector") or {}).get("matchLabels")
    if sel and not any(wns == ns and matches(sel, t["metadata"].get("labels", {}))
                       for _, _, wns, _, t in cl.pod_templates()):
        rep.fail(f"{where}: podSelector {sel} matches no pod template")


def check_pdb(rep, cl, where, ns, d):
    sel = d["spec"]["selector"].get("matchLabels")
    if not any(wns == ns and matches(sel, t["metadata"].get("labels", {}))
               for _, _, wns, _, t in cl.pod_templates()):
        rep.fail(f"{where}: selector {sel} matches no pod template")


def check_binding(rep, cl, where, ns, d):
    ref = d["roleRef"]
    role_ns = None if ref["kind"] == "ClusterRole" else ns
    if not cl.get(ref["kind"], role_ns, ref["name"]):
        rep.fail(f"{where}: roleRef {ref['kind']}/{ref['name']} does not exist")
    for s in d.get("subjects", []):
        if s["kind"] == "ServiceAccount" and not cl.get("ServiceAccount", s.get("namespace", ns), s["name"]):
            rep.fail(f"{where}: subject ServiceAccount {s.get('namespace', ns)}/{s['name']} does not exist")


def check_workload(rep, cl, where, ns, d):
    spec = d["spec"]
    tpl = spec["template"]
    pod = tpl["spec"]
    labels = tpl["metadata"].get("labels", {})
    if not matches(spec["selector"].get("matchLabels"), labels):
        rep.fail(f"{where}: selector does not match the pod template's labels")
    if d["kind"] == "StatefulSet":
        svc = cl.get("Service", ns, spec.get("serviceName"))
        if not svc or svc["spec"].get("clusterIP") != "None":
            rep.fail(f"{where}: serviceName {spec.get('serviceName')} is not a headless Service")
    sa = pod.get("serviceAccountName")
    if sa and not cl.get("ServiceAccount", ns, sa):
        rep.fail(f"{where}: ServiceAccount {sa} does not exist")
    psc = pod.get("securityContext") or {}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for t in spec.get("volumeClaimTemplates", []):
        volumes[t["metadata"]["name"]] = {"name": t["metadata"]["name"], "persistentVolumeClaim": {}}
    for v in volumes.values():
        if "configMap" in v and not cl.get("ConfigMap", ns, v["configMap"]["name"]):
            rep.fail(f"{where}: volume {v['name']}: ConfigMap {v['configMap']['name']} does not exist")
        if "secret" in v and not cl.get("Secret", ns, v["secret"]["secretName"]):
            rep.fail(f"{where}: volume {v['name']}: Secret {v['secret']['secretName']} does not exist")
    for c in pod.get("containers", []):
        cw = f"{where} container {c['name']}"
        ports = {p.get("name") for p in c.get("ports", [])} | {p["containerPort"] for p in c.get("ports", [])}
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            port = (c.get(probe) or {}).get("httpGet", {}).get("port")
            if port is not None and port not in ports:
                rep.fail(f"{cw}: {probe} port {port} is not a container port")
        if not c.get("readinessProbe") or not c.get("livenessProbe"):
            rep.fail(f"{cw}: needs a readinessProbe and a livenessProbe")
        for m in c.get("volumeMounts", []):
            if m["name"] not in volumes:
                rep.fail(f"{cw}: volumeMount {m['name']} has no volume")
        for e in c.get("env", []):
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            if ref and not (cl.get("Secret", ns, ref["name"]) or {}).get("stringData", {}).get(ref["key"]):
                rep.fail(f"{cw}: env {e['name']}: Secret {ref['name']} has no key {ref['key']}")
        if not (c.get("resources") or {}).get("requests"):
            rep.fail(f"{cw}: no resources.requests")
        sc = c.get("securityContext") or {}
        if not (psc.get("runAsNonRoot") or sc.get("runAsNonRoot")):
            rep.fail(f"{cw}: not runAsNonRoot")
        if not sc.get("readOnlyRootFilesystem") or sc.get("allowPrivilegeEscalation") is not False:
            rep.fail(f"{cw}: needs readOnlyRootFilesystem: true and allowPrivilegeEscalation: false")


def materialize(cl, ns, pod, container, root):
    """Writes the container's ConfigMap and Secret mounts under root; returns
    {mountPath: local path} and the container's environment."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {}
    for m in container.get("volumeMounts", []):
        local = root / m["mountPath"].lstrip("/")
        local.mkdir(parents=True, exist_ok=True)
        mounts[m["mountPath"]] = local
        v = volumes.get(m["name"], {})
        if "configMap" in v:
            data = (cl.get("ConfigMap", ns, v["configMap"]["name"]) or {}).get("data", {})
        elif "secret" in v:
            data = (cl.get("Secret", ns, v["secret"]["secretName"]) or {}).get("stringData", {})
        else:
            continue
        for k, val in data.items():
            (local / k).write_text(val)
    env = {}
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        elif (e.get("valueFrom") or {}).get("secretKeyRef"):
            ref = e["valueFrom"]["secretKeyRef"]
            env[e["name"]] = (cl.get("Secret", ns, ref["name"]) or {}).get("stringData", {}).get(ref["key"], "")
    return mounts, env


def check_k8s_configs(rep, bins, cl):
    for f, d, ns, name, tpl in sorted(cl.pod_templates(), key=lambda t: t[3]):
        for c in tpl["spec"].get("containers", []):
            argv = (c.get("command") or []) + (c.get("args") or [])
            if not argv or not argv[0].startswith("hookbus-"):
                continue
            where = f"{rel(f)}: {d['kind']}/{name} {argv[0]}"
            cfg = bins.config_of(rep, where, argv)
            if not cfg:
                continue
            with tempfile.TemporaryDirectory(prefix="check-deploy-") as tmp:
                mounts, env = materialize(cl, ns, tpl["spec"], c, pathlib.Path(tmp))
                local = pathlib.Path(rewrite_paths(cfg, mounts))
                if not local.is_file():
                    rep.fail(f"{where}: {cfg} is not in a mounted ConfigMap")
                    continue
                local.write_text(rewrite_paths(local.read_text(), mounts))
                bins.report(rep, f"{where} --config {cfg} (its mounted ConfigMaps and Secrets)",
                            argv[0], local, clean_env(env))


# 6 --------------------------------------------------------------------------

def dockerfile_lists():
    """The packages `apt-get install` adds in the first and in the last stage."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]

    def packages(stage):
        m = re.search(r"apt-get install ([^&\n]*)", stage)
        return {w for w in (m.group(1).split() if m else []) if not w.startswith("-")}
    return packages(stages[0]), packages(stages[-1])


def owning_packages(paths):
    """{path: Debian package} for the paths dpkg knows (also through symlinks)."""
    candidates = {}
    for p in paths:
        candidates[p] = p
        candidates.setdefault(os.path.realpath(p), p)
    r = subprocess.run(["dpkg", "-S", *candidates], capture_output=True, text=True)
    owners = {}
    for line in r.stdout.splitlines():
        pkgs, _, path = line.partition(": ")
        if path in candidates:
            owners.setdefault(candidates[path], pkgs.split(",")[0].split(":")[0].strip())
    return owners


def check_dockerfile(rep, bins):
    build, runtime = dockerfile_lists()
    if any(p.endswith("-dev") for p in runtime):
        rep.fail(f"Dockerfile: the runtime stage installs -dev packages: {sorted(runtime)}")
    needed = {}  # soname -> path, of the libraries the binaries name (NEEDED)
    built = [p for p in sorted(bins.dir.glob("hookbus-*")) if os.access(p, os.X_OK)]
    for b in built:
        out = subprocess.run(["readelf", "-d", str(b)], capture_output=True, text=True).stdout
        names = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out))
        ldd = subprocess.run(["ldd", str(b)], capture_output=True, text=True).stdout
        for so, path in re.findall(r"^\s*(\S+) => (/\S+)", ldd, flags=re.M):
            if so in names:
                needed[so] = path
        for so in names - set(needed):
            rep.fail(f"{rel(b)}: ldd does not resolve {so}")
    base = {"libc6", "libgcc-s1"}  # essential in every Debian image
    # Sanitizer runtimes: only `make asan` binaries link them, never the image's.
    needed = {so: p for so, p in needed.items() if not re.match(r"lib(a|ub|l|t)san\.so", so)}
    missing = []
    owners = owning_packages(needed.values())
    for so, path in sorted(needed.items()):
        pkg = owners.get(path)
        if not pkg:
            rep.fail(f"Dockerfile: cannot find the package of {so}")
        elif pkg not in runtime and pkg not in base:
            missing.append(f"{pkg} ({so})")
    if missing:
        rep.fail(f"Dockerfile: the runtime stage lacks {', '.join(missing)}")
    else:
        rep.ok(f"Dockerfile: runtime packages cover the {len(needed)} libraries that "
               f"{len(built)} binaries link")
    mk = (ROOT / "Makefile").read_text()
    pkgs = re.search(r"^PKGS\s*:=\s*(.*)$", mk, flags=re.M).group(1).split()
    missing = []
    pcfiles = {}
    for p in pkgs:
        pcdir = subprocess.run(["pkg-config", "--variable=pcfiledir", p], capture_output=True,
                               text=True).stdout.strip()
        pcfiles[p] = os.path.join(pcdir, p + ".pc")
    owners = owning_packages(pcfiles.values())
    for p in pkgs:
        dev = owners.get(pcfiles[p])
        if not dev or dev not in build:
            missing.append(f"{dev or '?'} ({p})")
    if missing:
        rep.fail(f"Dockerfile: the build stage lacks {', '.join(missing)}")
    else:
        rep.ok(f"Dockerfile: build stage installs the -dev package of each of {len(pkgs)} PKGS")


GROUPS = ("compose", "yamllint", "configs", "kubernetes", "dockerfile")


def set_root(root):
    global ROOT, K8S, EXAMPLE_ENV
    ROOT = pathlib.Path(root).resolve()
    K8S = ROOT / "deploy" / "kubernetes"
    EXAMPLE_ENV = ROOT / "config" / "example.env"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin-dir", default=str(ROOT / "build" / "bin"))
    ap.add_argument("--root", default=str(ROOT), help="the repository to check")
    ap.add_argument("--only", action="append", choices=GROUPS)
    args = ap.parse_args()
    set_root(args.root)
    only = set(args.only or GROUPS)
    rep = Report()
    bins = Binaries(args.bin_dir)
    compose = check_compose_file(rep) if only & {"compose", "configs"} else None
    if "yamllint" in only:
        check_yamllint(rep)
    if "configs" in only:
        check_config_dir(rep, bins)
        check_compose_wiring(rep, bins, compose)
    if "kubernetes" in only:
        check_kustomizations(rep)
        cl = Cluster(load_manifests(rep))
        check_objects(rep, cl)
        check_k8s_configs(rep, bins, cl)
    if "dockerfile" in only:
        check_dockerfile(rep, bins)
    if rep.failures:
        print(f"check-deploy: {rep.failures} problem(s)")
        return 1
    print("check-deploy: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
