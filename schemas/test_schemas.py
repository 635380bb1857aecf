#!/usr/bin/env python3
"""Checks the canonical schemas of schemas/ (docs/schemas.md).

- every *.vN.json here is a valid JSON Schema draft 2020-12 schema;
- every schemas/examples/<name>.vN.<what>.json validates against <name>.vN.json;
- every schemas/examples/invalid/<name>.vN.<what>.json fails against <name>.vN.json
  with the error stated for it in schemas/examples/invalid/expected.json
  (the JSON-pointer path of the instance and the JSON Schema keyword).

Exits 77 (skipped) only when the jsonschema module cannot be imported.
"""
import json
import os
import sys

try:
    import jsonschema
    from jsonschema import Draft202012Validator
except ImportError as e:
    print(f"SKIP: python3-jsonschema is not installed ({e})")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "examples")
INVALID = os.path.join(EXAMPLES, "invalid")
SCHEMAS = ["common.v1.json", "person.v1.json", "land_parcel.v1.json",
           "civil_event.v1.json", "admin_unit.v1.json"]
RECORD_SCHEMAS = [s for s in SCHEMAS if s != "common.v1.json"]

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def pointer(path):
    return "/" + "/".join(str(p) for p in path) if path else ""


def leaves(errors):
    """Every error, with the sub-errors of anyOf/oneOf (error.context) too."""
    for e in errors:
        yield e
        if e.context:
            yield from leaves(e.context)


def keyword(e):
    """The failing keyword; a false subschema has none, call it "false"."""
    if e.validator is None and e.schema is False:
        return "false"
    return e.validator


def schema_for(fname):
    parts = fname.split(".")
    if len(parts) < 4 or parts[-1] != "json":
        return None
    return parts[0] + "." + parts[1] + ".json"


# 1. The schemas themselves.
schemas = {}
for name in SCHEMAS:
    path = os.path.join(HERE, name)
    try:
        s = load(path)
    except (OSError, ValueError) as e:
        fail(f"{name}: cannot read: {e}")
        continue
    if s.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
        fail(f"{name}: $schema is not draft 2020-12")
    if not s.get("$id", "").endswith("/" + name):
        fail(f"{name}: $id does not end in /{name}")
    try:
        Draft202012Validator.check_schema(s)
    except jsonschema.exceptions.SchemaError as e:
        fail(f"{name}: not a valid 2020-12 schema: {e.message} at {pointer(e.absolute_path)}")
        continue
    schemas[name] = s
    print(f"ok schema {name}")

store = {s["$id"]: s for s in schemas.values()}


# jsonschema >= 4.18 resolves $ref through the referencing library (RefResolver
# is deprecated there); Debian bookworm's 4.10 has only RefResolver.
try:
    from referencing import Registry, Resource
    registry = Registry().with_resources(
        (uri, Resource.from_contents(s)) for uri, s in store.items())
except ImportError:
    registry = None


def validator(name):
    s = schemas[name]
    if registry is not None:
        return Draft202012Validator(s, registry=registry)
    resolver = jsonschema.RefResolver(base_uri=s["$id"], referrer=s, store=store)
    return Draft202012Validator(s, resolver=resolver)


def resolve(name, ref):
    """Follows one $ref of schema name; raises when its target is missing."""
    s = schemas[name]
    if registry is not None:
        registry.resolver(base_uri=s["$id"]).lookup(ref)
    else:
        jsonschema.RefResolver(base_uri=s["$id"], referrer=s, store=store).resolve(ref)


# A missing $ref target is only found when it is followed: follow every one.
def refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield v
            else:
                yield from refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from refs(v)


for name, s in schemas.items():
    for ref in refs(s):
        try:
            resolve(name, ref)
        except Exception as e:  # RefResolutionError or referencing's Unresolvable
            fail(f"{name}: $ref {ref} does not resolve: {str(e)[:200]}")

# 2. Valid examples.
counts = {}
for fname in sorted(os.listdir(EXAMPLES)):
    path = os.path.join(EXAMPLES, fname)
    if not os.path.isfile(path) or not fname.endswith(".json"):
        continue
    sname = schema_for(fname)
    if sname not in RECORD_SCHEMAS:
        fail(f"examples/{fname}: name does not start with a record schema (<name>.vN.<what>.json)")
        continue
    if sname not in schemas:
        continue
    rec = load(path)
    errs = sorted(validator(sname).iter_errors(rec), key=lambda e: list(e.absolute_path))
    for e in errs:
        fail(f"examples/{fname}: {pointer(e.absolute_path)}: {e.message}")
    if not errs:
        print(f"ok valid   examples/{fname}")
    counts[sname] = counts.get(sname, 0) + 1
