#!/usr/bin/env bash
# bench/mapping.sh — `bench/run mapping`: what the mapping engine costs
# against parsing alone, on the raw records of a generated world
# (docs/benchmarks.md).
#
# Makes the world once with lgsp-gen (kept in the build folder for the next
# run), then runs build-release/bench/mapping over qn-population's
# persons.jsonl (JSON, the http-json adapter's payloads) with
# schemas/mappings/qn-population.yaml and dn-population's congdan.xml (each
# <CongDan> alone with its xmlns, as the soap-xml adapter publishes it) with
# dn-population.yaml. It prints records/s and MB/s of parsing alone and of
# mapping (parse, rules, recoding, personal-ID and schema checks), and last:
#   mapping: json ratio <R1>, xml ratio <R2>
#
# Environment:
#   MAPPING_SCALE=0.05    generator scale (0.05: 84,957 JSON and 71,355 XML records)
#   MAPPING_SEED=1
#   MAPPING_RECORDS=0     at most this many records of each source (0: all)
#   MAPPING_RUNS=3        passes of each measurement; the best is kept
set -euo pipefail

root=${LGSP_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
build=${LGSP_BUILD:-$root/build-release}
scale=${MAPPING_SCALE:-0.05}
seed=${MAPPING_SEED:-1}
records=${MAPPING_RECORDS:-0}
runs=${MAPPING_RUNS:-3}
data=$root/../shared/data

die() { echo "bench/mapping: $*" >&2; exit 1; }

gen=$build/sim/gen/lgsp-gen
prog=$build/bench/mapping
[ -x "$gen" ] || die "$gen is missing: run bench/run mapping (it builds $build)"
[ -x "$prog" ] || die "$prog is missing: run bench/run mapping (it builds $build)"
[ -d "$data/admin" ] || die "$data/admin is missing (the shared reference data)"
[[ "$scale" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "MAPPING_SCALE must be a number"
[[ "$seed" =~ ^[0-9]+$ ]] || die "MAPPING_SEED must be a whole number"
[[ "$records" =~ ^[0-9]+$ ]] || die "MAPPING_RECORDS must be a whole number"
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "MAPPING_RUNS must be a positive integer"

# The world is the generator's pure function of seed and scale: made once.
world=$build/bench-mapping-world-$scale-$seed
if [ ! -s "$world/qn-population/persons.jsonl" ] || [ ! -s "$world/dn-population/congdan.xml" ]; then
    echo "bench/mapping: generating the world (scale $scale, seed $seed) in $world" >&2
    rm -rf "$world.tmp"
    "$gen" --seed "$seed" --scale "$scale" --out "$world.tmp" --data "$data" --quiet >&2
    rm -rf "$world"
    mv "$world.tmp" "$world"
fi

exec "$prog" --jsonl "$world/qn-population/persons.jsonl" \
    --json-mapping "$root/schemas/mappings/qn-population.yaml" \
    --xml "$world/dn-population/congdan.xml" \
    --xml-mapping "$root/schemas/mappings/dn-population.yaml" \
    --data "$data/admin" --schemas "$root/schemas" -n "$records" -r "$runs"
