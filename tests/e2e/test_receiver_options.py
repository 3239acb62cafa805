"""What the fixture walk (test_all_fixtures.py) does not show: the type options
of the newer receivers at config load, the config of every type in
config/all-receivers.yaml, gar's OIDC check through a real gateway (with the
audit line that names no token), and Artifactory's unsigned secret header."""
import hashlib
import hmac
import json
import subprocess

from conftest import BIN, ROOT, wait_for
from fixture_walk import FIXTURES, fixtures, receivers_yaml

GAR_TOKENS = {name: (FIXTURES / "gar" / name).read_text().strip()
              for name in ("token-valid.txt", "token-expired.txt", "token-wrong-audience.txt")}


def cli(*args):
    return subprocess.run([str(BIN / "hookbus-gateway"), *args], capture_output=True, text=True,
                          timeout=30)


def test_all_receivers_config_lists_every_type():
    cfg = str(ROOT / "config" / "all-receivers.yaml")
    assert cli("--config", cfg, "--check-config").returncode == 0
    r = cli("--config", cfg, "urls")
    assert r.returncode == 0, r.stderr
    listed = {line.split("\t")[1] for line in r.stdout.splitlines()} - {"key-route"}
    types = {f.receiver for f in fixtures()}
    assert {"github", "gitlab", "gitea", "bitbucket", "bitbucket-server", "azure-devops",
            "dockerhub", "quay", "harbor", "distribution", "gitlab-registry", "acr",
            "artifactory", "nexus", "aliyun-acr", "ecr", "gar", "generic", "generic-hmac",
            "cloudevents", "cdevents", "opaque", "standard-webhooks", "zot", "gerrit",
            "sourcehut", "azure-eventgrid", "aws-sns"} == listed
    assert listed <= types


def test_type_options_are_checked_at_load(tmp_path):
    cases = [
        ("  - {name: n, type: nexus, secrets: [literal:s]}\n", "base_url: required"),
        ("  - {name: o, type: opaque, secrets: [literal:s]}\n", "repository: required"),
        ("  - {name: o, type: opaque, secrets: [literal:s], repository: 'not a url'}\n",
         "is not a repository URL"),
        ("  - {name: g, type: gar, oidc_jwks_file: /nonexistent/jwks.json, oidc_audience: a}\n",
         "oidc_jwks_file"),
        ("  - {name: g, type: gar, oidc_jwks_file: %s}\n" % (FIXTURES / "gar" / "jwks.json"),
         "oidc_audience: required"),
        ("  - {name: g, type: gar, oidc_jwks_file: %s, oidc_audience: a}\n"
         % (FIXTURES / "auth.json"), "no \"keys\" list"),
        ("  - {name: g, type: gar, oidc_audience: a, secrets: [literal:s]}\n",
         "need oidc_jwks_file"),
        ("  - {name: g, type: gar}\n", "no secrets"),
        ("  - {name: a, type: artifactory, secrets: [literal:s], virtual_repo: [x]}\n",
         "virtual_repo: must be a string"),
        ("  - {name: z, type: zot, secrets: [literal:s]}\n", "base_url: required"),
        ("  - {name: g, type: gerrit, secrets: [literal:s]}\n", "base_url: required"),
        ("  - {name: s, type: sourcehut}\n", "public_key: required"),
        ("  - {name: s, type: aws-sns}\n", "topic_arns: required"),
        ("  - {name: s, type: aws-sns, topic_arns: [x]}\n", "is not a topic ARN"),
        ("  - {name: s, type: aws-sns, topic_arns: [arn:aws:sns:r:1:t], cert_host: '('}\n",
         "not an extended regular expression"),
        ("  - {name: s, type: sourcehut, public_key: c2hvcnQ=}\n", "32-byte Ed25519 key"),
        ("  - {name: w, type: standard-webhooks, secrets: [literal:s], tolerance_seconds: 0}\n",
         "tolerance_seconds: seconds, 1 to 3600"),
    ]
    for i, (entry, message) in enumerate(cases):
        cfg = tmp_path / ("c%d.yaml" % i)
        cfg.write_text("receivers:\n" + entry)
        r = cli("--config", str(cfg), "--check-config")
        assert r.returncode == 2 and message in r.stderr and ":2:" in r.stderr, (entry, r.stderr)
    cfg = tmp_path / "ok.yaml"
    cfg.write_text(receivers_yaml())
    r = cli("--config", str(cfg), "--check-config")
    assert r.returncode == 0, r.stderr


def gar_push(gw, token):
    body = (FIXTURES / "gar" / "insert-tag.json").read_bytes()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    return gw.post("/webhooks/gar", body, headers)


def test_gar_oidc_through_the_gateway(kafka, make_gateway):
    from test_all_fixtures import config
    gw = make_gateway(kafka.bootstrap, config=config(kafka.bootstrap))
    for name in ("token-expired.txt", "token-wrong-audience.txt"):
        r = gar_push(gw, GAR_TOKENS[name])
        assert r.status_code == 401, name
        assert r.json() == {"error": "authentication failed"}
    assert gar_push(gw, None).status_code == 401
    assert gar_push(gw, GAR_TOKENS["token-valid.txt"][:-4] + "AAAA").status_code == 401
    r = gar_push(gw, GAR_TOKENS["token-valid.txt"])
    assert r.status_code == 202 and r.json()["ids"] == ["9183920183922211"]
    audits = wait_for(lambda: [l for l in gw.lines() if l.get("audit") == "401"
                               and l.get("receiver") == "gar"] or None, what="audit lines")
    assert len(audits) >= 3
    log = gw.log_path.read_text()
    for tok in GAR_TOKENS.values():
        assert tok.split(".")[2] not in log and tok.split(".")[1] not in log


def test_artifactory_accepts_the_plain_secret_header(kafka, make_gateway):
    from test_all_fixtures import config
    gw = make_gateway(kafka.bootstrap, config=config(kafka.bootstrap))
    body = (FIXTURES / "artifactory" / "docker-pushed.json").read_bytes()
    h = {"Content-Type": "application/json"}
    plain = {**h, "X-JFrog-Event-Auth": "fixture-secret"}
    assert gw.post("/webhooks/artifactory", body, plain).status_code == 202
    wrong = hmac.new(b"other", body, hashlib.sha256).hexdigest()
    assert gw.post("/webhooks/artifactory", body, {**h, "X-JFrog-Event-Auth": wrong}).status_code == 401
    [m] = kafka.read("hookbus.image", 1)
    assert json.loads(m.value())["image"] == "docker-local/acme/web"


def test_opaque_triggers_are_distinct_signals(kafka, make_gateway):
    """The same empty POST twice is two "go check" signals with two ids (a
    consumer deduplicating by id must act twice); a retry carrying the same
    X-Request-Id keeps its id."""
    from test_all_fixtures import config
    gw = make_gateway(kafka.bootstrap, config=config(kafka.bootstrap))
    path, headers = next(f for f in fixtures() if f.receiver == "opaque").request()
    headers = {k: v for k, v in headers.items() if k.lower() != "x-request-id"}
    ids = [gw.post(path, b"", headers).json()["ids"][0] for _ in range(2)]
    assert ids[0] != ids[1] and all(len(i) == 32 for i in ids)
    retried = [gw.post(path, b"", {**headers, "X-Request-Id": "ci-run-7"}).json()["ids"]
               for _ in range(2)]
    assert retried == [["ci-run-7"], ["ci-run-7"]]
    got = [m.headers() for m in kafka.read("hookbus.other", 4)]
    assert sorted(dict(h)["ce_id"].decode() for h in got) == sorted(ids + ["ci-run-7"] * 2)
