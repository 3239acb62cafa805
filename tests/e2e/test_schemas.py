"""test_schemas.py: checks of schemas/ and of the Avro event format fixtures.

- every schema file parses (Avro with the avro module, JSON Schema as JSON) and documents
  every field; the Avro and JSON Schema of each event type describe the same fields;
- the example events in tests/fixtures/events/ are well-formed structured CloudEvents as
  DESIGN section 4 describes them, and their data validates against both data schemas
  (JSON Schema with jsonschema when it is installed, and always with the small subset
  validator below);
- schemas/cloudevent.avsc is the schema embedded in lib/avro_format.c, and the Python test
  vector tests/fixtures/avro/python-event.bin is what Python's avro module writes for
  python-event.json with the JSON data mapping of schemas/README.md.

Debian modules only: json, avro (python3-avro), pytest; jsonschema is optional.
"""

import copy
import io
import json
import os
import re
from pathlib import Path

import avro.errors
import avro.io
import avro.schema
import pytest

SOURCE = Path(os.environ.get("HB_SOURCE_DIR") or Path(__file__).resolve().parents[2])
SCHEMAS = SOURCE / "schemas"
EVENTS = SOURCE / "tests" / "fixtures" / "events"
AVRO_FIXTURES = SOURCE / "tests" / "fixtures" / "avro"

# DESIGN section 4: the published event types and their topic kinds.
TYPES = [
    "dev.hookbus.git.push",
    "dev.hookbus.git.tag",
    "dev.hookbus.git.release",
    "dev.hookbus.git.pull_request",
    "dev.hookbus.image.push",
    "dev.hookbus.chart.push",
    "dev.hookbus.ref.requested",
    "dev.hookbus.source.changed",
]
COMMON_REQUIRED = ["provider", "receiver", "kind", "repository"]
EXTRA_REQUIRED = {
    "dev.hookbus.git.push": ["ref"],
    "dev.hookbus.git.tag": ["tag"],
    "dev.hookbus.git.release": ["tag"],
    "dev.hookbus.git.pull_request": ["pull_request"],
    "dev.hookbus.chart.push": ["tag"],
}
# Extension attributes that repeat a data field (DESIGN section 4).
MIRRORED = ["provider", "receiver", "ref", "tag", "digest", "commit"]


def urn(event_type):
    return "urn:hookbus:schema:%s:1" % event_type


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def avro_schema(event_type):
    return avro.schema.parse((SCHEMAS / ("%s.avsc" % event_type)).read_text(encoding="utf-8"))


def example_files():
    return sorted(EVENTS.glob("*.json"))


# ---- the JSON data mapping of the Avro event format (schemas/README.md) ----------------

BOX = "$value"


def to_record(v):
    """A JSON value as an AvroCloudEventData record."""
    if isinstance(v, dict) and list(v) != [BOX]:
        return {"value": {k: to_v2(x) for k, x in v.items()}}
    return {"value": {BOX: to_v2(v)}}


def to_v2(v):
    """A JSON value inside an AvroCloudEventData record's map."""
    if isinstance(v, dict):
        return {k: to_record(x) for k, x in v.items()}
    if isinstance(v, list):
        return [to_record(x) for x in v]
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    return v


def to_avro_data(v):
    """A JSON value as the value of the event's data field."""
    if isinstance(v, dict):
        return {k: to_record(x) if isinstance(x, (dict, list)) else to_v2(x) for k, x in v.items()}
    if isinstance(v, list):
        return [to_record(x) for x in v]
    return to_v2(v)


def from_record(r):
    m = r["value"]
    if list(m) == [BOX]:
        return from_v2(m[BOX])
    return {k: from_v2(x) for k, x in m.items()}


def from_v2(v):
    if isinstance(v, dict):
        return {k: from_record(x) for k, x in v.items()}
    if isinstance(v, list):
        return [from_record(x) for x in v]
    return v


def from_avro_data(v):
    """The inverse of to_avro_data (bytes stay bytes)."""
    if isinstance(v, dict):
        return {k: from_record(x) if isinstance(x, dict) else x for k, x in v.items()}
    if isinstance(v, list):
        return [from_record(x) for x in v]
    return v


