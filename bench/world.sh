#!/usr/bin/env bash
# bench/world.sh — `bench/run world`: the generated world (issue 3).
#
# Runs lgsp-gen at full scale (records/s), then starts each simulated
# department system alone (lgsp-sim --only NAME) and has a client pull
# everything it serves through its own protocol, parsing every record:
#
#   qn-population  REST/JSON pages          lgsp-sim-client rest
#   dn-population  SOAP pages               lgsp-sim-client soap
#   dn-land        PostgreSQL, COPY out     psql as lgsp_reader (and the load time)
#   qn-land        XML file drop            lgsp-sim-client files (interval 0)
#   qn-civil       CSV file drop            lgsp-sim-client files (interval 0)
#   dn-civil       webhook push + backfill  lgsp-sim-client receive / backfill
#
# The last line is the generator's own time and peak memory:
#   generator scale 1.0: <seconds> s, peak <MiB> MiB
#
# Environment:
#   WORLD_SCALE=1.0     generator scale (1.0 = the merged city, ~3 M people)
#   WORLD_SEED=1
#   WORLD_DIR=<build>/world-<scale>   where the views go (~5 GB at 1.0; removed after
#                       unless WORLD_KEEP=1)
#   WORLD_PUSH=200000   webhook deliveries measured (the last N of the view)
set -euo pipefail

