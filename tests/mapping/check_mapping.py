#!/usr/bin/env python3
"""check_mapping.py — the mappings of schemas/mappings/ against a generated
world's ground truth (lgsp-gen, docs/generator.md).

For each source it gets the raw records as the bus holds them, runs
`lgsp map` with the source's mapping, and compares what was mapped and what
was quarantined (and why) with <world>/truth/<source>.truth.tsv and
<source>.defects.tsv:

  clean     records without an injected invalid value: the share mapped
            (target: at least 99.9 %);
  invalid   records with at least one (kinds bad_date, bad_id_province,
            bad_id_sex, bad_code, unknown_unit): every one quarantined;
  per kind  each such defect: "found" when an error of the record has the
            kind's rule on the defect's canonical field; "masked" when the
            record was quarantined because of another invalid value of it
            that was found (docs/generator.md: two invalid values of one
            mention can hide each other's rule); "missed" otherwise
            (target: none missed).

Records are counted by distinct record id (dn-civil re-delivers events; the
last delivery of an id decides). dn-land's owner and certificate rows are
parts of their parcel's document, so their defects count for the parcel.

Raw records, per source (--raw SOURCE=FILE overrides):
  qn-population  <world>/qn-population/persons.jsonl (the REST records)
  dn-population  <world>/dn-population/congdan.xml (the <CongDan> elements)
  qn-land        what the file-drop adapter publishes (lgsp-adapter-test over
                 a copy of <world>/qn-land, settings from config/departments.yaml);
                 without lgsp-adapter-test, the export files themselves
  dn-land        the parcel documents the sql adapter publishes, built here
                 from <world>/dn-land/*.csv the way the adapter's query builds
                 them (give --raw dn-land=FILE for the real adapter's output)
  qn-civil       what the file-drop adapter publishes (needs lgsp-adapter-test:
                 the record id and the decoding of TCVN3 / VNI / CP1258 are its)
  dn-civil       <world>/dn-civil/events.jsonl (the webhook bodies, in
                 delivery order; the event_id is the record id)
A FILE is JSON lines (the records themselves, or `lgsp-adapter-test` /
`lgsp consume --format json` lines with payload + headers), an XML export,
or a folder of XML exports.

Usage:
  check_mapping.py --world DIR --lgsp BIN [--data ADMIN_DIR] [--schemas DIR]
                   [--mappings DIR] [--config departments.yaml]
                   [--adapter-test BIN] [--adapter-path DIR]
                   [--raw SOURCE=FILE ...] [--sources a,b] [--work DIR]
                   [--json FILE] [--show N]
Exit status: 0 every source checked met the target, 1 some did not,
2 the check could not run (bad usage, lgsp map failed, a source without
raw records).
"""
import argparse
import collections
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCES = ["qn-population", "dn-population", "qn-land", "dn-land", "qn-civil", "dn-civil"]
MAIN_ROLES = {"person", "parcel", "event"}
CLEAN_TARGET = 0.999

# The invalid-value kinds and the rules of `lgsp map` that must report them.
# A flipped century with no birth year to compare reads as "future"
# (docs/generator.md, bad_id_sex).
INVALID = {
    "bad_date": {"date"},
    "bad_id_province": {"personal_id.province"},
    "bad_id_sex": {"personal_id.century_sex", "personal_id.future"},
    "bad_code": {"code_table"},
    "unknown_unit": {"unknown_unit"},
}

# "input:pos: mapping.yaml:12: /field (source): rule: message"
ERR_RE = re.compile(r"^(?P<pos>[^:]+): (?P<mfile>[^:\s]+):(?P<mline>\d+): (?P<field>\S+)"
                    r"(?: \((?P<src>.*?)\))?: (?P<rule>[a-z0-9_.]+): (?P<msg>.*)$")


def die(msg):
    print("check_mapping: " + msg, file=sys.stderr)
    sys.exit(2)


# ---- where a defect shows in the canonical record -------------------------

