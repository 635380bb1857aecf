"""departments.py — the six department systems end to end: lgsp-gen writes a
world, lgsp-sim serves it through the six protocols, lgspd ingests it with
the adapters wired by config/departments.yaml, and the per-source counts in
the journal are compared with the generator's (truth/summary.json).

Used by the demo (demo.sh), the test tests/adapters/all-six and the
benchmark bench/run ingest:

    with Departments(work, scale=0.01) as dep:
        dep.start()                       # gen, sim, lgspd
        result = dep.wait_ingested(timeout=600)
        print(dep.summary(result))
"""

import json
import os
import re
import signal
import socket
import subprocess
import time

import harness

ROOT = harness.ROOT
SYSTEMS = ["qn-population", "dn-population", "qn-land", "dn-land", "qn-civil", "dn-civil"]
# The addresses config/departments.yaml is written for: lgsp-sim's defaults.
DEFAULT_PORTS = {"control": 18600, "qn-population": 18601, "dn-population": 18602,
                 "dn-land": 18604, "dn-civil": 18606}
DEFAULT_DROP = "/var/lib/lgsp/drop"
DEFAULT_WEBHOOK_PORT = 18680


def tool(env, name, *rel):
    p = os.environ.get(env)
    if p:
        return p
    return os.path.join(os.path.dirname(harness.find_lgspd()), "..", *rel)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def shared_data():
    return os.environ.get("LGSP_SHARED") or os.path.join(ROOT, "..", "shared", "data")


