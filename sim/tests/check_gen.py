#!/usr/bin/python3
"""Checks lgsp-gen output (suite 'sim'). Standard library only.

usage: check_gen.py CHECK --gen LGSP_GEN --vnconv LGSP_VNCONV --data SHARED_DATA
                    [--noise-file FILE] [--keep DIR]
checks: determinism ids codes coverage rates legacy cli

Each check runs the generator into a temporary folder and exits non-zero with
a message on the first class of failure it finds.
"""
import argparse
import collections
import csv
import glob
import hashlib
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
import xml.etree.ElementTree as ET

VIEWS = ["qn-population", "dn-population", "qn-land", "dn-land", "qn-civil", "dn-civil"]
MENTION_ROLES = {"person", "owner", "owner1", "owner2", "child", "father", "mother",
                 "husband", "wife", "deceased"}
MAIN_ROLES = {"qn-population": {"person"}, "dn-population": {"person"},
              "qn-land": {"parcel"}, "dn-land": {"parcel", "owner", "certificate"},
              "qn-civil": {"event"}, "dn-civil": {"event"}}
FAILS = []


def fail(msg):
    FAILS.append(msg)
    if len(FAILS) <= 30:
        print("FAIL:", msg, file=sys.stderr)


def run_gen(args, out, seed=1, scale=0.01, extra=()):
    cmd = [args.gen, "--seed", str(seed), "--scale", str(scale), "--out", out, "--data", args.data,
           "--quiet"] + list(extra)
    t = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout, r.stderr, file=sys.stderr)
        raise SystemExit("lgsp-gen failed: %s" % " ".join(cmd))
    print("ran %s (%.1f s): %s" % (" ".join(cmd[1:7]), time.time() - t, r.stdout.strip()))
    return r.stdout


def tsv(path):
    with open(path, encoding="utf-8", newline="") as f:
        rd = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        hdr = next(rd)
        for row in rd:
            yield dict(zip(hdr, [unesc(x) for x in row]))


def unesc(s):
    if "\\" not in s:
        return s
    return re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}[m.group(1)], s)


