"""test_review.py — lgspd's review page (issue 8, part 3) in a real headless
Chromium (Debian's, driven by playwright-core from npm through drive.js):

  data      lgsp-gen at scale 0.005 -> lgsp map of qn-population and
            dn-population -> lgsp dedup --no-train --store (the spec's
            starting model leaves a few hundred possible matches for review)
  server    lgspd with a review: section over that store, its queue
            (review.jsonl), the records folder and a users file made by
            lgsp review-user; a non-loopback review.listen is refused
  http      without a session: pages send to /login, the API answers 401;
            a POST without the CSRF token is refused (403); a wrong password
            is refused (401); no password or name reaches the log
  browser   a wrong password is refused; log in; open the queue; open the
            first pair (records side by side, the waterfall); accept it;
            reject the next one; the queue filtered by a commune shows
            exactly that commune's pending pairs, by a source only pairs of
            that source; log out
  store     lgsp decide list shows the link and the unlink with the
            reviewer's name; the accepted pair is one entity at once
  re-run    lgsp dedup --store again (same --out, so lgspd reloads the
            queue): the accepted pair is one entity, the rejected pair two,
            and the queue still shows both as decided

Exit 77 (skipped) only when Debian's Chromium is not installed (deps.sh
installs it). Only synthetic data (lgsp-gen's) is used."""
import http.cookiejar
import json
import os
import re
import shutil
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402

SPEC = os.path.join(ROOT, "config", "er", "person.yaml")
SCHEMAS = os.environ.get("LGSP_SCHEMAS", os.path.join(ROOT, "schemas"))
SHARED = os.environ["LGSP_SHARED"]
CLI = os.environ["LGSP_CLI"]
GEN = os.environ["LGSP_GEN"]
TESTTMP = os.environ.get("LGSP_TEST_TMP", "/tmp")
TMP = os.path.join(TESTTMP, "review-%d" % os.getpid())
NODE_DIR = os.path.join(TESTTMP, "review-node")     # playwright-core, kept between runs
CHROMIUM = os.environ.get("LGSP_CHROMIUM", "/usr/bin/chromium")
USER, PASSWORD = "Trần Lan", "mật-khẩu 7 ngày"
SOURCES = [("qn-population", "persons.jsonl"), ("dn-population", "congdan.xml")]


def log(msg):
    print(msg, flush=True)


