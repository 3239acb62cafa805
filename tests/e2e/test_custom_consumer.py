"""examples/custom-consumer: installed with `make install PREFIX=<tmp>`, built
with its own Makefile through pkg-config (hookbus.pc) and run against
mock-kafka: debounced actions land in its output file."""
import os
import shutil
import subprocess

from conftest import BIN, ROOT, wait_for
from consumers import ConsumerProc, kafka, make_attrs, produce  # noqa: F401 (fixture)

# The ASan flavour (build/asan/bin) installs and links with the sanitizers.
BUILD = BIN.parent
SAN = BUILD.name == "asan"


def test_example_builds_against_the_installed_library_and_runs(tmp_path, kafka):
    prefix = tmp_path / "prefix"
    args = ["make", "-s", "-C", str(ROOT), "install", f"PREFIX={prefix}", f"BUILD={BUILD}"]
    if SAN:
        args.append("SAN=1")
    r = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    pc = (prefix / "lib" / "pkgconfig" / "hookbus.pc").read_text()
    assert f"prefix={prefix}" in pc and "Requires: rdkafka" in pc
    src = tmp_path / "example"
    shutil.copytree(ROOT / "examples" / "custom-consumer", src)
    env = dict(os.environ, PKG_CONFIG_PATH=str(prefix / "lib" / "pkgconfig"))
    make = ["make", "-C", str(src)]
    if SAN:
        make.append("CFLAGS=-O1 -g -fsanitize=address,undefined")
    r = subprocess.run(make, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    binary = src / "example-consumer"
    r = subprocess.run([str(binary), "--config", str(src / "config.yaml"), "--check-config"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr

    out = tmp_path / "actions.log"
    cfg = f"""
kafka:
  brokers: {kafka.bootstrap}
  topics: [hookbus.git]
debounce: 1s
admin_listen: 127.0.0.1:0
output: {out}
"""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shutil.copy(binary, bindir / "example-consumer")
    c = ConsumerProc(tmp_path, str(bindir / "example-consumer"), cfg, name="example")
    try:
        produce(kafka.bootstrap, "hookbus.git",
                [(make_attrs(f"x-{i}"), {}) for i in range(3)]
                + [(make_attrs("y-0", repo="github.com/acme/lib"), {})])
        wait_for(lambda: out.exists() and len(out.read_text().splitlines()) == 2, timeout=20,
                 what="two actions")
        lines = sorted(out.read_text().splitlines())
        assert lines == ["github.com/acme/app 3 x-2 dev.hookbus.git.push",
                         "github.com/acme/lib 1 y-0 dev.hookbus.git.push"]
        assert c.get("/readyz").status_code == 200
    finally:
        c.stop()