def numbers_as_float(v):
    if isinstance(v, dict):
        return {k: numbers_as_float(x) for k, x in v.items()}
    if isinstance(v, list):
        return [numbers_as_float(x) for x in v]
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    return v


class FirstMatchWriter(avro.io.DatumWriter):
    """python3-avro 1.11.1 writes a union value in the *last* branch that validates, so a
    boolean goes out as int (attributes) or double (data). Avro's other implementations
    pick by type; pick the first matching branch, which for these unions is the same."""

    def write_union(self, writers_schema, datum, encoder):
        for i, candidate in enumerate(writers_schema.schemas):
            if avro.io.validate(candidate, datum):
                encoder.write_long(i)
                return self.write_data(candidate, datum, encoder)
        raise avro.errors.AvroTypeException(writers_schema, datum)


# ---- a JSON Schema subset validator (the keywords our schemas use) ---------------------

KNOWN_KEYWORDS = {"$schema", "$id", "title", "description", "type", "required", "properties",
                  "items", "enum", "const", "pattern", "anyOf"}
JSON_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "null": lambda v: v is None,
}


def subset_errors(schema, value, path="$"):
    """Errors of value against schema, for the keywords in KNOWN_KEYWORDS."""
    errors = []
    if "type" in schema and not JSON_TYPES[schema["type"]](value):
        return ["%s: not of type %s" % (path, schema["type"])]
    if "const" in schema and value != schema["const"]:
        errors.append("%s: not %r" % (path, schema["const"]))
    if "enum" in schema and value not in schema["enum"]:
        errors.append("%s: not one of %r" % (path, schema["enum"]))
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        errors.append("%s: %r does not match %s" % (path, value, schema["pattern"]))
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                errors.append("%s: %s is required" % (path, name))
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                errors += subset_errors(sub, value[name], "%s.%s" % (path, name))
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += subset_errors(schema["items"], item, "%s[%d]" % (path, i))
    if "anyOf" in schema and all(subset_errors(s, value, path) for s in schema["anyOf"]):
        errors.append("%s: matches none of anyOf" % path)
    return errors


def walk_json_schema(schema, path="$"):
    """Yields (path, subschema) for the schema and every nested one."""
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from walk_json_schema(sub, "%s.%s" % (path, name))
    if "items" in schema:
        yield from walk_json_schema(schema["items"], path + "[]")
    for i, sub in enumerate(schema.get("anyOf", [])):
        yield from walk_json_schema(sub, "%s.anyOf[%d]" % (path, i))


