"""test_dedup.py — entity resolution end to end with the lgsp CLI on the
generator's data (docs/entity-resolution.md):

  lgsp-gen (scale $ER_SCALE, default 0.01) -> lgsp map of qn-population and
  dn-population -> canonical person records; the truth is
  truth/<view>.truth.tsv, role person, record id "<source>:<id>".

  quality       lgsp dedup --truth: pair F1 >= 0.98, pair completeness >= 0.99
  incremental   run 1 on 80 % of the records with --store, run 2 on all:
                every entity of run 1 whose records are unchanged keeps its
                id; the new records get new ids or join existing entities
  unlink        lgsp decide unlink of a true pair survives a re-run (the two
                end in different entities); lgsp decide list shows who / when
  explain       text and --json: the waterfall adds up to the total, every
                comparison of the spec is there
  csv           "any CSV": records with foreign column names (FullName, DOB
                as dd/mm/yyyy, NationalID, Gender) and planted duplicates,
                --column ... --source ext: the duplicates are found
  bad input     errors name the file, the line, the record and the field

Every step runs even when an earlier one failed (when it can); the exit
status is 1 if any failed. Only synthetic data (lgsp-gen's) is used."""
import calendar
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SPEC = os.environ.get("LGSP_ER_SPEC", os.path.join(ROOT, "config", "er", "person.yaml"))
CLI = os.environ["LGSP_CLI"]
GEN = os.environ["LGSP_GEN"]
SHARED = os.environ["LGSP_SHARED"]
SCHEMAS = os.environ.get("LGSP_SCHEMAS", os.path.join(ROOT, "schemas"))
SCALE = os.environ.get("ER_SCALE", "0.01")
TMP = os.path.join(os.environ.get("LGSP_TEST_TMP", "/tmp"), "er-dedup-%d" % os.getpid())
SOURCES = [("qn-population", "persons.jsonl"), ("dn-population", "congdan.xml")]

failures = []


def log(msg):
    print(msg, flush=True)


def step(fn):
    """Runs one step; a failure is recorded and the next steps still run."""
    t0 = time.monotonic()
    log("== %s" % fn.__name__)
    try:
        fn()
        log("   ok (%.1f s)" % (time.monotonic() - t0))
    except Exception:  # noqa: BLE001 — every failure is reported, then the next step
        failures.append(fn.__name__)
        log("   FAILED:\n" + traceback.format_exc())