def make_world(out, scale, seed=1, quiet=True):
    """Runs lgsp-gen unless `out` already holds this world; returns summary.json."""
    summ = os.path.join(out, "truth", "summary.json")
    if os.path.exists(summ):
        with open(summ) as f:
            s = json.load(f)
        if s.get("scale") == scale and s.get("seed") == seed:
            return s
    gen = tool("LGSP_GEN", "lgsp-gen", "sim", "gen", "lgsp-gen")
    t0 = time.monotonic()
    r = subprocess.run([gen, "--seed", str(seed), "--scale", str(scale), "--out", out,
                        "--data", shared_data()] + (["--quiet"] if quiet else []),
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("lgsp-gen failed: " + r.stderr[-2000:])
    with open(summ) as f:
        s = json.load(f)
    s["_seconds"] = time.monotonic() - t0
    return s


class Sim:
    """lgsp-sim on free ports; .where[name] is what it printed for each system."""

    def __init__(self, world, work, webhook=None, only=None, settings=()):
        sim = tool("LGSP_SIM", "lgsp-sim", "sim", "servers", "lgsp-sim")
        os.makedirs(work, exist_ok=True)
        cmd = [sim, "--data", world, "--work", work, "--base-port", "0", "--set", "ref=" + shared_data()]
        if webhook:
            cmd += ["--webhook", webhook]
        if only:
            cmd += ["--only", ",".join(only)]
        for s in settings:
            cmd += ["--set", s]
        self.errf = open(os.path.join(work, "lgsp-sim.stderr"), "w+")
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.errf, text=True)
        self.where = {}
        deadline = time.monotonic() + 180
        while True:
            line = self.p.stdout.readline()
            if not line:
                self.errf.seek(0)
                raise RuntimeError("lgsp-sim exited before 'ready': " + self.errf.read()[-3000:])
            line = line.rstrip("\n")
            if line == "lgsp-sim: ready":
                break
            m = re.match(r"lgsp-sim: (\S+)\s+(\S+)", line)
            if m:
                self.where[m.group(1)] = m.group(2)
            if time.monotonic() > deadline:
                raise RuntimeError("lgsp-sim not ready in time")
        self.control = self.where["control"].rsplit("/", 1)[0]

    def port(self, name):
        w = self.where[name]
        m = re.search(r"@127\.0\.0\.1:(\d+)/", w) or re.match(r"\w+://127\.0\.0\.1:(\d+)", w)
        return int(m.group(1))

    def ctl(self, path, method="POST"):
        import urllib.request
        req = urllib.request.Request(self.control + path, method=method,
                                     data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            self.p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.communicate()
        self.errf.close()


def truth_records(world, system):
    """The number of distinct record ids of a system in the generator's truth."""
    ids = set()
    with open(os.path.join(world, "truth", system + ".truth.tsv")) as f:
        next(f)
        for line in f:
            ids.add(line.split("\t", 1)[0])
    return len(ids)


def render(template, sim, webhook_port, drop_root):
    """config/departments.yaml with lgsp-sim's real ports and folders in place
    of its default ones."""
    text = template
    for name, port in DEFAULT_PORTS.items():
        if name in sim.where:
            real = sim.port(name)
            text = re.sub(r"(127\.0\.0\.1[:,]|Port=|port: *)%d\b" % port, r"\g<1>%d" % real, text)
    text = re.sub(r"(127\.0\.0\.1:|port: *)%d\b" % DEFAULT_WEBHOOK_PORT, r"\g<1>%d" % webhook_port, text)
    return text.replace(DEFAULT_DROP, drop_root)


def adapters_section(text):
    """The `adapters:` part of a config (from that line to the end)."""
    i = text.find("\nadapters:")
    if i < 0:
        raise ValueError("no adapters: section")
    return text[i + 1:]


def template_path():
    return os.path.join(ROOT, "config", "departments.yaml")


class Departments:
    """gen + sim + lgspd with the six adapters, in `work`."""

    def __init__(self, work, scale=0.01, seed=1, systems=None, sim_settings=None,
                 lgspd_args=None):
        self.work = work
        self.scale = scale
        self.seed = seed
        self.systems = systems or SYSTEMS
        self.sim = None
        self.d = None
        # Drops all at once and pushes as fast as lgspd answers: the demo
        # and the benchmark measure lgsp, not the simulators' pacing.
        self.sim_settings = sim_settings if sim_settings is not None else [
            "qn-land.interval_ms=0", "qn-civil.interval_ms=0", "dn-civil.rate=0"]
        self.lgspd_args = lgspd_args or {}
        self.world = os.path.join(work, "world")
        self.summary_json = None
        self.started = None

    def start(self):
        os.makedirs(self.work, exist_ok=True)
        self.summary_json = make_world(self.world, self.scale, self.seed)
        hook_port = free_port()
        only = [s for s in self.systems]
        self.sim = Sim(self.world, os.path.join(self.work, "sim"),
                       webhook="http://127.0.0.1:%d/hook/dn-civil" % hook_port if "dn-civil" in only else None,
                       only=only, settings=self.sim_settings)
        with open(template_path()) as f:
            text = render(f.read(), self.sim, hook_port, os.path.join(self.work, "sim"))
        section = adapters_section(text)
        if set(self.systems) != set(SYSTEMS):
            section = self._only(section)
        args = dict(map_size="8GiB", log_level="info")
        args.update(self.lgspd_args)
        self.d = harness.Lgspd(os.path.join(self.work, "lgspd"), adapters_yaml=section, **args)
        env = {}
        supp = os.path.join(ROOT, "adapters", "sql", "lsan.supp")
        if os.path.exists(supp):
            # what unixODBC and psqlODBC keep until exit (their frames only)
            env["LSAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("LSAN_OPTIONS"),
                                                          "suppressions=" + supp, "print_suppressions=0"]))
        self.started = time.monotonic()
        self.d.start(extra_env=env)
        return self

    def _only(self, section):
        import yaml
        doc = yaml.safe_load(section)
        doc["adapters"] = [a for a in doc["adapters"] if a["name"] in self.systems]
        return "adapters: " + json.dumps(doc["adapters"], ensure_ascii=False) + "\n"

    def expected(self):
        """Distinct source records per system, from the generator's truth. (The
        summary's count for dn-civil is its deliveries, which repeat some events:
        the journal holds each event once.)"""
        if not hasattr(self, "_expected"):
            self._expected = {s: truth_records(self.world, s) for s in self.systems}
        return self._expected

    def counts(self):
        """Messages stored per source's raw topic and quarantine topic."""
        out = {}
        for s in self.systems:
            out[s] = (int(self.d.metric("lgsp_topic_messages", topic="raw." + s) or 0),
                      int(self.d.metric("lgsp_topic_messages", topic="quarantine." + s) or 0))
        return out

    def wait_ingested(self, timeout=600, progress=None):
        """Waits until every source's raw topic holds the generator's count
        (or timeout). Returns {source: {expected, stored, quarantined, seconds}}."""
        want = self.expected()
        done = {}
        t0 = self.started
        deadline = time.monotonic() + timeout
        last_print = 0
        while time.monotonic() < deadline and len(done) < len(want):
            c = self.counts()
            now = time.monotonic()
            for s, (n, q) in c.items():
                if s not in done and n >= want[s]:
                    done[s] = now - t0
            if progress and now - last_print >= 5:
                progress(c, want, now - t0)
                last_print = now
            time.sleep(0.2)
        c = self.counts()
        return {s: {"expected": want[s], "stored": c[s][0], "quarantined": c[s][1],
                    "seconds": done.get(s)} for s in want}

    def stop(self):
        if self.d:
            try:
                self.d.stop()
            finally:
                self.d.kill9()
        if self.sim:
            self.sim.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def table(result):
    lines = ["%-14s %10s %10s %11s %9s %12s" % ("source", "generator", "journal", "quarantine", "seconds",
                                                 "records/s")]
    for s, r in result.items():
        sec = r["seconds"]
        rate = r["stored"] / sec if sec else 0
        lines.append("%-14s %10d %10d %11d %9s %12s" % (
            s, r["expected"], r["stored"], r["quarantined"], "%.1f" % sec if sec else "-",
            "%.0f" % rate if sec else "-"))
    return "\n".join(lines)