def load_ref(data):
    old, new = {}, {}
    with open(os.path.join(data, "admin/units_before_2025.csv"), encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["commune_code"]:
                old[r["commune_code"]] = r
    with open(os.path.join(data, "admin/units_2025.csv"), encoding="utf-8") as f:
        for r in csv.DictReader(f):
            new[r["commune_code"]] = r
    mapping = collections.defaultdict(set)
    with open(os.path.join(data, "admin/mapping_2025.csv"), encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["old_commune_code"]:
                mapping[r["old_commune_code"]].add(r["new_commune_code"])
    ppp = set()
    with open(os.path.join(data, "admin/cccd_birth_registration_codes.csv"), encoding="utf-8") as f:
        for r in csv.DictReader(f):
            ppp.add(r["cccd_code"])
    return old, new, mapping, ppp


def view_truth(out, view):
    recs = collections.defaultdict(list)
    for r in tsv(os.path.join(out, "truth", view + ".truth.tsv")):
        recs[r["record_id"]].append((r["role"], r["entity_id"]))
    return recs


def defects(out, view):
    return list(tsv(os.path.join(out, "truth", view + ".defects.tsv")))


# ---- parsing the views ------------------------------------------------------

def parse_qn_pop(out):
    with open(os.path.join(out, "qn-population/persons.jsonl"), encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


def parse_dn_pop(out):
    ns = "{urn:lgsp-sim:dn-dancu:1}"
    for ev, el in ET.iterparse(os.path.join(out, "dn-population/congdan.xml")):
        if el.tag == ns + "CongDan":
            d = {"id": el.get("id"), "capNhat": el.get("capNhat")}
            for c in el.iter():
                if c is not el and len(c) == 0:
                    d[c.tag[len(ns):]] = c.text or ""
            yield d
            el.clear()


def parse_qn_land(out):
    files = sorted(glob.glob(os.path.join(out, "qn-land/*.xml")))
    if not files:
        fail("qn-land: no XML files")
    for path in files:
        for ev, el in ET.iterparse(path):
            if el.tag == "ThuaDat":
                d = {"id": el.get("maThuaDat"), "MaXa": el.findtext("MaXa"), "owners": [],
                     "DienTich": el.findtext("DienTich"), "file": os.path.basename(path)}
                for o in el.findall("ChuSuDung"):
                    g = o.find("GiayTo")
                    d["owners"].append({"stt": o.get("stt"), "HoTen": o.findtext("HoTen"),
                                        "loai": g.get("loai") if g is not None else None,
                                        "so": (g.text or "") if g is not None else ""})
                gcn = el.find("GiayChungNhan")
                d["seri"] = gcn.findtext("SoPhatHanh") if gcn is not None else None
                yield d
                el.clear()


def read_csv(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def parse_dn_land(out):
    d = os.path.join(out, "dn-land")
    return (read_csv(os.path.join(d, "thua_dat.csv")), read_csv(os.path.join(d, "chu_su_dung.csv")),
            read_csv(os.path.join(d, "giay_chung_nhan.csv")))


def encodings(out):
    enc = {}
    with open(os.path.join(out, "qn-civil/_encodings.csv"), encoding="utf-8") as f:
        for r in csv.DictReader(f):
            enc[r["ma_xa"]] = r["encoding"]
    return enc


def decode_file(args, path, encoding):
    raw = open(path, "rb").read()
    if encoding == "UTF-8":
        if not raw.startswith(b"\xef\xbb\xbf"):
            fail("%s: UTF-8 export without BOM" % path)
        return raw[3:].decode("utf-8")
    if encoding == "CP1258":
        r = subprocess.run(["iconv", "-f", "CP1258", "-t", "UTF-8"], input=raw, capture_output=True)
        if r.returncode != 0:
            fail("%s: iconv CP1258 failed: %s" % (path, r.stderr[:200]))
        text = r.stdout.decode("utf-8")
        # python's own cp1258 codec, recomposed, must agree with glibc
        alt = unicodedata.normalize("NFC", raw.decode("cp1258"))
        if alt != text:
            fail("%s: python cp1258 and glibc iconv disagree" % path)
        return text
    r = subprocess.run([args.vnconv, "-d", encoding, path], capture_output=True)
    if r.returncode != 0:
        fail("%s: %s does not decode: %s" % (path, encoding, r.stderr.decode()[:200]))
    return r.stdout.decode("utf-8")


CIVIL_TYPE = {"khai-sinh": "KS", "ket-hon": "KH", "khai-tu": "KT"}


def parse_qn_civil(args, out):
    enc = encodings(out)
    files = sorted(glob.glob(os.path.join(out, "qn-civil/2*.csv")))
    if not files:
        fail("qn-civil: no CSV files")
    for path in files:
        base = os.path.basename(path)
        m = re.match(r"^(\d{5})_[a-z0-9-]+_(khai-sinh|ket-hon|khai-tu)\.csv$", base)
        if not m:
            fail("qn-civil: unexpected file name %s" % base)
            continue
        code, kind = m.group(1), CIVIL_TYPE[m.group(2)]
        if code not in enc:
            fail("qn-civil: %s not in _encodings.csv" % code)
            continue
        raw = open(path, "rb").read()
        if b"\r\n" not in raw:
            fail("%s: not CRLF" % base)
        text = decode_file(args, path, enc[code])
        rows = list(csv.reader(io.StringIO(text, newline="")))
        hdr, body = rows[0], rows[1:]
        for row in body:
            rid = "%s/%s/%s/%s" % (code, kind, row[1], row[0])
            yield {"rid": rid, "file": base, "encoding": enc[code], "kind": kind, "header": hdr,
                   "row": row, "code": code}


def parse_dn_civil(out):
    with open(os.path.join(out, "dn-civil/events.jsonl"), encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


def view_record_ids(args, out, view):
    ids = []
    if view == "qn-population":
        ids = [r["id"] for r in parse_qn_pop(out)]
    elif view == "dn-population":
        ids = [r["id"] for r in parse_dn_pop(out)]
    elif view == "qn-land":
        ids = [r["id"] for r in parse_qn_land(out)]
    elif view == "dn-land":
        p, o, c = parse_dn_land(out)
        ids = (["thua_dat:" + r["id"] for r in p] + ["chu_su_dung:" + r["id"] for r in o] +
               ["giay_chung_nhan:" + r["id"] for r in c])
    elif view == "qn-civil":
        ids = [r["rid"] for r in parse_qn_civil(args, out)]
    elif view == "dn-civil":
        ids = [r["event_id"] for r in parse_dn_civil(out)]
    return ids


# ---- checks ---------------------------------------------------------------

def tree_digest(root):
    h = {}
    for dp, dn, fn in os.walk(root):
        for f in fn:
            p = os.path.join(dp, f)
            h[os.path.relpath(p, root)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return h


def check_determinism(args, tmp):
    a, b, c = (os.path.join(tmp, x) for x in ("a", "b", "c"))
    run_gen(args, a, seed=42, scale=0.004)
    run_gen(args, b, seed=42, scale=0.004)
    run_gen(args, c, seed=43, scale=0.004)
    da, db, dc = tree_digest(a), tree_digest(b), tree_digest(c)
    if len(da) < 20:
        fail("too few output files: %d" % len(da))
    if da != db:
        diff = [k for k in set(da) | set(db) if da.get(k) != db.get(k)]
        fail("same seed and scale differ in %d files, e.g. %s" % (len(diff), sorted(diff)[:5]))
    same = [k for k in da if dc.get(k) == da[k] and not k.startswith("qn-civil/_enc")]
    if [k for k in same if k.endswith((".jsonl", ".xml", "persons.tsv", "events.tsv"))]:
        fail("a different seed gives identical files: %s" % same[:5])
    print("determinism: %d files identical for the same seed; seed 43 differs" % len(da))


def pid_ok(pid, sex, birth, ppp_codes):
    if not re.fullmatch(r"\d{12}", pid):
        return "not 12 digits"
    if pid[:3] not in ppp_codes:
        return "unknown province code %s" % pid[:3]
    year = int(birth[:4])
    g = (year - 1900) // 100 * 2 + (1 if sex == "f" else 0)
    if int(pid[3]) != g:
        return "century/sex digit %s, expected %d" % (pid[3], g)
    if pid[4:6] != "%02d" % (year % 100):
        return "year digits %s, born %d" % (pid[4:6], year)
    return None


def check_ids(args, tmp):
    out = os.path.join(tmp, "o")
    run_gen(args, out, seed=3, scale=0.01)
    old, new, mapping, ppp = load_ref(args.data)
    persons = {}
    pids, cmnds = set(), set()
    n_pid = n_cmnd = 0
    for p in tsv(os.path.join(out, "truth/persons.tsv")):
        persons[p["entity_id"]] = p
        if p["personal_id"]:
            n_pid += 1
            e = pid_ok(p["personal_id"], p["sex"], p["birth_date"], ppp)
            if e:
                fail("%s: personal id %s: %s" % (p["entity_id"], p["personal_id"], e))
            if p["personal_id"] in pids:
                fail("duplicate personal id %s" % p["personal_id"])
            pids.add(p["personal_id"])
            if p["birth_date"] > "2025-09-30":
                fail("%s born in the future" % p["entity_id"])
        elif not p["death_date"] or p["death_date"] >= "2016-01-01":
            fail("%s: alive after 2016 without a personal id" % p["entity_id"])
        if p["cmnd"]:
            n_cmnd += 1
            if not re.fullmatch(r"20\d{7}", p["cmnd"]):
                fail("%s: CMND %s not 9 digits with prefix 20" % (p["entity_id"], p["cmnd"]))
            if p["cmnd"] in cmnds:
                fail("duplicate CMND %s" % p["cmnd"])
            cmnds.add(p["cmnd"])
            if int(p["birth_date"][:4]) >= 1990:
                fail("%s: CMND but born %s" % (p["entity_id"], p["birth_date"]))
    ppp_share = collections.Counter(p["birth_reg_province"] for p in persons.values())
    local = (ppp_share["048"] + ppp_share["049"]) / len(persons)
    if not 0.8 < local < 0.99:
        fail("share born in 048/049 is %.3f" % local)
    nguyen = sum(1 for p in persons.values() if p["surname"] == "Nguyễn") / len(persons)
    if not 0.28 < nguyen < 0.38:
        fail("Nguyễn share %.3f, expected about a third" % nguyen)

    # ids shown in the views: valid, and the true ones of the true entity,
    # except where a bad_id defect says the view shows an invalid one
    bad_ids = collections.defaultdict(dict)
    n_bad = collections.Counter()
    for v in VIEWS:
        for d in defects(out, v):
            if d["kind"] in ("bad_id_province", "bad_id_sex"):
                bad_ids[(v, d["record_id"])][d["noisy_value"]] = (d["true_value"], d["kind"], d["field"])
    shown_bad = set()

    def same(view, rid, role, shown, kind):
        ents = [e for r, e in truth[view].get(rid, []) if r == role]
        if not ents:
            fail("%s %s: no %s in truth" % (view, rid, role))
            return
        p = persons[ents[0]]
        want = p["personal_id"] if kind == "pid" else p["cmnd"]
        bad = bad_ids.get((view, rid), {}).get(shown)
        if shown != want and bad and bad[0] == want and kind == "pid":
            # invalid by exactly the rule its kind names, against the truth
            e = pid_ok(shown, p["sex"], p["birth_date"], ppp)
            expect = "unknown province code" if bad[1] == "bad_id_province" else "century/sex digit"
            if not e or not e.startswith(expect):
                fail("%s %s %s: %s %s is %s, expected %s" % (view, rid, role, bad[1], shown, e, expect))
            # without a sex in the record, only the century can show the error
            no_sex = view == "qn-land" or bad[2] in ("giay_to_chong", "giay_to_vo")
            if bad[1] == "bad_id_sex" and no_sex and int(shown[3]) ^ int(want[3]) != 2:
                fail("%s %s %s: the sex is not shown, but %s flips more than the century" %
                     (view, rid, role, shown))
            n_bad[bad[1]] += 1
            shown_bad.add((view, rid, shown))
            return
        if shown != want:
            fail("%s %s %s: shows %s %s, truth %s" % (view, rid, role, kind, shown, want))
    truth = {v: view_truth(out, v) for v in VIEWS}
    shown = 0
    for r in parse_qn_pop(out):
        if r["so_dinh_danh"]:
            same("qn-population", r["id"], "person", r["so_dinh_danh"], "pid"); shown += 1
        if r["so_cmnd"]:
            same("qn-population", r["id"], "person", r["so_cmnd"], "cmnd")
    for r in parse_dn_pop(out):
        if r.get("SoDinhDanh"):
            same("dn-population", r["id"], "person", r["SoDinhDanh"], "pid"); shown += 1
        if r.get("SoCMND"):
            same("dn-population", r["id"], "person", r["SoCMND"], "cmnd")
    for r in parse_qn_land(out):
        for o in r["owners"]:
            if o["so"]:
                same("qn-land", r["id"], "owner" + o["stt"], o["so"], "pid" if o["loai"] == "CCCD" else "cmnd")
                shown += 1
    p, o, c = parse_dn_land(out)
    for r in o:
        if r["so_giay_to"]:
            same("dn-land", "chu_su_dung:" + r["id"], "owner", r["so_giay_to"],
                 "pid" if r["loai_giay_to"] == "CCCD" else "cmnd"); shown += 1
    for r in parse_dn_civil(out):
        for role in ("child", "husband", "wife", "deceased"):
            x = r["data"].get(role)
            if not x:
                continue
            if x.get("personal_id"):
                same("dn-civil", r["event_id"], role, x["personal_id"], "pid"); shown += 1
            if x.get("id_number"):
                same("dn-civil", r["event_id"], role, x["id_number"],
                     "pid" if x["id_type"] == "CCCD" else "cmnd"); shown += 1
    for r in parse_qn_civil(args, out):
        row = r["row"]
        if r["kind"] == "KS" and row[7]:
            same("qn-civil", r["rid"], "child", row[7], "pid"); shown += 1
        cols = {"KH": [(5, "husband"), (9, "wife")], "KT": [(8, "deceased")]}.get(r["kind"], [])
        for col, role in cols:
            if row[col]:
                typ, num = row[col].split(" ")
                same("qn-civil", r["rid"], role, num, "pid" if typ == "CCCD" else "cmnd"); shown += 1
    listed = {(v, rid, noisy) for (v, rid), m in bad_ids.items() for noisy in m}
    if listed != shown_bad:
        fail("bad_id defects not shown in the views: %s" % sorted(listed - shown_bad)[:5])
    for k in ("bad_id_province", "bad_id_sex"):
        if not n_bad[k]:
            fail("no %s at the default rates" % k)
    print("ids: %d personal ids, %d CMNDs in the truth; %d ids shown in the views checked, "
          "%d invalid as their defects say %s" % (n_pid, n_cmnd, shown, sum(n_bad.values()), dict(n_bad)))


def check_codes(args, tmp):
    out = os.path.join(tmp, "o")
    run_gen(args, out, seed=4, scale=0.01)
    old, new, mapping, ppp = load_ref(args.data)
    seen_old, seen_new = set(), set()
    # unknown_unit: the code shown is in neither list, as its defect says
    unknown = {}
    for v in VIEWS:
        for d in defects(out, v):
            if d["kind"] == "unknown_unit" and re.fullmatch(r"\d{5}", d["noisy_value"]):
                unknown[(v, d["record_id"])] = d["noisy_value"]
    unknown_seen = set()

    def is_unknown(view, rid, code):
        if unknown.get((view, rid)) != code:
            return False
        if code in old or code in new:
            fail("%s %s: unknown_unit code %s is a listed commune" % (view, rid, code))
        unknown_seen.add((view, rid))
        return True

    def c_old(code, where):
        seen_old.add(code)
        if code not in old:
            fail("%s: %s is not a pre-2025 commune code" % (where, code))

    def c_new(code, where):
        seen_new.add(code)
        if code not in new:
            fail("%s: %s is not a 2025 commune code" % (where, code))
    hoalien = collections.Counter()
    for p in tsv(os.path.join(out, "truth/persons.tsv")):
        c_old(p["res_commune_2024"], p["entity_id"])
        c_new(p["res_commune_2025"], p["entity_id"])
        if p["res_commune_2025"] not in mapping.get(p["res_commune_2024"], ()):
            fail("%s: %s@2024 does not map to %s@2025" % (p["entity_id"], p["res_commune_2024"],
                                                          p["res_commune_2025"]))
        if p["res_commune_2024"] == "20296":
            hoalien[p["res_commune_2025"]] += 1
        if p["prev_commune_2024"]:
            c_old(p["prev_commune_2024"], p["entity_id"])
            if p["prev_commune_2025"] not in mapping[p["prev_commune_2024"]]:
                fail("%s: previous residence maps wrongly" % p["entity_id"])
        if p["birth_commune_2024"]:
            c_old(p["birth_commune_2024"], p["entity_id"])
        if p["res_commune_2024"] == "20674":
            fail("%s lives in the doubtful commune 20674" % p["entity_id"])
    if set(hoalien) != {"20194", "20197"}:
        fail("Hòa Liên residents are not split between 20194 and 20197: %s" % dict(hoalien))
    for e in tsv(os.path.join(out, "truth/events.tsv")):
        c_old(e["commune_2024"], e["entity_id"])
        c_new(e["commune_2025"], e["entity_id"])
        (c_new if e["office_version"] == "2025" else c_old)(e["office_code"], e["entity_id"])
        if (e["office_version"] == "2025") != (e["registered_on"] >= "2025-07-01"):
            fail("%s: office version %s for a registration on %s" % (e["entity_id"], e["office_version"],
                                                                     e["registered_on"]))
    for l in tsv(os.path.join(out, "truth/parcels.tsv")):
        c_old(l["commune_2024"], l["entity_id"])
        c_new(l["commune_2025"], l["entity_id"])
        if l["seri"] and not re.fullmatch(r"[A-Z]{2} \d{6}", l["seri"]):
            fail("%s: seri %s" % (l["entity_id"], l["seri"]))
    for r in parse_qn_pop(out):
        if is_unknown("qn-population", r["id"], r["ma_xa"]):
            continue
        c_old(r["ma_xa"], "qn-population " + r["id"])
        if r["ma_xa"] in old and (old[r["ma_xa"]]["district_code"] != r["ma_huyen"] or r["ma_tinh"] != "49"
                                  and old[r["ma_xa"]]["province_code"] != r["ma_tinh"]):
            fail("qn-population %s: district/province do not match %s" % (r["id"], r["ma_xa"]))
    n25 = 0
    for r in parse_dn_pop(out):
        if is_unknown("dn-population", r["id"], r["MaPhuongXa"]):
            continue
        if r.get("MaQuanHuyen"):
            c_old(r["MaPhuongXa"], "dn-population " + r["id"])
            if old.get(r["MaPhuongXa"], {}).get("district_code") != r["MaQuanHuyen"]:
                fail("dn-population %s: district %s does not hold %s" % (r["id"], r["MaQuanHuyen"], r["MaPhuongXa"]))
        else:
            n25 += 1
            c_new(r["MaPhuongXa"], "dn-population " + r["id"])
            if r["capNhat"] < "2025-07-01":
                fail("dn-population %s: 2025 code before the merger" % r["id"])
    if n25 == 0:
        fail("dn-population: no record carries a 2025 code")
    for r in parse_qn_land(out):
        if not is_unknown("qn-land", r["id"], r["MaXa"]):
            c_old(r["MaXa"], "qn-land " + r["id"])
        if not re.fullmatch(r"\d{1,3}(\.\d{3})*,\d", r["DienTich"] or ""):
            fail("qn-land %s: area %r not in the form 1.234,5" % (r["id"], r["DienTich"]))
        if r["seri"] and not re.fullmatch(r"[A-Z]{2} \d{6}", r["seri"]):
            fail("qn-land %s: seri %s" % (r["id"], r["seri"]))
    p, o, c = parse_dn_land(out)
    for r in p:
        if is_unknown("dn-land", "thua_dat:" + r["id"], r["ma_xa"]):
            continue
        c_old(r["ma_xa"], "dn-land " + r["id"])
        if r["ma_xa_moi"]:
            c_new(r["ma_xa_moi"], "dn-land " + r["id"])
            if r["ma_xa_moi"] not in mapping[r["ma_xa"]]:
                fail("dn-land %s: %s does not map to %s" % (r["id"], r["ma_xa"], r["ma_xa_moi"]))
    for r in c:
        if not re.fullmatch(r"[A-Z]{2} \d{6}", r["so_phat_hanh"]):
            fail("dn-land certificate %s: seri %s" % (r["id"], r["so_phat_hanh"]))
    for path in glob.glob(os.path.join(out, "qn-civil/2*.csv")):
        c_old(os.path.basename(path)[:5], path)
    for r in parse_dn_civil(out):
        code = r["data"]["registration"]["office_code"]
        if is_unknown("dn-civil", r["event_id"], code):
            continue
        if r["data"]["registration"]["registered_at"] >= "2025-07-01":
            if code not in new and code not in old:
                fail("dn-civil %s: office %s unknown" % (r["event_id"], code))
        else:
            c_old(code, "dn-civil " + r["event_id"])
    if set(unknown) != unknown_seen:
        fail("unknown_unit codes not shown in the views: %s" % sorted(set(unknown) - unknown_seen)[:5])
    if {v for v, _ in unknown} != {"qn-population", "dn-population", "qn-land", "dn-land", "dn-civil"}:
        fail("unknown_unit codes in %s only" % sorted({v for v, _ in unknown}))
    print("codes: %d pre-2025 and %d 2025 commune codes used, all real but the %d unknown_unit codes" %
          (len(seen_old), len(seen_new), len(unknown)))


def check_coverage(args, tmp):
    out = os.path.join(tmp, "o")
    run_gen(args, out, seed=5, scale=0.01)
    ents = set()
    for f, col in (("persons", "entity_id"), ("events", "entity_id"), ("parcels", "entity_id"),
                   ("households", "entity_id")):
        for r in tsv(os.path.join(out, "truth", f + ".tsv")):
            ents.add(r[col])
            if f == "parcels" and r["certificate_id"]:
                ents.add(r["certificate_id"])
    total = 0
    for v in VIEWS:
        truth = view_truth(out, v)
        ids = view_record_ids(args, out, v)
        total += len(ids)
        if not ids:
            fail("%s: no records" % v)
        idset = set(ids)
        main = {rid for rid, roles in truth.items() if any(r in MAIN_ROLES[v] for r, _ in roles)}
        if v != "dn-civil" and len(idset) != len(ids):
            fail("%s: %d repeated record ids" % (v, len(ids) - len(idset)))
        missing = idset - main
        extra = main - idset
        if missing:
            fail("%s: %d records without truth, e.g. %s" % (v, len(missing), sorted(missing)[:3]))
        if extra:
            fail("%s: %d truth records not in the view, e.g. %s" % (v, len(extra), sorted(extra)[:3]))
        for rid, roles in truth.items():
            for role, e in roles:
                if e not in ents:
                    fail("%s %s: %s %s is not a truth entity" % (v, rid, role, e))
        for d in defects(out, v):
            if d["record_id"] not in idset:
                fail("%s: defect on unknown record %s" % (v, d["record_id"]))
        print("coverage: %-14s %7d records, all in the truth" % (v, len(ids)))
    summary = json.load(open(os.path.join(out, "truth/summary.json")))
    if summary["records_total"] != total:
        fail("summary says %d records, the views hold %d" % (summary["records_total"], total))


def strip_marks(s):
    d = unicodedata.normalize("NFD", s)
    d = "".join(ch for ch in d if unicodedata.category(ch) != "Mn")
    return unicodedata.normalize("NFC", d).replace("đ", "d").replace("Đ", "D")


def levenshtein(a, b):
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def parse_any_date(s):
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
        return int(s[:4]), int(s[5:7]), int(s[8:])
    if re.fullmatch(r"\d{2}/\d{2}/\d{4}", s):
        return int(s[6:]), int(s[3:5]), int(s[:2])
    return None


LAND_USE = {"ODT", "ONT", "LUC", "BHK", "CLN", "NTS", "RSX"}
SEX_TABLE = {"Nam", "Nữ", "male", "female"}


def date_ok(y, m, d):
    if not 1 <= m <= 12 or d < 1:
        return False
    dim = [31, 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28, 31, 30, 31, 30,
           31, 31, 30, 31, 30, 31][m - 1]
    return d <= dim


def unit_key(name):
    """A commune name without its unit type, marks and case."""
    for pre in ("Phường ", "Xã ", "Thị trấn ", "Đặc khu "):
        if name.startswith(pre):
            name = name[len(pre):]
            break
    return strip_marks(name).lower()


def check_defect_row(v, d, mapping, old, new=None, ppp=None):
    """Each defect must be what its kind says it is."""
    k, t, n = d["kind"], d["true_value"], d["noisy_value"]
    where = "%s %s %s %s: %r -> %r" % (v, d["record_id"], d["field"], k, t, n)
    if t == n:
        return fail(where + ": the defect changes nothing")
    if k == "no_diacritics":
        if n != strip_marks(t) or any(ord(ch) > 127 for ch in n):
            fail(where + ": not the text without marks")
    elif k == "nfd":
        if n != unicodedata.normalize("NFD", t) or unicodedata.normalize("NFC", n) != t:
            fail(where + ": not the NFD form")
    elif k == "case":
        if n not in (t.lower(), t.upper()):
            fail(where + ": not a case change")
    elif k == "swap_name":
        if sorted(n.replace("|", " ").split()) != sorted(t.replace("|", " ").split()):
            fail(where + ": not a reordering of the name")
    elif k == "typo":
        if levenshtein(t, n) > 2:
            fail(where + ": more than a typing error")
    elif k == "legacy_case":
        if n.lower() != t.lower():
            fail(where + ": more than a case loss")
    elif k == "day_month":
        a, b = parse_any_date(t), parse_any_date(n)
        if not a or not b or a != (b[0], b[2], b[1]):
            fail(where + ": not a day/month swap")
    elif k == "year_only":
        if not re.fullmatch(r"\d{4}", n) or parse_any_date(t)[0] != int(n):
            fail(where + ": not the year alone")
    elif k == "missing_id":
        if n != "" or not re.fullmatch(r"\d{12}(;\d{9})?|\d{9}", t):
            fail(where + ": not an id removed")
    elif k == "old_id":
        if not re.fullmatch(r"\d{12}", t) or not re.fullmatch(r"\d{9}", n):
            fail(where + ": not a CMND instead of the personal id")
    elif k == "stale_code":
        tc, tv = t.split("@")
        nc, nv = n.split("@")
        if tv != "2025" or nv != "2024" or tc not in mapping.get(nc, ()):
            fail(where + ": not the pre-merger code of the 2025 commune")
    elif k in ("old_residence", "both_provinces"):
        if not (t.endswith("@2024") and n.endswith("@2024")):
            fail(where + ": codes without version 2024")
        if k == "both_provinces" and old[t[:5]]["province_code"] == old[n[:5]]["province_code"]:
            fail(where + ": both residences in one province")
    elif k == "bad_date":
        a, b = parse_any_date(t), parse_any_date(n)
        same_form = ("-" in t) == ("-" in n)
        if not a or not b or not same_form or a[0] != b[0] or not date_ok(*a) or date_ok(*b):
            fail(where + ": not an impossible date of the same year and form")
        if v in ("dn-land", "dn-population"):
            fail(where + ": an impossible date in a typed date field")
    elif k in ("bad_id_province", "bad_id_sex"):
        if not re.fullmatch(r"\d{12}", t) or not re.fullmatch(r"\d{12}", n):
            fail(where + ": not 12-digit ids")
        elif k == "bad_id_province":
            if n[3:] != t[3:] or t[:3] not in ppp or n[:3] in ppp or not 1 <= int(n[:3]) <= 96:
                fail(where + ": not an unknown province code in 001..096, the rest kept")
        elif n[:3] + n[4:] != t[:3] + t[4:] or (int(n[3]) ^ int(t[3])) not in (1, 2):
            fail(where + ": not the sex or the century of G flipped, the rest kept")
    elif k == "bad_code":
        if d["field"] in ("muc_dich_su_dung", "loai_dat"):
            tp, np_ = t.split("+"), n.split("+")
            diff = [(a, b) for a, b in zip(tp, np_) if a != b]
            if (len(tp) != len(np_) or not set(tp) <= LAND_USE or len(diff) != 1 or
                    sorted(diff[0][0]) != sorted(diff[0][1]) or diff[0][1] in LAND_USE):
                fail(where + ": not one land-use code turned into an unknown one")
        elif t not in SEX_TABLE or n in SEX_TABLE or n == "":
            fail(where + ": not a sex outside the code table")
    elif k == "unknown_unit":
        m = re.fullmatch(r"(\d{5})@(2024|2025)", t)
        if m:
            if not re.fullmatch(r"\d{5}", n) or n in old or n in new:
                fail(where + ": not a code in neither list")
            elif m.group(1) not in (old if m.group(2) == "2024" else new):
                fail(where + ": the true code is not in its list")
        else:
            tp, np_ = t.split(", "), n.split(", ")
            diff = [i for i in range(min(len(tp), len(np_))) if tp[i] != np_[i]]
            names = {unit_key(x["commune_name"]) for x in list(old.values()) + list(new.values())}
            if (len(tp) != len(np_) or len(diff) != 1 or unit_key(tp[diff[0]]) not in names or
                    unit_key(np_[diff[0]]) in names):
                fail(where + ": not one commune name replaced by one that does not exist")


def check_rates(args, tmp):
    out = os.path.join(tmp, "o")
    run_gen(args, out, seed=6, scale=0.03, extra=["--noise", args.noise_file])
    stats = list(tsv(os.path.join(out, "truth/noise_stats.tsv")))
    old, new, mapping, ppp = load_ref(args.data)
    checked = 0
    for v in VIEWS:
        rows = defects(out, v)
        for d in rows:
            check_defect_row(v, d, mapping, old, new, ppp)
        count = collections.Counter(d["kind"] for d in rows)
        truth = view_truth(out, v)
        mentions = sum(1 for roles in truth.values() for r, _ in roles if r in MENTION_ROLES)
        mains = sum(1 for roles in truth.values() for r, _ in roles if r in MAIN_ROLES[v] and
                    (v != "dn-land" or r == "parcel"))
        for s in (s for s in stats if s["view"] == v):
            k, rate, opp, inj = s["kind"], float(s["rate"]), int(s["opportunities"]), int(s["injected"])
            if count[k] != inj:
                fail("%s %s: stats say %d injected, the defects file lists %d" % (v, k, inj, count[k]))
            if k == "legacy_case":
                continue
            if k == "typo" and opp != mentions:
                fail("%s typo: %d opportunities, but the view names %d persons" % (v, opp, mentions))
            if k == "duplicate":
                extra = count["duplicate"] + count["both_provinces"]
                if opp != mains - extra:
                    fail("%s duplicate: %d opportunities, %d original records" % (v, opp, mains - extra))
            if rate <= 0:
                if inj:
                    fail("%s %s: rate 0 but %d injected" % (v, k, inj))
                continue
            exp = opp * rate
            sd = math.sqrt(opp * rate * (1 - rate)) if opp else 0
            if opp == 0:
                fail("%s %s: no opportunities at all" % (v, k))
                continue
            z = abs(inj - exp) / sd if sd else 0
            rel = abs(inj / opp - rate) / rate
            meaningful = 0.1 * exp >= 3.5 * sd  # a 10% deviation would be a 3.5-sigma event
            status = "ok"
            if meaningful:
                checked += 1
                if rel > 0.10:
                    fail("%s %s: rate %.4f, asked %.4f (%.1f%% off, %d of %d)" % (v, k, inj / opp, rate,
                                                                                     rel * 100, inj, opp))
                    status = "FAIL"
            else:
                status = "few"
                if z > 4:
                    fail("%s %s: %d injected of %d, expected %.0f (z=%.1f)" % (v, k, inj, opp, exp, z))
                    status = "FAIL"
            print("rates: %-14s %-15s asked %.3f got %.4f (%6d/%-7d) %s" % (v, k, rate, inj / opp, inj,
                                                                           opp, status))
    if checked < 40:
        fail("only %d view/kind rates were statistically checkable" % checked)
    print("rates: %d view/kind rates within 10%% of what was asked" % checked)


def check_legacy(args, tmp):
    out = os.path.join(tmp, "o")
    run_gen(args, out, seed=7, scale=0.01)
    persons = {p["entity_id"]: p for p in tsv(os.path.join(out, "truth/persons.tsv"))}
    truth = view_truth(out, "qn-civil")
    last = {}
    for d in defects(out, "qn-civil"):
        last[(d["record_id"], d["field"])] = d["noisy_value"]
    headers = {"KS": "Số,Quyển số,Ngày đăng ký,Họ và tên,Giới tính,Ngày sinh,Nơi sinh,Số định danh cá nhân,"
                     "Họ tên cha,Năm sinh cha,Họ tên mẹ,Năm sinh mẹ,Nơi cư trú",
               "KH": "Số,Quyển số,Ngày đăng ký,Họ tên chồng,Ngày sinh chồng,Giấy tờ tùy thân chồng,"
                     "Nơi cư trú chồng,Họ tên vợ,Ngày sinh vợ,Giấy tờ tùy thân vợ,Nơi cư trú vợ",
               "KT": "Số,Quyển số,Ngày đăng ký,Họ và tên,Giới tính,Ngày sinh,Ngày chết,Nơi chết,Giấy tờ tùy thân"}
    cols = {"KS": [(3, "child", "ho_ten"), (8, "father", "ho_ten_cha"), (10, "mother", "ho_ten_me")],
            "KH": [(3, "husband", "ho_ten_chong"), (7, "wife", "ho_ten_vo")],
            "KT": [(3, "deceased", "ho_ten")]}
    per_enc = collections.Counter()
    names = 0
    accented = collections.Counter()
    seen_files = set()
    for r in parse_qn_civil(args, out):
        if r["file"] not in seen_files:
            seen_files.add(r["file"])
            if ",".join(r["header"]) != headers[r["kind"]]:
                fail("%s (%s): header decodes as %r" % (r["file"], r["encoding"], ",".join(r["header"])))
        per_enc[r["encoding"]] += 1
        roles = dict(truth.get(r["rid"], []))
        for col, role, field in cols[r["kind"]]:
            if role not in roles:
                if role == "father" and r["row"][col] == "":
                    continue
                fail("%s: no %s in truth" % (r["rid"], role))
                continue
            p = persons[roles[role]]
            want = " ".join(x for x in (p["surname"], p["middle"], p["given"]) if x)
            want = last.get((r["rid"], field), want)
            got = r["row"][col]
            names += 1
            if any(ord(ch) > 127 for ch in got):
                accented[r["encoding"]] += 1
            if got != want:
                fail("%s (%s) %s: decodes as %r, expected %r" % (r["rid"], r["encoding"], field, got, want))
    for e in ("TCVN3", "VNI-Windows", "CP1258", "UTF-8"):
        if per_enc[e] == 0 or accented[e] == 0:
            fail("no records with Vietnamese letters in %s files" % e)
    print("legacy: %d names in %d files decode to the true values (records per encoding: %s)" %
          (names, len(seen_files), dict(per_enc)))


def check_cli(args, tmp):
    def bad(extra, what):
        r = subprocess.run([args.gen] + extra, capture_output=True, text=True)
        if r.returncode == 0:
            fail("lgsp-gen %s: accepted (%s)" % (" ".join(extra), what))
        else:
            print("cli: rejected %-60s %s" % (" ".join(extra), r.stderr.strip().splitlines()[-1][:70]))
    o = os.path.join(tmp, "x")
    base = ["--seed", "1", "--scale", "0.002", "--out", o, "--data", args.data]
    bad(["--scale", "0.01", "--out", o], "no seed")
    bad(base + ["--noise-rate", "typoo=0.1"], "unknown kind")
    bad(base + ["--noise-rate", "qn-land.case=0.1"], "kind that does not apply to the view")
    bad(base + ["--noise-rate", "dn-land.bad_date=0.1"], "bad_date in typed date columns")
    bad(base + ["--noise-rate", "dn-population.bad_date=0.1"], "bad_date in an xs:date element")
    bad(base + ["--noise-rate", "typo=1.5"], "rate above 1")
    bad(["--seed", "1", "--scale", "0.002", "--out", o, "--data", "/nonexistent"], "missing data")
    # clean run: no defects but the encoding's own
    out = os.path.join(tmp, "clean")
    line = run_gen(args, out, seed=9, scale=0.004, extra=["--noise-rate", "*=0"])
    for v in VIEWS:
        kinds = collections.Counter(d["kind"] for d in defects(out, v))
        if set(kinds) - {"legacy_case"}:
            fail("%s: defects with every rate 0: %s" % (v, dict(kinds)))
    m = re.fullmatch(r"generator scale 0\.004: [\d.]+ s, peak \d+ MiB, (\d+) records\n", line)
    if not m:
        fail("last line %r not in the documented form" % line)
    else:
        total = json.load(open(os.path.join(out, "truth/summary.json")))["records_total"]
        if int(m.group(1)) != total:
            fail("printed %s records, summary %d" % (m.group(1), total))
    print("cli: clean run has no injected defects; final line: %s" % line.strip())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("check", choices=["determinism", "ids", "codes", "coverage", "rates", "legacy", "cli"])
    ap.add_argument("--gen", required=True)
    ap.add_argument("--vnconv", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--noise-file")
    ap.add_argument("--keep", help="use this folder and keep it")
    args = ap.parse_args()
    tmp = args.keep or tempfile.mkdtemp(prefix="lgsp-gen-test-")
    if args.keep:
        os.makedirs(tmp, exist_ok=True)
    try:
        globals()["check_" + args.check](args, tmp)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if FAILS:
        print("%d failure(s)" % len(FAILS), file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