def fields_qn_population(rid, field, ctx):
    return {"ngay_sinh": ["/birth_date"], "id": ["/personal_id"], "so_dinh_danh": ["/personal_id"],
            "gioi_tinh": ["/sex"], "ma_xa": ["/residence"]}.get(field)


def fields_dn_population(rid, field, ctx):
    return fields_qn_population(rid, field, ctx)


def fields_qn_land(rid, field, ctx):
    m = re.match(r"chu\[(\d+)\]\.(\w+)$", field)
    if m:
        k = int(m.group(1)) - 1
        sub = {"id": "id_document/number", "ho_ten": "name", "nam_sinh": "birth_date"}.get(m.group(2))
        return ["/owners/%d/%s" % (k, sub)] if sub else None
    return {"giay_chung_nhan.ngay_cap": ["/certificate/issued_on"], "muc_dich_su_dung": ["/land_use"],
            "ma_xa": ["/location"]}.get(field)


def fields_dn_land(rid, field, ctx):
    # rid is the row's own id (chu_su_dung:17); ctx knows its place in the parcel
    table = rid.split(":")[0]
    if table == "chu_su_dung":
        k = ctx["owner_index"].get(rid)
        if k is None:
            return None
        sub = {"id": "id_document/number", "gioi_tinh": "sex", "ngay_sinh": "birth_date",
               "ho_ten": "name"}.get(field)
        return ["/owners/%d/%s" % (k, sub)] if sub else None
    if table == "giay_chung_nhan":
        return {"ngay_cap": ["/certificate/issued_on"]}.get(field)
    return {"loai_dat": ["/land_use"], "ma_xa": ["/location"]}.get(field)


def fields_qn_civil(rid, field, ctx):
    parts = rid.split("/")
    kind = parts[1] if len(parts) > 1 else ""
    if kind == "KS":
        table = {"ngay_sinh": "/child/birth_date", "gioi_tinh": "/child/sex",
                 "so_dinh_danh": "/child/personal_id", "noi_sinh": "/place_of_birth",
                 "noi_cu_tru": "/mother/residence"}
    elif kind == "KH":
        table = {}
        for suffix, role in (("chong", "husband"), ("vo", "wife")):
            table["ngay_sinh_" + suffix] = "/%s/birth_date" % role
            table["giay_to_" + suffix] = "/%s/id_document/number" % role
            table["noi_cu_tru_" + suffix] = "/%s/residence" % role
    else:
        table = {"ngay_sinh": "/deceased/birth_date", "gioi_tinh": "/deceased/sex",
                 "giay_to": "/deceased/id_document/number", "noi_chet": "/place_of_death"}
    f = table.get(field)
    return [f] if f else None


def fields_dn_civil(rid, field, ctx):
    if field == "office_code":
        return ["/registration/office"]
    m = re.match(r"(\w+)\.(\w+)$", field)
    if not m:
        return None
    role, f = m.groups()
    if f == "id":
        return ["/%s/personal_id" % role, "/%s/id_document/number" % role]
    if f in ("birth_date", "sex", "death_date"):
        return ["/%s/%s" % (role, f)]
    return None


FIELDS = {"qn-population": fields_qn_population, "dn-population": fields_dn_population,
          "qn-land": fields_qn_land, "dn-land": fields_dn_land, "qn-civil": fields_qn_civil,
          "dn-civil": fields_dn_civil}

# The id of a record given as itself (not in a bus envelope), per source.
PLAIN_ID = {
    "qn-population": lambda o: o.get("id"),
    "dn-civil": lambda o: o.get("event_id"),
    "dn-land": lambda o: "thua_dat:%s" % o.get("id"),
}
# The record elements of XML exports: tag and id attribute.
XML_ID = {"dn-population": ("CongDan", "id"), "qn-land": ("ThuaDat", "maThuaDat")}


# ---- truth ---------------------------------------------------------------

def read_tsv(path):
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    head = lines[0].split("\t")
    out = []
    for line in lines[1:]:
        if line:
            out.append(dict(zip(head, line.split("\t"))))
    return out


