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
prepare() {
    local scale=$1 world=$build/bench-dedup-world-$1-$seed
    if [ ! -s "$world/ready" ]; then
        echo "bench/dedup: generating and mapping the world (scale $scale, seed $seed) in $world" >&2
        rm -rf "$world"
        mkdir -p "$world"
        "$gen" --seed "$seed" --scale "$scale" --out "$world/w" --data "$data" --quiet >&2
        "$lgsp" map -m "$root/schemas/mappings/qn-population.yaml" -i "$world/w/qn-population/persons.jsonl" \
            >"$world/qn-population.jsonl" 2>"$world/qn-population.map.log" || true
        "$lgsp" map -m "$root/schemas/mappings/dn-population.yaml" -i "$world/w/dn-population/congdan.xml" \
            >"$world/dn-population.jsonl" 2>"$world/dn-population.map.log" || true
        tail -n 1 "$world/qn-population.map.log" "$world/dn-population.map.log" >&2
        # record id "<source>:<id>" <TAB> true person
        awk -F'\t' 'FNR > 1 && $2 == "person" { split(FILENAME, p, "/"); v = p[length(p)]; sub(/\.truth\.tsv$/, "", v);
                     print v ":" $1 "\t" $3 }' \
            "$world/w/truth/qn-population.truth.tsv" "$world/w/truth/dn-population.truth.tsv" >"$world/truth.tsv"
        # the raw views are not needed any more (5 GB at full scale)
        rm -rf "$world/w/qn-population" "$world/w/dn-population" "$world/w/qn-land" "$world/w/dn-land" \
               "$world/w/qn-civil" "$world/w/dn-civil"
        echo ok >"$world/ready"
    fi
    echo "$world"
}

headline=""
for scale in $scales; do
    [[ "$scale" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "DEDUP_SCALES: '$scale' is not a number"
    world=$(prepare "$scale")
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