for sname in RECORD_SCHEMAS:
    if counts.get(sname, 0) < 2:
        fail(f"{sname}: fewer than 2 valid examples")

# 2b. The admin codes of the valid examples exist in the reference data, in
# the version they claim (../shared/data/admin; examples may not invent codes).
DATA = os.environ.get("LGSP_SHARED_DATA", os.path.join(HERE, "..", "..", "shared", "data"))
ADMIN = os.path.join(DATA, "admin")


def read_csv(name):
    import csv
    with open(os.path.join(ADMIN, name), encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


if os.path.isdir(ADMIN):
    known = {"pre-2025": set(), "2025": set()}
    for r in read_csv("units_before_2025.csv"):
        known["pre-2025"].update(c for c in (r["province_code"], r["district_code"], r["commune_code"]) if c)
    for r in read_csv("units_2025.csv"):
        known["2025"].update((r["province_code"], r["commune_code"]))
    new_names = {r["commune_code"]: r["commune_name"] for r in read_csv("units_2025.csv")}

    def check_codes(fname, node, where=""):
        if isinstance(node, list):
            for i, v in enumerate(node):
                check_codes(fname, v, f"{where}/{i}")
            return
        if not isinstance(node, dict):
            return
        version = node.get("code_version")
        if version in known:
            for k in ("code", "province_code", "district_code", "commune_code"):
                if k in node and node[k] not in known[version]:
                    fail(f"examples/{fname}: {where}/{k} {node[k]} is not a {version} code in {ADMIN}")
        for k in ("commune_2025", "candidates", "successors"):
            for u in (node.get(k) if isinstance(node.get(k), list) else [node.get(k)]):
                if isinstance(u, dict) and "code" in u and new_names.get(u["code"]) != u.get("name"):
                    fail(f"examples/{fname}: {where}/{k}: {u.get('code')} {u.get('name')} is not a 2025 commune")
        for k, v in node.items():
            check_codes(fname, v, f"{where}/{k}")

    for fname in sorted(os.listdir(EXAMPLES)):
        if fname.endswith(".json") and os.path.isfile(os.path.join(EXAMPLES, fname)):
            check_codes(fname, load(os.path.join(EXAMPLES, fname)))
    print(f"ok admin codes of the examples are in {ADMIN}")
else:
    print(f"note: {ADMIN} not found, admin codes of the examples not checked")

# 3. Invalid examples, each failing for its stated reason.
expected = load(os.path.join(INVALID, "expected.json"))
files = sorted(f for f in os.listdir(INVALID) if f.endswith(".json") and f != "expected.json")
for fname in sorted(set(expected) - set(files)):
    fail(f"examples/invalid/expected.json names {fname}, which does not exist")
inv_counts = {}
for fname in files:
    sname = schema_for(fname)
    if sname not in RECORD_SCHEMAS:
        fail(f"examples/invalid/{fname}: name does not start with a record schema")
        continue
    inv_counts[sname] = inv_counts.get(sname, 0) + 1
    if fname not in expected:
        fail(f"examples/invalid/{fname}: no stated reason in expected.json")
        continue
    want = expected[fname]
    rec = load(os.path.join(INVALID, fname))
    errs = list(leaves(validator(sname).iter_errors(rec)))
    if not errs:
        fail(f"examples/invalid/{fname}: validates, but should fail ({want['reason']})")
        continue
    hit = [e for e in errs if pointer(e.absolute_path) == want["path"] and keyword(e) == want["keyword"]]
    if not hit:
        got = "; ".join(f"{pointer(e.absolute_path)} {keyword(e)}: {e.message[:120]}" for e in errs)
        fail(f"examples/invalid/{fname}: fails, but not with {want['keyword']} at "
             f"'{want['path']}' ({want['reason']}); errors: {got}")
        continue
    print(f"ok invalid examples/invalid/{fname}: {want['reason']} ({hit[0].message[:120]})")
for sname in RECORD_SCHEMAS:
    if inv_counts.get(sname, 0) < 1:
        fail(f"{sname}: no invalid example")

if failures:
    print(f"{len(failures)} failure(s)")
    sys.exit(1)
print("all schema checks passed")
