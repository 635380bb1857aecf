"""test_webhook.py — the webhook plugin inside the real lgspd, fed by
lgsp-sim's dn-civil (pushes with HMAC signatures, duplicates, late events,
retries; a paged REST backfill), checked against the generator's view.

    test_webhook.py CASE      push | kill9 | durable | refuse | tls
    test_webhook.py bench [--events N] [--conns C]   (not a test: events/s)

push    every delivery from push_from is answered 202 the first time; the
        topic holds each distinct event_id once, with the bytes of its
        first delivery and the provenance headers.
kill9   lgspd is killed (-9) twice while the simulator pushes, and stays
        down long enough that the simulator parks events; after the
        restarts the backfill repairs them: the topic holds every event of
        the view once (history before push_from included), none twice.
durable clients push on 4 connections while lgspd is killed (-9): every
        event answered 202 is stored (no backfill to hide a loss).
refuse  a wrong or missing bearer token or signature -> 401 and nothing
        stored; malformed JSON -> 400 and a quarantine entry with position,
        reason and the bytes; too big -> 413; wrong path -> 404; the
        simulator signing with a wrong secret stores nothing.
tls     HTTPS with a client certificate (throw-away CA, server and client
        certificates made with openssl): accepted with the certificate,
        refused without it or with one from another CA.
"""
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
DC_TOKEN = "dn-hotich-sim-token"
DC_SECRET = "dn-hotich-sim-secret"
PATH = "/hook/dn-civil"
TOPIC = "raw.dn-civil"
QTOPIC = "quarantine.dn-civil"
FAILS = []


def check(cond, what):
    print("%s: %s" % ("ok" if cond else "FAIL", what), flush=True)
    if not cond:
        FAILS.append(what)
    return cond


