"""pulltest.py — the integration cases shared by the two paged pull
connectors, http-json (qn-population, REST) and soap-xml (dn-population,
SOAP): each runs lgsp-gen, lgsp-sim and the real lgspd with the adapter,
and checks what reached the journal against the generator's view.

A connector's test module describes its source with a Kind (the simulator's
name, the adapter's settings, how to read a view and a payload, a scripted
malformed server) and calls run(kind, case). soap-xml imports this file
from ../http-json.

Cases:
  full       the raw topic holds exactly one message per view record (count,
             id set, each payload = the record), with provenance headers;
             nothing in quarantine
  kill9      lgspd is killed (-9) three times in the middle of a (rate-
             limited) ingest and restarted: the id set equals the view and
             the topic holds no message twice
  faults     the simulator answers errors (count), drops and cuts
             connections, answers too slowly: the adapter retries
             (lgsp_adapter_http_retries_total and the log show it) and every
             record arrives, changes made between faults too; a request
             hanging on the source does not hold lgspd's shutdown
  changes    changes on the simulator arrive after the next poll as new
             messages: exactly the new versions
  moving     changes while a pass is being paged (page_order: descending):
             no view record is missed, every last version arrives
  malformed  a scripted server (127.0.0.1, free port): records that cannot
             be records and answers that cannot be read land in the
             quarantine topic with source, position, reason and their bytes,
             each once; the good records arrive; nothing is dropped
"""
import http.server
import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
FAILS = []


def check(cond, what):
    print("%s: %s" % ("ok" if cond else "FAIL", what), flush=True)
    if not cond:
        FAILS.append(what)
    return cond


def log(*a):
    print(*a, flush=True)


