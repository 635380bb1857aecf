"""test_host.py — the adapter host inside the real lgspd, with the example
source (a JSON-lines file follower) and the file-sink.

    test_host.py CASE     (resume | isolation | check_config | sink | curve_sink)
"""
import json
import os
import random
import signal
import subprocess
import sys
import time

import harness

FAILS = []


def check(cond, what):
    print("%s: %s" % ("ok" if cond else "FAIL", what))
    if not cond:
        FAILS.append(what)


def write_lines(path, start, n, bad_every=0):
    with open(path, "a") as f:
        for i in range(start, start + n):
            if bad_every and i % bad_every == 0:
                f.write("this is not json %d\n" % i)
            else:
                f.write(json.dumps({"id": "r%07d" % i, "ho_ten": "Nguyễn Văn %d" % i,
                                    "pad": "x" * 200}) + "\n")


def example(name, path, **extra):
    a = {"name": name, "plugin": "example", "interval": "100ms",
         "restart_backoff": "100ms", "restart_backoff_max": "400ms",
         "settings": {"file": path, "batch": 500}}
    a.update(extra)
    return a


def wait_for(fn, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    check(False, "timed out waiting for " + what)
    return None


def case_resume():
    """kill -9 at random points during an ingest: every line once, and the
    last process re-reads nothing (the state covered exactly what was stored)."""
    wd = harness.workdir("adapter-resume")
    src = os.path.join(wd, "in.jsonl")
    n = 60000
    write_lines(src, 0, n, bad_every=997)
    bad = len([i for i in range(n) if i % 997 == 0])
    d = harness.Lgspd(wd, adapters=[example("ex", src)])
    rng = random.Random(7)
    d.start()
    for k in range(3):
        time.sleep(rng.uniform(0.2, 1.2))
        d.kill9()
        d.start()
    # Let it finish, then check the last process's own figures.
    total = lambda: (d.metric("lgsp_messages_in_total", topic="raw.ex") or 0)
    wait_for(lambda: d.metric("lgsp_adapter_up", adapter="ex") == 1.0, 10, "adapter up")
    # Records stored by this process + before: read the topic itself.
    msgs = harness.read_topic(d.endpoint, "raw.ex", expect=n - bad, idle=5)
    ids = [m.headers["lgsp-source-id"] for m in msgs]
    check(len(ids) == n - bad, "raw.ex holds %d messages, expected %d" % (len(ids), n - bad))
    check(len(set(ids)) == len(ids), "no id twice in raw.ex")
    want = set("r%07d" % i for i in range(n) if i % 997)
    check(set(ids) == want, "exactly the lines of the file")
    q = harness.read_topic(d.endpoint, "quarantine.ex", expect=bad, idle=3)
    check(len(q) == bad, "quarantine.ex holds %d, expected %d" % (len(q), bad))
    check(all(m.headers.get("lgsp-reason") and m.headers.get("lgsp-position", "").startswith("byte ")
              and m.payload.startswith(b"this is not json") for m in q),
          "quarantined lines carry position, reason and their bytes")
    dups = d.metric("lgsp_adapter_duplicates_total", adapter="ex")
    check(dups == 0, "the last process re-read nothing (duplicates %s)" % dups)
    m0 = msgs[0]
    check(m0.headers.get("lgsp-source") == "ex" and m0.headers.get("lgsp-content-type") == "application/json"
          and m0.headers.get("lgsp-fetched-at", "").endswith("Z"), "provenance headers")
    check(json.loads(m0.payload)["ho_ten"].startswith("Nguyễn"), "payload is the original line")
    # More lines later: picked up by the next poll, only those.
    write_lines(src, n, 100)
    wait_for(lambda: (d.metric("lgsp_adapter_records_total", adapter="ex") or 0) >= 100, 20,
             "the appended lines")
    more = harness.read_topic(d.endpoint, "raw.ex", expect=n - bad + 100, idle=3)
    check(len(more) == n - bad + 100, "appended lines stored once (%d)" % len(more))
    code = d.stop()
    check(code == 0, "SIGTERM with adapters running exits 0 (%s)" % code)


def case_isolation():
    """A failing adapter is restarted with backoff and reported; an adapter
    with wrong settings stays failed with file:line; neither holds up a third."""
    wd = harness.workdir("adapter-isolation")
    good = os.path.join(wd, "good.jsonl")
    write_lines(good, 0, 2000)
    blocker = os.path.join(wd, "afile")
    open(blocker, "w").close()
    broken = os.path.join(blocker, "in.jsonl")     # ENOTDIR: every poll fails
    wrong = example("wrong", good)
    wrong["settings"] = {"file": good, "batch": "0"}
    with harness.Lgspd(wd, adapters=[example("broken", broken), wrong, example("good", good)]) as d:
        wait_for(lambda: (d.metric("lgsp_adapter_failures_total", adapter="broken") or 0) >= 3, 15,
                 "three failures of 'broken'")
        wait_for(lambda: (d.metric("lgsp_adapter_records_total", adapter="good") or 0) >= 2000, 15,
                 "'good' ingests everything")
        check(d.metric("lgsp_adapter_up", adapter="good") == 1.0, "good is up")
        check(d.metric("lgsp_adapter_up", adapter="broken") == 0.0, "broken is down (backing off)")
        status, body = d.http("/health")
        h = json.loads(body)
        check(h["status"] == "degraded", "health says degraded (%s)" % h["status"])
        by = {a["name"]: a for a in h["adapters"]}
        check("Not a directory" in by["broken"]["last_error"] or "cannot open" in by["broken"]["last_error"],
              "broken's last error is reported: %s" % by["broken"]["last_error"])
        check(by["wrong"]["status"] == "failed (settings)", "wrong settings: %s" % by["wrong"]["status"])
        check(by["good"].get("guarantee") == "exactly once", "the declared guarantee is shown: %s" % by["good"])
        check(("lgspd.yaml:" in by["wrong"]["last_error"]) and "batch" in by["wrong"]["last_error"],
              "the settings error names file:line and the setting: %s" % by["wrong"]["last_error"])
        f1 = d.metric("lgsp_adapter_failures_total", adapter="broken")
        time.sleep(1.0)
        f2 = d.metric("lgsp_adapter_failures_total", adapter="broken")
        check(f2 - f1 <= 4, "backoff slows the restarts (%d in 1 s at the 400 ms cap)" % (f2 - f1))
        check(d.metric("lgsp_adapter_failures_total", adapter="wrong") == 1.0,
              "an adapter with wrong settings is not restarted in a loop")


def case_check_config():
    wd = harness.workdir("adapter-check")
    src = os.path.join(wd, "in.jsonl")
    d = harness.Lgspd(wd, adapters=[example("ex", src)])
    d.write_config()
    lgspd = harness.find_lgspd()
    env = dict(os.environ)
    r = subprocess.run([lgspd, "--check-config", "-c", d.config_path], capture_output=True, text=True, env=env)
    check(r.returncode == 0, "a valid adapter passes --check-config: %s" % (r.stdout + r.stderr).strip())
    bad_plugin = example("ex", src)
    bad_plugin["plugin"] = "no-such-plugin"
    d.adapters = [bad_plugin]
    d.write_config()
    r = subprocess.run([lgspd, "--check-config", "-c", d.config_path], capture_output=True, text=True, env=env)
    check(r.returncode == 2 and "no-such-plugin" in r.stderr and "lgspd.yaml:" in r.stderr,
          "an unknown plugin is refused with file:line: %s" % r.stderr.strip())
    bad_setting = example("ex", src)
    bad_setting["settings"] = {"file": src, "batch": "lots"}
    d.adapters = [bad_setting]
    d.write_config()
    r = subprocess.run([lgspd, "--check-config", "-c", d.config_path], capture_output=True, text=True, env=env)
    check(r.returncode == 2 and "setting 'batch'" in r.stderr, "a bad setting is refused: %s" % r.stderr.strip())
    d.adapters = [example("ex", src), example("ex", src)]
    d.write_config()
    r = subprocess.run([lgspd, "--check-config", "-c", d.config_path], capture_output=True, text=True, env=env)
    check(r.returncode == 2 and "already used" in r.stderr, "a duplicate name is refused: %s" % r.stderr.strip())
    # lgsp-adapter-test runs the same adapter without lgspd.
    tool = os.path.join(os.path.dirname(lgspd), "lgsp-adapter-test")
    write_lines(src, 0, 10, bad_every=4)
    d.adapters = [example("ex", src)]
    d.write_config()
    st = os.path.join(wd, "ex.state")
    r = subprocess.run([tool, "-c", d.config_path, "-a", "ex", "-s", st, "-w", wd], capture_output=True,
                       text=True, env=env)
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    check(r.returncode == 0 and len([l for l in lines if l["topic"] == "raw.ex"]) == 7
          and len([l for l in lines if l["topic"] == "quarantine.ex"]) == 3,
          "lgsp-adapter-test prints 7 records and 3 quarantined: %s" % r.stderr.strip())
    write_lines(src, 10, 5)
    r = subprocess.run([tool, "-c", d.config_path, "-a", "ex", "-s", st, "-w", wd], capture_output=True,
                       text=True, env=env)
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    check(len(lines) == 5 and "5 stored, 0 duplicates" in r.stderr,
          "a second run resumes from its state: %s" % r.stderr.strip())
    # A relative path in the settings is relative to the configuration file.
    d.adapters = [example("ex", "in.jsonl")]
    d.write_config()
    r = subprocess.run([tool, "-c", d.config_path, "-a", "ex", "-s", st + ".rel", "-w", wd], capture_output=True,
                       text=True, env=env, cwd="/")
    check(r.returncode == 0 and "12 stored" in r.stderr, "a relative file setting is found beside the config: %s"
          % r.stderr.strip())


def case_sink(security="plain"):
    """A sink gets every message of its topic, also across a kill -9."""
    wd = harness.workdir("adapter-sink-" + security)
    src = os.path.join(wd, "in.jsonl")
    out = os.path.join(wd, "out.jsonl")
    n = 20000
    write_lines(src, 0, n)
    sink = {"name": "tofile", "plugin": "file-sink", "topic": "raw.ex", "batch": 200, "credit": 1000,
            "restart_backoff": "100ms", "settings": {"file": out}}
    kw = {}
    if security == "curve":
        kw = {"security": "curve"}
    d = harness.Lgspd(wd, adapters=[example("ex", src), sink], **kw)
    d.start()
    time.sleep(0.8)
    d.kill9()
    d.start()
    def done():
        try:
            with open(out) as f:
                return len(set(json.loads(l)["id"] for l in f if l.strip())) >= n
        except (OSError, ValueError):
            return False
    wait_for(done, 60, "the sink wrote every message")
    with open(out) as f:
        got = [json.loads(l) for l in f if l.strip()]
    ids = set(g["headers"]["lgsp-source-id"] for g in got)
    check(ids == set("r%07d" % i for i in range(n)), "every message reached the file (%d distinct of %d lines)"
          % (len(ids), len(got)))
    check(d.metric("lgsp_adapter_delivered_total", adapter="tofile") is not None, "sink figures in /metrics")
    d.stop()


def case_sdk():
    """The plugin SDK as an engineer outside the tree gets it: install, then
    build the example with pkg-config only, and run it with lgsp-adapter-test."""
    build_root = sys.argv[2]
    wd = harness.workdir("adapter-sdk")
    dest = os.path.join(wd, "dest")
    r = subprocess.run(["meson", "install", "-C", build_root, "--no-rebuild", "--destdir", dest, "--quiet"],
                       capture_output=True, text=True)
    check(r.returncode == 0, "meson install --destdir: %s" % r.stderr[-500:])
    pcs = [os.path.join(dp, f) for dp, _, fs in os.walk(dest) for f in fs if f == "lgsp-adapter.pc"]
    check(len(pcs) == 1, "lgsp-adapter.pc installed")
    if not pcs:
        return
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]), PKG_CONFIG_SYSROOT_DIR=dest)
    cflags = subprocess.run(["pkg-config", "--cflags", "lgsp-adapter", "jansson"], capture_output=True,
                            text=True, env=env).stdout.split()
    plugindir = subprocess.run(["pkg-config", "--variable=plugindir", "lgsp-adapter"], capture_output=True,
                               text=True, env=env).stdout.strip()
    check(plugindir.endswith("/lgsp/adapters"), "pkg-config names the plugin folder: %s" % plugindir)
    src = os.path.join(harness.ROOT, "adapters", "example", "example.c")
    so = os.path.join(wd, "lgsp-adapter-mine.so")
    r = subprocess.run(["cc", "-shared", "-fPIC", "-fvisibility=hidden"] + cflags + [src, "-o", so, "-ljansson"],
                       capture_output=True, text=True)
    check(r.returncode == 0, "the example builds outside the tree: %s" % r.stderr[-500:])
    syms = subprocess.run(["nm", "-D", "--defined-only", so], capture_output=True, text=True).stdout
    exported = sorted(l.split()[-1] for l in syms.splitlines() if " T " in l)
    check(exported == ["lgsp_adapter_abi", "lgsp_adapter_init"], "it exports only the two entry points: %s" % exported)
    src_file = os.path.join(wd, "in.jsonl")
    write_lines(src_file, 0, 5)
    d = harness.Lgspd(wd, adapters=[{"name": "mine", "plugin": so, "settings": {"file": src_file}}])
    d.write_config()
    tool = os.path.join(os.path.dirname(harness.find_lgspd()), "lgsp-adapter-test")
    r = subprocess.run([tool, "-c", d.config_path, "-a", "mine", "-s", os.path.join(wd, "st"), "-w", wd],
                       capture_output=True, text=True)
    check(r.returncode == 0 and len(r.stdout.splitlines()) == 5, "the plugin built outside runs: %s" % r.stderr)


CASES = {"sdk": case_sdk, "resume": case_resume, "isolation": case_isolation, "check_config": case_check_config,
         "sink": case_sink, "curve_sink": lambda: case_sink("curve")}

if __name__ == "__main__":
    CASES[sys.argv[1]]()
    if FAILS:
        print("%d checks failed" % len(FAILS))
        sys.exit(1)
    print("all checks passed")
