#!/usr/bin/env bash
# bench/bus.sh — `bench/run bus`: durable publish -> consume throughput and
# publish -> deliver latency of lgspd, and of NATS JetStream (file storage)
# on the same machine in the same run (docs/benchmarks.md).
#
# Starts lgspd (plain mode) and nats-server (-js) on free loopback ports with
# their stores in one scratch folder on the build's disk, runs
# build-release/bench/bus_lgsp and bus_jetstream alternately for 100 B and
# 1 KiB messages, stops both servers, and prints every figure; the last line
# is the headline:
#   bus 1KiB durable: lgsp <N> msg/s, jetstream <M> msg/s, ratio <N/M>
#
# Environment:
#   BENCH_SCALE=1          multiplies the message counts (200k at 1 KiB, 400k at 100 B)
#   BENCH_ROUNDS=3         throughput rounds per size and system; the best is kept
#   BENCH_LAT_SECONDS=3    length of each latency run (2 runs per size and system,
#                          at 10% of its best rate; the lower p99 is kept)
#   BENCH_DIR=<build>      where the scratch folder goes (must be a real disk, not tmpfs)
#   BENCH_KEEP=1           keep the scratch folder (server logs, stores)
set -euo pipefail

root=${LGSP_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
build=${LGSP_BUILD:-$root/build-release}
scale=${BENCH_SCALE:-1}
rounds=${BENCH_ROUNDS:-3}
lat_secs=${BENCH_LAT_SECONDS:-3}
per_run_timeout=300

die() { echo "bench/bus: $*" >&2; exit 1; }

# ---- what we need -------------------------------------------------------
command -v python3 >/dev/null 2>&1 || die "python3 is not installed (Debian: apt-get install python3)"
command -v nats-server >/dev/null 2>&1 ||
    die "nats-server is not installed (./deps.sh installs it, or: apt-get install nats-server libnats-dev)"
[ -x "$build/bus/lgspd" ] || die "$build/bus/lgspd is missing: the release build did not make lgspd"
[ -x "$build/bench/bus_lgsp" ] || die "$build/bench/bus_lgsp is missing: run bench/run bus"
[ -x "$build/bench/bus_jetstream" ] ||
    die "$build/bench/bus_jetstream is missing: libnats was not found when $build was configured
  (./deps.sh installs it, or: apt-get install libnats-dev; then: meson setup --reconfigure $build)"
[[ "$scale" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "BENCH_SCALE must be a number"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer"

# ---- scratch folder and servers ------------------------------------------
base=${BENCH_DIR:-$build}
mkdir -p "$base"
work=$(mktemp -d "$base/bench-bus.XXXXXX")
pids=()

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local p
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        echo "bench/bus: scratch folder kept: $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {   # port pid what
    local i
    for i in $(seq 100); do
        kill -0 "$2" 2>/dev/null || return 1
        if python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$1" \
            2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

fstype=$(df -PT "$work" | awk 'NR == 2 { print $2 }')
case "$fstype" in
    tmpfs|ramfs) die "$work is on $fstype, where fsync costs nothing: set BENCH_DIR to a folder on a real disk" ;;
esac

nats_port=$(free_port)
mkdir -p "$work/nats"
nats-server -js -sd "$work/nats" -a 127.0.0.1 -p "$nats_port" >"$work/nats-server.log" 2>&1 &
pids+=($!)
wait_port "$nats_port" "${pids[-1]}" || { tail -n 20 "$work/nats-server.log" >&2; die "nats-server did not start"; }

bus_port=$(free_port)
http_port=$(free_port)
cat >"$work/lgspd.yaml" <<EOF
# lgspd for bench/bus.sh: plain mode (no Curve), loopback only, default
# durability (every publish answered after its group commit is fsync'ed).
log_level: warn
bus:
  endpoint: "tcp://127.0.0.1:$bus_port"
http:
  listen: "127.0.0.1:$http_port"
journal:
  path: "$work/journal"
  map_size: 64GiB
security:
  mode: plain
EOF
"$build/bus/lgspd" -c "$work/lgspd.yaml" --ready-file "$work/lgspd.ready" >"$work/lgspd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    [ -f "$work/lgspd.ready" ] && break
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
done
[ -f "$work/lgspd.ready" ] || { tail -n 20 "$work/lgspd.log" >&2; die "lgspd did not start"; }
lgsp_ep="tcp://127.0.0.1:$bus_port"
nats_url="nats://127.0.0.1:$nats_port"

# ---- the runs --------------------------------------------------------------
nats_pid=${pids[0]}
lgspd_pid=${pids[1]}
clk_tck=$(getconf CLK_TCK)
results=()
say() { echo "$*"; results+=("$*"); }

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }      # utime + stime of a process
now_s() { date +%s.%N; }
# lgspd's commit histogram (lgsp_commit_seconds, Prometheus text) into FILE.
commits_snap() {
    python3 - "$http_port" >"$1" <<'PY'
import sys, urllib.request
with urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5) as r:
    for l in r.read().decode().splitlines():
        if l.startswith("lgsp_commit_seconds"):
            print(l)
PY
}
# What happened between two snapshots: "; N commits, mean X ms, p99 <= Y ms".
commits_diff() {
    python3 - "$1" "$2" <<'PY'
import re, sys
def load(path):
    d = {}
    for l in open(path):
        name, value = l.rsplit(" ", 1)
        d[name] = float(value)
    return d
a, b = load(sys.argv[1]), load(sys.argv[2])
n = b.get("lgsp_commit_seconds_count", 0) - a.get("lgsp_commit_seconds_count", 0)
s = b.get("lgsp_commit_seconds_sum", 0) - a.get("lgsp_commit_seconds_sum", 0)
if n <= 0:
    sys.exit(0)
buckets = sorted((float("inf") if m.group(1) == "+Inf" else float(m.group(1)), b[k] - a.get(k, 0))
                 for k in b for m in [re.match(r'lgsp_commit_seconds_bucket\{le="([^"]+)"\}', k)] if m)
p99 = next((le for le, c in buckets if c >= 0.99 * n), float("inf"))
print("; %d commits, mean %.2f ms, p99 <= %s ms" % (n, 1000 * s / n, "%g" % (1000 * p99) if p99 != float("inf") else "inf"))
PY
}