def without_nulls(value):
    """An Avro-decoded record as the JSON data had it: absent optional members
    come back as null, at any depth."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    return value


def avro_datum(data):
    """Data as its Avro data schema wants it: `original` is JSON text there."""
    datum = dict(data)
    if "original" in datum:
        datum["original"] = json.dumps(datum["original"], separators=(",", ":"))
    return datum


# ---- schema files -------------------------------------------------------------------------


def test_every_type_has_both_schemas_and_nothing_else():
    want = {"cloudevent.avsc"} | {"%s.avsc" % t for t in TYPES} | {
        "%s.schema.json" % t for t in TYPES}
    have = {p.name for p in SCHEMAS.iterdir() if p.suffix in (".avsc", ".json")}
    assert have == want


def test_cloudevent_avsc_is_the_embedded_schema():
    text = (SCHEMAS / "cloudevent.avsc").read_text(encoding="utf-8")
    parsed = avro.schema.parse(text)
    assert parsed.fullname == "io.cloudevents.AvroCloudEvent"
    src = (SOURCE / "lib" / "avro_format.c").read_text(encoding="utf-8")
    m = re.search(r"static const char schema_json\[\] =\n(.*?);\n", src, re.S)
    assert m, "schema_json not found in lib/avro_format.c"
    literals = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1))
    embedded = "".join(bytes(s, "utf-8").decode("unicode_escape") for s in literals)
    assert json.loads(embedded) == json.loads(text)
    assert embedded.strip() == text.strip()


def avro_named_types(schema, seen=None):
    """Yields every record and enum schema reachable from schema."""
    seen = set() if seen is None else seen
    if isinstance(schema, avro.schema.UnionSchema):
        for s in schema.schemas:
            yield from avro_named_types(s, seen)
    elif isinstance(schema, avro.schema.ArraySchema):
        yield from avro_named_types(schema.items, seen)
    elif isinstance(schema, avro.schema.MapSchema):
        yield from avro_named_types(schema.values, seen)
    elif isinstance(schema, (avro.schema.RecordSchema, avro.schema.EnumSchema)):
        if schema.fullname in seen:
            return
        seen.add(schema.fullname)
        yield schema
        if isinstance(schema, avro.schema.RecordSchema):
            for f in schema.fields:
                yield from avro_named_types(f.type, seen)


@pytest.mark.parametrize("event_type", TYPES)
def test_avro_data_schema(event_type):
    schema = avro_schema(event_type)
    assert schema.fullname == event_type + ".v1"
    assert schema.get_prop("dataschema") == urn(event_type)
    required = COMMON_REQUIRED + EXTRA_REQUIRED.get(event_type, [])
    for named in avro_named_types(schema):
        assert named.doc, "%s has no doc" % named.fullname
        if isinstance(named, avro.schema.RecordSchema):
            for f in named.fields:
                assert f.doc and len(f.doc) > 10, "%s.%s has no doc" % (named.fullname, f.name)
    names = [f.name for f in schema.fields]
    assert names[:4] == COMMON_REQUIRED
    for f in schema.fields:
        if f.name in required:
            assert not isinstance(f.type, avro.schema.UnionSchema), f.name
        else:
            # optional: ["null", T] with default null
            assert isinstance(f.type, avro.schema.UnionSchema), f.name
            assert f.type.schemas[0].type == "null" and len(f.type.schemas) == 2, f.name
            assert f.has_default and f.default is None, f.name
    repo = schema.fields_dict["repository"].type
    assert [f.name for f in repo.fields] == ["id", "urls"]
    assert schema.fields_dict["kind"].type.symbols == ["git", "image", "chart", "other"]


@pytest.mark.parametrize("event_type", TYPES)
def test_json_schema(event_type):
    schema = load_json(SCHEMAS / ("%s.schema.json" % event_type))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == urn(event_type)
    assert schema["type"] == "object"
    assert schema["required"] == COMMON_REQUIRED + EXTRA_REQUIRED.get(event_type, [])
    assert schema["properties"]["repository"]["required"] == ["id"]
    for path, sub in walk_json_schema(schema):
        unknown = set(sub) - KNOWN_KEYWORDS
        assert not unknown, "%s uses %s (teach subset_errors first)" % (path, unknown)
        if path != "$" and ".anyOf[" not in path and not path.endswith("[]"):
            assert len(sub.get("description", "")) > 10, "%s has no description" % path
        if "pattern" in sub:
            re.compile(sub["pattern"])


@pytest.mark.parametrize("event_type", TYPES)
def test_avro_and_json_schema_agree(event_type):
    avsc = avro_schema(event_type)
    js = load_json(SCHEMAS / ("%s.schema.json" % event_type))
    assert [f.name for f in avsc.fields] == list(js["properties"])
    avro_required = [f.name for f in avsc.fields
                     if not isinstance(f.type, avro.schema.UnionSchema)]
    assert avro_required == js["required"]
    for f in avsc.fields:
        # The same words: the JSON Schema description is the Avro doc.
        assert f.doc == js["properties"][f.name]["description"], f.name
    kinds = js["properties"]["kind"]
    allowed = [kinds["const"]] if "const" in kinds else kinds["enum"]
    assert set(allowed) <= set(avsc.fields_dict["kind"].type.symbols)


# ---- example events --------------------------------------------------------------------------

RFC3339_MS_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def test_examples_cover_every_type():
    seen = {load_json(p)["type"] for p in example_files()}
    assert seen == set(TYPES)


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_example_is_a_hookbus_cloudevent(path):
    ev = load_json(path)
    data = ev["data"]
    assert ev["specversion"] == "1.0"
    assert ev["id"]
    assert ev["type"] in TYPES
    assert ev["source"] == "/receivers/" + data["receiver"]
    assert RFC3339_MS_UTC.match(ev["time"])
    assert ev["datacontenttype"] == "application/json"
    assert ev["dataschema"] == urn(ev["type"])
    repo = data["repository"]["id"]
    assert ev["repo"] == repo and ev["partitionkey"] == repo
    for name in MIRRORED:
        assert ev.get(name) == data.get(name), name
    # The gateway's rule: @ref when the ref is known, else :tag.
    if "pull_request" in data:
        assert ev["subject"] == "%s#%d" % (repo, data["pull_request"]["number"])
    elif "ref" in data:
        assert ev["subject"] == "%s@%s" % (repo, data["ref"])
    elif "tag" in data:
        assert ev["subject"] == "%s:%s" % (repo, data["tag"])
    else:
        assert ev["subject"] == repo
    fixed_kind = {"git": "git", "image": "image", "chart": "chart"}.get(ev["type"].split(".")[2])
    if fixed_kind:
        assert data["kind"] == fixed_kind
    for name in ev:
        assert re.match(r"^[a-z0-9]{1,20}$", name) or name == "data", name


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_example_data_validates_avro(path):
    ev = load_json(path)
    schema = avro_schema(ev["type"])
    datum = avro_datum(ev["data"])
    assert avro.io.validate(schema, datum, raise_on_error=True)
    # Every key is a field of the schema (Avro's validate ignores extra keys).
    assert set(datum) <= {f.name for f in schema.fields}
    # And it serializes and reads back the same.
    buf = io.BytesIO()
    FirstMatchWriter(schema).write(datum, avro.io.BinaryEncoder(buf))
    buf.seek(0)
    back = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(buf))
    assert {k: v for k, v in back.items() if v is not None} == datum


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_example_data_validates_json_schema_subset(path):
    ev = load_json(path)
    schema = load_json(SCHEMAS / ("%s.schema.json" % ev["type"]))
    assert subset_errors(schema, ev["data"]) == []
    assert set(ev["data"]) <= set(schema["properties"])
    assert set(ev["data"]["repository"]) <= set(schema["properties"]["repository"]["properties"])


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_example_data_validates_jsonschema(path):
    jsonschema = pytest.importorskip("jsonschema")
    ev = load_json(path)
    schema = load_json(SCHEMAS / ("%s.schema.json" % ev["type"]))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(ev["data"])


def broken_variants(ev):
    """(why, data) pairs that both data schemas must reject."""
    data = ev["data"]
    out = []
    for name in ["provider", "kind", "repository"] + EXTRA_REQUIRED.get(ev["type"], []):
        d = copy.deepcopy(data)
        del d[name]
        out.append(("without " + name, d))
    d = copy.deepcopy(data)
    d["kind"] = "tarball"
    out.append(("unknown kind", d))
    d = copy.deepcopy(data)
    del d["repository"]["id"]
    out.append(("repository without id", d))
    d = copy.deepcopy(data)
    d["repository"]["urls"] = "https://example.com/x.git"
    out.append(("urls not a list", d))
    return out


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_schemas_reject_broken_data(path):
    ev = load_json(path)
    avsc = avro_schema(ev["type"])
    js = load_json(SCHEMAS / ("%s.schema.json" % ev["type"]))
    for why, data in broken_variants(ev):
        assert subset_errors(js, data), why
        assert not avro.io.validate(avsc, avro_datum(data)), why


def test_json_schema_only_rules():
    """Rules Avro cannot express: fixed kinds, patterns, tag-or-digest."""
    push = load_json(EVENTS / "github-push.json")["data"]
    js = load_json(SCHEMAS / "dev.hookbus.git.push.schema.json")
    for field, value in [("kind", "image"), ("commit", "XYZ"), ("ref", "main"),
                         ("provider", "GitHub")]:
        d = dict(push, **{field: value})
        assert subset_errors(js, d), field
    d = copy.deepcopy(push)
    d["repository"]["id"] = "https://GitHub.com/Acme/App.git"
    assert subset_errors(js, d)
    image = load_json(EVENTS / "quay-image-push.json")["data"]
    js = load_json(SCHEMAS / "dev.hookbus.image.push.schema.json")
    assert subset_errors(js, {k: v for k, v in image.items() if k != "tag"})
    assert not subset_errors(js, dict({k: v for k, v in image.items() if k != "tag"},
                                      digest="sha256:" + "ab" * 32))


# ---- the Avro event format ---------------------------------------------------------------------


def cloudevent_schema():
    return avro.schema.parse((SCHEMAS / "cloudevent.avsc").read_text(encoding="utf-8"))


def test_python_vector_reads_back():
    """python-event.bin read with Python's avro and unwrapped is python-event.json."""
    raw = (AVRO_FIXTURES / "python-event.bin").read_bytes()
    want = load_json(AVRO_FIXTURES / "python-event.json")
    rec = avro.io.DatumReader(cloudevent_schema()).read(avro.io.BinaryDecoder(io.BytesIO(raw)))
    attrs = rec["attribute"]
    assert attrs.pop("nothing") is None
    assert attrs.pop("sig") == b"\x00\x01\xfe\xff"
    assert attrs["sequence"] == 7 and attrs["redelivered"] is False
    assert attrs == {k: v for k, v in want.items() if k not in ("data", "sig")}
    assert from_avro_data(rec["data"]) == numbers_as_float(want["data"])


