"""test_kinds.py — entity resolution of parcels and civil events on the
generator's data (docs/entity-resolution.md, "Parcels and civil events"):

  lgsp-gen (seed 1, scale $ER_KINDS_SCALE, default 0.01) -> the raw records
  of qn-land, dn-land, qn-civil and dn-civil as the adapters publish them
  (tests/mapping/check_mapping.py builds them: the file-drop adapter decodes
  qn-civil's TCVN3 / VNI / CP1258 and gives its record ids; dn-land's parcel
  documents are built from the CSVs the way the sql adapter's query builds
  them; dn-civil is the webhook bodies in delivery order, repeats included)
  -> lgsp map -> canonical land_parcel and civil_event records
  -> lgsp dedup --spec config/er/<kind>.yaml --truth, per kind.

The truth is truth/<view>.truth.tsv, role parcel / event, record id
"<source>:<id>". What the generator makes (docs/generator.md): duplicates
inside one register (duplicate, ~1 %; a Quảng Nam re-registration gets a new
number and date, a Đà Nẵng one keeps book and number), dn-civil events
delivered twice with the same event id (dup_delivery), and no parcel or event
in both provinces.

Per kind:
  pair F1 >= 0.98 and blocking pair completeness >= 0.99. At scale 0.01 a
  kind has about 130 (parcels) and 180 (events) true pairs, so 0.98 allows
  two or three wrong or missed pairs; at scale 0.05 both specs measure 1.0000
  (docs), so a change that loses a rule or a comparison shows here. At least
  50 true pairs, so the figures mean something.
  civil events: every repeated delivery is one record (lgsp dedup reads as
  many records as there are distinct event ids), and no entity mixes two
  event types.

$ER_KINDS_SPECS names another folder of <kind>.yaml (to try a change to a
spec). Only synthetic data (lgsp-gen's) is used."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "mapping"))
import check_mapping  # noqa: E402  (the raw records of each source, as the adapters publish them)

CLI = os.environ["LGSP_CLI"]
GEN = os.environ["LGSP_GEN"]
SHARED = os.environ["LGSP_SHARED"]
SCHEMAS = os.environ.get("LGSP_SCHEMAS", os.path.join(ROOT, "schemas"))
SCALE = os.environ.get("ER_KINDS_SCALE", "0.01")
SPECS = os.environ.get("ER_KINDS_SPECS", os.path.join(ROOT, "config", "er"))   # <kind>.yaml, for trying a change
TMP = os.path.join(os.environ.get("LGSP_TEST_TMP", "/tmp"), "er-kinds-%d" % os.getpid())

KINDS = [
    ("land_parcel", "parcel", ["qn-land", "dn-land"]),
    ("civil_event", "event", ["qn-civil", "dn-civil"]),
]
MIN_F1, MIN_COMPLETENESS, MIN_TRUE_PAIRS = 0.98, 0.99, 50

failures = []


def log(msg):
    print(msg, flush=True)


def check(cond, msg):
    if not cond:
        failures.append(msg)
        log("   FAILED: " + msg)


def sanitizer(stderr):
    return "AddressSanitizer" in stderr or "runtime error:" in stderr or "LeakSanitizer" in stderr


def figure(text, pattern):
    m = re.search(pattern, text, re.M)
    if not m:
        raise AssertionError("no /%s/ in:\n%s" % (pattern, text[-3000:]))
    return float(m.group(1))


def map_source(world, work, source):
    """The canonical records of one source: (file, distinct record ids)."""
    args = types.SimpleNamespace(world=world, raw={}, config=os.path.join(ROOT, "config", "departments.yaml"),
                                 adapter_test=os.path.join(os.path.dirname(CLI), "lgsp-adapter-test"),
                                 adapter_path=os.environ["LGSP_ADAPTER_PATH"])
    files, note = check_mapping.inputs_of(args, source, work)
    if files is None:
        raise AssertionError("%s: no raw records (%s)" % (source, note))
    out = os.path.join(work, source + ".canonical.jsonl")
    ids, lines = set(), 0
    with open(out, "w", encoding="utf-8") as f:
        for path in files:
            r = subprocess.run([CLI, "map", "-m", os.path.join(SCHEMAS, "mappings", source + ".yaml"), "-i", path,
                                "-d", os.path.join(SHARED, "admin"), "-s", SCHEMAS],
                               capture_output=True, text=True)
            # 1: some records hold invalid values and are quarantined (tests/mapping checks which)
            if r.returncode not in (0, 1) or sanitizer(r.stderr):
                raise AssertionError("lgsp map %s: exit %d: %s" % (source, r.returncode, r.stderr[-3000:]))
            f.write(r.stdout)
            for line in r.stdout.splitlines():
                if line.strip():
                    ids.add(json.loads(line)["provenance"]["source_record_id"])
                    lines += 1
    log("   %s: %d canonical records, %d distinct ids (%s)" % (source, lines, len(ids), note))
    return out, ids, lines


def main():
    shutil.rmtree(TMP, ignore_errors=True)
    os.makedirs(TMP)
    world, work = os.path.join(TMP, "world"), os.path.join(TMP, "work")
    os.makedirs(work)
    t0 = time.monotonic()
    subprocess.run([GEN, "--seed", "1", "--scale", SCALE, "--out", world, "--quiet", "--data", SHARED], check=True)
    log("== lgsp-gen scale %s (%.1f s)" % (SCALE, time.monotonic() - t0))
    results = {}
    for kind, role, sources in KINDS:
        log("== %s" % kind)
        t0 = time.monotonic()
        inputs, ids, lines = [], {}, {}
        for s in sources:
            path, ids[s], lines[s] = map_source(world, work, s)
            inputs.append(path)
        truth_path = os.path.join(work, kind + ".truth.tsv")
        n_truth = 0
        with open(truth_path, "w", encoding="utf-8") as out:
            for s in sources:
                with open(os.path.join(world, "truth", s + ".truth.tsv"), encoding="utf-8") as f:
                    next(f)
                    for line in f:
                        rid, r, ent = line.rstrip("\n").split("\t")
                        if r == role:
                            out.write("%s:%s\t%s\n" % (s, rid, ent))
                            n_truth += 1
        outdir = os.path.join(work, kind + ".out")
        args = [CLI, "dedup", "--spec", os.path.join(SPECS, kind + ".yaml"), "--threads", "2",
                "--truth", truth_path, "--out", outdir]
        for i in inputs:
            args += ["--input", i]
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode != 0 or sanitizer(r.stderr):
            check(False, "lgsp dedup %s: exit %d\n%s\n%s" % (kind, r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
            continue
        for line in r.stdout.splitlines():
            if line.startswith(("records ", "truth:", "pairs:", "clusters:", "blocking:", "dedup:")):
                log("   " + line)
        records = int(figure(r.stdout, r"^records (\d+)"))
        known = int(figure(r.stdout, r"^truth: (\d+) of \d+ records known"))
        true_pairs = figure(r.stdout, r"^truth: \d+ of \d+ records known, (\d+) true pairs")
        f1 = figure(r.stdout, r"^pairs: precision [0-9.]+, recall [0-9.]+, F1 ([0-9.]+)")
        pc = figure(r.stdout, r"^blocking: pair completeness ([0-9.]+)")
        distinct = sum(len(v) for v in ids.values())
        check(records == distinct, "%s: lgsp dedup read %d records, the sources have %d distinct ids"
              % (kind, records, distinct))
        check(known == records, "%s: the truth knows %d of %d records" % (kind, known, records))
        check(true_pairs >= MIN_TRUE_PAIRS, "%s: only %d true pairs: nothing to measure" % (kind, true_pairs))
        check(f1 >= MIN_F1, "%s: pair F1 %.4f < %.2f" % (kind, f1, MIN_F1))
        check(pc >= MIN_COMPLETENESS, "%s: pair completeness %.4f < %.2f" % (kind, pc, MIN_COMPLETENESS))
        if kind == "civil_event":
            # dn-civil delivers some events twice: the same id is one record
            repeats = lines["dn-civil"] - len(ids["dn-civil"])
            check(repeats > 0, "civil_event: no repeated delivery in dn-civil (the generator's dup_delivery)")
            log("   dn-civil: %d repeated deliveries read as the records they repeat" % repeats)
            # an entity never mixes a birth with a marriage or a death
            etype = {}
            for path in inputs:
                with open(path, encoding="utf-8") as f:
                    for line in f:
                        o = json.loads(line)
                        p = o["provenance"]
                        etype["%s:%s" % (p["source_system"], p["source_record_id"])] = o["event_type"]
            mixed = 0
            with open(os.path.join(outdir, "entities.jsonl"), encoding="utf-8") as f:
                for line in f:
                    e = json.loads(line)
                    mixed += len({etype[rid] for rid in e["records"]}) > 1
            check(mixed == 0, "civil_event: %d entities mix event types" % mixed)
        results[kind] = (f1, pc, true_pairs)
        log("   %s: %.1f s" % (kind, time.monotonic() - t0))
    for kind, (f1, pc, tp) in sorted(results.items()):
        log("er kinds scale %s: %s pair F1 %.4f, pair completeness %.4f (%d true pairs)" % (SCALE, kind, f1, pc, tp))
    if failures:
        log("FAILED: %d check(s)" % len(failures))
        return 1
    shutil.rmtree(TMP, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
