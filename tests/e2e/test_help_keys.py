"""--help lists every config key from the tables that parse them.

For the gateway and every consumer: each key `--help` lists is accepted by
`--check-config` (set to its listed default, or to a value of its type), the
bounds it prints are the bounds enforced (the limits pass, one beyond fails),
the HOOKBUS_* variable it names is the one read; and the other way round,
every key of the shipped configs (config/, config/compose/) is listed, and a
key that is not listed is rejected as unknown. Receiver entries' type options
(README, "Connect your senders") are not in a table: a key of a receiver
entry that --help does not list must be one that a `github` receiver
rejects, i.e. an option of some other type."""
import os
import re
import subprocess

import pytest
import yaml

from conftest import BIN, ROOT

KEY_LINE = re.compile(r"^  (\S+)  (string|int|bool|duration|list|map)\b(.*)$")
UNITS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000}

# The smallest valid configuration of each binary, and which shipped
# configs are its.
BASE = {
    "gateway": {},
    "exec": {"command": ["true"]},
    "http": {"url": "http://127.0.0.1:1/hook"},
    "image-updater": {"image_updater": {"url": "http://127.0.0.1:1/webhook",
                                        "secret": "literal:s"}},
    "kargo": {},
    "argocd": {},
    "flux": {},
    "poller": {},
    "tail": {},
}
RECEIVER = {"name": "r1", "type": "generic", "secrets": ["literal:s"]}
# Keys checked against another (max_backoff >= initial_backoff): while one is
# pushed to its bounds the other is moved out of the way.
COMPANIONS = {"retry.initial_backoff": ("retry.max_backoff", "24h"),
              "retry.max_backoff": ("retry.initial_backoff", "1ms")}
# Values for listed keys without a default (required ones come from BASE).
SAMPLES = {"receivers[].secrets": ["literal:s"], "receivers[].name": "r1",
           "receivers[].type": "generic"}