def wait_for(fn, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    check(False, "timed out waiting for " + what)
    return None


def tool(env, name):
    """A binary of the build under test: $ENV, or next to lgspd."""
    p = os.environ.get(env)
    if p:
        return p
    build = os.path.dirname(os.path.dirname(harness.find_lgspd()))
    return os.path.join(build, {"LGSP_GEN": "sim/gen/lgsp-gen",
                                "LGSP_SIM": "sim/servers/lgsp-sim"}[env])


def setup_env():
    """Lets the script run by hand (bench) as well as under meson test."""
    if "LGSP_ADAPTER_PATH" not in os.environ:
        build = os.path.dirname(os.path.dirname(harness.find_lgspd()))
        os.environ["LGSP_ADAPTER_PATH"] = os.path.join(build, "adapters")
    os.environ.setdefault("LGSP_SHARED", os.path.join(ROOT, "..", "shared", "data"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def make_world(wd, scale="0.001"):
    out = os.path.join(wd, "world")
    r = subprocess.run([tool("LGSP_GEN", "lgsp-gen"), "--seed", "1", "--scale", scale, "--out", out,
                        "--data", os.environ["LGSP_SHARED"], "--quiet"], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("lgsp-gen failed: %s %s" % (r.stdout, r.stderr))
    return out


def read_view(world):
    """The generator's dn-civil view: (deliveries as (raw bytes, event) in push order)."""
    out = []
    with open(os.path.join(world, "dn-civil", "events.jsonl"), "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            if line:
                out.append((line, json.loads(line)))
    return out


class Sim:
    """lgsp-sim with dn-civil only, on a port we chose (the backfill URL goes
    into lgspd's config before the simulator starts)."""

    def __init__(self, wd, world, port, webhook, settings=()):
        work = os.path.join(wd, "sim-%d" % time.monotonic_ns())
        os.makedirs(work)
        cmd = [tool("LGSP_SIM", "lgsp-sim"), "--data", world, "--work", work, "--base-port", "0",
               "--port", "dn-civil=%d" % port, "--only", "dn-civil", "--set", "ref=" + os.environ["LGSP_SHARED"],
               "--webhook", webhook]
        for kv in settings:
            cmd += ["--set", "dn-civil." + kv]
        self.errf = open(os.path.join(work, "stderr"), "w+")
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.errf, text=True)
        self.where = {}
        while True:
            line = self.p.stdout.readline()
            if not line:
                self.errf.seek(0)
                raise SystemExit("lgsp-sim exited: %s" % self.errf.read()[-2000:])
            line = line.rstrip("\n")
            if line == "lgsp-sim: ready":
                break
            m = re.match(r"lgsp-sim: (\S+)\s+(\S+)", line)
            if m:
                self.where[m.group(1)] = m.group(2)
        self.control = self.where["control"].rsplit("/", 1)[0]

    def state(self):
        with urllib.request.urlopen(self.control + "/sims/dn-civil", timeout=30) as r:
            return json.loads(r.read())["state"]

    def ctl(self, path):
        req = urllib.request.Request(self.control + path, method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def pushed_all(self):
        s = self.state()
        return s["cursor"] >= s["deliveries"] and s

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
        try:
            self.p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.communicate()


def adapter(port, backfill_port=None, interval="500ms", **settings):
    s = {"listen": "127.0.0.1:%d" % port, "path": PATH, "hmac": {"secret": DC_SECRET}}
    s.update(settings)
    if backfill_port:
        s["backfill"] = {"url": "http://127.0.0.1:%d/api/v1/events" % backfill_port,
                         "token": DC_TOKEN, "page_size": "100", "overlap": "50"}
    return {"name": "dn-civil", "plugin": "webhook", "interval": interval,
            "restart_backoff": "200ms", "restart_backoff_max": "1s", "settings": s}


def sanitizer_clean(d):
    """No sanitizer report in lgspd's log that involves this plugin (under
    -Db_sanitize=address,undefined the daemon reports into its log). Leaks
    are reported at exit, after the host has dlclose()d the plugin: their
    frames in it show as <unknown module>, and this lgspd loads no other."""
    try:
        with open(d.log_path, errors="replace") as f:
            text = f.read()
    except OSError:
        return
    bad = [l for l in text.splitlines() if "runtime error" in l and "adapters/webhook" in l]
    for m in re.finditer(r"==\d+==ERROR: (Address|Leak)Sanitizer", text):
        end = text.find("SUMMARY:", m.start())
        block = text[m.start():end if end > 0 else len(text)]
        if "webhook" in block or "<unknown module>" in block:
            bad.append(block[:2000])
    check(not bad, "no sanitizer report from the plugin in lgspd's log%s" % ("".join("\n" + b for b in bad[:3])))


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def post(port, body, token=None, secret=DC_SECRET, path=PATH, headers=None, conn=None):
    """POST body: (status, parsed answer or text, headers)."""
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    if secret:
        h["X-Signature"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    h.update(headers or {})
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    if not conn:
        c.close()
    try:
        data = json.loads(data)
    except ValueError:
        pass
    return r.status, data, dict(r.getheaders())


def event(i, etype="birth.registered"):
    return json.dumps({"event_id": "t-%06d" % i, "event_type": etype, "sent_at": "2025-10-01T10:00:00+07:00",
                       "data": {"registration": {"registered_at": "2025-10-01T09:59:00+07:00",
                                                 "book": "01/2025", "number": i}}},
                      ensure_ascii=False).encode()


# ---- cases ------------------------------------------------------------------

def case_push():
    wd = harness.workdir("webhook-push")
    world = make_world(wd)
    view = read_view(world)
    push_from = "2015-01-01T00:00:00+07:00"
    pushed = [(raw, e) for raw, e in view if e["sent_at"] >= push_from]
    first = {}
    for raw, e in pushed:
        first.setdefault(e["event_id"], (raw, e))
    check(len(pushed) > len(first), "the view repeats some deliveries (%d deliveries, %d events)"
          % (len(pushed), len(first)))
    port = free_port()
    with harness.Lgspd(wd, adapters=[adapter(port)]) as d:
        wait_for(lambda: listening(port), 15, "the webhook listening")
        sim = Sim(wd, world, free_port(), "http://127.0.0.1:%d%s" % (port, PATH),
                  ["rate=0", "push_from=" + push_from, "retry_ms=100"])
        try:
            st = wait_for(sim.pushed_all, 120, "every delivery pushed")
        finally:
            sim.stop()
        check(st and st["delivered"] == len(pushed) and st["failed_attempts"] == 0 and st["parked"] == 0,
              "every delivery answered 2xx on its first attempt: %r" % st)
        msgs = harness.read_topic(d.endpoint, TOPIC, expect=len(first), idle=3)
        ids = [m.id for m in msgs]
        check(len(ids) == len(set(ids)), "no event twice in %s (%d messages)" % (TOPIC, len(ids)))
        check(set(ids) == set(first), "the topic holds exactly the pushed events (%d vs %d)"
              % (len(set(ids)), len(first)))
        same = sum(1 for m in msgs if m.id in first and m.payload == first[m.id][0])
        check(same == len(msgs), "each payload is the bytes of the event's first delivery (%d of %d)"
              % (same, len(msgs)))
        good = sum(1 for m in msgs if m.id in first
                   and m.headers.get("lgsp-source-id") == m.id and m.headers.get("lgsp-source") == "dn-civil"
                   and m.headers.get("lgsp-content-type") == "application/json"
                   and m.headers.get("lgsp-event-type") == first[m.id][1]["event_type"]
                   and m.headers.get("lgsp-via") == "push" and m.key == m.id.encode())
        check(good == len(msgs), "provenance headers and key (%d of %d)" % (good, len(msgs)))
        # (the metrics are a snapshot rendered every second)
        answers = lambda: ((d.metric("lgsp_adapter_events_accepted_total", adapter="dn-civil") or 0),
                           (d.metric("lgsp_adapter_events_duplicate_total", adapter="dn-civil") or 0))
        wait_for(lambda: sum(answers()) >= len(pushed), 10, "the metrics to count every answer")
        acc, dup = answers()
        check(acc == len(first) and dup == len(pushed) - len(first),
              "answers: %s accepted, %s duplicate (want %d, %d)" % (acc, dup, len(first), len(pushed) - len(first)))
        q = harness.read_topic(d.endpoint, QTOPIC, idle=1)
        check(len(q) == 0, "nothing quarantined (%d)" % len(q))
    sanitizer_clean(d)


def case_kill9():
    wd = harness.workdir("webhook-kill9")
    world = make_world(wd)
    view = read_view(world)
    push_from = "2010-01-01T00:00:00+07:00"
    everything, deliveries = {}, {}
    for raw, e in view:
        everything.setdefault(e["event_id"], raw)
        deliveries.setdefault(e["event_id"], set()).add(raw)
    port, bport = free_port(), free_port()
    d = harness.Lgspd(wd, adapters=[adapter(port, backfill_port=bport)])
    d.start()
    wait_for(lambda: listening(port), 15, "the webhook listening")
    sim = Sim(wd, world, bport, "http://127.0.0.1:%d%s" % (port, PATH),
              ["rate=150", "push_from=" + push_from, "retry_ms=50", "retry_max=3"])
    try:
        for pause in (1.5, 2.5):
            time.sleep(pause)
            before = sim.state()["cursor"]
            d.kill9()
            time.sleep(2.0)          # down: the simulator retries, then parks deliveries
            d.start()
            print("killed at delivery %d, restarted at %d" % (before, sim.state()["cursor"]), flush=True)
        # the backfill API fails too for a while: 5 requests answered 503
        sim.ctl("/sims/dn-civil/fault?mode=error&count=5&status=503")
        st = wait_for(sim.pushed_all, 120, "every delivery pushed")
        check(st and st["failed_attempts"] > 0 and st["parked"] > 0,
              "lgspd was down: deliveries failed and some were parked: %r" % st)
        wait_for(lambda: (d.metric("lgsp_adapter_backfill_errors_total", adapter="dn-civil") or 0) >= 1, 30,
                 "a backfill tick to give up on the failing API")
        # the backfill runs every 500 ms: wait for it to have repaired everything
        wait_for(lambda: len(harness.read_topic(d.endpoint, TOPIC, expect=len(everything), idle=2))
                 >= len(everything), 60, "the backfill to repair the parked events")
        time.sleep(1.5)              # one more backfill scan: still nothing twice
        msgs = harness.read_topic(d.endpoint, TOPIC, expect=len(everything) + 1, idle=3)
    except BaseException:
        d.kill9()
        raise
    finally:
        sim.stop()
    ids = [m.id for m in msgs]
    check(len(ids) == len(set(ids)), "no event twice (%d messages, %d ids)" % (len(ids), len(set(ids))))
    check(set(ids) == set(everything), "every event of the view is stored (%d of %d; missing %d, extra %d)"
          % (len(set(ids) & set(everything)), len(everything), len(set(everything) - set(ids)),
             len(set(ids) - set(everything))))
    via = {}
    for m in msgs:
        via[m.headers.get("lgsp-via")] = via.get(m.headers.get("lgsp-via"), 0) + 1
    print("stored via: %r" % via)
    check(via.get("push", 0) > 0 and via.get("backfill", 0) > 0, "both paths stored events: %r" % via)
    # (the first delivery of an event may have been parked while lgspd was
    # down and a repeated delivery, with a later sent_at, stored instead)
    pushed_ok = sum(1 for m in msgs if m.headers.get("lgsp-via") == "push" and m.payload in deliveries[m.id])
    check(pushed_ok == via.get("push"), "pushed events keep the bytes of one of their deliveries")
    bf = [m for m in msgs if m.headers.get("lgsp-via") == "backfill"]
    check(all(json.loads(m.payload) == json.loads(everything[m.id]) for m in bf),
          "backfilled events are the events the backfill serves")
    q = harness.read_topic(d.endpoint, QTOPIC, idle=1)
    check(len(q) == 0, "nothing quarantined (%d)" % len(q))
    code = d.stop()
    check(code == 0, "SIGTERM stops lgspd with the ingress running (exit %s)" % code)
    sanitizer_clean(d)


def case_durable():
    """202 means durable: clients push on 4 connections, lgspd is killed
    (-9) under them; after the restart every event answered 202 is stored
    (no backfill here to hide a loss). The clients then send everything
    again: each event is stored once."""
    wd = harness.workdir("webhook-durable")
    port = free_port()
    d = harness.Lgspd(wd, adapters=[adapter(port)])
    d.start()
    wait_for(lambda: listening(port), 15, "the webhook listening")
    acked, sent, lock = set(), [], threading.Lock()

    def client(k):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        i = k
        try:
            while True:
                with lock:
                    sent.append(i)
                st, ans, _ = post(port, event(i), conn=conn)
                if st == 202:
                    with lock:
                        acked.add("t-%06d" % i)
                i += 4
        except (OSError, http.client.HTTPException):
            pass                     # lgspd is gone

    th = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in th:
        t.start()
    time.sleep(1.5)
    d.kill9()
    for t in th:
        t.join()
    print("%d events sent, %d answered 202 before the kill" % (len(sent), len(acked)), flush=True)
    check(len(acked) > 100, "events were accepted before the kill (%d)" % len(acked))
    d.start()
    wait_for(lambda: listening(port), 15, "the webhook listening again")
    msgs = harness.read_topic(d.endpoint, TOPIC, expect=len(acked), idle=2)
    ids = set(m.id for m in msgs)
    check(acked <= ids, "every event answered 202 survived kill -9 (%d missing)" % len(acked - ids))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    codes = [post(port, event(i), conn=conn)[0] for i in sorted(sent)]
    conn.close()
    check(set(codes) == {202}, "sent again: all answered 202 (%r)" % set(codes))
    msgs = harness.read_topic(d.endpoint, TOPIC, expect=len(sent) + 1, idle=2)
    ids = [m.id for m in msgs]
    check(len(ids) == len(set(ids)) == len(sent), "each event stored once (%d messages, %d events)"
          % (len(ids), len(sent)))
    code = d.stop()
    check(code == 0, "lgspd stops (exit %s)" % code)
    sanitizer_clean(d)


def case_refuse():
    wd = harness.workdir("webhook-refuse")
    port = free_port()
    a = adapter(port, token="tok-" + "x" * 20, max_body="64KiB")
    tok = a["settings"]["token"]
    with harness.Lgspd(wd, adapters=[a]) as d:
        wait_for(lambda: listening(port), 15, "the webhook listening")
        st, ans, _ = post(port, event(1), token=tok)
        check(st == 202 and ans == {"status": "accepted", "event_id": "t-000001"}, "accepted: %s %r" % (st, ans))
        st, ans, _ = post(port, event(1), token=tok)
        check(st == 202 and ans.get("status") == "duplicate", "again: duplicate: %s %r" % (st, ans))
        for what, kw in (("a wrong token", {"token": tok + "y"}), ("no token", {}),
                         ("a wrong signature", {"token": tok, "secret": "wrong"}),
                         ("no signature", {"token": tok, "secret": None})):
            st, ans, hd = post(port, event(2), **kw)
            check(st == 401 and ans.get("status") == "unauthorized", "%s -> 401 (%s %r)" % (what, st, ans))
        st, _, hd = post(port, event(3), token=tok + "y")
        check("WWW-Authenticate" in hd, "401 says how to authenticate")
        # malformed but authenticated: 400 + quarantine
        bad = b'{"event_id":"t-bad","data":{"registration":'
        st, ans, _ = post(port, bad, token=tok, headers={"X-Event-Id": "t-bad"})
        check(st == 400 and "not valid JSON" in ans.get("error", ""), "malformed JSON -> 400 with why: %r" % ans)
        noid = b'{"data":{}}'
        st, ans, _ = post(port, noid, token=tok)
        check(st == 400 and "no event id" in ans.get("error", ""), "no event id -> 400: %r" % ans)
        # the sender retries a 400 it does not understand: still one entry
        st, ans, _ = post(port, bad, token=tok, headers={"X-Event-Id": "t-bad"})
        check(st == 400, "the same malformed event again -> 400")
        big = b'{"event_id":"t-big","pad":"' + b"x" * (100 * 1024) + b'"}'
        st, ans, _ = post(port, big, token=tok)
        check(st == 413, "a body over max_body -> 413 (%s)" % st)
        st, _, _ = post(port, event(4), token=tok, path="/hook/other")
        check(st == 404, "another path -> 404 (%s)" % st)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", PATH)
        r = c.getresponse()
        r.read()
        check(r.status == 405, "GET -> 405 (%s)" % r.status)
        # one keep-alive connection: several events, one after another
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        codes = [post(port, event(10 + i), token=tok, conn=conn)[0] for i in range(20)]
        conn.close()
        check(codes == [202] * 20, "20 events on one keep-alive connection: %r" % set(codes))
        msgs = harness.read_topic(d.endpoint, TOPIC, expect=21, idle=2)
        ids = sorted(m.id for m in msgs)
        check(ids == ["t-000001"] + ["t-%06d" % (10 + i) for i in range(20)],
              "only the accepted events are stored: %r" % ids[:5])
        q = harness.read_topic(d.endpoint, QTOPIC, expect=2, idle=2)
        check(len(q) == 2, "two quarantine entries (%d)" % len(q))
        qb = {m.payload: m for m in q}
        m = qb.get(bad)
        check(m is not None and "not valid JSON" in m.headers.get("lgsp-reason", "")
              and "t-bad" in m.headers.get("lgsp-position", "") and m.headers.get("lgsp-source") == "dn-civil",
              "the malformed event in quarantine with its bytes, position and reason: %r"
              % (m and m.headers))
        check(noid in qb and "no event id" in qb[noid].headers.get("lgsp-reason", ""),
              "the event without an id in quarantine")
    sanitizer_clean(d)
    # the simulator with a wrong secret: every push 401, nothing stored
    wd2 = harness.workdir("webhook-refuse-sim")
    world = make_world(wd2)
    port = free_port()
    with harness.Lgspd(wd2, adapters=[adapter(port)]) as d:
        wait_for(lambda: listening(port), 15, "the webhook listening")
        sim = Sim(wd2, world, free_port(), "http://127.0.0.1:%d%s" % (port, PATH),
                  ["rate=0", "push_from=2025-09-01T00:00:00+07:00", "retry_ms=10", "retry_max=2",
                   "secret=not-the-secret"])
        try:
            st = wait_for(lambda: (lambda s: s["parked"] >= 3 and s)(sim.state()), 30, "parked deliveries")
        finally:
            sim.stop()
        check(st and st["last_status"] == 401 and st["delivered"] == 0,
              "a wrong HMAC secret: every push refused with 401: %r" % st)
        msgs = harness.read_topic(d.endpoint, TOPIC, idle=1)
        check(len(msgs) == 0, "nothing stored (%d)" % len(msgs))
    sanitizer_clean(d)


def openssl(wd, *args):
    subprocess.run(["openssl"] + list(args), cwd=wd, check=True, capture_output=True)


def case_tls():
    if not shutil.which("openssl") or not shutil.which("curl"):
        print("openssl or curl missing: skipped")
        sys.exit(77)
    wd = harness.workdir("webhook-tls")
    pki = os.path.join(wd, "pki")
    os.makedirs(pki)
    for ca in ("ca", "other-ca"):
        openssl(pki, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=" + ca,
                "-keyout", ca + ".key", "-out", ca + ".pem")
    with open(os.path.join(pki, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    for name, ca, ext in (("server", "ca", ["-extfile", "server.ext"]), ("client", "ca", []),
                          ("intruder", "other-ca", [])):
        openssl(pki, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + name, "-keyout", name + ".key",
                "-out", name + ".csr")
        openssl(pki, "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
                "-CAcreateserial", "-days", "2", "-out", name + ".pem", *ext)
    port = free_port()
    p = lambda n: os.path.join(pki, n)
    a = adapter(port, tls={"cert": p("server.pem"), "key": p("server.key"), "client_ca": p("ca.pem")})
    del a["settings"]["hmac"]        # the client certificate alone authenticates
    with harness.Lgspd(wd, adapters=[a]) as d:
        wait_for(lambda: listening(port), 15, "the webhook listening")
        url = "https://127.0.0.1:%d%s" % (port, PATH)

        def curl(i, *extra):
            body = os.path.join(wd, "ev%d.json" % i)
            with open(body, "wb") as f:
                f.write(event(i))
            r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", p("ca.pem"),
                                "-H", "Content-Type: application/json", "--data-binary", "@" + body, url]
                               + list(extra), capture_output=True, text=True)
            return r.returncode, r.stdout

        rc, code = curl(1, "--cert", p("client.pem"), "--key", p("client.key"))
        check(rc == 0 and code == "202", "with the client certificate: 202 (curl %d, %s)" % (rc, code))
        rc, code = curl(2)
        check(code == "403", "without a client certificate: refused (curl %d, %s)" % (rc, code))
        rc, code = curl(3, "--cert", p("intruder.pem"), "--key", p("intruder.key"))
        check(code in ("403", "000"), "a certificate from another CA: refused (curl %d, %s)" % (rc, code))
        rc, code = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:%d%s"
                                   % (port, PATH), "-d", "{}"], capture_output=True, text=True).returncode, ""
        check(rc != 0, "plain HTTP on the TLS port is not served (curl %d)" % rc)
        # python's ssl client too
        ctx = ssl.create_default_context(cafile=p("ca.pem"))
        ctx.load_cert_chain(p("client.pem"), p("client.key"))
        c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
        codes = [post(port, event(100 + i), secret=None, conn=c)[0] for i in range(5)]
        c.close()
        check(codes == [202] * 5, "5 events on one TLS keep-alive connection: %r" % codes)
        msgs = harness.read_topic(d.endpoint, TOPIC, expect=6, idle=2)
        ids = sorted(m.id for m in msgs)
        check(ids == ["t-000001"] + ["t-%06d" % (100 + i) for i in range(5)], "only those stored: %r" % ids)
    sanitizer_clean(d)


# ---- bench --------------------------------------------------------------------

def case_bench(argv):
    """events/s answered 202 (durable) with 1 and with 4 keep-alive
    connections, by wh-load (adapters/webhook/wh-load.c)."""
    n, conns, size = 20000, [1, 4], 300
    for i, a in enumerate(argv):
        if a == "--events":
            n = int(argv[i + 1])
        if a == "--conns":
            conns = [int(x) for x in argv[i + 1].split(",")]
        if a == "--size":
            size = int(argv[i + 1])
    load = os.path.join(os.environ["LGSP_ADAPTER_PATH"], "webhook", "wh-load")
    wd = harness.workdir("webhook-bench")
    port = free_port()
    with harness.Lgspd(wd, adapters=[adapter(port)], log_level="warn") as d:
        wait_for(lambda: listening(port), 15, "the webhook listening")
        for k, c in enumerate(conns):
            r = subprocess.run([load, "http://127.0.0.1:%d%s" % (port, PATH), "--events", str(n), "--conns", str(c),
                                "--secret", DC_SECRET, "--prefix", "b%d" % k, "--size", str(size)],
                               capture_output=True, text=True)
            print(r.stdout.strip() or r.stderr.strip(), flush=True)
        time.sleep(1.5)      # the metrics are a snapshot rendered every second
        stored = d.metric("lgsp_adapter_events_accepted_total", adapter="dn-civil")
        print("webhook bench: %s events stored" % stored)


def main():
    setup_env()
    case = sys.argv[1] if len(sys.argv) > 1 else ""
    if case == "bench":
        case_bench(sys.argv[2:])
        return 0
    cases = {"push": case_push, "kill9": case_kill9, "durable": case_durable, "refuse": case_refuse,
             "tls": case_tls}
    if case not in cases:
        print(__doc__)
        return 2
    cases[case]()
    if FAILS:
        print("%d check(s) failed:\n  %s" % (len(FAILS), "\n  ".join(FAILS)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