def read_csv(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def dn_land_context(world):
    """Owner / certificate rows -> their parcel, and each owner's index in it."""
    d = os.path.join(world, "dn-land")
    parent, owner_index = {}, {}
    owners = collections.defaultdict(list)
    for r in read_csv(os.path.join(d, "chu_su_dung.csv")):
        parent["chu_su_dung:" + r["id"]] = "thua_dat:" + r["thua_dat_id"]
        owners[r["thua_dat_id"]].append(int(r["id"]))
    for pid, ids in owners.items():
        for k, i in enumerate(sorted(ids)):
            owner_index["chu_su_dung:%d" % i] = k
    for r in read_csv(os.path.join(d, "giay_chung_nhan.csv")):
        parent["giay_chung_nhan:" + r["id"]] = "thua_dat:" + r["thua_dat_id"]
    return {"parent": parent, "owner_index": owner_index}


def truth_of(world, source, ctx):
    """(record ids of the view, {record id: [invalid defects]})."""
    tdir = os.path.join(world, "truth")
    ids = set(r["record_id"] for r in read_tsv(os.path.join(tdir, source + ".truth.tsv"))
              if r["role"] in MAIN_ROLES)
    invalid = collections.defaultdict(list)
    for r in read_tsv(os.path.join(tdir, source + ".defects.tsv")):
        if r["kind"] not in INVALID:
            continue
        own = r["record_id"]
        rid = ctx["parent"].get(own, own) if ctx else own
        fields = FIELDS[source](own, r["field"], ctx)
        invalid[rid].append({"kind": r["kind"], "field": r["field"], "own_id": own, "expect": fields,
                             "noisy": r["noisy_value"]})
    return ids, invalid


# ---- raw records ---------------------------------------------------------

def build_dn_land_docs(world, out_path):
    """The parcel documents of config/departments.yaml's dn-land query, from the
    CSVs: thua_dat's columns (integers as numbers, the rest as text), `owners`
    (the rows by id) and `certificate` (latest ngay_cap, then highest id, or null)."""
    d = os.path.join(world, "dn-land")
    nul = lambda v: v if v != "" else None
    owners = collections.defaultdict(list)
    for r in read_csv(os.path.join(d, "chu_su_dung.csv")):
        owners[r["thua_dat_id"]].append(r)
    certs = collections.defaultdict(list)
    for r in read_csv(os.path.join(d, "giay_chung_nhan.csv")):
        certs[r["thua_dat_id"]].append(r)
    n = 0
    with open(out_path, "w", encoding="utf-8") as out:
        for t in read_csv(os.path.join(d, "thua_dat.csv")):
            os_ = sorted(owners.get(t["id"], []), key=lambda r: int(r["id"]))
            cs = sorted(certs.get(t["id"], []), key=lambda r: (r["ngay_cap"] != "", r["ngay_cap"], int(r["id"])))
            c = cs[-1] if cs else None
            doc = collections.OrderedDict([
                ("id", int(t["id"])), ("ma_xa", nul(t["ma_xa"])), ("ma_xa_moi", nul(t["ma_xa_moi"])),
                ("so_to", int(t["so_to"])), ("so_thua", int(t["so_thua"])), ("dien_tich", nul(t["dien_tich"])),
                ("loai_dat", nul(t["loai_dat"])), ("dia_chi", nul(t["dia_chi"])), ("updated_at", nul(t["updated_at"])),
                ("owners", [collections.OrderedDict([
                    ("id", int(o["id"])), ("ho_ten", nul(o["ho_ten"])), ("ngay_sinh", nul(o["ngay_sinh"])),
                    ("gioi_tinh", nul(o["gioi_tinh"])), ("loai_giay_to", nul(o["loai_giay_to"])),
                    ("so_giay_to", nul(o["so_giay_to"])), ("dia_chi", nul(o["dia_chi"]))]) for o in os_]),
                ("certificate", collections.OrderedDict([
                    ("id", int(c["id"])), ("so_phat_hanh", nul(c["so_phat_hanh"])),
                    ("so_vao_so", nul(c["so_vao_so"])), ("ngay_cap", nul(c["ngay_cap"]))]) if c else None),
            ])
            payload = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
            env = {"headers": {"lgsp-source": "dn-land", "lgsp-source-id": "thua_dat:" + t["id"],
                               "lgsp-content-type": "application/json"}, "payload": payload}
            out.write(json.dumps(env, ensure_ascii=False) + "\n")
            n += 1
    return n


def file_drop_raw(args, source, work):
    """Runs the file-drop adapter of config/departments.yaml over a copy of the
    view's folder and returns the file of what it published."""
    try:
        import yaml
    except ImportError:
        die("python3-yaml is needed to read %s" % args.config)
    with open(args.config, encoding="utf-8") as f:
        conf = yaml.safe_load(f)
    block = next((a for a in conf.get("adapters", []) if a.get("name") == source), None)
    if not block:
        die("%s: no adapter %s" % (args.config, source))
    drop = os.path.join(work, "drop-" + source)
    shutil.rmtree(drop, ignore_errors=True)
    shutil.copytree(os.path.join(args.world, source), drop)
    block = json.loads(json.dumps(block))
    block["settings"]["dir"] = drop
    block["settings"]["settle"] = "10ms"
    cfg = {"log_level": "warn", "bus": {"endpoint": "tcp://127.0.0.1:7600"}, "security": {"mode": "plain"},
           "journal": {"path": os.path.join(work, "journal")}, "adapters": [block]}
    cpath = os.path.join(work, source + ".adapter.yaml")
    with open(cpath, "w", encoding="utf-8") as f:
        yaml.safe_dump(cfg, f, allow_unicode=True, sort_keys=False)
    out = os.path.join(work, source + ".raw.jsonl")
    state = os.path.join(work, source + ".state")
    for p in (out, state, state + ".ids"):
        if os.path.exists(p):
            os.unlink(p)
    env = dict(os.environ)
    if args.adapter_path:
        env["LGSP_ADAPTER_PATH"] = args.adapter_path
    r = subprocess.run([args.adapter_test, "--config", cpath, "--adapter", source, "--state", state,
                        "--out", out, "--work", work], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        die("lgsp-adapter-test %s failed (%d): %s" % (source, r.returncode, r.stderr[-2000:]))
    last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
    return out, last


def inputs_of(args, source, work):
    """[(file, kind)] to give to lgsp map, and a note on where they came from."""
    w = args.world
    if source in args.raw:
        p = args.raw[source]
        if os.path.isdir(p):
            files = sorted(os.path.join(p, f) for f in os.listdir(p) if f.endswith(".xml"))
            return files, "export files in " + p
        return [p], p
    if source == "qn-population":
        return [os.path.join(w, source, "persons.jsonl")], "persons.jsonl"
    if source == "dn-population":
        return [os.path.join(w, source, "congdan.xml")], "congdan.xml"
    if source == "dn-civil":
        return [os.path.join(w, source, "events.jsonl")], "events.jsonl (webhook bodies)"
    if source == "dn-land":
        out = os.path.join(work, "dn-land.docs.jsonl")
        n = build_dn_land_docs(w, out)
        return [out], "%d parcel documents built from the CSVs" % n
    if args.adapter_test:
        out, last = file_drop_raw(args, source, work)
        return [out], "file-drop adapter (%s)" % last
    if source == "qn-land":
        d = os.path.join(w, source)
        return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".xml")), "export files"
    return None, "needs lgsp-adapter-test (--adapter-test) or --raw %s=FILE" % source


