#!/usr/bin/env bash
# bench/ingest.sh — `bench/run ingest`: records/s ingested by each connector
# from its simulated department system into lgspd's journal (durable,
# committed with the adapter's state), then all six at once.
#
# Each connector runs alone first: lgsp-sim serves one system
# (tests/integration/departments.py, config/departments.yaml), lgspd starts
# with that adapter, and the time runs until the raw topic holds as many
# messages as the generator wrote for that system. File drops come all at
# once and the webhook pusher sends as fast as lgspd answers, so the figure
# is lgsp's (plus the simulator's), not the simulators' pacing.
#
# The last line:
#   ingest: <N> records/s overall, slowest <connector> <M> records/s
# (overall: all six at once, total records / wall time.)
#
# Environment:
#   INGEST_SCALE=0.05   generator scale (0.05 ≈ 390k records over the six systems)
#   INGEST_SEED=1
set -euo pipefail

root=${LGSP_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
build=${LGSP_BUILD:-$root/build-release}
scale=${INGEST_SCALE:-0.05}
seed=${INGEST_SEED:-1}
work=$(mktemp -d "${TMPDIR:-/tmp}/lgsp-bench-ingest.XXXXXX")
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"   # PostgreSQL (dn-land) runs as another user under it

export LGSPD=$build/bus/lgspd LGSP_GEN=$build/sim/gen/lgsp-gen LGSP_SIM=$build/sim/servers/lgsp-sim
export LGSP_ADAPTER_PATH=$build/adapters LGSP_SHARED=$root/../shared/data
export PYTHONPATH=$root/tests/integration

/usr/bin/python3 - "$work" "$scale" "$seed" <<'PY'
import sys, time
import departments as dep

work, scale, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
plugin = {"qn-population": "http-json", "dn-population": "soap-xml", "qn-land": "file-drop",
          "dn-land": "sql", "qn-civil": "file-drop", "dn-civil": "webhook"}
world = dep.make_world(work + "/world", scale, seed)
print("world: scale %g, %d records over six systems" % (scale, world["records_total"]), flush=True)
rates = {}
for s in dep.SYSTEMS:
    with dep.Departments(work + "/" + s, scale=scale, seed=seed, systems=[s]) as d:
        d.world = work + "/world"
        d.start()
        r = d.wait_ingested(timeout=1800)[s]
    if r["stored"] != r["expected"] or not r["seconds"]:
        print("ingest %-9s %-13s: only %d of %d records within the time limit" % (
            plugin[s], s, r["stored"], r["expected"]), flush=True)
        rates[s] = 0.0
        continue
    rates[s] = r["stored"] / r["seconds"]
    print("ingest %-9s %-13s: %8d records in %6.1f s = %8.0f records/s (quarantined %d)" % (
        plugin[s], s, r["stored"], r["seconds"], rates[s], r["quarantined"]), flush=True)
with dep.Departments(work + "/all", scale=scale, seed=seed) as d:
    d.world = work + "/world"
    d.start()
    res = d.wait_ingested(timeout=3600)
print(dep.table(res))
total = sum(r["stored"] for r in res.values())
wall = max((r["seconds"] or float("inf")) for r in res.values())
overall = total / wall if wall != float("inf") else 0.0
slow = min(rates, key=lambda k: rates[k])
print("ingest: %.0f records/s overall, slowest %s %.0f records/s" % (overall, plugin[slow], rates[slow]))
PY