def test_python_vector_is_reproducible():
    """How python-event.bin was made: this writer, this mapping, these attributes."""
    want = load_json(AVRO_FIXTURES / "python-event.json")
    attrs = {k: v for k, v in want.items() if k not in ("data", "sig")}
    attrs["sig"] = b"\x00\x01\xfe\xff"
    attrs["nothing"] = None
    buf = io.BytesIO()
    FirstMatchWriter(cloudevent_schema()).write(
        {"attribute": attrs, "data": to_avro_data(want["data"])}, avro.io.BinaryEncoder(buf))
    assert buf.getvalue() == (AVRO_FIXTURES / "python-event.bin").read_bytes()


@pytest.mark.parametrize("value", [
    {}, [], 1.5, "text", True, None, [1, [2, [3]]], {"a": {"b": {"c": [True, None]}}},
    {BOX: 1}, {"x": {BOX: [1]}}, [{BOX: {}}],
])
def test_json_mapping_round_trip(value):
    """The mapping of schemas/README.md writes and reads every JSON shape."""
    schema = cloudevent_schema()
    buf = io.BytesIO()
    FirstMatchWriter(schema).write({"attribute": {}, "data": to_avro_data(value)},
                                   avro.io.BinaryEncoder(buf))
    buf.seek(0)
    rec = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(buf))
    assert from_avro_data(rec["data"]) == numbers_as_float(value)


