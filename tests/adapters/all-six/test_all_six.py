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
            problems = departments.verify_source(dep.world, s, msgs)
            check(not problems, "%s: the source ids are the truth's, each once%s" % (
                s, (": " + "; ".join(problems)) if problems else ""))
            check(all(m.headers.get("lgsp-source") == s and m.headers.get("lgsp-fetched-at") for m in msgs[:50]),
                  "%s: provenance headers" % s)
        # The mapping stages, killed with the rest, finish their topics: every
        # raw record becomes exactly one canonical record or one quarantined one.
        check(dep.wait_mapped(timeout=300), "every mapping stage caught up with its raw topic")
        ms = dep.mapping_summary()
        for s, r in res.items():
            can, q = ms[s]["canonical_ids"], ms[s]["quarantined"]
            twice = [i for i, n in can.items() if n > 1]
            check(len(can) + len(q) == r["stored"] and not (set(can) & set(q)),
                  "%s: %d raw = %d canonical + %d quarantined" % (s, r["stored"], len(can), len(q)))
            check(not twice, "%s: no canonical record twice after kill -9 (%s)" % (s, twice[:3]))
            check(len(can) >= 0.98 * r["stored"], "%s: most records map (%d of %d)" % (s, len(can), r["stored"]))
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
