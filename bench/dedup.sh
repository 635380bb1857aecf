#!/usr/bin/env bash
# bench/dedup.sh — `bench/run dedup`: entity resolution of the people of both
# provinces' population registers, measured against the generator's truth
# (docs/benchmarks.md, docs/entity-resolution.md).
#
# For each scale: makes the world once with lgsp-gen and maps qn-population
# (JSON) and dn-population (XML) to canonical person records with lgsp map
# (both kept in the build folder for the next run), then times one batch run
#   lgsp dedup --spec config/er/person.yaml --store <fresh> --truth <truth>
# which reads the canonical records, blocks, trains the model (u from random
# pairs, m by EM), scores, clusters, and assigns entity ids in the store. It
# prints pair and cluster precision / recall / F1, blocking pair
# completeness, wall time and peak RSS of the run. Then the streaming figure
# (bench/dedup_stream.sh, when present). The last line:
#   dedup scale 1.0: F1 <f>, pair completeness <p>, <seconds> s, peak <MiB> MiB
#
# There is no peer run: Splink, dedupe and Zingg are not in Debian's
# archive (the only registries here are Debian's and npm's). The figures are
# set against the targets of the brief (§6): F1 ~0.99, pair completeness
# >= 99.5%, full scale under 2 minutes and under 4 GiB on 2 cores.
#
# Environment:
#   DEDUP_SCALES="0.1 1.0"   scales to run, the last one is the headline
#   DEDUP_SEED=1
#   DEDUP_THREADS=2
set -euo pipefail

root=${LGSP_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
build=${LGSP_BUILD:-$root/build-release}
scales=${DEDUP_SCALES:-0.1 1.0}
seed=${DEDUP_SEED:-1}
threads=${DEDUP_THREADS:-2}
data=$root/../shared/data

die() { echo "bench/dedup: $*" >&2; exit 1; }

gen=$build/sim/gen/lgsp-gen
lgsp=$build/bus/lgsp
[ -x "$gen" ] || die "$gen is missing: run bench/run dedup (it builds $build)"
[ -x "$lgsp" ] || die "$lgsp is missing: run bench/run dedup (it builds $build)"
[ -d "$data/admin" ] || die "$data/admin is missing (the shared reference data)"
[[ "$seed" =~ ^[0-9]+$ ]] || die "DEDUP_SEED must be a whole number"
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || die "DEDUP_THREADS must be a positive integer"

export LGSP_DATA=$data LGSP_SCHEMAS=$root/schemas

# world + canonical records + truth, made once per scale and seed
. "$root/bench/canonical_world.inc"

headline=""
for scale in $scales; do
    [[ "$scale" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "DEDUP_SCALES: '$scale' is not a number"
    world=$(canonical_world "$scale" "$seed")
    store=$(mktemp -d "${TMPDIR:-/tmp}/lgsp-dedup-store.XXXXXX")
    out=$world/run.out
    echo "bench/dedup: scale $scale: lgsp dedup over $(wc -l <"$world/truth.tsv") records" >&2
    "$lgsp" dedup --spec "$root/config/er/person.yaml" -i "$world/qn-population.jsonl" -i "$world/dn-population.jsonl" \
        --truth "$world/truth.tsv" --store "$store" --threads "$threads" --out "$world/out" >"$out" \
        || { cat "$out" >&2; rm -rf "$store"; die "lgsp dedup failed at scale $scale"; }
    rm -rf "$store"
    sed "s/^/  /" "$out"
    f1=$(sed -n 's/^pairs: .*F1 \([0-9.]*\).*/\1/p' "$out")
    pc=$(sed -n 's/^blocking: pair completeness \([0-9.]*\).*/\1/p' "$out")
    secs=$(sed -n 's/^dedup: .*entities, \([0-9.]*\) s, peak \([0-9]*\) MiB$/\1/p' "$out")
    peak=$(sed -n 's/^dedup: .*entities, \([0-9.]*\) s, peak \([0-9]*\) MiB$/\2/p' "$out")
    headline="dedup scale $scale: F1 $f1, pair completeness $pc, $secs s, peak $peak MiB"
    echo "$headline (targets: F1 >= 0.99, completeness >= 0.995, < 120 s, < 4096 MiB)"
done

if [ -x "$root/bench/dedup_stream.sh" ]; then
    "$root/bench/dedup_stream.sh" || echo "bench/dedup: the streaming measurement failed" >&2
fi
echo "$headline"