def positions(source, path):
    """[(position as lgsp map prints it, record id)] of an input file, in order."""
    out = []
    if path.endswith(".xml"):
        tag, attr = XML_ID[source]
        rx = re.compile(r"<(?:[\w.-]+:)?%s\b[^>]*?\b%s=\"([^\"]*)\"" % (tag, attr))
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                for m in rx.finditer(line):
                    out.append((str(n), m.group(1)))
        return out
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                o = json.loads(line)
            except ValueError:
                out.append((str(n), None))
                continue
            if isinstance(o, dict) and "payload" in o and isinstance(o.get("headers"), dict):
                out.append((str(n), o["headers"].get("lgsp-source-id")))
            else:
                out.append((str(n), PLAIN_ID[source](o) if source in PLAIN_ID else None))
    return out


def run_map(args, source, path):
    """[(record id, canonical record or None, [errors])] in input order."""
    mapping = os.path.join(args.mappings, source + ".yaml")
    r = subprocess.run([args.lgsp, "map", "-m", mapping, "-i", path, "-d", args.data, "-s", args.schemas],
                       capture_output=True, text=True)
    if r.returncode not in (0, 1):
        die("lgsp map %s %s: exit %d: %s" % (mapping, path, r.returncode, r.stderr[-2000:]))
    # A sanitizer build reports at exit, and may keep the exit status 1.
    san = re.search(r"^(==\d+==ERROR: \w+Sanitizer.*|.*: runtime error: .*)$", r.stderr, re.M)
    if san:
        die("lgsp map %s %s: %s\n%s" % (mapping, path, san.group(1), r.stderr[san.start():][:3000]))
    errors = collections.defaultdict(list)
    prefix = path + ":"
    version = None
    for line in r.stderr.splitlines():
        m = re.match(r"lgsp map: .*\((\S+)\)$", line)
        if m:
            version = m.group(1)
            continue
        if not line.startswith(prefix):
            continue
        m = ERR_RE.match(line[len(prefix):])
        if m:
            errors[m.group("pos")].append(m.groupdict())
        elif " ... and " not in line:
            pos = line[len(prefix):].split(":", 1)[0]
            errors[pos].append({"pos": pos, "rule": "?", "field": "", "msg": line, "mline": "0", "src": None})
    records = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    out, k = [], 0
    pos_ids = positions(source, path)
    unknown = set(errors) - set(p for p, _ in pos_ids)
    if unknown:
        die("lgsp map %s: errors at position(s) %s, where no record starts" % (path, ", ".join(sorted(unknown)[:5])))
    for pos, rid in pos_ids:
        if pos in errors:
            out.append((rid, None, errors[pos]))
            continue
        if k >= len(records):
            die("lgsp map %s: fewer records than inputs without errors (position %s)" % (path, pos))
        rec = records[k]
        k += 1
        got = rec.get("provenance", {}).get("source_record_id")
        if rid is not None and got != rid:
            die("lgsp map %s: position %s is %s but the record says %s" % (path, pos, rid, got))
        out.append((got, rec, []))
    if k != len(records):
        die("lgsp map %s: %d records printed, %d expected" % (path, len(records), k))
    return out, version


