#!/usr/bin/python3
"""Tests of lgsp-sim, the six simulated department systems (suite 'sim').
Standard library only, plus curl, iconv, psql (dn-land) and xmllint when
present.

usage: test_sim.py TEST --sim LGSP_SIM --gen LGSP_GEN --vnconv LGSP_VNCONV --data SHARED_DATA
tests: cli qn-population dn-population dn-land qn-land qn-civil dn-civil faults all

Each test runs lgsp-gen at a tiny scale into a temporary folder, starts
lgsp-sim on free loopback ports and talks to it through the system's own
protocol. Exit 0 = pass, 1 = fail, 77 = skipped (PostgreSQL unavailable).
"""
import argparse
import base64
import csv
import hashlib
import hmac
import http.client
import http.server
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

FAILS = []
SCALE = "0.001"
NS_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
NS_DC = "urn:lgsp-sim:dn-dancu:1"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
QN_KEY = "qn-dancu-sim-key"
DN_USER, DN_PASS = "lgsp", "dn-dancu-sim-pass"
DC_TOKEN = "dn-hotich-sim-token"
DC_SECRET = "dn-hotich-sim-secret"


def fail(msg):
    FAILS.append(msg)
    print("FAIL:", msg, file=sys.stderr, flush=True)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


def log(*a):
    print(*a, flush=True)


# ---- the world and the simulator -----------------------------------------

def make_world(args, tmp, seed=1):
    out = os.path.join(tmp, "world")
    r = subprocess.run([args.gen, "--seed", str(seed), "--scale", SCALE, "--out", out,
                        "--data", args.data, "--quiet"], capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout, r.stderr, file=sys.stderr)
        raise SystemExit("lgsp-gen failed")
    return out


class Sim:
    """One lgsp-sim process; .where[name] is what it printed for a system."""

    def __init__(self, args, world, work, extra=(), only=None, timeout=90):
        cmd = [args.sim, "--data", world, "--work", work, "--base-port", "0",
               "--set", "ref=" + args.data]
        if only:
            cmd += ["--only", only]
        cmd += list(extra)
        self.errf = open(os.path.join(work, "lgsp-sim.stderr"), "w+")
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.errf, text=True)
        self.where = {}
        self.lines = []
        deadline = time.time() + timeout
        while True:
            line = self.p.stdout.readline()
            if not line:
                self.errf.seek(0)
                raise SystemExit("lgsp-sim exited before 'ready' (rc=%s): %s" %
                                 (self.p.wait(), self.errf.read()[-3000:]))
            line = line.rstrip("\n")
            self.lines.append(line)
            if line == "lgsp-sim: ready":
                break
            m = re.match(r"lgsp-sim: (\S+)\s+(\S+)", line)
            if m:
                self.where[m.group(1)] = m.group(2)
            if time.time() > deadline:
                raise SystemExit("lgsp-sim not ready in time")
        self.control = self.where["control"].rsplit("/", 1)[0]

    def port(self, name):
        w = self.where[name]
        m = re.search(r"@127\.0\.0\.1:(\d+)/", w) or re.match(r"\w+://127\.0\.0\.1:(\d+)", w)
        return int(m.group(1))

    def ctl(self, path, method="POST"):
        req = urllib.request.Request(self.control + path, method=method, data=b"" if method == "POST" else None)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def stop(self, expect_ok=True):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            rest, _ = self.p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rest, _ = self.p.communicate()
            fail("lgsp-sim did not stop within 60 s of SIGTERM")
        if expect_ok:
            check(self.p.returncode == 0, "lgsp-sim exit status %s after SIGTERM" % self.p.returncode)
            check("lgsp-sim: stopped" in rest, "lgsp-sim did not print 'stopped'")
        self.errf.seek(0)
        err = self.errf.read()
        self.errf.close()
        if "ERROR: AddressSanitizer" in err or "runtime error:" in err or "LeakSanitizer" in err:
            fail("sanitizer report:\n" + err[-4000:])
        return err


def workdir(tmp):
    w = os.path.join(tmp, "work")
    os.makedirs(w, exist_ok=True)
    # the database runs as the 'postgres' user, which must reach its folder
    for d in (tmp, w):
        os.chmod(d, 0o755)
    return w


def http_get(url, headers=None, timeout=30):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def curl(args_list, timeout=60):
    """Runs curl; returns (exit code, http code, body bytes)."""
    r = subprocess.run(["curl", "-s", "-o", "-", "-w", "\n%{http_code}"] + args_list,
                       capture_output=True, timeout=timeout)
    out = r.stdout
    body, _, code = out.rpartition(b"\n")
    return r.returncode, int(code or 0), body


def jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


# ---- cli --------------------------------------------------------------------

def t_cli(args, tmp):
    def bad(extra, what, rc=2):
        r = subprocess.run([args.sim] + extra, capture_output=True, text=True, timeout=30)
        check(r.returncode == rc, "%s: exit %d, expected %d (%s)" % (what, r.returncode, rc, r.stderr.strip()))
        return r.stderr
    bad([], "no data folder")
    bad(["--data", tmp, "--only", "nope"], "unknown system")
    bad(["--data", tmp, "--set", "qn-population.port=99999"], "port out of range")
    bad(["--data", tmp, "--set", "qn-population.colour=red"], "unknown setting")
    bad(["--frobnicate"], "unknown option")
    conf = os.path.join(tmp, "bad.conf")
    with open(conf, "w") as f:
        f.write("data = %s\n[qn-population]\nport = 18601\n[qn-land]\ninterval_ms = soon\n" % tmp)
    err = bad(["--config", conf], "bad config value")
    check("bad.conf:5:" in err, "config error names file:line: %r" % err)
    with open(conf, "w") as f:
        f.write("data = %s\n[nowhere]\n" % tmp)
    err = bad(["--config", conf], "bad config section")
    check("bad.conf:2:" in err, "config error names file:line: %r" % err)
    r = subprocess.run([args.sim, "--help-config"], capture_output=True, text=True)
    check(r.returncode == 0 and "[dn-civil]" in r.stdout and "webhook" in r.stdout,
          "--help-config lists the settings")
    r = subprocess.run([args.sim, "--help"], capture_output=True, text=True)
    check(r.returncode == 0 and "usage: lgsp-sim" in r.stdout, "--help")
    # a missing view is a clear error, not a crash
    empty = os.path.join(tmp, "empty")
    os.makedirs(empty)
    r = subprocess.run([args.sim, "--data", empty, "--only", "qn-population", "--base-port", "0",
                        "--set", "ref=" + args.data, "--work", os.path.join(tmp, "w")],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 1 and "persons.jsonl" in r.stderr, "missing view: %r" % r.stderr)


# ---- qn-population ------------------------------------------------------------