def main():
    import argparse
    import sys
    ap = argparse.ArgumentParser(description="The six department systems -> lgspd, counted against the generator.")
    ap.add_argument("--scale", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", required=True)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--only", default="", help="comma-separated systems (default all six)")
    a = ap.parse_args()
    systems = [s for s in a.only.split(",") if s] or SYSTEMS
    print("generating the world (lgsp-gen --seed %d --scale %g) ..." % (a.seed, a.scale), flush=True)
    with Departments(a.work, scale=a.scale, seed=a.seed, systems=systems) as dep:
        dep.start()
        total = sum(dep.expected().values())
        print("lgsp-sim serves %d records through six protocols; lgspd %s ingests them "
              "(metrics: http://127.0.0.1:%d/metrics)" % (total, dep.d.endpoint, dep.d.http_port), flush=True)

        def progress(c, want, t):
            got = sum(n for n, _ in c.values())
            print("  %5.1f s: %d of %d records in the journal" % (t, got, total), flush=True)

        res = dep.wait_ingested(timeout=a.timeout, progress=progress)
        print(table(res))
        ok = all(r["stored"] == r["expected"] for r in res.values())
        secs = max((r["seconds"] or 0) for r in res.values())
        print("all sources: %d records in %.1f s (%.0f records/s); journal counts %s the generator's" % (
            sum(r["stored"] for r in res.values()), secs, sum(r["stored"] for r in res.values()) / secs
            if secs else 0, "EQUAL" if ok else "DIFFER FROM"))
        _, body = dep.d.http("/health")
        h = json.loads(body)
        bad = [x for x in h.get("adapters", []) if x["status"] != "running"]
        for x in bad:
            print("adapter %s: %s: %s" % (x["name"], x["status"], x["last_error"]))
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