# ---- the comparison ------------------------------------------------------

def matches(err, defect):
    if err["rule"] not in INVALID[defect["kind"]] or not defect["expect"]:
        return False
    f = err["field"]
    return any(f == e or f.startswith(e + "/") for e in defect["expect"])


def check_source(args, source, work):
    files, note = inputs_of(args, source, work)
    res = {"source": source, "input": note}
    if files is None:
        res["error"] = note
        return res
    ctx = dn_land_context(args.world) if source == "dn-land" else None
    truth_ids, invalid = truth_of(args.world, source, ctx)
    last = {}
    deliveries = 0
    mixed = set()
    version = None
    for path in files:
        rows, v = run_map(args, source, path)
        version = version or v
        for rid, rec, errs in rows:
            deliveries += 1
            if rid in last and (last[rid][0] is None) != (rec is None):
                mixed.add(rid)
            last[rid] = (rec, errs)
    res["mapping_version"] = version
    res["deliveries"] = deliveries
    res["records"] = len(last)
    res["not_in_truth"] = sorted(set(last) - truth_ids)[:10]
    res["n_not_in_truth"] = len(set(last) - truth_ids)
    res["n_missing"] = len(truth_ids - set(last))
    res["mixed"] = len(mixed)
    clean = [rid for rid in last if rid in truth_ids and rid not in invalid]
    bad = [rid for rid in last if rid in invalid]
    res["clean"] = len(clean)
    res["clean_mapped"] = sum(1 for rid in clean if last[rid][0] is not None)
    res["invalid"] = len(bad)
    res["invalid_quarantined"] = sum(1 for rid in bad if last[rid][0] is None)
    kinds = {k: {"defects": 0, "found": 0, "masked": 0, "missed": 0} for k in INVALID}
    missed, masked, other_errors = [], [], 0
    for rid in bad:
        rec, errs = last[rid]
        found = [any(matches(e, d) for e in errs) for d in invalid[rid]]
        for d, f in zip(invalid[rid], found):
            k = kinds[d["kind"]]
            k["defects"] += 1
            if f:
                k["found"] += 1
            elif rec is None and any(found):
                k["masked"] += 1
                masked.append((rid, d, [o for o, fo in zip(invalid[rid], found) if fo]))
            else:
                k["missed"] += 1
                missed.append((rid, d, errs))
        other_errors += sum(1 for e in errs if not any(matches(e, d) for d in invalid[rid]))
    res["kinds"] = kinds
    res["other_errors_in_invalid"] = other_errors
    # why clean records failed, grouped by rule and field (indexes blanked)
    why = collections.Counter()
    example = {}
    for rid in clean:
        rec, errs = last[rid]
        if rec is None:
            for e in errs:
                key = (e["rule"], re.sub(r"/\d+(?=/|$)", "/N", e["field"]))
                why[key] += 1
                example.setdefault(key, (rid, e["msg"]))
    res["clean_failures"] = [{"rule": k[0], "field": k[1], "count": n, "example": example[k][0],
                              "message": example[k][1]} for k, n in why.most_common()]
    res["missed"] = [{"record": rid, "kind": d["kind"], "field": d["field"], "expected": d["expect"],
                      "noisy": d["noisy"], "errors": ["%s %s" % (e["field"], e["rule"]) for e in errs]}
                     for rid, d, errs in missed]
    res["masked"] = [{"record": rid, "kind": d["kind"], "field": d["field"],
                      "by": ["%s %s" % (o["kind"], o["field"]) for o in by]} for rid, d, by in masked]
    res["clean_ratio"] = res["clean_mapped"] / res["clean"] if res["clean"] else 1.0
    res["ok"] = (res["clean_ratio"] >= CLEAN_TARGET and res["invalid_quarantined"] == res["invalid"]
                 and all(k["missed"] == 0 for k in kinds.values()) and res["n_missing"] == 0)
    return res


