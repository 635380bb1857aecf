"""test_all_six.py — the six department systems into one lgspd with
config/departments.yaml (the demo's wiring), killed with -9 in the middle:
at the end every source's raw topic holds exactly the generator's records
(the set of source record ids equals the truth's), nothing in quarantine,
every adapter running."""
import json
import os
import sys
import time

import departments
import harness

FAILS = []


def check(cond, what):
    print("%s: %s" % ("ok" if cond else "FAIL", what), flush=True)
    if not cond:
        FAILS.append(what)


def truth_ids(world, system):
    with open(os.path.join(world, "truth", system + ".truth.tsv")) as f:
        next(f)
        return set(line.split("\t", 1)[0] for line in f)


def main():
    work = harness.workdir("all-six")
    os.chmod(work, 0o755)   # PostgreSQL runs as another user below it
    # qn-civil's 670-odd files come 10 ms apart, so the ingest lasts long
    # enough for the kill to land in its middle on any machine.
    pace = ["qn-land.interval_ms=0", "qn-civil.interval_ms=10", "dn-civil.rate=0"]
    with departments.Departments(work, scale=0.01, seed=3, sim_settings=pace) as dep:
        dep.start()
        # kill -9 in the middle: once about a third of the records are in.
        total = sum(dep.expected().values())
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            stored = sum(n for n, _ in dep.counts().values())
            if stored >= total // 3:
                break
            time.sleep(0.05)
        print("killing lgspd with %d of %d records stored" % (stored, total), flush=True)
        check(stored < total, "the kill comes in the middle of the ingest")
        dep.d.kill9()
        dep.d.start(extra_env=getattr(dep.d, "start_env", None))
        res = dep.wait_ingested(timeout=400)
        print(departments.table(res), flush=True)
        for s, r in res.items():
            check(r["stored"] == r["expected"], "%s: %d of %d records in raw.%s" % (s, r["stored"], r["expected"], s))
            check(r["quarantined"] == 0, "%s: nothing in quarantine (%d)" % (s, r["quarantined"]))
            msgs = harness.read_topic(dep.d.endpoint, "raw." + s, expect=r["expected"], idle=5)
            ids = [m.headers["lgsp-source-id"] for m in msgs]
            want = truth_ids(dep.world, s)
            check(set(ids) == want, "%s: the source ids are the truth's (%d missing, %d unknown)"
                  % (s, len(want - set(ids)), len(set(ids) - want)))
            check(all(m.headers.get("lgsp-source") == s and m.headers.get("lgsp-fetched-at") for m in msgs[:50]),
                  "%s: provenance headers" % s)
        # /health is rendered once a second: right after the restart it may
        # still show the adapters starting.
        deadline = time.monotonic() + 15
        while True:
            h = json.loads(dep.d.http("/health")[1])
            running = all(a["status"] == "running" for a in h["adapters"])
            if running or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        check(running, "every adapter running: %s" % [(a["name"], a["status"], a["last_error"])
                                                       for a in h["adapters"]])
        code = dep.d.stop()
        check(code == 0, "lgspd stops cleanly with six adapters running (%s)" % code)
    if FAILS:
        print("%d checks failed" % len(FAILS))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