# run lgsp|js PROGRAM ARGS...: runs one benchmark program against that
# server, shows its lines, and leaves in $line its last line followed by
# what the server did meanwhile (CPU; for lgspd its commits).
line=
run() {
    local who=$1 out pid c0 c1 t0 t1 extra
    shift
    [ "$who" = lgsp ] && pid=$lgspd_pid || pid=$nats_pid
    kill -0 "$pid" 2>/dev/null || die "the $who server is gone (logs in $work; BENCH_KEEP=1 keeps them)"
    [ "$who" = lgsp ] && commits_snap "$work/commits.0"
    c0=$(cpu_ticks "$pid"); t0=$(now_s)
    if ! out=$(timeout "$per_run_timeout" "$@" 2>"$work/last.err"); then
        cat "$work/last.err" >&2
        echo "$out"
        die "failed: $*"
    fi
    c1=$(cpu_ticks "$pid"); t1=$(now_s)
    [ -s "$work/last.err" ] && cat "$work/last.err" >&2
    extra=$(awk -v c="$((c1 - c0))" -v hz="$clk_tck" -v t0="$t0" -v t1="$t1" -v w="$who" \
        'BEGIN { printf "[%s %.0f%% CPU", (w == "lgsp" ? "lgspd" : "nats-server"), 100 * c / hz / (t1 - t0) }')
    if [ "$who" = lgsp ]; then
        commits_snap "$work/commits.1"
        extra+=$(commits_diff "$work/commits.0" "$work/commits.1")
    fi
    line="$(tail -n 1 <<<"$out") $extra]"
    echo "  $line"
}
rate_of() { awk '{ print $3 }' <<<"$1"; }        # "lgsp 1KiB: 123 msg/s, ..." -> 123
p99_of() { sed -n 's/.* p99 \([0-9.]*\) ms.*/\1/p' <<<"$1"; }
count_of() { awk -v s="$scale" -v n="$1" 'BEGIN { printf "%d", n * s }'; }
gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }

echo "bench/bus: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), kernel $(uname -r)"
echo "bench/bus: stores in $work ($fstype)"
echo "bench/bus: $("$build/bus/lgspd" -V), $(nats-server --version)"
echo "bench/bus: lgspd at $lgsp_ep, nats-server at $nats_url; $rounds rounds, scale $scale"
echo "bench/bus: load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

declare -A best best_how
for size in 100 1024; do
    if [ "$size" = 1024 ]; then label=1KiB; n=$(count_of 200000); else label=${size}B; n=$(count_of 400000); fi
    [ "$n" -ge 1000 ] || n=1000
    best[lgsp]=0; best[js]=0
    echo "bench/bus: $label throughput, $n messages per run"
    for r in $(seq "$rounds"); do
        # Alternately, and each with 1 and 2 publishing sessions.
        for who in lgsp1 js1 lgsp2 js2; do
            case $who in
                lgsp*) run lgsp "$build/bench/bus_lgsp" -e "$lgsp_ep" -s "$size" -n "$n" -P "${who#lgsp}" -x tput ;;
                js*)   run js "$build/bench/bus_jetstream" -u "$nats_url" -s "$size" -n "$n" -P "${who#js}" -x tput ;;
            esac
            key=${who%[12]}
            if gt "$(rate_of "$line")" "${best[$key]}"; then
                best[$key]=$(rate_of "$line")
                best_how[$key]=$line
            fi
        done
    done
    say "${best_how[lgsp]}"
    say "${best_how[js]}"
    best[lgsp_$label]=${best[lgsp]}
    best[js_$label]=${best[js]}

    # Latency at 10% of each one's own best rate; alternately, the run with
    # the lower p99 kept.
    lat_rounds=$(( rounds < 2 ? rounds : 2 ))
    echo "bench/bus: $label latency at 10% of each system's best rate, $lat_secs s per run"
    lrate=$(awk -v r="${best[lgsp]}" 'BEGIN { printf "%d", r / 10 + 0.5 }')
    jrate=$(awk -v r="${best[js]}" 'BEGIN { printf "%d", r / 10 + 0.5 }')
    best_lat=(); best_p99=(1e9 1e9)
    for r in $(seq "$lat_rounds"); do
        run lgsp "$build/bench/bus_lgsp" -e "$lgsp_ep" -s "$size" -x lat -r "$lrate" -d "$lat_secs"
        if gt "${best_p99[0]}" "$(p99_of "$line")"; then best_p99[0]=$(p99_of "$line"); best_lat[0]=$line; fi
        run js "$build/bench/bus_jetstream" -u "$nats_url" -s "$size" -x lat -r "$jrate" -d "$lat_secs"
        if gt "${best_p99[1]}" "$(p99_of "$line")"; then best_p99[1]=$(p99_of "$line"); best_lat[1]=$line; fi
    done
    say "${best_lat[0]}"
    say "${best_lat[1]}"
done

echo
echo "bench/bus: load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== bus: durable publish -> consume (best of $rounds rounds; latency at 10% of each one's best) =="
for l in "${results[@]}"; do
    echo "$l"
done
n=${best[lgsp_1KiB]}
m=${best[js_1KiB]}
ratio=$(awk -v n="$n" -v m="$m" 'BEGIN { printf "%.2f", (m > 0 ? n / m : 0) }')
echo "bus 1KiB durable: lgsp $n msg/s, jetstream $m msg/s, ratio $ratio"