# ---- every event of every receiver fixture ------------------------------------------------


def fixture_events():
    """(fixture name, event) for every hookbus event a receiver fixture produces
    (the expectations tests/unit/test_receivers.c and test_all_fixtures.py check
    against the real receivers)."""
    from fixture_walk import fixtures
    return [(f.name, e) for f in fixtures() for e in f.events
            if e["type"].startswith("dev.hookbus.")]


def test_fixture_events_cover_every_published_type():
    seen = {e["type"] for _, e in fixture_events()}
    assert seen == set(TYPES) - {"dev.hookbus.ping"}, sorted(set(TYPES) - seen)


@pytest.mark.parametrize("name,ev", fixture_events(),
                         ids=lambda v: v if isinstance(v, str) else v["id"][:12])
def test_fixture_event_validates(name, ev):
    data = ev["data"]
    js = load_json(SCHEMAS / ("%s.schema.json" % ev["type"]))
    assert subset_errors(js, data) == [], name
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator(js).validate(data)
    avsc = avro_schema(ev["type"])
    datum = avro_datum(data)
    assert avro.io.validate(avsc, datum, raise_on_error=True), name
    assert set(datum) <= {f.name for f in avsc.fields}, name
    assert ev["dataschema"] == urn(ev["type"])
    buf = io.BytesIO()
    FirstMatchWriter(avsc).write(datum, avro.io.BinaryEncoder(buf))
    buf.seek(0)
    back = avro.io.DatumReader(avsc).read(avro.io.BinaryDecoder(buf))
    assert without_nulls(back) == datum, name
