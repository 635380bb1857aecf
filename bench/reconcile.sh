#!/usr/bin/env bash
# bench/reconcile.sh — `bench/run reconcile`: the full-scale reconciliation
# job of the task force (config/jobs/qn-vs-dn-population.yaml: the population
# registers of Quảng Nam and Đà Nẵng, ≈3 M people) with lgsp reconcile,
# docs/reconciliation.md.
#
# The canonical records come from bench/canonical_world.inc (shared with bench/dedup.sh), cached in
# the build folder as bench-dedup-world-<scale>-<seed>/ (lgsp-gen, then lgsp
# map of both registers, with their map logs): when bench/run dedup has run,
# nothing is made again; otherwise the same folder is made here, the same
# way. The raw views are not kept (5 GB), so the job's optional raw: inputs
# (encodings repaired) are left out at this scale.
#
# The run: every stage of the job (scan, load, match: blocking, training,
# scoring, clustering; the weights of every candidate pair; all the output
# files and report.html) with a fresh entity store, timed by lgsp reconcile
# itself (wall clock, peak RSS from getrusage). The last line:
#   reconcile scale 1.0: <seconds> s, peak <MiB> MiB
# (targets of the issue: under 2 minutes, under 4 GiB on 2 cores).
#
# Environment:
#   RECONCILE_SCALE=1.0   RECONCILE_SEED=1   RECONCILE_THREADS=2
set -euo pipefail

root=${LGSP_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
build=${LGSP_BUILD:-$root/build-release}
scale=${RECONCILE_SCALE:-1.0}
seed=${RECONCILE_SEED:-1}
threads=${RECONCILE_THREADS:-2}
data=$root/../shared/data

die() { echo "bench/reconcile: $*" >&2; exit 1; }

gen=$build/sim/gen/lgsp-gen
lgsp=$build/bus/lgsp
[ -x "$gen" ] || die "$gen is missing: run bench/run reconcile (it builds $build)"
[ -x "$lgsp" ] || die "$lgsp is missing: run bench/run reconcile (it builds $build)"
[ -d "$data/admin" ] || die "$data/admin is missing (the shared reference data)"
[[ "$scale" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "RECONCILE_SCALE must be a number"
[[ "$seed" =~ ^[0-9]+$ ]] || die "RECONCILE_SEED must be a whole number"
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || die "RECONCILE_THREADS must be a positive integer"

export LGSP_DATA=$data LGSP_SCHEMAS=$root/schemas

# the world and its canonical records: the same cache as bench/dedup.sh's
. "$root/bench/canonical_world.inc"
world=$(canonical_world "$scale" "$seed")

out=$(mktemp -d "${TMPDIR:-/tmp}/lgsp-reconcile-bench.XXXXXX")
trap 'rm -rf "$out"' EXIT
echo "bench/reconcile: scale $scale: lgsp reconcile qn-vs-dn-population over $(wc -l <"$world/truth.tsv") records" >&2
"$lgsp" reconcile "$root/config/jobs/qn-vs-dn-population.yaml" --data "$world" --out "$out/out" \
    --store "$out/store" --threads "$threads" >"$out/run.txt" 2>"$out/run.err" \
    || { cat "$out/run.err" "$out/run.txt" >&2; die "lgsp reconcile failed at scale $scale"; }
grep -v '^reconcile: .*records (' "$out/run.err" | sed "s/^/  /" >&2 || true
sed "s/^/  /" "$out/run.txt"
du -sh "$out/out"/*.csv "$out/out/report.html" 2>/dev/null | sed "s/^/  /"
python3 - "$out/out/summary.json" <<'PY' || true
import json, sys
s = json.load(open(sys.argv[1]))
print("  stages (s): " + ", ".join("%s %.1f" % (k, v) for k, v in s["seconds"].items()))
PY
last=$(tail -n 1 "$out/run.txt")
secs=$(sed -n 's/^reconcile: .* entities, \([0-9.]*\) s, peak \([0-9]*\) MiB$/\1/p' <<<"$last")
peak=$(sed -n 's/^reconcile: .* entities, \([0-9.]*\) s, peak \([0-9]*\) MiB$/\2/p' <<<"$last")
[ -n "$secs" ] || die "no figures in: $last"
echo "reconcile scale $scale: $secs s, peak $peak MiB"
