"""test_file_drop.py — the file-drop plugin inside the real lgspd, fed by
lgsp-sim's qn-land (XML exports) and qn-civil (CSV in TCVN3, VNI-Windows,
CP1258 and UTF-8), checked against the generator's views and truth.

    test_file_drop.py CASE        land | civil | bad
    test_file_drop.py bench [--scale S] [--only qn-land|qn-civil]   (records/s, not a test)

land    every parcel of the view, once, from the file it was exported in,
        equal to the view's element; lgspd is killed (-9) in the middle of
        the ingest and restarted; the simulator's `error` fault (a truncated
        file, replaced later) and `drop` fault (a .part left behind) publish
        no broken record and lose nothing; the truncated files are in
        quarantine (file:line, reason) and failed/, the good ones in done/.
civil   every register row of every commune, once, with the generator's
        record id (<ma_xa>/<KS|KH|KT>/<quyển số>/<số>), its columns equal to
        the file decoded by iconv / lgsp-vnconv, its names equal to the truth
        (or to the last defect), the original bytes and encoding kept for
        legacy files; kill -9 in the middle; `error` and `drop` faults; then
        re-exported birth registers (same names, rows appended): only the
        appended rows are new messages.
bad     a garbage XML file, CSV rows with undecodable bytes or the wrong
        number of fields, a file whose prefix the encoding map lacks: one
        quarantine entry each naming file, line and reason, nothing else
        lost, the files in done/ or failed/ as they should be; a file
        written slowly is read once, whole, after it settled.
restart the state with lgsp-adapter-test (deterministic): a file found in
        .inprogress/ that the state says is finished (lgspd died between the
        commit and the rename) is only moved; another file under that name
        is read from the start (only its new rows are new); order: mtime.
"""
import base64
import collections
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import unicodedata
import xml.etree.ElementTree as ET

import departments
import harness

FAILS = []


def check(cond, what):
    print("%s: %s" % ("ok" if cond else "FAIL", what), flush=True)
    if not cond:
        FAILS.append(what)
    return cond


def wait_for(fn, timeout, what=None, step=0.2):
    deadline = time.monotonic() + timeout
    v = None
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step)
    if what:
        check(False, "%s (timed out after %.0f s)" % (what, timeout))
    return v


def nfc(s):
    return unicodedata.normalize("NFC", s)


def topic_count(d, topic):
    return int(d.metric("lgsp_topic_messages", topic=topic) or 0)


def tool(env, *rel):
    return departments.tool(env, None, *rel)


# ---- the adapters' configuration (as config/departments.yaml has them) ----

def land_adapter(folder, **extra):
    s = {"dir": folder, "pattern": "*.xml", "format": "xml", "settle": "300ms",
         "xml": {"records": "ThuaDat"}, "id": "{@maThuaDat}"}
    s.update(extra)
    return {"name": "qn-land", "plugin": "file-drop", "interval": "200ms",
            "restart_backoff": "200ms", "settings": s}


def civil_adapter(folder, **extra):
    s = {"dir": folder, "pattern": "*.csv", "format": "csv", "settle": "300ms",
         "encoding": "map",
         "encoding_map": {"file": "_encodings.csv", "key_column": "ma_xa", "encoding_column": "encoding"},
         "name_regex": "^([0-9]+)_.*_(khai-sinh|ket-hon|khai-tu)\\.csv$",
         "id": "{file:1}/{file:2:khai-sinh=KS,ket-hon=KH,khai-tu=KT}/{Quyển số}/{Số}"}
    s.update(extra)
    return {"name": "qn-civil", "plugin": "file-drop", "interval": "200ms",
            "restart_backoff": "200ms", "settings": s}


def world(tmp, scale=0.001):
    out = os.path.join(tmp, "world")
    departments.make_world(out, scale, seed=1)
    return out


def drop_status(sim, name):
    return sim.ctl("/sims/" + name, method="GET")["state"]["drop"]


def faults(sim, name, total):
    """Two truncated files (error) and two abandoned .part files (drop)
    during the drop; returns when the simulator has made them."""
    if name == "qn-civil":
        # the encoding map first, whole (a truncated map would come whole
        # only at the end of the queue)
        wait_for(lambda: os.path.exists(os.path.join(sim.where[name], "_encodings.csv")), 60, "the map dropped")
    sim.ctl("/sims/%s/fault?mode=error&count=2" % name)
    wait_for(lambda: drop_status(sim, name)["truncated"] >= 2, 120, "%s: two truncated files" % name)
    sim.ctl("/sims/%s/fault?mode=drop&count=2" % name)
    wait_for(lambda: drop_status(sim, name)["abandoned"] >= 2, 120, "%s: two abandoned files" % name)