def qn_pages(base, since=None, size=100, key=QN_KEY):
    items, page, total = [], 1, None
    while True:
        q = "page=%d&page_size=%d" % (page, size)
        if since:
            q += "&since=" + urllib.request.quote(since)
        st, hd, body = http_get(base + "?" + q, {"X-API-Key": key})
        if st != 200:
            raise AssertionError("HTTP %d on page %d: %r" % (st, page, body[:200]))
        d = json.loads(body)
        total = d["total"]
        items += d["data"]
        if page >= d["total_pages"]:
            break
        page += 1
    return items, total


def t_qn_population(args, tmp):
    world = make_world(args, tmp)
    sim = Sim(args, world, workdir(tmp), only="qn-population")
    try:
        base = sim.where["qn-population"]
        view = jsonl(os.path.join(world, "qn-population", "persons.jsonl"))
        # with curl, as an integration engineer would first try
        rc, code, body = curl([base + "?page=1&page_size=5", "-H", "X-API-Key: " + QN_KEY])
        d = json.loads(body)
        check(rc == 0 and code == 200 and len(d["data"]) == 5 and d["total"] == len(view),
              "curl page 1: rc %d code %d total %s" % (rc, code, d.get("total")))
        check(d["data"][0] == view[0], "the first record is the view's first line")
        rc, code, body = curl([base + "?page=1"])
        check(code == 401 and b"X-API-Key" in body, "no key -> 401 (got %d)" % code)
        rc, code, body = curl([base + "?page=1", "-H", "X-API-Key: wrong"])
        check(code == 401, "wrong key -> 401")
        for q, what in (("page=0", "page 0"), ("page_size=100000", "page_size too big"),
                        ("page_size=abc", "page_size not a number"), ("since=yesterday", "bad since")):
            rc, code, body = curl([base + "?" + q, "-H", "X-API-Key: " + QN_KEY])
            check(code == 400 and b"INVALID_PARAM" in body, "%s -> 400 (got %d)" % (what, code))
        # every page, in order: exactly the view
        items, total = qn_pages(base, size=333)
        check(items == view, "all pages = the view (%d vs %d records)" % (len(items), len(view)))
        # quirks of this source, as served
        check(all(re.fullmatch(r"\d\d/\d\d/\d{4}", r["ngay_sinh"]) for r in items), "dd/mm/yyyy dates")
        check(all(r["ho_ten"] == r["ho_ten"].upper() for r in items), "UPPER-CASE names")
        # since: only later records, in updated_at order
        mid = view[len(view) // 2]["updated_at"]
        later, t2 = qn_pages(base, since=mid, size=50)
        want = [r for r in view if r["updated_at"] > mid]
        check(later == want and t2 == len(want), "since=%s: %d records, want %d" % (mid, len(later), len(want)))
        st, _, body = http_get(base + "?page=99999&page_size=10", {"X-API-Key": QN_KEY})
        check(st == 200 and json.loads(body)["data"] == [], "a page past the end is empty")
        # one record
        st, _, body = http_get(base + "/" + view[7]["id"], {"X-API-Key": QN_KEY})
        check(st == 200 and json.loads(body) == view[7], "GET one record")
        st, _, _ = http_get(base + "/QN99999999", {"X-API-Key": QN_KEY})
        check(st == 404, "unknown id -> 404")
        # changes: later updated_at, seen by since; deterministic
        watermark = view[-1]["updated_at"]
        st, ch = sim.ctl("/sims/qn-population/change?n=20")
        check(st == 200 and ch["applied"] == 20, "20 changes applied: %r" % (ch,))
        new, _ = qn_pages(base, since=watermark)
        ids = [c["id"] for c in ch["changes"]]
        check(sorted({r["id"] for r in new}) == sorted(set(ids)),
              "since the watermark: exactly the changed records")
        check(all(r["updated_at"] > watermark for r in new), "changed records are later")
        kinds = {c["kind"] for c in ch["changes"]}
        check({"birth", "move"} <= kinds, "births and moves among the changes: %s" % kinds)
        births = [r for r in new if r["id"] not in {v["id"] for v in view}]
        check(all(re.fullmatch(r"049[23]25\d{6}", r["so_dinh_danh"]) for r in births),
              "new births have a valid 2025 personal ID")
        allnow, total_now = qn_pages(base, size=1000)
        check(total_now == len(view) + len(births), "total grows by the births")
        check(len({r["id"] for r in allnow}) == len(allnow), "a changed record is listed once")
    finally:
        sim.stop()
    # determinism: the same seed gives the same changes
    w2 = os.path.join(tmp, "w2")
    os.makedirs(w2)
    sim2 = Sim(args, world, w2, only="qn-population")
    try:
        st, ch2 = sim2.ctl("/sims/qn-population/change?n=20")
        check(ch2["changes"] == ch["changes"], "the same changes after a restart with the same seed")
    finally:
        sim2.stop()


# ---- dn-population (SOAP) ---------------------------------------------------

def soap_env(body, user=DN_USER, password=DN_PASS, ns=NS_SOAP):
    hdr = ""
    if user is not None:
        hdr = ('<soap:Header><wsse:Security xmlns:wsse="%s"><wsse:UsernameToken>'
               '<wsse:Username>%s</wsse:Username><wsse:Password Type="http://docs.oasis-open.org/wss/'
               '2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText">%s</wsse:Password>'
               '</wsse:UsernameToken></wsse:Security></soap:Header>' % (NS_WSSE, user, password))
    return ('<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="%s" xmlns:dc="%s">%s'
            '<soap:Body>%s</soap:Body></soap:Envelope>' % (ns, NS_DC, hdr, body)).encode()


def soap_call(url, op, body, **kw):
    req = urllib.request.Request(url, data=soap_env(body, **kw), method="POST", headers={
        "Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"%s/%s"' % (NS_DC, op)})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def soap_fault(xml):
    root = ET.fromstring(xml)
    f = root.find("{%s}Body/{%s}Fault" % (NS_SOAP, NS_SOAP))
    return None if f is None else (f.findtext("faultcode"), f.findtext("faultstring"))


def soap_list(url, since=None, page=1, size=100):
    body = "<dc:LayDanhSachCongDan>%s<dc:Trang>%d</dc:Trang><dc:SoBanGhi>%d</dc:SoBanGhi>" \
           "</dc:LayDanhSachCongDan>" % ("<dc:TuThoiDiem>%s</dc:TuThoiDiem>" % since if since else "",
                                         page, size)
    st, xml = soap_call(url, "LayDanhSachCongDan", body)
    if st != 200:
        raise AssertionError("SOAP list: HTTP %d %r" % (st, xml[:300]))
    root = ET.fromstring(xml)
    resp = root.find("{%s}Body/{%s}LayDanhSachCongDanResponse" % (NS_SOAP, NS_DC))
    recs = resp.findall("{%s}DanhSachCongDan/{%s}CongDan" % (NS_DC, NS_DC))
    return int(resp.findtext("{%s}TongSo" % NS_DC)), int(resp.findtext("{%s}SoTrang" % NS_DC)), recs


def soap_all(url, since=None, size=200):
    out, page = [], 1
    while True:
        total, pages, recs = soap_list(url, since, page, size)
        out += recs
        if page >= pages:
            return total, out
        page += 1


def t_dn_population(args, tmp):
    world = make_world(args, tmp)
    sim = Sim(args, world, workdir(tmp), only="dn-population")
    try:
        url = sim.where["dn-population"]
        view = ET.parse(os.path.join(world, "dn-population", "congdan.xml")).getroot()
        vrecs = view.findall("{%s}CongDan" % NS_DC)
        # the WSDL
        st, _, wsdl = http_get(url + "?wsdl")
        check(st == 200, "GET ?wsdl")
        w = ET.fromstring(wsdl)
        ops = {o.get("name") for o in w.iter("{http://schemas.xmlsoap.org/wsdl/}operation")}
        check({"LayDanhSachCongDan", "LayCongDan"} <= ops, "WSDL operations: %s" % ops)
        addr = [a.get("location") for a in w.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address")]
        check(addr == [url], "WSDL soap:address is the service: %s" % addr)
        # a request with curl, as in the docs
        env = soap_env("<dc:LayDanhSachCongDan><dc:Trang>1</dc:Trang><dc:SoBanGhi>3</dc:SoBanGhi>"
                       "</dc:LayDanhSachCongDan>")
        rc, code, body = curl([url, "-H", "Content-Type: text/xml; charset=utf-8", "-H",
                               'SOAPAction: "%s/LayDanhSachCongDan"' % NS_DC, "--data-binary", env])
        check(rc == 0 and code == 200, "curl SOAP request: rc %d code %d" % (rc, code))
        root = ET.fromstring(body)
        recs = root.findall(".//{%s}CongDan" % NS_DC)
        check(len(recs) == 3 and recs[0].get("id") == vrecs[0].get("id"), "3 records, the first first")
        r0 = recs[0]
        check(r0.find("{%s}HoTen/{%s}Ho" % (NS_DC, NS_DC)) is not None and
              r0.find("{%s}HoTen/{%s}Ten" % (NS_DC, NS_DC)) is not None, "họ / chữ đệm / tên")
        check(re.fullmatch(r"\d{4}-\d\d-\d\d", r0.findtext("{%s}NgaySinh" % NS_DC) or ""), "ISO dates")
        # the response is valid against the WSDL's own schema (xmllint)
        if shutil.which("xmllint"):
            m = re.search(rb"<xs:schema .*?</xs:schema>", wsdl, re.S)
            xsd = os.path.join(tmp, "dn.xsd")
            with open(xsd, "wb") as f:
                f.write(m.group(0).replace(b"<xs:schema ", b'<xs:schema xmlns:xs="http://www.w3.org/2001/'
                                           b'XMLSchema" xmlns:tns="' + NS_DC.encode() + b'" ', 1))
            resp = root.find("{%s}Body/{%s}LayDanhSachCongDanResponse" % (NS_SOAP, NS_DC))
            rx = os.path.join(tmp, "resp.xml")
            with open(rx, "wb") as f:
                f.write(ET.tostring(resp))
            r = subprocess.run(["xmllint", "--noout", "--schema", xsd, rx], capture_output=True, text=True)
            check(r.returncode == 0, "response valid against the WSDL schema: %s" % r.stderr[-500:])
        # all pages with urllib: the view, in order
        total, allrecs = soap_all(url, size=250)
        check(total == len(vrecs) and [r.get("id") for r in allrecs] == [r.get("id") for r in vrecs],
              "all pages = the view (%d vs %d)" % (len(allrecs), len(vrecs)))
        check(ET.tostring(allrecs[10]) == ET.tostring(vrecs[10]), "records copied as they are")
        mid = vrecs[len(vrecs) // 2].get("capNhat")
        t2, later = soap_all(url, since=mid)
        want = [r.get("id") for r in vrecs if r.get("capNhat") > mid]
        check([r.get("id") for r in later] == want, "TuThoiDiem: %d records, want %d" % (len(later), len(want)))
        # one record
        st, xml = soap_call(url, "LayCongDan", "<dc:LayCongDan><dc:MaCongDan>%s</dc:MaCongDan></dc:LayCongDan>"
                            % vrecs[5].get("id"))
        got = ET.fromstring(xml).find(".//{%s}CongDan" % NS_DC)
        check(st == 200 and got is not None and got.get("id") == vrecs[5].get("id"), "LayCongDan")
        # faults
        cases = [
            (b"not xml <", "Client", "malformed XML"),
            (soap_env("<dc:LayDanhSachCongDan/>", password="wrong"), "Client", "wrong password"),
            (soap_env("<dc:LayDanhSachCongDan/>", user=None), "Client", "no WS-Security"),
            (soap_env("<dc:XoaCongDan/>"), "Client", "unknown operation"),
            (soap_env("<dc:LayDanhSachCongDan><dc:Trang>-1</dc:Trang></dc:LayDanhSachCongDan>"),
             "Client", "Trang -1"),
            (soap_env("<dc:LayDanhSachCongDan><dc:SoBanGhi>100000</dc:SoBanGhi></dc:LayDanhSachCongDan>"),
             "Client", "SoBanGhi too big"),
            (soap_env("<dc:LayDanhSachCongDan><dc:TuThoiDiem>hôm qua</dc:TuThoiDiem></dc:LayDanhSachCongDan>"),
             "Client", "bad TuThoiDiem"),
            (soap_env("<dc:LayCongDan><dc:MaCongDan>CD99999999</dc:MaCongDan></dc:LayCongDan>"),
             "Client", "unknown MaCongDan"),
            (soap_env("<dc:LayDanhSachCongDan/>", ns="http://www.w3.org/2003/05/soap-envelope"),
             "VersionMismatch", "SOAP 1.2 envelope"),
        ]
        for body, code, what in cases:
            req = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "text/xml; charset=utf-8"})
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    st, xml = r.status, r.read()
            except urllib.error.HTTPError as e:
                st, xml = e.code, e.read()
            f = soap_fault(xml) if xml.startswith(b"<?xml") else None
            check(st == 500 and f and f[0] == "soap:" + code,
                  "%s -> HTTP 500 soap:%s fault (got %d %r)" % (what, code, st, f))
        # changes: later capNhat, 2025 codes without district
        last = vrecs[-1].get("capNhat")
        st, ch = sim.ctl("/sims/dn-population/change?n=15")
        check(st == 200 and ch["applied"] == 15, "15 changes")
        t3, new = soap_all(url, since=last)
        check(sorted(r.get("id") for r in new) == sorted({c["id"] for c in ch["changes"]}),
              "since the last capNhat: the changed records")
        for r in new:
            tt = r.find("{%s}ThuongTru" % NS_DC)
            check(not (tt.findtext("{%s}MaQuanHuyen" % NS_DC) or ""),
                  "changed record %s has no district (2025 codes)" % r.get("id"))
    finally:
        sim.stop()


# ---- dn-land (PostgreSQL) -----------------------------------------------------

def psql(port, sql, password="dn-land-sim-pass", user="lgsp_reader", check_rc=True):
    env = dict(os.environ, PGPASSWORD=password, PGCONNECT_TIMEOUT="10")
    r = subprocess.run(["psql", "-X", "-h", "127.0.0.1", "-p", str(port), "-U", user, "-d", "dn_land",
                        "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True,
                       env=env, timeout=60)
    if check_rc and r.returncode != 0:
        raise AssertionError("psql %r: %s" % (sql, r.stderr))
    return r


def csv_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def t_dn_land(args, tmp):
    if not shutil.which("psql") and not any(os.path.exists("/usr/lib/postgresql/%d/bin/psql" % v)
                                            for v in range(12, 18)):
        # the script installs PostgreSQL; psql comes with it
        pass
    world = make_world(args, tmp)
    work = workdir(tmp)
    try:
        sim = Sim(args, world, work, only="dn-land", timeout=300)
    except SystemExit as e:
        msg = str(e)
        if "PostgreSQL is not installed" in msg or "could not be installed" in msg:
            print("SKIP: PostgreSQL cannot be installed here:", msg)
            raise SystemExit(77)
        raise
    try:
        port = sim.port("dn-land")
        check(sim.where["dn-land"].startswith("postgresql://lgsp_reader:"), "prints the connection URL")
        # listens on the loopback only
        r = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True) if shutil.which("ss") else None
        if r and r.returncode == 0:
            ls = [l.split()[3] for l in r.stdout.splitlines() if l.split()[3].endswith(":%d" % port)]
            check(ls and all(a.startswith("127.0.0.1:") for a in ls), "PostgreSQL listens on 127.0.0.1 only: %s" % ls)
        # the server does not run as root
        r = subprocess.run(["ps", "-o", "user=", "-C", "postgres"], capture_output=True, text=True)
        check("root" not in r.stdout.split(), "PostgreSQL does not run as root")
        for table in ("thua_dat", "chu_su_dung", "giay_chung_nhan"):
            rows = csv_rows(os.path.join(world, "dn-land", table + ".csv"))
            n = int(psql(port, "SELECT count(*) FROM %s" % table).stdout)
            check(n == len(rows), "%s: %d rows in the database, %d in the CSV" % (table, n, len(rows)))
        rows = csv_rows(os.path.join(world, "dn-land", "thua_dat.csv"))
        r0 = rows[3]
        got = psql(port, "SELECT id, ma_xa, so_to, so_thua, dien_tich, loai_dat, "
                         "to_char(updated_at, 'YYYY-MM-DD HH24:MI:SSOF') FROM thua_dat WHERE id = %s" % r0["id"]).stdout.strip()
        want = "|".join([r0["id"], r0["ma_xa"], r0["so_to"], r0["so_thua"], r0["dien_tich"], r0["loai_dat"],
                         r0["updated_at"]])
        check(got == want, "a parcel as loaded: %r vs %r" % (got, want))
        cols = psql(port, "SELECT table_name || '.' || column_name FROM information_schema.columns "
                          "WHERE column_name = 'updated_at' ORDER BY 1").stdout.split()
        check(cols == ["chu_su_dung.updated_at", "giay_chung_nhan.updated_at", "thua_dat.updated_at"],
              "updated_at in the three tables: %s" % cols)
        # the reader cannot write, and a wrong password is refused
        r = psql(port, "DELETE FROM thua_dat", check_rc=False)
        check(r.returncode != 0 and "permission denied" in r.stderr, "lgsp_reader is read-only")
        r = psql(port, "SELECT 1", password="wrong", check_rc=False)
        check(r.returncode != 0 and "authentication failed" in r.stderr, "wrong password refused")
        # incremental by the updated_at watermark
        wm = psql(port, "SELECT max(updated_at) FROM thua_dat").stdout.strip()
        st, ch = sim.ctl("/sims/dn-land/change?n=12")
        check(st == 200 and ch.get("applied", 0) >= 10, "12 changes: %r" % (ch,))
        n_new = int(psql(port, "SELECT count(*) FROM thua_dat WHERE updated_at > '%s'" % wm).stdout)
        want_ids = {c["thua_dat_id"] for c in ch["changes"] if c["kind"] in ("sale", "split")}
        got_ids = set(map(int, psql(port, "SELECT id FROM thua_dat WHERE updated_at > '%s'" % wm).stdout.split()))
        check(want_ids <= got_ids, "parcels sold or split are after the watermark: %s vs %s" % (want_ids, got_ids))
        splits = [c for c in ch["changes"] if c["kind"] == "split"]
        for c in splits:
            n = int(psql(port, "SELECT count(*) FROM chu_su_dung WHERE thua_dat_id = %d" % c["thua_dat_id"]).stdout)
            check(n >= 1, "a new parcel from a split has owners")
        check(int(psql(port, "SELECT count(*) FROM chu_su_dung c LEFT JOIN thua_dat t ON t.id = c.thua_dat_id "
                             "WHERE t.id IS NULL").stdout) == 0, "no owner without a parcel")
        # faults
        st, _ = sim.ctl("/sims/dn-land/fault?mode=error")
        r = psql(port, "SELECT count(*) FROM thua_dat", check_rc=False)
        check(st == 200 and r.returncode != 0 and "permission denied" in r.stderr, "error: queries denied")
        sim.ctl("/sims/dn-land/fault?mode=none")
        check(psql(port, "SELECT 1").stdout.strip() == "1", "none: queries work again")
        # the lock is held from before ctl returns until delay_ms after it was taken; under
        # load ctl may return late, so the delay is long and the check only needs a clear wait
        st, _ = sim.ctl("/sims/dn-land/fault?mode=slow&delay_ms=6000")
        t0 = time.time()
        psql(port, "SELECT count(*) FROM thua_dat")
        dt = time.time() - t0
        check(st == 200 and dt >= 1.0, "slow: a query waited %.2f s" % dt)
        sim.ctl("/sims/dn-land/fault?mode=none")
        holder = subprocess.Popen(["psql", "-X", "-h", "127.0.0.1", "-p", str(port), "-U", "lgsp_reader",
                                   "-d", "dn_land", "-tA", "-c", "SELECT pg_sleep(20)"],
                                  env=dict(os.environ, PGPASSWORD="dn-land-sim-pass"),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        st, _ = sim.ctl("/sims/dn-land/fault?mode=drop")
        out, err = holder.communicate(timeout=20)
        check(holder.returncode != 0 and ("terminat" in err or "closed" in err),
              "drop: the open connection was cut (%d %r)" % (holder.returncode, err[-200:]))
        st, body = sim.ctl("/sims/dn-land/fault?mode=cut")
        check(st == 400, "an unsupported mode is refused")
    finally:
        sim.stop()
    # stopped with lgsp-sim
    r = psql(port, "SELECT 1", check_rc=False)
    check(r.returncode != 0, "PostgreSQL stopped with lgsp-sim")


# ---- qn-land (XML file drop) ---------------------------------------------------

def watch_folder(folder, want, timeout, parse):
    """Polls the folder until want files are visible; every visible file must
    parse (a watcher never sees half a file). Returns the names seen, in order."""
    seen, order = {}, []
    deadline = time.time() + timeout
    while time.time() < deadline:
        for n in sorted(os.listdir(folder)):
            if n.startswith("."):
                continue
            p = os.path.join(folder, n)
            st = os.stat(p)
            if seen.get(n) == (st.st_mtime_ns, st.st_size):
                continue
            with open(p, "rb") as f:
                data = f.read()
            if not parse(n, data):
                fail("a watcher saw a partial or broken file: %s (%d bytes)" % (n, len(data)))
            seen[n] = (st.st_mtime_ns, st.st_size)
            if n not in order:
                order.append(n)
        if len(order) >= want:
            return order
        time.sleep(0.01)
    return order


def xml_ok(name, data):
    try:
        ET.fromstring(data)
        return True
    except ET.ParseError:
        return False


def t_qn_land(args, tmp):
    world = make_world(args, tmp)
    work = workdir(tmp)
    src = os.path.join(world, "qn-land")
    files = sorted(os.listdir(src))
    sim = Sim(args, world, work, only="qn-land", extra=["--set", "qn-land.interval_ms=60"])
    try:
        drop = sim.where["qn-land"]
        t0 = time.time()
        order = watch_folder(drop, len(files), 30, xml_ok)
        dt = time.time() - t0
        check(sorted(order) == files, "every export file was dropped (%d of %d)" % (len(order), len(files)))
        check(dt >= 0.04 * (len(files) - 1), "files came over time (%.2f s for %d)" % (dt, len(files)))
        dates = [n.split("_")[1] for n in order]
        check(dates == sorted(dates), "in export-date order")
        for n in files:
            with open(os.path.join(src, n), "rb") as a, open(os.path.join(drop, n), "rb") as b:
                check(a.read() == b.read(), "%s dropped as exported" % n)
        check(not [n for n in os.listdir(drop) if n.startswith(".")], "no temporary file left")
        root = ET.parse(os.path.join(drop, files[0])).getroot()
        areas = [t.findtext("DienTich") for t in root.iter("ThuaDat")]
        check(all(re.fullmatch(r"\d{1,3}(\.\d{3})*,\d", a) for a in areas), "comma-decimal areas")
        # changes: a new export with later ngayCapNhat, same parcel ids
        st, ch = sim.ctl("/sims/qn-land/change?n=30")
        check(st == 200 and ch["applied"] == 30, "30 changes")
        kinds = {c["kind"] for c in ch["changes"]}
        check({"sale", "new_id"} <= kinds, "sales and new IDs among the changes: %s" % kinds)
        new = watch_folder(drop, len(files) + len(ch["files"]), 20, xml_ok)
        check(set(ch["files"]) <= set(new), "the change exports were dropped")
        changed = {}
        for n in ch["files"]:
            r = ET.parse(os.path.join(drop, n)).getroot()
            check(int(r.get("soLuong")) == len(r.findall("ThuaDat")), "soLuong = parcels in %s" % n)
            for t in r.iter("ThuaDat"):
                changed[t.get("maThuaDat")] = t
                d, m, y = t.get("ngayCapNhat").split("/")
                check((y, m, d) > ("2025", "09", "30"), "changed parcel dated after the export: %s" % t.get("ngayCapNhat"))
        check(set(changed) == {c["id"] for c in ch["changes"]}, "the exports hold the changed parcels")
        for c in ch["changes"]:
            if c["kind"] == "sale":
                t = changed[c["id"]]
                check(len(t.findall("ChuSuDung")) == 1 and t.find("GiayChungNhan") is not None,
                      "a sale: one new owner and a certificate")
        # faults: error = a truncated file, replaced later by the complete one
        sim.ctl("/sims/qn-land/pause")
        st, _ = sim.ctl("/sims/qn-land/fault?mode=error&count=1")
        st, ch2 = sim.ctl("/sims/qn-land/change?n=3")
        name = ch2["files"][0]
        sim.ctl("/sims/qn-land/resume")
        bad_seen = good_seen = False
        deadline = time.time() + 10
        while time.time() < deadline and not good_seen:
            p = os.path.join(drop, name)
            if os.path.exists(p):
                with open(p, "rb") as f:
                    data = f.read()
                if xml_ok(name, data):
                    good_seen = True
                else:
                    bad_seen = True
            time.sleep(0.005)
        check(bad_seen and good_seen, "error: truncated file first (%s), then the complete one (%s)" % (bad_seen, good_seen))
        # drop = a .part left behind, then the file
        sim.ctl("/sims/qn-land/pause")
        sim.ctl("/sims/qn-land/fault?mode=drop&count=1")
        st, ch3 = sim.ctl("/sims/qn-land/change?n=2")
        name = ch3["files"][0]
        sim.ctl("/sims/qn-land/resume")
        part_seen = False
        deadline = time.time() + 10
        while time.time() < deadline and not os.path.exists(os.path.join(drop, name)):
            part_seen = part_seen or os.path.exists(os.path.join(drop, "." + name + ".part"))
            time.sleep(0.002)
        check(part_seen, "drop: a half-written .part file was left")
        check(os.path.exists(os.path.join(drop, name)) and xml_ok(name, open(os.path.join(drop, name), "rb").read()),
              "drop: the complete file came later")
        st, status = sim.ctl("/sims/qn-land", method="GET")
        d = status["state"]["drop"]
        check(d["truncated"] == 1 and d["abandoned"] == 1, "status counts the faults: %r" % d)
    finally:
        sim.stop()


# ---- qn-civil (CSV in legacy encodings) ------------------------------------------

HEADERS = {
    "khai-sinh": "Số,Quyển số,Ngày đăng ký,Họ và tên,Giới tính,Ngày sinh,Nơi sinh,Số định danh cá nhân,"
                 "Họ tên cha,Năm sinh cha,Họ tên mẹ,Năm sinh mẹ,Nơi cư trú",
    "ket-hon": "Số,Quyển số,Ngày đăng ký,Họ tên chồng,Ngày sinh chồng,Giấy tờ tùy thân chồng,Nơi cư trú chồng,"
               "Họ tên vợ,Ngày sinh vợ,Giấy tờ tùy thân vợ,Nơi cư trú vợ",
    "khai-tu": "Số,Quyển số,Ngày đăng ký,Họ và tên,Giới tính,Ngày sinh,Ngày chết,Nơi chết,Giấy tờ tùy thân",
}


def decode(args, path, enc):
    raw = open(path, "rb").read()
    if enc == "UTF-8":
        check(raw.startswith(b"\xef\xbb\xbf"), "%s: UTF-8 with BOM" % path)
        return raw[3:].decode("utf-8")
    if enc == "CP1258":
        r = subprocess.run(["iconv", "-f", "CP1258", "-t", "UTF-8"], input=raw, capture_output=True)
        check(r.returncode == 0, "iconv CP1258 %s" % path)
        import unicodedata
        return unicodedata.normalize("NFC", r.stdout.decode("utf-8"))
    r = subprocess.run([args.vnconv, "-d", enc, path], capture_output=True)
    check(r.returncode == 0, "lgsp-vnconv -d %s %s: %s" % (enc, path, r.stderr[-200:]))
    return r.stdout.decode("utf-8")


def t_qn_civil(args, tmp):
    world = make_world(args, tmp)
    work = workdir(tmp)
    src = os.path.join(world, "qn-civil")
    files = sorted(os.listdir(src))
    sim = Sim(args, world, work, only="qn-civil", extra=["--set", "qn-civil.interval_ms=5"])
    try:
        drop = sim.where["qn-civil"]
        order = watch_folder(drop, len(files), 40, lambda n, d: True)
        check(sorted(order) == files, "every export dropped (%d of %d)" % (len(order), len(files)))
        mt = {n: os.stat(os.path.join(drop, n)).st_mtime_ns for n in order}
        check(mt["_encodings.csv"] <= min(mt.values()), "_encodings.csv dropped first")
        encs = {r["ma_xa"]: r["encoding"] for r in csv.DictReader(open(os.path.join(drop, "_encodings.csv"), encoding="utf-8"))}
        seen = set()
        for n in files:
            if n.startswith("_"):
                continue
            with open(os.path.join(src, n), "rb") as a, open(os.path.join(drop, n), "rb") as b:
                check(a.read() == b.read(), "%s dropped byte for byte" % n)
            enc = encs[n.split("_")[0]]
            seen.add(enc)
            text = decode(args, os.path.join(drop, n), enc)
            reg = re.search(r"_(khai-sinh|ket-hon|khai-tu)\.csv$", n).group(1)
            first = text.split("\r\n", 1)[0]
            check(first == HEADERS[reg], "%s (%s): header decodes: %r" % (n, enc, first[:60]))
        check(seen == {"TCVN3", "VNI-Windows", "CP1258", "UTF-8"}, "all four encodings present: %s" % seen)
        # changes: re-exported birth registers with late registrations appended
        st, ch = sim.ctl("/sims/qn-civil/change?n=40")
        check(st == 200 and ch["applied"] == 40, "40 changes")
        time.sleep(0.5)
        deadline = time.time() + 10
        while time.time() < deadline:
            st, s = sim.ctl("/sims/qn-civil", method="GET")
            if s["state"]["drop"]["queued"] == 0:
                break
            time.sleep(0.1)
        time.sleep(0.1)
        by_file = {}
        for c in ch["changes"]:
            by_file.setdefault(c["file"], []).append(c["id"])
        encs_changed = set()
        for n, ids in by_file.items():
            enc = encs[n.split("_")[0]]
            encs_changed.add(enc)
            old = decode(args, os.path.join(src, n), enc).rstrip("\r\n").split("\r\n")
            new = decode(args, os.path.join(drop, n), enc).rstrip("\r\n").split("\r\n")
            check(new[:len(old)] == old, "%s: the old rows unchanged" % n)
            added = list(csv.reader(new[len(old):]))
            check(len(added) == len(ids), "%s: %d rows added, %d changes" % (n, len(added), len(ids)))
            for row, rid in zip(added, ids):
                ma_xa = n.split("_")[0]
                check(rid == "%s/KS/%s/%s" % (ma_xa, row[1], row[0]), "record id %s = row %s/%s" % (rid, row[1], row[0]))
                d, m, y = row[2].split("/")
                check(y == "2025" and (m, d) <= ("06", "30"), "registered before the communes closed: %s" % row[2])
                check(re.fullmatch(r"049[23]2[45]\d{6}", row[7]), "a new child's personal ID: %s" % row[7])
        check(encs_changed == {"TCVN3", "VNI-Windows", "CP1258", "UTF-8"},
              "re-exports in every encoding: %s" % sorted(encs_changed))
    finally:
        sim.stop()


# ---- dn-civil (webhook + backfill) ----------------------------------------------

class Receiver:
    """A webhook receiver (python http.server) that records deliveries and
    can answer 500 to the first fail_first requests."""

    def __init__(self, fail_first=0):
        self.got, self.bad_sig, self.attempts = [], 0, []
        self.fail_first = fail_first
        self.lock = threading.Lock()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sig = self.headers.get("X-Signature", "")
                want = "sha256=" + hmac.new(DC_SECRET.encode(), body, hashlib.sha256).hexdigest()
                with outer.lock:
                    outer.attempts.append(int(self.headers.get("X-Delivery-Attempt", "0")))
                    if outer.fail_first > 0:
                        outer.fail_first -= 1
                        code = 500
                    else:
                        code = 200
                        if sig != want:
                            outer.bad_sig += 1
                        outer.got.append((self.headers.get("X-Event-Id"), json.loads(body)))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d/hook" % self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def wait(self, n, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.got) >= n:
                    return True
            time.sleep(0.02)
        return False

    def close(self):
        self.srv.shutdown()


def backfill_all(base, **params):
    out, page = [], 1
    while True:
        q = "&".join("%s=%s" % (k, urllib.request.quote(v)) for k, v in params.items())
        st, _, body = http_get("%s?page=%d&page_size=97&%s" % (base, page, q),
                               {"Authorization": "Bearer " + DC_TOKEN})
        if st != 200:
            raise AssertionError("backfill HTTP %d %r" % (st, body[:200]))
        d = json.loads(body)
        out += d["events"]
        if page >= d["total_pages"]:
            return d["total"], out
        page += 1


def t_dn_civil(args, tmp):
    world = make_world(args, tmp)
    work = workdir(tmp)
    view = jsonl(os.path.join(world, "dn-civil", "events.jsonl"))
    push_from = "2022-01-01T00:00:00+07:00"
    pushed = [e for e in view if e["sent_at"] >= push_from]
    recv = Receiver(fail_first=3)
    sim = Sim(args, world, work, only="dn-civil",
              extra=["--webhook", recv.url, "--set", "dn-civil.rate=0", "--set", "dn-civil.push_from=" + push_from,
                     "--set", "dn-civil.retry_ms=20"])
    try:
        base = sim.where["dn-civil"]
        ok = recv.wait(len(pushed), 40)
        check(ok, "all %d deliveries arrived (got %d)" % (len(pushed), len(recv.got)))
        got = [e for _, e in recv.got]
        check(got == pushed, "deliveries = the view's lines from push_from, in order")
        check(recv.bad_sig == 0, "every X-Signature is a valid HMAC-SHA256 (%d bad)" % recv.bad_sig)
        check(all(h == e["event_id"] for h, e in recv.got), "X-Event-Id is the event's id")
        check(recv.attempts[:4] == [1, 2, 3, 4], "the first delivery was retried after 3 failures: %s" % recv.attempts[:5])
        ids = [e["event_id"] for e in got]
        check(len(ids) > len(set(ids)), "some events were delivered twice")
        regs = [e["data"]["registration"]["registered_at"] for e in got]
        check(any(b < a for a, b in zip(regs, regs[1:])), "some deliveries are out of order")
        # the backfill: every registered event once, in registration order
        uniq = {}
        for e in view:
            uniq.setdefault(e["event_id"], e)
        total, events = backfill_all(base)
        check(total == len(uniq) and len(events) == len(uniq), "backfill total %d, unique events %d" % (total, len(uniq)))
        check([e["event_id"] for e in events] ==
              [e["event_id"] for e in sorted(uniq.values(), key=lambda e: e["data"]["registration"]["registered_at"])],
              "backfill in registration order")
        t2, part = backfill_all(base, registered_from="2020-01-01T00:00:00+07:00",
                                registered_to="2021-01-01T00:00:00+07:00")
        want = [e for e in uniq.values() if "2020-01-01" <= e["data"]["registration"]["registered_at"] < "2021-01-01"]
        check(t2 == len(want), "backfill by registered_from/to: %d vs %d" % (t2, len(want)))
        st, _, body = http_get(base + "/" + view[3]["event_id"], {"Authorization": "Bearer " + DC_TOKEN})
        check(st == 200 and json.loads(body)["event_id"] == view[3]["event_id"], "backfill one event")
        st, hd, _ = http_get(base + "?page=1")
        check(st == 401 and "Bearer" in hd.get("WWW-Authenticate", ""), "no token -> 401")
        # new births are pushed and then in the backfill
        n0 = len(recv.got)
        st, ch = sim.ctl("/sims/dn-civil/change?n=5")
        check(st == 200 and ch["applied"] == 5, "5 new births")
        check(recv.wait(n0 + 5, 10), "the new births were pushed")
        new = [e for _, e in recv.got[n0:]]
        check([e["event_id"] for e in new] == [c["event_id"] for c in ch["changes"]], "pushed in order")
        for e in new:
            r = e["data"]["registration"]
            check(e["event_type"] == "birth.registered" and r["registered_at"] > view[-1]["sent_at"][:19],
                  "a new birth registered after the last event")
            check(re.fullmatch(r"\d\d/2025", r["book"]) and r["number"] >= 1, "a 2025 book and number")
        t3, _ = backfill_all(base)
        check(t3 == len(uniq) + 5, "the backfill has the new births")
        # pause: nothing is pushed; resume: it is
        sim.ctl("/sims/dn-civil/pause")
        n1 = len(recv.got)
        sim.ctl("/sims/dn-civil/change?n=2")
        time.sleep(0.5)
        check(len(recv.got) == n1, "paused: no push")
        sim.ctl("/sims/dn-civil/resume")
        check(recv.wait(n1 + 2, 10), "resumed: pushed")
    finally:
        sim.stop()
        recv.close()
    # a receiver that is down: the pusher retries, then parks the event
    recv2 = Receiver(fail_first=10 ** 6)
    w2 = os.path.join(tmp, "w2")
    os.makedirs(w2)
    sim = Sim(args, world, w2, only="dn-civil",
              extra=["--webhook", recv2.url, "--set", "dn-civil.rate=0", "--set", "dn-civil.push_from=2025-09-01",
                     "--set", "dn-civil.retry_ms=10", "--set", "dn-civil.retry_max=3"])
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            st, s = sim.ctl("/sims/dn-civil", method="GET")
            if s["state"]["parked"] >= 2:
                break
            time.sleep(0.05)
        check(s["state"]["parked"] >= 2 and s["state"]["last_status"] == 500,
              "failed deliveries are retried and parked: %r" % s["state"])
        check(recv2.attempts[:3] == [1, 2, 3], "3 attempts per event: %s" % recv2.attempts[:6])
    finally:
        sim.stop()
        recv2.close()


# ---- faults of the HTTP systems ----------------------------------------------------

def t_faults(args, tmp):
    world = make_world(args, tmp)
    sim = Sim(args, world, workdir(tmp), only="qn-population,dn-population,dn-civil")
    try:
        qn = sim.where["qn-population"] + "?page=1&page_size=50"
        key = ["-H", "X-API-Key: " + QN_KEY]
        ok = lambda: curl([qn] + key)
        rc, code, _ = ok()
        check(rc == 0 and code == 200, "normal first")
        # error: 5xx with Retry-After, for count requests
        st, _ = sim.ctl("/sims/qn-population/fault?mode=error&count=2&status=500")
        check(st == 200, "set error")
        for i in range(2):
            rc, code, body = ok()
            check(code == 500 and b"SERVICE_UNAVAILABLE" in body, "error %d: got %d" % (i, code))
        rc, code, _ = ok()
        check(code == 200, "after count requests: normal again (%d)" % code)
        sim.ctl("/sims/qn-population/fault?mode=error&count=1")
        r = subprocess.run(["curl", "-s", "-D", "-", "-o", "/dev/null", qn] + key, capture_output=True, text=True)
        check(" 503 " in r.stdout and "Retry-After: 5" in r.stdout, "503 carries Retry-After")
        # slow
        sim.ctl("/sims/qn-population/fault?mode=slow&delay_ms=1200&count=1")
        t0 = time.time()
        rc, code, _ = ok()
        dt = time.time() - t0
        check(code == 200 and dt >= 1.1, "slow: 200 after %.2f s" % dt)
        # drop: the connection closes without an answer (curl 52: empty reply)
        sim.ctl("/sims/qn-population/fault?mode=drop&count=1")
        rc, code, _ = ok()
        check(rc == 52, "drop: curl exit %d (52 = empty reply)" % rc)
        # cut: the answer stops half-way (curl 18: partial file)
        sim.ctl("/sims/qn-population/fault?mode=cut&count=1")
        rc, code, body = ok()
        check(rc == 18, "cut: curl exit %d (18 = partial transfer)" % rc)
        rc, code, _ = ok()
        check(rc == 0 and code == 200, "back to normal")
        # rate: about that share of requests fail
        sim.ctl("/sims/qn-population/fault?mode=error&rate=0.5")
        codes = [http_get(qn, {"X-API-Key": QN_KEY})[0] for _ in range(80)]
        bad = codes.count(503)
        check(20 <= bad <= 60, "rate=0.5: %d of 80 failed" % bad)
        sim.ctl("/sims/qn-population/fault?mode=none")
        check(http_get(qn, {"X-API-Key": QN_KEY})[0] == 200, "mode=none clears")
        # SOAP: error is a soap:Server fault
        sim.ctl("/sims/dn-population/fault?mode=error&count=1&status=500")
        st, xml = soap_call(sim.where["dn-population"], "LayDanhSachCongDan", "<dc:LayDanhSachCongDan/>")
        check(st == 500 and soap_fault(xml)[0] == "soap:Server", "SOAP error -> soap:Server fault")
        sim.ctl("/sims/dn-population/fault?mode=drop&count=1")
        try:
            soap_call(sim.where["dn-population"], "LayDanhSachCongDan", "<dc:LayDanhSachCongDan/>")
            fail("SOAP drop: expected a closed connection")
        except (urllib.error.URLError, ConnectionError, http.client.RemoteDisconnected):
            pass
        # the backfill
        sim.ctl("/sims/dn-civil/fault?mode=error&count=1")
        st, _, _ = http_get(sim.where["dn-civil"] + "?page=1", {"Authorization": "Bearer " + DC_TOKEN})
        check(st == 503, "backfill error -> 503")
        # bad control requests
        st, body = sim.ctl("/sims/qn-population/fault?mode=explode")
        check(st == 400 and "mode" in body.get("error", ""), "unknown mode -> 400")
        st, body = sim.ctl("/sims/nowhere/fault?mode=none")
        check(st == 404, "unknown system -> 404")
        st, body = sim.ctl("/sims/all/fault?mode=none")
        check(st == 200 and set(body) == {"qn-population", "dn-population", "dn-civil"}, "all: every system")
        st, body = sim.ctl("/status", method="GET")
        check(st == 200 and body["systems"]["qn-population"]["fault"]["hits"] >= 6, "status counts hits")
        # SIGUSR1: one batch of changes in every system
        sim.p.send_signal(signal.SIGUSR1)
        time.sleep(1.0)
        st, body = sim.ctl("/status", method="GET")
        qch = body["systems"]["qn-population"]["state"]["changes"]
        check(sum(qch.values()) == 10, "SIGUSR1: 10 changes in qn-population: %s" % qch)
        check(body["systems"]["dn-civil"]["state"]["changes"]["birth"] == 10, "SIGUSR1: dn-civil too")
    finally:
        sim.stop()


# ---- all six from one config ----------------------------------------------------------

def t_all(args, tmp):
    world = make_world(args, tmp)
    work = workdir(tmp)
    recv = Receiver()
    conf = os.path.join(tmp, "sim.conf")
    with open(conf, "w") as f:
        f.write("""# lgsp-sim, all six systems on free ports
data = %s
ref = %s
work = %s
control_port = 0
change_every_ms = 700
change_batch = 3
[qn-population]
port = 0
[dn-population]
port = 0
[qn-land]
interval_ms = 20
[dn-land]
port = 0
[qn-civil]
interval_ms = 2
[dn-civil]
port = 0
webhook = %s
push_from = 2025-09-01T00:00:00+07:00
rate = 0
""" % (world, args.data, work, recv.url))
    p = subprocess.Popen([args.sim, "--config", conf], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    deadline = time.time() + 300
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("lgsp-sim: ready"):
            break
    names = [l.split()[1] for l in lines if l.startswith("lgsp-sim: ") and len(l.split()) > 2]
    if p.poll() is not None and "PostgreSQL is not installed" in (p.stderr.read() or ""):
        print("SKIP: PostgreSQL cannot be installed here")
        raise SystemExit(77)
    check(names == ["qn-population", "dn-population", "qn-land", "dn-land", "qn-civil", "dn-civil", "control"],
          "one line per system, then control: %s" % names)
    for l in lines:
        log(l)
    try:
        if len(names) == 7:
            where = {l.split()[1]: l.split()[2] for l in lines if len(l.split()) > 2}
            for n in ("qn-population", "dn-population", "dn-civil", "control"):
                check(re.match(r"http://127\.0\.0\.1:\d+/", where[n]), "%s on 127.0.0.1: %s" % (n, where[n]))
            # the timer changes everything
            time.sleep(1.6)
            st, _, body = http_get(where["control"], timeout=60)
            s = json.loads(body)["systems"]
            check(sum(s["qn-population"]["state"]["changes"].values()) >= 3, "timer changes qn-population")
            check(s["dn-land"]["state"]["changes"] >= 3, "timer changes dn-land")
            check(recv.wait(1, 10), "dn-civil pushes")
    finally:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=90)
        check(p.returncode == 0 and "lgsp-sim: stopped" in out, "stops on SIGTERM (rc %s)" % p.returncode)
        if "AddressSanitizer" in err or "runtime error:" in err:
            fail("sanitizer report:\n" + err[-4000:])
        recv.close()
    r = subprocess.run(["pgrep", "-f", "postgres -D %s" % work], capture_output=True)
    check(r.returncode != 0, "the database stopped too")


TESTS = {"cli": t_cli, "qn-population": t_qn_population, "dn-population": t_dn_population,
         "dn-land": t_dn_land, "qn-land": t_qn_land, "qn-civil": t_qn_civil, "dn-civil": t_dn_civil,
         "faults": t_faults, "all": t_all}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("test", choices=sorted(TESTS))
    ap.add_argument("--sim", required=True)
    ap.add_argument("--gen", required=True)
    ap.add_argument("--vnconv", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--keep", help="keep the temporary folder here")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="lgsp-simtest-")
    os.chmod(tmp, 0o755)
    t0 = time.time()
    try:
        TESTS[args.test](args, tmp)
    except AssertionError as e:
        fail(str(e))
    finally:
        if args.keep:
            shutil.copytree(tmp, args.keep, dirs_exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
    log("%s: %s in %.1f s" % (args.test, "FAIL (%d)" % len(FAILS) if FAILS else "ok", time.time() - t0))
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
