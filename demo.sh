#!/usr/bin/env bash
# demo.sh — the lgsp demo from a fresh Debian 12 machine: installs what it
# needs and makes a release build, then
#   1. the six department systems: lgsp-gen makes a synthetic world (scale
#      0.01, ~80k records), lgsp-sim serves it through the six protocols
#      (REST/JSON, SOAP, XML drop, PostgreSQL, legacy-encoded CSV drop,
#      webhook), lgspd ingests all six with the adapters of
#      config/departments.yaml, and the per-source counts in the journal are
#      compared with the generator's; the mapping stages make the canonical
#      records and the NDXP connector forwards them (signed, mutual TLS) to the
#      NDXP simulator (lgsp-ndxp-sim, test certificates from `lgsp certs`):
#      the summary shows what NDXP received;
#   2. the bus: 100,000 messages of 1 KiB published while a consumer group
#      reads them, with throughput, lag and what the journal holds.
#   ./demo.sh [N] [SCALE]   N messages (default 100000), world scale (default 0.01)
set -euo pipefail
cd "$(dirname "$0")"
N="${1:-100000}"
SCALE="${2:-0.01}"
./deps.sh
if [ ! -f build-release/build.ninja ]; then
  meson setup build-release --buildtype=release -Dtests=disabled >/dev/null
fi
ninja -C build-release >/dev/null
LGSPD="$PWD/build-release/bus/lgspd"
LGSP="$PWD/build-release/bus/lgsp"

work="$(mktemp -d /tmp/lgsp-demo.XXXXXX)"
chmod 755 "$work"   # the simulated PostgreSQL runs as another user under it
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

echo "== 1. six department systems -> lgspd (config/departments.yaml) -> NDXP (simulated)"
LGSPD="$LGSPD" LGSP_GEN="$PWD/build-release/sim/gen/lgsp-gen" \
  LGSP_SIM="$PWD/build-release/sim/servers/lgsp-sim" LGSP_ADAPTER_PATH="$PWD/build-release/adapters" \
  LGSP_SHARED="$PWD/../shared/data" PYTHONPATH="$PWD/tests/integration" \
  /usr/bin/python3 tests/integration/departments.py --work "$work/departments" --scale "$SCALE"
echo
echo "== 2. the bus: $N messages of 1 KiB, published and consumed"

# Plain mode is for local development only; production configs use Curve
# (config/lgspd.yaml). Ports are picked by the kernel: loopback only.
cat >"$work/lgspd.yaml" <<YAML
log_level: info
bus:
  endpoint: "tcp://127.0.0.1:*"
http:
  listen: "127.0.0.1:0"
journal:
  path: "$work/journal"
  map_size: 4GiB
security:
  mode: plain
YAML
"$LGSPD" -c "$work/lgspd.yaml" --ready-file "$work/ready.json" 2>"$work/lgspd.log" &
pid=$!
for _ in $(seq 200); do [ -f "$work/ready.json" ] && break; sleep 0.05; done
[ -f "$work/ready.json" ] || { cat "$work/lgspd.log"; echo "lgspd did not start"; exit 1; }
EP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bus"])' "$work/ready.json")
HTTP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["http"])' "$work/ready.json")
echo "lgspd $("$LGSPD" --version | cut -d' ' -f2) on $EP, metrics on http://127.0.0.1:$HTTP/metrics"

# Synthetic 1 KiB records (no personal data).
python3 - "$N" >"$work/records.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    r = {"event": "demo", "seq": i, "commune_2025": "20194", "note": ""}
    r["note"] = "x" * (1023 - len(json.dumps(r)))   # 1023 bytes + newline
    print(json.dumps(r))
PY

start=$(date +%s.%N)
"$LGSP" -e "$EP" consume demo.events --group demo-consumer --count "$N" --credit 2048 \
  --output /dev/null --timeout 30000 2>"$work/consume.log" &
cpid=$!
"$LGSP" -e "$EP" publish demo.events "$work/records.jsonl" --id-prefix demo 2>"$work/publish.log"
pub_end=$(date +%s.%N)
wait "$cpid"
end=$(date +%s.%N)

python3 - "$N" "$start" "$pub_end" "$end" "$HTTP" <<'PY'
import json, sys, urllib.request
n, start, pub_end, end, http = int(sys.argv[1]), *map(float, sys.argv[2:5]), sys.argv[5]
metrics = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % http, timeout=5).read().decode()
def metric(name, labels=""):
    for line in metrics.splitlines():
        if line.startswith(name + labels + " ") or (labels == "" and line.startswith(name + " ")):
            return float(line.rsplit(" ", 1)[1])
    return float("nan")
print()
print("summary")
print("  published  %d messages of 1 KiB in %.2f s: %.0f msg/s, %.1f MB/s (each acknowledged after an fsync'ed commit)"
      % (n, pub_end - start, n / (pub_end - start), n * 1024 / (pub_end - start) / 1e6))
print("  consumed   %d messages end to end in %.2f s: %.0f msg/s" % (n, end - start, n / (end - start)))
PY
sleep 1.1   # metrics are rendered once a second
"$LGSP" -e "$EP" topics
curl -s "http://127.0.0.1:$HTTP/metrics" | grep -E '^lgsp_(consumer_lag|commits_total|journal_file_bytes|commit_seconds_count|commit_seconds_sum)' | sed 's/^/  /'
lag=$(curl -s "http://127.0.0.1:$HTTP/metrics" | awk '/^lgsp_consumer_lag\{/{print $2}')
echo "  consumer lag at the end: ${lag:-?}"
kill -TERM "$pid"; wait "$pid" || true; pid=""
echo "lgspd stopped cleanly (SIGTERM drains and commits)"