def run(args, ok=(0,), **kw):
    r = subprocess.run([CLI] + args, capture_output=True, text=True, **kw)
    if r.returncode not in ok:
        raise AssertionError("lgsp %s: exit %d\nstdout: %s\nstderr: %s" % (
            " ".join(args), r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
    if "AddressSanitizer" in r.stderr or "runtime error:" in r.stderr:
        raise AssertionError("lgsp %s: sanitizer report\n%s" % (" ".join(args), r.stderr[-4000:]))
    return r


def dedup(inputs, *extra, ok=(0,)):
    args = ["dedup", "--spec", SPEC, "--threads", "2"]
    for i in inputs:
        args += ["--input", i]
    return run(args + list(extra), ok=ok)


def entities(out_dir):
    """[{entity, records, golden}] of an --out directory."""
    with open(os.path.join(out_dir, "entities.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def figure(text, pattern):
    m = re.search(pattern, text)
    if not m:
        raise AssertionError("no /%s/ in the output:\n%s" % (pattern, text))
    return float(m.group(1))


# ---- the data --------------------------------------------------------------

W = {}   # what the steps share


def setup():
    shutil.rmtree(TMP, ignore_errors=True)
    os.makedirs(TMP)
    world = os.path.join(TMP, "world")
    subprocess.run([GEN, "--seed", "7", "--scale", SCALE, "--out", world, "--quiet", "--data", SHARED],
                   check=True)
    inputs, truth = [], {}
    for source, raw in SOURCES:
        out = os.path.join(TMP, source + ".jsonl")
        with open(out, "w", encoding="utf-8") as f:
            r = subprocess.run([CLI, "map", "-m", os.path.join(SCHEMAS, "mappings", source + ".yaml"),
                                "-i", os.path.join(world, source, raw), "-d", os.path.join(SHARED, "admin"),
                                "-s", SCHEMAS], stdout=f, stderr=subprocess.PIPE, text=True)
        # 1: some records had invalid values (quarantined, as the mapping tests check)
        assert r.returncode in (0, 1), "lgsp map %s: exit %d: %s" % (source, r.returncode, r.stderr[-2000:])
        inputs.append(out)
        with open(os.path.join(world, "truth", source + ".truth.tsv"), encoding="utf-8") as f:
            next(f)
            for line in f:
                rid, role, ent = line.rstrip("\n").split("\t")
                if role == "person":
                    truth["%s:%s" % (source, rid)] = ent
    tpath = os.path.join(TMP, "truth.tsv")
    with open(tpath, "w", encoding="utf-8") as f:
        for rid, ent in sorted(truth.items()):
            f.write("%s\t%s\n" % (rid, ent))
    records = {}   # record id -> canonical record
    lines = {}     # input file -> [(record id, line)]
    for path in inputs:
        lines[path] = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                rid = "%s:%s" % (rec["provenance"]["source_system"], rec["provenance"]["source_record_id"])
                records[rid] = rec
                lines[path].append((rid, line))
    assert len(records) > 1000, "only %d records mapped" % len(records)
    W.update(inputs=inputs, truth=truth, truth_path=tpath, records=records, lines=lines)
    log("   %d records, %d with a truth" % (len(records), sum(1 for r in records if r in truth)))


# ---- the steps -------------------------------------------------------------

def incremental_and_quality():
    """Run 1 on 80 % of the records, run 2 on all (with --truth): ids stay."""
    rnd = random.Random(11)
    part = []
    first = set()
    for path in W["inputs"]:
        p = os.path.join(TMP, "part-" + os.path.basename(path))
        with open(p, "w", encoding="utf-8") as f:
            for rid, line in W["lines"][path]:
                if rnd.random() < 0.8:
                    f.write(line)
                    first.add(rid)
        part.append(p)
    store = os.path.join(TMP, "store")
    out1, out2 = os.path.join(TMP, "out1"), os.path.join(TMP, "out2")
    r1 = dedup(part, "--store", store, "--out", out1)
    assert "entities: 0 kept their id" in r1.stdout, r1.stdout
    r2 = dedup(W["inputs"], "--store", store, "--out", out2, "--truth", W["truth_path"])
    log("   " + "\n   ".join(r2.stdout.strip().splitlines()))
    W.update(store=store, out2=out2)

    # quality, as lgsp dedup --truth prints it
    f1 = figure(r2.stdout, r"pairs: precision [0-9.]+, recall [0-9.]+, F1 ([0-9.]+)")
    pc = figure(r2.stdout, r"blocking: pair completeness ([0-9.]+)")
    known = figure(r2.stdout, r"truth: (\d+) of \d+ records known")
    assert known == len(W["records"]), "the truth covers %d of %d records" % (known, len(W["records"]))
    assert f1 >= 0.98, "pair F1 %.4f < 0.98" % f1
    assert pc >= 0.99, "pair completeness %.4f < 0.99" % pc
    summary = json.load(open(os.path.join(out2, "summary.json"), encoding="utf-8"))
    assert abs(summary["quality"]["pair_f1"] - f1) < 1e-3, summary["quality"]

    # stable ids
    e1, e2 = entities(out1), entities(out2)
    assert all(e.get("entity") for e in e1 + e2), "an entity without an id"
    ids1 = {e["entity"]: set(e["records"]) for e in e1}
    assert len(ids1) == len(e1), "entity ids of run 1 are not unique"
    of1 = {r: e["entity"] for e in e1 for r in e["records"]}
    assert set(of1) == first
    ids2 = {e["entity"]: set(e["records"]) for e in e2}
    assert len(ids2) == len(e2), "entity ids of run 2 are not unique"
    assert sum(len(r) for r in ids2.values()) == len(W["records"])
    kept = joined = new = 0
    for eid, recs in ids2.items():
        old = recs & first
        if not old:
            # only new records: a new id, never one of run 1
            assert eid not in ids1, "entity %s of new records reuses a run-1 id" % eid
            new += 1
            continue
        olds = {of1[r] for r in old}
        if len(olds) == 1 and ids1[next(iter(olds))] == old:
            # the same records as one entity of run 1 (plus new ones, maybe): its id
            assert eid == next(iter(olds)), "entity %s of run 1 (%s) is now %s" % (
                next(iter(olds)), sorted(old)[:3], eid)
            kept += 1
            joined += len(recs - old) > 0
    unchanged = [eid for eid, recs in ids1.items() if ids2.get(eid) == recs]
    changed = len(ids1) - len(unchanged)
    log("   run 2: %d entities kept their id (%d joined by new records), %d new; %d of run 1 changed"
        % (kept, joined, new, changed))
    assert kept >= 0.99 * len(ids1), "only %d of %d entities kept their id" % (kept, len(ids1))
    assert joined > 0, "no new record joined an entity of run 1"
    assert new > 0, "no new entity"


def unlink_survives():
    store, out2 = W["store"], W["out2"]
    truth = W["truth"]
    # a true pair the run put together: an entity of exactly two records,
    # one of each source
    pair = None
    for e in entities(out2):
        recs = sorted(e["records"])
        if len(recs) == 2 and truth.get(recs[0]) == truth.get(recs[1]) and recs[0].split(":")[0] != recs[1].split(":")[0]:
            pair = recs
            break
    assert pair, "no true pair of two sources was merged"
    W["pair"] = pair
    r = run(["decide", "--store", store, "--kind", "person", "unlink", pair[0], pair[1], "--who", "t",
             "--note", "test: not the same"])
    assert "recorded" in r.stdout, r.stdout
    out3 = os.path.join(TMP, "out3")
    dedup(W["inputs"], "--store", store, "--out", out3, "--quiet")
    of = {rid: e["entity"] for e in entities(out3) for rid in e["records"]}
    assert of[pair[0]] != of[pair[1]], "unlinked %s and %s are still entity %s" % (pair[0], pair[1], of[pair[0]])
    # and the other entities stay as they were
    before = {rid: e["entity"] for e in entities(out2) for rid in e["records"]}
    moved = [rid for rid in before if rid not in pair and before[rid] != of[rid]]
    assert len(moved) <= 2, "the unlink moved other records: %s" % moved[:5]
    # who and when
    r = run(["decide", "--store", store, "--kind", "person", "list"])
    rows = [line.split("\t") for line in r.stdout.splitlines() if line.strip()]
    mine = [row for row in rows if set(row[2:4]) == set(pair)]
    assert mine, "lgsp decide list does not show the unlink:\n" + r.stdout
    when, kind, _, _, who, note = mine[0][:6]
    assert kind == "unlink" and who == "t" and note == "test: not the same", mine[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", when), when
    t = calendar.timegm(time.strptime(when, "%Y-%m-%dT%H:%M:%SZ"))
    assert abs(t - time.time()) < 3600, "decided at %s, not now" % when
    # a bad decision is refused
    run(["decide", "--store", store, "--kind", "person", "unlink", pair[0], "--who", "t"], ok=(2,))
    run(["decide", "--store", store, "--kind", "person", "merge", pair[0], pair[1], "--who", "t"], ok=(2,))


def explain():
    pair = W.get("pair")
    if not pair:   # the unlink step failed before choosing one
        truth = W["truth"]
        byent = {}
        for rid in sorted(W["records"]):
            byent.setdefault(truth.get(rid), []).append(rid)
        pair = next(v[:2] for k, v in byent.items() if k and len(v) >= 2)
    args = ["explain", "--spec", SPEC, "--store", W["store"]]
    for i in W["inputs"]:
        args += ["--input", i]
    j = json.loads(run(args + [pair[0], pair[1], "--json"]).stdout)   # options may follow the ids
    assert {j["a"], j["b"]} == set(pair), (j["a"], j["b"])
    names = [c["comparison"] for c in j["comparisons"]]
    spec_names = re.findall(r"^\s*- \{ name: (\w+),", open(SPEC, encoding="utf-8").read(), re.M)
    assert names == spec_names, "comparisons %s, the spec has %s" % (names, spec_names)
    total = j["prior"]["weight"] + sum(c["weight"] for c in j["comparisons"])
    assert abs(total - j["total_weight"]) < 1e-6, (total, j["total_weight"])
    for c in j["comparisons"]:
        assert {"comparison", "field", "a", "b", "level", "weight"} <= set(c), c
        if c["level"] != "missing":
            assert 0 < c["m"] <= 1 and 0 < c["u"] <= 1, c
    p = 1 / (1 + 2 ** -j["total_weight"])
    assert abs(p - j["probability"]) < 1e-6
    assert j["verdict"] in ("match", "possible match", "non-match")
    # a true pair of the generator's, merged by the run: the model agrees
    assert j["verdict"] == "match", j
    # the text: one line per comparison, and its weights add up too
    t = run(args + [pair[0], pair[1]]).stdout
    lines = t.splitlines()
    assert pair[0] in lines[0] and pair[1] in lines[0], lines[0]
    ws = {}
    for line in lines[1:]:
        m = re.match(r"\s+(\S+)\s.*?([+-]\d+\.\d\d)(?: [+-]*)?(?: \(term frequency\))?$", line)
        if m:
            ws[m.group(1)] = float(m.group(2))
    assert set(spec_names) <= set(ws), "comparisons in the text: %s" % sorted(ws)
    s = ws["prior"] + sum(ws[n] for n in spec_names)
    assert abs(s - ws["total"]) <= 0.01 * (len(spec_names) + 1), (s, ws["total"])
    assert abs(ws["total"] - j["total_weight"]) < 0.006
    assert "probability" in lines[-1] and j["verdict"] in lines[-1], lines[-1]
    # a record that is not there
    r = run(args + [pair[0], "qn-population:NOSUCH"], ok=(2,))
    assert "qn-population:NOSUCH" in r.stderr, r.stderr


def any_csv():
    """Foreign column names, dd/mm/yyyy, planted duplicates."""
    rnd = random.Random(5)
    recs = [r for rid, r in sorted(W["records"].items())
            if rid.startswith("qn-population:") and r.get("personal_id") and r.get("birth_date", {}).get("precision") == "full"]
    rnd.shuffle(recs)
    recs = recs[:3000]
    rows, planted = [], []
    gender = {"male": "M", "female": "F"}

    def row(no, name, dob, pid, sex):
        y, m, d = dob.split("-")
        return [str(no), name, "%s/%s/%s" % (d, m, y), pid, gender.get(sex, "")]

    no = 1000
    for k, r in enumerate(recs):
        rows.append(row(no, r["name"]["full"], r["birth_date"]["value"], r["personal_id"], r.get("sex")))
        if k < 150:
            # a second row of the same person: no marks, the ID spaced, or
            # the name typed again with a missing middle name
            name, pid = r["name"]["full"], r["personal_id"]
            kind = k % 3
            if kind == 0:
                name = strip_marks(name)
            elif kind == 1:
                pid = "%s %s %s" % (pid[:3], pid[3:6], pid[6:])
            else:
                parts = name.split()
                if len(parts) > 2:
                    name = " ".join([parts[0]] + parts[2:])
            rows.append(row(no + 500000, name, r["birth_date"]["value"], pid, r.get("sex")))
            planted.append(("ext:%d" % no, "ext:%d" % (no + 500000)))
        no += 1
    rnd.shuffle(rows)
    path = os.path.join(TMP, "external.csv")
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("RecordNo,FullName,DOB,NationalID,Gender\n")
        for r in rows:
            f.write(",".join('"%s"' % v if "," in v else v for v in r) + "\n")
    out = os.path.join(TMP, "out-csv")
    r = dedup([path], "--column", "id=RecordNo", "--column", "full_name=FullName", "--column",
              "birth_date=DOB:dd/mm/yyyy", "--column", "personal_id=NationalID", "--column", "sex=Gender",
              "--source", "ext", "--out", out, "--quiet")
    assert re.search(r"records %d \(values unreadable: 0\)" % len(rows), r.stdout), r.stdout
    of = {rid: e["cluster"] for e in entities(out) for rid in e["records"]}
    assert len(of) == len(rows)
    found = sum(of[a] == of[b] for a, b in planted)
    # the register has duplicates of its own (the generator's): a row's
    # true person is its source record's
    truth = W["truth"]
    who = {}
    for k, r in enumerate(recs):
        t = truth["qn-population:" + r["provenance"]["source_record_id"]]
        who["ext:%d" % (1000 + k)] = who["ext:%d" % (1000 + k + 500000)] = t
    wrong = [e["records"] for e in entities(out) if len({who[r] for r in e["records"]}) > 1]
    merged = sum(1 for e in entities(out) if len(e["records"]) > 1)
    log("   %d rows, %d planted duplicates, %d found, %d entities of several rows, %d wrong"
        % (len(rows), len(planted), found, merged, len(wrong)))
    assert found >= 0.98 * len(planted), "found %d of %d planted duplicates" % (found, len(planted))
    assert len(wrong) <= 1, "entities of several people: %s" % wrong[:3]
    # the golden record of a planted pair keeps the name with its marks
    for e in entities(out):
        if set(e["records"]) == set(planted[0]):
            assert e["golden"]["full_name"]["value"] == recs[0]["name"]["full"], e
            assert e["golden"]["birth_date"]["value"] == recs[0]["birth_date"]["value"], e


def strip_marks(s):
    import unicodedata
    s = s.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn")


def bad_input():
    # a CSV: a date that is not one, a row without an id
    path = os.path.join(TMP, "bad.csv")
    with open(path, "w", encoding="utf-8") as f:
        f.write("RecordNo,FullName,DOB\n1,Lê Văn Tư,05/03/1980\n2,Lê Văn Tư,31/02/1980\n,Lê Văn Tư,01/01/1980\n"
                "4,Lê Văn Tư,05/03/1980\n")
    r = dedup([path], "--column", "id=RecordNo", "--column", "full_name=FullName", "--column",
              "birth_date=DOB:dd/mm/yyyy", "--source", "ext", "--no-train", ok=(0,))
    err = r.stderr
    assert re.search(re.escape(path) + r":3: record ext:2: birth_date: not a date", err), err
    assert re.search(re.escape(path) + r":4: .*id", err), err
    assert "records 3 (values unreadable: 2)" in r.stdout, r.stdout
    # JSON lines: a line that is not JSON, a record without an id, a bad date
    good = W["lines"][W["inputs"][0]][0][1]
    rec = json.loads(good)
    rid = rec["provenance"]["source_record_id"]
    rec2 = json.loads(good)
    rec2["provenance"]["source_record_id"] = rid + "X"
    rec2["birth_date"]["value"] = "1980-02-30"
    rec3 = json.loads(good)
    del rec3["provenance"]["source_record_id"]
    path = os.path.join(TMP, "bad.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        f.write(good + '{"schema": "person.v1", \n' + json.dumps(rec2) + "\n" + json.dumps(rec3) + "\n")
    r = dedup([path], "--no-train", ok=(0,))
    err = r.stderr
    assert re.search(re.escape(path) + r":2: ", err), err
    assert re.search(re.escape(path) + r":3: record qn-population:%sX: birth_date: not a date" % rid, err), err
    assert re.search(re.escape(path) + r":4: .*no record id", err), err
    # a column the file does not have; a field the spec does not have; a spec that is wrong
    r = dedup([os.path.join(TMP, "bad.csv")], "--column", "id=RecordNo", "--column", "personal_id=CCCD",
              "--source", "ext", ok=(2,))
    assert "bad.csv" in r.stderr and "personal_id" in r.stderr and "CCCD" in r.stderr, r.stderr
    r = dedup([os.path.join(TMP, "bad.csv")], "--column", "national_id=CCCD", ok=(2,))
    assert "no field 'national_id'" in r.stderr, r.stderr
    r = dedup([os.path.join(TMP, "bad.csv")], "--column", "birth_date=DOB:dd-mm-yy", ok=(2,))
    assert "birth_date=DOB:dd-mm-yy" in r.stderr and "date format" in r.stderr, r.stderr
    spec = os.path.join(TMP, "bad-spec.yaml")
    with open(SPEC, encoding="utf-8") as f:
        text = f.read()
    lines = text.splitlines()
    k = next(i for i, line in enumerate(lines) if "field: birth_date" in line)
    lines[k] = lines[k].replace("field: birth_date", "field: birthday")
    with open(spec, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    r = run(["dedup", "--spec", spec, "--input", path], ok=(2,))
    assert re.search(re.escape(spec) + r":%d: .*no field 'birthday'" % (k + 1), r.stderr), r.stderr
    r = dedup([os.path.join(TMP, "nosuch.jsonl")], ok=(2,))
    assert "nosuch.jsonl" in r.stderr, r.stderr


def main():
    t0 = time.monotonic()
    setup()
    for fn in (incremental_and_quality, unlink_survives, explain, any_csv, bad_input):
        step(fn)
    log("%d steps failed%s, %.1f s" % (len(failures), (": " + ", ".join(failures)) if failures else "",
                                        time.monotonic() - t0))
    if not failures:
        shutil.rmtree(TMP, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