def wait_for(fn, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    check(False, "timed out waiting for " + what)
    return None


def tool(env):
    """A binary of the build under test: $ENV, or beside lgspd."""
    p = os.environ.get(env)
    if p:
        return p
    build = os.path.dirname(os.path.dirname(harness.find_lgspd()))
    return os.path.join(build, {"LGSP_GEN": "sim/gen/lgsp-gen", "LGSP_SIM": "sim/servers/lgsp-sim"}[env])


def setup_env():
    """Lets the script run by hand as well as under meson test."""
    if "LGSP_ADAPTER_PATH" not in os.environ:
        build = os.path.dirname(os.path.dirname(harness.find_lgspd()))
        os.environ["LGSP_ADAPTER_PATH"] = os.path.join(build, "adapters")
    os.environ.setdefault("LGSP_SHARED", os.path.join(ROOT, "..", "shared", "data"))


def make_world(wd, scale):
    out = os.path.join(wd, "world")
    r = subprocess.run([tool("LGSP_GEN"), "--seed", "1", "--scale", scale, "--out", out,
                        "--data", os.environ["LGSP_SHARED"], "--quiet"], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("lgsp-gen failed: %s %s" % (r.stdout, r.stderr))
    return out


class Sim:
    """lgsp-sim with one system, on free loopback ports."""

    def __init__(self, wd, world, only, extra=()):
        work = os.path.join(wd, "sim")
        os.makedirs(work, exist_ok=True)
        cmd = [tool("LGSP_SIM"), "--data", world, "--work", work, "--base-port", "0",
               "--only", only, "--set", "ref=" + os.environ["LGSP_SHARED"]] + list(extra)
        self.errf = open(os.path.join(wd, "lgsp-sim.stderr"), "w+")
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.errf, text=True)
        self.where = {}
        deadline = time.time() + 60
        while True:
            line = self.p.stdout.readline()
            if not line:
                self.errf.seek(0)
                raise SystemExit("lgsp-sim exited before 'ready': %s" % self.errf.read()[-2000:])
            line = line.rstrip("\n")
            if line == "lgsp-sim: ready":
                break
            m = re.match(r"lgsp-sim: (\S+)\s+(\S+)", line)
            if m:
                self.where[m.group(1)] = m.group(2)
            if time.time() > deadline:
                raise SystemExit("lgsp-sim not ready in time")
        self.control = self.where["control"].rsplit("/", 1)[0]
        self.name = only

    def ctl(self, path):
        req = urllib.request.Request(self.control + path, method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def status(self):
        with urllib.request.urlopen(self.control + "/sims/" + self.name, timeout=30) as r:
            return json.loads(r.read())

    def fault(self, **kw):
        q = "&".join("%s=%s" % kv for kv in kw.items())
        return self.ctl("/sims/%s/fault?%s" % (self.name, q))

    def change(self, n):
        return self.ctl("/sims/%s/change?n=%d" % (self.name, n))["changes"]

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


class Kind:
    """What a connector's test says about its source. Subclasses fill in:
    plugin, sim ('qn-population'), view_records(world) -> [(id, raw)],
    settings(url) -> dict, payload_id(bytes), payload_wm(bytes),
    same_record(payload, raw) -> bool, and serve(handler, page, since, n)
    for the malformed case."""
    plugin = None
    sim = None
    content_type = None
    retry_after = False      # the simulator's 503 carries Retry-After
    bench_page_size = 100

    def adapter(self, url, **settings):
        s = self.settings(url)
        s.update(settings)
        return {"name": self.sim, "plugin": self.plugin, "interval": "500ms",
                "restart_backoff": "100ms", "restart_backoff_max": "400ms", "settings": s}


def topic(kind):
    return "raw." + kind.sim


def qtopic(kind):
    return "quarantine." + kind.sim


def records_metric(d, kind):
    return d.metric("lgsp_adapter_records_total", adapter=kind.sim) or 0


def read_all(d, name, expect=None, idle=3.0):
    return harness.read_topic(d.endpoint, name, expect=expect, idle=idle, timeout=180)


def check_topic(kind, msgs, view, what):
    """The messages are exactly the view: one per record, each its record."""
    ids = [m.headers["lgsp-source-id"] for m in msgs]
    want = dict(view)
    check(len(msgs) == len(view), "%s: %d messages for %d view records" % (what, len(msgs), len(view)))
    check(len(set(ids)) == len(ids), "%s: no record twice (%d distinct ids)" % (what, len(set(ids))))
    check(set(ids) == set(want), "%s: the id set equals the view's (missing %d, extra %d)"
          % (what, len(set(want) - set(ids)), len(set(ids) - set(want))))
    bad = [m for m in msgs if m.headers["lgsp-source-id"] in want
           and not kind.same_record(m.payload, want[m.headers["lgsp-source-id"]])]
    check(not bad, "%s: every payload is its view record (%d differ%s)"
          % (what, len(bad), (": " + bad[0].headers["lgsp-source-id"]) if bad else ""))
    mids = [m.id for m in msgs]
    check(len(set(mids)) == len(mids), "%s: message ids distinct" % what)


# ---- cases -------------------------------------------------------------

def case_full(kind):
    wd = harness.workdir(kind.plugin + "-full")
    world = make_world(wd, "0.002")
    view = kind.view_records(world)
    sim = Sim(wd, world, kind.sim)
    try:
        with harness.Lgspd(wd, adapters=[kind.adapter(sim.where[kind.sim])]) as d:
            wait_for(lambda: records_metric(d, kind) >= len(view), 120, "the whole view")
            msgs = read_all(d, topic(kind), expect=len(view) + 1)
            check_topic(kind, msgs, view, "full ingest")
            m = msgs[0]
            h = m.headers
            check(h.get("lgsp-source") == kind.sim and h.get("lgsp-content-type") == kind.content_type
                  and re.fullmatch(r"page \d+ item \d+", h.get("lgsp-position", ""))
                  and h.get("lgsp-fetched-at", "").endswith("Z"),
                  "provenance headers: %s" % json.dumps(h, ensure_ascii=False)[:300])
            check(m.key.decode() == h["lgsp-source-id"], "the partition key is the record id")
            q = read_all(d, qtopic(kind), idle=1.0)
            check(len(q) == 0, "nothing quarantined (%d)" % len(q))
            status, body = d.http("/health")
            a = [x for x in json.loads(body).get("adapters", []) if x.get("name") == kind.sim]
            check(a and a[0].get("status") == "running" and a[0].get("records") == len(view),
                  "/health: running, %d records" % len(view))
            check(a and a[0].get("detail", "").startswith("watermark 20"),
                  "/health describes the watermark: %s" % (a[0].get("detail") if a else None))
            check(d.metric("lgsp_adapter_http_retries_total", adapter=kind.sim) in (None, 0.0),
                  "no retries against a healthy source")
            check(d.stop() == 0, "lgspd stops cleanly")
    finally:
        sim.stop()


def case_kill9(kind):
    wd = harness.workdir(kind.plugin + "-kill9")
    world = make_world(wd, "0.002")
    view = kind.view_records(world)
    sim = Sim(wd, world, kind.sim)
    # Pages of 50 at 8 requests/s: the ingest takes several seconds, so the
    # kills land in the middle of a pass.
    ad = kind.adapter(sim.where[kind.sim], page_size="50", rate_limit="8", pages_per_poll="3")
    d = harness.Lgspd(wd, adapters=[ad])
    rng = random.Random(11)
    try:
        d.start()
        for k in range(3):
            # once this process has stored something, at a random moment
            wait_for(lambda: records_metric(d, kind) > 0, 60, "records stored before kill #%d" % (k + 1))
            time.sleep(rng.uniform(0.0, 1.0))
            log("kill -9 #%d (this process had stored %d records)" % (k + 1, records_metric(d, kind)))
            d.kill9()
            d.start()
        # Each restart that found a pass in progress says so.
        resumed = open(d.log_path, errors="replace").read().count("the pass since")
        check(resumed >= 2, "the kills landed in the middle of a pass (%d of 3 restarts resumed one)" % resumed)
        wait_for(lambda: d.metric("lgsp_adapter_up", adapter=kind.sim) == 1.0, 20, "adapter up")
        msgs = read_all(d, topic(kind), expect=len(view) + 1, idle=6.0)
        check_topic(kind, msgs, view, "after 3 x kill -9")
        q = read_all(d, qtopic(kind), idle=1.0)
        check(len(q) == 0, "nothing quarantined (%d)" % len(q))
        check(d.stop() == 0, "lgspd stops cleanly")
    finally:
        d.kill9()
        sim.stop()


def _expected_changes(batches):
    """(id -> updated_at of its last version, number of new messages)."""
    last, n = {}, 0
    for b in batches:
        ids = {}
        for c in b:
            ids[c["id"]] = c["updated_at"]
        n += len(ids)
        last.update(ids)
    return last, n


def _check_changes(kind, msgs, view, batches, what):
    last, n = _expected_changes(batches)
    check(len(msgs) == len(view) + n, "%s: %d messages = %d view records + %d new versions"
          % (what, len(msgs), len(view), n))
    ids = set(m.headers["lgsp-source-id"] for m in msgs)
    check(ids == set(i for i, _ in view) | set(last), "%s: the ids are the view's and the changed ones" % what)
    wms = set((m.headers["lgsp-source-id"], kind.payload_wm(m.payload)) for m in msgs)
    missing = [(i, t) for i, t in last.items() if (i, t) not in wms]
    check(not missing, "%s: every change's last version arrived (missing %s)" % (what, missing[:3]))
    pairs = [(m.headers["lgsp-source-id"], m.payload) for m in msgs]
    check(len(set(pairs)) == len(pairs), "%s: no version twice" % what)


def case_changes(kind):
    wd = harness.workdir(kind.plugin + "-changes")
    world = make_world(wd, "0.001")
    view = kind.view_records(world)
    sim = Sim(wd, world, kind.sim)
    try:
        with harness.Lgspd(wd, adapters=[kind.adapter(sim.where[kind.sim])]) as d:
            wait_for(lambda: records_metric(d, kind) >= len(view), 60, "the whole view")
            batches = []
            for n in (20, 5):
                before = records_metric(d, kind)
                batches.append(sim.change(n))
                _, want = _expected_changes(batches[-1:])
                wait_for(lambda: records_metric(d, kind) >= before + want, 30,
                         "%d changed records after the next poll" % want)
            msgs = read_all(d, topic(kind), expect=None, idle=2.0)
            _check_changes(kind, msgs, view, batches, "changes")
            new = msgs[len(view):]
            check(all(m.headers["lgsp-source-id"] in _expected_changes(batches)[0] for m in new),
                  "the messages after the view are the changed records")
            check(d.stop() == 0, "lgspd stops cleanly")
    finally:
        sim.stop()


def case_faults(kind):
    wd = harness.workdir(kind.plugin + "-faults")
    world = make_world(wd, "0.001")
    view = kind.view_records(world)
    sim = Sim(wd, world, kind.sim)
    ad = kind.adapter(sim.where[kind.sim], retries="5", backoff="100ms", backoff_max="1s",
                      timeout="2s", page_size="100")
    try:
        sim.fault(mode="error", count=3, status=500)
        with harness.Lgspd(wd, adapters=[ad]) as d:
            wait_for(lambda: records_metric(d, kind) >= len(view), 90, "the whole view through 3 errors")
            retries = d.metric("lgsp_adapter_http_retries_total", adapter=kind.sim) or 0
            check(retries >= 3, "HTTP 500 x3: %d retries counted" % retries)
            batches = []
            # drop: no answer (curl 52); cut: half a body (curl 18); slow: an
            # answer later than the adapter's timeout (curl 28); 503 with
            # Retry-After: 5.
            for mode, kw, n in (("drop", {"count": 2}, 2), ("cut", {"count": 2}, 2),
                                ("slow", {"count": 1, "delay_ms": 3000}, 1),
                                ("error", {"count": 1, "status": 503}, 1)):
                before = records_metric(d, kind)
                r0 = d.metric("lgsp_adapter_http_retries_total", adapter=kind.sim) or 0
                h0 = sim.status()["fault"]["hits"]
                sim.fault(mode=mode, **kw)
                batches.append(sim.change(3))
                _, want = _expected_changes(batches[-1:])
                wait_for(lambda: records_metric(d, kind) >= before + want, 60,
                         "the changes through '%s'" % mode)
                r1 = d.metric("lgsp_adapter_http_retries_total", adapter=kind.sim) or 0
                hits = sim.status()["fault"]["hits"] - h0
                # libcurl itself sends a request again once when a reused
                # keep-alive connection closes without an answer, so a drop
                # can cost one retry of ours less than the faults injected.
                check(hits == n and r1 - r0 >= (1 if mode == "drop" else n),
                      "%s: the source failed %d times, %d retries counted" % (mode, hits, r1 - r0))
            text = open(d.log_path, errors="replace").read()
            for what in ("HTTP 500", "curl 52", "curl 18", "curl 28", "HTTP 503"):
                check(re.search(re.escape(what) + r"[^\n]*; retry \d+ of \d+ in \d+ ms", text),
                      "the log shows the retry after %s" % what)
            if kind.retry_after:
                check("Retry-After" in text, "the log shows Retry-After honoured")
            msgs = read_all(d, topic(kind), expect=None, idle=2.0)
            _check_changes(kind, msgs, view, batches, "faults")
            q = read_all(d, qtopic(kind), idle=1.0)
            check(len(q) == 0, "transient faults quarantine nothing (%d)" % len(q))
            # A request hanging on a source that answers in 60 s, with a
            # timeout of 120 s, does not hold lgspd's shutdown (the harness
            # gives SIGTERM 30 s): the transfer is aborted.
            check(d.stop() == 0, "lgspd stops cleanly")
            d.adapters = [kind.adapter(sim.where[kind.sim], timeout="120s")]
            d.start()
            h0 = sim.status()["fault"]["hits"]      # before: a request may draw the fault at once
            sim.fault(mode="slow", count=0, delay_ms=60000)
            sim.change(1)
            wait_for(lambda: sim.status()["fault"]["hits"] > h0, 10, "a request held by the slow source")
            try:
                code = d.stop()
            except RuntimeError as e:
                code = str(e)
            check(code == 0, "SIGTERM during a hanging request: lgspd stops at once, exit %s" % code)
            sim.fault(mode="none")
    finally:
        sim.stop()


def case_moving(kind):
    """Changes while a pass is being paged, with page_order: descending: no
    record of the view is missed (read ascending, one that slides into an
    already-read page would be), and every change's last version arrives."""
    wd = harness.workdir(kind.plugin + "-moving")
    world = make_world(wd, "0.001")
    view = kind.view_records(world)
    sim = Sim(wd, world, kind.sim)
    ad = kind.adapter(sim.where[kind.sim], page_size="50", rate_limit="10", rate_burst="1",
                      page_order="descending", pages_per_poll="2")
    batches = []
    try:
        with harness.Lgspd(wd, adapters=[ad]) as d:
            wait_for(lambda: records_metric(d, kind) > 0, 30, "the first pass under way")
            for _ in range(4):
                batches.append(sim.change(5))
                time.sleep(0.4)
            last, _ = _expected_changes(batches)
            want_ids = set(i for i, _ in view) | set(last)
            got = {}

            def done():
                msgs = read_all(d, topic(kind), idle=1.0)
                got["msgs"] = msgs
                ids = set(m.headers["lgsp-source-id"] for m in msgs)
                wms = set((m.headers["lgsp-source-id"], kind.payload_wm(m.payload)) for m in msgs)
                return ids >= want_ids and all((i, t) in wms for i, t in last.items())
            wait_for(done, 90, "every view record and every last version")
            msgs = got.get("msgs", [])
            ids = set(m.headers["lgsp-source-id"] for m in msgs)
            check(ids == want_ids, "no view record missed while records moved (missing %d)"
                  % len(want_ids - ids))
            pairs = [(m.headers["lgsp-source-id"], m.payload) for m in msgs]
            check(len(set(pairs)) == len(pairs), "no version twice (%d messages)" % len(msgs))
            check(d.stop() == 0, "lgspd stops cleanly")
    finally:
        sim.stop()


class ScriptServer:
    """A tiny HTTP server on 127.0.0.1 (free port) whose answers come from
    kind.serve(page, since, n) -> (status, content_type, bytes); n counts
    the requests for that page."""

    def __init__(self, kind):
        counts = {}
        lock = threading.Lock()

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _answer(self, body_in):
                page, since = kind.request_page(self.path, body_in)
                with lock:
                    n = counts[(page, since)] = counts.get((page, since), 0) + 1
                status, ctype, body = kind.serve(page, since, n)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self._answer(b"")

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self._answer(self.rfile.read(n))

        self.counts = counts
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.t = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.t.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def case_malformed(kind):
    wd = harness.workdir(kind.plugin + "-malformed")
    srv = ScriptServer(kind)
    url = kind.script_url(srv.port)
    try:
        with harness.Lgspd(wd, adapters=[kind.adapter(url, **kind.script_settings)]) as d:
            good = kind.script_good
            wait_for(lambda: records_metric(d, kind) >= len(good), 60, "the good records")
            msgs = read_all(d, topic(kind), expect=len(good) + 1, idle=2.0)
            check(sorted(m.headers["lgsp-source-id"] for m in msgs) == sorted(good),
                  "the good records arrived, once each: %s" % sorted(m.headers["lgsp-source-id"] for m in msgs))
            q = read_all(d, qtopic(kind), idle=2.0)
            got = sorted((m.headers.get("lgsp-position"), m.payload) for m in q)
            want = sorted((p, b) for p, b, _ in kind.script_quarantine)
            check(len(q) == len(want), "quarantine holds %d entries, expected %d: %s"
                  % (len(q), len(want), [m.headers.get("lgsp-position") for m in q]))
            check(got == want, "quarantined: the bytes at their positions")
            for pos, payload, reason in kind.script_quarantine:
                m = [x for x in q if x.headers.get("lgsp-position") == pos and x.payload == payload]
                r = m[0].headers.get("lgsp-reason", "") if m else ""
                check(m and reason in r and m[0].headers.get("lgsp-source") == kind.sim,
                      "%s: source %s, reason '%s'" % (pos, m[0].headers.get("lgsp-source") if m else None, r))
            fails = d.metric("lgsp_adapter_failures_total", adapter=kind.sim) or 0
            check(fails >= kind.script_failures, "the unreadable answers failed polls (%d)" % fails)
            text = open(d.log_path, errors="replace").read()
            check(all(reason in text for _, _, reason in kind.script_quarantine if reason.startswith(("not ", "soap:"))),
                  "the log says why the polls failed")
            check(d.stop() == 0, "lgspd stops cleanly")
    finally:
        srv.stop()


def _log_time(line):
    """The timestamp at the start of an lgspd log line, in seconds."""
    import datetime
    ts = line.split(" ", 1)[0].rstrip("Z")
    return datetime.datetime.fromisoformat(ts).timestamp()


def bench(kind, scale="0.01", page_size=None):
    """Not a test: records/s of one full ingest through the real lgspd (each
    page committed with its state, fsync'd). Timed from lgspd's log: from
    the line saying the adapter runs to its last commit (the /metrics
    figures are refreshed once a second, too coarse here). Prints
    '<plugin>: <N> records in <T> s = <R> records/s (scale S, pages of P)'."""
    wd = harness.workdir(kind.plugin + "-bench")
    world = make_world(wd, scale)
    n = len(kind.view_records(world))
    sim = Sim(wd, world, kind.sim)
    page_size = page_size or kind.bench_page_size
    ad = kind.adapter(sim.where[kind.sim], page_size=str(page_size), pages_per_poll="100")
    d = harness.Lgspd(wd, adapters=[ad], log_level="debug")
    try:
        d.start()
        deadline = time.monotonic() + 600
        while records_metric(d, kind) < n:
            if time.monotonic() > deadline:
                raise SystemExit("bench: not done after 600 s (%d of %d)" % (records_metric(d, kind), n))
            time.sleep(0.05)
        d.stop()
        t0 = t1 = None
        stored = 0
        with open(d.log_path, errors="replace") as f:
            for line in f:
                if t0 is None and ("adapters: %s: plugin" % kind.sim) in line and "running" in line:
                    t0 = _log_time(line)
                m = re.search(r"adapter %s: page \d+: (\d+) stored" % re.escape(kind.sim), line)
                if m:
                    stored += int(m.group(1))
                    t1 = _log_time(line)
        if t0 is None or t1 is None or stored != n:
            raise SystemExit("bench: log has %d stored of %d" % (stored, n))
        t = max(t1 - t0, 1e-3)
        print("%s: %d records in %.2f s = %.0f records/s (scale %s, pages of %d)"
              % (kind.plugin, n, t, n / t, scale, page_size), flush=True)
    finally:
        d.kill9()
        sim.stop()


CASES = {"full": case_full, "kill9": case_kill9, "faults": case_faults, "changes": case_changes,
         "moving": case_moving, "malformed": case_malformed}


def run(kind, case):
    setup_env()
    if case == "bench":
        import argparse
        ap = argparse.ArgumentParser(prog="bench")
        ap.add_argument("--scale", default="0.01")
        ap.add_argument("--page-size", type=int, default=None)
        a = ap.parse_args(sys.argv[2:])
        bench(kind, a.scale, a.page_size)
        return
    CASES[case](kind)
    if FAILS:
        print("%d checks failed" % len(FAILS))
        sys.exit(1)
    print("all checks passed")