root=${LGSP_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
build=${LGSP_BUILD:-$root/build-release}
scale=${WORLD_SCALE:-1.0}
seed=${WORLD_SEED:-1}
out=${WORLD_DIR:-$build/world-$scale}
push=${WORLD_PUSH:-200000}
data=$root/../shared/data

die() { echo "bench/world: $*" >&2; exit 1; }

gen=$build/sim/gen/lgsp-gen
sim=$build/sim/servers/lgsp-sim
client=$build/sim/servers/lgsp-sim-client
for b in "$gen" "$sim" "$client"; do
    [ -x "$b" ] || die "$b is missing: run bench/run world (it builds $build)"
done
[[ "$scale" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "WORLD_SCALE must be a number"
command -v psql >/dev/null 2>&1 || [ -x /usr/lib/postgresql/15/bin/psql ] ||
    echo "bench/world: psql missing: dn-land will be installed by its script if it can" >&2

work=$(mktemp -d "$build/world-sim.XXXXXX")
chmod 755 "$work"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
    [ "${WORLD_KEEP:-0}" = 1 ] || rm -rf "$out"
}
trap cleanup EXIT

results=()
note() { echo "$*"; results+=("$*"); }

# ---- the generator ---------------------------------------------------------
echo "== lgsp-gen --seed $seed --scale $scale --out $out"
rm -rf "$out"
genlog=$work/gen.log
"$gen" --seed "$seed" --scale "$scale" --out "$out" --data "$data" 2>&1 | tee "$genlog"
last=$(grep '^generator scale' "$genlog" | tail -n 1)
[ -n "$last" ] || die "lgsp-gen printed no final line"
gsecs=$(sed -E 's/^generator scale [^:]*: ([0-9.]+) s, peak ([0-9]+) MiB, ([0-9]+) records$/\1/' <<<"$last")
gpeak=$(sed -E 's/^generator scale [^:]*: ([0-9.]+) s, peak ([0-9]+) MiB, ([0-9]+) records$/\2/' <<<"$last")
grecs=$(sed -E 's/^generator scale [^:]*: ([0-9.]+) s, peak ([0-9]+) MiB, ([0-9]+) records$/\3/' <<<"$last")
note "$(awk -v n="$grecs" -v s="$gsecs" 'BEGIN { printf "generator: %d records in %.1f s = %.0f records/s", n, s, (s > 0 ? n / s : 0) }')"
du -sh "$out" | awk '{ print "views on disk: " $1 }'

# ---- one system at a time --------------------------------------------------
# start_sim NAME [args...]: starts lgsp-sim with only NAME, waits for
# 'ready', sets $where (what it printed for NAME) and $simpid.
start_sim() {
    local name=$1; shift
    local log=$work/$name.out
    "$sim" --data "$out" --work "$work/$name" --base-port 0 --only "$name" \
        --set "ref=$data" "$@" >"$log" 2>"$work/$name.err" &
    simpid=$!
    pids+=("$simpid")
    local i
    for i in $(seq 1 6000); do
        grep -q '^lgsp-sim: ready' "$log" 2>/dev/null && break
        kill -0 "$simpid" 2>/dev/null || { cat "$work/$name.err" >&2; die "lgsp-sim --only $name failed"; }
        sleep 0.1
    done
    grep -q '^lgsp-sim: ready' "$log" || die "lgsp-sim --only $name: not ready after 600 s"
    where=$(awk -v n="$name" '$2 == n { print $3 }' "$log")
}
stop_sim() {
    kill -TERM "$simpid" 2>/dev/null || true
    wait "$simpid" 2>/dev/null || true
}
now() { date +%s.%N; }

echo "== qn-population (REST/JSON)"
start_sim qn-population
note "$("$client" rest "$where" --key qn-dancu-sim-key --page-size 1000 | tail -n 1)"
stop_sim

echo "== dn-population (SOAP 1.1)"
start_sim dn-population
note "$("$client" soap "$where" --user lgsp --password dn-dancu-sim-pass --page-size 500 | tail -n 1)"
stop_sim

echo "== dn-land (PostgreSQL)"
t0=$(now)
start_sim dn-land
t1=$(now)
port=$(sed -E 's|.*@127\.0\.0\.1:([0-9]+)/.*|\1|' <<<"$where")
rows=0
t2=$(now)
for t in thua_dat chu_su_dung giay_chung_nhan; do
    n=$(PGPASSWORD=dn-land-sim-pass psql -X -q -h 127.0.0.1 -p "$port" -U lgsp_reader -d dn_land \
        -c "COPY (SELECT * FROM $t ORDER BY updated_at, id) TO STDOUT WITH (FORMAT csv)" | wc -l)
    rows=$((rows + n))
done
t3=$(now)
note "$(awk -v n="$rows" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" 'BEGIN {
    printf "dn-land (PostgreSQL, 3 tables by updated_at): %d records in %.2f s = %.0f records/s (initdb + COPY load took %.1f s)", n, d - c, n / (d - c), b - a }')"
stop_sim

echo "== qn-land (XML file drop)"
nfiles=$(find "$out/qn-land" -maxdepth 1 -name '*.xml' | wc -l)
mkdir -p "$work/qn-land/drop"
"$client" files "$work/qn-land/drop" --count "$nfiles" --timeout 900 >"$work/qn-land.client" 2>&1 &
cpid=$!
pids+=("$cpid")
start_sim qn-land --set "qn-land.interval_ms=0" --set "qn-land.dir=$work/qn-land/drop"
wait "$cpid" || { cat "$work/qn-land.client" >&2; die "qn-land client failed"; }
note "$(tail -n 1 "$work/qn-land.client")"
stop_sim

echo "== qn-civil (CSV file drop, legacy encodings)"
nfiles=$(find "$out/qn-civil" -maxdepth 1 -name '*.csv' | wc -l)
mkdir -p "$work/qn-civil/drop"
"$client" files "$work/qn-civil/drop" --count "$nfiles" --timeout 900 >"$work/qn-civil.client" 2>&1 &
cpid=$!
pids+=("$cpid")
start_sim qn-civil --set "qn-civil.interval_ms=0" --set "qn-civil.dir=$work/qn-civil/drop"
wait "$cpid" || { cat "$work/qn-civil.client" >&2; die "qn-civil client failed"; }
note "$(tail -n 1 "$work/qn-civil.client")"
stop_sim

echo "== dn-civil (webhook push, then the backfill)"
total=$(wc -l <"$out/dn-civil/events.jsonl")
[ "$push" -gt "$total" ] && push=$total
from=$(sed -n "$((total - push + 1))p" "$out/dn-civil/events.jsonl" | sed -E 's/.*"sent_at":"([^"]+)".*/\1/')
# deliveries from that sent_at on (several may share the second)
push=$(awk -v f="\"sent_at\":\"$from\"" 'found || index($0, f) { found = 1; n++ } END { print n }' "$out/dn-civil/events.jsonl")
rport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$client" receive --port "$rport" --count "$push" --timeout 900 >"$work/dn-civil.client" 2>&1 &
cpid=$!
pids+=("$cpid")
sleep 0.3
start_sim dn-civil --webhook "http://127.0.0.1:$rport/hook" --set "dn-civil.rate=0" \
    --set "dn-civil.push_from=$from"
wait "$cpid" || { cat "$work/dn-civil.client" >&2; die "dn-civil receiver failed"; }
note "$(tail -n 1 "$work/dn-civil.client")"
note "$("$client" backfill "$where" --token dn-hotich-sim-token --page-size 1000 | tail -n 1)"
stop_sim

echo
echo "== summary (scale $scale, seed $seed)"
for r in "${results[@]}"; do echo "  $r"; done
echo "generator scale $scale: $gsecs s, peak $gpeak MiB"