def kill_in_the_middle(d, topic, total):
    """kill -9 once the topic holds about a third, restart on the same journal."""
    wait_for(lambda: topic_count(d, topic) >= total // 3, 180, "%s reached a third" % topic)
    n = topic_count(d, topic)
    d.kill9()
    check(n < total, "killed lgspd in the middle (%d of %d stored)" % (n, total))
    time.sleep(0.5)
    d.start()


def stop_clean(d):
    """Stops lgspd (SIGTERM) and checks it exited cleanly: no sanitizer
    report (the plugin runs inside lgspd; under -Db_sanitize the leak check
    runs at exit)."""
    rc = d.stop()
    d.kill9()
    log = open(d.log_path, errors="replace").read() if os.path.exists(d.log_path) else ""
    bad = re.findall(r"(ERROR: AddressSanitizer.*|ERROR: LeakSanitizer.*|runtime error:.*)", log)
    check(rc == 0 and not bad, "lgspd stopped cleanly (exit %s%s)" % (rc, "; " + bad[0] if bad else ""))


def quarantine(d, topic):
    return harness.read_topic(d.endpoint, topic, idle=2)


# ---- land -------------------------------------------------------------

def same_element(a, b):
    """XML elements equal in tag, attributes, text (NFC) and children."""
    if a.tag != b.tag or a.attrib != b.attrib:
        return False
    if nfc((a.text or "").strip()) != nfc((b.text or "").strip()):
        return False
    ca, cb = list(a), list(b)
    return len(ca) == len(cb) and all(same_element(x, y) for x, y in zip(ca, cb))


def case_land(tmp):
    w = world(tmp)
    view = os.path.join(w, "qn-land")
    files = sorted(os.listdir(view))
    parcels = {}            # id -> (file, element)
    per_file = {}
    for n in files:
        root = ET.parse(os.path.join(view, n)).getroot()
        per_file[n] = [t.get("maThuaDat") for t in root.iter("ThuaDat")]
        for t in root.iter("ThuaDat"):
            parcels[t.get("maThuaDat")] = (n, t)
    total = len(parcels)
    check(total == sum(len(v) for v in per_file.values()), "the view holds %d parcels in %d files" % (total, len(files)))
    sim = departments.Sim(w, os.path.join(tmp, "sim"), only=["qn-land"], settings=["qn-land.interval_ms=250"])
    folder = sim.where["qn-land"]
    d = harness.Lgspd(os.path.join(tmp, "lgspd"), adapters=[land_adapter(folder, batch_records="20")])
    try:
        d.start()
        faults(sim, "qn-land", total)
        kill_in_the_middle(d, "raw.qn-land", total)
        wait_for(lambda: topic_count(d, "raw.qn-land") >= total and drop_status(sim, "qn-land")["queued"] == 0,
                 300, "every parcel stored")
        # the last files (complete versions of the faulty ones) are read too
        wait_for(lambda: sorted(os.listdir(os.path.join(folder, "done"))) == files, 60, "every file in done/")
        time.sleep(1.5)
        msgs = harness.read_topic(d.endpoint, "raw.qn-land", expect=total + 1, idle=3)
        ids = [m.headers["lgsp-source-id"] for m in msgs]
        check(len(msgs) == total, "raw.qn-land holds %d messages, the view %d parcels" % (len(msgs), total))
        check(len(set(ids)) == len(ids), "no parcel twice (%d distinct)" % len(set(ids)))
        check(set(ids) == set(parcels), "the parcels are the view's")
        got_per_file = collections.defaultdict(list)
        good = 0
        for m in msgs:
            h = m.headers
            got_per_file[h["lgsp-file"]].append(h["lgsp-source-id"])
            f, el = parcels.get(h["lgsp-source-id"], (None, None))
            if el is None:
                continue
            ok = (h["lgsp-file"] == f and h["lgsp-source"] == "qn-land" and m.key == h["lgsp-source-id"].encode()
                  and h["lgsp-content-type"] == "application/xml"
                  and re.fullmatch(re.escape(f) + r":\d+", h["lgsp-position"])
                  and same_element(ET.fromstring(m.payload), el))
            good += bool(ok)
        check(good == total, "every payload is the view's element, with file, position, key (%d of %d)" % (good, total))
        check({f: sorted(v) for f, v in got_per_file.items()} == {f: sorted(v) for f, v in per_file.items()},
              "per-file record counts and ids equal the view's")
        q = quarantine(d, "quarantine.qn-land")
        qf = [m.headers["lgsp-position"].split(":")[0] for m in q]
        check(len(q) == 2 and all("not well-formed XML" in m.headers["lgsp-reason"] for m in q),
              "the 2 truncated files are in quarantine as not well-formed: %s" %
              [(m.headers["lgsp-position"], m.headers["lgsp-reason"][:60]) for m in q])
        check(all(re.fullmatch(r"[\w.]+\.xml:\d+", m.headers["lgsp-position"]) for m in q),
              "quarantine positions are file:line: %s" % [m.headers["lgsp-position"] for m in q])
        failed = sorted(os.listdir(os.path.join(folder, "failed")))
        check(failed == sorted(qf), "failed/ holds the truncated files: %s" % failed)
        for n in failed:
            with open(os.path.join(folder, "failed", n), "rb") as a, open(os.path.join(view, n), "rb") as b:
                full = b.read()
                part = a.read()
                check(len(part) < len(full) and full.startswith(part), "failed/%s is the truncated copy" % n)
        same = all(open(os.path.join(folder, "done", n), "rb").read() == open(os.path.join(view, n), "rb").read()
                   for n in files)
        check(same, "done/ holds every export, byte for byte")
        check(not [n for n in os.listdir(folder) if n.endswith(".xml")], "nothing left in the drop folder")
        check(os.listdir(os.path.join(folder, ".inprogress")) == [], "nothing left in .inprogress/")
        # a restart reads nothing again
        d.kill9()
        d.start()
        time.sleep(2)
        check(topic_count(d, "raw.qn-land") == total, "a restart after the ingest adds nothing")
        # changes: new exports of changed parcels = new versions
        ch = sim.ctl("/sims/qn-land/change?n=10")
        wait_for(lambda: topic_count(d, "raw.qn-land") >= total + len(ch["changes"]), 60, "the changes stored")
        time.sleep(1.5)
        n = topic_count(d, "raw.qn-land")
        check(n == total + len(ch["changes"]), "each changed parcel is one new message (%d new, %d changes)" %
              (n - total, len(ch["changes"])))
    finally:
        stop_clean(d)
        sim.stop()


# ---- civil ------------------------------------------------------------

def tsv(path):
    with open(path, encoding="utf-8", newline="") as f:
        rd = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        hdr = next(rd)
        for row in rd:
            yield dict(zip(hdr, [x.replace("\\t", "\t").replace("\\n", "\n").replace("\\\\", "\\") for x in row]))


def decode_file(path, enc):
    """The generator's side: a qn-civil file decoded to UTF-8 text."""
    raw = open(path, "rb").read()
    if enc == "UTF-8":
        return raw[3:].decode("utf-8") if raw.startswith(b"\xef\xbb\xbf") else raw.decode("utf-8")
    if enc == "CP1258":
        r = subprocess.run(["iconv", "-f", "CP1258", "-t", "UTF-8"], input=raw, capture_output=True, check=True)
        return nfc(r.stdout.decode("utf-8"))
    vnconv = tool("LGSP_VNCONV", "sim", "gen", "lgsp-vnconv")
    r = subprocess.run([vnconv, "-d", enc, path], capture_output=True)
    return r.stdout.decode("utf-8")


def view_rows(folder, encs, names):
    """{record id: (file, {header: value}, raw row bytes)} of the files."""
    out = {}
    for n in names:
        enc = encs[n.split("_")[0]]
        text = decode_file(os.path.join(folder, n), enc)
        rows = list(csv.reader(io.StringIO(text, newline="")))
        hdr = rows[0]
        rawlines = open(os.path.join(folder, n), "rb").read().split(b"\r\n")
        kind = {"khai-sinh": "KS", "ket-hon": "KH", "khai-tu": "KT"}[re.search(r"_([a-z-]+)\.csv$", n).group(1)]
        for i, r in enumerate(rows[1:]):
            rid = "%s/%s/%s/%s" % (n.split("_")[0], kind, r[1], r[0])
            out[rid] = (n, dict(zip(hdr, r)), rawlines[i + 1], enc)
    return out


NAME_COLS = {"KS": [("Họ và tên", "child", "ho_ten"), ("Họ tên cha", "father", "ho_ten_cha"),
                    ("Họ tên mẹ", "mother", "ho_ten_me")],
             "KH": [("Họ tên chồng", "husband", "ho_ten_chong"), ("Họ tên vợ", "wife", "ho_ten_vo")],
             "KT": [("Họ và tên", "deceased", "ho_ten")]}


def case_civil(tmp):
    w = world(tmp)
    view = os.path.join(w, "qn-civil")
    encs = {r["ma_xa"]: r["encoding"] for r in csv.DictReader(open(os.path.join(view, "_encodings.csv"),
                                                                    encoding="utf-8"))}
    names = sorted(n for n in os.listdir(view) if not n.startswith("_"))
    rows = view_rows(view, encs, names)
    truth_ids = {r["record_id"] for r in tsv(os.path.join(w, "truth", "qn-civil.truth.tsv")) if r["role"] == "event"}
    total = len(rows)
    check(set(rows) == truth_ids, "the files' rows are the truth's %d events" % len(truth_ids))
    sim = departments.Sim(w, os.path.join(tmp, "sim"), only=["qn-civil"], settings=["qn-civil.interval_ms=40"])
    folder = sim.where["qn-civil"]
    d = harness.Lgspd(os.path.join(tmp, "lgspd"), adapters=[civil_adapter(folder, batch_records="7")])
    try:
        d.start()
        faults(sim, "qn-civil", total)
        kill_in_the_middle(d, "raw.qn-civil", total)
        wait_for(lambda: topic_count(d, "raw.qn-civil") >= total and drop_status(sim, "qn-civil")["queued"] == 0,
                 300, "every row stored")
        wait_for(lambda: sorted(os.listdir(os.path.join(folder, "done"))) == names, 60, "every file in done/")
        time.sleep(1.5)
        msgs = harness.read_topic(d.endpoint, "raw.qn-civil", expect=total + 1, idle=3)
        ids = [m.headers["lgsp-source-id"] for m in msgs]
        check(len(msgs) == total, "raw.qn-civil holds %d messages, the files %d rows" % (len(msgs), total))
        check(len(set(ids)) == len(ids), "no row twice")
        check(set(ids) == truth_ids, "the record ids are the generator's")
        per_file = collections.Counter(f for f, _, _, _ in rows.values())
        got_file = collections.Counter(m.headers["lgsp-file"] for m in msgs)
        check(per_file == got_file, "per-file record counts equal the files'")
        same = orig_ok = 0
        enc_name = {"TCVN3": "tcvn3", "VNI-Windows": "vni", "CP1258": "cp1258", "UTF-8": None}
        per_enc = collections.Counter()
        for m in msgs:
            rid = m.headers["lgsp-source-id"]
            if rid not in rows:
                continue
            f, cols, raw, enc = rows[rid]
            per_enc[enc] += 1
            same += json.loads(m.payload) == cols and m.headers["lgsp-file"] == f
            want_enc = enc_name[enc]
            if want_enc:
                orig_ok += (m.headers.get("lgsp-encoding") == want_enc
                            and base64.b64decode(m.headers.get("lgsp-original", "")) == raw)
            else:
                orig_ok += "lgsp-original" not in m.headers
        check(same == total, "every row's columns equal the file decoded by iconv / lgsp-vnconv (%d of %d)" %
              (same, total))
        check(orig_ok == total, "legacy rows carry their bytes and encoding, UTF-8 rows none (%d of %d)" %
              (orig_ok, total))
        check(set(per_enc) == {"TCVN3", "VNI-Windows", "CP1258", "UTF-8"}, "rows in all four encodings: %s" %
              dict(per_enc))
        # names against the truth (the last defect's value where one was injected)
        persons = {p["entity_id"]: p for p in tsv(os.path.join(w, "truth", "persons.tsv"))}
        roles = collections.defaultdict(dict)
        for r in tsv(os.path.join(w, "truth", "qn-civil.truth.tsv")):
            roles[r["record_id"]][r["role"]] = r["entity_id"]
        last = {(r["record_id"], r["field"]): r["noisy_value"] for r in tsv(os.path.join(w, "truth",
                                                                                         "qn-civil.defects.tsv"))}
        nm = bad_names = 0
        for m in msgs:
            rid = m.headers["lgsp-source-id"]
            cols = json.loads(m.payload)
            for col, role, field in NAME_COLS[rid.split("/")[1]]:
                if role not in roles[rid]:
                    continue
                p = persons[roles[rid][role]]
                want = last.get((rid, field), " ".join(x for x in (p["surname"], p["middle"], p["given"]) if x))
                nm += 1
                if cols.get(col) != want:
                    bad_names += 1
                    if bad_names <= 5:
                        print("  %s %s: %r, truth %r" % (rid, col, cols.get(col), want))
        check(nm > total and bad_names == 0, "%d names decode to the truth (%d differ)" % (nm, bad_names))
        q = quarantine(d, "quarantine.qn-civil")
        check(len(q) <= 2 and all("incomplete last line" in m.headers["lgsp-reason"] for m in q),
              "quarantine holds at most the cut last lines of the 2 truncated files: %s" %
              [(m.headers["lgsp-position"], m.headers["lgsp-reason"]) for m in q])
        check(os.listdir(os.path.join(folder, "failed")) == [], "no file failed")
        check(os.path.exists(os.path.join(folder, "_encodings.csv")), "the encoding map stays in place")
        # re-exports: the same names, rows appended
        ch = sim.ctl("/sims/qn-civil/change?n=12")
        new_ids = {c["id"] for c in ch["changes"]}
        wait_for(lambda: topic_count(d, "raw.qn-civil") >= total + len(new_ids), 60, "the appended rows stored")
        wait_for(lambda: drop_status(sim, "qn-civil")["queued"] == 0, 30)
        time.sleep(2)
        msgs2 = harness.read_topic(d.endpoint, "raw.qn-civil", expect=total + len(new_ids) + 1, idle=3)
        added = {m.headers["lgsp-source-id"] for m in msgs2} - set(ids)
        check(len(msgs2) == total + len(new_ids), "only the appended rows are new messages (%d new, %d appended)" %
              (len(msgs2) - total, len(new_ids)))
        check(added == new_ids, "the new messages are the appended registrations")
    finally:
        stop_clean(d)
        sim.stop()


# ---- bad --------------------------------------------------------------

def case_bad(tmp):
    xdir = os.path.join(tmp, "xml")
    cdir = os.path.join(tmp, "csv")
    os.makedirs(xdir)
    os.makedirs(cdir)
    with open(os.path.join(xdir, "garbage.xml"), "wb") as f:
        f.write(b"\x00\x01 this is not XML at all\n")
    with open(os.path.join(xdir, "ok.xml"), "wb") as f:
        f.write("<a><ThuaDat maThuaDat=\"Q1\"><HoTen>Lê Văn Tám</HoTen></ThuaDat></a>\n".encode())
    with open(os.path.join(xdir, ".hidden.xml"), "wb") as f:
        f.write(b"<a><ThuaDat maThuaDat=\"H\"/></a>")
    with open(os.path.join(cdir, "_map.csv"), "w", encoding="utf-8") as f:
        f.write("ma,enc\r\nU1,UTF-8\r\nT1,TCVN3\r\nV1,VNI-Windows\r\nX1,EBCDIC\r\n")
    with open(os.path.join(cdir, "U1_mixed.csv"), "wb") as f:
        f.write(b"id,ten\r\n1," + "Nguyễn".encode() + b"\r\n2,x\xff\r\n3,a,b\r\n4,\"cut\r\n5,ok\r\n")
    with open(os.path.join(cdir, "T1_legacy.csv"), "wb") as f:
        f.write(b"id,ten\r\n1,H\xad\xacng\r\n2,\x80bad\r\n")
    with open(os.path.join(cdir, "Z9_unknown.csv"), "wb") as f:
        f.write(b"id,ten\r\n1,x\r\n")
    with open(os.path.join(cdir, "X1_ebcdic.csv"), "wb") as f:
        f.write(b"id,ten\r\n1,x\r\n")
    with open(os.path.join(cdir, "V1_header.csv"), "wb") as f:
        f.write(b"id,t\xf9\xf9\r\n1,x\r\n")
    sdir = os.path.join(tmp, "slow")
    os.makedirs(sdir)
    xml_a = {"name": "bad-xml", "plugin": "file-drop", "interval": "200ms",
             "settings": {"dir": xdir, "format": "xml", "settle": "0", "xml": {"records": "ThuaDat"},
                          "id": "{@maThuaDat}"}}
    csv_a = {"name": "bad-csv", "plugin": "file-drop", "interval": "200ms",
             "settings": {"dir": cdir, "format": "csv", "settle": "0", "encoding": "map",
                          "encoding_map": {"file": "_map.csv", "key_column": "ma", "encoding_column": "enc"},
                          "id": "{file}#{id}"}}
    slow_a = {"name": "slow", "plugin": "file-drop", "interval": "100ms",
              "settings": {"dir": sdir, "format": "csv", "settle": "1500ms", "id": "{n}"}}
    d = harness.Lgspd(os.path.join(tmp, "lgspd"), adapters=[xml_a, csv_a, slow_a])
    try:
        d.start()
        # a writer that takes its time (no temporary name): read once, whole
        with open(os.path.join(sdir, "slow.csv"), "wb") as f:
            f.write(b"n,v\r\n")
            for k in range(5):
                f.write(b"".join(b"%d,x\r\n" % (k * 100 + i) for i in range(100)))
                f.flush()
                time.sleep(0.3)
        wait_for(lambda: os.listdir(os.path.join(sdir, "done")) == ["slow.csv"], 60, "slow.csv read")
        wait_for(lambda: len(os.listdir(os.path.join(xdir, "done"))) + len(os.listdir(os.path.join(xdir, "failed")))
                 == 2, 60, "the XML files were handled")
        wait_for(lambda: len(os.listdir(os.path.join(cdir, "done"))) + len(os.listdir(os.path.join(cdir, "failed")))
                 == 5, 60, "the CSV files were handled")
        time.sleep(1)
        check(os.listdir(os.path.join(xdir, "failed")) == ["garbage.xml"], "garbage.xml in failed/")
        check(os.listdir(os.path.join(xdir, "done")) == ["ok.xml"], "ok.xml in done/")
        check(os.path.exists(os.path.join(xdir, ".hidden.xml")), "a dot file is left alone")
        q = quarantine(d, "quarantine.bad-xml")
        check(len(q) == 1 and q[0].headers["lgsp-position"] == "garbage.xml:1"
              and "not well-formed XML" in q[0].headers["lgsp-reason"] and q[0].payload.startswith(b"\x00\x01 this"),
              "one quarantine entry for garbage.xml with line, reason and bytes: %s" %
              [(m.headers, m.payload[:20]) for m in q])
        raw = harness.read_topic(d.endpoint, "raw.bad-xml", idle=1)
        check([m.headers["lgsp-source-id"] for m in raw] == ["Q1"], "ok.xml's record is stored")

        check(sorted(os.listdir(os.path.join(cdir, "done"))) == ["T1_legacy.csv", "U1_mixed.csv"],
              "files with bad rows are done: %s" % sorted(os.listdir(os.path.join(cdir, "done"))))
        check(sorted(os.listdir(os.path.join(cdir, "failed"))) == ["V1_header.csv", "X1_ebcdic.csv",
                                                                   "Z9_unknown.csv"],
              "files that cannot be read at all failed: %s" % sorted(os.listdir(os.path.join(cdir, "failed"))))
        q = quarantine(d, "quarantine.bad-csv")
        got = sorted((m.headers["lgsp-position"], m.headers["lgsp-reason"]) for m in q)
        for g in got:
            print("  quarantine:", g)
        want = [("T1_legacy.csv:3", "byte 0x80 is not defined in tcvn3"),
                ("U1_mixed.csv:3", "invalid UTF-8"),
                ("U1_mixed.csv:4", "3 fields, the header has 2"),
                ("U1_mixed.csv:5", "never closed"),
                ("V1_header.csv:1", "header row"),
                ("X1_ebcdic.csv", "unknown encoding 'EBCDIC'"),
                ("Z9_unknown.csv", "no entry")]
        check(len(got) == len(want) and all(g[0] == w[0] and w[1] in g[1] for g, w in zip(got, want)),
              "one quarantine entry per bad row or file, with file:line and reason")
        byq = {m.headers["lgsp-position"]: m.payload for m in q}
        check(byq.get("T1_legacy.csv:3") == b"2,\x80bad" and byq.get("U1_mixed.csv:3") == b"2,x\xff",
              "a bad row's entry holds its original bytes")
        raw = harness.read_topic(d.endpoint, "raw.bad-csv", idle=1)
        got = sorted((m.headers["lgsp-source-id"], m.payload.decode()) for m in raw)
        check(got == [("T1_legacy.csv#1", '{"id":"1","ten":"Hương"}'), ("U1_mixed.csv#1", '{"id":"1","ten":"Nguyễn"}'),
                      ("U1_mixed.csv#5", '{"id":"5","ten":"ok"}')],
              "the good rows are stored, also after an unclosed quote: %s" % got)
        q_count = int(d.metric("lgsp_adapter_quarantined_total", adapter="bad-csv") or 0)
        check(q_count == len(want), "the quarantined metric counts them (%d)" % q_count)
        slow = harness.read_topic(d.endpoint, "raw.slow", expect=501, idle=2)
        check(sorted(int(m.headers["lgsp-source-id"]) for m in slow) == list(range(500)),
              "the slowly written file: its 500 rows, once (%d messages)" % len(slow))
        check(harness.read_topic(d.endpoint, "quarantine.slow", idle=1) == [], "and nothing in quarantine")
    finally:
        stop_clean(d)


# ---- restart (lgsp-adapter-test) -------------------------------------

def adapter_test(cfg, name, state, work):
    """One pass of lgsp-adapter-test: (records, summary line)."""
    exe = os.path.join(os.path.dirname(harness.find_lgspd()), "lgsp-adapter-test")
    out = os.path.join(work, "out.jsonl")
    r = subprocess.run([exe, "-c", cfg, "-a", name, "-s", state, "-o", out, "-w", work],
                       capture_output=True, text=True, timeout=120)
    last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
    check(r.returncode == 0 and not re.search(r"runtime error:|Sanitizer", r.stderr),
          "lgsp-adapter-test ran: %s" % last)
    with open(out) as f:
        recs = [json.loads(line) for line in f if line.strip()]
    return recs, last


def case_restart(tmp):
    folder = os.path.join(tmp, "drop")
    inprog = os.path.join(folder, ".inprogress")
    os.makedirs(folder)
    cfg = os.path.join(tmp, "lgspd.yaml")
    with open(cfg, "w") as f:
        f.write("journal:\n  path: %s\nsecurity:\n  mode: plain\nadapters: %s\n" % (
            json.dumps(os.path.join(tmp, "journal")),
            json.dumps([{"name": "r", "plugin": "file-drop", "interval": "100ms",
                         "settings": {"dir": folder, "format": "csv", "settle": "0", "order": "mtime",
                                      "id": "{file}/{n}"}}])))
    state = os.path.join(tmp, "r.state")
    # three files, their mtimes against their names: c, b, a
    for i, n in enumerate(["c.csv", "b.csv", "a.csv"]):
        p = os.path.join(folder, n)
        with open(p, "w") as f:
            f.write("n,v\r\n1,%s\r\n2,%s\r\n" % (n, n))
        os.utime(p, (1000000000 + i, 1000000000 + i))
    recs, last = adapter_test(cfg, "r", state, tmp)
    order = [r["headers"]["lgsp-file"] for r in recs]
    check(order == ["c.csv", "c.csv", "b.csv", "b.csv", "a.csv", "a.csv"], "order: mtime: %s" % order)
    check(sorted(os.listdir(os.path.join(folder, "done"))) == ["a.csv", "b.csv", "c.csv"], "all three done")
    # lgspd died after the commit, before the rename: the state knows the file
    shutil.copy(os.path.join(folder, "done", "b.csv"), os.path.join(inprog, "b.csv"))
    recs, last = adapter_test(cfg, "r", state, tmp)
    check(recs == [] and "0 stored, 0 duplicates" in last,
          "a finished file found in .inprogress/ is only moved: %s" % last)
    check(os.listdir(inprog) == [] and os.path.exists(os.path.join(folder, "done", "b.csv")), "and it is in done/")
    # another file under a name the state knows (a re-export, one row added)
    with open(os.path.join(inprog, "a.csv"), "w") as f:
        f.write("n,v\r\n1,a.csv\r\n2,a.csv\r\n3,a.csv\r\n")
    recs, last = adapter_test(cfg, "r", state, tmp)
    check(len(recs) == 1 and recs[0]["key"] == "a.csv/3" and "1 stored, 2 duplicates" in last,
          "a new file under a known name is read from the start; its new row is new: %s" % last)
    # a file the state does not know, left in .inprogress/ (lgspd died before its first commit)
    with open(os.path.join(inprog, "d.csv"), "w") as f:
        f.write("n,v\r\n1,d\r\n")
    recs, last = adapter_test(cfg, "r", state, tmp)
    check([r["key"] for r in recs] == ["d.csv/1"], "a file left in .inprogress/ is read: %s" % last)
    recs, last = adapter_test(cfg, "r", state, tmp)
    check(recs == [] and "0 stored" in last, "then nothing is left: %s" % last)


# ---- bench ------------------------------------------------------------

def bench(tmp, scale, only, runs=1):
    """records/s of each drop folder alone: files dropped at once
    (interval_ms=0), lgspd started, time until every file is in done/.
    With runs > 1, the median run is reported last."""
    w = world(tmp, scale)
    with open(os.path.join(w, "truth", "summary.json")) as f:
        summary = json.load(f)
    out = {}
    for name in only:
        times = []
        for run in range(runs):
            n, dt, nfiles = bench_one(tmp, w, summary, name, run)
            times.append(dt)
            print("file-drop %s: %d records (%d files) in %.2f s: %.0f records/s" % (name, n, nfiles, dt, n / dt),
                  flush=True)
        if runs > 1:
            med = sorted(times)[len(times) // 2]
            print("file-drop %s: median of %d runs: %.0f records/s" % (name, runs, n / med), flush=True)
        out[name] = (n, sorted(times)[len(times) // 2])
    return out


def bench_one(tmp, w, summary, name, run):
    if True:
        work = os.path.join(tmp, "bench-%s-%d" % (name, run))
        sim = departments.Sim(w, os.path.join(work, "sim"), only=[name], settings=[name + ".interval_ms=0"])
        folder = sim.where[name]
        want = summary["records"][name]
        # wait until every file is in the folder, so that reading is measured
        nfiles = len([n for n in os.listdir(os.path.join(w, name))])
        wait_for(lambda: len([n for n in os.listdir(folder) if not n.startswith(".")]) >= nfiles, 300)
        a = (land_adapter if name == "qn-land" else civil_adapter)(folder, settle="0")
        d = harness.Lgspd(os.path.join(work, "lgspd"), adapters=[a], map_size="4GiB", log_level="warn")
        done = os.path.join(folder, "done")
        try:
            # the end: every file in done/, which the plugin does right after
            # the commit that made its records durable (lgspd's metrics are
            # rendered once a second, too coarse at small scales)
            t0 = time.monotonic()
            d.start()
            wait_for(lambda: os.path.isdir(done) and len(os.listdir(done)) >= nfiles - (name == "qn-civil"),
                     1800, name + " ingested", step=0.01)
            dt = time.monotonic() - t0
            wait_for(lambda: topic_count(d, "raw." + name) >= want, 30, name + " counted")
            n = topic_count(d, "raw." + name)
            check(n == want, "%s: %d records in the journal, the generator %d" % (name, n, want))
        finally:
            d.stop()
            d.kill9()
            sim.stop()
        shutil.rmtree(work, ignore_errors=True)
        return n, dt, nfiles


def main():
    case = sys.argv[1] if len(sys.argv) > 1 else ""
    tmp = harness.workdir("file-drop-" + (case or "x"))
    try:
        if case == "land":
            case_land(tmp)
        elif case == "civil":
            case_civil(tmp)
        elif case == "bad":
            case_bad(tmp)
        elif case == "restart":
            case_restart(tmp)
        elif case == "bench":
            import argparse
            ap = argparse.ArgumentParser()
            ap.add_argument("--scale", type=float, default=0.01)
            ap.add_argument("--only", default="qn-land,qn-civil")
            ap.add_argument("--runs", type=int, default=1)
            a = ap.parse_args(sys.argv[2:])
            bench(tmp, a.scale, a.only.split(","), a.runs)
        else:
            print(__doc__)
            return 2
    except Exception:
        import traceback
        traceback.print_exc()
        FAILS.append("exception")
    if FAILS:
        print("%d check(s) failed:\n  %s" % (len(FAILS), "\n  ".join(FAILS)))
        for f in ("lgspd/lgspd.log",):
            p = os.path.join(tmp, f)
            if os.path.exists(p):
                print("--- %s (tail)" % p)
                print("".join(open(p, errors="replace").readlines()[-40:]))
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