def help_keys(binary):
    """{key: (type, bounds or None, default text or None, env name or None)}."""
    r = subprocess.run([str(BIN / f"hookbus-{binary}"), "--help"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    keys = {}
    for line in r.stdout.splitlines():
        m = KEY_LINE.match(line)
        if not m:
            continue
        key, typ, rest = m.groups()
        bounds = re.match(r"^ (\S+)\.\.(\S+?),?(?: |$)", rest)
        default = re.search(r"default (.*?)(?:, env |$)", rest)
        env = re.search(r"env (HOOKBUS_\w+)", rest)
        keys[key] = (typ, bounds.groups() if bounds else None,
                     default.group(1) if default else None, env.group(1) if env else None)
    assert keys, f"hookbus-{binary} --help lists no keys:\n{r.stdout}"
    return keys


def ms(text):
    m = re.fullmatch(r"(\d+)(ms|s|m|h)?", text)
    assert m, text
    return int(m.group(1)) * UNITS[m.group(2) or "ms"]


def value_of(binary, key, typ, default):
    if key in SAMPLES:
        return SAMPLES[key]
    node = BASE[binary]
    for p in key.split("."):  # a required key: its value in BASE
        node = node.get(p) if isinstance(node, dict) else None
    if node is not None:
        return node
    if default is None:
        return [] if typ == "list" else {} if typ == "map" else ""
    if default == '""':
        return ""
    if typ in ("list", "map"):
        return yaml.safe_load(default)
    return default


def with_key(binary, key, value, receiver=RECEIVER):
    """BASE[binary] with dotted key set (receivers[].k goes into one entry)."""
    cfg = yaml.safe_load(yaml.safe_dump(BASE[binary]))
    if key.startswith("receivers[]."):
        cfg["receivers"] = [dict(receiver, **{key[len("receivers[]."):]: value})]
        return cfg
    for k, v in ((key, value),) + ((COMPANIONS[key],) if key in COMPANIONS else ()):
        node = cfg
        parts = k.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = v
    return cfg


def check(tmp_path, binary, cfg, env=None):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    e = {k: v for k, v in os.environ.items() if not k.startswith("HOOKBUS_")}
    e.update(env or {})
    return subprocess.run([str(BIN / f"hookbus-{binary}"), "--config", str(path),
                           "--check-config"], capture_output=True, text=True, timeout=30, env=e)


@pytest.mark.parametrize("binary", sorted(BASE))
def test_every_listed_key_is_accepted_within_its_bounds(tmp_path, binary):
    keys = help_keys(binary)
    for key, (typ, bounds, default, env) in keys.items():
        r = check(tmp_path, binary, with_key(binary, key, value_of(binary, key, typ, default)))
        assert r.returncode == 0, f"{key}: {r.stdout}{r.stderr}"
        if bounds and binary != "tail":
            lo, hi = (int(b) for b in bounds) if typ == "int" else (ms(b) for b in bounds)
            unit = "" if typ == "int" else "ms"
            for v, ok in ((lo, True), (hi, True), (hi + 1, False), (lo - 1, False)):
                if v < 0:
                    continue
                r = check(tmp_path, binary, with_key(binary, key, f"{v}{unit}"))
                assert (r.returncode == 0) == ok, f"{key}={v}: {r.stderr}"
                if not ok:
                    # (kargo's section keys are named without "kargo.")
                    assert r.returncode == 2 and key.split(".", 1)[-1] in r.stderr, r.stderr
        if env and typ in ("int", "duration", "bool"):
            # The variable --help names is read: a bad value in it is refused.
            r = check(tmp_path, binary, BASE[binary], {env: "not-a-value"})
            assert r.returncode == 2 and env in r.stderr, f"{env}: {r.stderr}"


def shipped_configs(binary):
    out = []
    for path in sorted((ROOT / "config").rglob("*.yaml")):
        head = path.read_text().split("\n", 1)[0]
        named = re.match(r"# binary: hookbus-(\S+)", head)
        owner = named.group(1) if named else ("gateway" if path.stem == "dev" else path.stem)
        if owner == binary:
            out.append(path)
    return out


def config_keys(node, prefix, listed):
    """Dotted keys of a config: sections are walked, listed lists and maps
    are keys themselves, receiver entries give receivers[].KEY."""
    for k, v in node.items():
        key = prefix + k
        if isinstance(v, dict) and key not in listed:
            yield from config_keys(v, key + ".", listed)
            continue
        yield key
        if key == "receivers" and isinstance(v, list):
            for entry in v:
                for ek in entry:
                    yield "receivers[]." + ek


@pytest.mark.parametrize("binary", sorted(set(BASE) - {"tail"}))
def test_every_accepted_key_is_listed(tmp_path, binary):
    keys = help_keys(binary)
    configs = shipped_configs(binary)
    assert configs, f"no config under config/ for hookbus-{binary}"
    type_options = set()
    for path in configs:
        for key in config_keys(yaml.safe_load(path.read_text()) or {}, "", keys):
            if key in keys:
                continue
            assert key.startswith("receivers[]."), f"{path.name}: {key} is not in --help"
            type_options.add(key)
    for key in sorted(type_options):  # an option of some type, not a common key
        probe = dict(RECEIVER, type="github")  # github has no options of its own
        r = check(tmp_path, binary, with_key(binary, key, "x", probe))
        assert r.returncode == 2 and "unknown key" in r.stderr, f"{key}: {r.stderr}"
    # A key --help does not list is refused, so the listing is the whole set.
    r = check(tmp_path, binary, with_key(binary, "not_a_key", "1"))
    assert r.returncode == 2 and "unknown key 'not_a_key'" in r.stderr, r.stderr


def help_type_options():
    """{type: [option keys]} from the gateway's --help ("type: key, key" lines
    after the list of types)."""
    r = subprocess.run([str(BIN / "hookbus-gateway"), "--help"], capture_output=True, text=True,
                       timeout=30)
    out, seen = {}, False
    for line in r.stdout.splitlines():
        if "take options of their own" in line or "your senders" in line:
            seen = True
            continue
        m = re.match(r"^      ([a-z0-9-]+): ([a-z_]+(?:, [a-z_]+)*)$", line)
        if seen and m:
            out[m.group(1)] = m.group(2).split(", ")
    assert out, r.stdout
    return out


def test_receiver_type_options_are_listed_both_ways(tmp_path):
    """Every type option --help lists is a key its type reads (not refused as
    unknown); every type option of the shipped configs is listed for its type."""
    options = help_type_options()
    for typ, keys in options.items():
        for key in keys:
            probe = {"name": "r1", "type": typ, "secrets": ["literal:s"], key: "x"}
            r = check(tmp_path, "gateway", {"receivers": [probe]})
            assert "unknown key" not in r.stderr, f"{typ}.{key}: {r.stderr}"
    common = {k[len("receivers[]."):] for k in help_keys("gateway") if k.startswith("receivers[].")}
    for path in shipped_configs("gateway"):
        for entry in (yaml.safe_load(path.read_text()) or {}).get("receivers") or []:
            for key in set(entry) - common:
                assert key in options.get(entry["type"], []), f"{path.name}: {entry['type']}.{key}"