def run(args, ok=(0,), **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode not in ok:
        raise AssertionError("%s: exit %d\nstdout: %s\nstderr: %s" % (
            " ".join(args), r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
    if "AddressSanitizer" in r.stderr or "runtime error:" in r.stderr:
        raise AssertionError("%s: sanitizer report\n%s" % (" ".join(args), r.stderr[-4000:]))
    return r


def dedup(inputs, store, out):
    args = [CLI, "dedup", "--spec", SPEC, "--no-train", "--threads", "2", "--quiet",
            "--store", store, "--out", out]
    for i in inputs:
        args += ["--input", i]
    return run(args)


def entity_of(out_dir):
    ent = {}
    with open(os.path.join(out_dir, "entities.jsonl"), encoding="utf-8") as f:
        for line in f:
            e = json.loads(line)
            for r in e["records"]:
                ent[r] = e["entity"]
    return ent


class Session:
    """A reviewer's HTTP session with urllib (cookies kept; no redirects followed)."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                  self._NoRedirect)

    def req(self, method, path, data=None, headers=None):
        body = None
        h = dict(headers or {})
        if isinstance(data, dict):
            body = urllib.parse.urlencode(data).encode()
            h["Content-Type"] = "application/x-www-form-urlencoded"
        elif isinstance(data, (bytes, str)):
            body = data.encode() if isinstance(data, str) else data
            h.setdefault("Content-Type", "application/json")
        r = urllib.request.Request(self.base + path, data=body, method=method, headers=h)
        try:
            with self.opener.open(r, timeout=30) as resp:
                return resp.status, dict(resp.headers), resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()

    def login(self, name, password):
        st, _, page = self.req("GET", "/login")
        assert st == 200, st
        tok = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
        return self.req("POST", "/login", {"csrf": tok, "name": name, "password": password})


def playwright_dir():
    """playwright-core from npm in a folder of the build tree (no browser download)."""
    mod = os.path.join(NODE_DIR, "node_modules", "playwright-core", "package.json")
    if not os.path.exists(mod):
        os.makedirs(NODE_DIR, exist_ok=True)
        env = dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
        run(["npm", "install", "--prefix", NODE_DIR, "--no-audit", "--no-fund", "--silent",
             "playwright-core@1"], env=env, timeout=600)
    assert os.path.exists(mod), "playwright-core did not install into %s" % NODE_DIR
    return NODE_DIR


def main():
    if not os.access(CHROMIUM, os.X_OK):
        log("SKIP: %s is not installed (deps.sh installs Debian's chromium)" % CHROMIUM)
        return 77
    for tool in ("node", "npm"):
        if not shutil.which(tool):
            raise AssertionError("%s not found: the machine's Node.js is needed" % tool)
    shutil.rmtree(TMP, ignore_errors=True)
    os.makedirs(TMP)

    # ---- data ----------------------------------------------------------
    t0 = time.monotonic()
    world = os.path.join(TMP, "world")
    run([GEN, "--seed", "7", "--scale", "0.005", "--out", world, "--quiet", "--data", SHARED])
    recs = os.path.join(TMP, "records")
    os.makedirs(recs)
    inputs, records = [], {}
    for source, raw in SOURCES:
        out = os.path.join(recs, source + ".jsonl")
        with open(out, "w", encoding="utf-8") as f:
            r = subprocess.run([CLI, "map", "-m", os.path.join(SCHEMAS, "mappings", source + ".yaml"),
                                "-i", os.path.join(world, source, raw), "-d", os.path.join(SHARED, "admin"),
                                "-s", SCHEMAS], stdout=f, stderr=subprocess.PIPE, text=True)
        assert r.returncode in (0, 1), "lgsp map %s: %s" % (source, r.stderr[-2000:])
        inputs.append(out)
        with open(out, encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                rid = "%s:%s" % (rec["provenance"]["source_system"], rec["provenance"]["source_record_id"])
                records[rid] = rec
    store, out1 = os.path.join(TMP, "store"), os.path.join(TMP, "out")
    dedup(inputs, store, out1)
    queue = []
    with open(os.path.join(out1, "review.jsonl"), encoding="utf-8") as f:
        for line in f:
            p = json.loads(line)
            queue.append(tuple(sorted((p["a"], p["b"]))))
    assert len(queue) >= 20, "only %d possible matches to review" % len(queue)
    log("data: %d records, %d pairs to review (%.1f s)" % (len(records), len(queue), time.monotonic() - t0))

    def commune(rid):
        return ((records[rid].get("residence") or {}).get("commune_2025") or {}).get("code")

    # ---- users ---------------------------------------------------------
    users = os.path.join(TMP, "reviewers")
    run([CLI, "review-user", users, "add", USER], input=PASSWORD + "\n")
    run([CLI, "review-user", users, "add", "bob"], input="bob's password\n")
    run([CLI, "review-user", users, "remove", "bob"])
    listed = run([CLI, "review-user", users, "list"]).stdout.split("\n")
    assert listed[:1] == [USER] and "bob" not in listed, listed
    assert os.stat(users).st_mode & 0o077 == 0, "the users file is readable by others"
    with open(users, encoding="utf-8") as f:
        text = f.read()
    assert PASSWORD not in text and "pbkdf2-sha256$600000$" in text, text

    # ---- the server ----------------------------------------------------
    section = ("review:\n  listen: \"127.0.0.1:0\"\n  store: %s\n  spec: %s\n  queue: %s\n"
               "  records: %s\n  users: %s\n  admin: %s\n" % (
                   json.dumps(store), json.dumps(SPEC), json.dumps(os.path.join(out1, "review.jsonl")),
                   json.dumps(recs), json.dumps(users), json.dumps(os.path.join(SHARED, "admin"))))
    # A review page on a public address is refused when the file is checked.
    bad = harness.Lgspd(os.path.join(TMP, "bad"), adapters_yaml=section.replace("127.0.0.1:0", "0.0.0.0:7602"))
    bad.write_config()
    r = subprocess.run([harness.find_lgspd(), "-c", bad.config_path, "--check-config"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "review.listen" in r.stderr and "loopback" in r.stderr, (r.returncode, r.stderr)
    # Store without the others: refused, naming what is missing.
    bad.adapters_yaml = "review:\n  store: %s\n" % json.dumps(store)
    bad.write_config()
    r = subprocess.run([harness.find_lgspd(), "-c", bad.config_path, "--check-config"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "'spec' is missing" in r.stderr, (r.returncode, r.stderr)

    d = harness.Lgspd(os.path.join(TMP, "lgspd"), adapters_yaml=section)
    d.start(timeout=120)
    failures = []
    try:
        with open(d.ready_path) as f:
            port = json.load(f)["review"]
        base = "http://127.0.0.1:%d" % port
        log("lgspd: review page on %s" % base)

        # ---- HTTP, without a browser ----
        anon = Session(base)
        st, h, _ = anon.req("GET", "/queue")
        assert st == 303 and h.get("Location") == "/login", (st, h)
        st, _, body = anon.req("GET", "/api/queue")
        assert st == 401, (st, body)
        st, _, _ = anon.login(USER, "not the password")
        assert st == 401, st
        st, _, _ = anon.login("nobody", PASSWORD)
        assert st == 401, st
        # The login form's token must come with its cookie.
        st, _, _ = Session(base).req("POST", "/login", {"csrf": "0" * 64, "name": USER, "password": PASSWORD})
        assert st == 403, st
        api = Session(base)
        st, h, _ = api.login(USER, PASSWORD)
        assert st == 303 and h.get("Location") == "/queue", (st, h)
        cookie = [v for k, v in h.items() if k.lower() == "set-cookie"]
        st, _, body = api.req("GET", "/api/session")
        sess = json.loads(body)
        assert sess["user"] == USER, sess
        # POSTs without (or with a wrong) CSRF token are refused.
        a0, b0 = queue[-1]
        st, _, _ = api.req("POST", "/decide", {"a": a0, "b": b0, "decision": "accept"})
        assert st == 403, st
        st, _, _ = api.req("POST", "/api/decide", json.dumps({"a": a0, "b": b0, "decision": "accept"}),
                           {"X-CSRF-Token": "f" * 64})
        assert st == 403, st
        # ... and from another origin even with the token.
        st, _, _ = api.req("POST", "/api/decide", json.dumps({"a": a0, "b": b0, "decision": "accept"}),
                           {"X-CSRF-Token": sess["csrf"], "Origin": "http://evil.example"})
        assert st == 403, st
        st, _, body = api.req("GET", "/api/queue?status=all")
        assert st == 200 and json.loads(body)["total"] == len(queue), body[:300]
        log("http: redirects, 401s, CSRF and origin refusals as expected")

        # ---- the browser ----
        pw = playwright_dir()
        counts = {}
        for a, b in queue:
            for c in {commune(a), commune(b)} - {None}:
                counts[c] = counts.get(c, 0) + 1
        chosen = max(sorted(counts), key=lambda c: counts[c])
        cfg = {"base": base, "user": USER, "password": PASSWORD, "chromium": CHROMIUM,
               "commune": chosen, "source": "qn-population",
               "screenshot": os.path.join(TESTTMP, "review-pair.png")}
        cfg_path = os.path.join(TMP, "drive.json")
        with open(cfg_path, "w", encoding="utf-8") as f:
            json.dump(cfg, f, ensure_ascii=False)
        t1 = time.monotonic()
        r = run(["node", os.path.join(HERE, "drive.js"), pw, cfg_path], timeout=300)
        seen = json.loads(r.stdout.strip().splitlines()[-1])
        log("browser: %.1f s: %s" % (time.monotonic() - t1, json.dumps(
            {k: v for k, v in seen.items() if not k.endswith("_rows")}, ensure_ascii=False)))

        def check(cond, what):
            if not cond:
                failures.append(what)
                log("   FAILED: " + what)

        check("Wrong name or password" in seen["wrong_password"], "the wrong password is refused on the page")
        check(not seen["session_before"], "no session cookie before the right password")
        check(seen["who"] == USER, "the page names the reviewer")
        check(seen["cookie"] == {"httpOnly": True, "sameSite": "Strict"}, "cookie HttpOnly, SameSite=Strict")
        check(seen["queue_rows"] == min(50, len(queue)), "the queue's first page shows 50 pairs")
        check(seen["field_rows"] == 9, "every field of the spec side by side")
        check(seen["record_columns"] >= 2, "two or more records side by side")
        check(seen["waterfall_rows"] == 9 and seen["waterfall_bars"] == 10, "the waterfall: 9 comparisons + prior, bars")
        first, second = tuple(sorted(seen["first"])), tuple(sorted(seen["second"]))
        check(first == queue_sorted_first(queue), "the first pair opened is the queue's first")
        check(first in queue and second in queue and first != second, "two pairs of the queue decided")
        check("accepted" in seen["first_decision"] and USER in seen["first_decision"],
              "the pair page shows the decision and who made it")
        check(seen["after_logout"] == "/login", "logged out")
        # the commune filter: exactly the pending pairs with a record in that commune
        want = {p for p in queue if chosen in (commune(p[0]), commune(p[1]))} - {first, second}
        got = {tuple(sorted((x["a"], x["b"]))) for x in seen["commune_rows"]}
        check(got == want, "the commune filter shows %d pairs, %d expected" % (len(got), len(want)))
        check(all(x["commune"].startswith(chosen) or (" / " + chosen) in x["commune"]
                  for x in seen["commune_rows"]), "every row of the commune filter names that commune")
        nsrc = sum(1 for p in queue if p[0].startswith("qn-population:") or p[1].startswith("qn-population:"))
        check(seen["source_count"].startswith("%d pairs" % nsrc), "the source filter: %s, %d expected"
              % (seen["source_count"], nsrc))
        check(all(x["a"].startswith("qn-population:") or x["b"].startswith("qn-population:")
                  for x in seen["source_rows"]), "every row of the source filter has a qn-population record")

        # ---- the store ----
        lst = run([CLI, "decide", "--store", store, "--kind", "person", "list"]).stdout
        rows = [line.split("\t") for line in lst.strip().splitlines()]
        decided = {(r[1], tuple(sorted((r[2], r[3])))): r for r in rows}
        check(("link", first) in decided, "lgsp decide list shows the accept as a link")
        check(("unlink", second) in decided, "lgsp decide list shows the reject as an unlink")
        check(all(r[4] == USER for r in rows) and len(rows) == 2, "both decisions by %s: %s" % (USER, rows))
        check(decided.get(("link", first), [""] * 6)[5] == "the same person (browser test)", "the note is kept")
        st, _, body = api.req("GET", "/api/pair?" + urllib.parse.urlencode({"a": first[0], "b": first[1]}))
        ents = {x["id"]: x["entity"] for x in json.loads(body)["records"]}
        check(ents[first[0]] == ents[first[1]], "the accepted pair is one entity at once")
        st, _, body = api.req("GET", "/api/pair?" + urllib.parse.urlencode({"a": second[0], "b": second[1]}))
        ents = {x["id"]: x["entity"] for x in json.loads(body)["records"]}
        check(ents[second[0]] != ents[second[1]], "the rejected pair is two entities")

        # ---- a re-run applies the decisions ----
        dedup(inputs, store, out1)
        ent = entity_of(out1)
        check(ent[first[0]] == ent[first[1]], "after a re-run the accepted pair is one entity")
        check(ent[second[0]] != ent[second[1]], "after a re-run the rejected pair is two entities")
        st, _, body = api.req("GET", "/api/queue?status=decided")
        got = {(p["a"], p["b"]): p["status"] for p in json.loads(body)["pairs"]}
        check(got.get(first) == "accepted" and got.get(second) == "rejected",
              "after a re-run the reloaded queue still shows both decisions: %s" % got)

        # ---- differences are marked ----
        getters = {"full_name": lambda r: (r.get("name") or {}).get("full"),
                   "birth_date": lambda r: (r.get("birth_date") or {}).get("value"),
                   "personal_id": lambda r: r.get("personal_id"), "cmnd": lambda r: r.get("cmnd"),
                   "sex": lambda r: r.get("sex")}

        def differing(p):
            ra, rb = records[p[0]], records[p[1]]
            return [k for k, g in getters.items() if g(ra) and g(rb) and g(ra) != g(rb)]
        # The queue's pairs of this small world are mostly exact copies: any two
        # loaded records may be opened, so take two people of the same sex.
        ids = sorted(records)
        diffpair = next(((ids[0], x) for x in ids[1:] if differing((ids[0], x)) and
                         getters["sex"](records[ids[0]]) == getters["sex"](records[x])), None)
        check(diffpair is not None, "two records with a field that differs")
        if diffpair:
            field = differing(diffpair)[0]
            same = [k for k, g in getters.items() if g(records[diffpair[0]]) and
                    g(records[diffpair[0]]) == g(records[diffpair[1]])]
            st, _, page = api.req("GET", "/pair?" + urllib.parse.urlencode({"a": diffpair[0], "b": diffpair[1]}))
            check(re.search(r'<tr class="field"><td>%s</td><td class="same">[^<]*</td><td class="diff">' % field,
                            page) is not None, "the differing %s is marked" % field)
            for k in same:
                check(re.search(r'<tr class="field"><td>%s</td><td class="same">[^<]*</td><td class="same">' % k,
                                page) is not None, "the equal %s is not marked" % k)

        # ---- split (JSON API): a group of three, one record leaves ----
        c = next(r for r in sorted(records) if r not in first + second and commune(r))
        hdr = {"X-CSRF-Token": sess["csrf"]}
        st, _, body = api.req("POST", "/api/decide", json.dumps({"a": first[0], "b": c, "decision": "accept"}), hdr)
        check(st == 200 and json.loads(body)["ok"], "accept through the API: %s %s" % (st, body[:200]))
        st, _, body = api.req("GET", "/api/pair?" + urllib.parse.urlencode({"a": first[0], "b": c}))
        group = {x["id"]: x["entity"] for x in json.loads(body)["records"]}
        check(set(group) == {first[0], first[1], c} and len(set(group.values())) == 1,
              "three records in one entity: %s" % group)
        st, _, body = api.req("POST", "/api/decide", json.dumps(
            {"a": first[0], "b": c, "decision": "split", "leave": [c], "note": "split test"}), hdr)
        check(st == 200, "split through the API: %s %s" % (st, body[:200]))
        st, _, body = api.req("GET", "/api/pair?" + urllib.parse.urlencode({"a": first[0], "b": first[1]}))
        group = {x["id"]: x["entity"] for x in json.loads(body)["records"]}
        check(group.get(first[0]) == group.get(first[1]) and c not in group,
              "after the split the accepted pair stays one entity without the third: %s" % group)
        lst = run([CLI, "decide", "--store", store, "--kind", "person", "list"]).stdout
        rules = {(r[1], tuple(sorted((r[2], r[3])))) for r in (x.split("\t") for x in lst.strip().splitlines())}
        check(("unlink", tuple(sorted((c, first[0])))) in rules and ("unlink", tuple(sorted((c, first[1])))) in rules,
              "the split is two unlinks: %s" % sorted(rules))

        # nothing of a request in the log
        with open(d.log_path, encoding="utf-8", errors="replace") as f:
            logtext = f.read()
        for secret in (PASSWORD, USER, first[0], second[1], sess["csrf"]):
            check(secret not in logtext, "the log holds no request data (%r found)" % secret[:12])
        for c in cookie:
            check(c.split(";")[0].split("=", 1)[1] not in logtext, "the log holds no session token")
    except Exception:
        failures.append("exception")
        log(traceback.format_exc())
    finally:
        rc = d.stop()
        with open(d.log_path, encoding="utf-8", errors="replace") as f:
            tail = f.read()
        if rc != 0 or "AddressSanitizer" in tail or "runtime error:" in tail:
            failures.append("lgspd exit %s" % rc)
            log("lgspd exited %s:\n%s" % (rc, tail[-4000:]))
    if failures:
        log("FAILED: %s" % failures)
        return 1
    shutil.rmtree(TMP, ignore_errors=True)
    log("ok (%.1f s)" % (time.monotonic() - t0))
    return 0


def queue_sorted_first(queue_pairs):
    """The pair the page lists first: highest probability, then a, then b."""
    with open(os.path.join(TMP, "out", "review.jsonl"), encoding="utf-8") as f:
        ps = [json.loads(line) for line in f]
    ps = [(-p["probability"], tuple(sorted((p["a"], p["b"])))) for p in ps]
    return min(ps)[1]


if __name__ == "__main__":
    sys.exit(main())