def print_table(results, show):
    print("%-14s %8s %7s %7s %8s %8s %6s %6s  %s" % ("source", "records", "clean", "mapped", "mapped%",
                                                    "invalid", "quar.", "other", "result"))
    for r in results:
        if "error" in r:
            print("%-14s %s" % (r["source"], "NOT CHECKED: " + r["error"]))
            continue
        print("%-14s %8d %7d %7d %8.3f %8d %6d %6d  %s" % (
            r["source"], r["records"], r["clean"], r["clean_mapped"], 100.0 * r["clean_ratio"], r["invalid"],
            r["invalid_quarantined"], r["other_errors_in_invalid"], "ok" if r["ok"] else "BELOW TARGET"))
    print()
    print("invalid values: found (right rule on the right field) / masked (by another invalid value of the record) / missed")
    print("%-14s" % "source" + "".join("%20s" % k for k in INVALID))
    for r in results:
        if "error" in r:
            continue
        cells = []
        for k in INVALID:
            c = r["kinds"][k]
            cells.append("%20s" % ("-" if not c["defects"] else "%d/%d/%d of %d" % (
                c["found"], c["masked"], c["missed"], c["defects"])))
        print("%-14s" % r["source"] + "".join(cells))
    for r in results:
        if "error" in r:
            continue
        notes = []
        if r["deliveries"] != r["records"]:
            notes.append("%d deliveries of %d distinct ids" % (r["deliveries"], r["records"]))
        if r["mixed"]:
            notes.append("%d ids both mapped and quarantined across deliveries" % r["mixed"])
        if r["n_missing"]:
            notes.append("%d records of the truth not in the input" % r["n_missing"])
        if r["n_not_in_truth"]:
            notes.append("%d ids not in the truth (e.g. %s)" % (r["n_not_in_truth"], ", ".join(map(str, r["not_in_truth"][:3]))))
        print("\n%s: %s; %s%s" % (r["source"], r["input"], r["mapping_version"],
                                   ("; " + "; ".join(notes)) if notes else ""))
        for f in r["clean_failures"][:show]:
            print("  clean record quarantined: %5d x %s %s  e.g. %s: %s" % (f["count"], f["field"], f["rule"],
                                                                          f["example"], f["message"][:140]))
        for m in r["masked"][:show]:
            print("  masked %s %s on %s by %s" % (m["kind"], m["field"], m["record"], ", ".join(m["by"])))
        for m in r["missed"][:show]:
            print("  missed %s %s on %s (%s; expected at %s): errors %s" % (
                m["kind"], m["field"], m["record"], m["noisy"], m["expected"], m["errors"] or "none (mapped)"))


def main():
    ap = argparse.ArgumentParser(description="Checks the mappings against a generated world's truth.")
    ap.add_argument("--world", required=True, help="lgsp-gen's output folder")
    ap.add_argument("--lgsp", required=True, help="the lgsp binary (lgsp map)")
    ap.add_argument("--data", help="admin reference data (default $LGSP_SHARED/admin or ../shared/data/admin)")
    ap.add_argument("--schemas", default=os.path.join(ROOT, "schemas"))
    ap.add_argument("--mappings", default=os.path.join(ROOT, "schemas", "mappings"))
    ap.add_argument("--config", default=os.path.join(ROOT, "config", "departments.yaml"),
                    help="where the file-drop settings of qn-land and qn-civil are")
    ap.add_argument("--adapter-test", help="lgsp-adapter-test (default: beside --lgsp when it is there)")
    ap.add_argument("--adapter-path", help="LGSP_ADAPTER_PATH for it (default: <build>/adapters)")
    ap.add_argument("--raw", action="append", default=[], metavar="SOURCE=FILE")
    ap.add_argument("--sources", default=",".join(SOURCES))
    ap.add_argument("--work", help="working folder (default: a temporary one, removed)")
    ap.add_argument("--json", help="write the figures there as JSON")
    ap.add_argument("--show", type=int, default=10, help="examples shown per problem (default 10)")
    args = ap.parse_args()
    raw = {}
    for r in args.raw:
        if "=" not in r:
            die("--raw SOURCE=FILE, not %r" % r)
        s, p = r.split("=", 1)
        raw[s] = p
    args.raw = raw
    if not args.data:
        shared = os.environ.get("LGSP_SHARED") or os.path.join(os.path.dirname(ROOT), "shared", "data")
        args.data = os.path.join(shared, "admin")
    bindir = os.path.dirname(os.path.abspath(args.lgsp))
    if not args.adapter_test and os.path.exists(os.path.join(bindir, "lgsp-adapter-test")):
        args.adapter_test = os.path.join(bindir, "lgsp-adapter-test")
    if args.adapter_test and not args.adapter_path:
        args.adapter_path = os.environ.get("LGSP_ADAPTER_PATH") or os.path.join(os.path.dirname(bindir), "adapters")
    sources = [s for s in args.sources.split(",") if s]
    for s in sources:
        if s not in SOURCES:
            die("unknown source %s" % s)
    work = args.work or tempfile.mkdtemp(prefix="lgsp-check-mapping-")
    os.makedirs(work, exist_ok=True)
    try:
        results = [check_source(args, s, work) for s in sources]
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print_table(results, args.show)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, ensure_ascii=False, indent=1)
    if any("error" in r for r in results):
        sys.exit(2)
    sys.exit(0 if all(r["ok"] for r in results) else 1)


if __name__ == "__main__":
    main()
